// Unit tests for the client line parser (common/command.h): every command and
// every error class of docs/protocol.md, without sockets.
#include <catch2/catch.hpp>

#include "command.h"

using kv::ParseResult;
using kv::Verb;

namespace {

constexpr size_t kMax = kv::kDefaultMaxValueBytes;

kv::Command parse_ok(std::string_view line)
{
    ParseResult r = kv::parse_line(line, kMax);
    INFO("line: " << line << " error: " << r.error);
    REQUIRE(r.kind == ParseResult::Kind::Command);
    return r.command;
}

std::string parse_err(std::string_view line, size_t max_value = kMax)
{
    ParseResult r = kv::parse_line(line, max_value);
    INFO("line: " << line);
    REQUIRE(r.kind == ParseResult::Kind::Error);
    return r.error;
}

}  // namespace

TEST_CASE("each command word parses to its verb", "[parser]")
{
    CHECK(parse_ok("connect").verb == Verb::Connect);
    CHECK(parse_ok("count").verb == Verb::Count);
    CHECK(parse_ok("stats").verb == Verb::Stats);
    CHECK(parse_ok("ping").verb == Verb::Ping);
    CHECK(parse_ok("help").verb == Verb::Help);
    CHECK(parse_ok("close").verb == Verb::Close);
    CHECK(parse_ok("exit").verb == Verb::Exit);
    CHECK(parse_ok("quit").verb == Verb::Exit);
    CHECK(parse_ok("read k").verb == Verb::Read);
    CHECK(parse_ok("delete k").verb == Verb::Delete);
    CHECK(parse_ok("exists k").verb == Verb::Exists);
    CHECK(parse_ok("keys").verb == Verb::Keys);
    CHECK(parse_ok("save k:v").verb == Verb::Save);
}

TEST_CASE("command words are case-insensitive, keys are not", "[parser]")
{
    CHECK(parse_ok("PING").verb == Verb::Ping);
    kv::Command c = parse_ok("ReAd MyKey");
    CHECK(c.verb == Verb::Read);
    CHECK(c.key == "MyKey");
}

TEST_CASE("save splits at the first colon, the value is kept verbatim", "[parser]")
{
    kv::Command c = parse_ok("save greeting:hello, world: again ");
    CHECK(c.key == "greeting");
    CHECK(c.value == "hello, world: again ");
    CHECK(parse_ok("save k:").value.empty());
    CHECK(parse_ok("save k: lead").value == " lead");
    CHECK(parse_ok("save   k:v").key == "k");
}

TEST_CASE("a trailing CR is stripped, other bytes in a value are kept", "[parser]")
{
    CHECK(parse_ok("save k:v\r").value == "v");
    CHECK(parse_ok("ping\r").verb == Verb::Ping);
    std::string line = std::string("save k:a\0b\xff\r", 12);
    CHECK(parse_ok(line).value == std::string("a\0b\xff", 4));
    CHECK(parse_ok("save k:a\rb").value == "a\rb");
}

TEST_CASE("empty and blank lines are ignored", "[parser]")
{
    CHECK(kv::parse_line("", kMax).kind == ParseResult::Kind::Empty);
    CHECK(kv::parse_line("   \t ", kMax).kind == ParseResult::Kind::Empty);
    CHECK(kv::parse_line("\r", kMax).kind == ParseResult::Kind::Empty);
}

TEST_CASE("unknown commands name the word, made printable", "[parser]")
{
    CHECK(parse_err("frobnicate x") == "ERR unknown-command frobnicate (type 'help')\n");
    CHECK(parse_err(std::string("\x01\xff", 2)) == "ERR unknown-command ?? (type 'help')\n");
    // The echo is at most 40 bytes, as docs/protocol.md says (it was 43: 40 and "...").
    std::string long_word(100, 'w');
    CHECK(parse_err(long_word) == "ERR unknown-command " + std::string(37, 'w') + "... (type 'help')\n");
    CHECK(parse_err(std::string(40, 'w')) == "ERR unknown-command " + std::string(40, 'w') + " (type 'help')\n");
    CHECK(parse_err(std::string(41, 'w')) == "ERR unknown-command " + std::string(37, 'w') + "... (type 'help')\n");
}

TEST_CASE("wrong arguments give a usage error", "[parser]")
{
    CHECK(parse_err("read") == "ERR syntax usage: read <key>\n");
    CHECK(parse_err("read a b") == "ERR syntax usage: read <key>\n");
    CHECK(parse_err("delete") == "ERR syntax usage: delete <key>\n");
    CHECK(parse_err("exists") == "ERR syntax usage: exists <key>\n");
    CHECK(parse_err("save novalue") == "ERR syntax usage: save <key>:<value>\n");
    CHECK(parse_err("save") == "ERR syntax usage: save <key>:<value>\n");
    CHECK(parse_err("count 3") == "ERR syntax usage: count\n");
    CHECK(parse_err("ping pong") == "ERR syntax usage: ping\n");
    CHECK(parse_err("keys a b") == "ERR syntax usage: keys [prefix]\n");
}

TEST_CASE("keys are 1 to 250 bytes without blanks, colons or control bytes", "[parser]")
{
    CHECK(parse_ok("read " + std::string(250, 'k')).key.size() == 250);
    CHECK(parse_err("read " + std::string(251, 'k')) == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(parse_err("save :v") == "ERR bad-key key is empty\n");
    CHECK(parse_err("save a b:v") == "ERR bad-key key contains a space\n");
    CHECK(parse_err("read a:b") == "ERR bad-key key contains ':'\n");
    CHECK(parse_err(std::string("read a\x01", 7)) == "ERR bad-key key contains a control byte\n");
    CHECK(parse_err(std::string("read a\0b", 8)) == "ERR bad-key key contains a control byte\n");
    CHECK(parse_err("read a\x7f") == "ERR bad-key key contains a control byte\n");
    CHECK(parse_ok("read caf\xc3\xa9").key == "caf\xc3\xa9");  // UTF-8 is fine
}

TEST_CASE("keys takes an optional prefix", "[parser]")
{
    CHECK(parse_ok("keys").key.empty());
    CHECK(parse_ok("keys user").key == "user");
    CHECK(parse_err("keys user:") == "ERR bad-key key contains ':'\n");
}

TEST_CASE("values longer than the limit are refused", "[parser]")
{
    CHECK(parse_ok("save k:" + std::string(kMax, 'v')).value.size() == kMax);
    CHECK(parse_err("save k:" + std::string(kMax + 1, 'v'))
          == "ERR too-long value is 65537 bytes; the limit is 65536\n");
    CHECK(parse_err("save k:abcd", 3) == "ERR too-long value is 4 bytes; the limit is 3\n");
}

TEST_CASE("local commands need no daemon, data commands map to wire ops", "[parser]")
{
    CHECK_FALSE(kv::wire_op(Verb::Connect));
    CHECK_FALSE(kv::wire_op(Verb::Ping));
    CHECK_FALSE(kv::wire_op(Verb::Help));
    CHECK_FALSE(kv::wire_op(Verb::Close));
    CHECK_FALSE(kv::wire_op(Verb::Exit));
    CHECK(kv::wire_op(Verb::Save) == kv::wire::Op::Save);
    CHECK(kv::wire_op(Verb::Read) == kv::wire::Op::Read);
    CHECK(kv::wire_op(Verb::Keys) == kv::wire::Op::Keys);
    CHECK(kv::wire_op(Verb::Stats) == kv::wire::Op::Stats);
}

TEST_CASE("help lists every command with its line count first", "[parser]")
{
    std::string help = kv::help_text();
    REQUIRE(help.rfind("HELP 13\n", 0) == 0);
    size_t lines = 0;
    for (char c : help)
        lines += c == '\n';
    CHECK(lines == 14);
    for (const char* word : {"connect", "save <key>:<value>", "read <key>", "delete <key>", "exists <key>",
                             "keys [prefix]", "count", "stats", "ping", "help", "close", "exit", "quit"})
        CHECK(help.find(std::string("\n") + word) != std::string::npos);
}
