// auth_worker.h: password checks off the event loop (issue 18).
//
// users::Table::verify costs tens of milliseconds of CPU on purpose
// (yescrypt), so it never runs on the loop thread. Sessions submit a check
// here; the loop keeps the queue, and hands one check at a time to a thread
// through a pipe; the thread writes the result back through another pipe,
// which the loop watches. The loop then hands it to the session by client
// id: a session that went away while its check was pending is simply not
// found, and its result is dropped. Every decision is the loop's, and the
// threads share no lock with it: a thread the kernel leaves waiting can
// never hold up the loop.
//
// Two threads:
// - the checker runs the checks in order, those from familiar addresses
//   (auth_throttle.h) ahead of the others, at SCHED_IDLE: on CPU time
//   nothing else on the machine wants, the kernel taking the core back the
//   moment the loop (or anything else) wakes. A storm of wrong passwords
//   then costs the sessions already in little more than the cache its
//   hashing shares (bench/README.md, "Auth storm"); at nice +10 the checks
//   kept a core a while after the loop woke, and took most of a core.
// - the rescuer: with no idle CPU the checker may not run for a long time.
//   When it has taken or finished no check for kStarved, the loop hands the
//   rescuer, at kCheckNice below the loop, the check the checker is stuck on
//   (the first result counts), then, no sooner than kStarved later, the next
//   one queued. Logins go on at one a kStarved or better, and a storm gets
//   no more of a busy machine than that.
//
// Bounded: at most kMaxPending checks wait or run; submit() refuses more at
// once (the caller answers "busy"), so an auth storm costs a fixed amount of
// memory, never the loop's time. Familiar checks have kFamiliarReserve places
// more. The threads start at construction; each holds a check's hashing
// memory only while it runs (yescrypt at the default cost: 16 MiB).
//
// A password is held only until its check has run, and its bytes are wiped
// then (explicit_bzero): it is never logged.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "event_loop.h"
#include "fd.h"
#include "secret.h"
#include "users.h"

namespace kv {

class AuthWorker : public EventLoop::Watcher {
public:
    static constexpr size_t kMaxPending = 64;
    // Places beyond kMaxPending that only checks from familiar addresses
    // (auth_throttle.h) may take; those also go ahead of the others.
    static constexpr size_t kFamiliarReserve = 16;
    // How long the checker may take or finish nothing before the rescuer
    // steps in (see above).
    static constexpr std::chrono::seconds kStarved{1};
    // How long kvstored, exiting, waits for a check still running
    // (stop_threads); past it the check is left to end with the process.
    static constexpr std::chrono::seconds kStopWait{2};
    // The rescuer's nice value above kvstored's: a check gets about a tenth
    // of a busy core's time.
    static constexpr int kCheckNice = 10;
    // The threads' names, for top -H and ps -L.
    static constexpr const char* kCheckerThread = "kvstored-auth";
    static constexpr const char* kRescuerThread = "kvstored-auth-r";

    // `deliver` runs on the loop thread for each finished check.
    // `source`: as given to submit().
    using Deliver = std::function<void(uint64_t client_id, const std::string& source, users::Verdict verdict)>;

    // Starts both threads and watches their results. Throws
    // std::runtime_error naming the call that failed and the errno text.
    AuthWorker(EventLoop& loop, Deliver deliver);
    // Stops the threads: a check running gets kStopWait to finish, then is
    // left to end with the process; results not yet delivered are dropped.
    ~AuthWorker() override;
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

    // A result came back (the results pipe is readable).
    void on_ready(uint32_t events) override;

private:
    using Clock = std::chrono::steady_clock;
    // Never moved, and wiped when the last holder lets go: the queue, or
    // the thread(s) running it (a rescued check runs on both).
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
    // One thread and the check in its hands (loop-side).
    struct Runner {
        UniqueFd jobs;  // write end: one Job* per check handed over
        std::shared_ptr<Job> job;  // in its hands, kept alive for it
        std::thread thread;
    };
    // What a thread writes back: one write, well under PIPE_BUF.
    struct Done {
        Job* job;
        users::Verdict verdict;
        bool rescuer;
    };

    static void thread_main(int jobs, int results, bool rescuer);
    void start(Runner& runner, bool rescuer);
    void stop_threads();
    void hand(Runner& runner, std::shared_ptr<Job> job);
    std::shared_ptr<Job> pop_front();
    void finished(const Done& done);
    // Gives the checker its next check, and arms the rescue timer.
    void dispatch();
    void rescue();
    // When the rescuer may step in next: kStarved after the checker's last
    // progress and after the last rescue.
    Clock::time_point rescue_due() const { return std::max(checker_active_, last_rescue_) + kStarved; }

    EventLoop& loop_;
    Deliver deliver_;
    UniqueFd results_;  // read end, watched by the loop
    UniqueFd results_write_;  // the threads' end
    Runner checker_;
    Runner rescuer_;
    std::deque<std::shared_ptr<Job>> queue_;  // familiar ones first
    size_t familiar_queued_ = 0;  // the familiar jobs at the front of queue_
    size_t pending_ = 0;  // checks queued or in a thread's hands, each once
    Clock::time_point checker_active_;  // when the checker was last handed a check or gave one back
    Clock::time_point last_rescue_;
    uint64_t rescue_timer_ = 0;  // 0: none armed
};

}  // namespace kv
