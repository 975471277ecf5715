// Unit tests for the Redis door's string commands (kvstored/doors/redis/
// strings.cc), called directly. Expected bytes are redis-server 7.0.15's
// replies to the same commands (RESP2, and RESP3 where they differ), except
// where docs/redis.md lists a difference.
#include <catch2/catch.hpp>

#include "redis_handler_fixture.h"

using namespace kv::redis;
using redis_test::Fixture;

namespace {

constexpr std::string_view kOk = "+OK\r\n";
constexpr std::string_view kNil2 = "$-1\r\n";
constexpr std::string_view kNil3 = "_\r\n";
constexpr std::string_view kSyntax = "-ERR syntax error\r\n";
constexpr std::string_view kNotInt = "-ERR value is not an integer or out of range\r\n";

std::string bulk(std::string_view s)
{
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

}  // namespace

TEST_CASE_METHOD(Fixture, "GET and SET: hits, misses, both protocols", "[redis][strings]")
{
    CHECK(run(cmd_get, {"GET", "k"}) == kNil2);
    CHECK(run(cmd_get, {"GET", "k"}, 3) == kNil3);
    CHECK(run(cmd_set, {"SET", "k", "v"}) == kOk);
    CHECK(run(cmd_get, {"GET", "k"}) == "$1\r\nv\r\n");
    CHECK(run(cmd_set, {"SET", "e", ""}) == kOk);
    CHECK(run(cmd_get, {"GET", "e"}, 3) == "$0\r\n\r\n");
    CHECK(stats.reads == 4);
    CHECK(stats.hits == 2);
    CHECK(stats.misses == 2);
    CHECK(stats.saves == 2);
}

TEST_CASE_METHOD(Fixture, "SET NX XX GET", "[redis][strings]")
{
    CHECK(run(cmd_set, {"SET", "a", "1", "XX"}) == kNil2);
    CHECK(run(cmd_set, {"SET", "a", "1", "xx"}, 3) == kNil3);
    CHECK(run(cmd_set, {"SET", "a", "1", "NX", "GET"}) == kNil2);  // set; there was no old value
    CHECK(run(cmd_set, {"SET", "a", "2", "nx", "get"}) == "$1\r\n1\r\n");  // not set; the old value
    CHECK(run(cmd_get, {"GET", "a"}) == "$1\r\n1\r\n");
    CHECK(run(cmd_set, {"SET", "a", "3", "NX"}) == kNil2);
    CHECK(run(cmd_set, {"SET", "a", "3", "XX", "GET"}) == "$1\r\n1\r\n");
    CHECK(run(cmd_set, {"SET", "b", "1", "XX", "GET"}) == kNil2);
    CHECK(run(cmd_set, {"SET", "a", "4", "GET"}) == "$1\r\n3\r\n");
    CHECK(run(cmd_set, {"SET", "a", "5", "NX", "NX"}) == kNil2);  // a repeated option is accepted
    CHECK(run(cmd_get, {"GET", "b"}) == kNil2);
}

TEST_CASE_METHOD(Fixture, "SET option errors are Redis's", "[redis][strings]")
{
    CHECK(run(cmd_set, {"SET", "a", "3", "XX", "NX"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "NX", "XX"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "EX", "10", "PX", "10"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "KEEPTTL", "EX", "5"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "EX", "5", "KEEPTTL"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "EX"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "PERSIST"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "foo"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "3", "EX", "abc"}) == kNotInt);
    CHECK(run(cmd_set, {"SET", "a", "3", "EX", "0"}) == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(run(cmd_set, {"SET", "a", "3", "PX", "-1"}) == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(run(cmd_set, {"SET", "a", "3", "EX", "9223372036854775"}) == "-ERR invalid expire time in 'set' command\r\n");
    // Past kvstore's last deadline (the year 10889): a documented difference.
    CHECK(run(cmd_set, {"SET", "a", "3", "PXAT", "9223372036854775807"})
          == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(db.store().size() == 0);
}

TEST_CASE_METHOD(Fixture, "SET expiry: EX PX EXAT PXAT KEEPTTL, and a deadline in the past deletes", "[redis][strings]")
{
    CHECK(run(cmd_set, {"SET", "a", "1", "EX", "10", "EX", "20"}) == kOk);  // the last one counts
    CHECK(db.store().peek("a")->deadline == now() + 20'000);
    CHECK(run(cmd_set, {"SET", "a", "1", "px", "1500"}) == kOk);
    CHECK(db.store().peek("a")->deadline == now() + 1500);
    CHECK(run(cmd_set, {"SET", "a", "2", "KEEPTTL"}) == kOk);
    CHECK(db.store().peek("a")->deadline == now() + 1500);
    CHECK(run(cmd_set, {"SET", "a", "3"}) == kOk);
    CHECK(db.store().peek("a")->deadline == kv::kNoDeadline);
    std::string at = std::to_string(now() / 1000 + 100);
    CHECK(run(cmd_set, {"SET", "a", "4", "EXAT", at}) == kOk);
    CHECK(db.store().peek("a")->deadline == (now() / 1000 + 100) * 1000);
    CHECK(run(cmd_set, {"SET", "a", "5", "PXAT", std::to_string(now() + 7)}) == kOk);
    CHECK(db.store().peek("a")->deadline == now() + 7);
    clock.advance(7);
    CHECK(run(cmd_get, {"GET", "a"}) == kNil2);
    CHECK(run(cmd_set, {"SET", "b", "1"}) == kOk);
    CHECK(run(cmd_set, {"SET", "b", "2", "EXAT", "1", "GET"}) == "$1\r\n1\r\n");
    CHECK(run(cmd_set, {"SET", "c", "2", "PXAT", std::to_string(now())}) == kOk);
    CHECK(db.store().stored() == 0);
}

TEST_CASE_METHOD(Fixture, "SETNX SETEX PSETEX GETSET GETDEL", "[redis][strings]")
{
    CHECK(run(cmd_setnx, {"SETNX", "a", "1"}) == ":1\r\n");
    CHECK(run(cmd_setnx, {"SETNX", "a", "2"}) == ":0\r\n");
    CHECK(run(cmd_setex, {"SETEX", "a", "0", "v"}) == "-ERR invalid expire time in 'setex' command\r\n");
    CHECK(run(cmd_psetex, {"PSETEX", "a", "-1", "v"}) == "-ERR invalid expire time in 'psetex' command\r\n");
    CHECK(run(cmd_setex, {"SETEX", "a", "x", "v"}) == kNotInt);
    CHECK(run(cmd_setex, {"SETEX", "a", "10", "v"}) == kOk);
    CHECK(db.store().peek("a")->deadline == now() + 10'000);
    CHECK(run(cmd_psetex, {"PSETEX", "a", "10", "w"}) == kOk);
    CHECK(db.store().peek("a")->deadline == now() + 10);
    CHECK(run(cmd_getset, {"GETSET", "a", "x"}) == "$1\r\nw\r\n");
    CHECK(db.store().peek("a")->deadline == kv::kNoDeadline);
    CHECK(run(cmd_getset, {"GETSET", "n", "x"}, 3) == kNil3);
    CHECK(run(cmd_getdel, {"GETDEL", "a"}) == "$1\r\nx\r\n");
    CHECK(run(cmd_getdel, {"GETDEL", "a"}) == kNil2);
    CHECK(run(cmd_getdel, {"GETDEL", "a"}, 3) == kNil3);
}

TEST_CASE_METHOD(Fixture, "GETEX", "[redis][strings]")
{
    CHECK(run(cmd_getex, {"GETEX", "a"}) == kNil2);
    CHECK(run(cmd_getex, {"GETEX", "a", "EX", "0"}) == kNil2);  // the key is looked up first
    CHECK(run(cmd_getex, {"GETEX", "a", "foo"}) == kSyntax);
    CHECK(run(cmd_getex, {"GETEX", "a", "KEEPTTL"}) == kSyntax);
    CHECK(run(cmd_set, {"SET", "a", "hello"}) == kOk);
    CHECK(run(cmd_getex, {"GETEX", "a", "EX", "0"}) == "-ERR invalid expire time in 'getex' command\r\n");
    CHECK(run(cmd_getex, {"GETEX", "a", "PERSIST", "EX", "1"}) == kSyntax);
    CHECK(run(cmd_getex, {"GETEX", "a", "PX", "10", "PX", "20"}) == bulk("hello"));
    CHECK(db.store().peek("a")->deadline == now() + 20);
    CHECK(run(cmd_getex, {"GETEX", "a", "persist"}) == bulk("hello"));
    CHECK(db.store().peek("a")->deadline == kv::kNoDeadline);
    CHECK(run(cmd_getex, {"GETEX", "a", "EXAT", "1"}) == bulk("hello"));
    CHECK(run(cmd_get, {"GET", "a"}) == kNil2);
}

TEST_CASE_METHOD(Fixture, "MGET MSET MSETNX", "[redis][strings]")
{
    CHECK(run(cmd_mset, {"MSET", "a"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
    CHECK(run(cmd_msetnx, {"MSETNX", "a", "1", "b"}) == "-ERR wrong number of arguments for 'msetnx' command\r\n");
    CHECK(run(cmd_mset, {"MSET", "a", "1", "b", "2", "a", "3"}) == kOk);
    CHECK(run(cmd_mget, {"MGET", "a", "x", "b"}) == "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n2\r\n");
    CHECK(run(cmd_mget, {"MGET", "a", "x", "b"}, 3) == "*3\r\n$1\r\n3\r\n_\r\n$1\r\n2\r\n");
    CHECK(run(cmd_msetnx, {"MSETNX", "c", "1", "a", "2"}) == ":0\r\n");
    CHECK(run(cmd_get, {"GET", "c"}) == kNil2);
    CHECK(run(cmd_msetnx, {"MSETNX", "c", "1", "d", "2"}) == ":1\r\n");
    CHECK(run(cmd_mget, {"MGET", "c", "d"}) == "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

TEST_CASE_METHOD(Fixture, "a full store refuses new keys whole, with kvstore's OOM text", "[redis][strings]")
{
    const std::string oom = "-OOM command not allowed when the store is full (5 of 5 entries, --when-full refuse)\r\n";
    CHECK(run(cmd_mset, {"MSET", "a", "1", "b", "1", "c", "1", "d", "1"}) == kOk);
    CHECK(run(cmd_mset, {"MSET", "a", "2", "e", "2", "f", "2"})
          == "-OOM command not allowed when the store is full (4 of 5 entries, --when-full refuse)\r\n");
    CHECK(run(cmd_get, {"GET", "a"}) == "$1\r\n1\r\n");  // nothing was written
    CHECK(run(cmd_set, {"SET", "e", "1"}) == kOk);
    CHECK(run(cmd_set, {"SET", "f", "1"}) == oom);
    CHECK(run(cmd_set, {"SET", "a", "9"}) == kOk);  // overwriting always works
    CHECK(run(cmd_incr, {"INCR", "g"}) == oom);
    CHECK(run(cmd_append, {"APPEND", "g", "x"}) == oom);
    CHECK(stats.full_rejections == 4);
}

TEST_CASE_METHOD(Fixture, "APPEND STRLEN and the value bound", "[redis][strings]")
{
    // The fixture's --max-value is 64 bytes.
    const std::string too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    CHECK(run(cmd_strlen, {"STRLEN", "a"}) == ":0\r\n");
    CHECK(run(cmd_append, {"APPEND", "a", ""}) == ":0\r\n");  // creates the key, as Redis does
    CHECK(run(cmd_get, {"GET", "a"}) == "$0\r\n\r\n");
    CHECK(run(cmd_append, {"APPEND", "a", "hello"}) == ":5\r\n");
    CHECK(run(cmd_pexpire, {"PEXPIRE", "a", "100"}) == ":1\r\n");
    CHECK(run(cmd_append, {"APPEND", "a", " world"}) == ":11\r\n");
    CHECK(db.store().peek("a")->deadline == now() + 100);  // kept
    CHECK(run(cmd_strlen, {"STRLEN", "a"}) == ":11\r\n");
    CHECK(run(cmd_append, {"APPEND", "a", std::string(54, 'x')}) == too_big);
    CHECK(run(cmd_append, {"APPEND", "a", std::string(53, 'x')}) == ":64\r\n");
    CHECK(run(cmd_set, {"SET", "b", std::string(65, 'x')}) == too_big);
    CHECK(run(cmd_setrange, {"SETRANGE", "b", "60", "abcde"}) == too_big);
}

TEST_CASE_METHOD(Fixture, "INCR DECR INCRBY DECRBY", "[redis][strings]")
{
    CHECK(run(cmd_incr, {"INCR", "n"}) == ":1\r\n");
    CHECK(run(cmd_incrby, {"INCRBY", "n", "41"}) == ":42\r\n");
    CHECK(run(cmd_decr, {"DECR", "n"}) == ":41\r\n");
    CHECK(run(cmd_decrby, {"DECRBY", "n", "50"}) == ":-9\r\n");
    CHECK(run(cmd_incrby, {"INCRBY", "n", "x"}) == kNotInt);
    CHECK(run(cmd_decrby, {"DECRBY", "n", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
    CHECK(run(cmd_decrby, {"DECRBY", "missing", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
    CHECK(run(cmd_set, {"SET", "n", "9223372036854775807"}) == kOk);
    CHECK(run(cmd_incr, {"INCR", "n"}) == "-ERR increment or decrement would overflow\r\n");
    for (std::string_view bad : {"", " 1", "+1", "01", "-0", "1.0", "abc"}) {
        CHECK(run(cmd_set, {"SET", "s", bad}) == kOk);
        CHECK(run(cmd_incr, {"INCR", "s"}) == kNotInt);
    }
    CHECK(run(cmd_set, {"SET", "t", "10", "PX", "500"}) == kOk);
    CHECK(run(cmd_incr, {"INCR", "t"}) == ":11\r\n");
    CHECK(db.store().peek("t")->deadline == now() + 500);
}

TEST_CASE_METHOD(Fixture, "INCRBYFLOAT formats as Redis does (long double, %.17Lf trimmed)", "[redis][strings]")
{
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "f", "1.5"}) == bulk("1.5"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "f", "0.1"}, 3) == bulk("1.6"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "f", "abc"}) == "-ERR value is not a valid float\r\n");
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "f", "inf"}) == "-ERR increment would produce NaN or Infinity\r\n");
    CHECK(run(cmd_set, {"SET", "g", "5.0e3"}) == kOk);
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "g", "1"}) == bulk("5001"));
    CHECK(run(cmd_set, {"SET", "h", "0x10"}) == kOk);
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "h", "1"}) == bulk("17"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "i", "0.1"}) == bulk("0.1"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "i", "0.2"}) == bulk("0.3"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "j", "-0.0"}) == bulk("0"));
    CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "j", " 1"}) == "-ERR value is not a valid float\r\n");
    for (std::string_view bad : {"", " 1", "1 ", "nan"}) {
        CHECK(run(cmd_set, {"SET", "f", bad}) == kOk);
        CHECK(run(cmd_incrbyfloat, {"INCRBYFLOAT", "f", "1"}) == "-ERR value is not a valid float\r\n");
    }
}

TEST_CASE("INCRBYFLOAT of a large number: the long double digits Redis shows", "[redis][strings]")
{
    Fixture f(5, kv::WhenFull::Refuse, 1024);
    CHECK(f.run(cmd_incrbyfloat, {"INCRBYFLOAT", "n", "1e308"})
          == bulk("999999999999999999966858796558456456605600998474155672077970479949217348688380618721001269218885"
                  "393204467472250540132231521347495939605835974208144301964187679591000196031907786631096045071066"
                  "679391533957889389145605435630612683649016186302170865892534448816237913008557573181424245104527"
                  "28255046343928578048"));
}

TEST_CASE_METHOD(Fixture, "GETRANGE SETRANGE", "[redis][strings]")
{
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "0", "-1"}) == "$0\r\n\r\n");
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "x", "-1"}) == kNotInt);
    CHECK(run(cmd_set, {"SET", "a", "Hello World"}) == kOk);
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "0", "4"}) == bulk("Hello"));
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "-3", "-1"}) == bulk("rld"));
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "0", "-100"}) == bulk("H"));
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "-1", "-5"}) == bulk(""));
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "5", "3"}) == bulk(""));
    CHECK(run(cmd_getrange, {"GETRANGE", "a", "6", "1000"}) == bulk("World"));
    CHECK(run(cmd_setrange, {"SETRANGE", "a", "-1", "x"}) == "-ERR offset is out of range\r\n");
    CHECK(run(cmd_setrange, {"SETRANGE", "a", "6", "Redis"}) == ":11\r\n");
    CHECK(run(cmd_get, {"GET", "a"}) == bulk("Hello Redis"));
    CHECK(run(cmd_setrange, {"SETRANGE", "a", "1", ""}) == ":11\r\n");
    CHECK(run(cmd_setrange, {"SETRANGE", "q", "5", ""}) == ":0\r\n");
    CHECK(db.store().peek("q") == std::nullopt);  // an empty value creates no key
    CHECK(run(cmd_setrange, {"SETRANGE", "q", "3", "ab"}) == ":5\r\n");
    CHECK(run(cmd_get, {"GET", "q"}) == bulk(std::string("\0\0\0ab", 5)));
}

TEST_CASE_METHOD(Fixture, "LCS: the string, LEN, IDX with Redis's ranges, both protocols", "[redis][strings]")
{
    CHECK(run(cmd_mset, {"MSET", "k1", "ohmytext", "k2", "mynewtext"}) == kOk);
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2"}) == bulk("mytext"));
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "LEN"}) == ":6\r\n");
    CHECK(run(cmd_lcs, {"LCS", "k1", "nokey"}) == bulk(""));
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "LEN", "IDX"})
          == "-ERR If you want both the length and indexes, please just use IDX.\r\n");
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "MINMATCHLEN"}) == kSyntax);
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "MINMATCHLEN", "x"}) == kNotInt);
    const std::string matches
        = "$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n"
          ":3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n";
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "IDX", "WITHMATCHLEN"}, 3) == "%2\r\n" + matches);
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "IDX", "WITHMATCHLEN"}) == "*4\r\n" + matches);
    CHECK(run(cmd_lcs, {"LCS", "k1", "k2", "idx", "minmatchlen", "4", "withmatchlen"})
          == "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n");
}

TEST_CASE_METHOD(Fixture, "LCS IDX walks back as Redis does (random strings, Redis's replies)", "[redis][strings]")
{
    struct Case {
        std::string_view a, b, idx, lcs;
    };
    const Case cases[] = {
        {"babcaacabcac", "aaabbaaacb",
         "*4\r\n$7\r\nmatches\r\n*3\r\n*3\r\n*2\r\n:10\r\n:11\r\n*2\r\n:7\r\n:8\r\n:2\r\n*3\r\n*2\r\n:7\r\n:8\r\n*"
         "2\r\n:2\r\n:"
         "3\r\n:2\r\n*3\r\n*2\r\n:4\r\n:5\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n",
         "aaabac"},
        {"acaacccaccba", "aacabbacac",
         "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:6\r\n:7\r\n*2\r\n:7\r\n:8\r\n:2\r\n*3\r\n*2\r\n:0\r\n:2\r\n*2\r\n:"
         "1\r\n:"
         "3\r\n:3\r\n$3\r\nlen\r\n:7\r\n",
         "acaacac"},
        {"bccaacccabac", "cacacabccb",
         "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:7\r\n:9\r\n*2\r\n:4\r\n:6\r\n:3\r\n$3\r\nlen\r\n:7\r\n", "caccabc"},
    };
    for (const Case& c : cases) {
        CHECK(run(cmd_mset, {"MSET", "x", c.a, "y", c.b}) == kOk);
        CHECK(run(cmd_lcs, {"LCS", "x", "y", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "2"}) == c.idx);
        CHECK(run(cmd_lcs, {"LCS", "x", "y"}) == bulk(c.lcs));
    }
}

TEST_CASE("LCS refuses a table past its bound, with Redis's text", "[redis][strings]")
{
    // The bound is 4 MiB: (1023 + 1) x (1023 + 1) 32-bit cells exactly.
    const std::string refused = "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n";
    Fixture f(5, kv::WhenFull::Refuse, 64 * 1024);
    std::string a(4000, 'a'), b(3000, 'b');
    CHECK(f.run(cmd_mset, {"MSET", "a", a, "b", b}) == kOk);
    CHECK(f.run(cmd_lcs, {"LCS", "a", "b", "LEN"}) == refused);
    CHECK(f.run(cmd_lcs, {"LCS", "a", "a", "LEN"}) == refused);
    CHECK(f.run(cmd_mset, {"MSET", "a", std::string(1023, 'a'), "b", std::string(1024, 'a')}) == kOk);
    CHECK(f.run(cmd_lcs, {"LCS", "a", "a", "LEN"}) == ":1023\r\n");
    CHECK(f.run(cmd_lcs, {"LCS", "a", "b", "LEN"}) == refused);
    CHECK(f.run(cmd_lcs, {"LCS", "b", "a"}) == refused);
    CHECK(f.run(cmd_set, {"SET", "b", std::string(60000, 'b')}) == kOk);
    CHECK(f.run(cmd_lcs, {"LCS", "b", "nokey", "LEN"}) == ":0\r\n");  // 60001 x 1 cells
    CHECK(f.run(cmd_lcs, {"LCS", "b", "b", "LEN"}) == refused);
}

TEST_CASE_METHOD(Fixture, "keys out of the store's range get kvstore's error", "[redis][strings]")
{
    const std::string bad = "-ERR kvstore keys are 1 to 250 bytes\r\n";
    CHECK(run(cmd_get, {"GET", ""}) == bad);
    CHECK(run(cmd_set, {"SET", std::string(251, 'k'), "v"}) == bad);
    CHECK(run(cmd_mset, {"MSET", "a", "1", "", "2"}) == bad);
    CHECK(run(cmd_set, {"SET", std::string(250, 'k'), "v"}) == kOk);
    CHECK(db.store().size() == 1);
}

// Issue 16: memcached's client flags (store.h). A whole new value writes 0;
// a change in place keeps them, as memcached's append and incr do.
TEST_CASE_METHOD(Fixture, "in-place writes keep memcached's flags, whole-value writes clear them",
                 "[redis][strings][flags]")
{
    auto flags = [this](std::string_view key) {
        auto e = db.store().peek(key);
        REQUIRE(e);
        return e->flags;
    };
    auto with_flags = [this](std::string_view key, std::string_view value, uint32_t f) {
        kv::Store::PutResult r;
        db.put(key, value, kv::kNoDeadline, f, r);
        REQUIRE(r != kv::Store::PutResult::Full);
    };
    with_flags("s", "ab", 7);
    CHECK(run(cmd_append, {"APPEND", "s", "cd"}) == ":4\r\n");
    CHECK(flags("s") == 7);
    CHECK(run(cmd_setrange, {"SETRANGE", "s", "1", "XYZ"}) == ":4\r\n");
    CHECK(flags("s") == 7);
    CHECK(db.store().peek("s")->value == "aXYZ");
    with_flags("n", "10", 4'294'967'295u);
    run(cmd_incr, {"INCR", "n"});
    run(cmd_incrby, {"INCRBY", "n", "5"});
    run(cmd_decr, {"DECR", "n"});
    run(cmd_decrby, {"DECRBY", "n", "2"});
    run(cmd_incrbyfloat, {"INCRBYFLOAT", "n", "0.5"});
    CHECK(db.store().peek("n")->value == "13.5");
    CHECK(flags("n") == 4'294'967'295u);
    // A new key made by an in-place command has flags 0.
    run(cmd_append, {"APPEND", "fresh", "x"});
    CHECK(flags("fresh") == 0);
    // Whole values: SET and its variants, GETSET, MSET.
    with_flags("w", "old", 9);
    run(cmd_set, {"SET", "w", "v"});
    CHECK(flags("w") == 0);
    with_flags("w", "old", 9);
    run(cmd_set, {"SET", "w", "v", "KEEPTTL"});
    CHECK(flags("w") == 0);
    with_flags("w", "old", 9);
    run(cmd_getset, {"GETSET", "w", "v"});
    CHECK(flags("w") == 0);
    with_flags("w", "old", 9);
    run(cmd_setex, {"SETEX", "w", "100", "v"});
    CHECK(flags("w") == 0);
    with_flags("w", "old", 9);
    run(cmd_mset, {"MSET", "w", "v"});
    CHECK(flags("w") == 0);
    // GETEX changes only the deadline: the flags stay.
    with_flags("w", "old", 9);
    run(cmd_getex, {"GETEX", "w", "EX", "100"});
    CHECK(flags("w") == 9);
}
