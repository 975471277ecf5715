// client.cc: see client.h.
#include "client.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "admin.h"
#include "command.h"
#include "commands.h"
#include "line_door.h"
#include "log.h"
#include "memcache_door.h"
#include "redis_door.h"
#include "secret.h"
#include "send_buffer.h"
#include "server.h"

namespace kv {
namespace {

// A kvsvc that connects must say Hello within this time, or it is dropped: a
// stray process holding a connection open must not hold a slot forever.
constexpr std::chrono::seconds kHelloTimeout{10};

// Past this much unsent output we stop reading the peer's requests until it
// catches up, so one client that never reads cannot grow kvstored's memory.
constexpr size_t kMaxPendingOutput = 4u << 20;

// Input bound: past this much buffered input (more than one whole frame, so
// requests are waiting for a later turn's budget or for output room) we read
// no more until they have run.
constexpr size_t kMaxBufferedInput = wire::kMaxPayload + 64;

// Failed password checks: each failure is answered only after a delay that
// doubles within the session up to a cap (1, 2, 4, 4, 4 s), and the session
// ends after the kMaxAuthFailures-th (docs/protocol.md, "Authentication").
constexpr unsigned kMaxAuthFailures = 5;
constexpr std::chrono::seconds kFirstAuthDelay{1};
constexpr std::chrono::seconds kMaxAuthDelay{4};
// The answer to an attempt from an address that failed too often lately,
// made without a check (auth_throttle.h); the doors word it their way.
constexpr const char* kThrottledReply = "too many failed passwords from this address; try again later";

// A user name as a client sent it, safe for a log line fail2ban reads: only
// the bytes a user name may hold (users.h), others as '?', at most 64.
std::string loggable_user(std::string_view name)
{
    std::string out;
    for (char c : name.substr(0, 64))
        out.push_back((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
                              || c == '@' || c == '-'
                          ? c
                          : '?');
    return out;
}

// The client address as kvsvc reported it (xinetd's REMOTE_HOST, or the
// socket's peer): kept to one printable token, because it goes into logs and
// into the space-separated rows of `kvstored clients`.
std::string printable_address(std::string_view reported)
{
    constexpr size_t kMaxAddress = 100;
    std::string out;
    for (char ch : reported.substr(0, kMaxAddress)) {
        unsigned char c = static_cast<unsigned char>(ch);
        out.push_back(c > 0x20 && c < 0x7f ? ch : '?');
    }
    return out.empty() ? "local" : out;
}

// A listing page that is not the last: Reply frames that all say more of the
// same reply follows (wire.h), so kvsvc takes the pages as one reply.
void append_reply_part(std::string& out, std::string_view text)
{
    constexpr size_t kChunk = wire::kMaxPayload - 1;  // one byte of flags
    do {
        wire::append(out, wire::Reply{wire::kReplyMore, text.substr(0, kChunk)});
        text.remove_prefix(std::min(text.size(), kChunk));
    } while (!text.empty());
}

// The host part of a client address for the auth failure line, which
// fail2ban matches with <HOST>: "203.0.113.7" of "203.0.113.7:51234",
// "2001:db8::1" of "[2001:db8::1]:51234"; anything else as it is.
std::string address_host(const std::string& address)
{
    if (address.starts_with('[')) {
        size_t end = address.find(']');
        return end == std::string::npos ? address : address.substr(1, end - 1);
    }
    size_t colon = address.rfind(':');
    if (colon != std::string::npos && address.find(':') == colon)
        return address.substr(0, colon);
    return address;
}

}  // namespace

Client::Client(Server& server, UniqueFd fd, uint64_t id, const ucred& peer, Role role)
    : server_(server),
      fd_(std::move(fd)),
      id_(id),
      peer_(peer),
      role_(role),
      held_(server.db()),
      budget_(server.loop(), [this] { resume(); })
{
    interest_ = EPOLLIN;
    server_.loop().watch(fd_.get(), interest_, this);
    hello_timer_ = server_.loop().add_timer(kHelloTimeout, [this] {
        hello_timer_ = 0;
        close("no hello within 10 s");
    });
}

Client::~Client()
{
    if (hello_timer_)
        server_.loop().cancel_timer(hello_timer_);
    if (auth_.timer)
        server_.loop().cancel_timer(auth_.timer);
}

void Client::on_ready(uint32_t events)
{
    if (state_ == State::Closed)
        return;  // an event from the same batch in which we closed
    if (events & EPOLLOUT)
        flush();
    if (state_ != State::Closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_input();
}

void Client::read_input()
{
    if (state_ == State::Draining) {
        discard_input();
        return;
    }
    if (in_.buffered() > kMaxBufferedInput)
        return;  // requests are waiting to run: they resume on their own
    long n = receive();
    if (fds_truncated_ && received_fds_.size() < kFdSlots) {
        refuse_out_of_descriptors();
        return;
    }
    if (received_fds_.size() > 2 || fds_truncated_) {  // a Handoff carries at most two
        ++server_.stats().protocol_errors;
        close("protocol error: unexpected file descriptors");
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        close(std::strerror(errno));
        return;
    }
    if (n == 0)
        peer_eof_ = true;
    process_frames();
    if (state_ == State::Closed)
        return;
    flush();
}

// The kernel could not give us every descriptor kvsvc sent: we are at
// RLIMIT_NOFILE (each session holds two), not talking to a bad peer. kvsvc
// still holds the client's socket: Refused, the answer to its Hello, makes it
// take the socket back and tell the client why ("ERR unavailable kvstored
// refused: out of ..."). A handoff later in an attached session ends it.
void Client::refuse_out_of_descriptors()
{
    received_fds_.clear();
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    std::string why = "out of descriptors receiving the client's socket (RLIMIT_NOFILE " + std::to_string(lim.rlim_cur)
        + ", two per session; docs/operations.md, \"Many sessions\")";
    if (state_ != State::AwaitingHello) {
        close(why.c_str());
        return;
    }
    LOG_WARN("%s %llu (pid %d, uid %u): refused: %s", role_word(), static_cast<unsigned long long>(id_), peer_.pid,
             peer_.uid, why.c_str());
    wire::append(out_, wire::Msg::Refused, wire::Notice{why});
    state_ = State::Draining;
    close_when_flushed_ = "refused";
    flush();
}

// Reads once, with room for kFdSlots fds passed as SCM_RIGHTS (a Handoff
// carries one, two right behind a Hello). When the control data is cut short
// (MSG_CTRUNC) with fewer than kFdSlots received, the kernel ran out of room
// in our descriptor table; with all of them, the peer sent too many.
long Client::receive()
{
    char chunk[64 * 1024];
    iovec iov{chunk, sizeof chunk};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdSlots)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            received_fds_.emplace_back(fd);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC)
        fds_truncated_ = true;
    if (n > 0)
        in_.append(chunk, static_cast<size_t>(n));
    return n;
}

// A draining peer has been told goodbye; what it still sends is read and
// dropped (never buffered) until it hangs up or the server's deadline passes.
void Client::discard_input()
{
    char scratch[16 * 1024];
    ssize_t n = ::read(fd_.get(), scratch, sizeof scratch);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        close(hung_up_reason());
}

// Runs buffered requests, and the pages of a listing before any later request,
// until the input runs out, an output bound is reached (returns true: writing
// may let it go on), or this turn's budget is spent (it resumes by itself on a
// later turn).
bool Client::process_frames()
{
    wire::Frame frame;
    // Draining clients are only waited for; anything they still send is ignored.
    while (state_ != State::Closed && state_ != State::Draining) {
        if (reply_deferred_)
            return false;  // deliver_deferred_reply() resumes
        if (backlogged())
            return true;
        if (awaited_.active()) {
            if (!settle_awaited())
                return false;  // release_durable() resumes
            continue;
        }
        if (shutdown_pending_ && !door_) {
            // notify_shutdown() waited for the awaited request: no later one runs.
            send_shutdown_notice();
            return false;
        }
        if (listing_) {
            if (!held_.empty())
                return false;  // a page may not overtake a held reply; release_durable() resumes
            if (unsent() >= kListingWindow)
                return true;
            if (!budget_.allows_more())
                return false;
            send_page();
            continue;
        }
        if (in_.buffered() == 0)
            return false;
        if (!budget_.allows_more())
            return false;
        switch (in_.next(frame)) {
        case wire::FrameBuffer::Next::NeedMore:
            return false;
        case wire::FrameBuffer::Next::Oversized:
            ++server_.stats().protocol_errors;
            close("protocol error: frame larger than 1 MiB");
            return false;
        case wire::FrameBuffer::Next::Frame:
            budget_.use();
            if (!handle_frame(frame))
                return false;
        }
    }
    return false;
}

bool Client::handle_frame(const wire::Frame& frame)
{
    bool ok = false;
    if (handoff_follows_ && frame.type != wire::Msg::Handoff)
        ok = false;
    else if (!received_fds_.empty() && frame.type != wire::Msg::Handoff && frame.type != wire::Msg::Hello)
        ok = false;  // descriptors only ever come with a Handoff (and the Hello right before one)
    else if (state_ == State::AwaitingHello && frame.type == wire::Msg::Hello)
        ok = on_hello(frame.payload);
    else if (state_ == State::Attached && !door_ && frame.type == wire::Msg::Request)
        ok = on_request(frame.payload);
    else if (state_ == State::Attached && !door_ && frame.type == wire::Msg::Handoff)
        ok = on_handoff(frame.payload);
    if (!ok && state_ != State::Closed) {
        ++server_.stats().protocol_errors;
        close("protocol error: unexpected or malformed frame");
    }
    return ok;
}

bool Client::on_hello(std::string_view payload)
{
    uint32_t version = 0;
    if (!wire::peek_version(payload, version))
        return false;
    server_.loop().cancel_timer(hello_timer_);
    hello_timer_ = 0;
    if (version != wire::kVersion) {
        std::string why = "kvstored speaks protocol " + std::to_string(wire::kVersion) + ", "
            + (role_ == Role::Admin ? "the kvstored CLI" : "kvsvc") + " speaks " + std::to_string(version)
            + "; install matching versions";
        LOG_WARN("%s %llu (pid %d): refused: %s", role_word(), static_cast<unsigned long long>(id_), peer_.pid,
                 why.c_str());
        wire::append(out_, wire::Msg::Refused, wire::Notice{why});
        state_ = State::Draining;
        close_when_flushed_ = "refused";
        return true;
    }
    wire::Hello hello;
    if (!wire::decode(payload, hello))
        return false;
    bool handoff = hello.flags & wire::kHelloHandoff;
    if ((handoff && role_ != Role::Service) || (!handoff && !received_fds_.empty()))
        return false;
    // wire::decode checked that at most one door flag is set, with a handoff.
    protocol_ = hello.flags & wire::kHelloRedis ? Protocol::Redis
        : hello.flags & wire::kHelloMemcache    ? Protocol::Memcache
                                                : Protocol::Line;
    address_ = printable_address(hello.address);
    state_ = State::Attached;
    attached_since_unix_
        = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    server_.on_attached(*this);
    // Debug, like the detach line: see docs/operations.md, Logs.
    if (role_ == Role::Admin)
        LOG_DEBUG("admin %llu attached: kvstored CLI pid %u, uid %u", static_cast<unsigned long long>(id_), hello.pid,
                  peer_.uid);
    else
        LOG_DEBUG("client %llu attached: kvsvc pid %u, uid %u, from %s", static_cast<unsigned long long>(id_),
                  hello.pid, peer_.uid, address_.c_str());
    handoff_follows_ = welcome_due_ = handoff;
    if (!welcome_due_)
        send_welcome();
    return true;
}

void Client::send_welcome()
{
    wire::append(out_, wire::Welcome{wire::kVersion, static_cast<uint32_t>(server_.limits().max_value), id_});
    welcome_due_ = false;
}

bool Client::on_request(std::string_view payload)
{
    wire::Request req;
    if (!wire::decode(payload, req))
        return false;
    bool admin_op = wire::is_admin_op(req.op);
    if (admin_op && role_ != Role::Admin)
        return false;  // a kvsvc asking for admin operations is not a kvsvc
    ++commands_;
    last_active_ = std::chrono::steady_clock::now();
    try {
        if (req.op == wire::Op::Auth || req.op == wire::Op::Connect) {
            if (role_ != Role::Service)
                return false;
            if (req.op == wire::Op::Connect) {
                queue_reply(connect_reply(), 0);
            } else {
                std::string now = start_auth(req.key, req.value, false);
                wipe(payload);  // the password is the check's now (secret.h)
                if (!now.empty())
                    queue_reply(std::move(now), 0);
            }
            return true;
        }
        if (role_ == Role::Service) {
            if (std::string no = refusal(req); !no.empty()) {
                queue_reply(std::move(no), 0);
                return true;
            }
        }
        std::string text;
        auto run = [&] {
            if (admin_op)
                return execute_admin(req, server_, *this, text, listing_);
            // The admin CLI's data requests (its stats, get, set) are not
            // client commands: only kvsvc's are timed (latency.h).
            if (role_ == Role::Admin)
                return execute(req, server_.db(), server_.stats(), server_.limits(), text, listing_);
            return execute_for_client(req, server_.db(), server_.stats(), server_.limits(), text, listing_);
        };
        // sync writes nothing: its ticket is Database::sync()'s, and its
        // reply is made when that is released.
        bool sync = req.op == wire::Op::Sync;
        uint64_t ticket = sync ? run() : run_command(server_.db(), run);
        // A listing's pages follow from process_frames(); a deferred (kick)
        // reply from deliver_deferred_reply().
        if (listing_ || reply_deferred_)
            return true;
        if (ticket == 0 || !server_.db().replicated()) {
            queue_reply(std::move(text), ticket);
        } else {
            // Awaited (awaited_command.h); the payload is a view into in_,
            // which reading may move: a re-run decodes an owned copy.
            awaited_.await(ticket, std::move(text), sync ? AwaitedCommand::Reply::Synced : AwaitedCommand::Reply::Text);
            server_.hold_until_durable(*this);
            rerun_payload_.assign(payload);
        }
    } catch (const std::bad_alloc&) {
        out_of_memory("running a request");
    }
    return true;
}

// Settles the awaited request if its ticket allows (awaited_command.h):
// queues its reply or error, or runs it again. False while it is Pending.
bool Client::settle_awaited()
{
    std::string text;
    switch (awaited_.settle(server_.db(), error_reply, text)) {
    case AwaitedCommand::Outcome::Pending:
        return false;
    case AwaitedCommand::Outcome::Send:
    case AwaitedCommand::Outcome::Failed:
        queue_reply(std::move(text), 0);
        return true;
    case AwaitedCommand::Outcome::Retry: {
        budget_.use();
        std::string payload = std::move(rerun_payload_);
        rerun_payload_.clear();
        uint64_t commands = commands_;
        // it decoded before, so it decodes again; copied again if awaited again
        run_uncounted(server_.stats(), [&] { on_request(payload); });
        commands_ = commands;
        ++server_.stats().command_retries;
        return true;
    }
    }
    return true;
}

// A later turn, after this one's budget ran out (TurnBudget): the requests
// left go on.
void Client::resume()
{
    if (state_ == State::Closed)
        return;
    try {
        flush();
    } catch (const std::bad_alloc&) {
        out_of_memory("resuming its requests");
    }
}

// The next page of the listing in progress, as a Reply chunk (kvsvc relays
// the pages as one reply); after the last page, later requests run again.
void Client::send_page()
{
    budget_.use();
    try {
        std::string page;
        bool more = listing_->next_page(server_.db().store(), page);
        if (more) {
            append_reply_part(out_, page);
        } else {
            wire::append_reply(out_, page);
            listing_.reset();
        }
    } catch (const std::bad_alloc&) {
        out_of_memory("listing");
    }
}

// Allocation failed for this client (std::bad_alloc): drop it, and only it.
void Client::out_of_memory(const char* doing)
{
    LOG_ERR("%s %llu: out of memory while %s; dropping it", role_word(), static_cast<unsigned long long>(id_), doing);
    close("out of memory");
}

void Client::on_out_of_memory()
{
    out_of_memory("handling its input or output");
}

// kvsvc gives us the client's socket (wire.h, socket handoff): right behind
// its Hello, with the claim token, or later with every request answered, so
// that nothing of ours can overtake it.
bool Client::on_handoff(std::string_view payload)
{
    wire::Handoff m;
    bool with_hello = handoff_follows_;
    handoff_follows_ = false;
    if (role_ != Role::Service || fds_truncated_ || received_fds_.size() != (with_hello ? 2u : 1u) || !held_.empty()
        || awaited_.active() || !wire::decode(payload, m))
        return false;
    UniqueFd fd = std::move(received_fds_.front());
    UniqueFd claim = with_hello ? std::move(received_fds_.back()) : UniqueFd();
    received_fds_.clear();
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return false;
    if (with_hello && !wire::take_claim(claim.get())) {
        close("kvsvc stopped waiting for kvstored and kept its client");
        return false;
    }
    auto idle = std::chrono::seconds(m.idle_timeout_seconds);
    switch (protocol_) {
    case Protocol::Line:
        door_ = std::make_unique<LineDoor>(server_, *this, std::move(fd), idle);
        break;
    case Protocol::Redis:
        door_ = std::make_unique<RedisDoor>(server_, *this, std::move(fd), idle);
        break;
    case Protocol::Memcache:
        door_ = std::make_unique<MemcacheDoor>(server_, *this, std::move(fd), idle);
        break;
    }
    starting_door_ = true;
    // Taken with the Hello, a line client's socket still waits for the reply
    // to its connect; a Redis or memcached client was never greeted.
    door_->start(with_hello && protocol_ == Protocol::Line ? connect_reply() : std::string(), m.input);
    starting_door_ = false;
    wipe(payload);  // the door has its own copy of the input, which may hold an auth line
    return true;
}

std::string Client::refusal(const wire::Request& req) const
{
    const auto& table = server_.users();
    if (!table)
        return {};
    if (user_.empty())
        return error_reply("auth-required", "send 'auth <user> <password>' first");
    const users::User* user = table->find(user_);
    if (!user)
        return error_reply("auth-required", "user '" + user_ + "' is no longer in the users file; auth again");
    return permission_problem(req, *user);
}

const users::User* Client::session_user(bool& required) const
{
    const auto& table = server_.users();
    required = table != nullptr;
    return table && !user_.empty() ? table->find(user_) : nullptr;
}

std::string Client::connect_reply() const
{
    const auto& table = server_.users();
    if (table && (user_.empty() || !table->find(user_)))
        return error_reply("auth-required", "send 'auth <user> <password>' first");
    return std::string(kConnectedReply);
}

std::string Client::start_auth(std::string_view user, std::string_view password, bool from_door)
{
    // The reads and parsing that brought the password left copies on the
    // stack: wiped once this turn's events are handled (secret.h).
    server_.wipe_stack_after_turn();
    const auto& table = server_.users();
    if (!table)
        return error_reply("auth-off", "kvstored has no users file: every session may do everything");
    if (auth_.failures >= kMaxAuthFailures)
        return error_reply("auth-failed", "too many failed attempts");
    // An address that failed too often lately gets no check (auth_throttle.h).
    std::string source = auth_source();
    const auto now = AuthThrottle::Clock::now();
    bool throttled = !source.empty() && server_.auth_throttle().blocks(source, now);
    // Longer than any password `kvstored passwd` sets: fails unchecked.
    bool too_long = password.size() > users::kMaxPassword;
    bool familiar = !source.empty() && server_.auth_throttle().familiar(source, now);
    if (!throttled && !too_long && !server_.auth_worker().submit(id_, source, table, user, password, familiar)) {
        LOG_WARN("auth refused for user '%s' from %s: %zu password checks already pending", loggable_user(user).c_str(),
                 address_.c_str(),
                 familiar ? AuthWorker::kMaxPending + AuthWorker::kFamiliarReserve : AuthWorker::kMaxPending);
        return error_reply("auth-failed", "busy: too many password checks pending; try again later");
    }
    auth_.pending = true;
    auth_.from_door = from_door;
    auth_.user = std::string(user);
    if (!from_door)
        reply_deferred_ = true;  // later requests wait (process_frames)
    if (throttled)
        auth_failed("not checked: too many failed passwords from this address", kThrottledReply);
    else if (too_long)
        auth_failed("not checked: a password longer than 1024 bytes", "invalid user name or password");
    else if (!source.empty())
        server_.auth_throttle().started(source, now);
    return {};
}

void Client::on_auth_result(users::Verdict verdict)
{
    if (state_ == State::Closed || !auth_.pending)
        return;
    if (verdict == users::Verdict::Unchecked) {  // not the client's failure: no delay, no try counted
        auth_.user.clear();
        answer_auth(error_reply("auth-failed", "busy: password checks cannot run now; try again later"));
        return;
    }
    if (verdict != users::Verdict::Ok) {
        auth_failed(verdict == users::Verdict::UnknownUser ? "no such user" : "wrong password",
                    "invalid user name or password");
        return;
    }
    user_ = std::move(auth_.user);
    auth_.user.clear();
    LOG_INFO("client %llu authenticated as user '%s' from %s", static_cast<unsigned long long>(id_), user_.c_str(),
             address_.c_str());
    answer_auth("OK authenticated\n");
}

// The host the throttle counts failures of: none for a session without an
// address (kvsvc run by hand or from a pipe, "local"), a local user's, which
// no throttle or ban could tell from the others anyway.
std::string Client::auth_source() const
{
    return address_ == "local" ? std::string() : address_host(address_);
}

// One stable line per failure, for fail2ban (packaging/fail2ban): the address
// is the last word before "(attempt". The answer waits 1, 2, 4... s on a
// timer, so the loop and every other session go on meanwhile.
void Client::auth_failed(const char* why, const char* reply)
{
    ++auth_.failures;
    LOG_WARN("auth failed for user '%s' from %s (attempt %u of %u): %s", loggable_user(auth_.user).c_str(),
             address_host(address_).c_str(), auth_.failures, kMaxAuthFailures, why);
    auth_.user.clear();
    auto delay
        = std::min<std::chrono::seconds>(kFirstAuthDelay * (1u << std::min(auth_.failures - 1, 8u)), kMaxAuthDelay);
    auth_.timer = server_.loop().add_timer(std::chrono::duration_cast<std::chrono::milliseconds>(delay), [this, reply] {
        auth_.timer = 0;
        bool last = auth_.failures >= kMaxAuthFailures;
        answer_auth(error_reply("auth-failed",
                                last ? std::string(reply) + "; too many failed attempts, closing the session" : reply));
        if (last && state_ != State::Closed) {
            LOG_WARN("client %llu from %s: %u failed auth attempts; closing the session",
                     static_cast<unsigned long long>(id_), address_.c_str(), auth_.failures);
            notify_shutdown("too many failed auth attempts");
        }
    });
}

// The auth reply goes where the request came from. A door handed back while
// its check ran (the client hung up, shutdown) takes no reply.
void Client::answer_auth(const std::string& text)
{
    auth_.pending = false;
    if (!auth_.from_door) {
        deliver_deferred_reply(text);
    } else if (door_) {
        door_->answer(text);
    }
}

const char* Client::protocol() const
{
    switch (protocol_) {
    case Protocol::Redis:
        return "redis";
    case Protocol::Memcache:
        return "memcache";
    case Protocol::Line:
        break;
    }
    return "line";
}

void Client::on_hand_back(const wire::HandBack& hb)
{
    if (welcome_due_)
        send_welcome();
    wire::append(out_, hb);
    // After these kvsvc only finishes: hanging up first spares us a wakeup
    // for its exit.
    bool cut = hb.reason == wire::HandBackReason::OutputCut;  // kvsvc resets the client: no notice
    bool session_over = (hb.reason == wire::HandBackReason::EndOfInput && hb.input.empty())
        || hb.reason == wire::HandBackReason::IdleTimeout || hb.reason == wire::HandBackReason::ClientGone;
    if (cut)
        close_when_flushed_ = "output cut";
    else if (session_over && !shutdown_pending_)
        close_when_flushed_ = "session ended";
    server_.loop().defer([door = std::shared_ptr<Door>(std::move(door_))] {});
    if (shutdown_pending_ && !cut) {
        wire::append(out_, wire::Msg::Shutdown, wire::Notice{shutdown_message_});
        state_ = State::Draining;
    }
    if (!starting_door_)
        flush();
}

void Client::queue_reply(std::string text, uint64_t ticket)
{
    held_.add(text, ticket, [this](std::string_view t) { wire::append_reply(out_, t); });
    if (!held_.empty())
        server_.hold_until_durable(*this);
}

bool Client::holds_until_durable() const
{
    return !held_.empty() || awaited_.active() || (door_ && door_->holds_until_durable());
}

void Client::release_durable()
{
    if (door_)
        door_->release_durable();
    if (state_ == State::Closed || (held_.empty() && !awaited_.active()))
        return;
    held_.release([this](std::string_view t) { wire::append_reply(out_, t); });
    flush();
}

void Client::notify_shutdown(std::string_view message)
{
    if (state_ == State::Closed)
        return;
    if (door_) {
        // Hand the socket back first; on_hand_back then sends the notice.
        shutdown_pending_ = true;
        shutdown_message_ = std::string(message);
        door_->shut_down();
        return;
    }
    // The server flushed the database first, so normally nothing is held now.
    release_durable();
    if (state_ == State::Closed)
        return;
    shutdown_message_ = std::string(message);
    if (awaited_.active()) {
        // Its outcome is waited for, as a door does (Door::shut_down);
        // process_frames() then says goodbye.
        shutdown_pending_ = true;
        return;
    }
    send_shutdown_notice();
    flush();
}

void Client::send_shutdown_notice()
{
    shutdown_pending_ = false;
    held_.abandon([this](std::string_view t) { wire::append_reply(out_, t); });
    wire::append(out_, wire::Msg::Shutdown, wire::Notice{shutdown_message_});
    state_ = State::Draining;
}

void Client::cut(const std::string& why)
{
    if (state_ == State::Closed)
        return;
    if (door_) {
        door_->cut(why);  // on_hand_back() then closes once kvsvc has the HandBack
        return;
    }
    LOG_WARN("%s %llu: %s; disconnected", role_word(), static_cast<unsigned long long>(id_), why.c_str());
    close(why.c_str());
}

void Client::deliver_deferred_reply(const std::string& text)
{
    if (state_ == State::Closed || !reply_deferred_)
        return;
    reply_deferred_ = false;
    queue_reply(text, 0);
    flush();
}

void Client::flush()
{
    write_out();
    // Requests (and listing pages) held back by an output bound run once the
    // peer has caught up, and go on while writing frees room: stopping with
    // requests left and nothing unsent would leave no event to resume them.
    // A spent turn budget resumes by its own timer.
    for (bool more = in_.buffered() > 0 || listing_ || awaited_.active(); more && state_ == State::Attached;) {
        more = process_frames();
        size_t before = unsent();
        write_out();
        more = more && unsent() < before;
    }
    if (state_ == State::Closed)
        return;
    if (out_.empty() && close_when_flushed_) {
        close(close_when_flushed_);
        return;
    }
    if (out_.empty() && held_.empty() && !awaited_.active() && peer_eof_) {
        close(hung_up_reason());
        return;
    }
    update_interest();
}

void Client::write_out()
{
    if (state_ != State::Closed && send_buffered(fd_.get(), out_, out_pos_) < 0)
        close(std::strerror(errno));
}

// Replies held for durability count too: they are output waiting to leave.
bool Client::backlogged() const
{
    return out_.size() - out_pos_ + held_.bytes() > kMaxPendingOutput || held_.blocks_input();
}

void Client::update_interest()
{
    if (state_ == State::Closed)
        return;
    uint32_t want = 0;
    if (!peer_eof_ && !backlogged() && in_.buffered() <= kMaxBufferedInput)
        want |= EPOLLIN;
    if (out_pos_ < out_.size())
        want |= EPOLLOUT;
    if (want != interest_) {
        server_.loop().modify(fd_.get(), want, this);
        interest_ = want;
    }
}

const char* Client::role_word() const
{
    return role_ == Role::Admin ? "admin" : "client";
}

// Why a peer that closed its end is gone, for the detach line: which program
// hung up (an admin session is the kvstored CLI, not a kvsvc), and whether it
// was told to go by a kick or by the shutdown notice. The kick is still
// pending here: Server::remove() answers it after this.
const char* Client::hung_up_reason() const
{
    bool admin = role_ == Role::Admin;
    if (state_ == State::AwaitingHello)  // not known to be either yet
        return "hung up before its hello";
    if (server_.kick_pending(id_))
        return admin ? "the kvstored CLI hung up after the kick" : "kvsvc hung up after the kick";
    if (state_ == State::Draining)
        return admin ? "the kvstored CLI hung up after the shutdown notice" : "kvsvc hung up after the shutdown notice";
    return admin ? "the kvstored CLI hung up" : "kvsvc hung up";
}

void Client::close(const char* why)
{
    if (state_ == State::Closed)
        return;
    bool was_attached = state_ == State::Attached || (state_ == State::Draining && !address_.empty());
    state_ = State::Closed;
    if (auth_.pending && auth_.timer == 0) {  // its check is queued or running, not its failure's delay
        size_t dropped = server_.auth_worker().cancel(id_);
        for (std::string source = auth_source(); dropped > 0 && !source.empty(); --dropped)
            server_.auth_throttle().dropped(source);
    }
    if (door_)
        door_->drop();  // freed with us, after the current batch
    server_.loop().unwatch(fd_.get());
    fd_.reset();
    // A session's ordinary end (its peer hung up, or it ended as asked) is a
    // debug line (docs/operations.md, "Logs"); any other end of an attached
    // session (a protocol error, a write error, no memory) stays at info.
    bool ordinary = std::strstr(why, "hung up") != nullptr || std::strcmp(why, "session ended") == 0
        || std::strcmp(why, "refused") == 0;
    if (was_attached && ordinary)
        LOG_DEBUG("%s %llu detached (%s)", role_word(), static_cast<unsigned long long>(id_), why);
    else if (was_attached)
        LOG_INFO("%s %llu detached (%s)", role_word(), static_cast<unsigned long long>(id_), why);
    else
        LOG_WARN("connection %llu (pid %d, uid %u) dropped: %s", static_cast<unsigned long long>(id_), peer_.pid,
                 peer_.uid, why);
    server_.remove(*this, was_attached);
}

}  // namespace kv
