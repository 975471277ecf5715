// test_overload.cc: thousands of concurrent TCP sessions through the real
// xinetd, each saving and reading back its own keys for a while. Nothing may
// go wrong: no protocol error, no read that misses the write before it. The
// figures (throughput, latency percentiles, kvstored's memory) are printed.
//
// Knobs: KVSTORE_OVERLOAD_SESSIONS (default 2000), KVSTORE_OVERLOAD_SECONDS
// (default 30).
#include <catch2/catch.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>

#include "hostile.h"

using namespace kvtest;

namespace {

constexpr uint64_t kKeysPerSession = 8;

// One session's closed loop: save a key, read it back, save the next, ...
// Exactly one command is in flight at a time, so every reply is predictable.
struct Worker {
    LineClient client;
    size_t id = 0;
    uint64_t step = 0;  // even: a save, odd: the read of that save
    std::string expect;
    Clock::time_point sent_at;
    bool failed = false;

    std::string key() const { return "s" + std::to_string(id) + ".k" + std::to_string(step / 2 % kKeysPerSession); }
    std::string value() const { return "v" + std::to_string(step / 2) + " of session " + std::to_string(id); }

    void send_next()
    {
        if (step % 2 == 0) {
            client.send("save " + key() + ":" + value() + "\n");
            expect = "OK";
        } else {
            client.send("read " + key() + "\n");
            expect = "VALUE " + value();  // read-after-write: the value just saved
        }
        sent_at = Clock::now();
    }
};

struct LoadFigures {
    uint64_t operations = 0;
    size_t waiting = 0;  // workers with a command in flight
    std::vector<float> latencies_ms;
    std::vector<std::string> errors;
};

// Handles the replies `w` has received; sends its next command while `more`.
void on_readable(Worker& w, bool more, LoadFigures& figures)
{
    w.client.pump();
    while (auto line = w.client.buffered_line()) {
        if (*line != w.expect) {
            figures.errors.push_back("session " + std::to_string(w.id) + ": expected '" + w.expect + "', got '" + *line
                                     + "'");
            w.failed = true;
            --figures.waiting;
            return;
        }
        figures.latencies_ms.push_back(std::chrono::duration<float, std::milli>(Clock::now() - w.sent_at).count());
        ++figures.operations;
        w.expect.clear();
        --figures.waiting;
        ++w.step;
        if (more) {
            w.send_next();
            ++figures.waiting;
        }
    }
    if (w.client.eof() && !w.failed) {
        figures.errors.push_back("session " + std::to_string(w.id) + ": connection closed");
        w.failed = true;
        if (!w.expect.empty())
            --figures.waiting;
    }
}

// Runs every worker's loop for `duration` with epoll, then lets the commands
// in flight finish.
LoadFigures run_load(std::vector<Worker>& workers, Millis duration)
{
    LoadFigures figures;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(ep >= 0);
    for (size_t i = 0; i < workers.size(); ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, workers[i].client.fd(), &ev) == 0);
        workers[i].send_next();
        ++figures.waiting;
    }
    auto stop_sending = Clock::now() + duration;
    auto give_up = stop_sending + 20s;
    std::vector<epoll_event> events(256);
    for (;;) {
        bool more = Clock::now() < stop_sending;
        if ((!more && figures.waiting == 0) || Clock::now() > give_up)
            break;
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
        for (int k = 0; k < n; ++k) {
            Worker& w = workers[events[k].data.u64];
            if (!w.failed)
                on_readable(w, more, figures);
        }
    }
    ::close(ep);
    for (const Worker& w : workers)
        if (!w.failed && !w.expect.empty())
            figures.errors.push_back("session " + std::to_string(w.id) + ": no reply to its last command");
    return figures;
}

}  // namespace

TEST_CASE("2,000 concurrent sessions through xinetd save and read for 30 s without one error", "[overload]")
{
    const auto sessions = static_cast<size_t>(env_long("KVSTORE_OVERLOAD_SESSIONS", 2000));
    const auto seconds = env_long("KVSTORE_OVERLOAD_SECONDS", 30);
    LoadStack stack({"--capacity", std::to_string(sessions * kKeysPerSession + 100)});
    const pid_t kvstored = stack.daemon.process().pid();

    auto t0 = Clock::now();
    std::vector<LineClient> clients = open_sessions(stack.xinetd.port(), sessions, 120s);
    std::vector<Worker> workers(sessions);
    for (size_t i = 0; i < sessions; ++i) {
        workers[i].client = std::move(clients[i]);
        workers[i].id = i;
        workers[i].client.send("connect\n");
    }
    for (auto& w : workers)
        REQUIRE(w.client.read_line(30s) == "OK connected");
    double connect_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

    LineClient probe = stack.xinetd.client();
    REQUIRE(probe.ask("connect") == "OK connected");
    CHECK(stat_value(stats_of(probe), "connections_current") == std::to_string(sessions + 1));

    LoadFigures figures = run_load(workers, std::chrono::seconds(seconds));
    INFO(figures.errors.size() << " error(s); first: " << (figures.errors.empty() ? "" : figures.errors.front()));
    CHECK(figures.errors.empty());
    CHECK(stat_value(stats_of(probe), "protocol_errors") == "0");

    Percentiles p = percentiles(figures.latencies_ms);
    std::printf("overload: %zu sessions through xinetd, attached in %.1f s; %ld s of save/read: %llu operations "
                "(%.0f/s), %zu errors; latency p50 %.2f ms, p99 %.2f ms, max %.1f ms; kvstored VmRSS %ld KiB, "
                "VmHWM %ld KiB\n",
                sessions, connect_seconds, seconds, static_cast<unsigned long long>(figures.operations),
                static_cast<double>(figures.operations) / static_cast<double>(seconds), figures.errors.size(), p.p50,
                p.p99, p.max, proc_kib(kvstored, "VmRSS"), proc_kib(kvstored, "VmHWM"));
    WARN("overload: " << figures.operations << " operations, p99 " << p.p99 << " ms, kvstored VmHWM "
                      << proc_kib(kvstored, "VmHWM") << " KiB");

    // Every session leaves cleanly.
    std::vector<Exchange> goodbyes(sessions);
    for (size_t i = 0; i < sessions; ++i)
        goodbyes[i] = Exchange{&workers[i].client, "exit\n", {"BYE"}, true};
    auto failures = run_exchanges(goodbyes, 60s);
    INFO(failures.size() << " session(s) did not leave cleanly; first: " << (failures.empty() ? "" : failures.front()));
    CHECK(failures.empty());
}
