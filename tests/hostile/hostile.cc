// hostile.cc: see hostile.h.
#include "hostile.h"

#include "wire.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace kvtest {

long proc_kib(pid_t pid, const char* field)
{
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    std::string key = std::string(field) + ":";
    size_t at = status.find(key);
    if (at == std::string::npos)
        return -1;
    return std::strtol(status.c_str() + at + key.size(), nullptr, 10);
}

size_t fd_count(pid_t pid)
{
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(path.c_str());
    if (!dir)
        return 0;
    size_t n = 0;
    while (const dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.')
            ++n;
    ::closedir(dir);
    return n;
}

bool eventually(const std::function<bool()>& done, Millis timeout, Millis step)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done())
            return true;
        if (Clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(step);
    }
}

long env_long(const char* name, long fallback)
{
    const char* text = std::getenv(name);
    if (!text || !*text)
        return fallback;
    char* end = nullptr;
    long v = std::strtol(text, &end, 10);
    return *end == '\0' ? v : fallback;
}

std::string be16(uint16_t v)
{
    return {static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string be32(uint32_t v)
{
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string wire_frame(uint8_t type, std::string_view payload)
{
    return be32(static_cast<uint32_t>(payload.size())) + static_cast<char>(type) + std::string(payload);
}

std::string wire_request(uint8_t op, std::string_view key)
{
    // u8 op, str16 key, str32 value (empty), u8 Expiry, i64 expiry_ms, u64 version, i64 delta (all 0).
    return wire_frame(4,
                      std::string(1, static_cast<char>(op)) + be16(static_cast<uint16_t>(key.size())) + std::string(key)
                          + be32(0) + std::string(25, '\0'));
}

std::string wire_hello(uint8_t flags)
{
    std::string address = "hostile";
    return wire_frame(1,
                      be32(kv::wire::kVersion) + be32(static_cast<uint32_t>(::getpid())) + be16(address.size())
                          + address + static_cast<char>(flags));
}

LineClient raw_unix_peer(const std::string& path)
{
    int fd = connect_unix(path);
    REQUIRE(fd >= 0);
    return LineClient(fd);
}

std::vector<std::string> stats_of(LineClient& c)
{
    c.send("stats\n");
    return c.read_reply_block();
}

void send_filler(LineClient& c, size_t bytes, char fill, Millis timeout)
{
    const std::string piece(1 << 20, fill);
    while (bytes > 0) {
        size_t n = std::min(bytes, piece.size());
        c.send(std::string_view(piece).substr(0, n), timeout);
        bytes -= n;
    }
}

namespace {

XinetdOptions tuned_options(const std::string& kvstored_socket)
{
    XinetdOptions o = kvsvc_service(kvstored_socket);
    o.log_on_success = "";  // logging only failures keeps xinetd's per-connection work small
    o.instances = "UNLIMITED";
    o.cps = "1000000 1";
    return o;
}

}  // namespace

TunedXinetd::TunedXinetd(const TempDir& dir, const std::string& kvstored_socket)
    : PrivateXinetd(dir, free_tcp_port(), tuned_options(kvstored_socket))
{
}

int start_tcp_connect(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EINPROGRESS)
        return fd;
    ::close(fd);
    return -1;
}

int connect_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

namespace {

// A connection of open_sessions() waiting for its greeting.
struct PendingConnect {
    LineClient client;
    Clock::time_point started;
    int attempt;
};

// When to try again after `attempt` failed tries: 50 ms doubling, at most 1 s.
Clock::time_point backoff(int attempt)
{
    return Clock::now() + std::min<Millis>(1000ms, 50ms * (1 << std::min(attempt, 5)));
}

}  // namespace

std::vector<LineClient> open_sessions(int port, size_t n, Millis timeout, size_t max_pending)
{
    auto deadline = Clock::now() + timeout;
    std::vector<LineClient> open;
    std::vector<PendingConnect> pending;
    std::vector<std::pair<Clock::time_point, int>> retries;  // when, attempt
    size_t started = 0;
    auto retry_later = [&](int attempt) { retries.emplace_back(backoff(attempt), attempt + 1); };
    while (open.size() < n && Clock::now() < deadline) {
        // Start connects while there is room below the backlog: retries first.
        while (pending.size() < max_pending) {
            int attempt = 0;
            auto due = std::find_if(retries.begin(), retries.end(), [](auto& r) { return r.first <= Clock::now(); });
            if (due != retries.end()) {
                attempt = due->second;
                retries.erase(due);
            } else if (started < n) {
                ++started;
            } else {
                break;
            }
            int fd = start_tcp_connect(port);
            if (fd < 0)
                retry_later(attempt);
            else
                pending.push_back({LineClient(fd), Clock::now(), attempt});
        }
        std::vector<pollfd> fds;
        for (auto& p : pending)
            fds.push_back({p.client.fd(), POLLIN, 0});
        ::poll(fds.data(), fds.size(), 10);
        for (size_t i = pending.size(); i-- > 0;) {
            PendingConnect& p = pending[i];
            if (fds[i].revents)
                p.client.pump();
            auto line = p.client.buffered_line();
            bool timed_out = Clock::now() - p.started > 3s;
            if (line && *line == greeting())
                open.push_back(std::move(p.client));
            else if (line || p.client.eof() || timed_out)
                retry_later(p.attempt);  // refused, reset, or silent: try again
            else
                continue;
            pending.erase(pending.begin() + static_cast<long>(i));
        }
    }
    if (open.size() < n)
        throw std::runtime_error("open_sessions: only " + std::to_string(open.size()) + " of " + std::to_string(n)
                                 + " sessions greeted within the time allowed");
    return open;
}

Percentiles percentiles(std::vector<float> samples_ms)
{
    Percentiles p;
    if (samples_ms.empty())
        return p;
    auto at = [&](double q) {
        size_t i = std::min(samples_ms.size() - 1, static_cast<size_t>(q * static_cast<double>(samples_ms.size())));
        std::nth_element(samples_ms.begin(), samples_ms.begin() + static_cast<long>(i), samples_ms.end());
        return static_cast<double>(samples_ms[i]);
    };
    p.p50 = at(0.50);
    p.p99 = at(0.99);
    p.max = *std::max_element(samples_ms.begin(), samples_ms.end());
    return p;
}

}  // namespace kvtest
