// connection.cc: see connection.h.
#include "connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace kvbench {
namespace {

using namespace std::chrono_literals;

constexpr auto kRetryDelay = 10ms;
constexpr size_t kReadChunk = 64 * 1024;
// Parsed input is dropped from the front of the buffer once this much of it
// has piled up (and at once whenever everything has been parsed).
constexpr size_t kCompactAt = 64 * 1024;

uint64_t ns_between(Clock::time_point from, Clock::time_point to)
{
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
    return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

// A reply line for a message: its first line, printable, at most 100 bytes.
std::string quote(std::string_view text)
{
    std::string out = "'";
    for (char c : text.substr(0, std::min(text.find('\n'), size_t{100}))) {
        if (c != '\r')
            out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out + "'";
}

const char* op_name(Op op)
{
    switch (op) {
    case Op::Set:
        return "SET";
    case Op::Get:
        return "GET";
    case Op::Handshake:
        return "connect";
    }
    return "?";
}

}  // namespace

Connection::Connection(RunContext& ctx, unsigned index) : ctx_(ctx)
{
    if (ctx.options.rate > 0) {
        interval_ = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(ctx.options.connections / ctx.options.rate));
        phase_ = interval_ * index / ctx.options.connections;
    }
}

// --rate: the connections share one schedule, staggered: connection i's
// requests are due at epoch + phase_i + k * interval, so the server gets one
// request every 1/rate s rather than a burst from every connection at once.
// A connection joins (or rejoins after a failure) at its next slot.
Clock::time_point Connection::first_due(Clock::time_point now) const
{
    Clock::time_point slot = ctx_.epoch + phase_;
    if (now > slot)
        slot += interval_ * ((now - slot + interval_ - Clock::duration{1}) / interval_);
    return slot;
}

std::string Connection::describe(const std::string& what) const
{
    return what + " " + ctx_.address.text + ": " + std::strerror(errno);
}

void Connection::open(Clock::time_point now)
{
    in_.clear();
    in_pos_ = 0;
    out_.clear();
    out_pos_ = 0;
    in_flight_.clear();
    watched_ = 0;
    session_start_ = now;
    state_ = State::Closed;
    deadline_ = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx_.options.timeout));
    if (ctx_.options.reconnect) {
        session_request_ = ctx_.workload.next();
        if (!session_request_)
            return;  // no requests left: this connection is done
    } else {
        setting_up_ = true;
        ++ctx_.setting_up;
    }
    fd_.reset(::socket(ctx_.address.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) {
        fail(describe("socket for"));
        return;
    }
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    state_ = State::Connecting;
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&ctx_.address.addr), ctx_.address.len) == 0) {
        watch(EPOLLIN);
        on_connected(now);
    } else if (errno == EINPROGRESS) {
        watch(EPOLLOUT);
    } else {
        fail(describe("connect to"));
    }
}

void Connection::on_event(uint32_t events)
{
    Clock::time_point now = Clock::now();
    if (state_ == State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            errno = err ? err : errno;
            fail(describe("connect to"));
        } else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            on_connected(now);
        }
        return;
    }
    if (events & EPOLLOUT)
        flush();
    if (fd_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_input(now);
}

void Connection::on_connected(Clock::time_point now)
{
    if (ctx_.codec.has_greeting()) {
        state_ = State::Greeting;
        watch(EPOLLIN);
    } else {
        start_session(now);
    }
}

// After the greeting (or at once): in reconnect mode the handshake and the
// session's one request go out together; in steady mode the handshake, if
// any, is answered before the stream starts.
void Connection::start_session(Clock::time_point now)
{
    if (ctx_.options.reconnect) {
        if (ctx_.codec.needs_handshake())
            send(Op::Handshake, 0, now);
        send(session_request_->op, session_request_->key, now);
        session_request_.reset();
        state_ = State::Running;
    } else if (ctx_.codec.needs_handshake()) {
        send(Op::Handshake, 0, now);
        state_ = State::Handshake;
    } else {
        state_ = State::Running;
        setup_done();
        fill(now);
    }
    flush();
}

void Connection::setup_done()
{
    if (ctx_.options.rate > 0)
        next_due_ = first_due(Clock::now());
    if (setting_up_) {
        setting_up_ = false;
        --ctx_.setting_up;
    }
}

void Connection::check_deadline(Clock::time_point now)
{
    if (now < deadline_)
        return;
    const char* missing = nullptr;
    switch (state_) {
    case State::Connecting:
        missing = "connection";
        break;
    case State::Greeting:
        missing = "greeting";
        break;
    case State::Handshake:
        missing = "reply to 'connect'";
        break;
    case State::Running:
        if (ctx_.options.reconnect)
            missing = "end of the session";
        break;
    case State::Closed:
    case State::Failed:
        break;
    }
    if (missing)
        fail("no " + std::string(missing) + " from " + ctx_.address.text + " within "
             + format_seconds(ctx_.options.timeout) + " s");
}

void Connection::read_input(Clock::time_point now)
{
    char buf[kReadChunk];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            fail(describe("read from"));
        return;
    }
    if (n == 0) {
        fail("the server at " + ctx_.address.text + " closed the connection"
             + (in_flight_.empty() ? std::string() : " with " + std::to_string(in_flight_.size()) + " requests open"));
        return;
    }
    in_.append(buf, static_cast<size_t>(n));
    consume_input(now);
}

void Connection::consume_input(Clock::time_point now)
{
    while (fd_ && in_pos_ < in_.size()) {
        std::string_view view(in_.data() + in_pos_, in_.size() - in_pos_);
        if (state_ == State::Greeting) {
            if (!take_greeting())
                return;
            start_session(now);
            continue;
        }
        if (in_flight_.empty()) {
            fail("unexpected data from " + ctx_.address.text + ": " + quote(view));
            return;
        }
        InFlight req = in_flight_.front();
        Parsed p = ctx_.codec.parse(view, req.op);
        if (p.status == Parsed::Status::NeedMore)
            break;
        if (p.status == Parsed::Status::Malformed) {
            fail(std::string("malformed reply to ") + op_name(req.op) + " from " + ctx_.address.text + ": "
                 + quote(view));
            return;
        }
        in_flight_.pop_front();
        in_pos_ += p.consumed;
        if (!take_reply(req, p.kind, view.substr(0, p.consumed), now))
            return;  // failed, or the session ended and the next one started afresh
    }
    if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
    } else if (in_pos_ >= kCompactAt) {
        in_.erase(0, in_pos_);
        in_pos_ = 0;
    }
    if (state_ == State::Running && !ctx_.options.reconnect) {
        fill(now);
        flush();
    }
}

// True once the greeting has been read and accepted; false if more input is
// needed or the connection failed.
bool Connection::take_greeting()
{
    std::string_view view(in_.data() + in_pos_, in_.size() - in_pos_);
    Parsed p = ctx_.codec.parse_greeting(view);
    if (p.status == Parsed::Status::NeedMore)
        return false;
    if (p.status == Parsed::Status::Malformed || p.kind != ReplyKind::Ok) {
        fail("the server at " + ctx_.address.text + " greeted with " + quote(view));
        return false;
    }
    in_pos_ += p.consumed;
    return true;
}

// Counts one reply. False when the connection is no longer the one the
// caller was parsing: it failed, or its session ended and the next began.
bool Connection::take_reply(const InFlight& req, ReplyKind kind, std::string_view text, Clock::time_point now)
{
    Stats& stats = ctx_.stats;
    if (req.op == Op::Handshake) {
        if (kind != ReplyKind::Ok) {
            fail("'connect' refused by " + ctx_.address.text + ": " + quote(text));
            return false;
        }
        if (!ctx_.options.reconnect) {
            state_ = State::Running;
            setup_done();
            fill(now);
        }
        return true;
    }
    switch (kind) {
    case ReplyKind::Ok:
        ++stats.ok;
        break;
    case ReplyKind::Hit:
        ++stats.hits;
        break;
    case ReplyKind::Miss:
        ++stats.misses;
        break;
    case ReplyKind::Error:
        ++stats.error_replies;
        stats.note_error(std::string("error reply to ") + op_name(req.op) + " from " + ctx_.address.text + ": "
                         + quote(text));
        break;
    }
    stats.last_progress = now;
    if (!ctx_.options.reconnect) {
        stats.latency.record(ns_between(req.sent, now));
        return true;
    }
    if (!in_flight_.empty())
        return true;
    end_session(now);
    return false;
}

// Reconnect mode: the session's last reply is in. Record the whole session,
// hang up, and start the next one.
void Connection::end_session(Clock::time_point now)
{
    ctx_.stats.latency.record(ns_between(session_start_, now));
    fd_.reset();
    state_ = State::Closed;
    open(Clock::now());
}

void Connection::fill(Clock::time_point now)
{
    const bool paced = ctx_.options.rate > 0;
    while (in_flight_.size() < ctx_.options.pipeline) {
        if (paced && next_due_ > now)
            return;
        std::optional<Request> r = ctx_.workload.next();
        if (!r)
            return;
        // Paced, a request's latency counts from when it was due: if the
        // server held the connection's earlier requests, this one waited too.
        send(r->op, r->key, paced ? next_due_ : now);
        if (paced)
            next_due_ += interval_;
    }
}

Clock::time_point Connection::pace(Clock::time_point now)
{
    if (state_ != State::Running)
        return Clock::time_point::max();
    fill(now);
    flush();
    return state_ == State::Running ? next_due_ : Clock::time_point::max();
}

void Connection::send(Op op, uint32_t key, Clock::time_point now)
{
    std::string_view key_text = op == Op::Handshake ? std::string_view() : ctx_.workload.key_text(key);
    ctx_.codec.append(out_, op, key_text, ctx_.workload.value());
    in_flight_.push_back(InFlight{op, now});
}

void Connection::flush()
{
    while (out_pos_ < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            fail(describe("write to"));
            return;
        }
        out_pos_ += static_cast<size_t>(n);
    }
    if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
        watch(EPOLLIN);
    } else {
        watch(EPOLLIN | EPOLLOUT);
    }
}

void Connection::watch(uint32_t events)
{
    if (events == watched_)
        return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = this;
    int op = watched_ == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (::epoll_ctl(ctx_.epoll_fd, op, fd_.get(), &ev) < 0) {
        fail(describe("epoll_ctl for"));
        return;
    }
    watched_ = events;
}

void Connection::fail(const std::string& why)
{
    Stats& stats = ctx_.stats;
    ++stats.connection_errors;
    for (const InFlight& r : in_flight_)
        stats.lost += r.op != Op::Handshake;
    stats.lost += session_request_.has_value();
    stats.note_error(why);
    setup_done();
    fd_.reset();  // also removes it from the epoll set
    watched_ = 0;
    in_flight_.clear();
    session_request_.reset();
    state_ = State::Failed;
    retry_at_ = Clock::now() + kRetryDelay;
}

}  // namespace kvbench
