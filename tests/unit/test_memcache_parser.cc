// Unit tests for the memcached request parser
// (kvstored/doors/memcache/text_parser.h). Every expectation was checked
// against memcached 1.6.18 (Debian) over a raw socket: what it answered, and
// how it read what followed (the data line of a refused storage line is taken
// for a command, a bad chunk consumes exactly its declared length plus two).
// Each case is also fed a byte at a time and in odd chunks: the outcome must
// not depend on the reads.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "doors/memcache/text_parser.h"

using kv::memcache::Limits;
using kv::memcache::Request;
using kv::memcache::RequestParser;
using Next = RequestParser::Next;
using namespace std::string_literals;

namespace {

// One line per event: a request ("tok|tok|..." then, for a storage command,
// its parsed fields, then its data), a parser reply ("REPLY <text>", the
// text without its CRLF, empty for a silenced one) or "CLOSE <text>".
std::string describe(const Request& req)
{
    std::string s;
    for (size_t i = 0; i < req.tokens.size(); ++i)
        s.append(i ? "|" : "").append(req.tokens[i]);
    if (!req.storage && !req.key.empty())
        s += " key=" + std::string(req.key);
    if (req.storage) {
        s += " key=" + std::string(req.key) + " F" + std::to_string(req.flags) + " E" + std::to_string(req.exptime);
        if (req.cas_unique)
            s += " C" + std::to_string(req.cas_unique);
        if (req.noreply)
            s += " noreply";
    }
    if (req.has_data)
        s += req.too_large ? " TOO_LARGE" : " data=" + std::string(req.data);
    return s;
}

std::string strip_crlf(std::string s)
{
    if (s.size() >= 2 && s.ends_with("\r\n"))
        s.resize(s.size() - 2);
    return s;
}

std::vector<std::string> parse_chunked(std::string_view input, size_t chunk, Limits limits = {})
{
    RequestParser p(limits);
    std::vector<std::string> out;
    Request req;
    std::string reply;
    size_t i = 0;
    do {
        std::string_view part = input.substr(i, chunk);
        i += part.size();
        p.append(part.data(), part.size());
        for (;;) {
            Next n = p.next(req, reply);
            if (n == Next::NeedMore) {
                REQUIRE(p.wants_input());
                break;
            }
            if (n == Next::Close) {
                out.push_back("CLOSE " + strip_crlf(reply));
                REQUIRE(!p.wants_input());
                REQUIRE(p.next(req, reply) == Next::Close);
                REQUIRE(reply.empty());
                return out;
            }
            if (n == Next::Reply) {
                REQUIRE(req.tokens.empty());
                out.push_back("REPLY " + strip_crlf(reply));
                continue;
            }
            REQUIRE(!req.tokens.empty());
            REQUIRE(reply.empty());
            REQUIRE(req.data.size() <= limits.max_value);
            out.push_back(describe(req));
        }
    } while (i < input.size());
    return out;
}

// The events for `input` in one append, checked to be the same a byte at a
// time and in 7-byte chunks.
std::vector<std::string> parse(std::string_view input, Limits limits = {})
{
    auto whole = parse_chunked(input, input.size() + 1, limits);
    CHECK(parse_chunked(input, 1, limits) == whole);
    CHECK(parse_chunked(input, 7, limits) == whole);
    return whole;
}

using V = std::vector<std::string>;

const std::string kBadFormat = "REPLY CLIENT_ERROR bad command line format";

}  // namespace

TEST_CASE("memcache parser: lines end in CRLF or a bare LF", "[memcache][parser]")
{
    CHECK(parse("set k 0 0 1\r\nx\r\nget k\r\n") == V{"set|k|0|0|1 key=k F0 E0 data=x", "get|k"});
    CHECK(parse("set k 0 0 1\nx\r\nget k\n") == V{"set|k|0|0|1 key=k F0 E0 data=x", "get|k"});
    // Only one CR is dropped: "1\r" is still 1 to safe_strtol (a blank may
    // follow the digits), and "noreply\r" is no noreply.
    CHECK(parse("set k 0 0 1\r\r\nx\r\n") == V{"set|k|0|0|1\r key=k F0 E0 data=x"});
    CHECK(parse("set k 0 0 1 noreply\r\r\nx\r\n") == V{"set|k|0|0|1|noreply\r key=k F0 E0 data=x"});
    // A CR alone ends nothing.
    CHECK(parse("get a\rb\r\n") == V{"get|a\rb"});
    // A command name of one byte is answered ERROR (process_command_ascii).
    CHECK(parse("g\r\nmn\r\n") == V{"REPLY ERROR", "mn"});
}

TEST_CASE("memcache parser: empty lines and spaces", "[memcache][parser]")
{
    CHECK(parse("\r\n") == V{"REPLY ERROR"});
    CHECK(parse("\n") == V{"REPLY ERROR"});
    CHECK(parse("   \r\n") == V{"REPLY ERROR"});
    CHECK(parse("  set   k  0 0   1  \r\nx\r\n") == V{"set|k|0|0|1 key=k F0 E0 data=x"});
    CHECK(parse("get k k2 \r\n") == V{"get|k|k2"});
    // Only spaces split: a tab or a control byte is part of a token (memcached
    // stores and finds such a key).
    CHECK(parse("set a\tb 0 0 1\r\nx\r\n") == V{"set|a\tb|0|0|1 key=a\tb F0 E0 data=x"});
    CHECK(parse("get a\x01\x7f\xff\r\n") == V{"get|a\x01\x7f\xff"});
}

TEST_CASE("memcache parser: a line ends at its first NUL", "[memcache][parser]")
{
    CHECK(parse("set nul 0 0 1\0junk\r\nx\r\n"s) == V{"set|nul|0|0|1 key=nul F0 E0 data=x"});
    CHECK(parse("get nul\0 k\r\n"s) == V{"get|nul"});
    // The NUL hides the noreply.
    CHECK(parse("set nk 0 0 1\0 noreply\r\nx\r\n"s) == V{"set|nk|0|0|1 key=nk F0 E0 data=x"});
    CHECK(parse("\0set k 0 0 1\r\nx\r\n"s) == V{"REPLY ERROR", "REPLY ERROR"});
}

TEST_CASE("memcache parser: token counts of the storage commands", "[memcache][parser]")
{
    CHECK(parse("set k 0 0\r\nx\r\n") == V{"REPLY ERROR", "REPLY ERROR"});
    CHECK(parse("set k 0 0 1 noreply extra\r\nx\r\n") == V{"REPLY ERROR", "REPLY ERROR"});
    // The sixth token is noreply or ignored.
    CHECK(parse("set k 0 0 1 foo\r\nx\r\n") == V{"set|k|0|0|1|foo key=k F0 E0 data=x"});
    CHECK(parse("add k 1 2 1 noreply\r\nx\r\n") == V{"add|k|1|2|1|noreply key=k F1 E2 noreply data=x"});
    CHECK(parse("replace k 0 0 0\r\n\r\n") == V{"replace|k|0|0|0 key=k F0 E0 data="});
    CHECK(parse("append k 0 0 2\r\nab\r\n") == V{"append|k|0|0|2 key=k F0 E0 data=ab"});
    CHECK(parse("prepend k 0 0 2\r\nab\r\n") == V{"prepend|k|0|0|2 key=k F0 E0 data=ab"});
    CHECK(parse("cas k 0 0 1\r\nx\r\n") == V{"REPLY ERROR", "REPLY ERROR"});
    CHECK(parse("cas k 0 0 1 5\r\nx\r\n") == V{"cas|k|0|0|1|5 key=k F0 E0 C5 data=x"});
    CHECK(parse("cas k 0 0 1 5 noreply\r\nx\r\n") == V{"cas|k|0|0|1|5|noreply key=k F0 E0 C5 noreply data=x"});
    CHECK(parse("cas k 0 0 1 5 foo\r\nx\r\n") == V{"cas|k|0|0|1|5|foo key=k F0 E0 C5 data=x"});
    CHECK(parse("cas k 0 0 1 noreply\r\nx\r\n") == V{"REPLY ", "REPLY ERROR"});
    // Names are case-sensitive: "SET" is no storage command (the commands
    // answer ERROR), and its data line is a command of its own.
    CHECK(parse("SET k 0 0 1\r\nx\r\n") == V{"SET|k|0|0|1", "REPLY ERROR"});
}

TEST_CASE("memcache parser: noreply silences the parser's own errors", "[memcache][parser]")
{
    // memcached answers only the ERROR of the data line.
    CHECK(parse("set k abc 0 1 noreply\r\nx\r\n") == V{"REPLY ", "REPLY ERROR"});
    CHECK(parse("set k 0 0 noreply\r\nx\r\n") == V{"REPLY ", "REPLY ERROR"});
    CHECK(parse("cas k 0 0 1 abc noreply\r\nx\r\n") == V{"REPLY ", "REPLY ERROR"});
    // The ERROR of a wrong token count is never silenced.
    CHECK(parse("set k 0 noreply\r\n") == V{"REPLY ERROR"});
}

TEST_CASE("memcache parser: keys up to 250 bytes", "[memcache][parser]")
{
    const std::string k250(250, 'k');
    const std::string k251(251, 'k');
    CHECK(parse("set " + k250 + " 0 0 1\r\nx\r\n") == V{"set|" + k250 + "|0|0|1 key=" + k250 + " F0 E0 data=x"});
    CHECK(parse("set " + k251 + " 0 0 1\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("set " + k251 + " 0 0 1 noreply\r\nx\r\n") == V{"REPLY ", "REPLY ERROR"});
    CHECK(parse("cas " + k251 + " 0 0 1 1\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
}

TEST_CASE("memcache parser: flags as memcached's safe_strtoul reads them", "[memcache][parser]")
{
    auto flags = [](const std::string& f) {
        auto events = parse("set k " + f + " 0 1\r\nx\r\n");
        REQUIRE(!events.empty());
        return events[0];
    };
    CHECK(flags("4294967295") == "set|k|4294967295|0|1 key=k F4294967295 E0 data=x");
    CHECK(flags("4294967296") == "set|k|4294967296|0|1 key=k F0 E0 data=x");
    CHECK(flags("18446744073709551615") == "set|k|18446744073709551615|0|1 key=k F4294967295 E0 data=x");
    CHECK(flags("18446744073709551616") == kBadFormat);
    CHECK(flags("-1") == kBadFormat);
    CHECK(flags("-0") == "set|k|-0|0|1 key=k F0 E0 data=x");
    CHECK(flags("+5") == "set|k|+5|0|1 key=k F5 E0 data=x");
    // strtoul's wrapped result is not negative as a long: accepted.
    CHECK(flags("-18446744073709551615") == "set|k|-18446744073709551615|0|1 key=k F1 E0 data=x");
    CHECK(flags("-9223372036854775809") == "set|k|-9223372036854775809|0|1 key=k F4294967295 E0 data=x");
    CHECK(flags("abc") == kBadFormat);
    CHECK(flags("1x") == kBadFormat);
}

TEST_CASE("memcache parser: exptime and length as safe_strtol reads them", "[memcache][parser]")
{
    auto line = [](const std::string& exptime, const std::string& len, const std::string& data = "x") {
        auto events = parse("set k 0 " + exptime + " " + len + "\r\n" + data + "\r\n");
        REQUIRE(!events.empty());
        return events[0];
    };
    CHECK(line("2147483647", "1") == "set|k|0|2147483647|1 key=k F0 E2147483647 data=x");
    CHECK(line("2147483648", "1") == "set|k|0|2147483648|1 key=k F0 E-2147483648 data=x");
    CHECK(line("4294967296", "1") == "set|k|0|4294967296|1 key=k F0 E0 data=x");
    CHECK(line("-1", "1") == "set|k|0|-1|1 key=k F0 E-1 data=x");
    CHECK(line("9223372036854775807", "1") == "set|k|0|9223372036854775807|1 key=k F0 E-1 data=x");
    CHECK(line("9223372036854775808", "1") == kBadFormat);
    CHECK(line("-9223372036854775808", "1") == "set|k|0|-9223372036854775808|1 key=k F0 E0 data=x");
    CHECK(line("-9223372036854775809", "1") == kBadFormat);
    CHECK(line("0", "-1") == kBadFormat);
    CHECK(line("0", "-0", "") == "set|k|0|0|-0 key=k F0 E0 data=");
    CHECK(line("0", "2147483647") == kBadFormat);
    CHECK(line("0", "2147483646") == kBadFormat);
    CHECK(line("0", "4294967297") == "set|k|0|0|4294967297 key=k F0 E0 data=x");
    CHECK(line("0", "1x") == kBadFormat);
    CHECK(line("0", "0x1") == kBadFormat);
    CHECK(line("0", "- 1") == kBadFormat);
    CHECK(line("0", "01") == "set|k|0|0|01 key=k F0 E0 data=x");
    CHECK(line("0", "+1") == "set|k|0|0|+1 key=k F0 E0 data=x");
    // Blanks other than spaces stay in the token; strtol skips them before
    // the digits, and safe_strtol accepts one after them.
    CHECK(line("0", "\t1") == "set|k|0|0|\t1 key=k F0 E0 data=x");
    CHECK(line("0", "1\tz") == "set|k|0|0|1\tz key=k F0 E0 data=x");
    CHECK(line("0", "1\v") == "set|k|0|0|1\v key=k F0 E0 data=x");
}

TEST_CASE("memcache parser: cas unique as safe_strtoull reads it", "[memcache][parser]")
{
    auto cas = [](const std::string& unique) {
        auto events = parse("cas k 0 0 1 " + unique + "\r\nx\r\n");
        REQUIRE(!events.empty());
        return events[0];
    };
    CHECK(cas("18446744073709551615") == "cas|k|0|0|1|18446744073709551615 key=k F0 E0 C18446744073709551615 data=x");
    CHECK(cas("18446744073709551616") == kBadFormat);
    CHECK(cas("-1") == kBadFormat);
    CHECK(cas("-0") == "cas|k|0|0|1|-0 key=k F0 E0 data=x");
}

TEST_CASE("memcache parser: a block not ended by CRLF", "[memcache][parser]")
{
    // The block is its declared length plus two bytes, whatever they are;
    // what follows is the next command.
    CHECK(parse("set k 0 0 1\r\nabc\r\nget k\r\n") == V{"REPLY CLIENT_ERROR bad data chunk", "REPLY ERROR", "get|k"});
    CHECK(parse("set k 0 0 1\r\nabcdef get k\r\n") == V{"REPLY CLIENT_ERROR bad data chunk", "def|get|k"});
    CHECK(parse("set k 0 0 1\r\nx\n\r\nget k\r\n") == V{"REPLY CLIENT_ERROR bad data chunk", "REPLY ERROR", "get|k"});
    CHECK(parse("set k 0 0 1\n\rx\r\n") == V{"REPLY CLIENT_ERROR bad data chunk", "REPLY ERROR"});
    // noreply silences it; ms always answers it (even with q).
    CHECK(parse("set k 0 0 1 noreply\r\nabc\r\n") == V{"REPLY ", "REPLY ERROR"});
    CHECK(parse("ms k 1 q\r\nxyz\r\nmn\r\n") == V{"REPLY CLIENT_ERROR bad data chunk", "REPLY ERROR", "mn"});
}

TEST_CASE("memcache parser: a block over max_value is swallowed", "[memcache][parser]")
{
    Limits small{10, 64 * 1024};
    // The two bytes after the block are swallowed unchecked, as memcached's
    // conn_swallow does, and the request comes once the block is gone.
    const std::string big(11, 'x');
    CHECK(parse("set k 0 0 11\r\n" + big + "\r\nget k\r\n", small) == V{"set|k|0|0|11 key=k F0 E0 TOO_LARGE", "get|k"});
    CHECK(parse("set k 0 0 11\r\n" + big + "ABget k\r\n", small) == V{"set|k|0|0|11 key=k F0 E0 TOO_LARGE", "get|k"});
    CHECK(parse("set k 0 0 11 noreply\r\n" + big + "\r\n", small)
          == V{"set|k|0|0|11|noreply key=k F0 E0 noreply TOO_LARGE"});
    CHECK(parse("ms k 11 T0\r\n" + big + "\r\nmn\r\n", small) == V{"ms|k|11|T0 key=k TOO_LARGE", "mn"});
    // max_value itself fits.
    CHECK(parse("set k 0 0 10\r\n" + std::string(10, 'v') + "\r\n", small)
          == V{"set|k|0|0|10 key=k F0 E0 data=vvvvvvvvvv"});
    // Not there yet: the request waits for the whole block.
    CHECK(parse("set k 0 0 11\r\nxxx", small) == V{});
}

TEST_CASE("memcache parser: a swallowed block is never buffered", "[memcache][parser]")
{
    Limits limits{1024, 64 * 1024};
    RequestParser p(limits);
    Request req;
    std::string reply;
    const std::string line = "set k 0 0 100000000\r\n";
    p.append(line.data(), line.size());
    CHECK(p.next(req, reply) == Next::NeedMore);
    const std::string chunk(64 * 1024, 'z');
    size_t sent = 0;
    while (sent < 100000000) {
        REQUIRE(p.wants_input());
        size_t n = std::min(chunk.size(), size_t{100000000} - sent);
        p.append(chunk.data(), n);
        sent += n;
        CHECK(p.buffered() <= line.size());
        CHECK(p.next(req, reply) == Next::NeedMore);
    }
    p.append("\r\nmn\r\n", 6);
    REQUIRE(p.next(req, reply) == Next::Request);
    CHECK(req.storage);
    CHECK(req.too_large);
    CHECK(req.has_data);
    CHECK(req.data.empty());
    CHECK(req.key == "k");
    REQUIRE(p.next(req, reply) == Next::Request);
    CHECK(req.tokens == std::vector<std::string_view>{"mn"});
    CHECK(p.next(req, reply) == Next::NeedMore);
}

TEST_CASE("memcache parser: ms finds its data length, leaves its flags", "[memcache][parser]")
{
    CHECK(parse("ms\r\nx\r\n") == V{"REPLY ERROR", "REPLY ERROR"});
    CHECK(parse("ms k\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms k 1\r\nx\r\nmg k v\r\n") == V{"ms|k|1 key=k data=x", "mg|k|v"});
    CHECK(parse("ms k 1 q T0 F5 I\r\nx\r\n") == V{"ms|k|1|q|T0|F5|I key=k data=x"});
    // Flags are the meta commands' business: bad ones still read the block.
    CHECK(parse("ms k 1 Fx\r\nx\r\nmn\r\n") == V{"ms|k|1|Fx key=k data=x", "mn"});
    CHECK(parse("ms k abc\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms k -1\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms k S1\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms k 2147483646\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms k 4294967297\r\nx\r\n") == V{"ms|k|4294967297 key=k data=x"});
    // q does not silence these.
    CHECK(parse("ms k abc q\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    CHECK(parse("ms " + std::string(251, 'k') + " 1\r\nx\r\n") == V{kBadFormat, "REPLY ERROR"});
    // 19 tokens are read (the meta commands refuse the flags), 20 are not.
    CHECK(parse("ms k 1 a b c d e f g h i j k l m n o p\r\nx\r\n")
          == V{"ms|k|1|a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p key=k data=x"});
    CHECK(parse("ms k 1 a b c d e f g h i j k l m n o p q\r\nx\r\n")
          == V{"REPLY CLIENT_ERROR options flags too long", "REPLY ERROR"});
    // Only "ms": the other meta commands carry no block.
    CHECK(parse("mg k v\r\nmd k\r\nma k\r\nmn\r\nme k\r\n") == V{"mg|k|v", "md|k", "ma|k", "mn", "me|k"});
}

TEST_CASE("memcache parser: lines past 2048 bytes close unless they are gets", "[memcache][parser]")
{
    CHECK(parse(std::string(2048, 'x')) == V{});
    // 2048 bytes, CR LF not counted, are read (the commands answer ERROR).
    CHECK(parse(std::string(2048, 'x') + "\r\nversion\r\n") == V{std::string(2048, 'x'), "version"});
    CHECK(parse(std::string(2048, 'x') + "\nversion\r\n") == V{std::string(2048, 'x'), "version"});
    CHECK(parse(std::string(2048, 'x') + "\r") == V{});
    CHECK(parse(std::string(2048, 'x') + "\r\r") == V{"CLOSE "});
    // memcached closes once it holds 2049 bytes without a "\n", and so do we
    // whether or not the "\n" came in the same read.
    CHECK(parse(std::string(2049, 'x')) == V{"CLOSE "});
    CHECK(parse(std::string(2049, 'x') + "\r\nversion\r\n") == V{"CLOSE "});
    CHECK(parse("version\r\n" + std::string(3000, 'x')) == V{"version", "CLOSE "});
    CHECK(parse("gat 0 " + std::string(3000, 'a') + "\r\n") == V{"CLOSE "});
    // get and gets lines may be longer (after at most 100 spaces).
    std::string keys;
    for (int i = 0; i < 3000; ++i)
        keys += " a";
    auto events = parse("get" + keys + "\r\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].size() == 3 + 2 * 3000);
    CHECK(parse(std::string(100, ' ') + "gets" + keys + "\r\n").size() == 1);
    CHECK(parse(std::string(101, ' ') + "get" + keys + "\r\n") == V{"CLOSE "});
    CHECK(parse("get" + std::string(3000, 'a') + "\r\n") == V{"CLOSE "});
}

TEST_CASE("memcache parser: a get line is bounded by max_line", "[memcache][parser]")
{
    Limits limits{1024, 4096};
    std::string line = "get";
    while (line.size() < 4094)
        line += " a";
    line.resize(4094);
    line += "\r\n";  // 4096 bytes: fits
    CHECK(parse(line, limits).size() == 1);
    line.insert(4, "b");  // 4097 bytes
    CHECK(parse(line, limits) == V{"CLOSE SERVER_ERROR command line too long"});
    CHECK(parse(line.substr(0, 4096), limits) == V{"CLOSE SERVER_ERROR command line too long"});
    CHECK(parse(line.substr(0, 4095), limits) == V{});
    // A small max_line bounds every line; only a get is told why.
    Limits tiny{1024, 16};
    CHECK(parse("version\r\nstats settings\r\nstats settings x\r\n", tiny) == V{"version", "stats|settings", "CLOSE "});
    CHECK(parse("get aaaa bbbb cccc\r\n", tiny) == V{"CLOSE SERVER_ERROR command line too long"});
}

TEST_CASE("memcache parser: pipelined requests", "[memcache][parser]")
{
    const std::string input = "set a 1 2 3\r\nabc\r\nget a b\r\n"
                              "set bad 0 0 x\r\nzz\r\n"
                              "cas a 0 0 2 7 noreply\r\nde\r\n"
                              "ms m 2 T0\r\nmv\r\n"
                              "set c 0 0 1\r\nWRONG\r\n"
                              "\r\n"
                              "delete a\r\nincr n 5\r\n";
    CHECK(parse(input)
          == V{"set|a|1|2|3 key=a F1 E2 data=abc", "get|a|b", kBadFormat, "zz",
               "cas|a|0|0|2|7|noreply key=a F0 E0 C7 noreply data=de", "ms|m|2|T0 key=m data=mv",
               "REPLY CLIENT_ERROR bad data chunk", "NG", "REPLY ERROR", "delete|a", "incr|n|5"});
}

TEST_CASE("memcache parser: wants_input is false while a request waits", "[memcache][parser]")
{
    RequestParser p(Limits{});
    Request req;
    std::string reply;
    CHECK(p.wants_input());
    p.append("get", 3);
    CHECK(p.wants_input());
    p.append(" k\r\nset k 0 0 3\r\nab", 19);
    CHECK(!p.wants_input());
    REQUIRE(p.next(req, reply) == Next::Request);
    CHECK(req.tokens == std::vector<std::string_view>{"get", "k"});
    CHECK(p.next(req, reply) == Next::NeedMore);
    CHECK(p.wants_input());
    p.append("c\r", 2);
    CHECK(p.wants_input());
    p.append("\n", 1);
    CHECK(!p.wants_input());
    REQUIRE(p.next(req, reply) == Next::Request);
    CHECK(req.data == "abc");
    CHECK(p.wants_input());
    CHECK(p.buffered() == 0);
}

TEST_CASE("memcache parser: views stay valid until the next append", "[memcache][parser]")
{
    RequestParser p(Limits{});
    Request a, b;
    std::string reply;
    const std::string input = "set k1 0 0 2\r\nv1\r\nget k2\r\n";
    p.append(input.data(), input.size());
    REQUIRE(p.next(a, reply) == Next::Request);
    REQUIRE(p.next(b, reply) == Next::Request);
    CHECK(a.key == "k1");
    CHECK(a.data == "v1");
    CHECK(b.tokens[1] == "k2");
}
