// test_expiry_atomic.cc: issue 14 as a client sees it, through the deployed
// chain (a TCP client -> a private xinetd -> kvsvc -> kvstored): entries
// that expire (real deadlines, waited for with bounded polls), atomic updates
// raced by many clients at once (counters, a lock, compare-and-set retry
// loops), `--when-full evict` and `refuse`, and deadlines and atomic updates
// across restarts with --db. Only the line protocol is used (and, to count
// the rows of a stopped kvstored's database, SQLite).
//
// Many clients are driven from one thread with poll(), as in
// test_concurrency.cc: their commands are in flight at kvstored together, so
// every interleaving kvstored allows can happen; what is checked holds for
// all of them.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "kvstore.h"
#include "xinetd.h"

using namespace kvtest;

namespace {

using Clock = std::chrono::steady_clock;
using Lines = std::vector<std::string>;

Millis left(Clock::time_point deadline)
{
    return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

long long ms_since(Clock::time_point t)
{
    return std::chrono::duration_cast<Millis>(Clock::now() - t).count();
}

// How kvsvc serves a session once connected: it hands the client's socket to
// kvstored (the default), or relays every command (--no-handoff). An atomic
// update must be atomic either way.
enum class Path { handoff, relay };

const char* path_name(Path path)
{
    return path == Path::relay ? "relay (--no-handoff)" : "handoff";
}

// kvstored with `args` on DIR/kvstored.sock and a private xinetd serving kvsvc
// in front of it on a free port of 127.0.0.1, as deployed.
struct Stack {
    Daemon daemon;
    PrivateXinetd xinetd;

    Stack(const TempDir& dir, std::vector<std::string> args, Path path = Path::handoff)
        : daemon(dir, std::move(args)), xinetd(dir, free_tcp_port(), service(daemon.socket_path(), path))
    {
    }

    static XinetdOptions service(const std::string& socket, Path path)
    {
        XinetdOptions o = kvsvc_service(socket);
        if (path == Path::relay)
            o.server_args += " --no-handoff";
        return o;
    }

    // A new TCP session, greeted and connected.
    LineClient connected()
    {
        LineClient c = xinetd.client();
        REQUIRE(c.ask("connect") == "OK connected");
        return c;
    }

    std::vector<LineClient> connected(size_t n)
    {
        std::vector<LineClient> clients;
        for (size_t i = 0; i < n; ++i)
            clients.push_back(connected());
        return clients;
    }

    // SIGTERM (kvstored commits and exits 0), then the same command line again.
    void restart()
    {
        stop();
        start();
    }
    void stop()
    {
        auto status = daemon.terminate();
        INFO("kvstored log:\n" << daemon.log());
        REQUIRE(exited_with(status, 0));
    }
    void start() { daemon.restart(); }
};

Lines stats(LineClient& c)
{
    c.send("stats\n");
    return c.read_reply_block();
}

uint64_t stat_number(const Lines& block, const std::string& name)
{
    std::string v = stat_value(block, name);
    INFO("stats has no number '" << name << "': " << (block.empty() ? "no reply" : block.front()));
    REQUIRE((!v.empty() && v.find_first_not_of("0123456789") == std::string::npos));
    return std::stoull(v);
}

std::vector<std::string> listing(LineClient& c)
{
    c.send("keys\n");
    Listing l = c.read_listing(10s);
    INFO("keys: " << l.error);
    REQUIRE(l.complete);
    return l.keys;
}

// "TTL <n>" -> n; -1 for anything else.
long long ttl_seconds(const std::string& reply)
{
    if (!reply.starts_with("TTL ") || reply.size() > 24)
        return -1;
    std::string n = reply.substr(4);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    return std::stoll(n);
}

// "VALUE <version> <value>", the reply to `gets`.
struct Versioned {
    uint64_t version = 0;
    std::string value;
};

std::optional<Versioned> parse_gets(const std::string& reply)
{
    if (!reply.starts_with("VALUE "))
        return std::nullopt;
    size_t space = reply.find(' ', 6);
    std::string version = reply.substr(6, space == std::string::npos ? std::string::npos : space - 6);
    if (space == std::string::npos || version.empty() || version.size() > 20
        || version.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return Versioned{std::stoull(version), reply.substr(space + 1)};
}

// "VALUE <n>", the reply to incr/decr; nullopt for anything else.
std::optional<long long> parse_counter(const std::string& reply)
{
    if (!reply.starts_with("VALUE ") || reply.size() > 26)
        return std::nullopt;
    std::string n = reply.substr(6);
    size_t digits = n.starts_with('-') ? 1 : 0;
    if (n.size() == digits || n.find_first_not_of("0123456789", digits) != std::string::npos)
        return std::nullopt;
    return std::stoll(n);
}

// Waits (at most `wait`) until some client has input, and reads it.
void pump_ready(std::vector<LineClient>& clients, Millis wait)
{
    std::vector<pollfd> fds;
    for (auto& c : clients)
        fds.push_back(pollfd{c.eof() ? -1 : c.fd(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) <= 0)
        return;
    for (size_t i = 0; i < clients.size(); ++i)
        if (fds[i].revents)
            clients[i].pump();
}

// The next `n` reply lines of every client, all within `timeout`; a client
// that ended or took too long has fewer.
std::vector<Lines> gather(std::vector<LineClient>& clients, size_t n, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    std::vector<Lines> got(clients.size());
    auto all_done = [&] {
        for (size_t i = 0; i < clients.size(); ++i) {
            while (got[i].size() < n) {
                auto line = clients[i].buffered_line();
                if (!line)
                    break;
                got[i].push_back(std::move(*line));
            }
            if (got[i].size() < n && !clients[i].eof())
                return false;
        }
        return true;
    };
    while (!all_done() && Clock::now() < deadline)
        pump_ready(clients, std::min(left(deadline), Millis(100)));
    return got;
}

// Polls `exists key` every 20 ms until NO (at most until `give_up`). True
// when the key is gone.
bool wait_gone(LineClient& c, const std::string& key, Clock::time_point give_up)
{
    for (;;) {
        std::string reply = c.ask("exists " + key);
        if (reply == "NO")
            return true;
        INFO("exists " << key);
        REQUIRE(reply == "YES");
        if (Clock::now() >= give_up)
            return false;
        std::this_thread::sleep_for(20ms);
    }
}

// The rows of table kv in a database kvstored no longer runs on.
long long db_rows(const std::string& path)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    long long rows = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, nullptr) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        rows = sqlite3_column_int64(st, 0);
    INFO("counting the rows of " << path << ": " << sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    REQUIRE(rows >= 0);
    return rows;
}

}  // namespace

// ---------------------------------------------------------------- expiry

TEST_CASE("ttl: a key saved with ttl 1 is gone after 1 s for every command, and what keeps or clears a deadline",
          "[issue14][expiry]")
{
    TempDir dir;
    Stack s(dir, {"--capacity", "100"});
    LineClient c = s.connected();

    // Keys that outlive the wait, and the plain ttl/expire/persist replies.
    CHECK(c.ask("save plain:p") == "OK");
    CHECK(c.ask("ttl plain") == "TTL none");
    CHECK(c.ask("ttl missing") == "NOT_FOUND");
    CHECK(c.ask("persist missing") == "NOT_FOUND");
    CHECK(c.ask("expire missing 10") == "NOT_FOUND");
    CHECK(c.ask("save ttl 100 hundred:h") == "OK");
    CHECK(c.ask("ttl hundred") == "TTL 100");  // 99.99... s left: rounded up
    CHECK(c.ask("save ttl 3153600000 century:c") == "OK");
    CHECK(c.ask("ttl century") == "TTL 3153600000");
    CHECK(c.ask("persist plain") == "OK");  // no deadline to drop: still there
    CHECK(c.ask("ttl plain") == "TTL none");

    // expire with 0 or less deletes at once.
    CHECK(c.ask("save zero:z") == "OK");
    CHECK(c.ask("expire zero 0") == "OK");
    CHECK(c.ask("read zero") == "NOT_FOUND");
    CHECK(c.ask("save negative:n") == "OK");
    CHECK(c.ask("expire negative -5") == "OK");
    CHECK(c.ask("exists negative") == "NO");

    // One wait for all the ttl-1 keys: `gone` must disappear, `kept` must not.
    auto saved = Clock::now();
    CHECK(c.ask("save ttl 1 first:1") == "OK");
    CHECK(c.ask("ttl first") == "TTL 1");
    CHECK(c.ask("read first") == "VALUE 1");
    CHECK(c.ask("exists first") == "YES");
    std::vector<std::string> gone = {"first"};
    std::vector<std::pair<std::string, std::string>> kept;  // key, its VALUE reply after the wait

    // A lock with a deadline: taken, refused, and free again once expired.
    CHECK(c.ask("add ttl 1 lock:one") == "OK");
    CHECK(c.ask("add lock:two") == "EXISTS");
    // persist drops the deadline; expire sets a new one; a plain save clears it.
    CHECK(c.ask("save ttl 1 persisted:x") == "OK");
    CHECK(c.ask("persist persisted") == "OK");
    CHECK(c.ask("ttl persisted") == "TTL none");
    kept.emplace_back("persisted", "VALUE x");
    CHECK(c.ask("save ttl 1 extended:x") == "OK");
    CHECK(c.ask("expire extended 100") == "OK");
    CHECK(c.ask("ttl extended") == "TTL 100");
    kept.emplace_back("extended", "VALUE x");
    CHECK(c.ask("save ttl 1 overwritten:1") == "OK");
    CHECK(c.ask("save overwritten:2") == "OK");
    CHECK(c.ask("ttl overwritten") == "TTL none");
    kept.emplace_back("overwritten", "VALUE 2");
    // incr and append keep the deadline; replace and cas with ttl set one.
    CHECK(c.ask("save ttl 1 counter:5") == "OK");
    CHECK(c.ask("incr counter") == "VALUE 6");
    CHECK(c.ask("ttl counter") == "TTL 1");
    gone.push_back("counter");
    CHECK(c.ask("save ttl 1 appended:x") == "OK");
    CHECK(c.ask("append appended:y") == "OK");
    CHECK(c.ask("read appended") == "VALUE xy");
    CHECK(c.ask("ttl appended") == "TTL 1");
    gone.push_back("appended");
    CHECK(c.ask("save replaced:1") == "OK");
    CHECK(c.ask("replace ttl 1 replaced:2") == "OK");
    gone.push_back("replaced");
    CHECK(c.ask("save swapped:1") == "OK");
    auto v = parse_gets(c.ask("gets swapped"));
    REQUIRE(v);
    CHECK(v->value == "1");
    CHECK(c.ask("cas " + std::to_string(v->version) + " ttl 1 swapped:2") == "OK");
    CHECK(c.ask("ttl swapped") == "TTL 1");
    gone.push_back("swapped");
    gone.push_back("lock");
    CHECK(c.ask("count") == "COUNT " + std::to_string(3 + gone.size() + kept.size()) + " 100");

    // The first key: still there half-way, gone within 2 s of its save; never
    // before 1 s (a NO seen at t means kvstored's clock passed the deadline,
    // which is at least 1 s after `saved`; 10 ms for clock granularity).
    std::this_thread::sleep_for(Millis(std::max(0LL, 500 - ms_since(saved))));
    CHECK(c.ask("read first") == "VALUE 1");
    REQUIRE(wait_gone(c, "first", saved + 3s));
    long long after = ms_since(saved);
    INFO("the key saved with ttl 1 was gone after " << after << " ms");
    CHECK(after >= 990);
    CHECK(after <= 2000);
    WARN("ttl 1: gone after " << after << " ms");
    for (const auto& key : gone) {
        INFO(key);
        CHECK(wait_gone(c, key, saved + 3s));
    }

    // Gone for every command.
    CHECK(c.ask("read first") == "NOT_FOUND");
    CHECK(c.ask("ttl first") == "NOT_FOUND");
    CHECK(c.ask("gets first") == "NOT_FOUND");
    CHECK(c.ask("persist first") == "NOT_FOUND");
    CHECK(c.ask("expire first 100") == "NOT_FOUND");
    CHECK(c.ask("take first") == "NOT_FOUND");
    CHECK(c.ask("replace first:again") == "NOT_FOUND");
    CHECK(c.ask("read counter") == "NOT_FOUND");
    CHECK(c.ask("incr counter") == "VALUE 1");  // counts from 0 again, without a deadline
    CHECK(c.ask("ttl counter") == "TTL none");
    CHECK(c.ask("add lock:two") == "OK");  // the expired lock is free
    CHECK(c.ask("ttl lock") == "TTL none");
    for (const auto& [key, reply] : kept) {
        INFO(key);
        CHECK(c.ask("read " + key) == reply);
    }
    long long extended = ttl_seconds(c.ask("ttl extended"));
    CHECK(extended >= 97);
    CHECK(extended <= 100);

    std::vector<std::string> expected
        = {"century", "counter", "extended", "hundred", "lock", "overwritten", "persisted", "plain"};
    CHECK(listing(c) == expected);
    CHECK(c.ask("count") == "COUNT " + std::to_string(expected.size()) + " 100");
    Lines st = stats(c);
    CHECK(stat_number(st, "entries") == expected.size());
    // Commands of each kind, whatever their reply (as `reads` counts misses).
    CHECK(stat_number(st, "expires") == 5);
    CHECK(stat_number(st, "persists") == 4);
}

// ---------------------------------------------------------------- atomic updates under concurrency

// sync (issue 17's strong read) needs the etcd backend to mean anything; on
// SQLite and in memory it answers at once with revision 0, in order with the
// replies around it, handed off or relayed.
TEST_CASE("sync answers OK synced 0 without etcd and keeps its place among the replies handed off or relayed",
          "[issue17][sync]")
{
    Path path = GENERATE(Path::handoff, Path::relay);
    INFO(path_name(path));
    TempDir dir;
    Stack s(dir, {"--capacity", "10", "--db", dir.path() + "/store.db", "--sync", "always"}, path);
    LineClient c = s.connected();
    CHECK(c.ask("sync") == "OK synced 0");
    CHECK(c.ask("SYNC") == "OK synced 0");
    CHECK(c.ask("sync now") == "ERR syntax usage: sync");
    // Pipelined behind writes held for the disk (--sync always), its reply keeps its place.
    c.send("save a:1\nsync\nread a\nsync\n");
    Lines got = c.read_lines(4, 10s);
    CHECK(got == Lines{"OK", "OK synced 0", "VALUE 1", "OK synced 0"});
}

TEST_CASE("incr/decr: 16 concurrent clients lose no increment", "[issue14][atomic]")
{
    Path path = GENERATE(Path::handoff, Path::relay);
    INFO(path_name(path));
    constexpr size_t kClients = 16;
    constexpr size_t kIncrs = 250;  // each, pipelined
    constexpr size_t kPairs = 100;  // each: incr by 7 and decr by 3
    TempDir dir;
    Stack s(dir, {"--capacity", "100"}, path);
    auto clients = s.connected(kClients);

    for (auto& c : clients) {
        std::string burst;
        for (size_t i = 0; i < kIncrs; ++i)
            burst += "incr hits\n";
        c.send(burst);
    }
    auto replies = gather(clients, kIncrs, 60s);
    // Each incr returns the value it made: all of 1..16*250, each once.
    std::vector<long long> seen;
    for (size_t i = 0; i < kClients; ++i) {
        INFO("client " << i << " got " << replies[i].size() << " of " << kIncrs << " replies");
        REQUIRE(replies[i].size() == kIncrs);
        long long previous = 0;
        for (const auto& line : replies[i]) {
            auto n = parse_counter(line);
            INFO("reply '" << line << "'");
            REQUIRE(n);
            CHECK(*n > previous);  // one client's increments are applied in order
            previous = *n;
            seen.push_back(*n);
        }
    }
    std::sort(seen.begin(), seen.end());
    std::vector<long long> all(kClients * kIncrs);
    for (size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<long long>(i + 1);
    CHECK(seen == all);

    // incr and decr with a delta, interleaved, on a key that starts missing.
    for (auto& c : clients) {
        std::string burst;
        for (size_t i = 0; i < kPairs; ++i)
            burst += "incr net 7\ndecr net 3\n";
        c.send(burst);
    }
    replies = gather(clients, 2 * kPairs, 60s);
    for (size_t i = 0; i < kClients; ++i) {
        REQUIRE(replies[i].size() == 2 * kPairs);
        for (const auto& line : replies[i]) {
            INFO("client " << i << ": '" << line << "'");
            CHECK(parse_counter(line));
        }
    }

    LineClient& c = clients.front();
    CHECK(c.ask("read hits") == "VALUE " + std::to_string(kClients * kIncrs));
    CHECK(c.ask("read net") == "VALUE " + std::to_string(kClients * kPairs * 4));
    Lines st = stats(c);
    CHECK(stat_number(st, "incrs") == kClients * (kIncrs + kPairs));
    CHECK(stat_number(st, "decrs") == kClients * kPairs);
}

TEST_CASE("add as a lock: exactly one of 50 racing clients takes it, round after round", "[issue14][atomic]")
{
    Path path = GENERATE(Path::handoff, Path::relay);
    INFO(path_name(path));
    constexpr size_t kClients = 50;
    constexpr int kRounds = 5;
    TempDir dir;
    Stack s(dir, {"--capacity", "100"}, path);
    auto clients = s.connected(kClients);

    std::map<size_t, int> wins;
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        // Every client asks before any reply is read.
        for (size_t i = 0; i < kClients; ++i)
            clients[i].send("add lock:resource:holder-" + std::to_string(i) + "\n");
        auto replies = gather(clients, 1, 30s);
        std::vector<size_t> winners;
        for (size_t i = 0; i < kClients; ++i) {
            INFO("client " << i);
            REQUIRE(replies[i].size() == 1);
            if (replies[i][0] == "OK")
                winners.push_back(i);
            else
                CHECK(replies[i][0] == "EXISTS");
        }
        REQUIRE(winners.size() == 1);
        size_t w = winners.front();
        ++wins[w];
        std::string holder = "VALUE resource:holder-" + std::to_string(w);
        CHECK(clients[(w + 1) % kClients].ask("read lock") == holder);
        // Released by its holder, read and deleted in one step.
        CHECK(clients[w].ask("take lock") == holder);
        CHECK(clients[w].ask("exists lock") == "NO");
    }
    std::string who;
    for (const auto& [client, n] : wins)
        who += " client " + std::to_string(client) + " x" + std::to_string(n);
    WARN(path_name(path) << ": the lock went to" << who);
    Lines st = stats(clients.front());
    CHECK(stat_number(st, "adds") == kClients * kRounds);
    CHECK(stat_number(st, "takes") == kRounds);
}

namespace {

// One client of the compare-and-set loop: gets, then cas with what it read
// plus one; CHANGED sends it back to gets.
struct CasAgent {
    enum class Waiting { gets, cas } waiting = Waiting::gets;
    uint64_t last_version = 0;  // versions a client sees never go back
    size_t updated = 0;
    size_t changed = 0;
    size_t gets = 0;
    size_t cas = 0;
};

}  // namespace

TEST_CASE("cas: retry loops of 8 clients on one key, every success counts exactly once", "[issue14][atomic]")
{
    Path path = GENERATE(Path::handoff, Path::relay);
    INFO(path_name(path));
    constexpr size_t kClients = 8;
    constexpr size_t kUpdates = 30;  // successful updates each
    constexpr size_t kMaxRequests = 20000;  // all clients together: a bound, not an expectation
    TempDir dir;
    Stack s(dir, {"--capacity", "100"}, path);
    auto clients = s.connected(kClients);

    // The three replies, in a fixed order first.
    LineClient& a = clients[0];
    LineClient& b = clients[1];
    CHECK(a.ask("cas 1 sum:1") == "NOT_FOUND");
    CHECK(a.ask("save sum:0") == "OK");
    auto va = parse_gets(a.ask("gets sum"));
    auto vb = parse_gets(b.ask("gets sum"));
    REQUIRE(va);
    REQUIRE(vb);
    CHECK(va->version == vb->version);
    CHECK(va->value == "0");
    CHECK(a.ask("cas " + std::to_string(va->version) + " sum:0") == "OK");  // a write: a new version
    CHECK(b.ask("cas " + std::to_string(vb->version) + " sum:0") == "CHANGED");
    auto after = parse_gets(b.ask("gets sum"));
    REQUIRE(after);
    CHECK(after->version > va->version);
    CHECK(after->value == "0");
    size_t prelude_gets = 3, prelude_cas = 3, prelude_changed = 1;

    // The race: every client runs gets/cas until it has made kUpdates.
    std::vector<CasAgent> agents(kClients);
    for (auto& c : clients)
        c.send("gets sum\n");
    for (auto& ag : agents)
        ++ag.gets;
    auto deadline = Clock::now() + 60s;
    size_t requests = kClients;
    auto unfinished = [&] {
        return std::any_of(agents.begin(), agents.end(), [](const CasAgent& ag) { return ag.updated < kUpdates; });
    };
    while (unfinished() && Clock::now() < deadline && requests < kMaxRequests) {
        pump_ready(clients, std::min(left(deadline), Millis(100)));
        for (size_t i = 0; i < kClients; ++i) {
            CasAgent& ag = agents[i];
            while (auto line = clients[i].buffered_line()) {
                INFO("client " << i << ": '" << *line << "'");
                std::string next;
                if (ag.waiting == CasAgent::Waiting::gets) {
                    auto v = parse_gets(*line);
                    REQUIRE(v);
                    REQUIRE(v->version >= ag.last_version);
                    ag.last_version = v->version;
                    long long n = std::stoll(v->value);
                    next = "cas " + std::to_string(v->version) + " sum:" + std::to_string(n + 1);
                    ag.waiting = CasAgent::Waiting::cas;
                    ++ag.cas;
                } else {
                    REQUIRE((*line == "OK" || *line == "CHANGED"));
                    if (*line == "OK")
                        ++ag.updated;
                    else
                        ++ag.changed;
                    ag.waiting = CasAgent::Waiting::gets;
                    if (ag.updated < kUpdates) {
                        next = "gets sum";
                        ++ag.gets;
                    }
                }
                if (!next.empty()) {
                    clients[i].send(next + "\n");
                    ++requests;
                }
            }
            INFO("client " << i);
            REQUIRE_FALSE(clients[i].eof());
        }
    }
    size_t changed = 0, gets = prelude_gets, cas = prelude_cas;
    for (size_t i = 0; i < kClients; ++i) {
        INFO("client " << i << ": " << agents[i].updated << " updates, " << agents[i].changed << " CHANGED");
        CHECK(agents[i].updated == kUpdates);
        changed += agents[i].changed;
        gets += agents[i].gets;
        cas += agents[i].cas;
    }
    WARN(path_name(path) << ": " << kClients * kUpdates << " updates took " << changed << " retries (CHANGED)");
    CHECK(a.ask("read sum") == "VALUE " + std::to_string(kClients * kUpdates));
    Lines st = stats(a);
    CHECK(stat_number(st, "cas") == cas);
    CHECK(stat_number(st, "cas_changed") == changed + prelude_changed);
    CHECK(stat_number(st, "gets") == gets);
}

// ---------------------------------------------------------------- when full

TEST_CASE("kvstored run --when-full evict: 8 clients save 4000 distinct keys into 100 entries, none refused, the "
          "database agrees",
          "[issue14][evict]")
{
    constexpr size_t kClients = 8;
    constexpr size_t kKeysEach = 500;
    constexpr size_t kCapacity = 100;
    TempDir dir;
    std::string db = dir.file("store.db");
    Stack s(dir, {"--capacity", std::to_string(kCapacity), "--when-full", "evict", "--db", db});
    auto clients = s.connected(kClients);

    for (size_t i = 0; i < kClients; ++i) {
        std::string burst;
        for (size_t k = 0; k < kKeysEach; ++k)
            burst += "save ev." + std::to_string(i) + "." + std::to_string(k) + ":value " + std::to_string(k) + "\n";
        clients[i].send(burst, 30s);
    }
    auto replies = gather(clients, kKeysEach, 60s);
    for (size_t i = 0; i < kClients; ++i) {
        INFO("client " << i << " got " << replies[i].size() << " of " << kKeysEach << " replies");
        REQUIRE(replies[i].size() == kKeysEach);
        auto refused = std::find_if(replies[i].begin(), replies[i].end(), [](const auto& l) { return l != "OK"; });
        INFO("first reply that is not OK: " << (refused == replies[i].end() ? "none" : *refused));
        CHECK(refused == replies[i].end());
    }

    LineClient& c = clients.front();
    const std::string full = "COUNT " + std::to_string(kCapacity) + " " + std::to_string(kCapacity);
    CHECK(c.ask("count") == full);
    Lines st = stats(c);
    CHECK(stat_number(st, "entries") == kCapacity);
    CHECK(stat_number(st, "evictions") == kClients * kKeysEach - kCapacity);  // one per new key beyond capacity
    CHECK(stat_number(st, "full_rejections") == 0);
    CHECK(stat_number(st, "expired_entries") == 0);
    auto before = listing(c);
    CHECK(before.size() == kCapacity);
    // A survivor reads back what was saved under it.
    REQUIRE_FALSE(before.empty());
    std::string survivor = before.front();
    CHECK(c.ask("read " + survivor) == "VALUE value " + survivor.substr(survivor.rfind('.') + 1));

    // An eviction is persisted like a delete: memory and database agree, and a
    // restart brings back exactly the same keys.
    clients.clear();
    s.stop();
    CHECK(db_rows(db) == static_cast<long long>(kCapacity));
    s.start();
    LineClient again = s.connected();
    CHECK(again.ask("count") == full);
    CHECK(listing(again) == before);
}

TEST_CASE("kvstored run --when-full evict removes an expired entry before any live one", "[issue14][evict][expiry]")
{
    TempDir dir;
    Stack s(dir, {"--capacity", "20", "--when-full", "evict"});
    LineClient c = s.connected();
    for (int i = 0; i < 10; ++i) {
        CHECK(c.ask("save live." + std::to_string(i) + ":x") == "OK");
        CHECK(c.ask("save ttl 1 brief." + std::to_string(i) + ":x") == "OK");
    }
    auto saved = Clock::now();
    CHECK(c.ask("count") == "COUNT 20 20");
    REQUIRE(wait_gone(c, "brief.9", saved + 3s));
    CHECK(c.ask("count") == "COUNT 10 20");
    for (int i = 0; i < 10; ++i)
        CHECK(c.ask("save new." + std::to_string(i) + ":x") == "OK");
    CHECK(c.ask("count") == "COUNT 20 20");
    for (int i = 0; i < 10; ++i)
        CHECK(c.ask("exists live." + std::to_string(i)) == "YES");
    CHECK(stat_number(stats(c), "evictions") == 0);
    // Every expired entry is reclaimed soon: on access, to make room, or by
    // the active cycle.
    auto give_up = Clock::now() + 3s;
    while (stat_number(stats(c), "expired_entries") < 10 && Clock::now() < give_up)
        std::this_thread::sleep_for(50ms);
    CHECK(stat_number(stats(c), "expired_entries") == 10);
    // Full of live entries now: the next new key evicts one.
    CHECK(c.ask("save one.more:x") == "OK");
    CHECK(c.ask("count") == "COUNT 20 20");
    CHECK(stat_number(stats(c), "evictions") == 1);
}

TEST_CASE(
    "kvstored run --when-full refuse (the default) answers ERR full, a store full of expired entries takes new keys",
    "[issue14][expiry]")
{
    bool explicit_refuse = GENERATE(false, true);
    INFO((explicit_refuse ? "--when-full refuse" : "no --when-full"));
    std::vector<std::string> args = {"--capacity", "10"};
    if (explicit_refuse)
        args.insert(args.end(), {"--when-full", "refuse"});
    TempDir dir;
    Stack s(dir, args);
    LineClient c = s.connected();

    for (int i = 0; i < 10; ++i)
        CHECK(c.ask("save k" + std::to_string(i) + ":x") == "OK");
    CHECK(c.ask("save k10:x") == "ERR full 10/10 entries");
    CHECK(c.ask("add k10:x").starts_with("ERR full "));
    CHECK(c.ask("incr k10").starts_with("ERR full "));
    CHECK(c.ask("append k10:x").starts_with("ERR full "));
    CHECK(c.ask("save k0:overwritten") == "OK");  // an existing key still takes a write
    CHECK(c.ask("incr k1").starts_with("ERR not-integer "));
    CHECK(c.ask("count") == "COUNT 10 10");
    Lines st = stats(c);
    CHECK(stat_number(st, "full_rejections") >= 1);
    CHECK(stat_number(st, "evictions") == 0);

    // Deadlines make room by themselves: no refusal once they have passed.
    CHECK(c.ask("take k0") == "VALUE overwritten");
    for (int i = 1; i < 10; ++i)
        CHECK(c.ask("expire k" + std::to_string(i) + " 1") == "OK");
    CHECK(c.ask("save ttl 1 k0:x") == "OK");
    auto saved = Clock::now();
    CHECK(c.ask("save k10:x") == "ERR full 10/10 entries");
    REQUIRE(wait_gone(c, "k0", saved + 3s));
    CHECK(c.ask("save k10:x") == "OK");
    CHECK(c.ask("count") == "COUNT 1 10");
}

// ---------------------------------------------------------------- restarts

TEST_CASE("deadlines survive a restart with --db, a key that expired while kvstored was down is gone",
          "[issue14][expiry][persistence]")
{
    TempDir dir;
    std::string db = dir.file("store.db");
    Stack s(dir, {"--capacity", "100", "--db", db});
    auto saved = Clock::now();
    {
        LineClient c = s.connected();
        CHECK(c.ask("save ttl 100 long:l") == "OK");
        CHECK(c.ask("save ttl 1 short:s") == "OK");
        CHECK(c.ask("save plain:p") == "OK");
        CHECK(c.ask("save ttl 100 persisted:x") == "OK");
        CHECK(c.ask("persist persisted") == "OK");
        CHECK(c.ask("ttl short") == "TTL 1");
    }
    s.stop();
    // Down past the short key's deadline.
    std::this_thread::sleep_for(Millis(std::max(0LL, 1500 - ms_since(saved))));
    s.start();

    LineClient c = s.connected();
    CHECK(c.ask("read short") == "NOT_FOUND");
    CHECK(c.ask("ttl short") == "NOT_FOUND");
    long long ttl = ttl_seconds(c.ask("ttl long"));
    INFO("after " << ms_since(saved) << " ms");
    CHECK(ttl >= 95);
    CHECK(ttl <= 99);  // more than 1 s passed: 98.x s rounded up at most
    CHECK(c.ask("read long") == "VALUE l");
    CHECK(c.ask("ttl plain") == "TTL none");
    CHECK(c.ask("ttl persisted") == "TTL none");
    CHECK(c.ask("count") == "COUNT 3 100");
    CHECK(listing(c) == std::vector<std::string>{"long", "persisted", "plain"});
    c.close();
    s.stop();
    CHECK(db_rows(db) == 3);
}

TEST_CASE("every atomic update is durable before its reply under --sync always (SIGKILL, restart)",
          "[issue14][atomic][persistence]")
{
    TempDir dir;
    Stack s(dir, {"--capacity", "100", "--db", dir.file("store.db"), "--sync", "always"});
    uint64_t stale = 0;
    uint64_t last_seen = 0;
    {
        LineClient c = s.connected();
        CHECK(c.ask("save ttl 100 deadline:d") == "OK");
        CHECK(c.ask("add added:1") == "OK");
        CHECK(c.ask("add added:2") == "EXISTS");
        CHECK(c.ask("replace added:3") == "OK");
        CHECK(c.ask("replace absent:1") == "NOT_FOUND");
        CHECK(c.ask("incr n 5") == "VALUE 5");
        CHECK(c.ask("decr n 2") == "VALUE 3");
        CHECK(c.ask("append tail:x") == "OK");
        CHECK(c.ask("append tail:y") == "OK");
        CHECK(c.ask("save swapped:1") == "OK");
        auto v = parse_gets(c.ask("gets swapped"));
        REQUIRE(v);
        stale = v->version;
        CHECK(c.ask("cas " + std::to_string(stale) + " swapped:2") == "OK");
        auto now = parse_gets(c.ask("gets swapped"));
        REQUIRE(now);
        last_seen = now->version;
        CHECK(c.ask("save taken:1") == "OK");
        CHECK(c.ask("take taken") == "VALUE 1");
        CHECK(c.ask("save expiring:1") == "OK");
        CHECK(c.ask("expire expiring 100") == "OK");
        CHECK(c.ask("save ttl 100 persisted:1") == "OK");
        CHECK(c.ask("persist persisted") == "OK");
        CHECK(c.ask("save dropped:1") == "OK");
        CHECK(c.ask("expire dropped 0") == "OK");
        s.daemon.kill_hard();
    }
    s.start();

    LineClient c = s.connected();
    long long ttl = ttl_seconds(c.ask("ttl deadline"));
    CHECK(ttl >= 95);
    CHECK(ttl <= 100);
    CHECK(c.ask("read added") == "VALUE 3");
    CHECK(c.ask("read absent") == "NOT_FOUND");
    CHECK(c.ask("read n") == "VALUE 3");
    CHECK(c.ask("read tail") == "VALUE xy");
    CHECK(c.ask("read swapped") == "VALUE 2");
    CHECK(c.ask("read taken") == "NOT_FOUND");
    ttl = ttl_seconds(c.ask("ttl expiring"));
    CHECK(ttl >= 95);
    CHECK(ttl <= 100);
    CHECK(c.ask("ttl persisted") == "TTL none");
    CHECK(c.ask("read dropped") == "NOT_FOUND");
    CHECK(c.ask("count") == "COUNT 7 100");
    // Versions never repeat across a restart: a version from before the last
    // write stays stale, and a new one is above every one handed out before.
    auto v = parse_gets(c.ask("gets swapped"));
    REQUIRE(v);
    CHECK(v->version > last_seen);
    CHECK(c.ask("cas " + std::to_string(stale) + " swapped:3") == "CHANGED");
    CHECK(c.ask("cas " + std::to_string(v->version) + " swapped:3") == "OK");
}
