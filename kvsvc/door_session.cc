// door_session.cc: see door_session.h.
#include "door_session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "client_io.h"

namespace kv {
namespace {

// Bytes buffered in each direction while relaying, at most: past it, the
// side that feeds that direction is not read until the other takes some.
constexpr size_t kRelayBuffer = 64 * 1024;

std::string errno_text(const char* what)
{
    return std::string(what) + ": " + std::strerror(errno);
}

uint8_t hello_flag(Door door)
{
    return door == Door::Redis ? wire::kHelloRedis : wire::kHelloMemcache;
}

}  // namespace

std::string unavailable_reply(Door door, std::string problem)
{
    // Both protocols' errors are one line.
    std::replace_if(
        problem.begin(), problem.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    const char* prefix = door == Door::Redis ? "-ERR" : "SERVER_ERROR";
    return std::string(prefix) + " kvstore unavailable: " + problem + "\r\n";
}

DoorSession::DoorSession(Door door, SessionConfig config) : door_(door), config_(std::move(config)) { }

int DoorSession::run()
{
    Stdio stdio = inspect_stdio();
    stdout_is_socket_ = stdio.stdout_is_socket;
    // A pipe gets O_NONBLOCK so that a client that stops reading cannot stall
    // us; a socket is written with MSG_DONTWAIT; a terminal stays as it is.
    if (!stdout_is_socket_ && !::isatty(STDOUT_FILENO))
        make_stdout_nonblocking();
    if (std::string problem = hand_off(!(config_.handoff && stdio.one_socket)); !problem.empty())
        unavailable(problem);

    while (!done_) {
        if (welcome_due_ && claim_ && Clock::now() >= attach_deadline_)
            attach_failed("kvstored did not answer within "
                              + std::to_string(std::chrono::milliseconds(kAttachTimeout).count()) + " ms",
                          true);
        if (relay_ && stdin_eof_ && to_daemon_.empty() && !relay_shut_) {
            // The client's end of input, passed on: kvstored hands back.
            ::shutdown(relay_.get(), SHUT_WR);
            relay_shut_ = true;
        }
        if (hand_back_pending_ && !relay_eof_ && Clock::now() >= finish_deadline_) {
            if (to_client_.size() >= kRelayBuffer) {
                reset("took none of its output for " + std::to_string(kWriteStallTimeout.count()) + " s");
                break;
            }
            // kvstored closes its end before it hands back; do not wait forever.
            syslog(LOG_WARNING, "kvstored handed back without closing the relayed connection");
            relay_eof_ = true;
        }
        if (hand_back_pending_ && relay_eof_) {
            hand_back_pending_ = false;
            finish(hand_back_output_);
        }
        if (done_)
            break;
        if (!write_client())
            return status_;  // the client is gone; nobody is left to tell
        if (finishing_ && to_client_.empty()) {
            linger_client(stdout_is_socket_, Clock::now() + kFinishGrace);
            return status_;
        }
        if (finishing_ && Clock::now() >= finish_deadline_) {
            reset("took none of its last output for " + std::to_string(kWriteStallTimeout.count()) + " s");
            break;
        }

        const bool read_relay = relay_ && !relay_eof_ && to_client_.size() < kRelayBuffer;
        pollfd fds[4] = {
            {upstream_.attached() && !finishing_ ? upstream_.fd() : -1, POLLIN, 0},
            {relay_ && !stdin_eof_ && !hand_back_pending_ && to_daemon_.size() < kRelayBuffer ? STDIN_FILENO : -1,
             POLLIN, 0},
            {relay_ && (read_relay || !to_daemon_.empty()) ? relay_.get() : -1,
             static_cast<short>((read_relay ? POLLIN : 0) | (to_daemon_.empty() ? 0 : POLLOUT)), 0},
            {to_client_.empty() ? -1 : STDOUT_FILENO, POLLOUT, 0},
        };
        int n = ::poll(fds, 4, poll_timeout_ms());
        if (n < 0 && errno != EINTR) {
            syslog(LOG_ERR, "poll: %m");
            return 1;
        }
        if (n <= 0)
            continue;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            read_upstream();
        if (done_)
            break;
        if (relay_ && fds[1].revents & (POLLIN | POLLHUP | POLLERR))
            relay_in();
        if (relay_ && fds[2].revents & (POLLOUT | POLLERR) && !to_daemon_.empty()) {
            ssize_t sent = ::send(relay_.get(), to_daemon_.data(), to_daemon_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent > 0) {
                to_daemon_.erase(0, static_cast<size_t>(sent));
            } else if (sent < 0 && errno != EAGAIN && errno != EINTR) {
                // kvstored closed its end: it hands back; the rest is not read.
                to_daemon_.clear();
                stdin_eof_ = relay_shut_ = true;
            }
        }
        if (read_relay && relay_ && fds[2].revents & (POLLIN | POLLHUP | POLLERR))
            relay_from_daemon();
    }
    return status_;
}

// Connects and sends the Hello with the Handoff (wire.h): the client's socket,
// or when relaying, one end of a new socketpair. "" when it went out.
std::string DoorSession::hand_off(bool relaying)
{
    UniqueFd theirs;  // the end kvstored serves; our copy closes on return
    int client_fd = STDIN_FILENO;
    if (relaying) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return errno_text("socketpair");
        relay_.reset(sv[0]);
        theirs.reset(sv[1]);
        client_fd = sv[1];
        ::fcntl(relay_.get(), F_SETFL, ::fcntl(relay_.get(), F_GETFL) | O_NONBLOCK);
    }
    claim_.reset(::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!claim_)
        return errno_text("eventfd");
    auto idle = static_cast<uint64_t>(config_.idle_timeout.count());
    wire::Handoff handoff{static_cast<uint32_t>(std::min<uint64_t>(idle, UINT32_MAX)), {}};
    bool handed_off = false;
    std::string problem = upstream_.open_handing_off(config_.socket_path, config_.client_address, handoff, client_fd,
                                                     claim_.get(), handed_off, hello_flag(door_));
    if (problem.empty() && !handed_off)
        problem = "could not send the connection to kvstored";
    if (!problem.empty())
        return problem;
    attach_deadline_ = Clock::now() + kAttachTimeout;
    return "";
}

// kvstored cannot serve the client and never had its socket: say why, in the
// one error line kvsvc writes in the door's protocol, and close.
void DoorSession::unavailable(std::string problem)
{
    syslog(LOG_WARNING, "connect: %s", problem.c_str());
    upstream_.detach();
    claim_.reset();
    relay_.reset();
    hand_back_pending_ = false;
    to_client_ = unavailable_reply(door_, std::move(problem));
    finish("");
}

void DoorSession::reset(const std::string& why)
{
    reset_client_connection(stdout_is_socket_, config_.client_address, why);
    upstream_.detach();
    relay_.reset();
    to_client_.clear();
    done_ = true;
}

// The attach failed (`problem`) or timed out: take the socket back if
// kvstored has not taken it (the claim token, wire.h). If kvstored has, it is
// serving the client: past the timeout only its Welcome is late (it comes
// with its first frame); anything else means it failed us holding the socket.
void DoorSession::attach_failed(const std::string& problem, bool timed_out)
{
    bool ours = claim_ && wire::take_claim(claim_.get());
    claim_.reset();
    if (ours)
        unavailable(problem);
    else if (!timed_out)
        reset("kvstored failed while it held the client's socket: " + problem);
}

void DoorSession::read_upstream()
{
    if (!upstream_.read()) {
        if (welcome_due_)
            attach_failed("kvstored closed the connection", false);
        else
            reset("kvstored went away while it held the client's socket");
        return;
    }
    wire::Frame frame;
    while (upstream_.attached() && !done_ && !finishing_ && !hand_back_pending_) {
        switch (upstream_.next(frame)) {
        case wire::FrameBuffer::Next::NeedMore:
            return;
        case wire::FrameBuffer::Next::Oversized:
            reset("protocol error: oversized frame from kvstored");
            return;
        case wire::FrameBuffer::Next::Frame:
            handle_frame(frame);
            break;
        }
    }
}

void DoorSession::handle_frame(const wire::Frame& frame)
{
    if (welcome_due_) {
        if (std::string problem = upstream_.welcome(frame); !problem.empty()) {
            attach_failed(problem, false);
            return;
        }
        // kvstored took the socket: the token is spent.
        welcome_due_ = false;
        claim_.reset();
        return;
    }
    wire::HandBack hand_back;
    if (frame.type == wire::Msg::HandBack && wire::decode(frame.payload, hand_back))
        on_hand_back(hand_back);
    else if (frame.type == wire::Msg::Shutdown)
        reset("kvstored shut down while it held the client's socket");  // it always hands back first
    else
        reset("protocol error: unexpected message from kvstored");
}

// The session is over (wire.h, kHelloRedis, kHelloMemcache): the output goes
// to the client, then kvsvc exits. kvstored has nothing more for us; the
// Shutdown notice that may follow a HandBack is not waited for.
void DoorSession::on_hand_back(const wire::HandBack& hb)
{
    switch (hb.reason) {
    case wire::HandBackReason::OutputCut:
        // kvstored gave up on a client that did not take its output; it may
        // have stopped mid-reply.
        reset("kvstored cut the session: the client did not take its output");
        return;
    case wire::HandBackReason::ClientGone:
        upstream_.detach();
        done_ = true;
        return;
    default:
        break;
    }
    if (relay_) {
        // What kvstored wrote on its end comes first: relayed up to its end.
        hand_back_pending_ = true;
        hand_back_output_.assign(hb.output);
        finish_deadline_ = Clock::now() + kWriteStallTimeout;
    } else {
        finish(hb.output);
    }
    upstream_.detach();
}

void DoorSession::finish(std::string_view output)
{
    upstream_.detach();
    relay_.reset();
    to_client_.append(output);
    finishing_ = true;
    // The write-stall clock (kWriteStallTimeout, as kvstored's): the client
    // has that long after each write that made progress, however long its
    // last output (up to kvstored's 1 MiB bound) takes in all.
    finish_deadline_ = Clock::now() + kWriteStallTimeout;
}

void DoorSession::relay_in()
{
    char buf[kRelayBuffer];
    ssize_t n = ::read(STDIN_FILENO, buf, kRelayBuffer - to_daemon_.size());
    if (n > 0)
        to_daemon_.append(buf, static_cast<size_t>(n));
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        stdin_eof_ = true;  // a read error (reset by the client) ends the input too
}

void DoorSession::relay_from_daemon()
{
    char buf[kRelayBuffer];
    ssize_t n = ::recv(relay_.get(), buf, kRelayBuffer - to_client_.size(), MSG_DONTWAIT);
    if (n > 0) {
        to_client_.append(buf, static_cast<size_t>(n));
        if (hand_back_pending_)
            finish_deadline_ = Clock::now() + kWriteStallTimeout;  // kvstored's end is still draining
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        relay_eof_ = true;
    }
}

// False when the client can take no more output (it is gone).
bool DoorSession::write_client()
{
    while (!to_client_.empty()) {
        ssize_t n = stdout_is_socket_
            ? ::send(STDOUT_FILENO, to_client_.data(), to_client_.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
            : ::write(STDOUT_FILENO, to_client_.data(), to_client_.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN;
        }
        to_client_.erase(0, static_cast<size_t>(n));
        if (n > 0 && (finishing_ || hand_back_pending_))
            finish_deadline_ = Clock::now() + kWriteStallTimeout;
    }
    return true;
}

int DoorSession::poll_timeout_ms() const
{
    Clock::time_point deadline;
    if (finishing_ || hand_back_pending_)
        deadline = finish_deadline_;
    else if (welcome_due_ && claim_)
        deadline = attach_deadline_;
    else
        return -1;  // kvstored keeps the idle timeout and the write-stall clock
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

}  // namespace kv
