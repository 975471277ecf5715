// Unit tests for the capped store (kvstored/store.h): its invariants, stated at
// the top of store.h, hold.
#include <catch2/catch.hpp>

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
