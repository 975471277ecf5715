// Unit tests for the capped store (kvstored/store.h): its invariants, stated at
// the top of store.h, hold.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "store.h"

using kv::Store;

TEST_CASE("put, get, erase", "[store]")
{
    Store s(10);
    CHECK(s.put("a", "1") == Store::PutResult::Inserted);
    REQUIRE(s.get("a"));
    CHECK(*s.get("a") == "1");
    CHECK(s.put("a", "2") == Store::PutResult::Replaced);
    CHECK(*s.get("a") == "2");
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
    CHECK(*s.get("a") == "new");
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
    CHECK(*s.get(key) == value);
    s.put("empty", "");
    REQUIRE(s.get("empty"));
    CHECK(s.get("empty")->empty());
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
                    REQUIRE(*got == want->second);
            }
            REQUIRE(s.size() == model.size());
        }
        std::vector<std::string_view> keys;
        for (const auto& [k, v] : model) {
            keys.push_back(k);
            REQUIRE(s.get(k));
            CHECK(*s.get(k) == v);
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
    CHECK(*s.get("k1") == "again");
}
