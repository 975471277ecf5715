// test_memcache_auth.cc: authentication and rights in the memcached door
// (issue 18) with a real kvstored and real kvsvc --protocol memcache
// processes: memcached 1.6's -Y login (a `set` carrying "user password").
// The matrix for this door: no users file, the right password, a
// wrong one (answered no sooner than 1 s), an unknown user, no right for the
// key (CLIENT_ERROR permission denied), a user removed by a reload refused its
// next command with the session kept; and five failures end the session.
// tests/memcache/test_auth.py compares the replies with a real memcached -Y.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

// `echo -n 'horse-battery' | mkpasswd -m yescrypt --stdin`: memcached's login
// splits its data on spaces, so a password for this door has none.
const std::string kHash = "$y$j9T$JYFxRwPzXg06N6whxCdNu1$i0BQowVSZX23q5TO8CRzCopxcxUFPj0bhMtcGcTTdz4";
const std::string kPassword = "horse-battery";

std::string users_file(bool with_alice = true, const std::string& alice_rights = "read,write")
{
    std::string text = "# test users\n";
    if (with_alice)
        text += "alice:" + kHash + ":" + alice_rights + ":app1.*\n";
    text += "reader:" + kHash + ":read:\n";
    text += "ops:" + kHash + ":read,write,admin-data:\n";
    return text;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

KvsvcSession memcache_session(const Daemon& daemon)
{
    return spawn_kvsvc(daemon.socket_path(), {"--protocol", "memcache"});
}

// A `set` of `data` under `key`, as a memcached client logs in.
std::string set_line(const std::string& key, const std::string& data, const std::string& options = "")
{
    return "set " + key + " 0 0 " + std::to_string(data.size()) + options + "\r\n" + data + "\r\n";
}

std::string ask(KvsvcSession& s, const std::string& request, Millis timeout = 5s)
{
    s.client.send(request);
    return s.client.read_line(timeout).value_or("<nothing>");
}

std::string log_in(KvsvcSession& s, const std::string& user, const std::string& password)
{
    return ask(s, set_line("login", user + " " + password), 10s);
}

const std::string kStored = "STORED\r";
const std::string kUnauthenticated = "CLIENT_ERROR unauthenticated\r";
const std::string kFailure = "CLIENT_ERROR authentication failure\r";
const std::string kDenied = "CLIENT_ERROR permission denied\r";

}  // namespace

TEST_CASE("without a users file the memcached door serves everyone and a login set is a set", "[auth][memcache]")
{
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = memcache_session(daemon);
    CHECK(log_in(s, "alice", kPassword) == kStored);
    CHECK(ask(s, "get login\r\n") == "VALUE login 0 19\r");
    CHECK(s.client.read_line() == "alice " + kPassword + "\r");
    CHECK(s.client.read_line() == "END\r");
    CHECK(ask(s, "flush_all\r\n") == "OK\r");
}

TEST_CASE("the memcached door logs in with a set of user and password, a failure waits 1 s, rights and keys hold",
          "[auth][memcache]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    KvsvcSession s = [&] {
        RemoteHost remote("203.0.113.9");
        return memcache_session(daemon);
    }();

    // Before the login everything else is refused, and the session stays.
    CHECK(ask(s, "get app1.k\r\n") == kUnauthenticated);
    CHECK(ask(s, "version\r\n") == kUnauthenticated);
    CHECK(ask(s, "quit\r\n") == kUnauthenticated);
    CHECK(ask(s, "add app1.k 0 0 1\r\nv\r\n") == kUnauthenticated);
    CHECK(ask(s, "bogus\r\n") == kUnauthenticated);
    // Data that is not "user password" is no attempt: answered at once.
    CHECK(ask(s, set_line("k", "alice")) == "CLIENT_ERROR bad authentication token format\r");

    // A wrong password and an unknown user: the same answer, >= 1 s later.
    auto t0 = Clock::now();
    CHECK(log_in(s, "alice", "not-the-password") == kFailure);
    CHECK(seconds_since(t0) >= 1.0);
    t0 = Clock::now();
    CHECK(log_in(s, "mallory", "not-the-password") == kFailure);
    CHECK(seconds_since(t0) >= 2.0);  // the second failure of the session waits longer
    CHECK(daemon.log_shows("auth failed for user 'alice' from 203.0.113.9 (attempt 1 of 5): wrong password"));
    CHECK(daemon.log_shows("auth failed for user 'mallory' from 203.0.113.9 (attempt 2 of 5): no such user"));
    CHECK(ask(s, "get app1.k\r\n") == kUnauthenticated);

    // The right password (noreply ignored, as memcached does); nothing stored.
    CHECK(ask(s, set_line("login", "alice " + kPassword, " noreply"), 10s) == kStored);
    CHECK(ask(s, "get login\r\n") == kDenied);  // outside alice's keys
    CHECK(ask(s, set_line("app1.k", "v")) == kStored);
    CHECK(ask(s, "get app1.k\r\n") == "VALUE app1.k 0 1\r");
    CHECK(s.client.read_line() == "v\r");
    CHECK(s.client.read_line() == "END\r");
    CHECK(ask(s, "version\r\n").starts_with("VERSION "));

    // No right for the key: refused, nothing done.
    CHECK(ask(s, set_line("other", "v")) == kDenied);
    CHECK(ask(s, "get app1.k other\r\n") == kDenied);  // refused whole
    CHECK(ask(s, "delete other\r\n") == kDenied);
    CHECK(ask(s, "mg other v\r\n") == kDenied);
    CHECK(ask(s, "mg b3RoZXI= b v\r\n") == kDenied);  // "other" in base64
    CHECK(ask(s, "mg YXBwMS5r b v\r\n").starts_with("VA 1"));  // "app1.k" in base64
    CHECK(s.client.read_line() == "v\r");
    CHECK(ask(s, "flush_all\r\n") == kDenied);  // needs admin-data
    // noreply silences the refusal, as every memcached error.
    s.client.send(set_line("other", "v", " noreply"));
    CHECK(ask(s, "mn\r\n") == "MN\r");
    CHECK(daemon.log().find("not-the-password") == std::string::npos);
    CHECK(daemon.log().find(kPassword) == std::string::npos);

    // A read-only user reads, and may not write.
    KvsvcSession r = memcache_session(daemon);
    CHECK(log_in(r, "reader", kPassword) == kStored);
    CHECK(ask(r, "gets app1.k\r\n").starts_with("VALUE app1.k 0 1 "));
    CHECK(r.client.read_line() == "v\r");
    CHECK(r.client.read_line() == "END\r");
    CHECK(ask(r, set_line("app1.k", "w")) == kDenied);
    CHECK(ask(r, "incr app1.n 1\r\n") == kDenied);
    CHECK(ask(r, "touch app1.k 10\r\n") == kDenied);
    CHECK(ask(r, "gat 10 app1.k\r\n") == kDenied);

    // admin-data: flush_all.
    KvsvcSession o = memcache_session(daemon);
    CHECK(log_in(o, "ops", kPassword) == kStored);
    CHECK(ask(o, "flush_all\r\n") == "OK\r");
}

TEST_CASE("a memcached session whose user a reload removed is refused its next command and keeps the session",
          "[auth][memcache]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    KvsvcSession s = memcache_session(daemon);
    CHECK(log_in(s, "alice", kPassword) == kStored);
    CHECK(ask(s, set_line("app1.k", "v")) == kStored);

    // A right taken away: the next command that needs it is refused.
    write_file(users, users_file(true, "read"));
    daemon.process().signal(SIGHUP);
    REQUIRE(daemon.log_shows("users reloaded from " + users + ": 3 users"));
    CHECK(ask(s, set_line("app1.k", "w")) == kDenied);
    CHECK(ask(s, "get app1.k\r\n") == "VALUE app1.k 0 1\r");
    CHECK(s.client.read_line() == "v\r");
    CHECK(s.client.read_line() == "END\r");

    // The user removed: unauthenticated again, the session kept.
    write_file(users, users_file(false));
    daemon.process().signal(SIGHUP);
    REQUIRE(daemon.log_shows("users reloaded from " + users + ": 2 users"));
    CHECK(ask(s, "get app1.k\r\n") == kUnauthenticated);
    CHECK(log_in(s, "alice", kPassword) == kFailure);
    // Another user's password opens the same session again.
    CHECK(log_in(s, "ops", kPassword) == kStored);
    CHECK(ask(s, "get app1.k\r\n") == "VALUE app1.k 0 1\r");
}

TEST_CASE("five failed memcached logins end the session", "[auth][memcache]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file());
    Daemon daemon(dir, {"--users", users});
    KvsvcSession s = memcache_session(daemon);
    for (int i = 1; i <= 5; ++i)
        CHECK(log_in(s, "alice", "wrong" + std::to_string(i)) == kFailure);
    CHECK(s.client.expect_eof(5s));
    CHECK(daemon.log_shows("(attempt 5 of 5)"));
}
