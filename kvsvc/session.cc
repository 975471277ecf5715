// session.cc: see session.h.
#include "session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "client_io.h"
#include "version.h"

namespace kv {
namespace {

// `connect` as kvstored answers it (wire::Op::Connect).
wire::Request connect_request()
{
    wire::Request req;
    req.op = wire::Op::Connect;
    return req;
}

}  // namespace
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// While the client has kMaxClientOutput of unread output, kvsvc also stops
// reading kvstored's replies (kvstored then holds them, within its own
// per-client bound).
// Commands forwarded to kvstored and not yet answered, at most.
constexpr size_t kMaxOutstanding = 1024;

}  // namespace

Session::Session(SessionConfig config) : config_(std::move(config)), lines_(kDefaultMaxValueBytes + kLineOverhead) { }

int Session::run()
{
    Stdio stdio = inspect_stdio();
    stdout_is_socket_ = stdio.stdout_is_socket;
    can_handoff_ = config_.handoff && stdio.one_socket;
    // A pipe gets O_NONBLOCK so a client that stops reading cannot stall us; a
    // socket is written with MSG_DONTWAIT; a terminal (a person testing by
    // hand) stays as it is.
    if (!stdout_is_socket_ && !::isatty(STDOUT_FILENO))
        make_stdout_nonblocking();
    out_ = "HELLO kvstore " KVSTORE_VERSION " ready; type 'help'\n";
    last_activity_ = last_write_ = Clock::now();

    for (;;) {
        if (reset_ || client_gone_ || !write_client())
            return 0;  // the client is gone; nobody is left to tell
        if (write_stalled()) {
            reset_client("took none of its output for " + std::to_string(kWriteStallTimeout.count()) + " s");
            return 0;
        }
        if (can_process())
            process_input();
        if (linked() && upstream_.wants_write() && !upstream_.flush())
            upstream_broken();
        if (link_ == Link::Connecting && Clock::now() >= connect_deadline_)
            connect_failed("kvstored did not answer within "
                               + std::to_string(std::chrono::milliseconds(kAttachTimeout).count()) + " ms",
                           true);
        if (!write_client())
            return 0;
        if (handoff_pending_)
            try_handoff();
        if (reset_)
            return 0;
        if (finished_ && out_.empty())
            break;
        if (finished_ && Clock::now() >= finish_deadline_) {
            // Our last words may stop mid-reply: no FIN that could pass for an end.
            reset_client("did not take its last output in time");
            return 0;
        }
        // While handed off, kvstored keeps the idle timeout.
        if (!finished_ && !handed_off_ && Clock::now() - last_activity_ >= config_.idle_timeout) {
            replies_.fail_all(error_reply("unavailable", "kvstored did not answer"));
            finish("BYE idle timeout\n");
            continue;
        }

        pollfd fds[3] = {
            {!finished_ && !input_eof_ && can_process() ? STDIN_FILENO : -1, POLLIN | POLLRDHUP, 0},
            {out_.empty() ? -1 : STDOUT_FILENO, POLLOUT, 0},
            {linked() && (out_.size() < kMaxClientOutput || upstream_.wants_write()) ? upstream_.fd() : -1,
             static_cast<short>((out_.size() < kMaxClientOutput ? POLLIN : 0)
                                | (upstream_.wants_write() || handoff_pending_ ? POLLOUT : 0)),
             0},
        };
        int n = ::poll(fds, 3, poll_timeout_ms());
        if (n < 0 && errno != EINTR) {
            syslog(LOG_ERR, "poll: %m");
            return 1;
        }
        if (linked() && fds[2].revents & POLLOUT && !upstream_.flush())
            upstream_broken();
        if (linked() && fds[2].revents & (POLLIN | POLLHUP | POLLERR))
            read_upstream();
        if (reset_)
            return 0;  // fds 0, 1 and 2 are closed
        if (fds[0].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
            // At the client's end of input there is nothing to hand over.
            bool eof = fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR);
            if (!eof && ready_for_handoff() && client_has_input())
                try_handoff();
            else
                read_client();
        }
    }
    linger();
    return 0;
}

// Hang up so that the last reply arrives (client_io.h). After the client's
// own end of input nothing unread is left to cause a reset.
void Session::linger()
{
    if (!input_eof_)
        linger_client(stdout_is_socket_, finish_deadline_);
}

// The output may stop in the middle of a reply: reset (client_io.h).
void Session::reset_client(const std::string& why)
{
    reset_client_connection(stdout_is_socket_, config_.client_address, why);
    out_.clear();
    reset_ = true;
}

// kWriteStallTimeout (10 s, command.h): output waiting and none of it taken
// for that long. While the socket is with kvstored, kvstored keeps this clock.
bool Session::write_stalled() const
{
    return !handed_off_ && !out_.empty() && Clock::now() - last_write_ >= kWriteStallTimeout;
}

int Session::poll_timeout_ms() const
{
    auto deadline = finished_ ? finish_deadline_ : last_activity_ + config_.idle_timeout;
    if (handed_off_)
        deadline = Clock::now() + 60s;  // kvstored keeps the idle timeout
    else if (!out_.empty())
        deadline = std::min(deadline, last_write_ + kWriteStallTimeout);
    if (link_ == Link::Connecting)
        deadline = std::min(deadline, connect_deadline_);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

bool Session::write_client()
{
    if (!output_pending_)
        last_write_ = Clock::now();  // the stall clock starts with new output
    output_pending_ = !out_.empty();
    while (!out_.empty()) {
        ssize_t n = stdout_is_socket_ ? ::send(STDOUT_FILENO, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                                      : ::write(STDOUT_FILENO, out_.data(), out_.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN;
        }
        out_.erase(0, static_cast<size_t>(n));
        last_activity_ = last_write_ = Clock::now();
    }
    output_pending_ = !out_.empty();
    return true;
}

void Session::read_client()
{
    char buf[64 * 1024];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        // Reset by the client: treat like end of input.
        n = 0;
    }
    if (n == 0)
        input_eof_ = true;
    else
        lines_.append(buf, static_cast<size_t>(n));
    last_activity_ = Clock::now();
    process_input();
}

bool Session::can_process() const
{
    return !finished_ && !held_ && !handoff_pending_ && !handed_off_
        && out_.size() + replies_.queued_bytes() < kMaxClientOutput && replies_.outstanding() < kMaxOutstanding;
}

void Session::process_input()
{
    while (can_process()) {
        std::string_view line;
        switch (lines_.next(line)) {
        case LineSplitter::Next::Line:
            handle_line(line);
            break;
        case LineSplitter::Next::TooLong:
            replies_.local(too_long_reply(lines_.max_line()));
            break;
        case LineSplitter::Next::NeedMore:
            if (input_eof_) {
                // A last line without LF still counts; then leave once answered.
                if (auto rest = lines_.take_rest(); !rest.empty())
                    handle_line(rest);
                if (finished_)
                    return;
                if (replies_.outstanding() > 0)
                    held_ = Barrier::EndOfInput;
                else
                    run_barrier(Barrier::EndOfInput);
            }
            failed_connect_reply_.clear();  // it covered what had arrived
            return;
        }
    }
}

void Session::handle_line(std::string_view line)
{
    size_t max_value = link_ == Link::Attached ? upstream_.max_value() : kDefaultMaxValueBytes;
    ParseResult parsed = parse_line(line, max_value);
    if (parsed.kind == ParseResult::Kind::Error)
        replies_.local(parsed.error);
    else if (parsed.kind == ParseResult::Kind::Command)
        execute(parsed.command);
}

void Session::execute(const Command& cmd)
{
    switch (cmd.verb) {
    case Verb::Connect:
        if (link_ == Link::Connecting)
            held_ = Barrier::Connect;  // answered once the first one is settled
        else
            run_barrier(Barrier::Connect);
        return;
    case Verb::Auth:
        // kvstored checks it (wire::Op::Auth); before connect, attaching
        // first without handing off: the later connect hands off.
        if (linked()) {
            upstream_.send(auth_request(cmd));
            replies_.expect_remote();
        } else {
            failed_connect_reply_.clear();
            do_connect(&cmd);
        }
        return;
    case Verb::Ping:
        replies_.local(kPongReply);
        return;
    case Verb::Help:
        replies_.local(help_text());
        return;
    case Verb::Close:
    case Verb::Exit: {
        // These change the session itself, so they wait until every earlier
        // command has been answered.
        Barrier b = cmd.verb == Verb::Close ? Barrier::Close : Barrier::Exit;
        if (replies_.outstanding() > 0)
            held_ = b;
        else
            run_barrier(b);
        return;
    }
    default:
        forward(cmd);
    }
}

void Session::run_barrier(Barrier b)
{
    failed_connect_reply_.clear();
    switch (b) {
    case Barrier::Connect:
        if (link_ == Link::Attached) {
            // kvstored answers: "OK connected", or auth-required.
            upstream_.send(connect_request());
            replies_.expect_remote();
        } else {
            do_connect(nullptr);
        }
        break;
    case Barrier::Close:
        upstream_.detach();
        link_ = Link::Detached;
        replies_.local("OK closed\n");
        break;
    case Barrier::Exit:
        finish("BYE\n");
        break;
    case Barrier::EndOfInput:
        finish("");
        break;
    }
}

void Session::forward(const Command& cmd)
{
    if (!linked()) {
        replies_.local(unlinked_reply());
        return;
    }
    upstream_.send(to_request(cmd));
    replies_.expect_remote();
}

void Session::do_connect(const Command* auth)
{
    std::string problem;
    bool handed_off = false;
    (void)write_client();  // our own replies must be out before kvstored writes
    if (!auth && can_hand_off_with_hello())
        claim_.reset(::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
    if (claim_)
        problem = upstream_.open_handing_off(config_.socket_path, config_.client_address,
                                             handoff_message(lines_.buffered_bytes()), STDIN_FILENO, claim_.get(),
                                             handed_off);
    else
        problem = upstream_.open(config_.socket_path, config_.client_address);
    if (!handed_off)
        claim_.reset();
    if (!problem.empty()) {
        // As when kvstored refuses later (connect_failed): the data commands
        // read behind this connect get its reply, not "not connected".
        syslog(LOG_WARNING, "connect: %s", problem.c_str());
        failed_connect_reply_ = error_reply("unavailable", problem);
        replies_.local(failed_connect_reply_);
        return;
    }
    link_before_connect_ = link_;
    link_ = Link::Connecting;
    connect_deadline_ = Clock::now() + kAttachTimeout;
    if (handed_off) {
        // kvstored answers this connect and what we read behind it (wire.h);
        // we keep that input until its Welcome says it has it.
        handed_off_ = welcome_due_ = true;
        return;
    }
    // The commands that follow travel right behind the Hello, without waiting
    // for the Welcome (a short session saves a round trip). kvstored answers
    // the connect (or the auth) itself: "OK connected" or auth-required; a
    // refusal answers it instead (connect_failed).
    upstream_.send(auth ? auth_request(*auth) : connect_request());
    replies_.expect_remote();
}

// The socket can go with the Hello when nothing of ours is still to be written
// or awaited and the input we read fits in the Handoff whole: lines only, not
// the dropped tail of an overlong one.
bool Session::can_hand_off_with_hello() const
{
    constexpr size_t kMaxInput = 64 * 1024;
    return can_handoff_ && replies_.outstanding() == 0 && out_.empty() && !lines_.discarding()
        && lines_.buffered() <= kMaxInput;
}

wire::Handoff Session::handoff_message(std::string_view input) const
{
    uint64_t idle = static_cast<uint64_t>(config_.idle_timeout.count());
    return wire::Handoff{idle >= UINT32_MAX ? 0 : static_cast<uint32_t>(idle), input};
}

void Session::on_welcome()
{
    link_ = Link::Attached;
    lines_.set_max_line(upstream_.max_value() + kLineOverhead);
    if (welcome_due_) {
        // kvstored took the socket with our Hello: it answered the connect and
        // had the input we kept.
        welcome_due_ = false;
        claim_.reset();
        (void)lines_.take_rest();
        return;
    }
    // The connect's own reply is kvstored's answer to Op::Connect.
}

// The connect's reply says why, and so do those of the commands sent behind
// its Hello: kvstored may yet carry them out (it may be stalled, not gone), so
// "not connected" would claim too much. A socket sent with the Hello is taken
// back first, with the input that went with it, which is answered the same.
// If kvstored took the socket first, it is serving the client: past the attach
// timeout only its Welcome is late (it comes with the first frame it sends
// us), and anything else means kvstored failed us holding the socket.
void Session::connect_failed(const std::string& problem, bool timed_out)
{
    bool socket_was_away = handed_off_;
    if (socket_was_away && !take_back_socket()) {
        if (timed_out)
            link_ = Link::Attached;
        else
            lose_upstream(problem);
        return;
    }
    syslog(LOG_WARNING, "connect: %s", problem.c_str());
    upstream_.detach();
    link_ = link_before_connect_;
    welcome_due_ = false;
    std::string reply = error_reply("unavailable", problem);
    if (socket_was_away) {
        // Nothing was forwarded: the input we kept is answered from here.
        replies_.local(reply);
        failed_connect_reply_ = reply;
        // What the client sent while the socket was away counts as sent
        // behind this connect too: read what is there now, without waiting.
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0)
            read_client();  // and processes it
        else
            process_input();
        return;
    }
    replies_.fail_all(reply);
    run_held_barrier();
}

// Reads the claim token of a socket sent with the Hello (wire.h): true if the
// socket is ours again, false if kvstored took it. Either way the token is
// spent.
bool Session::take_back_socket()
{
    bool ours = claim_ && wire::take_claim(claim_.get());
    claim_.reset();
    if (ours)
        handed_off_ = false;
    return ours;
}

// Writing to kvstored failed. While connecting, kvstored may have refused us
// and hung up before reading our Hello: the Refused notice saying why is then
// in our receive queue, so look there first.
void Session::upstream_broken()
{
    if (link_ == Link::Connecting)
        read_upstream();
    if (link_ == Link::Connecting)
        connect_failed("kvstored closed the connection");
    else if (link_ == Link::Attached)
        lose_upstream("write to kvstored failed");
}

std::string Session::unlinked_reply() const
{
    if (!failed_connect_reply_.empty())
        return failed_connect_reply_;
    return link_ == Link::Lost ? error_reply("unavailable", "kvstored went away")
                               : error_reply("not-connected", "send 'connect' first");
}

// Normally the socket goes with the Hello (do_connect). When it could not, it
// may pass to kvstored once the session is attached and at rest: every reply
// written, nothing outstanding, no input read and not processed. Then nothing
// of ours can overtake or follow what kvstored writes. kvsvc then hands off
// when the client sends more (see run()).
bool Session::ready_for_handoff() const
{
    return can_handoff_ && link_ == Link::Attached && !finished_ && !held_ && !input_eof_ && replies_.outstanding() == 0
        && out_.empty() && lines_.at_line_start() && !upstream_.wants_write();
}

// True when the client has sent bytes; false at end of input (or error), which
// read_client() handles as usual.
bool Session::client_has_input()
{
    char c;
    return ::recv(STDIN_FILENO, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void Session::try_handoff()
{
    handoff_pending_ = true;
    switch (upstream_.send_handoff(handoff_message({}), STDIN_FILENO)) {
    case DaemonLink::FdSend::Retry:
        return;  // kvstored's socket is full: poll() waits for room
    case DaemonLink::FdSend::Failed:
        lose_upstream("handoff to kvstored failed");
        return;
    case DaemonLink::FdSend::Sent:
        handoff_pending_ = false;
        handed_off_ = true;
        return;
    }
}

void Session::handle_hand_back(const wire::HandBack& hb)
{
    handed_off_ = false;
    last_activity_ = Clock::now();
    out_.append(hb.output);  // written before anything we add
    if (!hb.input.empty())
        lines_.append(hb.input.data(), hb.input.size());
    switch (hb.reason) {
    case wire::HandBackReason::Command:
    case wire::HandBackReason::Shutdown:  // the Shutdown notice follows
        break;
    case wire::HandBackReason::EndOfInput:
        input_eof_ = true;
        break;
    case wire::HandBackReason::IdleTimeout:
        finish("BYE idle timeout\n");
        break;
    case wire::HandBackReason::ClientGone:
        client_gone_ = true;
        break;
    case wire::HandBackReason::OutputCut:
        // kvstored gave up on a client that did not take its output; it may
        // have stopped mid-reply.
        upstream_.detach();
        link_ = Link::Detached;
        reset_client("kvstored cut the session: the client did not take its output");
        break;
    }
}

void Session::read_upstream()
{
    if (!upstream_.read()) {
        if (link_ == Link::Connecting)
            connect_failed("kvstored closed the connection");
        else
            lose_upstream("kvstored closed the connection");
    } else {
        wire::Frame frame;
        for (bool more = true; more && linked();) {
            switch (upstream_.next(frame)) {
            case wire::FrameBuffer::Next::NeedMore:
                more = false;
                break;
            case wire::FrameBuffer::Next::Oversized:
                lose_upstream("protocol error: oversized frame from kvstored");
                break;
            case wire::FrameBuffer::Next::Frame:
                handle_frame(frame);
                break;
            }
        }
    }
    run_held_barrier();
}

// A command that waited for every earlier reply runs once they are all in.
void Session::run_held_barrier()
{
    if (held_ && replies_.outstanding() == 0) {
        Barrier b = *held_;
        held_.reset();
        run_barrier(b);
    }
}

void Session::handle_frame(const wire::Frame& frame)
{
    if (link_ == Link::Connecting || welcome_due_) {
        std::string problem = upstream_.welcome(frame);
        if (problem.empty())
            on_welcome();
        else
            connect_failed(problem);
        return;
    }
    wire::Reply reply;
    wire::Notice notice;
    wire::HandBack hand_back;
    if (frame.type == wire::Msg::HandBack && handed_off_ && wire::decode(frame.payload, hand_back)) {
        handle_hand_back(hand_back);
    } else if (frame.type == wire::Msg::Reply && !handed_off_ && wire::decode(frame.payload, reply)) {
        // Chunks go to the client as they come: reading from kvstored stops
        // while the client has kMaxClientOutput unread, which bounds a long
        // listing in kvsvc as in kvstored.
        bool more = reply.flags & wire::kReplyMore;
        if (!(more ? replies_.remote_part(reply.text) : replies_.remote(reply.text)))
            lose_upstream("protocol error: kvstored sent a reply nobody asked for");
        else
            mid_reply_ = more;
    } else if (frame.type == wire::Msg::Shutdown && wire::decode(frame.payload, notice)) {
        std::string bye = "BYE " + std::string(notice.text) + "\n";
        handed_off_ = false;  // kvstored hands back first; be safe anyway
        // What kvstored did not answer it did not carry out, and gets no
        // reply: BYE follows the last reply, handed off or relayed.
        // A listing cut here ends after a whole page whose header said more
        // would follow (docs/protocol.md).
        replies_.drop_waiting();
        mid_reply_ = false;
        upstream_.detach();
        link_ = Link::Detached;
        finish(bye);
    } else {
        lose_upstream("protocol error: unexpected message from kvstored");
    }
}

void Session::lose_upstream(std::string_view why)
{
    syslog(LOG_WARNING, "lost kvstored: %.*s", static_cast<int>(why.size()), why.data());
    upstream_.detach();
    link_ = Link::Lost;
    bool cut_reply = std::exchange(mid_reply_, false);
    bool held_socket = handed_off_;
    handoff_pending_ = handed_off_ = false;
    replies_.fail_all(error_reply("unavailable", "kvstored went away"));
    // kvstored died holding the client's socket: commands it had read but not
    // answered are gone, and we cannot tell how many, nor whether its last
    // write ended mid-reply. A BYE could complete a cut reply (e.g. a VALUE
    // line), so reset the connection; the client reconnects once kvstored is
    // back.
    if (held_socket)
        reset_client("kvstored went away while it held the client's socket");
    else if (cut_reply)
        reset_client("kvstored went away in the middle of a reply");
    else
        run_held_barrier();  // e.g. an exit that waited for the lost replies
}

void Session::finish(std::string_view last_words)
{
    // Nothing more will be forwarded: let kvstored forget us now, not when
    // the client has read its last words and hung up.
    upstream_.detach();
    if (linked())
        link_ = Link::Detached;
    replies_.local(last_words);
    held_.reset();
    finished_ = true;
    finish_deadline_ = Clock::now() + kFinishGrace;
}

}  // namespace kv
