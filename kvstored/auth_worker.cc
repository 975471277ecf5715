// auth_worker.cc: see auth_worker.h.
#include "auth_worker.h"

#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "log.h"

namespace kv {

AuthWorker::AuthWorker(EventLoop& loop, Deliver deliver) : loop_(loop), deliver_(std::move(deliver))
{
    for (Runner* r : {&checker_, &rescuer_}) {
        if (!start(*r)) {
            unwatch_helpers();
            throw std::runtime_error(std::string("password checks: cannot start ") + r->name
                                     + " (kvstored's log says why)");
        }
    }
}

AuthWorker::~AuthWorker()
{
    if (rescue_timer_)
        loop_.cancel_timer(rescue_timer_);
    unwatch_helpers();
}

// The Runners' destructors then kill and reap the helpers.
void AuthWorker::unwatch_helpers()
{
    for (Runner* r : {&checker_, &rescuer_})
        if (r->helper)
            loop_.unwatch(r->helper->answers());
}

// The checker at SCHED_IDLE, the rescuer kCheckNice below the loop (see
// auth_worker.h). Neither needs a privilege; if one fails anyway, that
// helper's checks run at the loop's priority, which costs the sessions
// time but loses nothing.
bool AuthWorker::start(Runner& runner)
{
    try {
        runner.helper = std::make_unique<password_checker::Process>(runner.name);
    } catch (const std::exception& e) {
        LOG_ERR("password checks: %s: %s", runner.name, e.what());
        return false;
    }
    const pid_t pid = runner.helper->pid();
    if (&runner == &rescuer_) {
        if (::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), ::getpriority(PRIO_PROCESS, 0) + kCheckNice) != 0)
            LOG_WARN("password checks: setpriority of %s: %s; its checks run at the loop's priority", runner.name,
                     std::strerror(errno));
    } else {
        sched_param param{};
        if (::sched_setscheduler(pid, SCHED_IDLE, &param) != 0)
            LOG_WARN("password checks: sched_setscheduler SCHED_IDLE of %s: %s; checks run at the loop's priority",
                     runner.name, std::strerror(errno));
    }
    loop_.watch(runner.helper->answers(), EPOLLIN, &runner);
    return true;
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
    // Not now: whatever dispatch() answers at once (no helper can run it)
    // must reach a session that knows it waits, after submit() returned.
    if (!dispatch_deferred_) {
        dispatch_deferred_ = true;
        loop_.defer([this] {
            dispatch_deferred_ = false;
            dispatch();
        });
    }
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
    runner.job = std::move(job);
    if (&runner == &checker_)
        checker_active_ = Clock::now();
    const Job& j = *runner.job;
    if (!runner.helper->send(j.table->hash_for(j.user),
                             j.password))  // it has ended (or it is stuck: a bug): another gets the check
        restart(runner, "write: " + std::string(std::strerror(errno)) + "; " + runner.helper->end());
}

void AuthWorker::dispatch()
{
    password_checker::Process::reap_dying();
    if (!checker_.job && !queue_.empty()) {
        if (!ready(checker_)) {
            while (!queue_.empty()) {  // none would run: each is told at once
                checker_.job = pop_front();
                finished(checker_, users::Verdict::Unchecked);
            }
            return;
        }
        hand(checker_, pop_front());
    }
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
    if (!ready(rescuer_))
        return;
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

void AuthWorker::finished(Runner& runner, users::Verdict verdict)
{
    std::shared_ptr<Job> job = std::move(runner.job);
    if (&runner == &checker_)
        checker_active_ = Clock::now();
    if (!job || job->done)
        return;  // the other helper's answer came first
    job->done = true;
    --pending_;
    deliver_(job->client_id, job->source, verdict);
}

// Loop thread: a helper answered (or ended).
void AuthWorker::on_answer(Runner& runner)
{
    using Answer = password_checker::Process::Answer;
    Answer answer = runner.helper->read_answer();
    if (answer == Answer::NotYet)
        return;
    if (answer == Answer::Ended || !runner.job) {
        // An answer with no check in its hands would be a bug: start afresh.
        restart(runner, runner.helper->end());
    } else {
        const Job& j = *runner.job;
        users::Verdict verdict = !j.table->find(j.user) ? users::Verdict::UnknownUser
            : answer == Answer::Match                   ? users::Verdict::Ok
                                                        : users::Verdict::WrongPassword;
        runner.ends_in_a_row = 0;
        finished(runner, verdict);
    }
    dispatch();
}

bool AuthWorker::ready(Runner& runner)
{
    if (runner.helper)
        return true;
    const auto now = Clock::now();
    if (now < runner.next_start)
        return false;
    runner.next_start = now + kStarved;
    runner.ends_in_a_row = 0;
    return start(runner);
}

void AuthWorker::restart(Runner& runner, const std::string& how)
{
    loop_.unwatch(runner.helper->answers());
    runner.helper.reset();
    // One that keeps ending (it cannot run at all) is not started again at
    // once, in a loop: ready() tries once a kStarved.
    bool now = ++runner.ends_in_a_row < kMaxEndsInARow;
    LOG_WARN("password checks: %s ended (%s); starting another%s", runner.name, how.c_str(),
             now ? "" : " in a second (it keeps ending)");
    if (now && start(runner)) {
        if (runner.job && !runner.job->done)
            hand(runner, std::move(runner.job));  // its check again
        else
            runner.job.reset();
        return;
    }
    runner.next_start = Clock::now() + kStarved;
    // Its check: the other helper may have it too (a rescue) and answer it;
    // if not, it is answered Unchecked. dispatch() tells the queued ones, or
    // starts a helper after all.
    Runner& other = &runner == &checker_ ? rescuer_ : checker_;
    if (runner.job && runner.job == other.job)
        runner.job.reset();
    else if (runner.job)
        finished(runner, users::Verdict::Unchecked);
}

}  // namespace kv
