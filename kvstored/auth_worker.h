// auth_worker.h: password checks off the event loop (issue 18).
//
// A password check costs tens of milliseconds of CPU and 16 MiB on purpose
// (yescrypt), so it never runs on the loop thread, nor in kvstored's
// process: two helper processes run them (password_checker.h). Sessions
// submit a check here; the loop keeps the queue, sends one check at a time
// to a helper through a pipe, and watches the pipe its one-byte answer
// comes back on. It then hands the result to the session by client id: a
// session that went away while its check was pending is simply not found,
// and its result is dropped. Every decision is the loop's, and the
// helpers share no lock and no memory with it: a helper the kernel leaves
// waiting can never hold up the loop.
//
// Two helpers:
// - the checker (kCheckerName) runs the checks in order, those from
//   familiar addresses (auth_throttle.h) ahead of the others, at
//   SCHED_IDLE: on CPU time nothing else on the machine wants, the kernel
//   taking the core back the moment the loop (or anything else) wakes. At
//   nice +10 the checks kept a core a while after the loop woke, and took
//   most of a core (bench/README.md, "Auth storm").
// - the rescuer (kRescuerName): with no idle CPU the checker may not run
//   for a long time. When it has taken or finished no check for kStarved,
//   the loop hands the rescuer, at kCheckNice below the loop, the check the
//   checker is stuck on (the first answer counts), then, no sooner than
//   kStarved later, the next one queued. Logins go on at one a kStarved or
//   better, and a storm gets no more of a busy machine than that.
// A helper that ends (killed, out of memory) is started again and given
// its check again; one that cannot be started answers nothing, and its
// checks are answered Verdict::Unchecked ("busy") until one can.
//
// Bounded: at most kMaxPending checks wait or run; submit() refuses more at
// once (the caller answers "busy"), so an auth storm costs a fixed amount of
// memory, never the loop's time. Familiar checks have kFamiliarReserve places
// more. Each helper holds a check's hashing memory only while it runs.
// Exiting, kvstored kills both helpers: a check running is not waited for.
//
// A password is held only until its check has run, and its bytes are wiped
// then (explicit_bzero), here and in the helper: it is never logged.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "event_loop.h"
#include "password_checker.h"
#include "secret.h"
#include "users.h"

namespace kv {

class AuthWorker {
public:
    static constexpr size_t kMaxPending = 64;
    // Places beyond kMaxPending that only checks from familiar addresses
    // (auth_throttle.h) may take; those also go ahead of the others.
    static constexpr size_t kFamiliarReserve = 16;
    // How long the checker may take or finish nothing before the rescuer
    // steps in (see above).
    static constexpr std::chrono::seconds kStarved{1};
    // The rescuer's nice value above kvstored's: a check gets about a tenth
    // of a busy core's time.
    static constexpr int kCheckNice = 10;
    // The helpers' names, for ps and top.
    static constexpr const char* kCheckerName = "kvstored-auth";
    static constexpr const char* kRescuerName = "kvstored-auth-r";

    // `deliver` runs on the loop thread for each finished check, never
    // inside submit().
    // `source`: as given to submit().
    using Deliver = std::function<void(uint64_t client_id, const std::string& source, users::Verdict verdict)>;

    // Starts both helpers and watches their answers. Throws
    // std::runtime_error naming the call that failed and the errno text.
    AuthWorker(EventLoop& loop, Deliver deliver);
    // Kills the helpers: results not yet delivered are dropped.
    ~AuthWorker();
    AuthWorker(const AuthWorker&) = delete;
    AuthWorker& operator=(const AuthWorker&) = delete;

    // Queues a check of `password` for `user` against `table` (the table in
    // force now: the worker holds it alive). False when kMaxPending checks
    // are already pending (kMaxPending + kFamiliarReserve for a `familiar`
    // one): nothing was queued. A familiar check is queued after the other
    // familiar ones but before every other, so a storm from addresses never
    // seen to log in delays it by at most the familiar checks before it.
    // `source`: the client's address, handed back with the result.
    bool submit(uint64_t client_id, std::string_view source, std::shared_ptr<const users::Table> table,
                std::string_view user, std::string_view password, bool familiar = false);
    // Drops the checks `client_id` still has queued (a session that went
    // away): a storm's sessions that hang up cost no more checks. A check
    // already running finishes, and its result finds no session. Returns
    // how many were dropped.
    size_t cancel(uint64_t client_id);
    // Checks queued or running, for the stats and the tests.
    size_t pending() const { return pending_; }

private:
    using Clock = std::chrono::steady_clock;
    // Wiped when the last holder lets go: the queue, or the helper(s)
    // running it (a rescued check runs on both).
    struct Job {
        uint64_t client_id;
        std::string source;
        std::shared_ptr<const users::Table> table;
        std::string user;
        std::string password;
        bool familiar;
        bool rescued = false;  // handed to the rescuer too
        bool done = false;  // its result was delivered
        ~Job() { wipe(password); }
    };
    // One helper and the check in its hands.
    struct Runner : EventLoop::Watcher {
        Runner(AuthWorker& worker, const char* name) : worker(worker), name(name) { }
        void on_ready(uint32_t) override { worker.on_answer(*this); }
        AuthWorker& worker;
        const char* name;
        std::unique_ptr<password_checker::Process> helper;  // null: none could be started
        std::shared_ptr<Job> job;  // in its hands
        unsigned ends_in_a_row = 0;  // helpers that ended since one last answered
        Clock::time_point next_start;  // while none runs: when ready() may try again
    };
    // Helpers that end one after the other with no answer between: past
    // this many, one is started again only after kStarved.
    static constexpr unsigned kMaxEndsInARow = 3;

    // Starts runner's helper at its priority and watches it; false (logged)
    // when it cannot be started.
    bool start(Runner& runner);
    void unwatch_helpers();
    // Whether runner has a helper, starting one if it has none and
    // kStarved has passed since the last try.
    bool ready(Runner& runner);
    void hand(Runner& runner, std::shared_ptr<Job> job);
    void on_answer(Runner& runner);
    // runner's helper ended: starts another, which gets the check again.
    void restart(Runner& runner, const std::string& how);
    std::shared_ptr<Job> pop_front();
    void finished(Runner& runner, users::Verdict verdict);
    // Gives the checker its next check, and arms the rescue timer.
    void dispatch();
    void rescue();
    // When the rescuer may step in next: kStarved after the checker's last
    // progress and after the last rescue.
    Clock::time_point rescue_due() const { return std::max(checker_active_, last_rescue_) + kStarved; }

    EventLoop& loop_;
    Deliver deliver_;
    Runner checker_{*this, kCheckerName};
    Runner rescuer_{*this, kRescuerName};
    std::deque<std::shared_ptr<Job>> queue_;  // familiar ones first
    size_t familiar_queued_ = 0;  // the familiar jobs at the front of queue_
    size_t pending_ = 0;  // checks queued or in a helper's hands, each once
    Clock::time_point checker_active_;  // when the checker was last handed a check or gave one back
    Clock::time_point last_rescue_;
    uint64_t rescue_timer_ = 0;  // 0: none armed
    bool dispatch_deferred_ = false;
};

}  // namespace kv
