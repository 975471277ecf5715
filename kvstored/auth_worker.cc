// auth_worker.cc: see auth_worker.h.
#include "auth_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "log.h"

namespace kv {

namespace {

// A pipe, both ends close-on-exec. Throws std::runtime_error naming it.
std::pair<UniqueFd, UniqueFd> make_pipe(const char* what)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
        throw std::runtime_error(std::string("pipe2 for ") + what + ": " + std::strerror(errno));
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Sets the calling thread's priority for its role (auth_worker.h). Neither
// change needs a privilege; if one fails anyway, that thread's checks run
// at the loop's priority, which costs the sessions time but loses nothing.
void lower_priority(bool rescuer)
{
    if (rescuer) {
        if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()),
                          ::getpriority(PRIO_PROCESS, 0) + AuthWorker::kCheckNice)
            != 0)
            LOG_WARN("password checks: setpriority: %s; rescued checks run at the loop's priority",
                     std::strerror(errno));
        return;
    }
    // Going back from SCHED_IDLE would need CAP_SYS_NICE: hence a second
    // thread for the rescues.
    sched_param param{};
    if (int err = ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &param); err != 0)
        LOG_WARN("password checks: pthread_setschedparam SCHED_IDLE: %s; checks run at the loop's priority",
                 std::strerror(err));
}

// Checks left running as kvstored exits (stop_threads), and never freed:
// held from a global, so that a leak checker finds them reachable.
std::vector<std::shared_ptr<void>>* abandoned_checks = nullptr;

}  // namespace

AuthWorker::AuthWorker(EventLoop& loop, Deliver deliver) : loop_(loop), deliver_(std::move(deliver))
{
    std::tie(results_, results_write_) = make_pipe("the password checks' results");
    // The loop reads what is there; the threads' writes may block (they
    // never do: each thread has one result at most in the pipe).
    if (::fcntl(results_.get(), F_SETFL, O_NONBLOCK) < 0)
        throw std::runtime_error(std::string("fcntl O_NONBLOCK on the password checks' results: ")
                                 + std::strerror(errno));
    try {
        start(checker_, false);
        start(rescuer_, true);
        loop_.watch(results_.get(), EPOLLIN, this);
    } catch (...) {
        stop_threads();
        throw;
    }
}

AuthWorker::~AuthWorker()
{
    if (rescue_timer_)
        loop_.cancel_timer(rescue_timer_);
    loop_.unwatch(results_.get());
    stop_threads();
}

void AuthWorker::stop_threads()
{
    // A thread reads the end of its pipe once its check, if any, is done.
    for (Runner* r : {&checker_, &rescuer_})
        r->jobs.reset();
    // A check still running gets kStopWait to finish: at SCHED_IDLE on a
    // machine with no idle CPU it could take many seconds, and kvstored is
    // exiting (its clients were told already).
    const auto deadline = Clock::now() + kStopWait;
    while ((checker_.job || rescuer_.job) && Clock::now() < deadline) {
        pollfd ready{results_.get(), POLLIN, 0};
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (::poll(&ready, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0)
            continue;
        Done done;
        while (::read(results_.get(), &done, sizeof done) == sizeof done)
            (done.rescuer ? rescuer_ : checker_).job.reset();  // too late for its session
    }
    bool abandoned = false;
    for (Runner* r : {&checker_, &rescuer_}) {
        if (!r->thread.joinable())
            continue;
        if (!r->job) {
            r->thread.join();
            continue;
        }
        // Left to finish alone as the process exits, with what it uses
        // kept: its check and the results pipe.
        LOG_WARN("password checks: a check still running after %lld s is left to end with kvstored",
                 static_cast<long long>(kStopWait.count()));
        if (!abandoned_checks)
            abandoned_checks = std::make_unique<std::vector<std::shared_ptr<void>>>().release();
        abandoned_checks->push_back(std::move(r->job));
        r->thread.detach();
        abandoned = true;
    }
    if (abandoned) {  // its write then succeeds, into a pipe nobody reads
        (void)results_write_.release();
        (void)results_.release();
    }
}

void AuthWorker::start(Runner& runner, bool rescuer)
{
    auto [read_end, write_end] = make_pipe("the password checks");
    runner.jobs = std::move(write_end);
    runner.thread = std::thread([fd = std::move(read_end), results = results_write_.get(), rescuer] {
        thread_main(fd.get(), results, rescuer);
    });
}

// A thread's life: read a check, run it, write its result; until the loop
// closes the pipe. The loop keeps the Job alive until the result is back.
void AuthWorker::thread_main(int jobs, int results, bool rescuer)
{
    lower_priority(rescuer);
    ::pthread_setname_np(::pthread_self(), rescuer ? kRescuerThread : kCheckerThread);
    for (;;) {
        Job* job = nullptr;
        ssize_t n = ::read(jobs, &job, sizeof job);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return;  // the worker is stopping
        if (n != sizeof job) {  // a write of 8 bytes to a pipe is never split: a bug
            LOG_ERR("password checks: read from the loop: %s", n < 0 ? std::strerror(errno) : "short read");
            return;
        }
        Done done;
        std::memset(&done, 0, sizeof done);  // its padding too: the whole struct goes through the pipe
        done.job = job;
        done.verdict = job->table->verify(job->user, job->password);
        done.rescuer = rescuer;
        while ((n = ::write(results, &done, sizeof done)) < 0 && errno == EINTR) { }
        if (n != sizeof done) {
            LOG_ERR("password checks: write to the loop: %s", n < 0 ? std::strerror(errno) : "short write");
            return;
        }
    }
}

bool AuthWorker::submit(uint64_t client_id, std::string_view source, std::shared_ptr<const users::Table> table,
                        std::string_view user, std::string_view password, bool familiar)
{
    if (pending_ >= (familiar ? kMaxPending + kFamiliarReserve : kMaxPending))
        return false;
    auto job = std::make_shared<Job>();
    job->client_id = client_id;
    job->source = source;
    job->table = std::move(table);
    job->user = user;
    job->password = password;
    job->familiar = familiar;
    if (familiar)
        queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(familiar_queued_++), std::move(job));
    else
        queue_.push_back(std::move(job));
    ++pending_;
    dispatch();
    return true;
}

size_t AuthWorker::cancel(uint64_t client_id)
{
    size_t dropped = std::erase_if(queue_, [&](const std::shared_ptr<Job>& job) {
        if (job->client_id != client_id)
            return false;
        familiar_queued_ -= job->familiar;
        return true;
    });
    pending_ -= dropped;
    return dropped;
}

std::shared_ptr<AuthWorker::Job> AuthWorker::pop_front()
{
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    familiar_queued_ -= job->familiar;
    return job;
}

void AuthWorker::hand(Runner& runner, std::shared_ptr<Job> job)
{
    Job* raw = job.get();
    runner.job = std::move(job);
    if (&runner == &checker_)
        checker_active_ = Clock::now();
    // 8 bytes into an empty pipe (a runner is handed a check only with none
    // in its hands): cannot block or be cut short.
    if (::write(runner.jobs.get(), &raw, sizeof raw) != sizeof raw)
        LOG_ERR("password checks: write to a check thread: %s", std::strerror(errno));
}

void AuthWorker::dispatch()
{
    if (!checker_.job && !queue_.empty())
        hand(checker_, pop_front());
    // The rescuer is needed once the checker, busy, has made no progress
    // for kStarved, if there is something it could run.
    bool wanted = checker_.job && !rescuer_.job && (!checker_.job->rescued || !queue_.empty());
    if (!wanted || rescue_timer_)
        return;
    auto delay = std::chrono::ceil<std::chrono::milliseconds>(rescue_due() - Clock::now());
    rescue_timer_ = loop_.add_timer(std::max(delay, std::chrono::milliseconds(0)), [this] {
        rescue_timer_ = 0;
        rescue();
    });
}

void AuthWorker::rescue()
{
    const auto now = Clock::now();
    if (!checker_.job || rescuer_.job || now < rescue_due()) {
        dispatch();  // the checker moved on, or the rescuer is busy: look again later if need be
        return;
    }
    std::shared_ptr<Job> job;
    if (!checker_.job->rescued) {
        job = checker_.job;
        job->rescued = true;
    } else if (!queue_.empty()) {
        job = pop_front();
    } else {
        return;
    }
    last_rescue_ = now;
    hand(rescuer_, std::move(job));
}

void AuthWorker::finished(const Done& done)
{
    Runner& runner = done.rescuer ? rescuer_ : checker_;
    std::shared_ptr<Job> job = std::move(runner.job);
    if (&runner == &checker_)
        checker_active_ = Clock::now();
    if (job.get() != done.job) {
        LOG_ERR("password checks: a result for a check its thread was not handed (a bug); dropped");
        return;
    }
    if (job->done)
        return;  // the other thread's result came first
    job->done = true;
    --pending_;
    deliver_(job->client_id, job->source, done.verdict);
}

// Loop thread: hands every finished check to its session, and the next
// ones to the threads.
void AuthWorker::on_ready(uint32_t)
{
    Done batch[8];
    for (;;) {
        ssize_t n = ::read(results_.get(), batch, sizeof batch);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            LOG_ERR("password checks: read results: %s", std::strerror(errno));
        if (n <= 0)
            break;
        // Each result was one write of sizeof(Done) <= PIPE_BUF: whole.
        for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(Done); ++i)
            finished(batch[i]);
        if (static_cast<size_t>(n) < sizeof batch)
            break;
    }
    dispatch();
}

}  // namespace kv
