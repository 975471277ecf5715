// Unit tests for the capped store (kvstored/store.h): its invariants, stated at
// the top of store.h, hold.
#include <catch2/catch.hpp>
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
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
