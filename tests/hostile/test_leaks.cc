// test_leaks.cc: kvsvc sessions under valgrind's memcheck: no invalid access,
// no use of uninitialised memory, no leak, whichever way the session ends.
// It runs kvsvc_memcheck, kvsvc's own objects linked with a dynamic libc:
// valgrind cannot check the static kvsvc that is shipped.
// (In the sanitizer build, LeakSanitizer checks every kvsvc of the suite at
// exit instead: valgrind cannot run ASan binaries, so this test is skipped.)
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "hostile.h"

using namespace kvtest;

namespace {

constexpr const char* kValgrind = "/usr/bin/valgrind";
constexpr int kValgrindFailed = 99;  // --error-exitcode: an error or a leak

// kvsvc under valgrind on a socketpair, as spawn_kvsvc() starts it bare.
KvsvcSession spawn_kvsvc_under_valgrind(const std::string& socket_path, const std::string& log_file)
{
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    KvsvcSession s;
    s.client = LineClient(sv[0]);
    s.process = Process(kValgrind,
                        {"--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                         "--errors-for-leak-kinds=definite,indirect", "--track-origins=yes",
                         "--error-exitcode=" + std::to_string(kValgrindFailed), "--log-file=" + log_file,
                         KVSVC_MEMCHECK_BIN, "--socket", socket_path},
                        Stdio{sv[1], sv[1], sv[1]});
    ::close(sv[1]);
    return s;
}

// What the client does; each ends the session a different way.
void normal_session(LineClient& c, Daemon&)
{
    CHECK(c.ask("connect", 20s) == "OK connected");
    CHECK(c.ask("save k:" + std::string(1000, 'v')) == "OK");
    CHECK(c.ask("read k") == "VALUE " + std::string(1000, 'v'));
    c.send("keys\nstats\nhelp\n");
    CHECK(c.read_reply_block().front() == "KEYS 1");
    CHECK(c.read_reply_block().front().rfind("STATS ", 0) == 0);
    CHECK(c.read_reply_block().front().rfind("HELP ", 0) == 0);
    CHECK(c.ask("bogus").rfind("ERR unknown-command", 0) == 0);
    c.send(std::string(70'000, 'x') + "\n");
    CHECK(c.read_line().value_or("").rfind("ERR too-long", 0) == 0);
    CHECK(c.ask("close") == "OK closed");
    CHECK(c.ask("connect", 20s) == "OK connected");
    CHECK(c.ask("exit") == "BYE");
}

void eof_with_commands_pending(LineClient& c, Daemon&)
{
    CHECK(c.ask("connect", 20s) == "OK connected");
    std::string burst;
    for (int i = 0; i < 200; ++i)
        burst += "save p" + std::to_string(i) + ":v\nread p" + std::to_string(i) + "\n";
    c.send(burst + "save last:no newline");
    c.shutdown_write();
    auto rest = c.read_to_eof(20s);
    CHECK(rest.has_value());
}

void kvstored_shuts_down(LineClient& c, Daemon& daemon)
{
    CHECK(c.ask("connect", 20s) == "OK connected");
    daemon.process().signal(SIGTERM);
    CHECK(c.read_line(10s) == "BYE kvstored is shutting down");
}

void kvstored_vanishes(LineClient& c, Daemon& daemon)
{
    CHECK(c.ask("connect", 20s) == "OK connected");  // the socket is now kvstored's
    daemon.kill_hard();
    CHECK(c.expect_eof(10s));  // kvsvc resets the connection: no BYE
    c.close();
}

}  // namespace

TEST_CASE("kvsvc sessions under valgrind: no memory error and no leak, however the session ends", "[hostile]")
{
#if defined(__SANITIZE_ADDRESS__)
    WARN("skipped in the sanitizer build: LeakSanitizer checks every kvsvc there");
    return;
#endif
    if (::access(kValgrind, X_OK) != 0) {
        WARN("skipped: valgrind is not installed (scripts/deps installs it)");
        return;
    }
    using Scenario = void (*)(LineClient&, Daemon&);
    auto [name, scenario] = GENERATE(table<const char*, Scenario>({
        {"a whole session, errors included", normal_session},
        {"EOF with commands pending", eof_with_commands_pending},
        {"kvstored shuts down", kvstored_shuts_down},
        {"kvstored is killed", kvstored_vanishes},
    }));
    INFO(name);
    TempDir dir;
    Daemon daemon(dir);
    const std::string log_file = dir.file("valgrind.log");
    KvsvcSession s = spawn_kvsvc_under_valgrind(daemon.socket_path(), log_file);
    REQUIRE(s.client.read_line(30s) == greeting());
    scenario(s.client, daemon);
    s.client.close();
    auto status = s.process.wait_exit(30s);
    INFO("valgrind's report:\n" << read_file(log_file));
    CHECK(exited_with(status, 0));
}
