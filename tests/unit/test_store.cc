// Unit tests for the capped store (kvstored/store.h): its invariants, stated at
// the top of store.h, hold.
#include <catch2/catch.hpp>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store.h"

using kv::Store;

TEST_CASE("put, get, erase", "[store]")
{
    Store s(10);
    CHECK(s.put("a", "1") == Store::PutResult::Inserted);
    REQUIRE(s.get("a"));
    CHECK(s.get("a")->value == "1");
    CHECK(s.put("a", "2") == Store::PutResult::Replaced);
    CHECK(s.get("a")->value == "2");
    CHECK(s.size() == 1);
    CHECK(s.erase("a"));
    CHECK_FALSE(s.erase("a"));
    CHECK_FALSE(s.get("a"));
}

TEST_CASE("a full store refuses new keys but still overwrites and accepts after a delete", "[store]")
{
    Store s(2);
    CHECK(s.put("a", "1") == Store::PutResult::Inserted);
    CHECK(s.put("b", "1") == Store::PutResult::Inserted);
    CHECK(s.full());
    CHECK(s.put("c", "1") == Store::PutResult::Full);
    CHECK_FALSE(s.contains("c"));
    CHECK(s.put("a", "new") == Store::PutResult::Replaced);
    CHECK(s.get("a")->value == "new");
    CHECK(s.size() == 2);
    REQUIRE(s.erase("b"));
    CHECK(s.put("c", "1") == Store::PutResult::Inserted);
    CHECK(s.size() <= s.capacity());
}

TEST_CASE("keys are listed sorted and filtered by prefix", "[store]")
{
    Store s(100);
    for (const char* k : {"user:2", "user:10", "item", "user:1", "u"})
        s.put(k, "v");
    auto all = s.keys("");
    CHECK(all == std::vector<std::string_view>{"item", "u", "user:1", "user:10", "user:2"});
    CHECK(s.keys("user:1") == std::vector<std::string_view>{"user:1", "user:10"});
    CHECK(s.keys("zzz").empty());
}

TEST_CASE("keys and values are bytes", "[store]")
{
    Store s(10);
    std::string key("k\xff\x80", 3);
    std::string value("\0\n\r\xfe", 4);
    s.put(key, value);
    REQUIRE(s.get(key));
    CHECK(s.get(key)->value == value);
    s.put("empty", "");
    REQUIRE(s.get("empty"));
    CHECK(s.get("empty")->value.empty());
}

TEST_CASE("random puts, overwrites and erases agree with a std::map model", "[store]")
{
    // Few distinct keys and many operations: long probe runs, wrap-around at
    // the end of the table, growth, and backward-shift deletes in every shape.
    std::mt19937 rng(12345);
    for (size_t key_space : {8, 100, 3000}) {
        INFO("key space " << key_space);
        Store s(key_space);
        std::map<std::string, std::string> model;
        std::uniform_int_distribution<size_t> pick(0, key_space - 1);
        std::uniform_int_distribution<int> op(0, 9);
        std::uniform_int_distribution<size_t> len(0, 40);
        for (int step = 0; step < 50000; ++step) {
            std::string key = "k" + std::to_string(pick(rng));
            int o = op(rng);
            if (o < 5) {
                std::string value(len(rng), static_cast<char>('a' + step % 26));
                s.put(key, value);
                model[key] = value;
            } else if (o < 8) {
                CHECK(s.erase(key) == (model.erase(key) == 1));
            } else {
                auto got = s.get(key);
                auto want = model.find(key);
                REQUIRE(got.has_value() == (want != model.end()));
                if (got)
                    REQUIRE(got->value == want->second);
            }
            REQUIRE(s.size() == model.size());
        }
        std::vector<std::string_view> keys;
        for (const auto& [k, v] : model) {
            keys.push_back(k);
            REQUIRE(s.get(k));
            CHECK(s.get(k)->value == v);
        }
        CHECK(s.keys("") == keys);
    }
}

TEST_CASE("clear empties the store and it fills again", "[store]")
{
    Store s(1000);
    for (int i = 0; i < 1000; ++i)
        s.put("k" + std::to_string(i), "v");
    CHECK(s.full());
    s.clear();
    CHECK(s.size() == 0);
    CHECK_FALSE(s.get("k1"));
    CHECK(s.keys("").empty());
    CHECK(s.put("k1", "again") == Store::PutResult::Inserted);
    CHECK(s.get("k1")->value == "again");
}

namespace {

// Keys "f<n>" whose `hash` falls in [0, 64) modulo 2^14: the first slots of
// the 16384-slot table that the default capacity (10000) grows to, and the
// first slots of every smaller table on the way (the low bits are the same).
// For a random hash one candidate in 256 qualifies: 2.6M hashes for 10000.
template <class Hash> std::vector<std::string> crafted_keys(size_t count, Hash hash)
{
    std::vector<std::string> keys;
    char buf[32];
    for (uint64_t n = 0; keys.size() < count; ++n) {
        int len = std::snprintf(buf, sizeof buf, "f%llu", static_cast<unsigned long long>(n));
        std::string_view key(buf, static_cast<size_t>(len));
        if ((hash(key) & 16383) < 64)
            keys.emplace_back(key);
    }
    return keys;
}

// 10000 keys in 16384 slots (load 0.61). With a random hash a run of L
// occupied slots has probability about slots * exp(-L (a - 1 - ln a)) =
// 16384 * exp(-0.104 L): about 1e-14 for L = 400 (the worst of 300 random
// trials was 85). Crafted keys that share their home slots make one run of
// about 10000, so the bound separates the two by far.
constexpr size_t kLongestProbeBound = 400;

void require_short_probes(const std::vector<std::string>& keys)
{
    Store s(10000);
    for (const std::string& k : keys)
        REQUIRE(s.put(k, "v") == Store::PutResult::Inserted);
    Store::ProbeStats st = s.probe_stats();
    INFO("longest probe of a present key " << st.longest_hit << ", longest run " << st.longest_run);
    CHECK(st.longest_hit < kLongestProbeBound);
    CHECK(st.longest_run < kLongestProbeBound);
    for (const std::string& k : keys)
        REQUIRE(s.contains(k));
}

}  // namespace

TEST_CASE("hash flooding: keys crafted offline against std::hash share one probe run", "[store][flood]")
{
    // The store hashed with std::hash, whose seed is fixed, so a client could
    // compute keys landing in a few slots and make every lookup (and the
    // database load at start-up) walk a run as long as the whole key set.
    auto std_hash = [](std::string_view k) { return std::hash<std::string_view>{}(k); };
    require_short_probes(crafted_keys(10000, std_hash));
}

TEST_CASE("hash flooding: keys crafted against a guessed SipHash key (all zeros) spread too", "[store][flood]")
{
    // A keyed hash only helps if the key is secret: keys crafted for the
    // obvious guess must not cluster, so the store must not use it.
    REQUIRE(sodium_init() >= 0);
    const unsigned char zero_key[crypto_shorthash_KEYBYTES] = {};
    auto sip_zero = [&](std::string_view k) {
        unsigned char out[crypto_shorthash_BYTES];
        crypto_shorthash(out, reinterpret_cast<const unsigned char*>(k.data()), k.size(), zero_key);
        uint64_t h;
        std::memcpy(&h, out, sizeof h);
        return h;
    };
    require_short_probes(crafted_keys(10000, sip_zero));
}

namespace {

// Every page of the listing of `prefix` after `after`, `limit` keys at a time.
std::vector<std::string_view> list_in_pages(const Store& s, std::string_view prefix, std::string after, size_t limit)
{
    std::vector<std::string_view> all;
    for (int pages = 0;; ++pages) {
        REQUIRE(pages <= 10000);
        size_t before = all.size();
        bool more = s.keys_page(prefix, after, limit, all);
        REQUIRE(all.size() - before <= limit);
        if (!more)
            return all;
        REQUIRE(all.size() > before);  // progress, unless limit is 0
        after = std::string(all.back());
    }
}

std::vector<std::string_view> model_listing(const std::map<std::string, std::string>& model, std::string_view prefix,
                                            std::string_view after, size_t limit, bool& more)
{
    std::vector<std::string_view> out;
    more = false;
    for (auto it = model.upper_bound(std::string(after)); it != model.end(); ++it) {
        if (!std::string_view(it->first).starts_with(prefix))
            continue;
        if (out.size() == limit) {
            more = true;
            break;
        }
        out.push_back(it->first);
    }
    return out;
}

}  // namespace

TEST_CASE("paged listings agree with a std::map model under random puts, erases and clears", "[store][index]")
{
    // Keys over a small alphabet with 0x00 and 0xff (bytewise order is
    // unsigned), so that prefixes and cursors hit, miss and fall between keys;
    // values of changing size, so that replaces move entries to new blocks.
    std::mt19937 rng(2024);
    const std::string alphabet("ab\0\xff", 4);
    auto random_key = [&](size_t max_len) {
        std::string k(std::uniform_int_distribution<size_t>(1, max_len)(rng), 'a');
        for (char& c : k)
            c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
        return k;
    };
    Store s(300);
    std::map<std::string, std::string> model;
    for (int step = 0; step < 20000; ++step) {
        int op = std::uniform_int_distribution<int>(0, 999)(rng);
        std::string key = random_key(5);
        if (op < 500) {
            std::string value(std::uniform_int_distribution<size_t>(0, 20)(rng), 'v');
            auto r = s.put(key, value);
            if (r != Store::PutResult::Full)
                model[key] = value;
            else
                REQUIRE(model.size() == s.capacity());
        } else if (op < 800) {
            REQUIRE(s.erase(key) == (model.erase(key) == 1));
        } else if (op < 802) {
            s.clear();
            model.clear();
        } else {
            auto got = s.get(key);
            auto want = model.find(key);
            REQUIRE(got.has_value() == (want != model.end()));
            if (got)
                REQUIRE(got->value == want->second);
            std::string prefix = op % 3 == 0 ? "" : random_key(2);
            std::string after = op % 2 == 0 ? "" : random_key(4);
            size_t limit = std::uniform_int_distribution<size_t>(0, 12)(rng);
            INFO("prefix " << prefix.size() << " bytes, after " << after.size() << " bytes, limit " << limit);
            std::vector<std::string_view> page;
            bool more = s.keys_page(prefix, after, limit, page);
            bool want_more;
            REQUIRE(page == model_listing(model, prefix, after, limit, want_more));
            REQUIRE(more == want_more);
            if (limit > 0)
                REQUIRE(list_in_pages(s, prefix, after, limit) == model_listing(model, prefix, after, SIZE_MAX, more));
        }
        REQUIRE(s.size() == model.size());
    }
    bool more;
    CHECK(s.keys("") == model_listing(model, "", "", SIZE_MAX, more));
}

// ---------------------------------------------------------------------------
// Issue 14: deadlines, versions, eviction. Time moves only by ManualClock.

namespace {

using kv::kKeepDeadline;
using kv::kNoDeadline;
using kv::ManualClock;
using kv::WhenFull;

std::vector<std::string> as_strings(const std::vector<std::string_view>& v)
{
    return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("ManualClock moves only when told, system_clock is the Unix time in ms", "[store][clock]")
{
    ManualClock c;
    CHECK(c.now_ms() == 1'800'000'000'000);
    c.advance(5);
    CHECK(c.now_ms() == 1'800'000'000'005);
    c.set(42);
    CHECK(c.now_ms() == 42);
    int64_t t = static_cast<int64_t>(std::time(nullptr)) * 1000;
    int64_t now = kv::system_clock().now_ms();
    CHECK(now >= t - 1000);
    CHECK(now <= t + 2000);
}

TEST_CASE("an entry past its deadline is gone for get, peek, contains, keys, size and full", "[store][expiry]")
{
    ManualClock clock;
    Store s(2, WhenFull::Refuse, clock);
    const int64_t t0 = clock.now_ms();
    REQUIRE(s.put("a", "1", t0 + 1000) == Store::PutResult::Inserted);
    REQUIRE(s.put("b", "2") == Store::PutResult::Inserted);
    CHECK(s.peek("a")->deadline == t0 + 1000);
    CHECK(s.peek("b")->deadline == kNoDeadline);

    clock.advance(999);  // one ms before the deadline: still there
    CHECK(s.contains("a"));
    CHECK(s.size() == 2);
    CHECK(s.full());
    CHECK(as_strings(s.keys("")) == std::vector<std::string>{"a", "b"});

    clock.advance(1);  // at the deadline: gone
    CHECK_FALSE(s.peek("a"));
    CHECK_FALSE(s.contains("a"));
    CHECK(as_strings(s.keys("")) == std::vector<std::string>{"b"});
    CHECK(s.size() == 1);
    CHECK_FALSE(s.full());
    CHECK(s.stored() == 2);  // not reclaimed yet: peek, contains and keys change nothing
    CHECK(s.expired_total() == 0);
    CHECK(s.next_deadline() == t0 + 1000);

    CHECK_FALSE(s.get("a"));  // lazily reclaimed
    CHECK(s.stored() == 1);
    CHECK(s.expired_total() == 1);
    CHECK(s.next_deadline() == kNoDeadline);
    CHECK(s.get("b")->value == "2");
}

TEST_CASE("erase and set_deadline of an expired entry reclaim it and report it absent", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    s.put("a", "1", clock.now_ms() + 10);
    s.put("b", "1", clock.now_ms() + 10);
    clock.advance(10);
    CHECK_FALSE(s.erase("a"));
    CHECK_FALSE(s.set_deadline("b", clock.now_ms() + 1000));
    CHECK(s.stored() == 0);
    CHECK(s.expired_total() == 2);
    CHECK_FALSE(s.set_deadline("never", kNoDeadline));
}

TEST_CASE("a deadline already past makes the entry expired at once", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    CHECK(s.put("a", "1", clock.now_ms()) == Store::PutResult::Inserted);
    CHECK_FALSE(s.contains("a"));
    s.put("b", "1");
    REQUIRE(s.set_deadline("b", 1));
    CHECK_FALSE(s.contains("b"));
    CHECK(s.size() == 0);
    CHECK(s.reclaim_expired(10) == 2);
}

TEST_CASE("reclaim_expired reclaims earliest deadlines first, within its budget", "[store][expiry]")
{
    ManualClock clock;
    Store s(1000, WhenFull::Refuse, clock);
    const int64_t t0 = clock.now_ms();
    // Deadlines t0+1 .. t0+100 in a scrambled order, and 100 keys without one.
    std::vector<int> order(100);
    for (int i = 0; i < 100; ++i)
        order[static_cast<size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (int i : order) {
        s.put("d" + std::to_string(i), "v", t0 + 1 + i);
        s.put("n" + std::to_string(i), "v");
    }
    CHECK(s.reclaim_expired(1000) == 0);  // nothing expired yet
    CHECK(s.next_deadline() == t0 + 1);

    clock.set(t0 + 50);  // d0..d49 expired
    CHECK(s.size() == 150);
    CHECK(s.stored() == 200);
    CHECK(s.reclaim_expired(10) == 10);
    CHECK(s.stored() == 190);
    CHECK(s.next_deadline() == t0 + 11);  // d0..d9 went first
    CHECK(s.size() == 150);  // reclaiming changes no live entry
    CHECK(s.reclaim_expired(0) == 0);
    CHECK(s.reclaim_expired(1000) == 40);
    CHECK(s.reclaim_expired(1000) == 0);
    CHECK(s.stored() == 150);
    CHECK(s.expired_total() == 50);
    CHECK(s.next_deadline() == t0 + 51);
    for (int i = 50; i < 100; ++i)
        CHECK(s.contains("d" + std::to_string(i)));
}

TEST_CASE("a full store of expired entries accepts a new key (Refuse mode), displacing the earliest", "[store][expiry]")
{
    ManualClock clock;
    Store s(3, WhenFull::Refuse, clock);
    const int64_t t0 = clock.now_ms();
    s.put("a", "1", t0 + 30);
    s.put("b", "1", t0 + 10);
    s.put("c", "1", t0 + 20);
    std::string displaced = "junk";
    CHECK(s.put("d", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Full);  // none expired yet
    CHECK(displaced.empty());
    CHECK(s.stored() == 3);

    clock.set(t0 + 30);  // all three expired
    CHECK(s.size() == 0);
    CHECK_FALSE(s.full());
    CHECK(s.put("d", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(displaced == "b");
    CHECK(s.put("e", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(displaced == "c");
    CHECK(s.put("f", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(displaced == "a");
    CHECK(s.put("g", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Full);
    CHECK(displaced.empty());
    CHECK(s.expired_total() == 3);
    CHECK(s.evicted_total() == 0);
    CHECK(as_strings(s.keys("")) == std::vector<std::string>{"d", "e", "f"});
}

TEST_CASE("a put over an expired entry of the same key is an insert and drops the old deadline", "[store][expiry]")
{
    ManualClock clock;
    Store s(1, WhenFull::Refuse, clock);
    s.put("a", "old", clock.now_ms() + 5);
    clock.advance(5);
    std::string displaced = "junk";
    CHECK(s.put("a", "new", kKeepDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(displaced.empty());
    auto e = s.get("a");
    REQUIRE(e);
    CHECK(e->value == "new");
    CHECK(e->deadline == kNoDeadline);  // kKeepDeadline keeps nothing of an expired entry
    CHECK(s.expired_total() == 1);
    CHECK(s.next_deadline() == kNoDeadline);
}

TEST_CASE("put keeps or replaces the deadline per kKeepDeadline and kNoDeadline", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    const int64_t d1 = clock.now_ms() + 1000, d2 = clock.now_ms() + 2000;
    CHECK(s.put("new", "v", kKeepDeadline) == Store::PutResult::Inserted);
    CHECK(s.peek("new")->deadline == kNoDeadline);  // a new key keeps "none"

    s.put("a", "v", d1);
    CHECK(s.put("a", "w", kKeepDeadline) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->deadline == d1);
    CHECK(s.put("a", "longer value", kKeepDeadline) == Store::PutResult::Replaced);  // a new block
    CHECK(s.peek("a")->deadline == d1);
    CHECK(s.put("a", "x", d2) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->deadline == d2);
    CHECK(s.next_deadline() == d2);
    CHECK(s.put("a", "y") == Store::PutResult::Replaced);  // the default clears it
    CHECK(s.peek("a")->deadline == kNoDeadline);
    CHECK(s.next_deadline() == kNoDeadline);
    CHECK(s.put("a", "z", kKeepDeadline) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->deadline == kNoDeadline);
    CHECK(s.peek("a")->value == "z");
}

TEST_CASE("set_deadline sets, moves and clears a deadline, live entries only", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    const int64_t t0 = clock.now_ms();
    s.put("a", "value");
    REQUIRE(s.set_deadline("a", t0 + 100));
    CHECK(s.peek("a")->deadline == t0 + 100);
    CHECK(s.peek("a")->value == "value");
    REQUIRE(s.set_deadline("a", t0 + 50));
    CHECK(s.next_deadline() == t0 + 50);
    REQUIRE(s.set_deadline("a", kNoDeadline));
    CHECK(s.peek("a")->deadline == kNoDeadline);
    CHECK(s.next_deadline() == kNoDeadline);
    CHECK(s.peek("a")->value == "value");
    REQUIRE(s.set_deadline("a", t0 + 10));
    clock.advance(10);
    CHECK_FALSE(s.contains("a"));
    CHECK(s.reclaim_expired(5) == 1);
}

TEST_CASE("set_deadline gives a new version, or keeps it when asked (memcached's touch)", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    s.put("a", "value");
    s.put("b", "other");
    const uint64_t a = s.peek("a")->version;
    // Keep, whether the block is rewritten in place or moves (a deadline added).
    REQUIRE(s.set_deadline("a", clock.now_ms() + 100, Store::Version::Keep));
    CHECK(s.peek("a")->version == a);
    REQUIRE(s.set_deadline("a", clock.now_ms() + 200, Store::Version::Keep));
    CHECK(s.peek("a")->version == a);
    CHECK(s.peek("a")->deadline == clock.now_ms() + 200);
    // The counter does not go back: the next write is newer than every entry.
    REQUIRE(s.set_deadline("a", kNoDeadline));
    CHECK(s.peek("a")->version > s.peek("b")->version);
}

TEST_CASE("out-of-range deadlines and oversized values are refused with nothing changed", "[store][expiry]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    s.put("a", "v", clock.now_ms() + 100);
    uint64_t v = s.last_version();
    CHECK_THROWS_AS(s.put("b", "v", -2), std::invalid_argument);
    CHECK_THROWS_AS(s.put("a", "v", kv::kMaxDeadline + 1), std::invalid_argument);
    CHECK_THROWS_AS(s.set_deadline("a", kKeepDeadline), std::invalid_argument);
    CHECK_THROWS_WITH(s.set_deadline("a", -5), Catch::Contains("set_deadline"));
    // A view that claims 2 GiB: refused before a byte of it is read.
    static const char byte = 'x';
    CHECK_THROWS_AS(s.put("a", std::string_view(&byte, size_t{1} << 31)), std::length_error);
    CHECK(s.put("c", "v", kv::kMaxDeadline) == Store::PutResult::Inserted);
    CHECK(s.last_version() == v + 1);
    CHECK_FALSE(s.contains("b"));
    CHECK(s.peek("a")->deadline == clock.now_ms() + 100);
    CHECK(s.peek("c")->deadline == kv::kMaxDeadline);
}

TEST_CASE("versions increase strictly and change on every write, set_deadline included", "[store][version]")
{
    ManualClock clock;
    Store s(2, WhenFull::Refuse, clock);
    // They start at the construction time in microseconds.
    CHECK(s.last_version() >= static_cast<uint64_t>(clock.now_ms()) * 1000);
    uint64_t last = s.last_version();
    auto wrote = [&](std::string_view key) {
        auto e = s.peek(key);
        REQUIRE(e);
        CHECK(e->version > last);
        CHECK(e->version == s.last_version());
        last = e->version;
    };
    s.put("a", "1");
    wrote("a");
    s.put("b", "1");
    wrote("b");
    s.put("a", "1");  // the same value: still a write
    wrote("a");
    s.put("a", "22");  // a new block
    wrote("a");
    s.set_deadline("a", clock.now_ms() + 100);
    wrote("a");
    s.set_deadline("a", clock.now_ms() + 100);  // the same deadline: still a write
    wrote("a");
    s.set_deadline("a", kNoDeadline);
    wrote("a");
    // Reads, misses and refusals hand out none.
    s.get("a");
    s.peek("b");
    CHECK(s.put("c", "1") == Store::PutResult::Full);
    CHECK_FALSE(s.set_deadline("c", kNoDeadline));
    CHECK(s.last_version() == last);
    CHECK(s.get("a")->version == last);
    // Versions survive clear: a client holding one must see a change.
    s.clear();
    s.put("a", "1");
    wrote("a");
}

TEST_CASE("raise_version_floor: every later version is above the floor", "[store][version]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    uint64_t floor = s.last_version() + 1'000'000;
    s.raise_version_floor(floor);
    CHECK(s.last_version() == floor);
    s.put("a", "1");
    CHECK(s.peek("a")->version == floor + 1);
    s.raise_version_floor(5);  // lower: no effect
    s.put("a", "2");
    CHECK(s.peek("a")->version == floor + 2);
    // A clock before the epoch still gives versions >= 1.
    ManualClock early(-5);
    Store t(10, WhenFull::Refuse, early);
    t.put("a", "1");
    CHECK(t.peek("a")->version >= 1);
}

TEST_CASE("Evict mode: a full store evicts a live entry, counted and reported", "[store][evict]")
{
    ManualClock clock;
    Store s(2, WhenFull::Evict, clock);
    CHECK(s.when_full() == WhenFull::Evict);
    s.put("a", "1");
    clock.advance(Store::kStampMs);
    s.put("b", "1");
    clock.advance(Store::kStampMs);
    std::string displaced;
    CHECK(s.put("c", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(s.size() == 2);
    CHECK((displaced == "a" || displaced == "b"));
    CHECK_FALSE(s.contains(displaced));
    CHECK(s.evicted_total() == 1);
    CHECK(s.expired_total() == 0);
    CHECK(s.put("c", "2", kNoDeadline, 0, &displaced) == Store::PutResult::Replaced);  // no room needed
    CHECK(displaced.empty());

    // An expired entry goes before any live one, in Evict mode too.
    std::string evicted;
    CHECK(s.put("x", "1", clock.now_ms() + 1, 0, &evicted) == Store::PutResult::Inserted);
    CHECK_FALSE(evicted.empty());
    CHECK(s.evicted_total() == 2);
    clock.advance(1);
    CHECK(s.put("y", "1", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
    CHECK(displaced == "x");
    CHECK(s.evicted_total() == 2);
    CHECK(s.expired_total() == 1);

    Store none(0, WhenFull::Evict, clock);  // nothing to evict
    CHECK(none.put("a", "1") == Store::PutResult::Full);
}

TEST_CASE("Evict mode: the entries evicted are those used least recently (sampling)", "[store][evict]")
{
    // 1000 entries written 100 ms apart, then a random half read ("recent")
    // 10 s later. Making room for 100 new keys must evict old, unread
    // entries: a sample of 16 slots holds no unread entry with probability
    // below 0.6^16 = 3e-4 even at the end (500 read + 100 new of 1000), so
    // about 0.03 recent entries are evicted per run. Among the unread, the
    // oldest of the sample goes, so victims are mostly from the earliest
    // written: the mean index of the victims is ~190 (measured), where a
    // random choice among the unread would give ~500.
    ManualClock clock;
    constexpr int kN = 1000;
    Store s(kN, WhenFull::Evict, clock);
    for (int i = 0; i < kN; ++i) {
        s.put("k" + std::to_string(i), "v");
        clock.advance(Store::kStampMs);
    }
    std::vector<int> order(kN);
    for (int i = 0; i < kN; ++i)
        order[static_cast<size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(99));
    std::vector<bool> recent(kN);
    clock.advance(10'000);
    for (int n = 0; n < kN / 2; ++n) {
        recent[static_cast<size_t>(order[static_cast<size_t>(n)])] = true;
        REQUIRE(s.get("k" + std::to_string(order[static_cast<size_t>(n)])));
    }
    // peek marks nothing: the other half stays old even when peeked.
    for (int n = kN / 2; n < kN; ++n)
        REQUIRE(s.peek("k" + std::to_string(order[static_cast<size_t>(n)])));
    int evicted_recent = 0, evicted_old = 0;
    double old_index_sum = 0;
    for (int i = 0; i < 100; ++i) {
        clock.advance(Store::kStampMs);
        std::string displaced;
        REQUIRE(s.put("new" + std::to_string(i), "v", kNoDeadline, 0, &displaced) == Store::PutResult::Inserted);
        REQUIRE(displaced.starts_with("k"));
        int index = std::stoi(displaced.substr(1));
        if (recent[static_cast<size_t>(index)]) {
            ++evicted_recent;
        } else {
            ++evicted_old;
            old_index_sum += index;
        }
    }
    CHECK(s.size() == kN);
    CHECK(s.evicted_total() == 100);
    INFO("evicted " << evicted_recent << " recently read, " << evicted_old << " old");
    CHECK(evicted_recent <= 2);
    double mean_old_index = old_index_sum / evicted_old;
    INFO("mean index of the evicted old entries " << mean_old_index);
    CHECK(mean_old_index < 300);
}

TEST_CASE("a replace of another size and a deadline added or dropped re-point both indexes", "[store][index][expiry]")
{
    // Every change of block must leave no stale pointer in the key index or
    // the deadline index: under ASan a stale one is a use after free as soon
    // as listing, reclaim_expired or erase follows it; without ASan the
    // results below would be wrong.
    ManualClock clock;
    Store s(100, WhenFull::Refuse, clock);
    const int64_t t0 = clock.now_ms();
    for (int i = 0; i < 50; ++i)
        s.put("k" + std::to_string(i), "v", t0 + 100 + i);
    for (int round = 1; round <= 5; ++round)
        for (int i = 0; i < 50; ++i)
            s.put("k" + std::to_string(i), std::string(static_cast<size_t>(round * 7 + i % 3), 'x'), kKeepDeadline);
    for (int i = 0; i < 50; i += 2) {  // drop and add again: two more blocks each
        REQUIRE(s.set_deadline("k" + std::to_string(i), kNoDeadline));
        REQUIRE(s.set_deadline("k" + std::to_string(i), t0 + 100 + i));
    }
    for (int i = 1; i < 50; i += 2)  // without a deadline now: dropped from the deadline index
        REQUIRE(s.set_deadline("k" + std::to_string(i), kNoDeadline));
    CHECK(s.keys("k").size() == 50);
    CHECK(s.next_deadline() == t0 + 100);
    clock.set(t0 + 150);
    CHECK(s.size() == 25);
    CHECK(s.reclaim_expired(100) == 25);
    CHECK(s.keys("k").size() == 25);
    for (int i = 0; i < 50; ++i) {
        auto e = s.get("k" + std::to_string(i));
        REQUIRE(e.has_value() == (i % 2 == 1));
        if (e)
            CHECK(e->value == std::string(static_cast<size_t>(35 + i % 3), 'x'));
    }
    for (int i = 1; i < 50; i += 2)
        REQUIRE(s.erase("k" + std::to_string(i)));
    CHECK(s.stored() == 0);
    CHECK(s.keys("").empty());
}

TEST_CASE("random operations with a moving clock agree with a model", "[store][expiry][model]")
{
    // The model: key -> (value, deadline, version). Checks after every step
    // that reads, listings, size, stored and the totals agree, and that
    // versions only grow.
    struct Model {
        std::string value;
        int64_t deadline;
        uint64_t version;
    };
    for (WhenFull mode : {WhenFull::Refuse, WhenFull::Evict}) {
        std::mt19937 rng(mode == WhenFull::Refuse ? 1 : 2);
        auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
        ManualClock clock;
        const size_t capacity = 40;
        Store s(capacity, mode, clock);
        std::map<std::string, Model> held;  // expired-not-reclaimed included
        uint64_t expired = 0, evicted = 0, last = s.last_version();
        auto live = [&](const Model& m) { return m.deadline == kNoDeadline || m.deadline > clock.now_ms(); };
        // Deadlines, some already past, unique among those held so that
        // "earliest first" names one entry.
        auto fresh_deadline = [&]() {
            for (;;) {
                int64_t d = clock.now_ms() + pick(200) - 20;
                bool taken = false;
                for (const auto& [k, m] : held)
                    taken = taken || m.deadline == d;
                if (!taken)
                    return d;
            }
        };
        auto random_deadline = [&]() -> int64_t {
            int r = pick(4);
            return r == 0 ? kNoDeadline : r == 1 ? kKeepDeadline : fresh_deadline();
        };
        for (int step = 0; step < 30000; ++step) {
            std::string key = "k" + std::to_string(pick(60));
            auto it = held.find(key);
            bool is_live = it != held.end() && live(it->second);
            int op = pick(100);
            INFO("step " << step << " op " << op << " key " << key);
            if (op < 35) {
                std::string value(static_cast<size_t>(pick(20)), static_cast<char>('a' + pick(26)));
                int64_t d = random_deadline();
                std::string displaced;
                auto r = s.put(key, value, d, 0, &displaced);
                if (it != held.end()) {
                    REQUIRE(r == (is_live ? Store::PutResult::Replaced : Store::PutResult::Inserted));
                    expired += is_live ? 0 : 1;
                    int64_t nd = d == kKeepDeadline ? (is_live ? it->second.deadline : kNoDeadline) : d;
                    it->second = {value, nd, s.last_version()};
                } else if (held.size() < capacity) {
                    REQUIRE(r == Store::PutResult::Inserted);
                    REQUIRE(displaced.empty());
                    held[key] = {value, d == kKeepDeadline ? kNoDeadline : d, s.last_version()};
                } else {
                    // The earliest expired entry, if any, else a victim (Evict) or Full.
                    const std::string* earliest = nullptr;
                    for (const auto& [k, m] : held)
                        if (!live(m) && (!earliest || m.deadline < held[*earliest].deadline))
                            earliest = &k;
                    if (earliest) {
                        REQUIRE(r == Store::PutResult::Inserted);
                        REQUIRE(displaced == *earliest);
                        ++expired;
                    } else if (mode == WhenFull::Evict) {
                        REQUIRE(r == Store::PutResult::Inserted);
                        REQUIRE(held.count(displaced) == 1);
                        ++evicted;
                    } else {
                        REQUIRE(r == Store::PutResult::Full);
                        REQUIRE(displaced.empty());
                    }
                    if (r == Store::PutResult::Inserted) {
                        held.erase(displaced);
                        held[key] = {value, d == kKeepDeadline ? kNoDeadline : d, s.last_version()};
                    }
                }
            } else if (op < 50) {
                REQUIRE(s.erase(key) == is_live);
                if (it != held.end()) {
                    expired += is_live ? 0 : 1;
                    held.erase(it);
                }
            } else if (op < 60) {
                int64_t d = pick(3) == 0 ? kNoDeadline : fresh_deadline();
                REQUIRE(s.set_deadline(key, d) == is_live);
                if (is_live) {
                    it->second.deadline = d;
                    it->second.version = s.last_version();
                } else if (it != held.end()) {
                    ++expired;
                    held.erase(it);
                }
            } else if (op < 62) {
                size_t budget = static_cast<size_t>(pick(5));
                size_t want = 0;
                for (const auto& [k, m] : held)
                    want += live(m) ? 0 : 1;
                REQUIRE(s.reclaim_expired(budget) == std::min(budget, want));
                // Earliest first: remove the model's `budget` earliest expired.
                for (size_t n = 0; n < std::min(budget, want); ++n) {
                    auto earliest = held.end();
                    for (auto m = held.begin(); m != held.end(); ++m)
                        if (!live(m->second)
                            && (earliest == held.end() || m->second.deadline < earliest->second.deadline))
                            earliest = m;
                    held.erase(earliest);
                    ++expired;
                }
            } else if (op < 63) {
                s.clear();
                held.clear();
            } else if (op < 70) {
                clock.advance(pick(30));
            } else if (op < 85) {
                auto e = s.get(key);
                REQUIRE(e.has_value() == is_live);
                if (e) {
                    REQUIRE(e->value == it->second.value);
                    REQUIRE(e->deadline == it->second.deadline);
                    REQUIRE(e->version == it->second.version);
                } else if (it != held.end()) {
                    ++expired;
                    held.erase(it);
                }
            } else {
                auto e = s.peek(key);
                REQUIRE(e.has_value() == is_live);
                if (e) {
                    REQUIRE(e->value == it->second.value);
                    REQUIRE(e->version == it->second.version);
                }
                std::vector<std::string> want;
                for (const auto& [k, m] : held)
                    if (live(m))
                        want.push_back(k);
                REQUIRE(as_strings(s.keys("")) == want);
            }
            REQUIRE(s.last_version() >= last);
            last = s.last_version();
            size_t n_live = 0;
            int64_t next = kNoDeadline;
            for (const auto& [k, m] : held) {
                n_live += live(m) ? 1 : 0;
                if (m.deadline != kNoDeadline && (next == kNoDeadline || m.deadline < next))
                    next = m.deadline;
            }
            REQUIRE(s.size() == n_live);
            REQUIRE(s.stored() == held.size());
            REQUIRE(s.next_deadline() == next);
            REQUIRE(s.expired_total() == expired);
            REQUIRE(s.evicted_total() == evicted);
        }
    }
}

// --- issue 16: memcached's client flags -------------------------------------------------

TEST_CASE("flags are stored, kept by kKeepFlags, replaced by a value, and kept by set_deadline", "[store][flags]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    CHECK(s.put("a", "v") == Store::PutResult::Inserted);
    CHECK(s.peek("a")->flags == 0);
    CHECK(s.put("a", "v", kNoDeadline, 7) == Store::PutResult::Replaced);
    CHECK(s.get("a")->flags == 7);
    // Kept, whatever the value, the deadline or its size become.
    CHECK(s.put("a", "longer value", kNoDeadline, kv::kKeepFlags) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->flags == 7);
    CHECK(s.put("a", "longer value", clock.now_ms() + 100, kv::kKeepFlags) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->flags == 7);
    CHECK(s.set_deadline("a", clock.now_ms() + 200));
    CHECK(s.peek("a")->flags == 7);
    CHECK(s.peek("a")->deadline == clock.now_ms() + 200);
    CHECK(s.set_deadline("a", kNoDeadline));
    CHECK(s.peek("a")->flags == 7);
    CHECK(s.peek("a")->value == "longer value");
    // Replaced: by other flags, and by 0 (the block loses them).
    CHECK(s.put("a", "longer value", kNoDeadline, 4'294'967'295) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->flags == 4'294'967'295u);
    CHECK(s.put("a", "longer value", kNoDeadline, 0) == Store::PutResult::Replaced);
    CHECK(s.peek("a")->flags == 0);
    CHECK(s.peek("a")->value == "longer value");
    // kKeepFlags on a new key, or on an expired one, gives 0.
    CHECK(s.put("new", "v", kNoDeadline, kv::kKeepFlags) == Store::PutResult::Inserted);
    CHECK(s.peek("new")->flags == 0);
    CHECK(s.put("gone", "v", clock.now_ms() + 10, 9) == Store::PutResult::Inserted);
    clock.advance(10);
    CHECK(s.put("gone", "w", kv::kKeepDeadline, kv::kKeepFlags) == Store::PutResult::Inserted);
    CHECK(s.peek("gone")->flags == 0);
    CHECK(s.peek("gone")->deadline == kNoDeadline);
}

TEST_CASE("every shape of block: with and without a deadline and flags, in place and reshaped", "[store][flags]")
{
    ManualClock clock;
    Store s(100, WhenFull::Evict, clock);
    const int64_t later = clock.now_ms() + 60'000;
    const std::vector<int64_t> deadlines{kNoDeadline, later, kv::kMaxDeadline};
    const std::vector<int64_t> flags{0, 1, 0x8000'0000, 4'294'967'295};
    const std::vector<std::string> values{"", "v", std::string(300, 'x'), "same"};
    // Every pair of shapes, from one to the other: key, value, deadline and
    // flags read back whole (the length word's bits 31 and 30 and the
    // optional fields do not overlap).
    int n = 0;
    for (int64_t d1 : deadlines)
        for (int64_t f1 : flags)
            for (int64_t d2 : deadlines)
                for (int64_t f2 : flags)
                    for (const std::string& v : values) {
                        ++n;
                        std::string key = "key" + std::to_string(n % 7) + std::string(n % 3 ? 20 : 246, 'k');
                        INFO("deadlines " << d1 << " -> " << d2 << ", flags " << f1 << " -> " << f2 << ", value "
                                          << v.size());
                        s.put(key, "same", d1, f1);
                        auto e = s.peek(key);
                        REQUIRE(e);
                        CHECK(e->value == "same");
                        CHECK(e->deadline == d1);
                        CHECK(e->flags == static_cast<uint32_t>(f1));
                        CHECK(s.put(key, v, d2, f2) == Store::PutResult::Replaced);
                        e = s.get(key);
                        REQUIRE(e);
                        CHECK(e->value == v);
                        CHECK(e->deadline == d2);
                        CHECK(e->flags == static_cast<uint32_t>(f2));
                        CHECK(s.keys("")[0].size() >= 20);
                    }
    CHECK(s.with_deadline() <= s.stored());
    for (std::string_view k : s.keys(""))
        CHECK(s.peek(k)->value.size() <= 300);
}

TEST_CASE("out-of-range flags are refused and change nothing", "[store][flags]")
{
    ManualClock clock;
    Store s(10, WhenFull::Refuse, clock);
    s.put("a", "v", kNoDeadline, 3);
    uint64_t v = s.last_version();
    CHECK_THROWS_AS(s.put("a", "w", kNoDeadline, -2), std::invalid_argument);
    CHECK_THROWS_WITH(s.put("b", "w", kNoDeadline, int64_t{1} << 32), Catch::Contains("flags 4294967296"));
    CHECK(s.last_version() == v);
    CHECK(s.peek("a")->value == "v");
    CHECK(s.peek("a")->flags == 3);
    CHECK_FALSE(s.contains("b"));
    // Bit 30 of the length word marks the flags: a value must be under 1 GiB.
    static const char byte = 'x';
    CHECK_THROWS_AS(s.put("a", std::string_view(&byte, size_t{1} << 30)), std::length_error);
    CHECK(s.peek("a")->flags == 3);
}
