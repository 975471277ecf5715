// Unit tests for the commands of issue 14 (kvstored/commands.cc): expiry,
// the atomic updates and a full store, each against an injected clock, so
// that no test sleeps to see a deadline pass.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "clock.h"
#include "commands.h"

using kv::wire::Expiry;
using kv::wire::Op;
using kv::wire::Request;

namespace {

struct Fixture {
    kv::ManualClock clock;
    kv::WhenFull when_full = kv::WhenFull::Refuse;
    kv::Database db{3, std::nullopt, when_full, clock};
    kv::Stats stats;
    kv::Limits limits{20};

    std::string run(Request req)
    {
        std::string out;
        std::optional<kv::Listing> listing;
        kv::execute(req, db, stats, limits, out, listing);
        while (listing && listing->next_page(db.store(), out)) { }
        return out;
    }
    std::string run(Op op, std::string_view key = {}, std::string_view value = {})
    {
        return run(Request{op, key, value});
    }
    std::string with_ttl(Op op, std::string_view key, std::string_view value, int64_t ms)
    {
        Request req{op, key, value};
        req.expiry = Expiry::After;
        req.expiry_ms = ms;
        return run(req);
    }
    std::string expire(std::string_view key, int64_t ms) { return with_ttl(Op::Expire, key, {}, ms); }
    std::string cas(std::string_view key, std::string_view value, uint64_t version)
    {
        Request req{Op::Cas, key, value};
        req.version = version;
        return run(req);
    }
    std::string incr(std::string_view key, int64_t delta, Op op = Op::Incr)
    {
        Request req{op, key, {}};
        req.delta = delta;
        return run(req);
    }
    // The version `gets` shows.
    uint64_t version(std::string_view key)
    {
        std::string out = run(Op::Gets, key);
        REQUIRE(out.starts_with("VALUE "));
        return std::stoull(out.substr(6));
    }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "add sets only an absent key, replace only a present one", "[commands][atomic]")
{
    CHECK(run(Op::Replace, "a", "1") == "NOT_FOUND\n");
    CHECK(run(Op::Add, "a", "1") == "OK\n");
    CHECK(run(Op::Add, "a", "2") == "EXISTS\n");
    CHECK(run(Op::Read, "a") == "VALUE 1\n");
    CHECK(run(Op::Replace, "a", "3") == "OK\n");
    CHECK(run(Op::Read, "a") == "VALUE 3\n");
    CHECK(stats.adds == 2);
    CHECK(stats.replaces == 2);
}

TEST_CASE_METHOD(Fixture, "add takes a key whose holder expired: a lock with a timeout", "[commands][atomic][expiry]")
{
    CHECK(with_ttl(Op::Add, "lock", "me", 5000) == "OK\n");
    clock.advance(4999);
    CHECK(with_ttl(Op::Add, "lock", "you", 5000) == "EXISTS\n");
    clock.advance(1);
    CHECK(with_ttl(Op::Add, "lock", "you", 5000) == "OK\n");
    CHECK(run(Op::Read, "lock") == "VALUE you\n");
    CHECK(with_ttl(Op::Replace, "lock", "again", 1000) == "OK\n");
    clock.advance(1000);
    CHECK(run(Op::Replace, "lock", "x") == "NOT_FOUND\n");
}

TEST_CASE_METHOD(Fixture, "gets shows a version that every write moves on", "[commands][atomic]")
{
    CHECK(run(Op::Gets, "a") == "NOT_FOUND\n");
    run(Op::Save, "a", "1");
    CHECK(run(Op::Gets, "a") == "VALUE " + std::to_string(version("a")) + " 1\n");
    uint64_t v = version("a");
    CHECK(v > 0);
    CHECK(version("a") == v);  // reads do not move it
    for (auto write :
         {+[](Fixture& f) { f.run(Op::Save, "a", "1"); }, +[](Fixture& f) { f.run(Op::Append, "a", "0"); },
          +[](Fixture& f) { f.incr("a", 1); }, +[](Fixture& f) { f.expire("a", 60'000); },
          +[](Fixture& f) { f.run(Op::Persist, "a"); }, +[](Fixture& f) { f.run(Op::Replace, "a", "5"); }}) {
        write(*this);
        uint64_t next = version("a");
        CHECK(next > v);
        v = next;
    }
}

TEST_CASE_METHOD(Fixture, "cas writes only over the version it names", "[commands][atomic]")
{
    CHECK(cas("a", "1", 1) == "NOT_FOUND\n");
    run(Op::Save, "a", "1");
    uint64_t v = version("a");
    CHECK(cas("a", "2", v + 1) == "CHANGED\n");
    CHECK(cas("a", "2", v) == "OK\n");
    CHECK(cas("a", "3", v) == "CHANGED\n");  // its own write moved the version on
    CHECK(run(Op::Read, "a") == "VALUE 2\n");
    CHECK(stats.cas == 4);
    CHECK(stats.cas_changed == 2);
    // A cas with a ttl sets the deadline; without one, it clears it.
    Request req{Op::Cas, "a", "4"};
    req.version = version("a");
    req.expiry = Expiry::After;
    req.expiry_ms = 2000;
    CHECK(run(req) == "OK\n");
    CHECK(run(Op::Ttl, "a") == "TTL 2\n");
    CHECK(cas("a", "5", version("a")) == "OK\n");
    CHECK(run(Op::Ttl, "a") == "TTL none\n");
}

TEST_CASE_METHOD(Fixture, "incr and decr: counting from 0, deltas, and the 64-bit edges", "[commands][atomic]")
{
    CHECK(incr("n", 1) == "VALUE 1\n");
    CHECK(incr("n", 41) == "VALUE 42\n");
    CHECK(incr("n", 50, Op::Decr) == "VALUE -8\n");
    CHECK(incr("n", -8, Op::Decr) == "VALUE 0\n");
    CHECK(incr("m", 5, Op::Decr) == "VALUE -5\n");  // missing: from 0
    run(Op::Save, "n", "9223372036854775806");
    CHECK(incr("n", 1) == "VALUE 9223372036854775807\n");
    CHECK(incr("n", 1) == "ERR overflow the result would not fit in a signed 64-bit integer\n");
    CHECK(run(Op::Read, "n") == "VALUE 9223372036854775807\n");  // unchanged
    run(Op::Save, "n", "-9223372036854775807");
    CHECK(incr("n", 1, Op::Decr) == "VALUE -9223372036854775808\n");
    CHECK(incr("n", 1, Op::Decr).starts_with("ERR overflow"));
    CHECK(incr("z", INT64_MIN, Op::Decr).starts_with("ERR overflow"));  // 0 - INT64_MIN
    CHECK(stats.incrs == 4);
    CHECK(stats.decrs == 6);
}

TEST_CASE_METHOD(Fixture, "incr refuses a value that is not a strict signed decimal", "[commands][atomic]")
{
    std::string value = GENERATE("abc", "", "1.5", " 1", "1 ", "+1", "01", "-0", "-", "9223372036854775808",
                                 "-9223372036854775809", "0x10");
    run(Op::Save, "v", value);
    CHECK(incr("v", 1) == "ERR not-integer the value is not a signed 64-bit decimal integer\n");
    CHECK(run(Op::Read, "v") == "VALUE " + value + "\n");
}

TEST_CASE_METHOD(Fixture, "incr, decr and append keep the deadline, save without ttl clears it", "[commands][expiry]")
{
    CHECK(with_ttl(Op::Save, "n", "1", 10'000) == "OK\n");
    CHECK(incr("n", 1) == "VALUE 2\n");
    CHECK(run(Op::Ttl, "n") == "TTL 10\n");
    CHECK(run(Op::Append, "n", "0") == "OK\n");
    CHECK(run(Op::Read, "n") == "VALUE 20\n");
    CHECK(run(Op::Ttl, "n") == "TTL 10\n");
    CHECK(run(Op::Save, "n", "3") == "OK\n");
    CHECK(run(Op::Ttl, "n") == "TTL none\n");
    CHECK(incr("fresh", 1) == "VALUE 1\n");
    CHECK(run(Op::Ttl, "fresh") == "TTL none\n");
}

TEST_CASE_METHOD(Fixture, "append creates, extends, and refuses past --max-value", "[commands][atomic]")
{
    CHECK(run(Op::Append, "a", "hello") == "OK\n");
    CHECK(run(Op::Append, "a", " world") == "OK\n");
    CHECK(run(Op::Read, "a") == "VALUE hello world\n");
    CHECK(run(Op::Append, "a", "1234567890") == "ERR too-long the value would be 21 bytes; the limit is 20\n");
    CHECK(run(Op::Read, "a") == "VALUE hello world\n");
    CHECK(stats.appends == 3);
}

TEST_CASE_METHOD(Fixture, "take reads and deletes in one step", "[commands][atomic]")
{
    CHECK(run(Op::Take, "a") == "NOT_FOUND\n");
    run(Op::Save, "a", "v w");
    CHECK(run(Op::Take, "a") == "VALUE v w\n");
    CHECK(run(Op::Take, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Count) == "COUNT 0 3\n");
}

TEST_CASE_METHOD(Fixture, "ttl, expire and persist", "[commands][expiry]")
{
    CHECK(run(Op::Ttl, "a") == "NOT_FOUND\n");
    CHECK(expire("a", 1000) == "NOT_FOUND\n");
    CHECK(run(Op::Persist, "a") == "NOT_FOUND\n");
    run(Op::Save, "a", "1");
    CHECK(run(Op::Ttl, "a") == "TTL none\n");
    CHECK(expire("a", 1500) == "OK\n");
    CHECK(run(Op::Ttl, "a") == "TTL 2\n");  // rounded up
    clock.advance(1499);
    CHECK(run(Op::Ttl, "a") == "TTL 1\n");  // 1 ms left
    CHECK(run(Op::Persist, "a") == "OK\n");
    clock.advance(10'000);
    CHECK(run(Op::Ttl, "a") == "TTL none\n");
    CHECK(run(Op::Read, "a") == "VALUE 1\n");
    int64_t now_or_past = GENERATE(0, -1, -3'153'600'000'000);
    CHECK(expire("a", now_or_past) == "OK\n");  // deletes at once
    CHECK(run(Op::Read, "a") == "NOT_FOUND\n");
    CHECK(expire("a", 1000) == "NOT_FOUND\n");
}

TEST_CASE_METHOD(Fixture, "past its deadline an entry is gone for every command", "[commands][expiry]")
{
    CHECK(with_ttl(Op::Save, "a", "1", 1000) == "OK\n");
    run(Op::Save, "b", "2");
    CHECK(run(Op::Keys) == "KEYS 2\na\nb\n");
    clock.advance(999);
    CHECK(run(Op::Exists, "a") == "YES\n");
    clock.advance(1);
    CHECK(run(Op::Exists, "a") == "NO\n");
    CHECK(run(Op::Count) == "COUNT 1 3\n");
    CHECK(run(Op::Keys) == "KEYS 1\nb\n");
    CHECK(run(Op::Read, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Gets, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Take, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Ttl, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Delete, "a") == "NOT_FOUND\n");
    CHECK(incr("a", 1) == "VALUE 1\n");  // counts from 0, as for a missing key
    CHECK(run(Op::Ttl, "a") == "TTL none\n");
}

TEST_CASE_METHOD(Fixture, "a store full of expired entries never refuses a new key", "[commands][expiry]")
{
    for (const char* key : {"a", "b", "c"})
        CHECK(with_ttl(Op::Save, key, "1", 1000) == "OK\n");
    CHECK(run(Op::Save, "d", "1") == "ERR full 3/3 entries\n");
    clock.advance(1000);
    CHECK(run(Op::Count) == "COUNT 0 3\n");
    for (const char* key : {"d", "e", "f"})
        CHECK(run(Op::Save, key, "1") == "OK\n");
    CHECK(run(Op::Save, "g", "1") == "ERR full 3/3 entries\n");
    CHECK(run(Op::Count) == "COUNT 3 3\n");
    CHECK(db.store().expired_total() == 3);
    CHECK(db.store().evicted_total() == 0);
}

TEST_CASE_METHOD(Fixture, "the active cycle reclaims expired entries and says when more wait", "[commands][expiry]")
{
    for (const char* key : {"a", "b"})
        with_ttl(Op::Save, key, "1", 1000);
    run(Op::Save, "c", "1");
    CHECK_FALSE(db.expire_cycle(std::chrono::milliseconds(1)));
    CHECK(db.store().stored() == 3);
    clock.advance(1000);
    CHECK_FALSE(db.expire_cycle(std::chrono::milliseconds(1)));  // all of them fit one cycle
    CHECK(db.store().stored() == 1);
    CHECK(db.store().expired_total() == 2);
    CHECK(run(Op::Stats).find("\nexpired_entries 2\n") != std::string::npos);
}

TEST_CASE("kvstored run --when-full evict: a new key always finds room, evictions are counted", "[commands][evict]")
{
    kv::ManualClock clock;
    kv::Database db{3, std::nullopt, kv::WhenFull::Evict, clock};
    kv::Stats stats;
    kv::Limits limits{16};
    auto run = [&](Op op, std::string_view key, std::string_view value = {}) {
        std::string out;
        std::optional<kv::Listing> listing;
        kv::execute(Request{op, key, value}, db, stats, limits, out, listing);
        return out;
    };
    for (size_t i = 0; i < 20; ++i) {
        CHECK(run(Op::Save, "k" + std::to_string(i), "v") == "OK\n");
        CHECK(db.store().size() == std::min<size_t>(i + 1, 3));
    }
    CHECK(db.store().evicted_total() == 17);
    CHECK(stats.full_rejections == 0);
    std::string out;
    std::optional<kv::Listing> listing;
    kv::execute(Request{Op::Stats, {}, {}}, db, stats, limits, out, listing);
    CHECK(out.find("\nevictions 17\n") != std::string::npos);
    CHECK(out.find("\nwhen_full evict\n") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "expiries a peer could send but kvsvc never would are refused", "[commands][expiry]")
{
    CHECK(with_ttl(Op::Save, "a", "1", 0) == "ERR syntax ttl must be 1 to 3153600000 seconds\n");
    CHECK(with_ttl(Op::Save, "a", "1", -5) == "ERR syntax ttl must be 1 to 3153600000 seconds\n");
    CHECK(with_ttl(Op::Add, "a", "1", INT64_MAX).starts_with("ERR syntax"));
    CHECK(expire("a", INT64_MIN).starts_with("ERR syntax"));
    CHECK(run(Op::Count) == "COUNT 0 3\n");
}

namespace {

// A clock one millisecond later at every reading: a deadline can pass
// between two readings of one command.
class TickClock final : public kv::Clock {
public:
    int64_t now_ms() const override { return now_++; }
    mutable int64_t now_ = 1'800'000'000'000;
};

}  // namespace

TEST_CASE("a deadline passing inside incr, append or ttl never makes the entry permanent or shows TTL 0",
          "[commands][expiry][regression]")
{
    auto op = GENERATE(Op::Incr, Op::Append, Op::Ttl);
    TickClock clock;
    kv::Database db{10, std::nullopt, kv::WhenFull::Refuse, clock};
    kv::Stats stats;
    kv::Limits limits{20};
    auto run = [&](Request req) {
        std::string out;
        std::optional<kv::Listing> listing;
        kv::execute(req, db, stats, limits, out, listing);
        return out;
    };
    // The deadline lands between the command's read of the entry and its write.
    for (int64_t ttl = 1; ttl <= 8; ++ttl) {
        Request save{Op::Save, "k", "5"};
        save.expiry = Expiry::After;
        save.expiry_ms = ttl;
        REQUIRE(run(save) == "OK\n");
        Request req{op, "k", op == Op::Append ? "0" : ""};
        req.delta = 1;
        std::string out = run(req);
        CHECK(out != "TTL 0\n");
        clock.now_ += 100;
        std::optional<kv::Store::Entry> e = db.store().peek("k");
        INFO("ttl " << ttl << " ms, reply " << out);
        // A value made from the old entry ("6", "50") keeps its deadline: gone
        // by now. (An entry gone before the read counts from nothing: "1", "0",
        // rightly without a deadline.)
        bool from_old = e && (e->value == "6" || e->value == "50" || e->value == "5");
        CHECK_FALSE(from_old);
    }
}
