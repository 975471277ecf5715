// Unit tests for the client line parser (common/command.h): every command and
// every error class of docs/protocol.md, without sockets.
#include <catch2/catch.hpp>

#include "command.h"

using kv::ParseResult;
using kv::Verb;
using kv::wire::Expiry;
using kv::wire::Op;

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
    CHECK(parse_ok("add k:v").verb == Verb::Add);
    CHECK(parse_ok("replace k:v").verb == Verb::Replace);
    CHECK(parse_ok("cas 1 k:v").verb == Verb::Cas);
    CHECK(parse_ok("append k:v").verb == Verb::Append);
    CHECK(parse_ok("gets k").verb == Verb::Gets);
    CHECK(parse_ok("take k").verb == Verb::Take);
    CHECK(parse_ok("incr k").verb == Verb::Incr);
    CHECK(parse_ok("decr k").verb == Verb::Decr);
    CHECK(parse_ok("expire k 1").verb == Verb::Expire);
    CHECK(parse_ok("persist k").verb == Verb::Persist);
    CHECK(parse_ok("ttl k").verb == Verb::Ttl);
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
    CHECK(parse_err("save novalue") == "ERR syntax usage: save [ttl <seconds>] <key>:<value>\n");
    CHECK(parse_err("save") == "ERR syntax usage: save [ttl <seconds>] <key>:<value>\n");
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

TEST_CASE("the store's key rule takes 1 to 250 bytes of any value, the line protocol's is narrower", "[parser][xdoor]")
{
    for (int b = 0; b < 256; ++b) {
        std::string key(1, static_cast<char>(b));
        INFO("byte " << b);
        CHECK(kv::store_key_problem(key).empty());
        CHECK(kv::store_key_problem(std::string(250, static_cast<char>(b))).empty());
        bool nameable = b > 0x20 && b != 0x7f && b != ':';
        CHECK(kv::key_problem(key).empty() == nameable);
    }
    CHECK(kv::store_key_problem("") == "key is empty");
    CHECK(kv::store_key_problem(std::string(251, 'k')) == "key is longer than 250 bytes");
    CHECK(kv::key_problem(std::string(251, ' ')) == "key is longer than 250 bytes");  // the same words
}

TEST_CASE("a value is unshowable on a line exactly when it holds a LF", "[parser][xdoor]")
{
    CHECK(kv::unshowable_value("a\nb") == "the value contains a line feed");
    CHECK(kv::unshowable_value("\n") == "the value contains a line feed");
    CHECK(kv::unshowable_value("") == "");
    CHECK(kv::unshowable_value("a\rb\r") == "");  // CR: the line protocol stores and shows it already
    CHECK(kv::unshowable_value(std::string("\0\0", 2)) == "");
}

TEST_CASE("printable_bytes escapes control bytes and keeps the rest", "[parser][xdoor]")
{
    CHECK(kv::printable_bytes("user.1") == "user.1");
    CHECK(kv::printable_bytes("a b:c\\d caf\xc3\xa9") == "a b:c\\d caf\xc3\xa9");
    CHECK(kv::printable_bytes(std::string("a\nb\0\r\x7f\x1f", 7)) == "a\\x0ab\\x00\\x0d\\x7f\\x1f");
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
    CHECK(kv::wire_op(Verb::Add) == Op::Add);
    CHECK(kv::wire_op(Verb::Replace) == Op::Replace);
    CHECK(kv::wire_op(Verb::Cas) == Op::Cas);
    CHECK(kv::wire_op(Verb::Append) == Op::Append);
    CHECK(kv::wire_op(Verb::Gets) == Op::Gets);
    CHECK(kv::wire_op(Verb::Take) == Op::Take);
    CHECK(kv::wire_op(Verb::Incr) == Op::Incr);
    CHECK(kv::wire_op(Verb::Decr) == Op::Decr);
    CHECK(kv::wire_op(Verb::Expire) == Op::Expire);
    CHECK(kv::wire_op(Verb::Persist) == Op::Persist);
    CHECK(kv::wire_op(Verb::Ttl) == Op::Ttl);
    CHECK(kv::wire_op(Verb::Delete) == Op::Delete);
    CHECK(kv::wire_op(Verb::Exists) == Op::Exists);
    CHECK(kv::wire_op(Verb::Count) == Op::Count);
    CHECK(kv::wire_op(Verb::Sync) == Op::Sync);
    for (Verb v : {Verb::Save, Verb::Add, Verb::Replace, Verb::Cas, Verb::Append, Verb::Read, Verb::Gets, Verb::Take,
                   Verb::Delete, Verb::Exists, Verb::Incr, Verb::Decr, Verb::Expire, Verb::Persist, Verb::Ttl,
                   Verb::Keys, Verb::Count, Verb::Stats, Verb::Sync})
        CHECK(static_cast<uint8_t>(*kv::wire_op(v)) <= kv::wire::kLastDataOp);  // never an admin op
}

TEST_CASE("help lists every command with its line count first", "[parser]")
{
    std::string help = kv::help_text();
    REQUIRE(help.rfind("HELP 26\n", 0) == 0);
    size_t lines = 0;
    for (char c : help)
        lines += c == '\n';
    CHECK(lines == 27);
    for (const char* word : {"connect",
                             "auth <user> <password>",
                             "save [ttl <seconds>] <key>:<value>",
                             "add [ttl <seconds>] <key>:<value>",
                             "replace [ttl <seconds>] <key>:<value>",
                             "cas <version> [ttl <seconds>] <key>:<value>",
                             "append <key>:<value>",
                             "read <key>",
                             "gets <key>",
                             "take <key>",
                             "delete <key>",
                             "exists <key>",
                             "incr <key> [<delta>]",
                             "decr <key> [<delta>]",
                             "expire <key> <seconds>",
                             "persist <key>",
                             "ttl <key>",
                             "keys [prefix]",
                             "count",
                             "stats",
                             "sync",
                             "ping",
                             "help",
                             "close",
                             "exit",
                             "quit"})
        CHECK(help.find(std::string("\n") + word + "  ") != std::string::npos);
}

// --- issue 14: options, the atomic commands, expiry (docs/protocol.md) ---

namespace {

const std::string kSaveUsage = "ERR syntax usage: save [ttl <seconds>] <key>:<value>\n";
const std::string kCasUsage = "ERR syntax usage: cas <version> [ttl <seconds>] <key>:<value>\n";
const std::string kTtlError = "ERR syntax ttl must be an integer from 1 to 3153600000\n";
const std::string kSecondsError = "ERR syntax seconds must be an integer from -3153600000 to 3153600000\n";
const std::string kDeltaError
    = "ERR syntax delta must be an integer from -9223372036854775808 to 9223372036854775807\n";
std::string lower(std::string s)
{
    for (char& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

const std::string kVersionError = "ERR syntax version must be an integer from 1 to 18446744073709551615\n";

}  // namespace

TEST_CASE("save, add and replace take an optional ttl before the key", "[parser]")
{
    for (std::string word : {"save", "add", "replace", "SAVE", "Add", "rEpLaCe"}) {
        INFO(word);
        // The command's views point into the line: keep it.
        std::string line = word + " k:v";
        kv::Command plain = parse_ok(line);
        CHECK(plain.key == "k");
        CHECK(plain.value == "v");
        CHECK(plain.expiry == Expiry::None);
        CHECK(plain.expiry_ms == 0);

        line = word + " ttl 10 k:a b: c";
        kv::Command c = parse_ok(line);
        CHECK(c.key == "k");
        CHECK(c.value == "a b: c");
        CHECK(c.expiry == Expiry::After);
        CHECK(c.expiry_ms == 10'000);
        CHECK(c.version == 0);
        CHECK(c.delta == 0);
    }
    CHECK(parse_ok("add k:v").verb == Verb::Add);
    CHECK(parse_ok("replace ttl 1 k:v").verb == Verb::Replace);
    // The option word is case-insensitive; blanks between words may be several, and tabs.
    CHECK(parse_ok("save TTL 5 k:v").expiry_ms == 5'000);
    CHECK(parse_ok("save Ttl\t5  \tk:v").key == "k");
    // Bounds: 1 second to 100 years.
    CHECK(parse_ok("save ttl 1 k:v").expiry_ms == 1'000);
    CHECK(parse_ok("save ttl 3153600000 k:v").expiry_ms == 3'153'600'000'000);
}

TEST_CASE("a key may be named like an option, options need a key after them", "[parser]")
{
    kv::Command c = parse_ok("save ttl:v");
    CHECK(c.key == "ttl");
    CHECK(c.expiry == Expiry::None);
    CHECK(parse_ok("save ttl 5 ttl:v").key == "ttl");
    CHECK(parse_ok("read ttl").key == "ttl");
    CHECK(parse_ok("ttl ttl").key == "ttl");
    // No key after the ttl: a usage error, not a key "10" or "ttl 10".
    CHECK(parse_err("save ttl 10:v") == kSaveUsage);
    CHECK(parse_err("save ttl k:v") == kSaveUsage);
    CHECK(parse_err("save ttl 10 :v") == kSaveUsage);
    // The ttl given twice.
    CHECK(parse_err("save ttl 10 ttl 20 k:v") == kSaveUsage);
}

TEST_CASE("options come before the key, after the colon they are value", "[parser]")
{
    kv::Command c = parse_ok("save k:v ttl 10");
    CHECK(c.value == "v ttl 10");
    CHECK(c.expiry == Expiry::None);
    // A word that is not an option makes the head a key with a space, as before
    // options existed (the reply to `save two words:value` did not change).
    CHECK(parse_err("save two words:value") == "ERR bad-key key contains a space\n");
    CHECK(parse_err("save tll 10 k:v") == "ERR bad-key key contains a space\n");
    CHECK(parse_err("save k ttl 10:v") == "ERR bad-key key contains a space\n");
    CHECK(parse_err("save ttl 10 k k:v") == "ERR bad-key key contains a space\n");
    CHECK(parse_err("save ttl 10 k :v") == "ERR bad-key key contains a space\n");
    CHECK(parse_ok("add ttl 10 a:b:c").value == "b:c");  // the first ':' ends the key
}

TEST_CASE("a ttl is a strict decimal from 1 to 3153600000 seconds", "[parser]")
{
    for (const char* bad : {"0", "-1", "3153600001", "01", "+1", "-0", "1.5", "1e3", "x", "9223372036854775808",
                            "-9223372036854775808", "18446744073709551616", "99999999999999999999999"}) {
        INFO(bad);
        CHECK(parse_err(std::string("save ttl ") + bad + " k:v") == kTtlError);
        CHECK(parse_err(std::string("add ttl ") + bad + " k:v") == kTtlError);
        CHECK(parse_err(std::string("replace ttl ") + bad + " k:v") == kTtlError);
        CHECK(parse_err(std::string("cas 1 ttl ") + bad + " k:v") == kTtlError);
    }
}

TEST_CASE("bad keys and values of the new key:value commands", "[parser]")
{
    CHECK(parse_err("add :v") == "ERR bad-key key is empty\n");
    CHECK(parse_err("replace ttl 5 a\x01:v") == "ERR bad-key key contains a control byte\n");
    CHECK(parse_err("save ttl 5 " + std::string(251, 'k') + ":v") == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(parse_err("cas 3 ttl 5 k:abcd", 3) == "ERR too-long value is 4 bytes; the limit is 3\n");
    CHECK(parse_err("append k:abcd", 3) == "ERR too-long value is 4 bytes; the limit is 3\n");
    CHECK(parse_err("add novalue") == "ERR syntax usage: add [ttl <seconds>] <key>:<value>\n");
    CHECK(parse_err("replace") == "ERR syntax usage: replace [ttl <seconds>] <key>:<value>\n");
    CHECK(parse_err("append k") == "ERR syntax usage: append <key>:<value>\n");
}

TEST_CASE("cas takes a version, then an optional ttl, then key:value", "[parser]")
{
    kv::Command c = parse_ok("cas 42 k:new value");
    CHECK(c.verb == Verb::Cas);
    CHECK(c.version == 42);
    CHECK(c.key == "k");
    CHECK(c.value == "new value");
    CHECK(c.expiry == Expiry::None);

    c = parse_ok("CAS 18446744073709551615 TTL 60 k:");
    CHECK(c.version == UINT64_MAX);
    CHECK(c.expiry == Expiry::After);
    CHECK(c.expiry_ms == 60'000);
    CHECK(c.value.empty());
    CHECK(parse_ok("cas 1 k:v").version == 1);

    CHECK(parse_err("cas k:v") == kCasUsage);  // no version
    CHECK(parse_err("cas") == kCasUsage);
    CHECK(parse_err("cas 5") == kCasUsage);
    CHECK(parse_err("cas 5 k") == kCasUsage);  // no colon
    CHECK(parse_err("cas 5 ttl 10:v") == kCasUsage);
    // The version comes first: ttl in its place is not a version.
    CHECK(parse_err("cas ttl 10 5 k:v") == kVersionError);
    CHECK(parse_err("cas 5 foo k:v") == "ERR bad-key key contains a space\n");
    for (const char* bad : {"0", "-1", "-0", "01", "+1", "18446744073709551616", "1x", "x"}) {
        INFO(bad);
        CHECK(parse_err(std::string("cas ") + bad + " k:v") == kVersionError);
    }
}

TEST_CASE("append takes no options", "[parser]")
{
    kv::Command c = parse_ok("append log:line 1: more");
    CHECK(c.verb == Verb::Append);
    CHECK(c.key == "log");
    CHECK(c.value == "line 1: more");
    CHECK(c.expiry == Expiry::Keep);  // the entry keeps its deadline
    CHECK(parse_err("append ttl 5 k:v") == "ERR bad-key key contains a space\n");
}

TEST_CASE("gets, take, persist and ttl take one key", "[parser]")
{
    for (std::string word : {"gets", "take", "persist", "ttl", "GETS", "Take", "PERSIST", "TTL"}) {
        INFO(word);
        std::string line = word + " k";
        kv::Command c = parse_ok(line);
        CHECK(c.key == "k");
        CHECK(c.value.empty());
        CHECK(c.expiry == Expiry::None);
        std::string usage = "ERR syntax usage: " + lower(word) + " <key>\n";
        CHECK(parse_err(word) == usage);
        CHECK(parse_err(word + " a b") == usage);
        CHECK(parse_err(word + " a:b") == "ERR bad-key key contains ':'\n");
    }
}

TEST_CASE("incr and decr take a key and an optional signed delta", "[parser]")
{
    for (std::string word : {"incr", "decr", "INCR", "Decr"}) {
        INFO(word);
        std::string line = word + " hits";
        kv::Command c = parse_ok(line);
        CHECK(c.key == "hits");
        CHECK(c.delta == 1);
        CHECK(c.expiry == Expiry::Keep);  // a counter keeps its deadline
        CHECK(parse_ok(word + " hits 5").delta == 5);
        CHECK(parse_ok(word + " hits -5").delta == -5);
        CHECK(parse_ok(word + " hits 0").delta == 0);
        CHECK(parse_ok(word + " hits 9223372036854775807").delta == INT64_MAX);
        CHECK(parse_ok(word + " hits -9223372036854775808").delta == INT64_MIN);
        CHECK(parse_ok(word + "\thits\t7 \t").delta == 7);
    }
    CHECK(parse_ok("decr hits 5").verb == Verb::Decr);
    CHECK(parse_ok("decr hits 5").delta == 5);  // kvstored subtracts it (Op::Decr)

    CHECK(parse_err("incr") == "ERR syntax usage: incr <key> [<delta>]\n");
    CHECK(parse_err("decr") == "ERR syntax usage: decr <key> [<delta>]\n");
    CHECK(parse_err("incr k 1 2") == "ERR syntax usage: incr <key> [<delta>]\n");
    CHECK(parse_err("incr a:b") == "ERR bad-key key contains ':'\n");
    CHECK(parse_err("incr " + std::string(251, 'k')) == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(parse_err("incr a:b x") == "ERR bad-key key contains ':'\n");  // the key is checked first
    for (const char* bad : {"9223372036854775808", "-9223372036854775809", "18446744073709551615", "-0", "01", "+1",
                            "-", "1-", "--1", "0x10", "1.0", "x", "\xef\xbc\x91"}) {
        INFO(bad);
        CHECK(parse_err(std::string("incr k ") + bad) == kDeltaError);
        CHECK(parse_err(std::string("decr k ") + bad) == kDeltaError);
    }
}

TEST_CASE("expire takes a key and seconds, zero and negative included", "[parser]")
{
    kv::Command c = parse_ok("expire session 30");
    CHECK(c.verb == Verb::Expire);
    CHECK(c.key == "session");
    CHECK(c.expiry == Expiry::After);
    CHECK(c.expiry_ms == 30'000);
    CHECK(parse_ok("EXPIRE k 0").expiry_ms == 0);  // delete now
    CHECK(parse_ok("expire k -5").expiry_ms == -5'000);  // delete now
    CHECK(parse_ok("expire k 3153600000").expiry_ms == 3'153'600'000'000);
    CHECK(parse_ok("expire k -3153600000").expiry_ms == -3'153'600'000'000);

    CHECK(parse_err("expire") == "ERR syntax usage: expire <key> <seconds>\n");
    CHECK(parse_err("expire k") == "ERR syntax usage: expire <key> <seconds>\n");
    CHECK(parse_err("expire k 1 2") == "ERR syntax usage: expire <key> <seconds>\n");
    CHECK(parse_err("expire a:b 1") == "ERR bad-key key contains ':'\n");
    for (const char* bad :
         {"3153600001", "-3153600001", "-0", "01", "+1", "9223372036854775808", "-9223372036854775808", "1s", "x"}) {
        INFO(bad);
        CHECK(parse_err(std::string("expire k ") + bad) == kSecondsError);
    }
}

TEST_CASE("strict integers: 0 or an optional '-' then 1-9 then digits, in range", "[parser]")
{
    CHECK(kv::parse_int64("0") == 0);
    CHECK(kv::parse_int64("7") == 7);
    CHECK(kv::parse_int64("-7") == -7);
    CHECK(kv::parse_int64("9223372036854775807") == INT64_MAX);
    CHECK(kv::parse_int64("-9223372036854775808") == INT64_MIN);
    for (const char* bad : {"", "-", "-0", "00", "01", "-01", "+1", " 1", "1 ", "1a", "9223372036854775808",
                            "-9223372036854775809", "18446744073709551616", "99999999999999999999"}) {
        INFO(bad);
        CHECK_FALSE(kv::parse_int64(bad));
    }
    CHECK(kv::parse_uint64("0") == 0u);
    CHECK(kv::parse_uint64("18446744073709551615") == UINT64_MAX);
    for (const char* bad : {"", "-1", "-0", "01", "+1", "18446744073709551616", "184467440737095516150"}) {
        INFO(bad);
        CHECK_FALSE(kv::parse_uint64(bad));
    }
}

TEST_CASE("to_request carries every field of a data command", "[parser]")
{
    kv::Command c = parse_ok("cas 9 ttl 2 k:v");
    kv::wire::Request r = kv::to_request(c);
    CHECK(r.op == Op::Cas);
    CHECK(r.key == "k");
    CHECK(r.value == "v");
    CHECK(r.expiry == Expiry::After);
    CHECK(r.expiry_ms == 2'000);
    CHECK(r.version == 9);
    CHECK(r.delta == 0);

    r = kv::to_request(parse_ok("decr n -3"));
    CHECK(r.op == Op::Decr);
    CHECK(r.key == "n");
    CHECK(r.delta == -3);
    CHECK(r.expiry == Expiry::Keep);

    r = kv::to_request(parse_ok("expire k -1"));
    CHECK(r.op == Op::Expire);
    CHECK(r.expiry == Expiry::After);
    CHECK(r.expiry_ms == -1'000);

    r = kv::to_request(parse_ok("keys user."));
    CHECK(r.op == Op::Keys);
    CHECK(r.key == "user.");
    CHECK(r.expiry == Expiry::None);

    r = kv::to_request(parse_ok("save k:v"));
    CHECK(r.op == Op::Save);
    CHECK(r.expiry == Expiry::None);
    CHECK(r.expiry_ms == 0);
}

TEST_CASE("auth takes a user and the rest of the line as the password, and never echoes it", "[parser]")
{
    kv::ParseResult r = kv::parse_line("auth alice correct horse \r", 100);
    REQUIRE(r.kind == kv::ParseResult::Kind::Command);
    CHECK(r.command.verb == kv::Verb::Auth);
    CHECK(r.command.key == "alice");
    CHECK(r.command.value == "correct horse");
    CHECK(!kv::wire_op(kv::Verb::Auth));  // kvsvc sends auth_request(), a session op
    kv::wire::Request req = kv::auth_request(r.command);
    CHECK(req.op == kv::wire::Op::Auth);
    CHECK(req.key == "alice");
    CHECK(req.value == "correct horse");
    kv::ParseResult bad = kv::parse_line("auth s3cretpw", 100);
    REQUIRE(bad.kind == kv::ParseResult::Kind::Error);
    CHECK(bad.error == "ERR syntax usage: auth <user> <password>\n");
}
