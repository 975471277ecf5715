// auth_worker.cc: see auth_worker.h.
#include "auth_worker.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "log.h"
#include "secret.h"

namespace kv {

AuthWorker::AuthWorker(EventLoop& loop, Deliver deliver) : loop_(loop), deliver_(std::move(deliver))
{
    event_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!event_fd_)
        throw std::runtime_error(std::string("eventfd for the password checks: ") + std::strerror(errno));
    loop_.watch(event_fd_.get(), EPOLLIN, this);
    thread_ = std::thread([this] { run(); });
}

AuthWorker::~AuthWorker()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (Job& job : jobs_)
            wipe(job.password);
    }
    wake_.notify_all();
    thread_.join();
    loop_.unwatch(event_fd_.get());
}

bool AuthWorker::submit(uint64_t client_id, std::string_view source, std::shared_ptr<const users::Table> table,
                        std::string_view user, std::string_view password, bool familiar)
{
    {
        std::lock_guard lock(mutex_);
        if (pending_ >= (familiar ? kMaxPending + kFamiliarReserve : kMaxPending))
            return false;
        Job job{client_id, std::string(source), std::move(table), std::string(user), std::string(password), familiar};
        if (familiar) {
            jobs_.insert(jobs_.begin() + static_cast<std::ptrdiff_t>(familiar_queued_), std::move(job));
            ++familiar_queued_;
        } else {
            jobs_.push_back(std::move(job));
        }
        ++pending_;
    }
    wake_.notify_one();
    return true;
}

size_t AuthWorker::cancel(uint64_t client_id)
{
    size_t dropped = 0;
    std::lock_guard lock(mutex_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
        if (it->client_id != client_id) {
            ++it;
            continue;
        }
        wipe(it->password);
        if (it->familiar)
            --familiar_queued_;
        it = jobs_.erase(it);
        --pending_;
        ++dropped;
    }
    return dropped;
}

size_t AuthWorker::pending() const
{
    std::lock_guard lock(mutex_);
    return pending_;
}

// The worker thread: one check at a time, each result posted to the loop.
void AuthWorker::run()
{
    // Below the loop's priority (kCheckNice): with every core busy, the
    // sessions already in are served first and a check waits; on a machine
    // with a core to spare, nothing changes. Raising one's own nice value
    // needs no privilege; if it fails anyway, checks run at the loop's.
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), ::getpriority(PRIO_PROCESS, 0) + kCheckNice) != 0)
        LOG_WARN("password checks: setpriority: %s; checks run at the loop's priority", std::strerror(errno));
    // Named for top -H and ps -L, which then show what a busy thread does.
    ::pthread_setname_np(::pthread_self(), "kvstored-auth");
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_)
            return;
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        if (job.familiar)
            --familiar_queued_;
        lock.unlock();
        users::Verdict verdict = job.table->verify(job.user, job.password);
        wipe(job.password);
        job.table.reset();
        lock.lock();
        results_.push_back(Result{job.client_id, std::move(job.source), verdict});
        uint64_t one = 1;
        // Cannot fail short of a bug: the counter does not overflow.
        if (::write(event_fd_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
            LOG_ERR("password checks: write eventfd: %s", std::strerror(errno));
    }
}

// Loop thread: hands every finished check to its session.
void AuthWorker::on_ready(uint32_t)
{
    uint64_t count;
    if (::read(event_fd_.get(), &count, sizeof count) < 0 && errno != EAGAIN)
        LOG_ERR("password checks: read eventfd: %s", std::strerror(errno));
    std::vector<Result> done;
    {
        std::lock_guard lock(mutex_);
        done.swap(results_);
        pending_ -= done.size();
    }
    for (const Result& r : done)
        deliver_(r.client_id, r.source, r.verdict);
}

}  // namespace kv
