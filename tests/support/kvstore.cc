// kvstore.cc: see kvstore.h.
#include "kvstore.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace kvtest {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::string kvstored_bin()
{
    return KVSTORED_BIN;
}

std::string kvsvc_bin()
{
    return KVSVC_BIN;
}

std::string kvsvc_tls_bin()
{
    return KVSVC_TLS_BIN;
}

std::string version()
{
    return KVSTORE_VERSION;
}

std::string greeting()
{
    return "HELLO kvstore " KVSTORE_VERSION " ready; type 'help'";
}

Daemon::Daemon(const TempDir& dir, std::vector<std::string> extra)
    : socket_(dir.file("kvstored.sock")), log_path_(dir.file("kvstored.log"))
{
    // --config /dev/null: an installed /etc/kvstore/kvstored.conf must not leak
    // into a test's daemon (its admin-socket, say).
    args_ = {"--config", "/dev/null", "run", "--socket", socket_};
    args_.insert(args_.end(), extra.begin(), extra.end());
    start();
}

void Daemon::start()
{
    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        throw std::runtime_error("open " + log_path_ + ": " + std::strerror(errno));
    process_ = Process(kvstored_bin(), args_, Stdio{-1, log_fd, log_fd});
    ::close(log_fd);
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline && process_.running()) {
        if (wait_for_unix_listener(socket_, 20ms))
            return;
    }
    std::string why = process_.running() ? "no listener on " + socket_ + " within 5 s"
                                         : "it " + describe_status(*process_.wait_exit(0ms));
    throw std::runtime_error("kvstored did not come up: " + why + "; its log:\n" + log());
}

void Daemon::restart()
{
    if (process_.running())
        throw std::runtime_error("Daemon::restart: kvstored is still running");
    start();
}

std::string Daemon::log() const
{
    return read_file(log_path_);
}

bool Daemon::log_shows(std::string_view text, Millis timeout) const
{
    auto until = std::chrono::steady_clock::now() + timeout;
    while (log().find(text) == std::string::npos) {
        if (std::chrono::steady_clock::now() >= until)
            return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::optional<int> Daemon::terminate(Millis timeout)
{
    process_.signal(SIGTERM);
    return process_.wait_exit(timeout);
}

void Daemon::kill_hard()
{
    process_.signal(SIGKILL);
    process_.wait_exit(5s);
}

bool wait_for_unix_listener(const std::string& path, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int fd = connect_unix(path);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        if (Clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(5ms);
    }
}

KvsvcSession spawn_kvsvc(const std::string& socket_path, std::vector<std::string> extra, int stderr_fd)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    LineClient client(sv[0]);
    std::vector<std::string> args = {"--socket", socket_path};
    args.insert(args.end(), extra.begin(), extra.end());
    KvsvcSession s;
    try {
        s.process = Process(kvsvc_bin(), args, Stdio{sv[1], sv[1], stderr_fd >= 0 ? stderr_fd : sv[1]});
    } catch (...) {
        ::close(sv[1]);
        throw;
    }
    ::close(sv[1]);
    s.client = std::move(client);
    return s;
}

RemoteHost::RemoteHost(const std::string& host)
{
    ::setenv("REMOTE_HOST", host.c_str(), 1);
}

RemoteHost::~RemoteHost()
{
    ::unsetenv("REMOTE_HOST");
}

KvsvcSession connected_session(const std::string& socket_path, std::vector<std::string> extra)
{
    KvsvcSession s = spawn_kvsvc(socket_path, std::move(extra));
    auto hello = s.client.read_line();
    if (hello != greeting())
        throw std::runtime_error("kvsvc greeting: got '" + hello.value_or(no_reply(s.client)) + "'");
    if (std::string reply = s.client.ask("connect"); reply != "OK connected")
        throw std::runtime_error("kvsvc connect: got '" + reply + "'");
    // kvsvc hands the client's socket to kvstored with the connect (when it
    // hands off at all), or else when the client sends more once attached,
    // and kvstored answers that: so once this PONG is here, kvstored holds the
    // socket, whatever the test goes on to count (its descriptors, say).
    if (std::string reply = s.client.ask("ping"); reply != "PONG")
        throw std::runtime_error("kvsvc ping after connect: got '" + reply + "'");
    return s;
}

int free_tcp_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0)
            ::close(fd);
        throw std::runtime_error("free_tcp_port: " + why);
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string stat_value(const std::vector<std::string>& block, const std::string& name)
{
    for (size_t i = 1; i < block.size(); ++i)
        if (block[i].rfind(name + " ", 0) == 0)
            return block[i].substr(name.size() + 1);
    return "";
}

}  // namespace kvtest
