// test_auth_load.cc: authentication under load (issue 18), with a real
// kvstored and real kvsvc processes: more password checks at once than the
// check queue holds (kvstored/auth_worker.h, 64) are answered "busy" at once
// while other sessions are served, and the queue drains; and the users file
// reloaded (SIGHUP) many times, a bad file among them, while authenticated
// sessions of the line protocol and the Redis door, handed off and relayed,
// run operations without pause: no session drops, every operation is
// answered, users whose rights did not change are never refused, and one
// whose rights change is refused or served as each file says.
#include <catch2/catch.hpp>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

// `echo -n 'correct horse' | mkpasswd -m yescrypt --stdin`.
const std::string kHorse = "$y$j9T$jeaCc/PB66e2pVleq61RI1$Cb9qhWsSUvlSf3ZeTN01bGcsnl16b0RNU.S8QBNmzF6";
const std::string kPassword = "correct horse";
// kvstored/auth_worker.h's AuthWorker::kMaxPending.
constexpr size_t kMaxPending = 64;

const std::string kWrong = "ERR auth-failed invalid user name or password";
const std::string kBusy = "ERR auth-failed busy";

KvsvcSession greeted(const std::string& socket, std::vector<std::string> extra = {})
{
    KvsvcSession s = spawn_kvsvc(socket, std::move(extra));
    REQUIRE(s.client.read_line() == greeting());
    return s;
}

KvsvcSession signed_in(const std::string& socket, const std::string& user)
{
    KvsvcSession s = greeted(socket);
    REQUIRE(s.client.ask("auth " + user + " " + kPassword, 30s) == "OK authenticated");
    REQUIRE(s.client.ask("connect") == "OK connected");
    return s;
}

// kvstored's arguments for a users file in `dir` holding `lines`, written
// now (default: alice, read,write, every key).
std::vector<std::string> users_args(const TempDir& dir, const std::string& lines = "alice:" + kHorse + ":read,write:\n")
{
    const std::string users = dir.file("users");
    write_file(users, lines);
    return {"--users", users};
}

// How many times `text` occurs in `log`.
size_t occurrences(const std::string& log, const std::string& text)
{
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + text.size()))
        ++n;
    return n;
}

// Waits (at most 10 s) until kvstored's log holds `text` `n` times.
bool log_count_reaches(const Daemon& daemon, const std::string& text, size_t n)
{
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (occurrences(daemon.log(), text) < n) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// Field `n` of the stat line of thread `tid` of `pid` (proc(5): 19 is the
// nice value, 41 the scheduling policy), or nothing when the thread is not
// there.
std::optional<long> thread_stat(pid_t pid, const std::string& tid, int n)
{
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/task/" + tid + "/stat");
    size_t end = stat.rfind(')');
    if (end == std::string::npos)
        return std::nullopt;
    std::istringstream fields(stat.substr(end + 2));  // from field 3, the state
    std::string field;
    for (int i = 3; i <= n && fields >> field; ++i) {
        if (i == n)
            return std::stol(field);
    }
    return std::nullopt;
}

// kvstored's password checker named `name` (a child process,
// kvstored/password_checker.h), once it runs under that name: -1 if not
// within 10 s.
pid_t helper_named(Daemon& daemon, const std::string& name)
{
    for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;) {
        if (pid_t pid = child_named(daemon.process().pid(), name); pid > 0)
            return pid;
        std::this_thread::sleep_for(10ms);
    }
    return -1;
}

}  // namespace

// As many threads as cores spinning at the test's priority (kvstored's),
// until destroyed, 60 s at most: a machine with no idle CPU.
class Spinners {
public:
    Spinners()
    {
        for (unsigned i = 0; i < std::max(2u, std::thread::hardware_concurrency()); ++i) {
            threads_.emplace_back([this] {
                const auto end = std::chrono::steady_clock::now() + 60s;
                while (!stop_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < end) { }
            });
        }
        std::this_thread::sleep_for(200ms);  // they have the cores
    }
    ~Spinners() { stop_ = true; }

private:
    std::atomic<bool> stop_{false};
    std::vector<std::jthread> threads_;  // declared last: joined before stop_ goes
};

// A check takes tens of ms of CPU and 16 MiB: the sessions already in come
// first (kvstored/auth_worker.h: two helper processes, the checker at
// SCHED_IDLE, the rescuer 10 nice levels below the loop), and kvstored's
// own memory is not touched (password_checker.h). A helper holds nothing
// of kvstored's: no descriptor beyond stdin, stdout and stderr.
TEST_CASE("password checks run in two helper processes at SCHED_IDLE and 10 nice levels below the loop", "[auth]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir));
    KvsvcSession s = greeted(daemon.socket_path());
    REQUIRE(s.client.ask("auth alice " + kPassword, 30s) == "OK authenticated");

    const pid_t pid = daemon.process().pid();
    const std::string loop = std::to_string(pid);
    const pid_t checker = helper_named(daemon, "kvstored-auth");
    const pid_t rescuer = helper_named(daemon, "kvstored-auth-r");
    REQUIRE(checker > 0);
    REQUIRE(rescuer > 0);
    std::optional<long> loop_nice = thread_stat(pid, loop, 19);
    REQUIRE(loop_nice.has_value());
    CHECK(thread_stat(pid, loop, 41) == SCHED_OTHER);
    CHECK(thread_stat(checker, std::to_string(checker), 41) == SCHED_IDLE);
    CHECK(thread_stat(rescuer, std::to_string(rescuer), 41) == SCHED_OTHER);
    CHECK(thread_stat(rescuer, std::to_string(rescuer), 19) == std::min(19L, *loop_nice + 10));
    // No thread of kvstored's own runs checks.
    CHECK(std::distance(std::filesystem::directory_iterator("/proc/" + loop + "/task"),
                        std::filesystem::directory_iterator{})
          == 1);
    for (pid_t helper : {checker, rescuer}) {
        INFO("helper pid " << helper);
        std::vector<std::string> fds;
        for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(helper) + "/fd"))
            fds.push_back(fd.path().filename().string());
        std::sort(fds.begin(), fds.end());
        CHECK(fds == std::vector<std::string>{"0", "1", "2"});
    }
}

// A request as kvstored/password_checker.h's RequestHeader lays it out: the
// hash's and the password's sizes (two native uint32), then both.
std::string checker_request(const std::string& hash, const std::string& password)
{
    const uint32_t sizes[2] = {static_cast<uint32_t>(hash.size()), static_cast<uint32_t>(password.size())};
    return std::string(reinterpret_cast<const char*>(sizes), sizeof sizes) + hash + password;
}

// The helper on its own, as kvstored starts it: what it answers, and that
// it refuses (exit 1, saying why) what kvstored never sends.
TEST_CASE("kvstored --password-checker answers each check with one byte and refuses a malformed request", "[auth]")
{
    CliResult r = run_kvstored({"--password-checker"},
                               checker_request(kHorse, kPassword) + checker_request(kHorse, "correct horse!")
                                   + checker_request(kHorse, ""));
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "100");

    std::string too_long = checker_request(std::string(513, '$'), kPassword);
    r = run_kvstored({"--password-checker"}, too_long);
    CHECK(r.code == 1);
    CHECK(r.err.find("a malformed or cut request from kvstored") != std::string::npos);

    std::string cut = checker_request(kHorse, kPassword);
    r = run_kvstored({"--password-checker"}, cut.substr(0, cut.size() - 1));
    CHECK(r.code == 1);
    CHECK(r.out.empty());
}

// Whether `pid` is gone or a zombie (its exit is done), within `timeout`.
bool ends_within(pid_t pid, std::chrono::seconds timeout)
{
    for (auto end = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < end;) {
        std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        size_t paren = stat.rfind(')');
        if (paren == std::string::npos || stat.compare(paren + 2, 1, "Z") == 0)
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

// [serial]: a check must be in the checker's hands when it is killed, and
// Spinners (below) keep it there: at SCHED_IDLE it gets no CPU until the
// rescuer runs it. Killing the checker loses nothing: the rescuer answers
// the check, and another checker is started. (A killed checker's exit
// also runs at SCHED_IDLE: with the spinners on, it may take seconds, and
// kvstored starts the next one once it is over.)
TEST_CASE("a password checker killed with a check in its hands is replaced and the check answered", "[auth][serial]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir));
    KvsvcSession s = greeted(daemon.socket_path());
    const pid_t checker = helper_named(daemon, "kvstored-auth");
    REQUIRE(checker > 0);
    {
        Spinners spinners;
        s.client.send("auth alice " + kPassword + "\n");
        std::this_thread::sleep_for(300ms);
        REQUIRE(::kill(checker, SIGKILL) == 0);
        CHECK(s.client.read_line(40s) == "OK authenticated");
    }
    CHECK(daemon.log_shows("password checks: kvstored-auth ended (", 10s));
    CHECK(ends_within(checker, 10s));
    CHECK(helper_named(daemon, "kvstored-auth") > 0);  // the dying one is not listed (zombies are not)
    CHECK(s.client.ask("connect") == "OK connected");
}

// [serial]: it keeps every core busy for seconds. Checks run at SCHED_IDLE;
// with no idle CPU that thread gets about 0.3 % of a core (a check of 60
// ms: 20 s), so it is the rescuer that runs it after AuthWorker::kStarved
// (1 s), at nice +10.
TEST_CASE("with every core busy a login is still checked within seconds", "[auth][serial]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir));
    KvsvcSession s = greeted(daemon.socket_path());

    Spinners spinners;
    const auto start = std::chrono::steady_clock::now();
    std::string reply = s.client.ask("auth alice " + kPassword, 40s);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(reply == "OK authenticated");
    INFO("the login took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took < 10s);
}

// [serial]: as above. Exiting, kvstored kills its password checkers: it does
// not wait the 20 s a check could take at SCHED_IDLE, nor their exits.
// Both end.
TEST_CASE("with every core busy kvstored exits within seconds while a check is stuck", "[auth][serial]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir));
    // Named once they run (at SCHED_IDLE the checker would not, under the
    // spinners).
    const pid_t checker = helper_named(daemon, "kvstored-auth");
    const pid_t rescuer = helper_named(daemon, "kvstored-auth-r");
    REQUIRE(checker > 0);
    REQUIRE(rescuer > 0);
    auto spinners = std::make_unique<Spinners>();
    {
        // The session leaves at once (so the shutdown has no client to wait
        // for); its check, taken already, runs on.
        KvsvcSession s = greeted(daemon.socket_path());
        s.client.send("auth alice " + kPassword + "\n");
        std::this_thread::sleep_for(300ms);
    }
    const auto start = std::chrono::steady_clock::now();
    std::optional<int> status = daemon.terminate(30s);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(status.has_value());
    INFO("kvstored took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms to exit");
    CHECK(took < 3s);
    // Killed, not waited for: their own exits may wait for the spinners.
    spinners.reset();
    CHECK(ends_within(checker, 10s));
    CHECK(ends_within(rescuer, 10s));
}

// [serial]: a hundred kvsvc processes, then the checker busy for seconds.
TEST_CASE("password checks beyond the queue's 64 are answered busy, others are served, and the queue drains",
          "[auth][serial]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir, "alice:" + kHorse + ":read,write:\nops:" + kHorse + ":read,write:\n"));
    KvsvcSession other = signed_in(daemon.socket_path(), "ops");
    REQUIRE(other.client.ask("save k:v") == "OK");

    // A hundred sessions each send one wrong password at once: a check takes
    // tens of ms, so far fewer than 36 finish while the hundred arrive, and
    // more than 64 are pending.
    constexpr size_t kGuessers = 100;
    raise_fd_limit();
    std::vector<KvsvcSession> guessers;
    for (size_t i = 0; i < kGuessers; ++i)
        guessers.push_back(greeted(daemon.socket_path()));
    for (KvsvcSession& g : guessers)
        g.client.send("auth alice wrong\n");

    // The other session is served while the checks queue and run.
    CHECK(other.client.ask("read k", 10s) == "VALUE v");

    // Every guess is answered: checked and failed (after its check and a
    // 1 s delay) or refused at once as busy, never anything else.
    std::vector<size_t> busy;
    size_t failed = 0;
    for (size_t i = 0; i < kGuessers; ++i) {
        std::string reply = guessers[i].client.read_line(60s).value_or("<no reply within 60 s>");
        if (reply.starts_with(kBusy)) {
            busy.push_back(i);
        } else {
            INFO("guesser " << i);
            CHECK(reply == kWrong);
            failed += reply == kWrong;
        }
    }
    INFO(busy.size() << " busy, " << failed << " failed");
    CHECK(!busy.empty());
    CHECK(failed >= kMaxPending);
    CHECK(busy.size() + failed == kGuessers);
    CHECK(daemon.log_shows("password checks already pending"));
    CHECK(daemon.process().running());
    CHECK(other.client.ask("read k") == "VALUE v");

    // Drained: a session refused as busy was not counted a failure, and its
    // right password now succeeds, as does a guesser's after its failure.
    for (size_t i : busy) {
        INFO("busy guesser " << i);
        CHECK(guessers[i].client.ask("auth alice " + kPassword, 30s) == "OK authenticated");
        CHECK(guessers[i].client.ask("read k") == "VALUE v");
    }
    size_t first_failed = 0;
    while (std::find(busy.begin(), busy.end(), first_failed) != busy.end())
        ++first_failed;
    REQUIRE(first_failed < kGuessers);
    CHECK(guessers[first_failed].client.ask("auth alice " + kPassword, 30s) == "OK authenticated");
}

// kvstored/auth_throttle.h's familiar addresses: a storm from a hundred
// addresses (which the count per address cannot stop) fills the queue, yet
// an address that logged in before is checked ahead of it (where it would
// otherwise be answered busy, or wait for the whole queue). [serial]: a
// hundred kvsvc processes, then the checker busy for seconds.
TEST_CASE("during a storm from many addresses one that logged in before is still let in", "[auth][serial]")
{
    TempDir dir;
    Daemon daemon(dir, users_args(dir));
    auto from = [&](const std::string& host) {
        RemoteHost remote(host);
        return greeted(daemon.socket_path());
    };
    {
        KvsvcSession s = from("192.0.2.10");
        REQUIRE(s.client.ask("auth alice " + kPassword, 30s) == "OK authenticated");
    }

    raise_fd_limit();
    std::vector<KvsvcSession> guessers;
    for (int i = 1; i <= 100; ++i)
        guessers.push_back(from("198.51.100." + std::to_string(i)));
    for (KvsvcSession& g : guessers)
        g.client.send("auth alice wrong\n");
    REQUIRE(log_count_reaches(daemon, "password checks already pending", 1));

    KvsvcSession known = from("192.0.2.10");
    CHECK(known.client.ask("auth alice " + kPassword, 30s) == "OK authenticated");
    for (KvsvcSession& g : guessers) {
        std::string reply = g.client.read_line(60s).value_or("<no reply within 60 s>");
        CHECK((reply == kWrong || reply.starts_with(kBusy)));
    }
    // The known address went ahead of the queue: few of the storm's checks
    // (each logged as it ends) ran before its own, the rest after it.
    const std::string log = daemon.log();
    const std::string failure = "auth failed for user 'alice' from 198.51.100.";
    size_t known_login = log.find("authenticated as user 'alice' from 192.0.2.10");
    known_login = log.find("authenticated as user 'alice' from 192.0.2.10", known_login + 1);
    REQUIRE(known_login != std::string::npos);
    size_t before = occurrences(log.substr(0, known_login), failure);
    size_t after = occurrences(log.substr(known_login), failure);
    INFO(before << " storm checks before the known address's, " << after << " after");
    CHECK(before < 16);
    CHECK(after >= 32);
}

// The familiar addresses' reserve (kvstored/auth_worker.h, 16 places beyond
// the 64) is a bound too: a hundred checks at once from one familiar address
// (the per-address limit off) fill 80 places, and the rest are busy.
// [serial]: a hundred kvsvc processes, then the checker busy for seconds.
TEST_CASE("familiar addresses get 16 places beyond the queue's 64 and no more", "[auth][serial]")
{
    TempDir dir;
    std::vector<std::string> args = users_args(dir);
    args.insert(args.end(), {"--auth-failures-per-address", "0"});
    Daemon daemon(dir, args);
    RemoteHost remote("192.0.2.10");
    {
        KvsvcSession s = greeted(daemon.socket_path());
        REQUIRE(s.client.ask("auth alice " + kPassword, 30s) == "OK authenticated");
    }
    raise_fd_limit();
    std::vector<KvsvcSession> guessers;
    for (int i = 0; i < 100; ++i)
        guessers.push_back(greeted(daemon.socket_path()));
    for (KvsvcSession& g : guessers)
        g.client.send("auth alice wrong\n");

    size_t busy = 0;
    size_t failed = 0;
    for (KvsvcSession& g : guessers) {
        std::string reply = g.client.read_line(60s).value_or("<no reply within 60 s>");
        busy += reply.starts_with(kBusy);
        failed += reply == kWrong;
        CHECK((reply == kWrong || reply.starts_with(kBusy)));
    }
    INFO(busy << " busy, " << failed << " failed");
    CHECK(busy > 0);
    CHECK(failed >= kMaxPending + 16);
}

namespace {

// alice and bob keep their rights in every file; carol may write in file A
// and only read in file B; the bad file has one line without ':'.
std::string users_file(bool carol_writes)
{
    return "alice:" + kHorse + ":read,write:app1.*\n" + "bob:" + kHorse + ":read,write:\n" + "carol:" + kHorse
        + (carol_writes ? ":read,write:\n" : ":read:\n");
}
const std::string kBadUsers = "alice:" + kHorse + ":read,write:app1.*\nmallory\n";

std::string resp(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args)
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

// One authenticated session running operations on its own thread until
// told to stop. Catch's assertions are not thread-safe: a worker records the
// first thing that went wrong, and the test checks it after join().
struct Worker {
    std::string name;
    bool redis = false;
    KvsvcSession session;
    std::atomic<uint64_t> ops{0};
    std::string problem;  // empty while every reply was the expected one

    // One write and one read of its own key; false (problem set) on any other reply.
    bool round(uint64_t i)
    {
        std::string key = "app1." + name + "." + std::to_string(i % 8);
        std::string value = "v" + std::to_string(i);
        if (redis)
            return expect_redis({"SET", key, value}, "+OK\r\n")
                && expect_redis({"GET", key}, "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n");
        return expect_line("save " + key + ":" + value, "OK") && expect_line("read " + key, "VALUE " + value);
    }
    bool expect_line(const std::string& request, const std::string& expected)
    {
        std::string reply = session.client.ask(request, 10s);
        return note(request, reply, expected);
    }
    bool expect_redis(const std::vector<std::string>& args, const std::string& expected)
    {
        session.client.send(resp(args));
        return note(args[0], session.client.read_bytes(expected.size(), 10s), expected);
    }
    bool note(const std::string& request, const std::string& reply, const std::string& expected)
    {
        if (reply == expected) {
            ++ops;
            return true;
        }
        problem = name + ": '" + request + "' answered '" + reply + "', expected '" + expected + "'";
        return false;
    }
    void run(const std::atomic<bool>& stop)
    {
        try {
            for (uint64_t i = 0; !stop && round(i); ++i) { }
        } catch (const std::exception& e) {
            problem = name + ": " + e.what();
        }
    }
};

std::unique_ptr<Worker> start_worker(const std::string& socket, const std::string& user, bool redis, bool relay)
{
    auto w = std::make_unique<Worker>();
    w->name = user + (redis ? "-redis" : "-line") + (relay ? "-relay" : "-handoff");
    w->redis = redis;
    std::vector<std::string> extra;
    if (redis)
        extra = {"--protocol", "redis"};
    if (relay)
        extra.push_back("--no-handoff");
    w->session = spawn_kvsvc(socket, extra);
    LineClient& c = w->session.client;
    if (redis) {
        c.send(resp({"AUTH", user, kPassword}));
        REQUIRE(c.read_bytes(5, 30s) == "+OK\r\n");
    } else {
        REQUIRE(c.read_line() == greeting());
        REQUIRE(c.ask("auth " + user + " " + kPassword, 30s) == "OK authenticated");
        REQUIRE(c.ask("connect") == "OK connected");
    }
    return w;
}

}  // namespace

TEST_CASE("the users file reloaded 32 times under load drops no session and refuses only whom it should",
          "[auth][users]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_file(true));
    Daemon daemon(dir, {"--users", users});

    // alice and bob, through each door, handed off and relayed.
    std::vector<std::unique_ptr<Worker>> workers;
    for (const char* user : {"alice", "bob"})
        for (bool redis : {false, true})
            for (bool relay : {false, true})
                workers.push_back(start_worker(daemon.socket_path(), user, redis, relay));
    // carol's session probes her rights after each reload, from this thread.
    KvsvcSession carol = signed_in(daemon.socket_path(), "carol");
    REQUIRE(carol.client.ask("save app1.carol:v") == "OK");

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& w : workers)
        threads.emplace_back([&w, &stop] { w->run(stop); });
    // Every worker is under way before the first reload.
    std::vector<uint64_t> ops_before;
    // Waits (at most 10 s) until every worker has answered another operation
    // since `ops_before`: the load goes on between any two reloads.
    auto all_moved_on = [&] {
        for (int i = 0; i < 1000; ++i) {
            bool moved = true;
            for (size_t k = 0; k < workers.size(); ++k)
                moved = moved && (workers[k]->ops > ops_before[k] || !workers[k]->problem.empty());
            if (moved)
                return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    };
    auto snapshot = [&] {
        ops_before.clear();
        for (auto& w : workers)
            ops_before.push_back(w->ops);
    };
    snapshot();
    REQUIRE(all_moved_on());
    std::vector<uint64_t> ops_at_start(ops_before);

    // 8 rounds of: carol loses write, a bad file, carol gets write back, a bad file.
    const std::string reloaded = "users reloaded from " + users;
    const std::string refused = "users reload refused";
    size_t reloads = 0, refusals = 0;
    for (int round = 0; round < 8; ++round) {
        for (int step = 0; step < 4; ++step) {
            bool carol_writes = step >= 2;  // file B at steps 0-1, file A at steps 2-3
            bool bad = step % 2 == 1;
            write_file(users, bad ? kBadUsers : users_file(carol_writes));
            daemon.process().signal(SIGHUP);
            INFO("round " << round << ", step " << step);
            if (bad)
                REQUIRE(log_count_reaches(daemon, refused, ++refusals));
            else
                REQUIRE(log_count_reaches(daemon, reloaded, ++reloads));
            // The bad file changed nothing: carol's rights are the last good file's.
            std::string reply = carol.client.ask("save app1.carol:v", 10s);
            if (carol_writes)
                CHECK(reply == "OK");
            else
                CHECK(reply.starts_with("ERR no-permission "));
            CHECK(carol.client.ask("read app1.carol", 10s).starts_with("VALUE "));
            snapshot();
            REQUIRE(all_moved_on());
        }
    }
    stop = true;
    for (std::thread& t : threads)
        t.join();

    CHECK(occurrences(daemon.log(), reloaded) == 16);
    for (size_t i = 0; i < workers.size(); ++i) {
        Worker& w = *workers[i];
        INFO(w.name << ": " << w.ops << " operations, " << ops_at_start[i] << " before the first reload");
        CHECK(w.problem == "");  // shows what went wrong
        CHECK(w.ops > ops_at_start[i] + 32);  // it ran between every two reloads
        // Its session is still there.
        if (w.redis) {
            w.session.client.send(resp({"PING"}));
            CHECK(w.session.client.read_bytes(7, 10s) == "+PONG\r\n");
        } else {
            CHECK(w.session.client.ask("ping", 10s) == "PONG");
        }
    }
    CHECK(daemon.process().running());
}
