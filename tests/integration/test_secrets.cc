// test_secrets.cc: a password leaves no copy behind (issue 18: "passwords
// never appear in any log, ps, core or stats"). kvstored, a long-lived
// process whose core an operator may take, wipes every buffer a password
// went through (common/secret.h): after sessions that authenticated through
// each door (line, Redis, memcached), handing off and relaying, with the
// right password and a wrong one, a core taken with gcore holds neither.
// So do the password checkers kvstored starts. kvsvc is not dumpable at all: no core, and no other kvsvc may read it.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

// `echo -n 'Quokka-Zebra-771-secret' | mkpasswd -m yescrypt --stdin`.
const std::string kHash = "$y$j9T$LQBcwQJg792UItjp3LBIw/$WxRv2mdw73j..o1yyTxV7BvCqQHZRflMfpxAiMUpju0";
const std::string kPassword = "Quokka-Zebra-771-secret";
const std::string kWrongPassword = "Wombat-Ibis-318-wrong";

size_t occurrences(const std::string& haystack, const std::string& needle)
{
    size_t count = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
        ++count;
    return count;
}

// A line session through kvsvc: a wrong password, then the right one, then a command.
void line_session(const std::string& socket, bool relay)
{
    KvsvcSession s = spawn_kvsvc(socket, relay ? std::vector<std::string>{"--no-handoff"} : std::vector<std::string>{});
    REQUIRE(s.client.read_line() == greeting());
    REQUIRE(s.client.ask("auth alice " + kWrongPassword, 10s).starts_with("ERR auth-failed "));
    REQUIRE(s.client.ask("auth alice " + kPassword, 10s) == "OK authenticated");
    REQUIRE(s.client.ask("connect") == "OK connected");
    REQUIRE(s.client.ask("save k:v") == "OK");
    REQUIRE(s.client.ask("exit") == "BYE");
}

std::string resp(std::initializer_list<std::string> args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args)
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

// A Redis session: AUTH with a wrong password, HELLO 3 AUTH with the right one, a SET.
void redis_session(const std::string& socket, bool relay)
{
    std::vector<std::string> args{"--protocol", "redis"};
    if (relay)
        args.push_back("--no-handoff");
    KvsvcSession s = spawn_kvsvc(socket, args);
    s.client.send(resp({"AUTH", "alice", kWrongPassword}));
    REQUIRE(s.client.read_line(10s).value_or("").starts_with("-WRONGPASS"));
    s.client.send(resp({"AUTH", "alice", kPassword}));
    REQUIRE(s.client.read_line(10s) == "+OK\r");
    s.client.send(resp({"SET", "k", "v"}));
    REQUIRE(s.client.read_line() == "+OK\r");
    s.client.send(resp({"QUIT"}));
    REQUIRE(s.client.read_line() == "+OK\r");
}

// A memcached session: a login `set` with a wrong password, then the right one, then a set.
void memcache_session(const std::string& socket, bool relay)
{
    std::vector<std::string> args{"--protocol", "memcache"};
    if (relay)
        args.push_back("--no-handoff");
    KvsvcSession s = spawn_kvsvc(socket, args);
    auto log_in = [&](const std::string& password) {
        std::string data = "alice " + password;
        s.client.send("set login 0 0 " + std::to_string(data.size()) + "\r\n" + data + "\r\n");
        return s.client.read_line(10s).value_or("<none>");
    };
    REQUIRE(log_in(kWrongPassword) == "CLIENT_ERROR authentication failure\r");
    REQUIRE(log_in(kPassword) == "STORED\r");
    s.client.send("set k 0 0 1\r\nv\r\n");
    REQUIRE(s.client.read_line() == "STORED\r");
    s.client.send("quit\r\n");
}

// A core of the running process `pid`, read whole.
std::string core_of(pid_t pid, const TempDir& dir)
{
    const std::string prefix = dir.file("core");
    CliResult r = run_program("/usr/bin/gcore", {"-o", prefix, std::to_string(pid)}, {}, 60s);
    INFO(r.describe());
    REQUIRE(r.code == 0);
    const std::string path = prefix + "." + std::to_string(pid);
    std::string core = read_file(path);
    std::filesystem::remove(path);
    return core;
}

}  // namespace

TEST_CASE("after auth through every door kvstored's memory holds no password", "[auth][secret]")
{
    // ASan reserves terabytes of shadow memory: no core of it is worth taking.
    if (kSanitizerBuild) {
        WARN("skipped in the sanitizer build: a core of an ASan process maps its shadow memory");
        return;
    }
    REQUIRE(std::filesystem::exists("/usr/bin/gcore"));  // package gdb (scripts/deps)
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, "alice:" + kHash + ":read,write:\n");
    Daemon daemon(dir, {"--users", users});
    for (bool relay : {false, true}) {
        line_session(daemon.socket_path(), relay);
        redis_session(daemon.socket_path(), relay);
        memcache_session(daemon.socket_path(), relay);
    }
    std::string core = core_of(daemon.process().pid(), dir);
    // The core is kvstored's: it holds the user's hash, which it keeps.
    REQUIRE(occurrences(core, kHash) >= 1);
    CHECK(occurrences(core, kPassword) == 0);
    CHECK(occurrences(core, kWrongPassword) == 0);
    CHECK(occurrences(daemon.log(), kPassword) + occurrences(daemon.log(), kWrongPassword) == 0);
    // Nor do the helpers that checked both (kvstored/password_checker.h).
    for (const char* name : {"kvstored-auth", "kvstored-auth-r"}) {
        INFO(name);
        pid_t helper = child_named(daemon.process().pid(), name);
        REQUIRE(helper > 0);
        std::string helper_core = core_of(helper, dir);
        REQUIRE(occurrences(helper_core, "--password-checker") >= 1);  // its argv: this is the helper's core
        CHECK(occurrences(helper_core, kPassword) == 0);
        CHECK(occurrences(helper_core, kWrongPassword) == 0);
    }
}

TEST_CASE("kvsvc is not dumpable so no core and no other kvsvc can read its memory", "[auth][secret]")
{
    // The owner of /proc/PID/status is root for a process that is not dumpable, its
    // own user otherwise: run kvsvc as another user than root to tell.
    std::vector<std::string> as_nobody;
    if (::geteuid() == 0)
        as_nobody = {"--reuid=65534", "--regid=65534", "--clear-groups"};
    std::vector<std::string> args = as_nobody;
    args.insert(args.end(), {kvsvc_bin(), "--socket", "/nonexistent/kvstored.sock"});
    KvsvcSession s = spawn_on_socketpair("/usr/bin/setpriv", args);
    REQUIRE(s.client.read_line() == greeting());  // setpriv has exec'd kvsvc, which has started
    struct stat st { };
    REQUIRE(::stat(("/proc/" + std::to_string(s.process.pid()) + "/status").c_str(), &st) == 0);
    uid_t kvsvc_uid = ::geteuid() == 0 ? 65534 : ::geteuid();
    INFO("kvsvc runs as uid " << kvsvc_uid << "; /proc/PID/status is owned by uid " << st.st_uid);
    CHECK(st.st_uid == 0);
}
