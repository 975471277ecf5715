// Unit tests for the RESP framing (kvstored/doors/redis/resp.h): requests parsed
// as Redis 7.0.15 parses them (the expected bytes were checked against
// redis-server 7.0.15 with raw sockets), whatever the read boundaries, within
// the request limits; and every reply type in RESP2 and RESP3.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "doors/redis/resp.h"

using kv::redis::ReplyWriter;
using kv::redis::RequestLimits;
using kv::redis::RequestParser;
using Next = RequestParser::Next;
using namespace std::string_literals;

namespace {

constexpr RequestLimits kLimits{1024 * 1024, 4 * 1024 * 1024};

// What the parser makes of `input` cut into `chunk`-byte appends: one entry per
// command, its arguments joined by '|', then "ERR <reply>" or "CLOSE" (an
// Error without a reply) if it failed. Views are turned into strings only at
// the next append, so this also checks that they stay valid until then.
std::vector<std::string> parse_chunked(std::string_view input, size_t chunk, RequestLimits limits = kLimits)
{
    RequestParser p(limits);
    std::vector<std::string> out;
    std::vector<std::vector<std::string_view>> held;
    auto flush = [&] {
        for (const auto& args : held) {
            std::string joined;
            for (size_t i = 0; i < args.size(); ++i)
                joined.append(i ? "|" : "").append(args[i]);
            out.push_back(joined);
        }
        held.clear();
    };
    std::vector<std::string_view> args;
    std::string error;
    size_t i = 0;
    do {
        std::string_view part = input.substr(i, chunk);
        i += part.size();
        flush();
        p.append(part.data(), part.size());
        for (;;) {
            Next n = p.next(args, error);
            if (n == Next::NeedMore)
                break;
            if (n == Next::Error) {
                flush();
                out.push_back(error.empty() ? "CLOSE" : "ERR " + error);
                REQUIRE(p.next(args, error) == Next::Error);
                return out;
            }
            REQUIRE(!args.empty());
            held.push_back(args);
        }
    } while (i < input.size());
    flush();
    return out;
}

std::vector<std::string> parse(std::string_view input, RequestLimits limits = kLimits)
{
    return parse_chunked(input, input.size() + 1, limits);
}

std::string perr(const std::string& text)
{
    return "ERR -ERR Protocol error: " + text + "\r\n";
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("multibulk requests, one and pipelined", "[resp]")
{
    CHECK(parse("*1\r\n$4\r\nPING\r\n") == V{"PING"});
    CHECK(parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n") == V{"SET|k|"});
    CHECK(parse("*2\r\n$4\r\nECHO\r\n$5\r\na\r\nbc\r\n") == V{"ECHO|a\r\nbc"});
    CHECK(parse("*2\r\n$4\r\nECHO\r\n$3\r\n\0\xff\n\r\n"s) == V{"ECHO|\0\xff\n"s});
    CHECK(parse("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n") == V{"PING", "GET|k", "PING"});
    CHECK(parse("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI").size() == 1);
}

TEST_CASE("Redis's quirks: the byte after a header's CR and a bulk's CRLF are not checked", "[resp]")
{
    CHECK(parse("*1\rX$4\r\nPING\r\nPING\r\n") == V{"PING", "PING"});
    CHECK(parse("*1\r\n$4\r\nPINGxxPING\r\n") == V{"PING", "PING"});
    CHECK(parse("*1\r\n$4\rxPINGxx") == V{"PING"});
}

TEST_CASE("empty and negative multibulk counts are skipped", "[resp]")
{
    CHECK(parse("*0\r\n*-1\r\n*-100\r\nPING\r\n") == V{"PING"});
    CHECK(parse("*0\r\n").empty());
}

TEST_CASE("multibulk errors have Redis's texts and close the connection", "[resp]")
{
    CHECK(parse("*x\r\nPING\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*00\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*-0\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*+1\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("* 1\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*2147483648\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*99999999999999999999\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*1\r\n:4\r\nPING\r\n") == V{perr("expected '$', got ':'")});
    CHECK(parse("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n") == V{perr("expected '$', got 'f'")});
    // A CR or LF in the error becomes a space; other bytes go out raw.
    CHECK(parse("*1\r\n\r\n") == V{perr("expected '$', got ' '")});
    CHECK(parse("*1\r\n\n\r\n") == V{perr("expected '$', got ' '")});
    CHECK(parse("*1\r\n\xff\r\n") == V{perr("expected '$', got '\xff'")});
    CHECK(parse("*1\r\n$-1\r\n") == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$-0\r\n") == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$+4\r\nPING\r\n") == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$\r\n") == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$4x\r\n") == V{perr("invalid bulk length")});
    // Commands before the error are still answered.
    CHECK(parse("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n") == V{"PING", "PING", perr("invalid multibulk length")});
}

TEST_CASE("bulks longer than max_bulk are refused as over proto-max-bulk-len", "[resp]")
{
    RequestLimits limits{10, 1000};
    CHECK(parse("*1\r\n$10\r\n0123456789\r\n", limits) == V{"0123456789"});
    CHECK(parse("*1\r\n$11\r\n", limits) == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$4294967296\r\n", limits) == V{perr("invalid bulk length")});
    CHECK(parse("*1\r\n$9223372036854775807\r\n", limits) == V{perr("invalid bulk length")});
}

TEST_CASE("headers without a CR within 64 KiB are refused", "[resp]")
{
    const size_t max = kv::redis::kInlineMax;
    // The count line: "*" and 65535 more bytes before the CR pass (then fail
    // as a number); one more is too big.
    CHECK(parse("*" + std::string(max - 1, '1') + "\r\n") == V{perr("invalid multibulk length")});
    CHECK(parse("*" + std::string(max, '1') + "\r\n") == V{perr("too big mbulk count string")});
    CHECK(parse("*" + std::string(max, '1')) == V{perr("too big mbulk count string")});
    CHECK(parse("*" + std::string(max - 1, '1')).empty());
    const std::string head = "*1\r\n";
    CHECK(parse(head + "$" + std::string(max - 1, '1') + "\r\n") == V{perr("invalid bulk length")});
    CHECK(parse(head + "$" + std::string(max, '1') + "\r\n") == V{perr("too big bulk count string")});
    CHECK(parse(head + "$" + std::string(max, '1')) == V{perr("too big bulk count string")});
    CHECK(parse(head + "$" + std::string(max - 1, '1')).empty());
}

TEST_CASE("a NUL before a header's CR leaves it waiting, as Redis's strchr() does", "[resp]")
{
    const size_t max = kv::redis::kInlineMax;
    CHECK(parse("*1\0\r\n*1\r\n$4\r\nPING\r\n"s).empty());
    CHECK(parse("*1\0\r\n"s + std::string(max, 'x')) == V{perr("too big mbulk count string")});
    CHECK(parse("*1\r\n$\0x\r\n"s).empty());
    CHECK(parse("*1\r\n$\0x\r\n"s + std::string(max, 'x')) == V{perr("too big bulk count string")});
    CHECK(parse("PING\0\nPING\r\n"s).empty());
    CHECK(parse("PING\0\n"s + std::string(max, 'x')) == V{perr("too big inline request")});
}

TEST_CASE("inline commands are split as sdssplitargs splits them", "[resp]")
{
    CHECK(parse("PING\r\n") == V{"PING"});
    CHECK(parse("PING\n") == V{"PING"});
    CHECK(parse("  SET   k\tv  \r\n") == V{"SET|k|v"});
    CHECK(parse("ECHO a\rb\r\n") == V{"ECHO|a|b"});
    CHECK(parse("ECHO a\r\r\n") == V{"ECHO|a"});
    // \v and \f separate only before an argument, not inside one.
    CHECK(parse("ECHO\vx\r\n\vECHO x\r\nECHO\fx\r\n") == V{"ECHO\vx", "ECHO|x", "ECHO\fx"});
    CHECK(parse("ECHO 'a\\'b'\r\n") == V{"ECHO|a'b"});
    CHECK(parse("ECHO 'a\\nb\"'\r\n") == V{"ECHO|a\\nb\""});
    CHECK(parse("ECHO \"\\x41\\n\\q\\x4g\"\r\n") == V{"ECHO|A\nqx4g"});
    CHECK(parse("ECHO \"\\r\\t\\b\\a\\\\\\\"\\xff\\xFf\"\r\n") == V{"ECHO|\r\t\b\a\\\"\xff\xff"});
    CHECK(parse("ECHO a\"b c\"\r\n") == V{"ECHO|ab c"});
    CHECK(parse("ECHO \"\" ''\r\n") == V{"ECHO||"});
    CHECK(parse("ECHO \"a\"\v\r\n") == V{"ECHO|a"});
    CHECK(parse("ECHO \"a\"\tb\r\n") == V{"ECHO|a|b"});
    CHECK(parse("ECHO \"a b\"\r\nPING\r\n") == V{"ECHO|a b", "PING"});
}

TEST_CASE("unbalanced quotes are a protocol error", "[resp]")
{
    const V unbalanced{perr("unbalanced quotes in request")};
    CHECK(parse("ECHO \"a\r\n") == unbalanced);
    CHECK(parse("ECHO 'a\r\n") == unbalanced);
    CHECK(parse("ECHO \"a\"b\r\n") == unbalanced);
    CHECK(parse("ECHO 'a'b\r\n") == unbalanced);
    CHECK(parse("ECHO a\"b c\"d\r\n") == unbalanced);
    CHECK(parse("ECHO \"a\\\"\r\n") == unbalanced);
    CHECK(parse("ECHO \"a\\\r\n") == unbalanced);
    CHECK(parse("PING\r\nECHO \"\r\nPING\r\n") == V{"PING", perr("unbalanced quotes in request")});
}

TEST_CASE("empty inline lines are skipped", "[resp]")
{
    CHECK(parse("\r\n\n   \r\n\t\nPING\r\n") == V{"PING"});
    CHECK(parse("\r\n").empty());
}

TEST_CASE("inline requests longer than 64 KiB are refused", "[resp]")
{
    const size_t max = kv::redis::kInlineMax;
    CHECK(parse(std::string(max, 'x') + "\n") == V{std::string(max, 'x')});
    CHECK(parse(std::string(max - 1, 'x') + "\r\n") == V{std::string(max - 1, 'x')});
    CHECK(parse(std::string(max + 1, 'x') + "\n") == V{perr("too big inline request")});
    CHECK(parse(std::string(max + 1, 'x')) == V{perr("too big inline request")});
    CHECK(parse(std::string(max, 'x')).empty());
    CHECK(parse("PING\r\n" + std::string(max + 1, 'x')) == V{"PING", perr("too big inline request")});
}

TEST_CASE("a request longer than max_request closes the connection without a reply", "[resp]")
{
    RequestLimits limits{100, 40};
    const std::string req = "*2\r\n$4\r\nECHO\r\n$19\r\n0123456789012345678\r\n";
    REQUIRE(req.size() == 40);
    CHECK(parse(req + req, limits) == V{"ECHO|0123456789012345678", "ECHO|0123456789012345678"});
    CHECK(parse_chunked(req + req, 1, limits) == V{"ECHO|0123456789012345678", "ECHO|0123456789012345678"});
    const std::string big = "*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n";
    CHECK(parse(big, limits) == V{"CLOSE"});
    CHECK(parse_chunked(big, 1, limits) == V{"CLOSE"});
    // Decided at the header: the bulk could not end within the bound.
    CHECK(parse("*2\r\n$4\r\nECHO\r\n$20\r\n", limits) == V{"CLOSE"});
    // Many small bulks.
    CHECK(parse("*100\r\n" + std::string(60, 'x'), limits) == V{"CLOSE"});
    std::string many = "*10\r\n";
    for (int i = 0; i < 10; ++i)
        many += "$0\r\n\r\n";
    CHECK(parse(many, limits) == V{"CLOSE"});
    // Inline.
    CHECK(parse(std::string(39, 'x') + "\n", limits) == V{std::string(39, 'x')});
    CHECK(parse(std::string(40, 'x') + "\n", limits) == V{"CLOSE"});
    CHECK(parse(std::string(41, 'x'), limits) == V{"CLOSE"});
    // A protocol error decided within the bound is still replied.
    CHECK(parse("*1\r\n:" + std::string(100, 'x'), limits) == V{"CLOSE"});
    CHECK(parse("*1\r\n:x\r\n" + std::string(100, 'x'), limits) == V{perr("expected '$', got ':'")});
    CHECK(parse("*1\r\n:" + std::string(100, 'x') + "\r\n", limits) == V{"CLOSE"});
}

TEST_CASE("every request gives the same result whatever the read boundaries", "[resp]")
{
    const std::vector<std::string> inputs{
        "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nv\0\r\nPING\r\n"s,
        "*0\r\n*-1\r\n\r\n  \r\nECHO \"a\\x41\\n\" 'b\\'c'\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        "*1\rX$4\r\nPINGxx*1\r\n$4\r\nPING\r\n*x\r\n",
        "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n:\r\n",
        "PING\r\nECHO 'a\r\n",
        "*2\r\n$4\r\nECHO\r\n$2000000\r\n",
        "PING\r\n*1\r\n$\0\r\n"s,
    };
    for (const std::string& input : inputs) {
        INFO("input: " << input);
        const V whole = parse(input);
        for (size_t chunk : {1, 2, 3, 5, 7})
            CHECK(parse_chunked(input, chunk) == whole);
        // Two appends, cut at every byte.
        for (size_t cut = 0; cut <= input.size(); ++cut) {
            RequestParser p(kLimits);
            V out;
            std::vector<std::string_view> args;
            std::string error;
            bool failed = false;
            for (std::string_view part :
                 {std::string_view(input).substr(0, cut), std::string_view(input).substr(cut)}) {
                if (failed)
                    break;
                p.append(part.data(), part.size());
                for (Next n; !failed && (n = p.next(args, error)) != Next::NeedMore;) {
                    if (n == Next::Error) {
                        out.push_back(error.empty() ? "CLOSE" : "ERR " + error);
                        failed = true;
                        break;
                    }
                    std::string joined;
                    for (size_t i = 0; i < args.size(); ++i)
                        joined.append(i ? "|" : "").append(args[i]);
                    out.push_back(joined);
                }
            }
            CHECK(out == whole);
        }
    }
}

TEST_CASE("a declared count or length allocates nothing, memory follows the bytes sent", "[resp]")
{
    RequestParser p(kLimits);
    std::vector<std::string_view> args;
    std::string error;
    std::string head = "*2147483647\r\n";
    p.append(head.data(), head.size());
    CHECK(p.next(args, error) == Next::NeedMore);
    CHECK(p.buffered() == head.size());
    CHECK(p.wants_input());
    // A bulk length over max_bulk is refused before anything is read.
    RequestParser q(kLimits);
    std::string huge = "*1\r\n$4294967296\r\n";
    q.append(huge.data(), huge.size());
    CHECK(q.next(args, error) == Next::Error);
    CHECK(error == "-ERR Protocol error: invalid bulk length\r\n");
    CHECK_FALSE(q.wants_input());
}

TEST_CASE("wants_input stops reading once a whole request's bound is buffered", "[resp]")
{
    RequestParser p(RequestLimits{100, 64});
    std::vector<std::string_view> args;
    std::string error;
    std::string pings;
    for (int i = 0; i < 20; ++i)
        pings += "PING\r\n";  // 120 bytes of small requests
    p.append(pings.data(), pings.size());
    CHECK_FALSE(p.wants_input());
    int n = 0;
    while (p.next(args, error) == Next::Command)
        ++n;
    CHECK(n == 20);
    CHECK(p.wants_input());
    CHECK(p.buffered() == 0);
}

TEST_CASE("input arriving a byte at a time is parsed in linear time", "[resp]")
{
    // 8 MiB in one bulk, a 64 KiB inline line and 100000 small requests, each
    // byte appended alone: quadratic rescanning or compaction would take hours.
    std::string input = "*2\r\n$3\r\nSET\r\n$8388608\r\n" + std::string(8 << 20, 'v') + "\r\n";
    input += std::string(kv::redis::kInlineMax - 2, 'i') + "\r\n";
    for (int i = 0; i < 100000; ++i)
        input += "*1\r\n$4\r\nPING\r\n";
    RequestParser p(RequestLimits{16 << 20, 32 << 20});
    std::vector<std::string_view> args;
    std::string error;
    size_t commands = 0;
    size_t max_buffered = 0;
    auto start = std::chrono::steady_clock::now();
    for (char c : input) {
        p.append(&c, 1);
        for (Next n; (n = p.next(args, error)) != Next::NeedMore;) {
            REQUIRE(n == Next::Command);
            ++commands;
        }
        max_buffered = std::max(max_buffered, p.buffered());
    }
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(commands == 100002);
    CHECK(p.buffered() == 0);
    CHECK(max_buffered <= (8 << 20) + 40);
    CHECK(seconds < 20);
}

TEST_CASE("RESP2 replies", "[resp]")
{
    std::string out;
    ReplyWriter w(out, 2);
    CHECK(w.protocol() == 2);
    w.ok();
    w.simple("QUEUED");
    w.simple("a\r\nb");
    w.error("ERR wrong number of arguments for 'get' command");
    w.error("WRONGTYPE a\rb\nc");
    w.integer(0);
    w.integer(-9223372036854775807LL - 1);
    w.integer(9223372036854775807LL);
    w.bulk("");
    w.bulk(std::string_view("a\0\r\n", 4));
    w.null();
    w.null_array();
    w.array(0);
    w.array(3);
    w.map(2);
    w.set(5);
    w.push(3);
    w.boolean(true);
    w.boolean(false);
    w.verbatim("# Server\r\nx:1\r\n");
    CHECK(out
          == "+OK\r\n+QUEUED\r\n+a  b\r\n-ERR wrong number of arguments for 'get' command\r\n"
             "-WRONGTYPE a b c\r\n:0\r\n:-9223372036854775808\r\n:9223372036854775807\r\n$0\r\n\r\n"
             "$4\r\na\0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*3\r\n*4\r\n*5\r\n*3\r\n:1\r\n:0\r\n"
             "$15\r\n# Server\r\nx:1\r\n\r\n"s);
    CHECK(&w.buffer() == &out);
}

TEST_CASE("RESP3 replies", "[resp]")
{
    std::string out;
    ReplyWriter w(out, 3);
    CHECK(w.protocol() == 3);
    w.ok();
    w.error("ERR x\ny");
    w.integer(-1);
    w.bulk("abc");
    w.null();
    w.null_array();
    w.array(2);
    w.map(2);
    w.map(0);
    w.set(5);
    w.push(3);
    w.boolean(true);
    w.boolean(false);
    w.verbatim("# Server\r\n");
    CHECK(out
          == "+OK\r\n-ERR x y\r\n:-1\r\n$3\r\nabc\r\n_\r\n_\r\n*2\r\n%2\r\n%0\r\n~5\r\n>3\r\n#t\r\n#f\r\n"
             "=14\r\ntxt:# Server\r\n\r\n");
}

TEST_CASE("doubles are formatted as Redis 7.0's addReplyDouble", "[resp]")
{
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    std::string out2;
    ReplyWriter w2(out2, 2);
    for (double d : {1.5, 0.1, -0.0, 3.0, 1e20, inf, -inf, nan})
        w2.double_value(d);
    CHECK(out2
          == "$3\r\n1.5\r\n$19\r\n0.10000000000000001\r\n$2\r\n-0\r\n$1\r\n3\r\n$5\r\n1e+20\r\n$3\r\ninf\r\n"
             "$4\r\n-inf\r\n$3\r\nnan\r\n");
    std::string out3;
    ReplyWriter w3(out3, 3);
    for (double d : {1.5, 0.1, -0.0, 3.0, 1e20, inf, -inf, nan})
        w3.double_value(d);
    CHECK(out3 == ",1.5\r\n,0.10000000000000001\r\n,-0\r\n,3\r\n,1e+20\r\n,inf\r\n,-inf\r\n,nan\r\n");
}
