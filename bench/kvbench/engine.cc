// engine.cc: see engine.h.
#include "engine.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "connection.h"
#include "fd.h"
#include "report.h"

namespace kvbench {
namespace {

using namespace std::chrono_literals;

// At most this many connections are set up at once (steady mode). A server
// behind xinetd accepts from a listen backlog of 64; when more connections
// arrive at once, Linux's SYN cookies complete the overflow for the client
// but never queue them for accept(), and as kvstore's server speaks first,
// client and server would then both wait forever.
constexpr unsigned kMaxSettingUp = 32;
// How often connections are checked for set-up or session deadlines.
constexpr auto kDeadlineCheck = 100ms;

volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int)
{
    g_interrupted = 1;
}

// SIGINT/SIGTERM end the run early (the report still prints); no SA_RESTART,
// so epoll_wait returns at once.
void catch_signals()
{
    struct sigaction sa { };
    sa.sa_handler = on_signal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

// One descriptor per connection plus a few: raise the soft limit if needed.
void ensure_fd_limit(unsigned connections)
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return;
    rlim_t want = connections + 64;
    if (lim.rlim_cur >= want)
        return;
    lim.rlim_cur = std::min(want, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < want)
        throw std::runtime_error("--connections " + std::to_string(connections) + " needs " + std::to_string(want)
                                 + " file descriptors; the limit is " + std::to_string(lim.rlim_max));
}

Clock::duration seconds(double s)
{
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// The loop and its clocks. Each turn: decide whether to stop, do the
// housekeeping that is due (reopen, deadlines, progress, end of warm-up), then
// wait for socket events and hand each to its connection.
class Loop {
public:
    Loop(const Options& o, const Address& a, const Codec& c, Workload& w, Stats& s)
        : options_(o), stats_(s), epoll_(::epoll_create1(EPOLL_CLOEXEC)), ctx_{o, a, c, w, s, epoll_.get()}
    {
        if (!epoll_)
            throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
        for (unsigned i = 0; i < o.connections; ++i)
            connections_.push_back(std::make_unique<Connection>(ctx_, i));
    }

    RunResult run()
    {
        start_ = measure_from_ = ctx_.epoch = Clock::now();
        end_ = start_ + seconds(options_.warmup > 0 ? options_.warmup : options_.duration);
        warming_up_ = options_.warmup > 0;
        next_progress_ = start_ + 1s;
        next_deadline_check_ = start_ + kDeadlineCheck;
        stats_.last_progress = start_;
        open_more(start_);

        std::vector<epoll_event> events(std::min<size_t>(connections_.size(), 1024));
        RunResult result;
        for (;;) {
            Clock::time_point now = Clock::now();
            if (std::optional<Ending> ending = should_stop(now)) {
                result.ending = *ending;
                break;
            }
            bool retrying = housekeeping(now);
            Clock::time_point wake = retrying ? now + 1ms : next_wake();
            if (options_.rate > 0)
                wake = std::min(wake, pace(now));
            int n = wait(events, now, wake);
            for (int i = 0; i < n; ++i) {
                const epoll_event& ev = events[static_cast<size_t>(i)];
                static_cast<Connection*>(ev.data.ptr)->on_event(ev.events);
            }
        }
        if (tty_)
            clear_progress();
        result.seconds = std::chrono::duration<double>(Clock::now() - measure_from_).count();
        return result;
    }

private:
    bool bounded_by_count() const { return options_.requests != 0; }

    // epoll_pwait2 rather than epoll_wait: --rate's requests are due at
    // microsecond gaps, which a millisecond timeout would bunch together.
    int wait(std::vector<epoll_event>& events, Clock::time_point now, Clock::time_point wake)
    {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::clamp<Clock::duration>(wake - now, 0s, 1s));
        timespec timeout{0, static_cast<long>(ns.count())};
        if (ns >= 1s)
            timeout = {1, 0};
        int n = ::epoll_pwait2(epoll_.get(), events.data(), static_cast<int>(events.size()), &timeout, nullptr);
        if (n < 0 && errno != EINTR)
            throw std::runtime_error(std::string("epoll_pwait2: ") + std::strerror(errno));
        return n;
    }

    // --rate: every running connection sends what is due; returns when the
    // next request anywhere is due. O(connections) a turn, which is fine at
    // the few hundred connections an open-loop run wants.
    Clock::time_point pace(Clock::time_point now)
    {
        Clock::time_point next = Clock::time_point::max();
        for (auto& c : connections_)
            next = std::min(next, c->pace(now));
        return next;
    }

    std::optional<Ending> should_stop(Clock::time_point now)
    {
        if (g_interrupted)
            return Ending::Interrupted;
        if (bounded_by_count() ? stats_.finished() >= options_.requests : now >= end_ && !warming_up_)
            return Ending::Completed;
        if (now - stats_.last_progress >= seconds(options_.timeout)) {
            stats_.note_error("no reply for " + format_seconds(options_.timeout) + " s");
            return Ending::Stalled;
        }
        return std::nullopt;
    }

    // True while a failed connection waits to be opened again (the loop then
    // wakes every millisecond).
    bool housekeeping(Clock::time_point now)
    {
        if (warming_up_ && now >= end_) {
            // Warm-up over: forget it, and measure --duration from here.
            warming_up_ = false;
            measure_from_ = now;
            end_ = now + seconds(options_.duration);
            stats_.restart();
            answered_at_last_progress_ = 0;
        }
        bool retrying = reopen_failed(now);
        open_more(now);
        if (now >= next_deadline_check_) {
            for (auto& c : connections_)
                c->check_deadline(now);
            next_deadline_check_ = now + kDeadlineCheck;
        }
        if (tty_ && now >= next_progress_) {
            uint64_t answered = stats_.answered();
            print_progress(now - start_, stats_, answered - answered_at_last_progress_);
            answered_at_last_progress_ = answered;
            next_progress_ += 1s;
        }
        return retrying;
    }

    // The earliest moment the loop has something to do without any event.
    Clock::time_point next_wake() const
    {
        Clock::time_point wake = std::min(stats_.last_progress + seconds(options_.timeout), next_deadline_check_);
        if (tty_)
            wake = std::min(wake, next_progress_);
        if (!bounded_by_count())
            wake = std::min(wake, end_);
        return wake;
    }

    bool may_set_up() const { return options_.reconnect || ctx_.setting_up < kMaxSettingUp; }

    // Opens the connections not opened yet, as far as kMaxSettingUp allows.
    void open_more(Clock::time_point now)
    {
        while (opened_ < connections_.size() && may_set_up())
            connections_[opened_++]->open(now);
    }

    // Opens again every connection whose retry delay is over (as far as
    // kMaxSettingUp allows). True while any failed connection is waiting.
    bool reopen_failed(Clock::time_point now)
    {
        if (stats_.connection_errors == checked_errors_ && !waiting_)
            return false;
        checked_errors_ = stats_.connection_errors;
        waiting_ = false;
        for (auto& c : connections_) {
            if (c->retry_due(now) && may_set_up())
                c->open(now);
            waiting_ = waiting_ || c->failed();
        }
        return waiting_;
    }

    const Options& options_;
    Stats& stats_;
    kv::UniqueFd epoll_;
    RunContext ctx_;
    std::vector<std::unique_ptr<Connection>> connections_;
    const bool tty_ = ::isatty(STDOUT_FILENO) == 1;  // progress line only on a terminal
    Clock::time_point start_{};
    Clock::time_point measure_from_{};  // start_, or the end of the warm-up
    Clock::time_point end_{};  // of the warm-up while warming_up_, else of the run (duration mode)
    bool warming_up_ = false;
    Clock::time_point next_progress_{};
    Clock::time_point next_deadline_check_{};
    uint64_t answered_at_last_progress_ = 0;
    size_t opened_ = 0;  // connections_[0..opened_) have been opened
    uint64_t checked_errors_ = 0;
    bool waiting_ = false;
};

}  // namespace

RunResult run(const Options& options, const Address& address, const Codec& codec, Workload& workload, Stats& stats)
{
    catch_signals();
    ensure_fd_limit(options.connections);
    return Loop(options, address, codec, workload, stats).run();
}

}  // namespace kvbench
