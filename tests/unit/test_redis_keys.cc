// Unit tests for the Redis door's key commands (kvstored/doors/redis/keys.cc)
// and its glob (glob.h), called directly. Expected bytes are redis-server
// 7.0.15's replies to the same commands, except where docs/redis.md lists a
// difference (sorted KEYS, SCAN's cursors).
#include <catch2/catch.hpp>

#include <iterator>
#include <random>
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

// The reply bytes of one command run by `session` (RESP2).
std::string run_as(Fixture& f, Session& session, std::initializer_list<std::string_view> args,
                   Handler handler = cmd_scan)
{
    std::vector<std::string_view> v(args);
    std::string out;
    ReplyWriter writer(out, 2);
    uint64_t ticket = 0;
    handler(v, session, f.ctx, writer, ticket);
    return out;
}

// Redis's matching as plain recursion, for patterns of a b ? * [ab] only
// (none of stringmatchlen's bracket quirks): the reference the compiled
// matcher is compared with on random patterns.
bool reference_match(std::string_view p, std::string_view s)
{
    if (p.empty())
        return s.empty();
    if (p[0] == '*')
        return reference_match(p.substr(1), s) || (!s.empty() && reference_match(p, s.substr(1)));
    if (s.empty())
        return false;
    if (p[0] == '[')
        return (s[0] == 'a' || s[0] == 'b') && reference_match(p.substr(4), s.substr(1));
    return (p[0] == '?' || p[0] == s[0]) && reference_match(p.substr(1), s.substr(1));
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
    // Patterns that cost the backtracking scan about 250 x 125 steps a key
    // (docs/redis.md, "Limits"), and one of 501 elements: same answers.
    const std::string a249b = std::string(249, 'a') + "b";
    CHECK_FALSE(stringmatch("*" + std::string(125, 'a') + "b*", key));
    CHECK(stringmatch("*" + std::string(124, 'a') + "b*", a249b));
    CHECK(stringmatch("*" + std::string(124, '?') + "b", a249b));
    CHECK_FALSE(stringmatch("*" + std::string(125, 'a') + "c", a249b));
    CHECK_FALSE(stringmatch("*" + std::string(249, 'a') + "b", key));
    std::string full = "*";
    for (int i = 0; i < 250; ++i)
        full += "a*";
    CHECK(stringmatch(full, key));
    CHECK_FALSE(stringmatch(full, a249b));
    CHECK(stringmatch(full + "?", std::string(251, 'a')));  // 503 elements: the fallback scan
}

TEST_CASE("glob agrees with plain recursion on random patterns", "[redis][glob]")
{
    std::mt19937 rng(15);
    const std::string_view parts[] = {"a", "b", "?", "*", "[ab]", "a", "b"};
    for (int round = 0; round < 20000; ++round) {
        std::string pattern, s;
        for (size_t n = rng() % 8; n > 0; --n)
            pattern += parts[rng() % std::size(parts)];
        for (size_t n = 1 + rng() % 8; n > 0; --n)
            s += "abc"[rng() % 3];
        INFO("pattern " << pattern << " string " << s);
        CHECK(stringmatch(pattern, s) == reference_match(pattern, s));
    }
}

TEST_CASE_METHOD(Fixture, "DEL UNLINK EXISTS TYPE TOUCH DBSIZE", "[redis][keys]")
{
    CHECK(run(cmd_mset, {"MSET", "a", "1", "b", "2"}) == kOk);
    CHECK(run(cmd_exists, {"EXISTS", "a", "a", "zz", "b"}) == ":3\r\n");
    CHECK(run(cmd_type, {"TYPE", "a"}) == "+string\r\n");
    CHECK(run(cmd_type, {"TYPE", "zz"}, 3) == "+none\r\n");
    CHECK(run(cmd_touch, {"TOUCH", "a", "a", "zz"}) == ":2\r\n");
    CHECK(run(cmd_dbsize, {"DBSIZE"}) == ":2\r\n");
    CHECK(run(cmd_del, {"DEL", "a", "a", "zz"}) == ":1\r\n");
    CHECK(run(cmd_del, {"UNLINK", "b"}) == ":1\r\n");
    CHECK(run(cmd_dbsize, {"DBSIZE"}) == ":0\r\n");
}

TEST_CASE_METHOD(Fixture, "KEYS: one sorted array of the matching keys", "[redis][keys]")
{
    CHECK(run(cmd_keys, {"KEYS", "*"}) == "*0\r\n");
    CHECK(run(cmd_mset, {"MSET", "user:2", "x", "user:1", "x", "hello", "x", "hallo", "x"}) == kOk);
    CHECK(run(cmd_keys, {"KEYS", "*"}) == "*4\r\n$5\r\nhallo\r\n$5\r\nhello\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
    CHECK(run(cmd_keys, {"KEYS", "user:*"}) == "*2\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
    CHECK(run(cmd_keys, {"KEYS", "h[^e]llo"}) == "*1\r\n$5\r\nhallo\r\n");
    CHECK(run(cmd_keys, {"KEYS", "nothing*"}) == "*0\r\n");
    CHECK(run(cmd_pexpire, {"PEXPIRE", "hello", "5"}) == ":1\r\n");
    clock.advance(5);
    CHECK(run(cmd_keys, {"KEYS", "h*"}) == "*1\r\n$5\r\nhallo\r\n");
}

TEST_CASE("SCAN walks every key once with server-wide cursors", "[redis][keys]")
{
    Fixture f(100);
    std::set<std::string> all;
    for (int i = 0; i < 37; ++i) {
        std::string k = "k" + std::to_string(i);
        CHECK(f.run(cmd_set, {"SET", k, "v"}) == kOk);
        all.insert(k);
    }
    CHECK(f.run(cmd_set, {"SET", "other", "v"}) == kOk);
    std::multiset<std::string> seen;
    std::string cursor = "0";
    int pages = 0;
    do {
        auto [next, keys] = parse_scan(f.run(cmd_scan, {"SCAN", cursor, "COUNT", "5", "MATCH", "k*"}));
        CHECK(keys.size() <= 5);
        seen.insert(keys.begin(), keys.end());
        cursor = next;
        ++pages;
    } while (cursor != "0" && pages < 100);
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == all);
    CHECK(seen.size() == all.size());
    CHECK(pages == 8);  // 37 keys, 5 a page; the last page is the one that ends
    // The default COUNT is 10; TYPE string keeps all, another type none.
    auto [c1, k1] = parse_scan(f.run(cmd_scan, {"SCAN", "0"}));
    CHECK(k1.size() == 10);
    CHECK(c1 != "0");
    CHECK(parse_scan(f.run(cmd_scan, {"SCAN", "0", "TYPE", "STRING", "COUNT", "1000"})).second.size() == 38);
    CHECK(parse_scan(f.run(cmd_scan, {"SCAN", "0", "TYPE", "list"})).second.empty());
    // A cursor can be used again: the same page (under a new cursor).
    CHECK(parse_scan(f.run(cmd_scan, {"SCAN", c1})).second == parse_scan(f.run(cmd_scan, {"SCAN", c1})).second);
}

TEST_CASE_METHOD(Fixture, "SCAN's errors are Redis's", "[redis][keys]")
{
    CHECK(run(cmd_scan, {"SCAN", "abc"}) == "-ERR invalid cursor\r\n");
    CHECK(run(cmd_scan, {"SCAN", " 1"}) == "-ERR invalid cursor\r\n");
    CHECK(run(cmd_scan, {"SCAN", "12345"}) == "-ERR invalid cursor\r\n");  // not one we handed out
    CHECK(run(cmd_scan, {"SCAN", "0", "COUNT", "0"}) == kSyntax);
    CHECK(run(cmd_scan, {"SCAN", "0", "COUNT", "x"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(cmd_scan, {"SCAN", "0", "MATCH"}) == kSyntax);
    CHECK(run(cmd_scan, {"SCAN", "0", "FOO", "1"}) == kSyntax);
    CHECK(run(cmd_scan, {"SCAN", "0"}, 3) == "*2\r\n$1\r\n0\r\n*0\r\n");
}

TEST_CASE("SCAN: a session holds 16 cursors and evicts only its own", "[redis][keys]")
{
    Fixture f(100);
    for (int i = 0; i < 40; ++i)
        CHECK(f.run(cmd_set, {"SET", "k" + std::to_string(100 + i), "v"}) == kOk);
    Session a, b;
    a.id = 1501;
    b.id = 1502;
    auto [a1, a1_keys] = parse_scan(run_as(f, a, {"SCAN", "0", "COUNT", "1"}));
    CHECK(a1_keys == std::vector<std::string>{"k100"});
    // B makes 100 cursors: A's survives, and works from B's connection too.
    std::string b_last;
    for (int i = 0; i < 100; ++i)
        b_last = parse_scan(run_as(f, b, {"SCAN", "0", "COUNT", "1"})).first;
    CHECK(parse_scan(run_as(f, b, {"SCAN", a1, "COUNT", "1"})).second == std::vector<std::string>{"k101"});
    // A's 2nd .. 16th: its first still lives; its 17th evicts its first.
    std::string a2;
    for (int i = 2; i <= 16; ++i) {
        std::string c = parse_scan(run_as(f, a, {"SCAN", "0", "COUNT", "1"})).first;
        if (i == 2)
            a2 = c;
    }
    CHECK(parse_scan(run_as(f, b, {"SCAN", a1, "COUNT", "1"})).second == std::vector<std::string>{"k101"});
    run_as(f, a, {"SCAN", "0", "COUNT", "1"});
    CHECK(run_as(f, b, {"SCAN", a1}) == "-ERR invalid cursor\r\n");
    CHECK(parse_scan(run_as(f, b, {"SCAN", a2, "COUNT", "1"})).second == std::vector<std::string>{"k101"});
    auto [a18, a18_keys] = parse_scan(run_as(f, a, {"SCAN", b_last, "COUNT", "1"}));
    CHECK(a18_keys == std::vector<std::string>{"k101"});
    CHECK(parse_scan(run_as(f, b, {"SCAN", a18, "COUNT", "1"})).second == std::vector<std::string>{"k102"});
    // A session's cursors go when it ends (~Session calls forget_scan_cursors).
    forget_scan_cursors(a.id);
    CHECK(run_as(f, b, {"SCAN", a18}) == "-ERR invalid cursor\r\n");
    CHECK(parse_scan(run_as(f, b, {"SCAN", b_last, "COUNT", "1"})).second == std::vector<std::string>{"k101"});
    forget_scan_cursors(b.id);
    CHECK(run_as(f, a, {"SCAN", b_last}) == "-ERR invalid cursor\r\n");
    forget_scan_cursors(a.id);
}

TEST_CASE("SCAN examines at most 1000 keys a call, whatever COUNT says", "[redis][keys]")
{
    Fixture f(3000);
    for (int i = 0; i < 2500; ++i)
        CHECK(f.run(cmd_set, {"SET", "k" + std::to_string(10000 + i), "v"}) == kOk);
    std::string cursor = "0";
    std::vector<size_t> pages;
    do {
        auto [next, keys] = parse_scan(f.run(cmd_scan, {"SCAN", cursor, "COUNT", "100000000"}));
        pages.push_back(keys.size());
        cursor = next;
    } while (cursor != "0" && pages.size() < 10);
    CHECK(pages == std::vector<size_t>{1000, 1000, 500});
    // A MATCH filters the 1000 keys examined: fewer come back, the walk goes on.
    auto [next, keys] = parse_scan(f.run(cmd_scan, {"SCAN", "0", "COUNT", "5000", "MATCH", "*5"}));
    CHECK(keys.size() == 100);
    CHECK(next != "0");
    forget_scan_cursors(f.session.id);
}

TEST_CASE_METHOD(Fixture, "RENAME RENAMENX COPY", "[redis][keys]")
{
    CHECK(run(cmd_rename, {"RENAME", "zz", "yy"}) == "-ERR no such key\r\n");
    CHECK(run(cmd_renamenx, {"RENAMENX", "zz", "yy"}) == "-ERR no such key\r\n");
    CHECK(run(cmd_set, {"SET", "a", "1", "PX", "100"}) == kOk);
    CHECK(run(cmd_rename, {"RENAME", "a", "a"}) == kOk);
    CHECK(run(cmd_renamenx, {"RENAMENX", "a", "a"}) == ":0\r\n");
    CHECK(run(cmd_rename, {"RENAME", "a", "b"}) == kOk);
    CHECK(db.store().peek("a") == std::nullopt);
    CHECK(db.store().peek("b")->deadline == now() + 100);  // the deadline moves with the value
    CHECK(run(cmd_set, {"SET", "c", "3"}) == kOk);
    CHECK(run(cmd_renamenx, {"RENAMENX", "b", "c"}) == ":0\r\n");
    CHECK(run(cmd_renamenx, {"RENAMENX", "b", "d"}) == ":1\r\n");

    CHECK(run(cmd_copy, {"COPY", "d", "d"}) == "-ERR source and destination objects are the same\r\n");
    CHECK(run(cmd_copy, {"COPY", "zz", "e"}) == ":0\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "c"}) == ":0\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "c", "REPLACE"}) == ":1\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "e", "DB", "0"}) == ":1\r\n");
    CHECK(db.store().peek("e")->deadline == now() + 100);
    CHECK(run(cmd_copy, {"COPY", "d", "f", "DB", "1"}) == "-ERR DB index is out of range\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "f", "DB", "x"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "f", "DB", "99999999999"})
          == "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
    CHECK(run(cmd_copy, {"COPY", "d", "f", "REPLACE", "foo"}) == kSyntax);
    CHECK(run(cmd_get, {"GET", "c"}) == "$1\r\n1\r\n");
}

TEST_CASE_METHOD(Fixture, "RANDOMKEY FLUSHDB FLUSHALL", "[redis][keys]")
{
    CHECK(run(cmd_randomkey, {"RANDOMKEY"}) == "$-1\r\n");
    CHECK(run(cmd_randomkey, {"RANDOMKEY"}, 3) == "_\r\n");
    CHECK(run(cmd_set, {"SET", "only", "1"}) == kOk);
    for (int i = 0; i < 20; ++i)
        CHECK(run(cmd_randomkey, {"RANDOMKEY"}) == "$4\r\nonly\r\n");
    CHECK(run(cmd_flushdb, {"FLUSHALL", "foo"}) == kSyntax);
    CHECK(run(cmd_flushdb, {"FLUSHALL", "SYNC", "ASYNC"}) == kSyntax);
    CHECK(run(cmd_flushdb, {"FLUSHDB", "async"}) == kOk);
    CHECK(run(cmd_dbsize, {"DBSIZE"}) == ":0\r\n");
    CHECK(run(cmd_set, {"SET", "a", "1"}) == kOk);
    CHECK(run(cmd_flushdb, {"FLUSHALL"}) == kOk);
    CHECK(run(cmd_dbsize, {"DBSIZE"}) == ":0\r\n");
}

TEST_CASE_METHOD(Fixture, "EXPIRE family: NX XX GT LT, errors, a past time deletes", "[redis][keys]")
{
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10", "nx", "xx"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10", "nx", "gt"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10", "gt", "lt"})
          == "-ERR GT and LT options at the same time are not compatible\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10", "foo"}) == "-ERR Unsupported option foo\r\n");
    // Redis prints the option as a C string: up to its first NUL.
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10", std::string_view("x\0y", 3)}) == "-ERR Unsupported option x\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "abc", "nx", "xx"})
          == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "abc"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "99999999999999999"}) == "-ERR invalid expire time in 'expire' command\r\n");
    CHECK(run(cmd_pexpire, {"PEXPIRE", "a", "9223372036854775807"})
          == "-ERR invalid expire time in 'pexpire' command\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "a", "10"}) == ":0\r\n");  // no key

    CHECK(run(cmd_set, {"SET", "c", "1"}) == kOk);
    CHECK(run(cmd_expire, {"EXPIRE", "c", "10", "XX"}) == ":0\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "10", "GT"}) == ":0\r\n");  // no deadline: infinite
    CHECK(run(cmd_expire, {"EXPIRE", "c", "10", "LT"}) == ":1\r\n");
    CHECK(run(cmd_ttl, {"TTL", "c"}) == ":10\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "20", "NX"}) == ":0\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "20", "LT"}) == ":0\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "10", "GT"}) == ":0\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "20", "GT"}) == ":1\r\n");
    CHECK(run(cmd_pexpire, {"PEXPIRE", "c", "1500", "xx", "lt"}) == ":1\r\n");
    CHECK(run(cmd_pttl, {"PTTL", "c"}) == ":1500\r\n");
    CHECK(run(cmd_ttl, {"TTL", "c"}) == ":2\r\n");  // rounded to the nearest second, as Redis does
    CHECK(run(cmd_pexpire, {"PEXPIRE", "c", "1499"}) == ":1\r\n");
    CHECK(run(cmd_ttl, {"TTL", "c"}) == ":1\r\n");
    std::string at_ms = std::to_string(now() + 2500);
    CHECK(run(cmd_pexpireat, {"PEXPIREAT", "c", at_ms}) == ":1\r\n");
    CHECK(run(cmd_pexpiretime, {"PEXPIRETIME", "c"}) == ":" + at_ms + "\r\n");
    CHECK(run(cmd_expiretime, {"EXPIRETIME", "c"}) == ":" + std::to_string((now() + 2500 + 500) / 1000) + "\r\n");
    CHECK(run(cmd_expireat, {"EXPIREAT", "c", std::to_string(now() / 1000 + 60)}) == ":1\r\n");
    CHECK(db.store().peek("c")->deadline == (now() / 1000 + 60) * 1000);
    CHECK(run(cmd_persist, {"PERSIST", "c"}) == ":1\r\n");
    CHECK(run(cmd_persist, {"PERSIST", "c"}) == ":0\r\n");
    CHECK(run(cmd_persist, {"PERSIST", "zz"}) == ":0\r\n");
    CHECK(run(cmd_ttl, {"TTL", "c"}) == ":-1\r\n");
    CHECK(run(cmd_expiretime, {"EXPIRETIME", "c"}) == ":-1\r\n");
    CHECK(run(cmd_ttl, {"TTL", "zz"}) == ":-2\r\n");
    CHECK(run(cmd_pexpiretime, {"PEXPIRETIME", "zz"}) == ":-2\r\n");
    CHECK(run(cmd_expire, {"EXPIRE", "c", "-1", "NX"}) == ":1\r\n");  // a past time deletes
    CHECK(db.store().stored() == 0);
    CHECK(run(cmd_set, {"SET", "d", "1"}) == kOk);
    CHECK(run(cmd_expireat, {"EXPIREAT", "d", "1"}) == ":1\r\n");
    CHECK(run(cmd_exists, {"EXISTS", "d"}) == ":0\r\n");
    // A deadline past the year 10889 (kMaxDeadline) is refused on an existing key.
    CHECK(run(cmd_set, {"SET", "e", "1"}) == kOk);
    CHECK(run(cmd_pexpireat, {"PEXPIREAT", "e", "9223372036854775807"})
          == "-ERR invalid expire time in 'pexpireat' command\r\n");
    CHECK(run(cmd_ttl, {"TTL", "e"}) == ":-1\r\n");
}

// Issue 16: a rename moves the whole entry and a copy copies it, memcached's
// flags included; EXPIRE and PERSIST change only the deadline.
TEST_CASE_METHOD(Fixture, "RENAME COPY EXPIRE PERSIST keep memcached's flags", "[redis][keys][flags]")
{
    kv::Store::PutResult r;
    db.put("a", "v", now() + 50'000, 42, r);
    CHECK(run(cmd_rename, {"RENAME", "a", "b"}) == kOk);
    REQUIRE(db.store().peek("b"));
    CHECK(db.store().peek("b")->flags == 42);
    CHECK(db.store().peek("b")->deadline == now() + 50'000);
    CHECK(run(cmd_renamenx, {"RENAMENX", "b", "c"}) == ":1\r\n");
    CHECK(db.store().peek("c")->flags == 42);
    CHECK(run(cmd_copy, {"COPY", "c", "d"}) == ":1\r\n");
    CHECK(db.store().peek("d")->flags == 42);
    CHECK(db.store().peek("c")->flags == 42);
    CHECK(run(cmd_expire, {"EXPIRE", "d", "100"}) == ":1\r\n");
    CHECK(run(cmd_persist, {"PERSIST", "d"}) == ":1\r\n");
    CHECK(db.store().peek("d")->flags == 42);
    CHECK(db.store().peek("d")->deadline == kv::kNoDeadline);
}
