// test_concurrency.cc: 500 kvsvc sessions attached to one kvstored at once,
// driven from one thread with poll().
#include <catch2/catch.hpp>

#include <cstdio>

#include "served.h"

using namespace kvtest;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kSessions = 500;
constexpr size_t kKeysEach = 20;

std::string key(size_t session, size_t k)
{
    return "s" + std::to_string(session) + ".k" + std::to_string(k);
}

std::string value(size_t session, size_t k)
{
    return "value of " + key(session, k) + ": x";
}

Millis left(Clock::time_point deadline)
{
    return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

// Runs one phase on every session; REQUIREs that all went as expected.
void run_phase(const char* name, std::vector<Exchange>& phase, Clock::time_point deadline)
{
    auto failures = run_exchanges(phase, left(deadline));
    INFO("phase '" << name << "': " << failures.size()
                   << " session(s) failed; first: " << (failures.empty() ? "" : failures.front()));
    REQUIRE(failures.empty());
}

std::vector<Exchange> phase(std::vector<KvsvcSession>& sessions)
{
    std::vector<Exchange> ex(sessions.size());
    for (size_t i = 0; i < sessions.size(); ++i)
        ex[i].client = &sessions[i].client;
    return ex;
}

}  // namespace

// [serial]: it runs alone (tests/integration/CMakeLists.txt). Its 500 kvsvc
// processes, under ASan, once made a kvsvc started beside them by another
// test miss its 5 s greeting deadline.
TEST_CASE("500 concurrent sessions save, read their own keys, then each other's", "[serial]")
{
    auto started = Clock::now();
    auto deadline = started + 120s;
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "20000"});
    std::vector<KvsvcSession> sessions;
    sessions.reserve(kSessions);
    for (size_t i = 0; i < kSessions; ++i)
        sessions.push_back(spawn_kvsvc(daemon.socket_path()));

    auto attach = phase(sessions);
    for (auto& e : attach) {
        e.send = "connect\n";
        e.expect = {greeting(), "OK connected"};
    }
    run_phase("attach", attach, deadline);

    LineClient& first = sessions.front().client;
    first.send("stats\n");
    CHECK(stat_value(first.read_reply_block(), "connections_current") == std::to_string(kSessions));

    // Every session saves its keys and reads them back; run_exchanges returns
    // only when all have finished, which is the barrier before the cross-reads.
    auto own = phase(sessions);
    for (size_t i = 0; i < kSessions; ++i) {
        for (size_t k = 0; k < kKeysEach; ++k) {
            own[i].send += "save " + key(i, k) + ":" + value(i, k) + "\n";
            own[i].expect.push_back("OK");
        }
        for (size_t k = 0; k < kKeysEach; ++k) {
            own[i].send += "read " + key(i, k) + "\n";
            own[i].expect.push_back("VALUE " + value(i, k));
        }
    }
    run_phase("save and read own keys", own, deadline);

    auto cross = phase(sessions);
    for (size_t i = 0; i < kSessions; ++i) {
        for (size_t k = 0; k < kKeysEach; ++k) {
            size_t other = (i + 1 + k * 37) % kSessions;  // 20 different other sessions
            cross[i].send += "read " + key(other, k) + "\n";
            cross[i].expect.push_back("VALUE " + value(other, k));
        }
        cross[i].send += "count\nexit\n";
        cross[i].expect.push_back("COUNT " + std::to_string(kSessions * kKeysEach) + " 20000");
        cross[i].expect.push_back("BYE");
        cross[i].then_eof = true;
    }
    run_phase("read other sessions' keys", cross, deadline);

    for (auto& s : sessions)
        s.client.close();
    for (auto& s : sessions)
        CHECK(exited_with(s.process.wait_exit(left(deadline)), 0));

    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf("500 concurrent sessions: %.2f s\n", seconds);
    WARN("500 concurrent sessions took " << seconds << " s");
}
