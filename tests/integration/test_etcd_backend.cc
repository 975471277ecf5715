// The etcd backend (kvstored/backends/etcd/etcd_backend.h) in process: two
// Databases on one real etcd member are two kvstored hosts without the
// sockets, so the tests can drive each command's ticket by hand and make
// the races they want (both hosts writing one key from the same revision).
#include <poll.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>

#include "awaited_command.h"
#include "backends/etcd/etcd_backend.h"
#include "backends/etcd/etcd_wire.h"
#include "cli.h"
#include "commands.h"
#include "database.h"
#include "doors/memcache/memcache_commands.h"
#include "doors/memcache/text_parser.h"
#include "doors/redis/redis_commands.h"
#include "etcd_hosts.h"
#include "etcd_process.h"

using namespace std::chrono_literals;
using namespace etcd_hosts;
using kv::Database;

TEST_CASE("a write through one host is read through the other, with etcd's revision as its version", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("rw"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    uint64_t t = put(a, "greeting", "hello", r);
    REQUIRE(t != 0);
    // Nothing changes in the copy until etcd has it.
    CHECK(value_of(a, "greeting") == "(absent)");
    REQUIRE(settle(a, t) == Database::Durability::Durable);
    // Acknowledged: the writer's own copy has it (read-your-writes).
    CHECK(value_of(a, "greeting") == "hello");
    REQUIRE(eventually({&a, &b}, [&] { return value_of(b, "greeting") == "hello"; }));
    CHECK(a.store().get("greeting")->version == b.store().get("greeting")->version);
    CHECK(a.backend_status().backend == "etcd");
    CHECK(a.backend_status().revision >= static_cast<int64_t>(a.store().get("greeting")->version));
}

TEST_CASE("a touch that keeps the version (memcached's touch, gat, mg T) reaches etcd", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("touch"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "t", "v", r)) == Database::Durability::Durable);
    int64_t deadline = a.store().clock().now_ms() + 3600 * 1000;
    a.begin_command();
    bool found = false;
    uint64_t t = a.set_deadline("t", deadline, found, kv::Store::Version::Keep);
    t = a.end_command(t);
    REQUIRE(found);
    REQUIRE(t != 0);  // was 0: the touch was dropped by seal() and never sent
    REQUIRE(settle(a, t) == Database::Durability::Durable);
    CHECK(a.store().get("t")->deadline == deadline);
    REQUIRE(eventually({&a, &b}, [&] { return b.store().get("t") && b.store().get("t")->deadline == deadline; }));
}

namespace {

// The Redis commands' view of a server without one: no clients, no facts.
struct NoHost final : kv::redis::Host {
    std::vector<kv::redis::ClientInfo> clients() const override { return {}; }
    bool kill_client(uint64_t) override { return false; }
    kv::redis::ServerFacts facts() const override { return {}; }
};

// `key` written through a, committed, and seen by b.
void shared(Database& a, Database& b, const std::string& key, const std::string& value)
{
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, key, value, r)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(b, key) == value; }));
}

// `key` written through a and seen by b, then deleted through a while b's
// copy still holds it (b has not taken its deliveries): b's answers about it
// rest on a copy that is behind etcd.
void deleted_behind(Database& a, Database& b, const std::string& key)
{
    shared(a, b, key, "a");
    bool erased = false;
    a.begin_command();
    REQUIRE(settle(a, a.end_command(a.erase(key, erased))) == Database::Durability::Durable);
    REQUIRE(value_of(b, key) == "a");
}

// The memcached commands' view of a server without one.
struct NoMemcacheHost final : kv::memcache::Host {
    kv::ServerFacts facts() const override { return {}; }
    uint64_t flush_at(int64_t) override { return 0; }
};

// One Redis session on `db`: each command run as the door runs it, its
// reply once its ticket is durable.
struct RedisSession {
    explicit RedisSession(Database& on) : db(on), ctx{on, stats, limits, host, kv::system_clock()} { }
    // Runs the command; returns its ticket, not yet settled.
    uint64_t start(std::vector<std::string_view> args, std::string& out)
    {
        db.begin_command();
        return db.end_command(kv::redis::execute(args, session, ctx, out));
    }
    std::string run(std::vector<std::string_view> args)
    {
        std::string out;
        uint64_t t = start(args, out);
        if (t != 0 && settle(db, t) != Database::Durability::Durable)
            out = "(ticket not durable)";
        return out;
    }
    Database& db;
    NoHost host;
    kv::Stats stats;
    kv::Limits limits{64};
    kv::redis::Session session;
    kv::redis::Context ctx;
};

}  // namespace

TEST_CASE("Redis: a flush queued beside other commands is refused at EXEC, nothing changes", "[etcd]")
{
    // etcd refuses a range delete beside a put in one transaction, and the
    // copy would show the flush to later reads in the queue only once
    // committed: MULTI FLUSHALL SET EXEC used to fail as "ERR unavailable
    // ... duplicate key given in txn request".
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("flushmulti"));
    Database a(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "old", "v", r)) == Database::Durability::Durable);
    RedisSession redis(a);
    auto run = [&](std::vector<std::string_view> args) { return redis.run(args); };
    CHECK(run({"MULTI"}) == "+OK\r\n");
    CHECK(run({"FLUSHALL"}) == "+QUEUED\r\n");
    CHECK(run({"SET", "new", "1"}) == "+QUEUED\r\n");
    CHECK(run({"EXEC"}).starts_with("-ERR FLUSHALL and FLUSHDB must be alone"));
    CHECK(!redis.session.in_multi);
    CHECK(value_of(a, "old") == "v");
    CHECK(value_of(a, "new") == "(absent)");
    // Alone it runs.
    CHECK(run({"MULTI"}) == "+OK\r\n");
    CHECK(run({"FLUSHALL"}) == "+QUEUED\r\n");
    CHECK(run({"EXEC"}) == "*1\r\n+OK\r\n");
    CHECK(value_of(a, "old") == "(absent)");
}

TEST_CASE("Redis: DBSIZE or RANDOMKEY beside a write in one EXEC is refused, nothing changes", "[etcd]")
{
    // A writing transaction's compares name the keys it read; a count or a
    // listing of the copy would rest on nothing etcd checks.
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("scanmulti"));
    Database a(100, cfg);
    RedisSession redis(a);
    auto run = [&](std::vector<std::string_view> args) { return redis.run(args); };
    for (std::string_view scan : {"DBSIZE", "RandomKey"}) {
        INFO(scan);
        CHECK(run({"MULTI"}) == "+OK\r\n");
        CHECK(run({scan}) == "+QUEUED\r\n");
        CHECK(run({"SET", "n", "1"}) == "+QUEUED\r\n");
        CHECK(run({"EXEC"}).starts_with("-ERR DBSIZE and RANDOMKEY cannot share a transaction"));
        CHECK(!redis.session.in_multi);
        CHECK(value_of(a, "n") == "(absent)");
    }
    // Beside reads only, or alone, they run.
    CHECK(run({"MULTI"}) == "+OK\r\n");
    CHECK(run({"DBSIZE"}) == "+QUEUED\r\n");
    CHECK(run({"GET", "n"}) == "+QUEUED\r\n");
    CHECK(run({"EXEC"}) == "*2\r\n:0\r\n$-1\r\n");
}

TEST_CASE("two hosts incrementing one key from the same revision: one commits, the other runs again", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("incr"));
    Database a(100, cfg), b(100, cfg);
    uint64_t ta = increment(a, "n");
    uint64_t tb = increment(b, "n");
    auto da = settle(a, ta, {&b});
    auto db = settle(b, tb, {&a});
    // Both read "absent": exactly one create of "n" can commit.
    REQUIRE(((da == Database::Durability::Durable) != (db == Database::Durability::Durable)));
    Database& loser = da == Database::Durability::Retry ? a : b;
    REQUIRE(loser.durability(da == Database::Durability::Retry ? ta : tb) == Database::Durability::Retry);
    // Retry comes only once the loser's copy has caught up: running the
    // command again now reads 1 and writes 2.
    CHECK(value_of(loser, "n") == "1");
    uint64_t again = increment(loser, "n");
    REQUIRE(settle(loser, again) == Database::Durability::Durable);
    CHECK(value_of(loser, "n") == "2");
    CHECK(loser.backend_status().conflicts == 1);
}

TEST_CASE("two hosts overwriting one key from the same revision: both commit, in etcd's order", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("overwrite"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    shared(a, b, "k", "0");
    // A plain save's answer rests only on the key existing: neither refuses
    // the other, and the later revision is what both copies end with.
    uint64_t ta = put(a, "k", "a", r);
    uint64_t tb = put(b, "k", "b", r);
    CHECK(settle(a, ta, {&b}) == Database::Durability::Durable);
    CHECK(settle(b, tb, {&a}) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] {
        auto ea = a.store().get("k"), eb = b.store().get("k");
        return ea && eb && ea->version == eb->version
            && ea->version >= std::max(a.commit_version(ta), b.commit_version(tb));
    }));
    CHECK(value_of(a, "k") == (a.commit_version(ta) > b.commit_version(tb) ? "a" : "b"));
    CHECK(value_of(b, "k") == value_of(a, "k"));
    CHECK(a.backend_status().conflicts + b.backend_status().conflicts == 0);
    // A write that read the key (INCR) still needs the revision it read.
    shared(a, b, "n", "5");
    uint64_t ia = increment(a, "n");
    uint64_t ib = increment(b, "n");
    auto da = settle(a, ia, {&b});
    auto db = settle(b, ib, {&a});
    REQUIRE(((da == Database::Durability::Durable) != (db == Database::Durability::Durable)));
    CHECK(a.backend_status().conflicts + b.backend_status().conflicts == 1);
}

TEST_CASE("a delete of an entry expired in the copy still needs its revision", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("del-expired"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    int64_t soon = a.store().clock().now_ms() + 300;
    REQUIRE(settle(a, put(a, "k", "v1", r, soon)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return b.store().peek_any("k").has_value(); }));
    std::this_thread::sleep_for(400ms);
    REQUIRE(value_of(b, "k") == "(absent)");  // expired, still held until the expiry host deletes it
    // a stores a live value; b, behind, deletes: its "nothing to delete"
    // rests on the expired entry, which etcd no longer holds.
    REQUIRE(settle(a, put(a, "k", "v2", r)) == Database::Durability::Durable);
    bool erased = true;
    b.begin_command();
    b.write_command();
    uint64_t t = b.end_command(b.erase("k", erased));
    CHECK_FALSE(erased);
    REQUIRE(settle(b, t) == Database::Durability::Retry);
    b.begin_command();
    b.write_command();
    t = b.end_command(b.erase("k", erased));
    CHECK(erased);
    REQUIRE(settle(b, t) == Database::Durability::Durable);
    CHECK(value_of(b, "k") == "(absent)");
}

TEST_CASE("a write in a command that does not log its reads keeps the exact revision", "[etcd]")
{
    // memcached's mg ... N and gat write without write_command(), so their
    // reads are not logged: a put of theirs must not count as unread.
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("unlogged"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    shared(a, b, "k", "0");
    REQUIRE(settle(a, put(a, "k", "a", r)) == Database::Durability::Durable);
    b.begin_command();
    uint64_t t = b.end_command(b.put("k", "b", kv::kNoDeadline, r));
    REQUIRE(settle(b, t) == Database::Durability::Retry);
}

TEST_CASE("Redis: plain SETs of one key through two hosts both commit but SET ... GET does not", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("redis-set"));
    Database a(100, cfg), b(100, cfg);
    shared(a, b, "k", "0");
    RedisSession ra(a), rb(b);
    std::string oa, ob;
    uint64_t ta = ra.start({"SET", "k", "a"}, oa);
    uint64_t tb = rb.start({"SET", "k", "b"}, ob);
    CHECK(settle(a, ta, {&b}) == Database::Durability::Durable);
    CHECK(settle(b, tb, {&a}) == Database::Durability::Durable);
    CHECK(a.backend_status().conflicts + b.backend_status().conflicts == 0);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(a, "k") == value_of(b, "k"); }));
    // GET answers the old value: that answer needs the revision it read.
    oa.clear();
    ob.clear();
    ta = ra.start({"SET", "k", "c", "GET"}, oa);
    tb = rb.start({"SET", "k", "d", "GET"}, ob);
    auto da = settle(a, ta, {&b});
    auto db = settle(b, tb, {&a});
    CHECK(((da == Database::Durability::Durable) != (db == Database::Durability::Durable)));
    CHECK(a.backend_status().conflicts + b.backend_status().conflicts == 1);
}

TEST_CASE("a save over a key another host has deleted runs again, as a create", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("save-deleted"));
    Database a(100, cfg), b(100, cfg);
    deleted_behind(a, b, "k");
    // b's copy still holds "k": its save is an overwrite there, but etcd has
    // no "k" any more, so it would be a create (the count changes): refused.
    kv::Store::PutResult r;
    uint64_t t = put(b, "k", "b", r);
    REQUIRE(settle(b, t) == Database::Durability::Retry);
    CHECK(b.backend_status().conflicts == 1);
    CHECK(value_of(b, "k") == "(absent)");
    REQUIRE(settle(b, put(b, "k", "b", r)) == Database::Durability::Durable);
    CHECK(value_of(b, "k") == "b");
    CHECK(b.store().size() == 1);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(a, "k") == "b"; }));
    CHECK(a.room() == 99);
}

TEST_CASE("the capacity holds across hosts creating at once", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("cap"));
    Database a(3, cfg), b(3, cfg);
    int stored = 0, full = 0;
    // Two creates on each host, all from the same empty copy.
    std::vector<std::pair<Database*, std::string>> pending = {{&a, "a1"}, {&a, "a2"}, {&b, "b1"}, {&b, "b2"}};
    for (int round = 0; round < 10 && !pending.empty(); ++round) {
        std::vector<std::tuple<Database*, std::string, uint64_t>> tickets;
        for (auto& [db, key] : pending) {
            kv::Store::PutResult r;
            uint64_t t = put(*db, key, "v", r);
            if (r == kv::Store::PutResult::Full)
                ++full;
            else
                tickets.emplace_back(db, key, t);
        }
        pending.clear();
        for (auto& [db, key, t] : tickets) {
            auto d = settle(*db, t, {&a, &b});
            if (d == Database::Durability::Durable)
                ++stored;
            else if (d == Database::Durability::Retry)
                pending.emplace_back(db, key);
            else
                FAIL("a create failed: " << db->failure_text(t));
        }
    }
    CHECK(stored == 3);
    CHECK(full == 1);
    REQUIRE(eventually({&a, &b}, [&] { return a.store().size() == 3 && b.store().size() == 3; }));
}

TEST_CASE("a host started later loads what is there, another capacity is refused", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("load"));
    {
        Database a(100, cfg);
        for (int i = 0; i < 50; ++i) {
            kv::Store::PutResult r;
            REQUIRE(settle(a, put(a, "k" + std::to_string(i), std::string(i, 'x'), r))
                    == Database::Durability::Durable);
        }
    }
    Database c(100, cfg);
    CHECK(c.store().size() == 50);
    CHECK(value_of(c, "k7") == "xxxxxxx");
    CHECK_THROWS_WITH(Database(200, cfg), Catch::Contains("--capacity 100"));
}

TEST_CASE("expired keys: hidden at once everywhere, deleted in etcd by the elected host", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("expiry"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    int64_t soon = a.store().clock().now_ms() + 300;
    REQUIRE(settle(a, put(a, "brief", "v", r, soon)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return b.store().stored() == 1; }));
    REQUIRE(eventually({&a, &b}, [&] { return !a.store().contains("brief") && !b.store().contains("brief"); }));
    // Someone is elected and deletes it in etcd: the copies drop it too.
    REQUIRE(eventually({&a, &b}, [&] {
        a.expire_cycle(1ms);
        b.expire_cycle(1ms);
        return a.store().stored() == 0 && b.store().stored() == 0;
    }));
    CHECK((a.backend_status().expiry_leader != b.backend_status().expiry_leader));
}

TEST_CASE("sync resolves once the copy holds everything etcd had", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("sync"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "x", "1", r)) == Database::Durability::Durable);
    // b has not pumped since: sync makes it current before it answers.
    uint64_t t = b.sync();
    REQUIRE(t != 0);
    REQUIRE(settle(b, t) == Database::Durability::Durable);
    CHECK(value_of(b, "x") == "1");
}

TEST_CASE("without a quorum writes fail within the timeout and are refused, they resume by themselves", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("quorum"));
    Database a(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "before", "1", r)) == Database::Durability::Durable);
    etcd.pause();
    auto start = std::chrono::steady_clock::now();
    uint64_t t = put(a, "during", "2", r);
    CHECK(settle(a, t) == Database::Durability::Failed);
    CHECK(std::chrono::steady_clock::now() - start < 4s);
    CHECK_THAT(a.failure_text(t), Catch::Contains("etcd"));
    CHECK(a.write_refusal() != "");
    CHECK(a.backend_status().read_only_why != "");
    // Reads go on from the copy.
    CHECK(value_of(a, "before") == "1");
    etcd.resume();
    REQUIRE(eventually(
        {&a}, [&] { return a.write_refusal().empty(); }, 15s));
    // The write that timed out may commit now that etcd answers again: the
    // next batch on its connection then finds its mark moved and runs again
    // (Retry), as a door would.
    auto d = Database::Durability::Retry;
    for (int i = 0; i < 3 && d == Database::Durability::Retry; ++i)
        d = settle(a, put(a, "after", "3", r));
    REQUIRE(d == Database::Durability::Durable);
    CHECK(value_of(a, "after") == "3");
}

TEST_CASE("a watch started again at an old revision delivers events twice: the copy skips them", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("dup"));
    Database a(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "k", "1", r)) == Database::Durability::Durable);
    REQUIRE(settle(a, put(a, "k", "2", r)) == Database::Durability::Durable);
    REQUIRE(settle(a, put(a, "gone", "x", r)) == Database::Durability::Durable);
    bool erased = false;
    a.begin_command();
    a.erase("gone", erased);
    REQUIRE(settle(a, a.end_command(0)) == Database::Durability::Durable);
    uint64_t version = a.store().get("k")->version;
    int64_t applied = a.backend_status().revision;
    uint64_t restarts = a.backend_status().watch_restarts;
    // From the first revision again: every write above is delivered anew.
    a.etcd()->rewatch_from(1);
    REQUIRE(eventually({&a}, [&] { return a.backend_status().watch_restarts > restarts; }));
    // Give the replay time to arrive, then a new write proves the stream is
    // current again (its revision is above the replayed ones).
    REQUIRE(settle(a, put(a, "after", "3", r)) == Database::Durability::Durable);
    CHECK(value_of(a, "k") == "2");
    CHECK(a.store().get("k")->version == version);
    CHECK(value_of(a, "gone") == "(absent)");
    CHECK(value_of(a, "after") == "3");
    CHECK(a.backend_status().revision > applied);
    CHECK(a.store().stored() == 2);
    // The puts of k (2), of gone, its delete, and the two puts of the count
    // at least came again.
    CHECK(a.backend_status().events_skipped >= 5);
}

TEST_CASE("a delete of a key this copy has not seen yet is checked with etcd, not answered from the copy", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("nodel"));
    Database a(100, cfg), b(100, cfg);
    kv::Store::PutResult r;
    // Acknowledged on a; b has not taken its deliveries yet.
    REQUIRE(settle(a, put(a, "k", "v", r)) == Database::Durability::Durable);
    REQUIRE(value_of(b, "k") == "(absent)");
    b.begin_command();
    bool erased = true;
    b.erase("k", erased);
    CHECK_FALSE(erased);  // the copy's view: nothing to delete
    uint64_t t = b.end_command(0);
    // That view is behind etcd: the delete must not be answered from it.
    REQUIRE(t != 0);
    CHECK(settle(b, t) == Database::Durability::Retry);
    // Run again on the copy that caught up: it deletes.
    b.begin_command();
    b.erase("k", erased);
    CHECK(erased);
    CHECK(settle(b, b.end_command(0)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(a, "k") == "(absent)"; }));
    // A delete of a key that really is absent is confirmed by etcd: Durable.
    b.begin_command();
    b.erase("never", erased);
    CHECK(settle(b, b.end_command(0)) == Database::Durability::Durable);
}

TEST_CASE("a write command that writes nothing because of what it read is checked with etcd", "[etcd]")
{
    // SETNX finding the key, as add and replace do, writes nothing: its
    // answer rests on the copy, which may not have seen another host's
    // delete yet.
    NoHost host;
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("setnx"));
    Database a(100, cfg), b(100, cfg);
    deleted_behind(a, b, "lock");
    bool erased = false;
    kv::Stats stats;
    kv::Limits limits{64};
    kv::redis::Session session;
    kv::redis::Context ctx{b, stats, limits, host, kv::system_clock()};
    auto run = [&](std::vector<std::string_view> args, std::string& out) {
        out.clear();
        b.begin_command();
        return b.end_command(kv::redis::execute(args, session, ctx, out));
    };
    std::string out;
    uint64_t t = run({"SETNX", "lock", "b"}, out);
    CHECK(out == ":0\r\n");  // the copy's answer...
    REQUIRE(t != 0);  // ...which etcd must confirm: it was 0, answered at once
    CHECK(settle(b, t) == Database::Durability::Retry);
    // Run again on the copy that caught up: the lock is free.
    t = run({"SETNX", "lock", "b"}, out);
    CHECK(out == ":1\r\n");
    CHECK(settle(b, t) == Database::Durability::Durable);
    // Taken now, and etcd agrees: Durable, one round trip.
    t = run({"SETNX", "lock", "c"}, out);
    CHECK(out == ":0\r\n");
    REQUIRE(t != 0);
    CHECK(settle(b, t) == Database::Durability::Durable);
    // A read command is answered from the copy: no ticket.
    CHECK(run({"GET", "lock"}, out) == 0);
    CHECK(out == "$1\r\nb\r\n");
    // A transaction that writes rests on the keys it read before its write.
    REQUIRE(run({"MULTI"}, out) == 0);
    run({"GET", "lock"}, out);
    run({"SET", "other", "1"}, out);
    REQUIRE(eventually({&a}, [&] { return value_of(a, "lock") == "b"; }));
    a.begin_command();
    REQUIRE(settle(a, a.end_command(a.erase("lock", erased))) == Database::Durability::Durable);
    REQUIRE(value_of(b, "lock") == "b");
    t = run({"EXEC"}, out);
    REQUIRE(t != 0);
    CHECK(settle(b, t) == Database::Durability::Retry);
    CHECK(value_of(b, "other") == "(absent)");
}

TEST_CASE("a new key refused as full is checked with etcd's count (another host deleted a key)", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("fullcheck"));
    Database a(2, cfg), b(2, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "k1", "v", r)) == Database::Durability::Durable);
    REQUIRE(settle(a, put(a, "k2", "v", r)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(b, "k2") == "v"; }));
    a.begin_command();
    bool erased = false;
    REQUIRE(settle(a, a.end_command(a.erase("k1", erased))) == Database::Durability::Durable);
    REQUIRE(value_of(b, "k1") == "v");  // b has not seen the delete
    uint64_t t = put(b, "k3", "v", r);
    CHECK(r == kv::Store::PutResult::Full);  // the copy's answer...
    REQUIRE(t != 0);
    // ...which etcd's count does not confirm (without the count's compare,
    // only "k3 absent" was checked: Durable, a wrong "full").
    CHECK(settle(b, t) == Database::Durability::Retry);
    t = put(b, "k3", "v", r);  // again, on the copy that caught up
    CHECK(r == kv::Store::PutResult::Inserted);
    CHECK(settle(b, t) == Database::Durability::Durable);
    // Really full now, and etcd agrees: Durable.
    t = put(b, "k4", "v", r);
    CHECK(r == kv::Store::PutResult::Full);
    REQUIRE(t != 0);
    CHECK(settle(b, t) == Database::Durability::Durable);
    CHECK(value_of(a, "k4") == "(absent)");
}

TEST_CASE("memcached add and the line protocol's add finding a deleted key run again", "[etcd]")
{
    NoMemcacheHost host;
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("addrerun"));
    Database a(100, cfg), b(100, cfg);
    kv::Stats stats;
    kv::Limits limits{64};
    // b's add answers from a copy that has not seen a's delete
    // (deleted_behind), and etcd must send it back.
    SECTION("memcached")
    {
        deleted_behind(a, b, "mc");
        kv::memcache::Session session;
        kv::memcache::Context ctx{b, stats, limits, host, kv::system_clock()};
        kv::memcache::Request req;
        req.tokens = {"add", "mc", "0", "0", "1"};
        req.storage = req.has_data = true;
        req.key = "mc";
        req.data = "b";
        std::string out;
        b.begin_command();
        uint64_t t = b.end_command(kv::memcache::execute(req, session, ctx, out));
        CHECK(out == "NOT_STORED\r\n");
        REQUIRE(t != 0);
        CHECK(settle(b, t) == Database::Durability::Retry);
        out.clear();
        b.begin_command();
        t = b.end_command(kv::memcache::execute(req, session, ctx, out));
        CHECK(out == "STORED\r\n");
        CHECK(settle(b, t) == Database::Durability::Durable);
    }
    SECTION("line protocol")
    {
        deleted_behind(a, b, "line");
        std::optional<kv::Listing> listing;
        kv::wire::Request req{kv::wire::Op::Add, "line", "b"};
        std::string out;
        b.begin_command();
        uint64_t t = b.end_command(kv::execute(req, b, stats, limits, out, listing));
        CHECK(out == "EXISTS\n");
        REQUIRE(t != 0);
        CHECK(settle(b, t) == Database::Durability::Retry);
        out.clear();
        b.begin_command();
        t = b.end_command(kv::execute(req, b, stats, limits, out, listing));
        CHECK(out == "OK\n");
        CHECK(settle(b, t) == Database::Durability::Durable);
    }
}

TEST_CASE("a delayed flush_all's time is shared by every host, and two of them never share a transaction", "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("flushat"));
    Database a(100, cfg), b(100, cfg);
    // Group commit as the event loop does it: the batch is made after the
    // turn's commands, so both of these would travel in one transaction.
    std::vector<std::function<void()>> deferred;
    a.set_deferrer([&](std::function<void()> f) { deferred.push_back(std::move(f)); });
    auto note = [&](int64_t at) {
        a.begin_command();
        return a.end_command(a.note_flush_at(at));
    };
    uint64_t t1 = note(4102444800000);  // 2100-01-01
    uint64_t t2 = note(4102444900000);
    REQUIRE(t1 != 0);
    REQUIRE(t2 != 0);
    a.set_deferrer(nullptr);  // from here on, at once
    for (auto& f : deferred)
        f();
    // etcd refuses a transaction that names one key twice ("duplicate key").
    CHECK(settle(a, t1) == Database::Durability::Durable);
    CHECK(settle(a, t2) == Database::Durability::Durable);
    CHECK(a.pending_flush() == 4102444900000);
    REQUIRE(eventually({&a, &b}, [&] { return b.pending_flush() == 4102444900000; }));
    // Carried out by another host: the entries and the time go together.
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "k", "v", r)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(b, "k") == "v"; }));
    // A flush of a time that is no longer the one recorded (replaced, or
    // cancelled) is refused whole: its clear does not happen.
    b.begin_command();
    b.clear();
    b.note_flush_done(4102444800000);
    CHECK(settle(b, b.end_command(0)) == Database::Durability::Retry);
    CHECK(value_of(b, "k") == "v");
    CHECK(b.pending_flush() == 4102444900000);
    b.begin_command();
    b.clear();
    b.note_flush_done(4102444900000);
    CHECK(settle(b, b.end_command(0)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return a.pending_flush() == 0 && value_of(a, "k") == "(absent)"; }));
    // A host started now sees no flush pending.
    Database c(100, cfg);
    CHECK(c.pending_flush() == 0);
}

TEST_CASE("Redis MSET refused as full is checked with etcd's count, as a put's refusal is", "[etcd]")
{
    NoHost host;
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("msetfull"));
    Database a(3, cfg), b(3, cfg);
    kv::Store::PutResult r;
    for (const char* k : {"k1", "k2", "k3"})
        REQUIRE(settle(a, put(a, k, "v", r)) == Database::Durability::Durable);
    REQUIRE(eventually({&a, &b}, [&] { return value_of(b, "k3") == "v"; }));
    for (const char* k : {"k1", "k2"}) {
        bool erased = false;
        a.begin_command();
        REQUIRE(settle(a, a.end_command(a.erase(k, erased))) == Database::Durability::Durable);
    }
    REQUIRE(value_of(b, "k1") == "v");  // b has not seen the deletes
    kv::Stats stats;
    kv::Limits limits{64};
    kv::redis::Session session;
    kv::redis::Context ctx{b, stats, limits, host, kv::system_clock()};
    const std::vector<std::string_view> mset = {"MSET", "n1", "1", "n2", "2"};
    std::string out;
    b.begin_command();
    uint64_t t = b.end_command(kv::redis::execute(mset, session, ctx, out));
    CHECK(out.starts_with("-OOM"));  // the copy's answer...
    REQUIRE(t != 0);
    CHECK(settle(b, t) == Database::Durability::Retry);  // ...which etcd's count refutes
    out.clear();
    b.begin_command();
    t = b.end_command(kv::redis::execute(mset, session, ctx, out));
    CHECK(out == "+OK\r\n");
    CHECK(settle(b, t) == Database::Durability::Durable);
}

TEST_CASE("a writing transaction that depends on more keys than one etcd transaction carries is refused whole",
          "[etcd]")
{
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("toomanyreads"));
    Database a(1000, cfg);
    RedisSession redis(a);
    // The ticket is the test's to settle (EXEC's may fail): not redis.run().
    auto run = [&](std::vector<std::string_view> args) {
        std::string out;
        a.begin_command();
        uint64_t t = a.end_command(kv::redis::execute(args, redis.session, redis.ctx, out));
        return std::make_pair(t, out);
    };
    // 120 keys read and one written fit no transaction (kMaxBatchOps = 120
    // conditions); 119 and one do.
    for (int reads : {119, 120}) {
        INFO(reads << " reads");
        REQUIRE(run({"MULTI"}).second == "+OK\r\n");
        std::vector<std::string> keys;
        for (int i = 0; i < reads; ++i)
            keys.push_back("r" + std::to_string(i));
        for (const auto& k : keys)
            REQUIRE(run({"GET", k}).second == "+QUEUED\r\n");
        REQUIRE(run({"SET", "w", "1"}).second == "+QUEUED\r\n");
        auto [t, out] = run({"EXEC"});
        REQUIRE(t != 0);
        if (reads == 119) {
            CHECK(settle(a, t) == Database::Durability::Durable);
            CHECK(value_of(a, "w") == "1");
        } else {
            CHECK(settle(a, t) == Database::Durability::Failed);
            CHECK(a.failure_code(t) == "too-large");
            CHECK_THAT(a.failure_text(t), Catch::Contains("depends on 121"));
        }
    }
}

TEST_CASE("a key another program wrote under the prefix is absent to commands, and a write replaces it", "[etcd]")
{
    // Before, the copy ignored such a key: a command on it compared "absent"
    // (or the entry it held before), etcd refused that each time, and the
    // command ran again forever.
    kvtest::EtcdProcess etcd;
    std::string prefix = unique_prefix("foreign");
    auto cfg = config_for(etcd, prefix);
    Database a(100, cfg);
    kv::Store::PutResult r;
    REQUIRE(settle(a, put(a, "held", "v", r)) == Database::Durability::Durable);
    // etcdctl writes the bare value, without kvstored's header.
    for (const char* key : {"held", "new"}) {
        auto res = kvtest::run_program(
            "/usr/bin/etcdctl", {"--endpoints=" + etcd.endpoint(), "put", kv::etcd::data_prefix(prefix) + key, "raw"});
        INFO(res.describe());
        REQUIRE(res.code == 0);
    }
    uint64_t synced = a.sync();
    REQUIRE(settle(a, synced) == Database::Durability::Durable);
    CHECK(value_of(a, "held") == "(absent)");
    CHECK(value_of(a, "new") == "(absent)");
    // A write replaces it, and the count takes the entry in.
    for (const char* key : {"held", "new"}) {
        INFO(key);
        REQUIRE(settle(a, put(a, key, "mine", r)) == Database::Durability::Durable);
        CHECK(value_of(a, key) == "mine");
    }
    // A delete of one finds nothing, and etcd agrees (it compares the key's
    // revision, not "absent").
    auto res = kvtest::run_program(
        "/usr/bin/etcdctl", {"--endpoints=" + etcd.endpoint(), "put", kv::etcd::data_prefix(prefix) + "new", "raw"});
    REQUIRE(res.code == 0);
    REQUIRE(settle(a, a.sync()) == Database::Durability::Durable);
    bool erased = true;
    a.begin_command();
    REQUIRE(settle(a, a.end_command(a.erase("new", erased))) == Database::Durability::Durable);
    CHECK(!erased);
}

TEST_CASE("memcached meta writes with the c flag, and gats, show the cas that etcd's commit gave the item", "[etcd]")
{
    // Before, the reply carried a version this host chose before the
    // commit (ms: a number like 1796594379505001; mg T: the cas before the
    // touch), which no later cas could match.
    NoMemcacheHost host;
    kvtest::EtcdProcess etcd;
    auto cfg = config_for(etcd, unique_prefix("metacas"));
    Database a(100, cfg);
    kv::Stats stats;
    kv::Limits limits{64};
    kv::memcache::Session session;
    kv::memcache::Context ctx{a, stats, limits, host, kv::system_clock()};
    // One request as the door runs it: its reply waits for its ticket.
    auto run = [&](std::vector<std::string> tokens, std::string data = {}) {
        kv::memcache::Request req;
        req.tokens.assign(tokens.begin(), tokens.end());
        req.key = tokens[1];
        req.storage = req.has_data = !data.empty();
        req.data = data;
        std::string out;
        a.begin_command();
        uint64_t t = a.end_command(kv::memcache::execute(req, session, ctx, out));
        if (t == 0)
            return out;
        kv::AwaitedCommand awaited;
        awaited.await(t, out, kv::AwaitedCommand::Reply::Text, session.cas_at);
        REQUIRE(settle(a, t) == Database::Durability::Durable);
        std::string text;
        REQUIRE(awaited.settle(
                    a, [](std::string_view, std::string_view) { return std::string("failed"); }, text)
                == kv::AwaitedCommand::Outcome::Send);
        return text;
    };
    auto cas_of = [&](const std::string& key) {
        auto e = a.store().get(key);
        REQUIRE(e);
        return std::to_string(e->version);
    };
    // Each reply is taken before the cas it is compared with is read.
    std::string reply = run({"ms", "k", "1", "c", "Oab"}, "v");
    CHECK(reply == "HD c" + cas_of("k") + " Oab\r\n");
    reply = run({"mg", "k", "c"});
    CHECK(reply == "HD c" + cas_of("k") + "\r\n");
    std::string before = cas_of("k");
    reply = run({"mg", "k", "T100", "c", "v"});
    CHECK(cas_of("k") != before);  // etcd's revision of the touch (docs/memcache.md)
    CHECK(reply == "VA 1 c" + cas_of("k") + "\r\nv\r\n");
    reply = run({"ms", "n", "1", "c"}, "5");
    CHECK(reply == "HD c" + cas_of("n") + "\r\n");
    reply = run({"ma", "n", "c", "v"});
    CHECK(reply == "VA 1 c" + cas_of("n") + "\r\n6\r\n");
    // And a cas taken from a write's reply is one a later write can use.
    std::string cas = cas_of("n");
    CHECK(run({"ms", "n", "1", "C" + cas}, "7") == "HD\r\n");
    // gats: both keys touched in one transaction, each shown with its cas.
    reply = run({"gats", "100", "k", "n"});
    CHECK(cas_of("k") == cas_of("n"));
    CHECK(reply == "VALUE k 0 1 " + cas_of("k") + "\r\nv\r\nVALUE n 0 1 " + cas_of("n") + "\r\n7\r\nEND\r\n");
}
