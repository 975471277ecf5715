// auth_worker.h: password checks off the event loop (issue 18).
//
// users::Table::verify costs tens of milliseconds of CPU on purpose
// (yescrypt), so it never runs on the loop thread: sessions submit a check
// here, one worker thread runs the checks in order, and each result comes
// back to the loop through an eventfd the loop watches, as the etcd
// backend's notifications do (Server's durable_watcher_). The loop then
// hands it to the session by client id: a session that went away while its
// check was pending is simply not found, and its result is dropped.
//
// Bounded: at most kMaxPending checks wait or run; submit() refuses more at
// once (the caller answers "busy"), so an auth storm costs a fixed amount of
// memory and one core at most, never the loop's time. The thread runs at a
// lower priority than the loop (kCheckNice), so on a machine whose cores
// are all busy a storm's checks wait rather than the sessions' commands.
//
// A password is held only until its check has run, and its bytes are wiped
// then (explicit_bzero): it is never logged.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "event_loop.h"
#include "fd.h"
#include "users.h"

namespace kv {

class AuthWorker : public EventLoop::Watcher {
public:
    static constexpr size_t kMaxPending = 64;
    // Places beyond kMaxPending that only checks from familiar addresses
    // (auth_throttle.h) may take; those also go ahead of the others.
    static constexpr size_t kFamiliarReserve = 16;
    // The worker thread's nice value above kvstored's: a check gets about a
    // tenth of a busy core's time (bench/README.md, "Auth storm").
    static constexpr int kCheckNice = 10;

    // `deliver` runs on the loop thread for each finished check.
    // `source`: as given to submit().
    using Deliver = std::function<void(uint64_t client_id, const std::string& source, users::Verdict verdict)>;

    // Starts the thread and watches the eventfd. Throws std::runtime_error
    // naming eventfd and the errno text.
    AuthWorker(EventLoop& loop, Deliver deliver);
    // Stops the thread (a check running finishes first); results not yet
    // delivered are dropped.
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
    size_t pending() const;

    void on_ready(uint32_t events) override;

private:
    struct Job {
        uint64_t client_id;
        std::string source;
        std::shared_ptr<const users::Table> table;
        std::string user;
        std::string password;
        bool familiar;
    };
    struct Result {
        uint64_t client_id;
        std::string source;
        users::Verdict verdict;
    };
    void run();

    EventLoop& loop_;
    Deliver deliver_;
    UniqueFd event_fd_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;  // familiar ones first; guarded by mutex_
    size_t familiar_queued_ = 0;  // the familiar jobs at the front of jobs_; guarded by mutex_
    std::vector<Result> results_;  // guarded by mutex_
    size_t pending_ = 0;  // jobs queued or running; guarded by mutex_
    bool stopping_ = false;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace kv
