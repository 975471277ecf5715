// Unit tests for the Redis door's key commands (kvstored/doors/redis/keys.cc)
// and its glob (glob.h), called directly. Expected bytes are redis-server
// 7.0.15's replies to the same commands, except where docs/redis.md lists a
// difference (sorted KEYS, SCAN's cursors).
#include <catch2/catch.hpp>

#include <set>

#include "doors/redis/glob.h"
#include "redis_handler_fixture.h"

using namespace kv::redis;
using redis_test::Fixture;

namespace {

constexpr std::string_view kOk = "+OK\r\n";
constexpr std::string_view kSyntax = "-ERR syntax error\r\n";

// Generated from redis-server 7.0.15's KEYS replies over kGlobKeys.
const std::vector<std::string> kGlobKeys = {"a",
                                            "b",
                                            "ab",
                                            "abc",
                                            "aXc",
                                            "a]c",
                                            "a-c",
                                            "a\\c",
                                            "a*c",
                                            "a?c",
                                            "hello",
                                            "hallo",
                                            "hxllo",
                                            "[",
                                            "^",
                                            "]",
                                            "-",
                                            "\xe9"
                                            "",
                                            "\x80"
                                            "x",
                                            "zz",
                                            "a[b",
                                            "aaaaaaaaab",
                                            "aaaaaaaaaa",
                                            "a.b",
                                            "A"};
const std::vector<std::pair<std::string, std::vector<std::string>>> kGlobMatches = {
    {"*",
     {"a",
      "b",
      "ab",
      "abc",
      "aXc",
      "a]c",
      "a-c",
      "a\\c",
      "a*c",
      "a?c",
      "hello",
      "hallo",
      "hxllo",
      "[",
      "^",
      "]",
      "-",
      "\xe9"
      "",
      "\x80"
      "x",
      "zz",
      "a[b",
      "aaaaaaaaab",
      "aaaaaaaaaa",
      "a.b",
      "A"}},
    {"a*", {"a", "ab", "abc", "aXc", "a]c", "a-c", "a\\c", "a*c", "a?c", "a[b", "aaaaaaaaab", "aaaaaaaaaa", "a.b"}},
    {"*c", {"abc", "aXc", "a]c", "a-c", "a\\c", "a*c", "a?c"}},
    {"a?c", {"abc", "aXc", "a]c", "a-c", "a\\c", "a*c", "a?c"}},
    {"a[bX]c", {"abc", "aXc"}},
    {"a[^b]c", {"aXc", "a]c", "a-c", "a\\c", "a*c", "a?c"}},
    {"a[a-c]c", {"abc"}},
    {"a[c-a]*", {"ab", "abc", "aaaaaaaaab", "aaaaaaaaaa"}},
    {"[a-]c", {"a", "^", "]"}},
    {"a[a-]c", {}},
    {"a\\*c", {"a*c"}},
    {"a\\?c", {"a?c"}},
    {"a\\\\c", {"a\\c"}},
    {"a[\\]]c", {"a]c"}},
    {"a[\\-]c", {"a-c"}},
    {"[", {}},
    {"[^",
     {"a", "b", "[", "^", "]", "-",
      "\xe9"
      "",
      "A"}},
    {"[^a",
     {"b", "[", "^", "]", "-",
      "\xe9"
      "",
      "A"}},
    {"[abc", {"a", "b"}},
    {"a[", {}},
    {"\\", {}},
    {"h[ae]llo", {"hello", "hallo"}},
    {"h[^e]llo", {"hallo", "hxllo"}},
    {"h*llo", {"hello", "hallo", "hxllo"}},
    {"*a*a*a*a*b", {"aaaaaaaaab"}},
    {"a*a*a*a*a*a*a*a*a*b", {"aaaaaaaaab"}},
    {"?",
     {"a", "b", "[", "^", "]", "-",
      "\xe9"
      "",
      "A"}},
    {"??",
     {"ab",
      "\x80"
      "x",
      "zz"}},
    {"[\x80"
     "-\xff"
     "]*",
     {"\xe9"
      "",
      "\x80"
      "x"}},
    {"[\x01"
     "-\x7f"
     "]",
     {"a", "b", "[", "^", "]", "-", "A"}},
    {"[\xe9"
     "]",
     {"\xe9"
      ""}},
    {"*[", {}},
    {"**",
     {"a",
      "b",
      "ab",
      "abc",
      "aXc",
      "a]c",
      "a-c",
      "a\\c",
      "a*c",
      "a?c",
      "hello",
      "hallo",
      "hxllo",
      "[",
      "^",
      "]",
      "-",
      "\xe9"
      "",
      "\x80"
      "x",
      "zz",
      "a[b",
      "aaaaaaaaab",
      "aaaaaaaaaa",
      "a.b",
      "A"}},
    {"a**c", {"abc", "aXc", "a]c", "a-c", "a\\c", "a*c", "a?c"}},
    {"[]]", {}},
    {"[]a]", {}},
    {"[!a]", {"a"}},
    {"a[b-]", {"ab"}},
    {"\\a", {"a"}},
    {"ab\\", {}},
    {"[a\\", {"a"}},
    {"a[]", {}},
    {"A*", {"A"}},
    {"[A-Z]", {"A"}},
};

// The cursor and the keys of one SCAN reply (RESP2).
std::pair<std::string, std::vector<std::string>> parse_scan(const std::string& r)
{
    std::vector<std::string> items;
    size_t p = r.find("$");
    while (p != std::string::npos) {
        size_t nl = r.find("\r\n", p);
        size_t n = std::stoul(r.substr(p + 1, nl - p - 1));
        items.push_back(r.substr(nl + 2, n));
        p = r.find("$", nl + 2 + n + 2);
    }
    std::string cursor = items.front();
    items.erase(items.begin());
    return {cursor, items};
}

}  // namespace

TEST_CASE("glob matches exactly what Redis 7.0's KEYS matches", "[redis][glob]")
{
    for (const auto& [pattern, matching] : kGlobMatches) {
        std::set<std::string> want(matching.begin(), matching.end());
        GlobPattern g(pattern);
        for (const std::string& key : kGlobKeys) {
            INFO("pattern " << pattern << " key " << key);
            CHECK(g.matches(key) == (want.count(key) == 1));
        }
    }
    CHECK(stringmatch("", ""));
    CHECK_FALSE(stringmatch("*", ""));  // Redis's loop never runs for an empty string
    CHECK(stringmatch("H[A-Z]LLO", "hello", true));
    CHECK_FALSE(stringmatch("H[A-Z]LLO", "hello"));
}

TEST_CASE("glob: a pathological pattern costs little", "[redis][glob]")
{
    std::string key(250, 'a');
    std::string pattern;
    for (int i = 0; i < 2000; ++i)
        pattern += "*a";
    pattern += "*b";
    CHECK_FALSE(stringmatch(pattern, key));  // needs 1001 bytes: fails at once
    std::string p2;
    for (int i = 0; i < 120; ++i)
        p2 += "a*";
    p2 += "b";
    CHECK_FALSE(stringmatch(p2, key));
    CHECK(stringmatch(p2, key + "b"));
    CHECK(GlobPattern("user:[0-9]*").literal_prefix() == "user:");
    CHECK(GlobPattern("*").matches_everything());
}

TEST_CASE_METHOD(Fixture, "DEL UNLINK EXISTS TYPE TOUCH DBSIZE", "[redis][keys]")
{
    CHECK(run(mset_command, {"MSET", "a", "1", "b", "2"}) == kOk);
    CHECK(run(exists_command, {"EXISTS", "a", "a", "zz", "b"}) == ":3\r\n");
    CHECK(run(type_command, {"TYPE", "a"}) == "+string\r\n");
    CHECK(run(type_command, {"TYPE", "zz"}, 3) == "+none\r\n");
    CHECK(run(touch_command, {"TOUCH", "a", "a", "zz"}) == ":2\r\n");
    CHECK(run(dbsize_command, {"DBSIZE"}) == ":2\r\n");
    CHECK(run(del_command, {"DEL", "a", "a", "zz"}) == ":1\r\n");
    CHECK(run(del_command, {"UNLINK", "b"}) == ":1\r\n");
    CHECK(run(dbsize_command, {"DBSIZE"}) == ":0\r\n");
}

TEST_CASE_METHOD(Fixture, "KEYS: one sorted array of the matching keys", "[redis][keys]")
{
    CHECK(run(keys_command, {"KEYS", "*"}) == "*0\r\n");
    CHECK(run(mset_command, {"MSET", "user:2", "x", "user:1", "x", "hello", "x", "hallo", "x"}) == kOk);
    CHECK(run(keys_command, {"KEYS", "*"}) == "*4\r\n$5\r\nhallo\r\n$5\r\nhello\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
    CHECK(run(keys_command, {"KEYS", "user:*"}) == "*2\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
    CHECK(run(keys_command, {"KEYS", "h[^e]llo"}) == "*1\r\n$5\r\nhallo\r\n");
    CHECK(run(keys_command, {"KEYS", "nothing*"}) == "*0\r\n");
    CHECK(run(pexpire_command, {"PEXPIRE", "hello", "5"}) == ":1\r\n");
    clock.advance(5);
    CHECK(run(keys_command, {"KEYS", "h*"}) == "*1\r\n$5\r\nhallo\r\n");
}

TEST_CASE("SCAN walks every key once with server-wide cursors", "[redis][keys]")
{
    Fixture f(100);
    std::set<std::string> all;
    for (int i = 0; i < 37; ++i) {
        std::string k = "k" + std::to_string(i);
        CHECK(f.run(set_command, {"SET", k, "v"}) == kOk);
        all.insert(k);
    }
    CHECK(f.run(set_command, {"SET", "other", "v"}) == kOk);
    std::multiset<std::string> seen;
    std::string cursor = "0";
    int pages = 0;
    do {
        auto [next, keys] = parse_scan(f.run(scan_command, {"SCAN", cursor, "COUNT", "5", "MATCH", "k*"}));
        CHECK(keys.size() <= 5);
        seen.insert(keys.begin(), keys.end());
        cursor = next;
        ++pages;
    } while (cursor != "0" && pages < 100);
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == all);
    CHECK(seen.size() == all.size());
    CHECK(pages == 8);  // 37 keys, 5 a page; the last page is the one that ends
    // The default COUNT is 10; TYPE string keeps all, another type none.
    auto [c1, k1] = parse_scan(f.run(scan_command, {"SCAN", "0"}));
    CHECK(k1.size() == 10);
    CHECK(c1 != "0");
    CHECK(parse_scan(f.run(scan_command, {"SCAN", "0", "TYPE", "STRING", "COUNT", "1000"})).second.size() == 38);
    CHECK(parse_scan(f.run(scan_command, {"SCAN", "0", "TYPE", "list"})).second.empty());
    // A cursor can be used again: the same page (under a new cursor).
    CHECK(parse_scan(f.run(scan_command, {"SCAN", c1})).second == parse_scan(f.run(scan_command, {"SCAN", c1})).second);
}

TEST_CASE_METHOD(Fixture, "SCAN's errors are Redis's", "[redis][keys]")
{
    CHECK(run(scan_command, {"SCAN", "abc"}) == "-ERR invalid cursor\r\n");
    CHECK(run(scan_command, {"SCAN", " 1"}) == "-ERR invalid cursor\r\n");
    CHECK(run(scan_command, {"SCAN", "12345"}) == "-ERR invalid cursor\r\n");  // not one we handed out
    CHECK(run(scan_command, {"SCAN", "0", "COUNT", "0"}) == kSyntax);
    CHECK(run(scan_command, {"SCAN", "0", "COUNT", "x"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(scan_command, {"SCAN", "0", "MATCH"}) == kSyntax);
    CHECK(run(scan_command, {"SCAN", "0", "FOO", "1"}) == kSyntax);
    CHECK(run(scan_command, {"SCAN", "0"}, 3) == "*2\r\n$1\r\n0\r\n*0\r\n");
}

TEST_CASE_METHOD(Fixture, "RENAME RENAMENX COPY", "[redis][keys]")
{
    CHECK(run(rename_command, {"RENAME", "zz", "yy"}) == "-ERR no such key\r\n");
    CHECK(run(renamenx_command, {"RENAMENX", "zz", "yy"}) == "-ERR no such key\r\n");
    CHECK(run(set_command, {"SET", "a", "1", "PX", "100"}) == kOk);
    CHECK(run(rename_command, {"RENAME", "a", "a"}) == kOk);
    CHECK(run(renamenx_command, {"RENAMENX", "a", "a"}) == ":0\r\n");
    CHECK(run(rename_command, {"RENAME", "a", "b"}) == kOk);
    CHECK(db.store().peek("a") == std::nullopt);
    CHECK(db.store().peek("b")->deadline == now() + 100);  // the deadline moves with the value
    CHECK(run(set_command, {"SET", "c", "3"}) == kOk);
    CHECK(run(renamenx_command, {"RENAMENX", "b", "c"}) == ":0\r\n");
    CHECK(run(renamenx_command, {"RENAMENX", "b", "d"}) == ":1\r\n");

    CHECK(run(copy_command, {"COPY", "d", "d"}) == "-ERR source and destination objects are the same\r\n");
    CHECK(run(copy_command, {"COPY", "zz", "e"}) == ":0\r\n");
    CHECK(run(copy_command, {"COPY", "d", "c"}) == ":0\r\n");
    CHECK(run(copy_command, {"COPY", "d", "c", "REPLACE"}) == ":1\r\n");
    CHECK(run(copy_command, {"COPY", "d", "e", "DB", "0"}) == ":1\r\n");
    CHECK(db.store().peek("e")->deadline == now() + 100);
    CHECK(run(copy_command, {"COPY", "d", "f", "DB", "1"}) == "-ERR DB index is out of range\r\n");
    CHECK(run(copy_command, {"COPY", "d", "f", "DB", "x"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(copy_command, {"COPY", "d", "f", "DB", "99999999999"})
          == "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
    CHECK(run(copy_command, {"COPY", "d", "f", "REPLACE", "foo"}) == kSyntax);
    CHECK(run(get_command, {"GET", "c"}) == "$1\r\n1\r\n");
}

TEST_CASE_METHOD(Fixture, "RANDOMKEY FLUSHDB FLUSHALL", "[redis][keys]")
{
    CHECK(run(randomkey_command, {"RANDOMKEY"}) == "$-1\r\n");
    CHECK(run(randomkey_command, {"RANDOMKEY"}, 3) == "_\r\n");
    CHECK(run(set_command, {"SET", "only", "1"}) == kOk);
    for (int i = 0; i < 20; ++i)
        CHECK(run(randomkey_command, {"RANDOMKEY"}) == "$4\r\nonly\r\n");
    CHECK(run(flushdb_command, {"FLUSHALL", "foo"}) == kSyntax);
    CHECK(run(flushdb_command, {"FLUSHALL", "SYNC", "ASYNC"}) == kSyntax);
    CHECK(run(flushdb_command, {"FLUSHDB", "async"}) == kOk);
    CHECK(run(dbsize_command, {"DBSIZE"}) == ":0\r\n");
    CHECK(run(set_command, {"SET", "a", "1"}) == kOk);
    CHECK(run(flushdb_command, {"FLUSHALL"}) == kOk);
    CHECK(run(dbsize_command, {"DBSIZE"}) == ":0\r\n");
}

TEST_CASE_METHOD(Fixture, "EXPIRE family: NX XX GT LT, errors, a past time deletes", "[redis][keys]")
{
    CHECK(run(expire_command, {"EXPIRE", "a", "10", "nx", "xx"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "10", "nx", "gt"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "10", "gt", "lt"})
          == "-ERR GT and LT options at the same time are not compatible\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "10", "foo"}) == "-ERR Unsupported option foo\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "abc", "nx", "xx"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "abc"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "99999999999999999"})
          == "-ERR invalid expire time in 'expire' command\r\n");
    CHECK(run(pexpire_command, {"PEXPIRE", "a", "9223372036854775807"})
          == "-ERR invalid expire time in 'pexpire' command\r\n");
    CHECK(run(expire_command, {"EXPIRE", "a", "10"}) == ":0\r\n");  // no key

    CHECK(run(set_command, {"SET", "c", "1"}) == kOk);
    CHECK(run(expire_command, {"EXPIRE", "c", "10", "XX"}) == ":0\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "10", "GT"}) == ":0\r\n");  // no deadline: infinite
    CHECK(run(expire_command, {"EXPIRE", "c", "10", "LT"}) == ":1\r\n");
    CHECK(run(ttl_command, {"TTL", "c"}) == ":10\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "20", "NX"}) == ":0\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "20", "LT"}) == ":0\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "10", "GT"}) == ":0\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "20", "GT"}) == ":1\r\n");
    CHECK(run(pexpire_command, {"PEXPIRE", "c", "1500", "xx", "lt"}) == ":1\r\n");
    CHECK(run(pttl_command, {"PTTL", "c"}) == ":1500\r\n");
    CHECK(run(ttl_command, {"TTL", "c"}) == ":2\r\n");  // rounded to the nearest second, as Redis does
    CHECK(run(pexpire_command, {"PEXPIRE", "c", "1499"}) == ":1\r\n");
    CHECK(run(ttl_command, {"TTL", "c"}) == ":1\r\n");
    std::string at_ms = std::to_string(now() + 2500);
    CHECK(run(pexpireat_command, {"PEXPIREAT", "c", at_ms}) == ":1\r\n");
    CHECK(run(pexpiretime_command, {"PEXPIRETIME", "c"}) == ":" + at_ms + "\r\n");
    CHECK(run(expiretime_command, {"EXPIRETIME", "c"}) == ":" + std::to_string((now() + 2500 + 500) / 1000) + "\r\n");
    CHECK(run(expireat_command, {"EXPIREAT", "c", std::to_string(now() / 1000 + 60)}) == ":1\r\n");
    CHECK(db.store().peek("c")->deadline == (now() / 1000 + 60) * 1000);
    CHECK(run(persist_command, {"PERSIST", "c"}) == ":1\r\n");
    CHECK(run(persist_command, {"PERSIST", "c"}) == ":0\r\n");
    CHECK(run(persist_command, {"PERSIST", "zz"}) == ":0\r\n");
    CHECK(run(ttl_command, {"TTL", "c"}) == ":-1\r\n");
    CHECK(run(expiretime_command, {"EXPIRETIME", "c"}) == ":-1\r\n");
    CHECK(run(ttl_command, {"TTL", "zz"}) == ":-2\r\n");
    CHECK(run(pexpiretime_command, {"PEXPIRETIME", "zz"}) == ":-2\r\n");
    CHECK(run(expire_command, {"EXPIRE", "c", "-1", "NX"}) == ":1\r\n");  // a past time deletes
    CHECK(db.store().stored() == 0);
    CHECK(run(set_command, {"SET", "d", "1"}) == kOk);
    CHECK(run(expireat_command, {"EXPIREAT", "d", "1"}) == ":1\r\n");
    CHECK(run(exists_command, {"EXISTS", "d"}) == ":0\r\n");
    // A deadline past the year 10889 (kMaxDeadline) is refused on an existing key.
    CHECK(run(set_command, {"SET", "e", "1"}) == kOk);
    CHECK(run(pexpireat_command, {"PEXPIREAT", "e", "9223372036854775807"})
          == "-ERR invalid expire time in 'pexpireat' command\r\n");
    CHECK(run(ttl_command, {"TTL", "e"}) == ":-1\r\n");
}
