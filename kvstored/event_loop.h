// event_loop.h: a tiny epoll loop with one-shot timers, in the spirit of Redis's ae.
//
// Watchers are plain objects registered by fd. A watcher may be destroyed only
// outside its own callback batch: use defer() to free it, so that an event
// already returned by epoll_wait for the same fd never reaches freed memory.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "fd.h"

namespace kv {

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;

    struct Watcher {
        virtual ~Watcher() = default;
        // `events` is the EPOLL* mask epoll reported.
        virtual void on_ready(uint32_t events) = 0;
        // on_ready() ran out of memory (std::bad_alloc): what it allocated
        // has been freed by unwinding. A client drops its connection; the
        // default logs and lets epoll report the event again. Never ends the
        // loop: one peer's failed allocation must not end every session.
        virtual void on_out_of_memory();
    };

    EventLoop();  // throws std::runtime_error when epoll cannot be created

    // An fd watched for no events at all is parked: taken out of epoll, which
    // would otherwise go on reporting EPOLLHUP and EPOLLERR (they cannot be
    // masked) and make the loop spin on a peer that hung up while its
    // watcher waits for something else (a durable write, a timer). modify()
    // with a non-zero mask puts it back.
    void watch(int fd, uint32_t events, Watcher* watcher);
    void modify(int fd, uint32_t events, Watcher* watcher);
    void unwatch(int fd);

    // Runs `fn` once, `delay` from now. Returns an id for cancel_timer().
    uint64_t add_timer(std::chrono::milliseconds delay, std::function<void()> fn);
    void cancel_timer(uint64_t id);

    // Runs `fn` after the current batch of events has been dispatched.
    void defer(std::function<void()> fn);

    // Dispatches events until stop() is called.
    void run();
    void stop() { running_ = false; }

    // Counts the turns of run(): one epoll_wait, the events it returned, the
    // timers then due and the deferred work. TurnBudget starts afresh each turn.
    uint64_t turn() const { return turn_; }

private:
    void control(int op, int fd, uint32_t events, Watcher* watcher);
    int next_timeout_ms() const;
    void run_due_timers();

    UniqueFd epfd_;
    std::set<int> parked_;  // watched for nothing: not in epoll (see watch())
    bool running_ = false;
    uint64_t turn_ = 0;
    uint64_t next_timer_id_ = 1;
    // Keyed by (deadline, id) so that timers with equal deadlines stay distinct.
    std::map<std::pair<Clock::time_point, uint64_t>, std::function<void()>> timers_;
    std::map<uint64_t, Clock::time_point> timer_deadlines_;
    std::vector<std::function<void()>> deferred_;
};

// The work one client may do in one turn of the loop before the others are
// served: at most kUnitsPerTurn units (a command run, a listing page made) or
// kTimePerTurn, whichever ends first, and always at least one unit. A client
// that runs out stops with its input left buffered; the budget then calls
// `resume` on a later turn (a zero-delay timer, armed once however often it
// is asked), so that no socket event is needed to go on.
class TurnBudget {
public:
    static constexpr unsigned kUnitsPerTurn = 64;
    static constexpr std::chrono::microseconds kTimePerTurn{1000};

    TurnBudget(EventLoop& loop, std::function<void()> resume) : loop_(loop), resume_(std::move(resume)) { }
    ~TurnBudget();
    TurnBudget(const TurnBudget&) = delete;
    TurnBudget& operator=(const TurnBudget&) = delete;

    // True while this turn's budget lasts; false when it is used up, with
    // `resume` due on a later turn.
    bool allows_more();
    // Counts one unit of work done.
    void use() { ++used_; }

private:
    bool spent();

    EventLoop& loop_;
    std::function<void()> resume_;
    uint64_t resume_timer_ = 0;
    uint64_t turn_ = UINT64_MAX;
    unsigned used_ = 0;
    EventLoop::Clock::time_point started_;
};

}  // namespace kv
