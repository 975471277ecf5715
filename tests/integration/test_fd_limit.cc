// test_fd_limit.cc: kvstored at its descriptor limit (issue 19, T7). Each
// handed-off session holds two descriptors in kvstored; at RLIMIT_NOFILE the
// kernel drops the client's socket from the Hello's SCM_RIGHTS (MSG_CTRUNC),
// which kvstored counted and logged as a protocol error of kvsvc ("protocol
// error: unexpected file descriptors"; the client got "ERR unavailable kvstored
// closed the connection"), and nothing at start said how many sessions the
// limit left room for.
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "kvstore.h"
#include "process.h"

using namespace kvtest;

namespace {

constexpr int kNofile = 64;  // room for about (64 - 32) / 2 = 16 sessions

// kvstored with soft and hard RLIMIT_NOFILE kNofile (prlimit sets both, so it
// cannot raise them back), its stderr in `log`.
Process limited_kvstored(const std::string& socket, const std::string& log)
{
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        throw std::runtime_error("open " + log + ": " + std::strerror(errno));
    std::string nofile = "--nofile=" + std::to_string(kNofile) + ":" + std::to_string(kNofile);
    Process p("/usr/bin/prlimit", {nofile, "--", kvstored_bin(), "--config", "/dev/null", "run", "--socket", socket},
              Stdio{-1, log_fd, log_fd});
    ::close(log_fd);
    if (!wait_for_unix_listener(socket, 5s))
        throw std::runtime_error("kvstored under prlimit did not come up; its log:\n" + read_file(log));
    return p;
}

// A kvsvc session's answer to `connect` (after its greeting).
std::string try_connect(KvsvcSession& s)
{
    auto hello = s.client.read_line();
    if (hello != greeting())
        return "greeting: " + hello.value_or("(none)");
    return s.client.ask("connect");
}

}  // namespace

TEST_CASE("kvstored out of descriptors: the start says how many sessions fit, a handoff past them is refused as out "
          "of descriptors, not dropped as a protocol error, and later sessions are served")
{
    // Normal build only. At descriptor exhaustion UBSan's vptr check reports
    // a false "member call on address ... which does not point to an object
    // of type 'Watcher'" and ends kvstored: to test whether the vtable
    // pointer is readable it opens a pipe (IsAccessibleMemoryRange), which
    // fails with EMFILE, so it takes any object for an invalid one. strace
    // shows pipe2() = EMFILE right before the report, and the watcher's fd
    // still open and registered in epoll: the Door was alive. kvstored built
    // with ASan and UBSan but -fno-sanitize=vptr passes this test with no
    // report (2026-12-07).
    if (kvtest::kSanitizerBuild) {
        WARN("skipped in the sanitizer build: UBSan's vptr check needs a free descriptor (a pipe) and reports a false "
             "invalid object once kvstored has none");
        return;
    }
    TempDir dir;
    const std::string socket = dir.file("kvstored.sock");
    const std::string log = dir.file("kvstored.log");
    Process daemon = limited_kvstored(socket, log);
    CHECK(read_file(log).find("descriptor limit 64 leaves room for about 16 sessions") != std::string::npos);
    CHECK(read_file(log).find(", descriptors for about 16 sessions)") != std::string::npos);

    std::vector<KvsvcSession> held;
    bool dropped = false;
    for (int attempt = 0; attempt < 3 * kNofile && !dropped; ++attempt) {
        KvsvcSession s = spawn_kvsvc(socket);
        std::string reply = try_connect(s);
        if (reply == "OK connected") {
            held.push_back(std::move(s));
            continue;
        }
        INFO("attempt " << attempt << ", " << held.size() << " sessions held: " << reply);
        REQUIRE(reply.rfind("ERR unavailable", 0) == 0);
        dropped = reply.rfind("ERR unavailable kvstored refused: out of descriptors receiving the client's socket "
                              "(RLIMIT_NOFILE 64, two per session",
                              0)
            == 0;
        if (!dropped && !held.empty()) {
            // Not one descriptor was free, so kvstored could not even accept
            // kvsvc (it waits, and kvsvc gave up). Leave exactly one free: a
            // handed-off session's two back, one taken by a relaying session.
            held.pop_back();
            KvsvcSession relay = spawn_kvsvc(socket, {"--no-handoff"});
            REQUIRE(try_connect(relay) == "OK connected");
            held.push_back(std::move(relay));
        }
    }
    INFO("kvstored's log:\n" << read_file(log));
    REQUIRE(dropped);
    CHECK(read_file(log).find("refused: out of descriptors receiving the client's socket (RLIMIT_NOFILE 64")
          != std::string::npos);
    CHECK(held.size() >= 10);
    CHECK(read_file(log).find("protocol error") == std::string::npos);

    // With room again, sessions are served, and none counted as a protocol
    // error. kvstored frees the ended sessions' descriptors once it has
    // noticed them, a moment after: a session is tried until one fits.
    held.resize(held.size() - 2);
    std::optional<KvsvcSession> probe;
    for (auto until = std::chrono::steady_clock::now() + 5s; !probe;) {
        KvsvcSession s = spawn_kvsvc(socket);
        std::string reply = try_connect(s);
        if (reply == "OK connected") {
            probe.emplace(std::move(s));
            continue;
        }
        INFO("after freeing two sessions: " << reply);
        REQUIRE(std::chrono::steady_clock::now() < until);
        std::this_thread::sleep_for(50ms);
    }
    probe->client.send("stats\n");
    CHECK(stat_value(probe->client.read_reply_block(), "protocol_errors") == "0");
    CHECK(probe->client.ask("save k:v") == "OK");
    CHECK(probe->client.ask("read k") == "VALUE v");
}
