// line_client.cc: see line_client.h.
#include "line_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

namespace kvtest {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline)
{
    auto left = std::chrono::ceil<Millis>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

// n for a "KEYS n", "KEYS n more", "STATS n" or "HELP n" header; 0 for any
// other line.
size_t block_lines(const std::string& header)
{
    for (std::string_view word : {"KEYS ", "STATS ", "HELP "}) {
        if (header.rfind(word, 0) != 0)
            continue;
        std::string rest = header.substr(word.size());
        if (word == "KEYS " && rest.ends_with(" more"))
            rest.resize(rest.size() - 5);
        if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos && rest.size() < 9)
            return std::stoul(rest);
    }
    return 0;
}

}  // namespace

LineClient::LineClient(int fd) : fd_(fd)
{
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

LineClient::~LineClient()
{
    close();
}

LineClient::LineClient(LineClient&& other) noexcept : fd_(other.fd_), in_(std::move(other.in_)), eof_(other.eof_)
{
    other.fd_ = -1;
}

LineClient& LineClient::operator=(LineClient&& other) noexcept
{
    if (this != &other) {
        close();
        fd_ = other.fd_;
        in_ = std::move(other.in_);
        eof_ = other.eof_;
        other.fd_ = -1;
    }
    return *this;
}

void LineClient::close()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

void LineClient::shutdown_write()
{
    ::shutdown(fd_, SHUT_WR);
}

void LineClient::send(std::string_view data, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        pollfd p{fd_, POLLOUT, 0};
        if (Clock::now() >= deadline || ::poll(&p, 1, ms_left(deadline)) == 0)
            throw std::runtime_error("send: peer did not take " + std::to_string(data.size()) + " more bytes in time");
    }
}

bool LineClient::pump()
{
    char buf[64 * 1024];
    for (int i = 0; i < 64 && !eof_; ++i) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            in_.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        eof_ = true;  // EOF, or a reset (which ends the conversation just the same)
    }
    return !eof_;
}

std::optional<std::string> LineClient::buffered_line()
{
    size_t lf = in_.find('\n');
    if (lf == std::string::npos)
        return std::nullopt;
    std::string line = in_.substr(0, lf);
    in_.erase(0, lf + 1);
    return line;
}

bool LineClient::wait_readable(Millis timeout)
{
    pollfd p{fd_, POLLIN, 0};
    int n;
    do
        n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    while (n < 0 && errno == EINTR);
    return n > 0;
}

std::optional<std::string> LineClient::read_line(Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto line = buffered_line())
            return line;
        if (eof_ || !wait_readable(Millis(ms_left(deadline))))
            return std::nullopt;
        pump();
    }
}

std::vector<std::string> LineClient::read_reply_block(Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    std::vector<std::string> block;
    auto header = read_line(timeout);
    if (!header)
        return block;
    block.push_back(*header);
    for (size_t i = block_lines(*header); i > 0; --i) {
        auto line = read_line(Millis(ms_left(deadline)));
        if (!line)
            break;
        block.push_back(*line);
    }
    return block;
}

Listing LineClient::read_listing(Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    Listing listing;
    while (!listing.complete) {
        auto header = read_line(Millis(ms_left(deadline)));
        if (!header) {
            listing.error = no_reply(*this);
            break;
        }
        bool more = header->ends_with(" more");
        if (header->rfind("KEYS ", 0) != 0
            || (block_lines(*header) == 0 && *header != "KEYS 0" && *header != "KEYS 0 more")) {
            listing.error = *header;
            break;
        }
        ++listing.pages;
        std::vector<std::string> page = read_lines(block_lines(*header), Millis(ms_left(deadline)));
        bool whole = page.size() == block_lines(*header);
        listing.keys.insert(listing.keys.end(), page.begin(), page.end());
        if (!whole) {
            listing.error = no_reply(*this);
            break;
        }
        listing.complete = !more;
    }
    return listing;
}

std::vector<std::string> LineClient::read_lines(size_t n, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    std::vector<std::string> lines;
    while (lines.size() < n) {
        auto line = read_line(Millis(ms_left(deadline)));
        if (!line)
            break;
        lines.push_back(*line);
    }
    return lines;
}

std::string no_reply(const LineClient& c)
{
    return c.eof() ? "<eof>" : "<timeout>";
}

std::string LineClient::ask(std::string_view line, Millis timeout)
{
    send(std::string(line) + "\n", timeout);
    auto reply = read_line(timeout);
    return reply ? *reply : no_reply(*this);
}

std::string LineClient::read_bytes(size_t n, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    while (in_.size() < n && !eof_ && wait_readable(Millis(ms_left(deadline))))
        pump();
    std::string bytes = in_.substr(0, n);
    in_.erase(0, bytes.size());
    return bytes;
}

std::optional<std::string> LineClient::read_to_eof(Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
        if (!wait_readable(Millis(ms_left(deadline))))
            return std::nullopt;
        pump();
    }
    return std::exchange(in_, std::string());
}

bool LineClient::expect_eof(Millis timeout)
{
    auto rest = read_to_eof(timeout);
    return rest && rest->empty();
}

LineClient connect_tcp(int port, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            return LineClient(fd);
        std::string why = std::strerror(errno);
        if (fd >= 0)
            ::close(fd);
        if (Clock::now() >= deadline)
            throw std::runtime_error("connect 127.0.0.1:" + std::to_string(port) + ": " + why);
        std::this_thread::sleep_for(10ms);
    }
}

int connect_unix(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

namespace {

// Takes the lines `e` has received so far. Returns a failure message, or "".
std::string check_received(Exchange& e, size_t& got)
{
    while (auto line = e.client->buffered_line()) {
        if (got == e.expect.size())
            return "unexpected extra line '" + *line + "'";
        if (*line != e.expect[got])
            return "line " + std::to_string(got + 1) + ": got '" + *line + "', expected '" + e.expect[got] + "'";
        ++got;
    }
    if (e.client->eof() && (got < e.expect.size() || !e.then_eof))
        return "EOF after " + std::to_string(got) + " of " + std::to_string(e.expect.size()) + " lines";
    return "";
}

bool finished(const Exchange& e, size_t got)
{
    return got == e.expect.size() && (!e.then_eof || e.client->eof());
}

}  // namespace

std::vector<std::string> run_exchanges(std::vector<Exchange>& exchanges, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    for (auto& e : exchanges)
        e.client->send(e.send, timeout);
    std::vector<size_t> got(exchanges.size(), 0);
    std::vector<bool> done(exchanges.size(), false);
    std::vector<std::string> failures;
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (;;) {
        fds.clear();
        index.clear();
        for (size_t i = 0; i < exchanges.size(); ++i) {
            if (!done[i] && finished(exchanges[i], got[i]))
                done[i] = true;
            if (!done[i]) {
                fds.push_back({exchanges[i].client->fd(), POLLIN, 0});
                index.push_back(i);
            }
        }
        if (fds.empty() || Clock::now() >= deadline)
            break;
        if (::poll(fds.data(), fds.size(), ms_left(deadline)) < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        for (size_t k = 0; k < fds.size(); ++k) {
            if (!fds[k].revents)
                continue;
            size_t i = index[k];
            exchanges[i].client->pump();
            if (std::string why = check_received(exchanges[i], got[i]); !why.empty()) {
                failures.push_back("client " + std::to_string(i) + ": " + why);
                done[i] = true;
            }
        }
    }
    for (size_t i = 0; i < exchanges.size(); ++i)
        if (!done[i])
            failures.push_back("client " + std::to_string(i) + ": timed out after " + std::to_string(got[i]) + " of "
                               + std::to_string(exchanges[i].expect.size()) + " lines");
    return failures;
}

}  // namespace kvtest
