// daemon_link.cc: see daemon_link.h.
#include "daemon_link.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kv {
namespace {

std::string errno_text(const std::string& what)
{
    return what + ": " + std::strerror(errno);
}

}  // namespace

std::string DaemonLink::attach(const std::string& path, std::string_view client_address,
                               std::chrono::milliseconds timeout)
{
    std::string problem = open(path, client_address);
    if (problem.empty())
        problem = handshake(timeout);
    if (!problem.empty())
        detach();
    return problem;
}

std::string DaemonLink::open(const std::string& path, std::string_view client_address)
{
    std::string problem = connect_to(path);
    if (problem.empty())
        queue_hello(client_address, 0);
    return problem;
}

std::string DaemonLink::connect_to(const std::string& path)
{
    detach();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return "socket path '" + path + "' is too long";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd)
        return errno_text("socket");
    // A non-blocking connect on a Unix socket completes at once or fails: with
    // EAGAIN when kvstored's backlog is full (it is stuck or overloaded).
    connect_errno_ = 0;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        connect_errno_ = errno;
        if (errno == EAGAIN)
            return "kvstored at " + path + " is not accepting connections (backlog full)";
        return errno_text("cannot reach kvstored at " + path);
    }
    fd_ = std::move(fd);
    return "";
}

void DaemonLink::queue_hello(std::string_view client_address, uint8_t flags)
{
    wire::append(out_, wire::Hello{wire::kVersion, static_cast<uint32_t>(::getpid()), client_address, flags});
}

std::string DaemonLink::open_handing_off(const std::string& path, std::string_view client_address,
                                         const wire::Handoff& m, int fd, int claim_fd, bool& handed_off, uint8_t flags)
{
    handed_off = false;
    std::string problem = connect_to(path);
    if (!problem.empty())
        return problem;
    queue_hello(client_address, wire::kHelloHandoff | flags);
    handed_off = send_with_fds(m, fd, claim_fd) == FdSend::Sent;
    if (!handed_off) {
        // Nothing went out (a full or broken socket): fall back to a plain
        // Hello, whose fate the caller learns as usual.
        out_.clear();
        queue_hello(client_address, 0);
    }
    return "";
}

std::string DaemonLink::welcome(const wire::Frame& frame)
{
    wire::Notice notice;
    wire::Welcome welcome;
    uint32_t version = 0;
    if (frame.type == wire::Msg::Refused && wire::decode(frame.payload, notice))
        return "kvstored refused: " + std::string(notice.text);
    if (frame.type == wire::Msg::Shutdown)
        return "kvstored is shutting down";
    if (frame.type == wire::Msg::Welcome && wire::peek_version(frame.payload, version) && version != wire::kVersion)
        return "kvstored speaks protocol " + std::to_string(version) + ", kvsvc speaks "
            + std::to_string(wire::kVersion) + "; install matching versions";
    if (frame.type != wire::Msg::Welcome || !wire::decode(frame.payload, welcome))
        return "kvstored sent a malformed welcome";
    max_value_ = welcome.max_value;
    return "";
}

std::string DaemonLink::handshake(std::chrono::milliseconds timeout)
{
    using Clock = std::chrono::steady_clock;
    auto deadline = Clock::now() + timeout;
    // kvstored may refuse us and hang up before our Hello is even sent: then
    // the send fails, but the Refused notice saying why is already in our
    // receive queue. So a failed send or read only ends the handshake once
    // everything that arrived has been looked at.
    bool closed = false;
    for (;;) {
        if (!closed && !flush())
            closed = true;
        wire::Frame frame;
        switch (in_.next(frame)) {
        case wire::FrameBuffer::Next::Oversized:
            return "kvstored sent a malformed frame";
        case wire::FrameBuffer::Next::NeedMore:
            break;
        case wire::FrameBuffer::Next::Frame:
            return welcome(frame);
        }
        if (closed && !read())
            return "kvstored closed the connection";
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            return "kvstored did not answer within " + std::to_string(timeout.count()) + " ms";
        pollfd p{fd_.get(), static_cast<short>(POLLIN | (wants_write() && !closed ? POLLOUT : 0)), 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno != EINTR)
            return errno_text("poll");
        if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && !read())
            closed = true;
    }
}

void DaemonLink::detach()
{
    fd_.reset();
    out_.clear();
    in_ = wire::FrameBuffer();
    max_value_ = 0;
}

bool DaemonLink::flush()
{
    size_t done = 0;
    while (done < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return false;
        }
        done += static_cast<size_t>(n);
    }
    out_.erase(0, done);
    return true;
}

DaemonLink::FdSend DaemonLink::send_handoff(const wire::Handoff& m, int fd)
{
    // The fd travels with the first byte of the message, so everything queued
    // before the Handoff must be out first.
    if (!flush())
        return FdSend::Failed;
    if (!out_.empty())
        return FdSend::Retry;
    return send_with_fds(m, fd, -1);
}

// Sends what is queued (nothing, or a Hello) and then `m` in one sendmsg with
// `fd` and, if not -1, `claim_fd` attached. Retry and Failed: nothing was sent.
DaemonLink::FdSend DaemonLink::send_with_fds(const wire::Handoff& m, int fd, int claim_fd)
{
    std::string message = out_;
    wire::append(message, m);
    iovec iov{message.data(), message.size()};
    int fds[2] = {fd, claim_fd};
    size_t nfds = claim_fd < 0 ? 1 : 2;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
    for (;;) {
        ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? FdSend::Retry : FdSend::Failed;
        }
        // The fds went with the first byte; the rest of the message is plain
        // data, written by flush() like any other.
        out_.assign(message, static_cast<size_t>(n), std::string::npos);
        return FdSend::Sent;
    }
}

bool DaemonLink::read()
{
    for (;;) {
        long n = in_.read_from(fd_.get());
        if (n > 0)
            return true;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

}  // namespace kv
