// event_loop.cc: see event_loop.h.
#include "event_loop.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "log.h"

namespace kv {
namespace {

[[noreturn]] void fail(const char* what)
{
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

void EventLoop::Watcher::on_out_of_memory()
{
    LOG_ERR("out of memory while handling an event; it will be retried");
}

EventLoop::EventLoop() : epfd_(::epoll_create1(EPOLL_CLOEXEC))
{
    if (!epfd_)
        fail("epoll_create1");
}

void EventLoop::control(int op, int fd, uint32_t events, Watcher* watcher)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = watcher;
    if (::epoll_ctl(epfd_.get(), op, fd, &ev) < 0)
        fail(op == EPOLL_CTL_ADD ? "epoll_ctl add" : "epoll_ctl mod");
}

void EventLoop::watch(int fd, uint32_t events, Watcher* watcher)
{
    if (events == 0)
        parked_.insert(fd);
    else
        control(EPOLL_CTL_ADD, fd, events, watcher);
}

void EventLoop::modify(int fd, uint32_t events, Watcher* watcher)
{
    bool parked = parked_.count(fd) > 0;
    if (events == 0 && !parked) {
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
        parked_.insert(fd);
    } else if (events != 0 && parked) {
        parked_.erase(fd);
        control(EPOLL_CTL_ADD, fd, events, watcher);
    } else if (events != 0) {
        control(EPOLL_CTL_MOD, fd, events, watcher);
    }
}

void EventLoop::unwatch(int fd)
{
    if (parked_.erase(fd) > 0)
        return;
    // Closing the fd would also remove it, but only once every dup is closed.
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

uint64_t EventLoop::add_timer(std::chrono::milliseconds delay, std::function<void()> fn)
{
    uint64_t id = next_timer_id_++;
    auto deadline = Clock::now() + delay;
    timers_.emplace(std::make_pair(deadline, id), std::move(fn));
    timer_deadlines_.emplace(id, deadline);
    return id;
}

void EventLoop::cancel_timer(uint64_t id)
{
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end())
        return;
    timers_.erase(std::make_pair(it->second, id));
    timer_deadlines_.erase(it);
}

void EventLoop::defer(std::function<void()> fn)
{
    deferred_.push_back(std::move(fn));
}

int EventLoop::next_timeout_ms() const
{
    if (!deferred_.empty())
        return 0;
    if (timers_.empty())
        return -1;
    auto wait = timers_.begin()->first.first - Clock::now();
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return ms < 0 ? 0 : static_cast<int>(std::min<long long>(ms, 60'000));
}

void EventLoop::run_due_timers()
{
    auto now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
        auto node = timers_.extract(timers_.begin());
        timer_deadlines_.erase(node.key().second);
        node.mapped()();
    }
}

void EventLoop::run()
{
    running_ = true;
    epoll_event events[256];
    while (running_) {
        ++turn_;
        int n = ::epoll_wait(epfd_.get(), events, 256, next_timeout_ms());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            auto* watcher = static_cast<Watcher*>(events[i].data.ptr);
            try {
                watcher->on_ready(events[i].events);
            } catch (const std::bad_alloc&) {
                watcher->on_out_of_memory();
            }
        }
        run_due_timers();
        // Deferred work may defer more; run until quiet.
        while (!deferred_.empty()) {
            auto batch = std::move(deferred_);
            deferred_.clear();
            for (auto& fn : batch)
                fn();
        }
    }
}

TurnBudget::~TurnBudget()
{
    if (resume_timer_)
        loop_.cancel_timer(resume_timer_);
}

bool TurnBudget::allows_more()
{
    if (!spent())
        return true;
    if (!resume_timer_)
        resume_timer_ = loop_.add_timer(std::chrono::milliseconds(0), [this] {
            resume_timer_ = 0;
            resume_();
        });
    return false;
}

bool TurnBudget::spent()
{
    if (turn_ != loop_.turn()) {
        turn_ = loop_.turn();
        used_ = 0;
        started_ = EventLoop::Clock::now();
        return false;
    }
    return used_ >= kUnitsPerTurn || (used_ > 0 && EventLoop::Clock::now() - started_ >= kTimePerTurn);
}

}  // namespace kv
