// door.cc: see door.h.
#include "door.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "client.h"
#include "log.h"
#include "send_buffer.h"
#include "server.h"

namespace kv {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Room in a HandBack frame for its fixed fields.
constexpr size_t kHandBackOverhead = 64;

}  // namespace

Door::Door(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout,
           HeldReplies::ErrorFormat format, HeldReplies::ErrorFormat failure)
    : budget_(server.loop(), [this] { resume(); }),
      server_(server),
      owner_(owner),
      fd_(std::move(fd)),
      idle_timeout_(idle_timeout),
      last_activity_(SteadyClock::now()),
      last_write_(SteadyClock::now()),
      held_(server.db(), format),
      format_(format),
      failure_(failure)
{
}

Door::~Door()
{
    drop();
}

void Door::start(std::string_view output, std::string_view input)
{
    out_.assign(output);
    take_input(input.data(), input.size());
    server_.loop().watch(fd_.get(), 0, this);
    watched_ = true;
    arm_deadline_timer();
    step();
}

void Door::stop_watching()
{
    if (watched_)
        server_.loop().unwatch(fd_.get());
    watched_ = false;
}

void Door::drop()
{
    if (done_)
        return;
    done_ = true;
    stop_watching();
    if (deadline_timer_)
        server_.loop().cancel_timer(deadline_timer_);
    deadline_timer_ = 0;
    fd_.reset();
}

void Door::cut(const std::string& why)
{
    if (done_)
        return;
    LOG_WARN("client %llu: %s; connection cut (%zu bytes of output unsent)",
             static_cast<unsigned long long>(owner_.id()), why.c_str(), out_.size() - out_pos_);
    drop();
    // May schedule our deletion; touch nothing after it.
    owner_.on_hand_back(wire::HandBack{wire::HandBackReason::OutputCut, {}, {}});
}

void Door::on_ready(uint32_t events)
{
    if (done_)
        return;  // an event from the batch in which we handed back
    if (events & EPOLLERR) {
        request_hand_back(wire::HandBackReason::ClientGone, {});
        step();
        return;
    }
    if (events & EPOLLOUT)
        write_out();
    if (events & (EPOLLIN | EPOLLHUP))
        read_input();
    step();
}

// Process what can be processed, write what can be written, hand back when
// that is due, and watch for what we wait for next.
void Door::step()
{
    // Go on while writing frees room: stopping with lines left and nothing
    // unsent would leave no event to resume them. A spent turn budget
    // resumes by its own timer.
    for (bool more = true; more && !done_;) {
        more = process();
        if (done_)
            break;
        size_t before = unsent();
        write_out();
        more = more && unsent() < before;
    }
    if (!done_ && hand_back_)
        try_hand_back();
    if (!done_)
        update_interest();
}

void Door::read_input()
{
    size_t room = input_room();
    if (hand_back_ || input_eof_ || backlogged() || room == 0)
        return;
    char buf[64 * 1024];
    size_t want = std::min(sizeof buf, room);
    ssize_t n = ::recv(fd_.get(), buf, want, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        n = 0;  // reset by the client: like end of input, as kvsvc treats it
    }
    if (n == 0)
        input_eof_ = true;
    else
        take_input(buf, static_cast<size_t>(n));
    last_activity_ = SteadyClock::now();
    owner_.note_active(last_activity_);
}

// Runs buffered requests until the input runs out, an output bound is
// reached (returns true: writing may let it go on), or this turn's budget is
// spent (it resumes by itself on a later turn).
bool Door::process()
{
    while (!done_) {
        // An awaited command settles even once a hand-back is due (an idle
        // timeout, a kick): the hand-back waits for it (try_hand_back()).
        if (awaited_.active()) {
            if (backlogged())
                return true;
            if (!settle_awaited())
                return false;  // release_durable() resumes
            continue;
        }
        if (hand_back_)
            return false;
        if (backlogged())
            return true;
        switch (run_step()) {
        case Step::Ran:
            break;
        case Step::Blocked:
            return true;
        case Step::Idle:
            return false;
        }
    }
    return false;
}

// Settles the awaited command if its ticket allows (awaited_command.h):
// sends its reply or error, or runs it again. False while it is Pending.
bool Door::settle_awaited()
{
    std::string text;
    switch (awaited_.settle(server_.db(), failure_, text)) {
    case AwaitedCommand::Outcome::Pending:
        return false;
    case AwaitedCommand::Outcome::Send:
        queue(text, 0);
        return true;
    case AwaitedCommand::Outcome::Failed:
        queue(text, 0);
        drop_command();
        return true;
    case AwaitedCommand::Outcome::Retry: {
        budget_.use();
        uint64_t commands = owner_.commands();
        try {
            run_uncounted(server_.stats(), [this] { rerun(); });
            owner_.set_commands(commands);
        } catch (const std::bad_alloc&) {
            out_of_memory("running a command again");
        }
        ++server_.stats().command_retries;
        return true;
    }
    }
    return true;
}

bool Door::finish(std::string_view text, uint64_t ticket, AwaitedCommand::Reply kind, std::vector<size_t> versions_at)
{
    if (ticket == 0 || !server_.db().replicated()) {
        // Places for a version come only from a replicated write, which
        // always has a ticket: none are left open here.
        if (!versions_at.empty()) {
            std::string filled(text);
            AwaitedCommand::insert_at(filled, versions_at, "0");
            queue(filled, ticket);
            return false;
        }
        queue(text, ticket);
        return false;
    }
    awaited_.await(ticket, std::string(text), kind, std::move(versions_at));
    server_.hold_until_durable(owner_);
    return true;
}

// A later turn, after this one's budget ran out (TurnBudget): the lines left
// go on.
void Door::resume()
{
    if (done_)
        return;
    try {
        step();
    } catch (const std::bad_alloc&) {
        out_of_memory("resuming its commands");
    }
}

// Allocation failed for this client (std::bad_alloc): drop it, and only it
// (its kvsvc too: the session ends as if kvstored went away).
void Door::out_of_memory(const char* doing)
{
    LOG_ERR("client %llu: out of memory while %s; dropping it", static_cast<unsigned long long>(owner_.id()), doing);
    owner_.close("out of memory");
}

void Door::on_out_of_memory()
{
    if (!done_)
        out_of_memory("handling its socket");
}

// As Client::queue_reply: once one reply is held for durability, every later
// one queues behind it.
void Door::queue(std::string_view text, uint64_t ticket)
{
    held_.add(text, ticket, [this](std::string_view t) { out_.append(t); });
    if (!held_.empty())
        server_.hold_until_durable(owner_);
}

void Door::answer(std::string_view text)
{
    if (done_)
        return;
    if (!text.empty())
        queue(text, 0);
    resume();
}

void Door::release_durable()
{
    if (done_ || !holds_until_durable())
        return;
    held_.release([this](std::string_view t) { out_.append(t); });
    step();
}

void Door::shut_down()
{
    if (done_)
        return;
    release_durable();
    if (done_)
        return;
    // A replicated command in flight is not abandoned: etcd may commit it a
    // moment later, and "not saved" would then be false. The hand-back waits
    // for its outcome (try_hand_back), which etcd's timeout bounds; the kick
    // and shutdown deadlines cut a client that still waits.
    held_.abandon([this](std::string_view t) { out_.append(t); });
    if (hand_back_ != wire::HandBackReason::ClientGone) {
        hand_back_ = wire::HandBackReason::Shutdown;
        back_input_.clear();  // kvsvc ends the session; later input is not answered
    }
    step();
}

void Door::write_out()
{
    if (done_)
        return;
    long sent = send_buffered(fd_.get(), out_, out_pos_);
    if (sent < 0) {
        request_hand_back(wire::HandBackReason::ClientGone, {});
        return;
    }
    // The write-stall clock runs from the last byte the client took, or from
    // when output became pending after none was.
    bool was_pending = output_pending_;
    if (sent > 0 || !was_pending)
        last_write_ = SteadyClock::now();
    if (sent > 0)
        last_activity_ = last_write_;
    output_pending_ = out_pos_ < out_.size();
    if (output_pending_ && !was_pending)
        arm_deadline_timer();  // the write-stall deadline now applies
}

bool Door::backlogged() const
{
    return out_.size() - out_pos_ + held_.bytes() > kMaxClientOutput || held_.blocks_input();
}

void Door::request_hand_back(wire::HandBackReason reason, std::string input)
{
    if (reason == wire::HandBackReason::ClientGone) {
        // Nobody is left to read what we still have.
        hand_back_ = reason;
        back_input_.clear();
        out_.clear();
        out_pos_ = 0;
        held_.clear();
        awaited_.clear();
        return;
    }
    if (hand_back_)
        return;
    hand_back_ = reason;
    back_input_ = std::move(input);
}

// Hands back once no reply waits for durability and the unwritten output fits
// in one frame beside the returned input; until then writing goes on.
void Door::try_hand_back()
{
    if (holds_until_durable())
        return;
    size_t unsent = out_.size() - out_pos_;
    if (unsent + back_input_.size() + kHandBackOverhead > wire::kMaxPayload) {
        if (back_input_.size() + kHandBackOverhead <= wire::kMaxPayload)
            return;  // wait for the client to read
        // read_input() and --max-value's bound make this impossible.
        LOG_ERR("client %llu: %zu bytes of input do not fit in a hand-back; dropped",
                static_cast<unsigned long long>(owner_.id()), back_input_.size());
        back_input_.clear();
    }
    wire::HandBackReason reason = *hand_back_;
    std::string output = out_.substr(out_pos_);
    std::string input = std::move(back_input_);
    drop();
    // May schedule our deletion; touch nothing after it.
    owner_.on_hand_back(wire::HandBack{reason, output, input});
}

void Door::update_interest()
{
    if (done_ || !watched_)
        return;
    uint32_t want = 0;
    if (!hand_back_ && !input_eof_ && !backlogged() && input_room() > 0)
        want |= EPOLLIN;
    if (out_pos_ < out_.size())
        want |= EPOLLOUT;
    // With nothing wanted the loop parks the fd (event_loop.h), so a peer that
    // hung up cannot make it spin; durable releases and timers drive step().
    if (want != interest_) {
        server_.loop().modify(fd_.get(), want, this);
        interest_ = want;
    }
}

// (Re)arms the one timer for the earlier of the idle deadline (until a
// hand-back is due) and, while output is pending, the write-stall deadline;
// none when neither applies. write_out() re-arms it when output becomes
// pending.
void Door::arm_deadline_timer()
{
    if (deadline_timer_)
        server_.loop().cancel_timer(deadline_timer_);
    deadline_timer_ = 0;
    bool idle_applies = idle_timeout_.count() != 0 && !hand_back_;
    if (!idle_applies && !output_pending_)
        return;
    auto now = SteadyClock::now();
    auto when = output_pending_ ? last_write_ + kWriteStallTimeout : last_activity_ + idle_timeout_;
    if (idle_applies)
        when = std::min(when, last_activity_ + idle_timeout_);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(when - now);
    if (left.count() < 0)
        left = std::chrono::milliseconds(0);
    deadline_timer_ = server_.loop().add_timer(left, [this] {
        deadline_timer_ = 0;
        on_deadline_timer();
    });
}

void Door::on_deadline_timer()
{
    if (done_)
        return;
    auto now = SteadyClock::now();
    // kWriteStallTimeout (10 s): a client that takes none of its output for
    // that long is cut, handed off or not, whatever else is due (an idle
    // hand-back, a kick, shutdown) and whatever the size of its output.
    if (output_pending_ && now - last_write_ >= kWriteStallTimeout) {
        cut("took none of its output for " + std::to_string(kWriteStallTimeout.count()) + " s");
        return;
    }
    if (idle_timeout_.count() != 0 && !hand_back_ && now - last_activity_ >= idle_timeout_) {
        request_hand_back(wire::HandBackReason::IdleTimeout, rest_of_input());
        step();
        if (done_)
            return;
    }
    arm_deadline_timer();
}

}  // namespace kv
