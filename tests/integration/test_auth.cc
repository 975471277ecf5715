// test_auth.cc: authentication and rights in line sessions (issue 18) with a
// real kvstored and real kvsvc processes, handing off (the default) and
// relaying (--no-handoff): no users file changes nothing; `auth` with the
// right password, a wrong one (answered no sooner than 1 s) and an unknown
// user (the same answer); rights and key patterns; a user removed by a
// reload refused its next operation with the session kept; too many failures
// end the session; the failure log line fail2ban reads, with no password in
// the log; other sessions served while a check and its delay are pending.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <vector>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

// `echo -n 'correct horse' | mkpasswd -m yescrypt --stdin`.
const std::string kHorse = "$y$j9T$jeaCc/PB66e2pVleq61RI1$Cb9qhWsSUvlSf3ZeTN01bGcsnl16b0RNU.S8QBNmzF6";
const std::string kPassword = "correct horse";

std::string users_file(bool with_alice = true)
{
    std::string text = "# test users\n";
    if (with_alice)
        text += "alice:" + kHorse + ":read,write:app1.*\n";
    text += "reader:" + kHorse + ":read:\n";
    text += "ops:" + kHorse + ":read,write,admin-data:\n";
    return text;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// A kvsvc session that has read its greeting, without `connect`.
KvsvcSession greeted(const std::string& socket, bool relay)
{
    KvsvcSession s = spawn_kvsvc(socket, relay ? std::vector<std::string>{"--no-handoff"} : std::vector<std::string>{});
    REQUIRE(s.client.read_line() == greeting());
    return s;
}

// A session authenticated as `user` and connected.
KvsvcSession signed_in(const std::string& socket, bool relay, const std::string& user)
{
    KvsvcSession s = greeted(socket, relay);
    REQUIRE(s.client.ask("auth " + user + " " + kPassword, 10s) == "OK authenticated");
    REQUIRE(s.client.ask("connect") == "OK connected");
    return s;
}

}  // namespace

TEST_CASE("without a users file sessions are as before and auth says auth is off", "[auth]")
{
    TempDir dir;
    Daemon daemon(dir);
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = greeted(daemon.socket_path(), relay);
    CHECK(s.client.ask("connect") == "OK connected");
    CHECK(s.client.ask("save k:v") == "OK");
    CHECK(s.client.ask("read k") == "VALUE v");
    CHECK(s.client.ask("auth alice x").starts_with("ERR auth-off "));
    CHECK(s.client.ask("keys").starts_with("KEYS 1"));
}

TEST_CASE("with a users file a session must auth, a wrong password waits 1 s, rights and patterns hold", "[auth]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = [&] {
        RemoteHost remote("203.0.113.7");
        return greeted(daemon.socket_path(), relay);
    }();

    // Before auth: connect and data commands are refused; ping and help work.
    CHECK(s.client.ask("connect").starts_with("ERR auth-required "));
    CHECK(s.client.ask("read app1.k").starts_with("ERR auth-required "));
    CHECK(s.client.ask("ping") == "PONG");

    // A wrong password and an unknown user get the same answer, >= 1 s later.
    auto t0 = Clock::now();
    std::string wrong = s.client.ask("auth alice not-the-password", 10s);
    CHECK(seconds_since(t0) >= 1.0);
    CHECK(wrong == "ERR auth-failed invalid user name or password");
    t0 = Clock::now();
    CHECK(s.client.ask("auth mallory not-the-password", 10s) == wrong);
    CHECK(seconds_since(t0) >= 2.0);  // the second failure of the session waits longer
    CHECK(daemon.log_shows("auth failed for user 'alice' from 203.0.113.7 (attempt 1 of 5): wrong password"));
    CHECK(daemon.log_shows("auth failed for user 'mallory' from 203.0.113.7 (attempt 2 of 5): no such user"));
    CHECK(daemon.log().find("not-the-password") == std::string::npos);
    CHECK(s.client.ask("read app1.k").starts_with("ERR auth-required "));

    // The right password.
    CHECK(s.client.ask("auth alice " + kPassword, 10s) == "OK authenticated");
    CHECK(s.client.ask("connect") == "OK connected");
    CHECK(s.client.ask("save app1.k:v") == "OK");
    CHECK(s.client.ask("read app1.k") == "VALUE v");
    CHECK(s.client.ask("save other.key:v").starts_with("ERR no-permission user 'alice' may not use key 'other.key'"));
    CHECK(s.client.ask("read other.key").starts_with("ERR no-permission "));
    // Listing every key needs patterns covering every key or admin-data.
    CHECK(s.client.ask("keys").starts_with("ERR no-permission "));
    CHECK(daemon.log().find(kPassword) == std::string::npos);

    // A read-only user may read anything and write nothing.
    KvsvcSession r = signed_in(daemon.socket_path(), relay, "reader");
    CHECK(r.client.ask("read app1.k") == "VALUE v");
    CHECK(r.client.ask("save app1.k:w").starts_with("ERR no-permission user 'reader' may not write"));
    CHECK(r.client.ask("delete app1.k").starts_with("ERR no-permission "));
    CHECK(r.client.ask("keys").starts_with("KEYS 1"));
}

TEST_CASE("a user removed by a reload is refused its next operation and keeps the session", "[auth]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = signed_in(daemon.socket_path(), relay, "alice");
    CHECK(s.client.ask("save app1.k:v") == "OK");

    write_file(users, users_file(false));
    daemon.process().signal(SIGHUP);
    REQUIRE(daemon.log_shows("users reloaded from " + users + ": 2 users"));
    CHECK(s.client.ask("read app1.k").starts_with("ERR auth-required user 'alice' is no longer in the users file"));
    CHECK(s.client.ask("ping") == "PONG");
    // Another user's password opens the same session again.
    CHECK(s.client.ask("auth ops " + kPassword, 10s) == "OK authenticated");
    CHECK(s.client.ask("read app1.k") == "VALUE v");
}

TEST_CASE("five failed auth attempts end the session", "[auth]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = greeted(daemon.socket_path(), relay);
    for (int i = 1; i <= 4; ++i)
        CHECK(s.client.ask("auth alice wrong" + std::to_string(i), 10s)
              == "ERR auth-failed invalid user name or password");
    CHECK(
        s.client.ask("auth alice wrong5", 10s).starts_with("ERR auth-failed invalid user name or password; too many"));
    CHECK(s.client.read_line(5s) == "BYE too many failed auth attempts");
    CHECK(s.client.expect_eof(5s));
    CHECK(daemon.log_shows("(attempt 5 of 5)"));
}

TEST_CASE("other sessions are served while a password check and its delay are pending", "[auth]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    KvsvcSession other = signed_in(daemon.socket_path(), false, "ops");
    // Four checks at once: on the loop thread they would stall it for about
    // half a second (yescrypt: over 100 ms each here).
    std::vector<KvsvcSession> guessers;
    for (int i = 0; i < 4; ++i) {
        guessers.push_back(greeted(daemon.socket_path(), false));
        guessers.back().client.send("auth alice wrong\n");
    }
    // While those checks run and then wait their 1 s, the other session's
    // commands answer at once.
    double worst = 0;
    for (int i = 0; i < 20; ++i) {
        auto t0 = Clock::now();
        REQUIRE(other.client.ask("count").starts_with("COUNT "));
        worst = std::max(worst, seconds_since(t0));
        ::usleep(30'000);
    }
    CHECK(worst < 0.25);
    for (KvsvcSession& g : guessers)
        CHECK(g.client.read_line(10s) == "ERR auth-failed invalid user name or password");
}

namespace {

std::string resp(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args)
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

// Sends a command and reads exactly `expected.size()` bytes (or what came).
std::string redis_ask(LineClient& c, const std::vector<std::string>& args, const std::string& expected,
                      Millis timeout = 10s)
{
    c.send(resp(args));
    return c.read_bytes(expected.size(), timeout);
}

// A Redis-door session through kvsvc, handing off or relaying.
KvsvcSession redis_session(const std::string& socket, bool relay)
{
    std::vector<std::string> extra{"--protocol", "redis"};
    if (relay)
        extra.push_back("--no-handoff");
    return spawn_kvsvc(socket, extra);
}

}  // namespace

TEST_CASE("the Redis door asks for AUTH, answers WRONGPASS a second later, and checks rights and keys", "[auth][redis]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file() + "default:" + kHorse + ":read:\n");
    Daemon daemon(dir, {"--users", users});
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = redis_session(daemon.socket_path(), relay);
    LineClient& c = s.client;

    const std::string noauth = "-NOAUTH Authentication required.\r\n";
    CHECK(redis_ask(c, {"GET", "app1.k"}, noauth) == noauth);
    CHECK(redis_ask(c, {"PING"}, noauth) == noauth);
    const std::string wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    auto t0 = Clock::now();
    CHECK(redis_ask(c, {"AUTH", "alice", "nope"}, wrongpass) == wrongpass);
    CHECK(seconds_since(t0) >= 1.0);
    CHECK(redis_ask(c, {"AUTH", "alice", kPassword}, "+OK\r\n") == "+OK\r\n");
    CHECK(redis_ask(c, {"SET", "app1.k", "v"}, "+OK\r\n") == "+OK\r\n");
    const std::string nokey = "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    CHECK(redis_ask(c, {"SET", "other", "v"}, nokey) == nokey);
    const std::string nokeys = "-NOPERM this user has no permissions to run the 'keys' command\r\n";
    CHECK(redis_ask(c, {"KEYS", "*"}, nokeys) == nokeys);
    const std::string noflush = "-NOPERM this user has no permissions to run the 'flushall' command\r\n";
    CHECK(redis_ask(c, {"FLUSHALL"}, noflush) == noflush);

    // AUTH <password> is user default's (read only here); HELLO 3 AUTH switches protocol once right.
    CHECK(redis_ask(c, {"AUTH", kPassword}, "+OK\r\n") == "+OK\r\n");
    const std::string noset = "-NOPERM this user has no permissions to run the 'set' command\r\n";
    CHECK(redis_ask(c, {"SET", "app1.k", "w"}, noset) == noset);
    c.send(resp({"HELLO", "3", "AUTH", "ops", kPassword}));
    std::string hello = c.read_bytes(1, 10s);
    CHECK(hello == "%");  // a RESP3 map
    CHECK(daemon.log().find(kPassword) == std::string::npos);
    CHECK(daemon.log_shows("auth failed for user 'alice' from local (attempt 1 of 5): wrong password"));
}

// The password checkers take at most users::kMaxPassword bytes (1024, what
// `kvstored passwd` sets; the line protocol's `auth` refuses more itself):
// a longer one through the Redis door is a failed attempt without a check,
// and the session goes on.
TEST_CASE("a Redis AUTH password longer than 1024 bytes fails without a check and the right one still works",
          "[auth][redis]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    KvsvcSession s = redis_session(daemon.socket_path(), false);
    const std::string wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    CHECK(redis_ask(s.client, {"AUTH", "alice", std::string(1025, 'x')}, wrongpass) == wrongpass);
    CHECK(daemon.log_shows("(attempt 1 of 5): not checked: a password longer than 1024 bytes"));
    CHECK(redis_ask(s.client, {"AUTH", "alice", kPassword}, "+OK\r\n") == "+OK\r\n");
}

TEST_CASE("the Redis door answers an unknown user as a wrong password and refuses a user a reload removed",
          "[auth][redis]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay" : "handoff"));
    KvsvcSession s = redis_session(daemon.socket_path(), relay);
    LineClient& c = s.client;
    const std::string wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    CHECK(redis_ask(c, {"AUTH", "mallory", kPassword}, wrongpass) == wrongpass);
    CHECK(daemon.log_shows("auth failed for user 'mallory' from local (attempt 1 of 5): no such user"));
    CHECK(redis_ask(c, {"AUTH", "alice", kPassword}, "+OK\r\n") == "+OK\r\n");
    CHECK(redis_ask(c, {"SET", "app1.k", "v"}, "+OK\r\n") == "+OK\r\n");

    write_file(users, users_file(false));
    daemon.process().signal(SIGHUP);
    REQUIRE(daemon.log_shows("users reloaded from " + users + ": 2 users"));
    c.send(resp({"SET", "app1.k", "w"}));
    CHECK(c.read_line(10s).value_or("<none>").starts_with("-NOAUTH"));
    // The session stays: another user's password opens it again, and the write was refused.
    CHECK(redis_ask(c, {"AUTH", "ops", kPassword}, "+OK\r\n") == "+OK\r\n");
    CHECK(redis_ask(c, {"GET", "app1.k"}, "$1\r\nv\r\n") == "$1\r\nv\r\n");
}

// kvstored/auth_throttle.h: one address may cost at most 10 password checks a
// minute; its later attempts fail unchecked (a right password too), in every
// door, while other addresses are served.
TEST_CASE("an address that failed 10 times within a minute gets no check until the minute has passed", "[auth]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    auto from = [&](const char* host, std::vector<std::string> extra = {}) {
        RemoteHost remote(host);
        return spawn_kvsvc(daemon.socket_path(), extra);
    };
    std::vector<KvsvcSession> guessers;
    for (int i = 0; i < 10; ++i) {
        guessers.push_back(from("198.51.100.7"));
        REQUIRE(guessers.back().client.read_line() == greeting());
        guessers.back().client.send("auth alice guess-" + std::to_string(i) + "\n");
    }
    for (KvsvcSession& g : guessers)
        CHECK(g.client.read_line(20s) == "ERR auth-failed invalid user name or password");

    const std::string throttled = "ERR auth-failed too many failed passwords from this address; try again later";
    KvsvcSession blocked = from("198.51.100.7");
    REQUIRE(blocked.client.read_line() == greeting());
    CHECK(blocked.client.ask("auth alice " + kPassword, 10s) == throttled);
    CHECK(daemon.log_shows("auth failed for user 'alice' from 198.51.100.7 (attempt 1 of 5): not checked: too many "
                           "failed passwords from this address"));
    KvsvcSession redis = from("198.51.100.7", {"--protocol", "redis"});
    const std::string redis_throttled = "-ERR too many failed passwords from this address; try again later\r\n";
    CHECK(redis_ask(redis.client, {"AUTH", "alice", kPassword}, redis_throttled) == redis_throttled);

    KvsvcSession other = from("203.0.113.9");
    REQUIRE(other.client.read_line() == greeting());
    CHECK(other.client.ask("auth alice " + kPassword, 10s) == "OK authenticated");
}

// packaging/fail2ban: the shipped filter, beside Debian's common.conf as it is
// once copied to /etc/fail2ban/filter.d, finds the address of every failed
// auth in a real kvstored log, and nothing in its other lines (a success
// included); and the same line as syslog or the journal shows it.
TEST_CASE("packaging/fail2ban's filter finds the address of each failed auth in a real kvstored log", "[auth]")
{
    const std::string regex = "/usr/bin/fail2ban-regex";
    const std::string common = "/etc/fail2ban/filter.d/common.conf";
    INFO("fail2ban-regex or its common.conf is missing: scripts/deps installs fail2ban");
    REQUIRE(::access(regex.c_str(), X_OK) == 0);
    REQUIRE(::access(common.c_str(), R_OK) == 0);
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    // A failure from each address (as xinetd passes it to kvsvc), then a
    // success: only the failures are found.
    const std::pair<const char*, const char*> failures[]
        = {{"203.0.113.7", "auth alice wrong"}, {"2001:db8::7", "auth mallory x"}};
    for (const auto& [address, command] : failures) {
        KvsvcSession s = [&] {
            RemoteHost remote(address);
            return greeted(daemon.socket_path(), false);
        }();
        CHECK(s.client.ask(command, 10s) == "ERR auth-failed invalid user name or password");
        CHECK(s.client.ask("auth alice " + kPassword, 10s) == "OK authenticated");
    }
    REQUIRE(daemon.log_shows("authenticated as user 'alice'"));

    REQUIRE(::mkdir(dir.file("filter.d").c_str(), 0755) == 0);
    write_file(dir.file("filter.d/common.conf"), read_file(common));
    const std::string filter = dir.file("filter.d/kvstore.conf");
    write_file(filter, read_file(KVSTORE_TEST_DATA "/../../packaging/fail2ban/filter.d/kvstore.conf"));
    // fail2ban-regex -o ip: the addresses it finds in `log_text`, one a line.
    auto scan = [&](const std::string& log_text) {
        write_file(dir.file("scanned.log"), log_text);
        return run_program(regex, {"-o", "ip", dir.file("scanned.log"), filter});
    };
    {
        CliResult r = scan(daemon.log());
        INFO(r.describe() << "\nkvstored's log:\n" << daemon.log());
        CHECK(r.code == 0);
        CHECK(r.out == "203.0.113.7\n2001:db8::7\n");
    }
    CliResult r = scan("Dec  7 01:18:01 host kvstored[4242]: auth failed for user 'bob' from 2001:db8::1 (attempt 1 of "
                       "5): wrong password\n");
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "2001:db8::1\n");
}
