// test_protocol.cc: the client line protocol (docs/protocol.md), command by
// command, through a real kvsvc and kvstored. Every reply is compared exactly.
#include <catch2/catch.hpp>

#include <algorithm>

#include "served.h"

using namespace kvtest;

namespace {

const Lines kDataCommands
    = {"save a:1",  "save ttl 5 a:1", "add a:1",  "replace a:1", "cas 1 a:1", "append a:1", "read a",
       "gets a",    "take a",         "delete a", "exists a",    "incr a",    "decr a 2",   "expire a 5",
       "persist a", "ttl a",          "keys",     "keys a",      "count",     "stats"};

const Lines kUsages = {"connect",
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
                       "quit"};

void require_help(LineClient& c, const std::string& command = "help")
{
    c.send(command + "\n");
    Lines block = c.read_reply_block();
    REQUIRE(block.size() == kUsages.size() + 1);
    CHECK(block[0] == "HELP " + std::to_string(kUsages.size()));
    for (size_t i = 0; i < kUsages.size(); ++i) {
        INFO("help line " << i + 1 << ": '" << block[i + 1] << "'");
        CHECK(block[i + 1].rfind(kUsages[i] + "  ", 0) == 0);
        CHECK(block[i + 1].size() > kUsages[i].size() + 2);
    }
}

Lines ask_block(LineClient& c, const std::string& command)
{
    c.send(command + "\n");
    return c.read_reply_block();
}

// True when nothing more arrives within `quiet` (and the session is not over).
bool silent(LineClient& c, Millis quiet = 200ms)
{
    return !c.read_line(quiet) && !c.eof();
}

}  // namespace

TEST_CASE("the greeting is the first line and nothing else is sent unasked")
{
    Served f;
    CHECK(silent(f.client()));
    CHECK(greeting().rfind("HELLO kvstore ", 0) == 0);
}

TEST_CASE("data commands need connect but help ping connect and exit always work")
{
    Served f;
    LineClient& c = f.client();
    for (const auto& cmd : kDataCommands)
        CHECK(c.ask(cmd) == kNotConnected);
    CHECK(c.ask("ping") == "PONG");
    require_help(c);

    f.connected();
    CHECK(c.ask("save a:1") == "OK");
    CHECK(c.ask("close") == "OK closed");
    for (const auto& cmd : kDataCommands)
        CHECK(c.ask(cmd) == kNotConnected);
    CHECK(c.ask("ping") == "PONG");
    require_help(c);
    CHECK(c.ask("close") == "OK closed");

    f.connected();
    CHECK(c.ask("read a") == "VALUE 1");
    CHECK(c.ask("exit") == "BYE");
    CHECK(c.expect_eof());
}

TEST_CASE("connect when already connected answers OK connected and keeps one attachment")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("connect") == "OK connected");
    CHECK(c.ask("CONNECT") == "OK connected");
    Lines stats = ask_block(c, "stats");
    CHECK(stat_value(stats, "connections_current") == "1");
    CHECK(stat_value(stats, "connections_total") == "1");
}

TEST_CASE("save read delete exists answer exactly")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("read k") == "NOT_FOUND");
    CHECK(c.ask("exists k") == "NO");
    CHECK(c.ask("save k:v1") == "OK");
    CHECK(c.ask("read k") == "VALUE v1");
    CHECK(c.ask("exists k") == "YES");
    CHECK(c.ask("save k:v2") == "OK");
    CHECK(c.ask("read k") == "VALUE v2");
    CHECK(c.ask("delete k") == "OK");
    CHECK(c.ask("delete k") == "NOT_FOUND");
    CHECK(c.ask("read k") == "NOT_FOUND");
    CHECK(c.ask("exists k") == "NO");
}

TEST_CASE("keys lists sorted keys with an optional prefix and count gives entries and capacity")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(ask_block(c, "keys") == Lines{"KEYS 0"});
    CHECK(c.ask("count") == "COUNT 0 100");
    for (const char* cmd : {"save b:2", "save ab:3", "save c:4", "save a:1", "save B:5"})
        CHECK(c.ask(cmd) == "OK");
    CHECK(ask_block(c, "keys") == Lines{"KEYS 5", "B", "a", "ab", "b", "c"});
    CHECK(ask_block(c, "keys a") == Lines{"KEYS 2", "a", "ab"});
    CHECK(ask_block(c, "keys ab") == Lines{"KEYS 1", "ab"});
    CHECK(ask_block(c, "keys zz") == Lines{"KEYS 0"});
    CHECK(c.ask("count") == "COUNT 5 100");
    CHECK(c.ask("delete ab") == "OK");
    CHECK(c.ask("count") == "COUNT 4 100");
}

namespace {

// The counters docs/protocol.md lists, in its order. kvstored may list more
// (after them or between them) without breaking clients that look up names.
const Lines kDocumentedStats = {"version",
                                "uptime_seconds",
                                "entries",
                                "capacity",
                                "when_full",
                                "connections_current",
                                "connections_total",
                                "commands_total",
                                "saves",
                                "reads",
                                "deletes",
                                "adds",
                                "replaces",
                                "gets",
                                "cas",
                                "cas_changed",
                                "incrs",
                                "decrs",
                                "appends",
                                "takes",
                                "expires",
                                "persists",
                                "ttls",
                                "hits",
                                "misses",
                                "full_rejections",
                                "expired_entries",
                                "evictions",
                                "protocol_errors",
                                "persistence",
                                "commits",
                                "last_commit_unix",
                                "storage_failed",
                                "storage_refusals",
                                "line_connections_total",
                                "redis_connections_total",
                                "redis_error_replies",
                                "redis_exec_aborts",
                                "memcache_connections_total",
                                "memcache_cmd_get",
                                "memcache_cmd_set",
                                "memcache_cmd_flush",
                                "memcache_cmd_touch",
                                "memcache_cmd_meta",
                                "memcache_get_hits",
                                "memcache_get_misses",
                                "memcache_delete_hits",
                                "memcache_delete_misses",
                                "memcache_incr_hits",
                                "memcache_incr_misses",
                                "memcache_decr_hits",
                                "memcache_decr_misses",
                                "memcache_cas_hits",
                                "memcache_cas_misses",
                                "memcache_cas_badval",
                                "memcache_touch_hits",
                                "memcache_touch_misses",
                                "memcache_store_too_large",
                                "memcache_store_no_memory",
                                "memcache_total_items",
                                "backend",
                                "read_only",
                                "read_only_why"};

// The names of a "STATS n" block, checking that its lines are "<name> <value>"
// (one word; only read_only_why's value, a reason, may be words).
Lines stat_names(const Lines& block)
{
    Lines names;
    for (size_t i = 1; i < block.size(); ++i) {
        size_t space = block[i].find(' ');
        INFO("stats line '" << block[i] << "'");
        CHECK(space != std::string::npos);
        CHECK(space > 0);
        if (block[i].rfind("read_only_why ", 0) != 0)
            CHECK(block[i].find(' ', space + 1) == std::string::npos);
        CHECK(block[i].size() > space + 1);
        names.push_back(block[i].substr(0, space));
    }
    return names;
}

}  // namespace

TEST_CASE("stats lists name value lines, exactly the documented ones in order")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("save a:1") == "OK");
    CHECK(c.ask("read a") == "VALUE 1");
    CHECK(c.ask("read b") == "NOT_FOUND");
    Lines stats = ask_block(c, "stats");
    REQUIRE(stats.size() > 1);
    CHECK(stats[0] == "STATS " + std::to_string(stats.size() - 1));
    // Then one latency row per command that ran (not yet this stats), in
    // the line protocol's op order.
    Lines names = kDocumentedStats;
    names.insert(names.end(), {"latency_line_save", "latency_line_read"});
    CHECK(stat_names(stats) == names);
    CHECK(stat_value(stats, "latency_line_read").rfind("2,", 0) == 0);
    CHECK(stat_value(stats, "version") == version());
    CHECK(stat_value(stats, "entries") == "1");
    CHECK(stat_value(stats, "capacity") == "100");
    CHECK(stat_value(stats, "connections_current") == "1");
    CHECK(stat_value(stats, "saves") == "1");
    CHECK(stat_value(stats, "reads") == "2");
    CHECK(stat_value(stats, "hits") == "1");
    CHECK(stat_value(stats, "misses") == "1");
    CHECK(stat_value(stats, "commands_total") == "4");  // stats counts itself
    // Memory only: no etcd_* lines, and writes are taken.
    CHECK(stat_value(stats, "backend") == "memory");
    CHECK(stat_value(stats, "read_only") == "0");
    CHECK(stat_value(stats, "read_only_why") == "-");
}

TEST_CASE("stats of a kvstored with --db names the sqlite backend, the same lines as memory only", "[persistence]")
{
    TempDir db_dir;
    Served f({"--capacity", "100", "--db", db_dir.file("store.db")});
    LineClient& c = f.connected();
    CHECK(c.ask("save a:1") == "OK");
    Lines stats = ask_block(c, "stats");
    REQUIRE(stats.size() > 1);
    CHECK(stats[0] == "STATS " + std::to_string(stats.size() - 1));
    Lines names = kDocumentedStats;
    names.push_back("latency_line_save");
    CHECK(stat_names(stats) == names);
    CHECK(stat_value(stats, "backend") == "sqlite");
    CHECK(stat_value(stats, "persistence") == "batch");
    CHECK(stat_value(stats, "read_only") == "0");
    CHECK(stat_value(stats, "read_only_why") == "-");
}

TEST_CASE("ping and help answer without kvstored")
{
    Served f;
    LineClient& c = f.client();
    CHECK(c.ask("ping") == "PONG");
    require_help(c);
    f.daemon.kill_hard();
    CHECK(c.ask("ping") == "PONG");
    require_help(c);
}

TEST_CASE("wrong arguments answer ERR syntax with the usage")
{
    Served f;
    LineClient& c = f.connected();
    const std::pair<const char*, const char*> cases[] = {
        {"save", "save [ttl <seconds>] <key>:<value>"},
        {"save novalue", "save [ttl <seconds>] <key>:<value>"},
        {"save ttl 5:v", "save [ttl <seconds>] <key>:<value>"},
        {"add", "add [ttl <seconds>] <key>:<value>"},
        {"replace x", "replace [ttl <seconds>] <key>:<value>"},
        {"cas k:v", "cas <version> [ttl <seconds>] <key>:<value>"},
        {"append k", "append <key>:<value>"},
        {"gets", "gets <key>"},
        {"take a b", "take <key>"},
        {"incr", "incr <key> [<delta>]"},
        {"decr a 1 2", "decr <key> [<delta>]"},
        {"expire a", "expire <key> <seconds>"},
        {"persist", "persist <key>"},
        {"ttl a b", "ttl <key>"},
        {"read", "read <key>"},
        {"read a b", "read <key>"},
        {"delete", "delete <key>"},
        {"delete a b", "delete <key>"},
        {"exists", "exists <key>"},
        {"exists a b", "exists <key>"},
        {"keys a b", "keys [prefix]"},
        {"count x", "count"},
        {"stats x", "stats"},
        {"ping x", "ping"},
        {"help me", "help"},
        {"connect now", "connect"},
        {"close x", "close"},
        {"exit now", "exit"},
        {"quit now", "quit"},
    };
    for (const auto& [line, usage] : cases)
        CHECK(c.ask(line) == std::string("ERR syntax usage: ") + usage);
    CHECK(c.ask("ping") == "PONG");
}

TEST_CASE("unknown commands are echoed safely")
{
    Served f;
    LineClient& c = f.client();
    CHECK(c.ask("bogus") == "ERR unknown-command bogus (type 'help')");
    CHECK(c.ask("bogus with args:1") == "ERR unknown-command bogus (type 'help')");
    CHECK(c.ask("savex a:1") == "ERR unknown-command savex (type 'help')");
    CHECK(c.ask("sa\x01ve") == "ERR unknown-command sa?ve (type 'help')");
    CHECK(c.ask(std::string(50, 'w')) == "ERR unknown-command " + std::string(37, 'w') + "... (type 'help')");
    CHECK(c.ask("ping") == "PONG");
}

TEST_CASE("command words are case-insensitive, keys and values are not")
{
    Served f;
    LineClient& c = f.client();
    CHECK(c.ask("PING") == "PONG");
    require_help(c, "HeLp");
    CHECK(c.ask("Connect") == "OK connected");
    CHECK(c.ask("SAVE Key:Value") == "OK");
    CHECK(c.ask("Read Key") == "VALUE Value");
    CHECK(c.ask("read key") == "NOT_FOUND");
    CHECK(c.ask("EXISTS Key") == "YES");
    CHECK(ask_block(c, "KEYS K") == Lines{"KEYS 1", "Key"});
    CHECK(c.ask("COUNT") == "COUNT 1 100");
    Lines stats = ask_block(c, "STATS");
    CHECK(stats.front() == "STATS " + std::to_string(stats.size() - 1));
    CHECK(c.ask("DeLeTe Key") == "OK");
    CHECK(c.ask("CLOSE") == "OK closed");
    CHECK(c.ask("QUIT") == "BYE");
    CHECK(c.expect_eof());
}

TEST_CASE("CRLF line ends and blank lines")
{
    Served f;
    LineClient& c = f.client();
    c.send("\n \n\t\n\r\n  \t \r\n");
    CHECK(c.ask("ping\r") == "PONG");
    CHECK(c.ask("connect\r") == "OK connected");
    CHECK(c.ask("save k:v\r") == "OK");
    CHECK(c.ask("read k\r") == "VALUE v");
    // Only the CR at the very end is stripped.
    CHECK(c.ask("save cr:a\rb\r\r") == "OK");
    CHECK(c.ask("read cr") == "VALUE a\rb\r");
    CHECK(c.ask("  ping  ") == "PONG");
    CHECK(c.ask("exists\tk") == "YES");
    c.send("\n\n\r\n");
    CHECK(silent(c));
}

TEST_CASE("values may hold spaces and colons or be empty")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("save k:a b:c  d ") == "OK");
    CHECK(c.ask("read k") == "VALUE a b:c  d ");
    CHECK(c.ask("save url:http://example.com:80/x?y=1") == "OK");
    CHECK(c.ask("read url") == "VALUE http://example.com:80/x?y=1");
    CHECK(c.ask("save lead:  x") == "OK");
    CHECK(c.ask("read lead") == "VALUE   x");
    CHECK(c.ask("save e:") == "OK");
    CHECK(c.ask("read e") == "VALUE ");
    CHECK(c.ask("exists e") == "YES");
    CHECK(c.ask("save   spaced:v") == "OK");
    CHECK(c.ask("read spaced") == "VALUE v");
}

TEST_CASE("keys are 1 to 250 bytes without blanks colons or control bytes")
{
    Served f;
    LineClient& c = f.connected();
    const std::string k250(250, 'k');
    const std::string k251(251, 'k');
    CHECK(c.ask("save " + k250 + ":v") == "OK");
    CHECK(c.ask("read " + k250) == "VALUE v");
    CHECK(ask_block(c, "keys k") == Lines{"KEYS 1", k250});
    const std::string too_long = "ERR bad-key key is longer than 250 bytes";
    CHECK(c.ask("save " + k251 + ":v") == too_long);
    CHECK(c.ask("read " + k251) == too_long);
    CHECK(c.ask("delete " + k251) == too_long);
    CHECK(c.ask("exists " + k251) == too_long);
    CHECK(c.ask("keys " + k251) == too_long);
    CHECK(c.ask("save :v") == "ERR bad-key key is empty");
    CHECK(c.ask("save two words:v") == "ERR bad-key key contains a space");
    CHECK(c.ask("read a:b") == "ERR bad-key key contains ':'");
    CHECK(c.ask("save a\tb:v") == "ERR bad-key key contains a control byte");
    CHECK(c.ask(std::string("save a\x01z:v")) == "ERR bad-key key contains a control byte");
    CHECK(c.ask(std::string("read a\x7fz")) == "ERR bad-key key contains a control byte");
    CHECK(c.ask("save caf\xc3\xa9:\xe2\x82\xac") == "OK");
    CHECK(c.ask("read caf\xc3\xa9") == "VALUE \xe2\x82\xac");
    CHECK(c.ask("count") == "COUNT 2 100");
}

TEST_CASE("a full store refuses new keys but overwrites and deletes still work")
{
    Served f({"--capacity", "3"});
    LineClient& c = f.connected();
    for (const char* cmd : {"save a:1", "save b:2", "save c:3"})
        CHECK(c.ask(cmd) == "OK");
    CHECK(c.ask("save d:4") == "ERR full 3/3 entries");
    CHECK(c.ask("read d") == "NOT_FOUND");
    CHECK(c.ask("save a:one") == "OK");
    CHECK(c.ask("read a") == "VALUE one");
    CHECK(c.ask("count") == "COUNT 3 3");
    CHECK(c.ask("delete b") == "OK");
    CHECK(c.ask("save d:4") == "OK");
    CHECK(c.ask("save e:5") == "ERR full 3/3 entries");
    CHECK(stat_value(ask_block(c, "stats"), "full_rejections") == "2");
}

TEST_CASE("an overlong line gets ERR too-long and the session goes on")
{
    Served f;
    LineClient& c = f.connected();
    const std::string line_error = "ERR too-long line exceeds 66048 bytes; the rest of it was discarded";
    const std::string big(70'000, 'x');

    SECTION("in one write, followed by a command")
    {
        c.send(big + "\nping\n");
        CHECK(c.read_lines(2) == Lines{line_error, "PONG"});
        CHECK(silent(c, 100ms));
    }
    SECTION("in pieces, the end of it in the same write as the next command")
    {
        c.send(big.substr(0, 30'000));
        c.send(big.substr(30'000, 30'000));
        c.send(std::string("save a:") + big.substr(60'000) + "\nsave a:1\n");
        CHECK(c.read_lines(2) == Lines{line_error, "OK"});
        CHECK(c.ask("read a") == "VALUE 1");
    }
    SECTION("before connect")
    {
        CHECK(c.ask("close") == "OK closed");
        c.send("save k:" + big + "\nping\n");
        CHECK(c.read_lines(2) == Lines{line_error, "PONG"});
        CHECK(silent(c, 100ms));
    }
    SECTION("as the last line before end of input")
    {
        c.send("ping\n" + big);
        c.shutdown_write();
        CHECK(c.read_to_eof() == "PONG\n" + line_error + "\n");
    }
}

TEST_CASE("a value over 64 KiB gets ERR too-long, one of exactly 64 KiB is stored")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("save big:" + std::string(65'537, 'v')) == "ERR too-long value is 65537 bytes; the limit is 65536");
    CHECK(c.ask("read big") == "NOT_FOUND");
    const std::string max(65'536, 'v');
    CHECK(c.ask("save big:" + max) == "OK");
    CHECK(c.ask("read big") == "VALUE " + max);
    CHECK(c.ask("ping") == "PONG");
}

TEST_CASE("kvstored's --max-value limits values and lines of an attached session")
{
    Served f({"--max-value", "100"});
    LineClient& c = f.connected();
    CHECK(c.ask("save k:" + std::string(100, 'v')) == "OK");
    CHECK(c.ask("save k:" + std::string(101, 'v')) == "ERR too-long value is 101 bytes; the limit is 100");
    CHECK(c.ask("save k:" + std::string(700, 'v'))
          == "ERR too-long line exceeds 612 bytes; the rest of it was discarded");
    CHECK(c.ask("read k") == "VALUE " + std::string(100, 'v'));
}

TEST_CASE("NUL 0xFF and other raw bytes in a value round-trip")
{
    Served f;
    LineClient& c = f.connected();
    std::string value("a\0b\xff"
                      "c\x01\x7f\x80\r\t d",
                      12);
    CHECK(c.ask("save bin:" + value) == "OK");
    CHECK(c.ask("read bin") == "VALUE " + value);
    std::string all;
    for (int b = 0; b < 256; ++b)
        if (b != '\n')
            all.push_back(static_cast<char>(b));
    all.push_back('z');  // so that the CR in it is not the last byte
    CHECK(c.ask("save all:" + all) == "OK");
    CHECK(c.ask("read all") == "VALUE " + all);
    CHECK(c.ask("save key\xff:v") == "OK");
    CHECK(c.ask("read key\xff") == "VALUE v");
}

TEST_CASE("exit and quit say BYE, close the connection, and kvsvc exits 0")
{
    Served f;
    LineClient& c = f.connected();
    std::string word = GENERATE(as<std::string>{}, "exit", "quit", "EXIT");
    CHECK(c.ask(word) == "BYE");
    CHECK(c.expect_eof());
    c.close();
    CHECK(exited_with(f.session.process.wait_exit(3s), 0));
}

TEST_CASE("end of input ends the session once every reply is written")
{
    Served f;
    LineClient& c = f.client();
    c.send("connect\nsave a:1\nread a\nping\nbogus\ncount");  // the last line has no LF
    c.shutdown_write();
    CHECK(c.read_to_eof() == "OK connected\nOK\nVALUE 1\nPONG\nERR unknown-command bogus (type 'help')\nCOUNT 1 100\n");
    CHECK(exited_with(f.session.process.wait_exit(3s), 0));
}

TEST_CASE("end of input right after the greeting ends the session quietly")
{
    Served f;
    f.client().shutdown_write();
    CHECK(f.client().expect_eof());
    CHECK(exited_with(f.session.process.wait_exit(3s), 0));
}
