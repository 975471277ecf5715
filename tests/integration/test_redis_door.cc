// test_redis_door.cc: a Redis client's session through kvsvc --protocol redis
// and kvstored (docs/redis.md): no greeting, the socket handed off at once (or
// relayed through a socketpair with --no-handoff), one store with the line
// protocol, QUIT and protocol errors ending the session, and kvstored's
// clients, kick and shutdown covering RESP sessions. The commands themselves
// are checked against a real redis-server in tests/redis/.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <csignal>

#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;
using namespace std::chrono_literals;

namespace {

// One command as a RESP array of bulk strings.
std::string resp(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args)
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

std::string bulk(const std::string& s)
{
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// Sends a command and reads exactly the reply we expect (or what came
// instead, within the timeout).
std::string ask(LineClient& c, const std::vector<std::string>& args, size_t reply_size)
{
    c.send(resp(args));
    return c.read_bytes(reply_size, 5s);
}

struct RedisServed {
    TempDir dir;
    std::string admin_socket = dir.file("admin.sock");
    Daemon daemon;

    explicit RedisServed(std::vector<std::string> extra = {}) : daemon(dir, with_admin(std::move(extra), admin_socket))
    {
    }

    static std::vector<std::string> with_admin(std::vector<std::string> extra, const std::string& admin)
    {
        extra.insert(extra.end(), {"--admin-socket", admin, "--capacity", "100"});
        return extra;
    }

    KvsvcSession redis(std::vector<std::string> extra = {})
    {
        extra.insert(extra.begin(), {"--protocol", "redis"});
        return spawn_kvsvc(daemon.socket_path(), std::move(extra));
    }

    nlohmann::json clients() const
    {
        CliResult r = run_kvstored({"--admin-socket", admin_socket, "clients", "--json"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        return nlohmann::json::parse(r.out);
    }
};

}  // namespace

TEST_CASE("a Redis client is served without a greeting, handed off or relayed", "[redis]")
{
    RedisServed f;
    for (auto mode : {std::vector<std::string>{}, std::vector<std::string>{"--no-handoff"}}) {
        INFO("kvsvc options: " << (mode.empty() ? "(none)" : mode[0]));
        KvsvcSession s = f.redis(mode);
        // A Redis client speaks first: kvsvc says nothing of its own.
        CHECK(s.client.read_bytes(1, 300ms).empty());
        CHECK(ask(s.client, {"PING"}, 7) == "+PONG\r\n");
        CHECK(ask(s.client, {"SET", "k" + std::to_string(mode.size()), "v"}, 5) == "+OK\r\n");
        CHECK(ask(s.client, {"GET", "k" + std::to_string(mode.size())}, 7) == bulk("v"));
        // Inline commands and pipelining, as redis-cli and nc send them.
        s.client.send("PING\r\nECHO hi\r\n");
        CHECK(s.client.read_bytes(15, 5s) == "+PONG\r\n$2\r\nhi\r\n");
    }
}

TEST_CASE("both doors see one store", "[redis]")
{
    RedisServed f;
    KvsvcSession line = connected_session(f.daemon.socket_path());
    KvsvcSession redis = f.redis();
    CHECK(line.client.ask("save colour:blue") == "OK");
    CHECK(ask(redis.client, {"GET", "colour"}, 10) == bulk("blue"));
    CHECK(ask(redis.client, {"SET", "size", "42"}, 5) == "+OK\r\n");
    CHECK(line.client.ask("read size") == "VALUE 42");
    CHECK(ask(redis.client, {"INCR", "size"}, 5) == ":43\r\n");
    CHECK(line.client.ask("read size") == "VALUE 43");
    // A value the line protocol cannot frame is refused there, not split
    // into two reply lines (docs/protocol.md).
    CHECK(ask(redis.client, {"SET", "poem", "roses\nviolets"}, 5) == "+OK\r\n");
    CHECK(line.client.ask("read poem")
          == "ERR unshowable the value contains a line feed; read it through the Redis door");
    CHECK(line.client.ask("ping") == "PONG");
    CHECK(ask(redis.client, {"GET", "poem"}, 20) == bulk("roses\nviolets"));
}

TEST_CASE("QUIT and a protocol error end a Redis session after the reply", "[redis]")
{
    RedisServed f;
    KvsvcSession quitter = f.redis();
    quitter.client.send(resp({"PING"}) + resp({"QUIT"}) + resp({"PING"}));
    auto all = quitter.client.read_to_eof(5s);
    REQUIRE(all);
    CHECK(*all == "+PONG\r\n+OK\r\n");

    KvsvcSession other = f.redis();
    KvsvcSession bad = f.redis();
    bad.client.send("*1\r\n$x\r\n");
    all = bad.client.read_to_eof(5s);
    REQUIRE(all);
    CHECK(*all == "-ERR Protocol error: invalid bulk length\r\n");
    CHECK(ask(other.client, {"PING"}, 7) == "+PONG\r\n");
}

TEST_CASE("kvstored clients lists Redis sessions and kick ends them", "[redis]")
{
    RedisServed f;
    KvsvcSession redis = f.redis();
    CHECK(ask(redis.client, {"PING"}, 7) == "+PONG\r\n");
    nlohmann::json rows = f.clients();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].at("protocol") == "redis");
    CHECK(rows[0].at("pid") == redis.process.pid());
    std::string id = std::to_string(rows[0].at("id").get<uint64_t>());
    CliResult r = run_kvstored({"--admin-socket", f.admin_socket, "kick", id});
    INFO(r.describe());
    CHECK(r.code == 0);
    // No BYE line: a Redis client could not parse it. The connection closes.
    auto rest = redis.client.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->empty());
    CHECK(redis.process.wait_exit(5s).has_value());
}

TEST_CASE("CLIENT KILL ends another Redis session, CLIENT ID names it", "[redis]")
{
    RedisServed f;
    KvsvcSession victim = f.redis();
    KvsvcSession killer = f.redis();
    victim.client.send(resp({"CLIENT", "ID"}));
    std::string line = victim.client.read_line(5s).value_or("");  // ":<id>\r"
    REQUIRE(line.size() >= 3);
    std::string id = line.substr(1, line.size() - 2);
    CHECK(ask(killer.client, {"CLIENT", "KILL", "ID", id}, 4) == ":1\r\n");
    auto rest = victim.client.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->empty());
    CHECK(ask(killer.client, {"PING"}, 7) == "+PONG\r\n");
}

TEST_CASE("at shutdown a Redis session gets every reply in flight, whole, then the connection closes", "[redis]")
{
    RedisServed f;
    KvsvcSession redis = f.redis();
    CHECK(ask(redis.client, {"PING"}, 7) == "+PONG\r\n");
    std::string burst;
    // 200 SETs over 50 keys: under the fixture's capacity of 100 however
    // many of them kvstored serves before the signal.
    for (int i = 0; i < 200; ++i)
        burst += resp({"SET", "key" + std::to_string(i % 50), "value"});
    redis.client.send(burst);
    f.daemon.process().signal(SIGTERM);
    auto all = redis.client.read_to_eof(10s);
    REQUIRE(all);
    // Whole replies only: "+OK\r\n" repeated, never cut, never a BYE.
    REQUIRE(all->size() % 5 == 0);
    for (size_t i = 0; i < all->size(); i += 5)
        REQUIRE(all->substr(i, 5) == "+OK\r\n");
    CHECK(f.daemon.process().wait_exit(10s).has_value());
}

// A client that reads its last replies slowly (after QUIT) still gets them
// all: the write-stall clock (10 s without progress) applies, not a fixed
// grace period; handed off and relayed.
TEST_CASE("a slow reader gets every reply that was due before QUIT", "[redis]")
{
    RedisServed f;
    std::string value(60000, 'v');
    for (auto mode : {std::vector<std::string>{}, std::vector<std::string>{"--no-handoff"}}) {
        INFO("kvsvc options: " << (mode.empty() ? "(none)" : mode[0]));
        KvsvcSession s = f.redis(mode);
        CHECK(ask(s.client, {"SET", "big", value}, 5) == "+OK\r\n");
        std::string burst;
        for (int i = 0; i < 16; ++i)
            burst += resp({"GET", "big"});
        s.client.send(burst + resp({"QUIT"}));
        std::this_thread::sleep_for(3s);
        auto all = s.client.read_to_eof(10s);
        REQUIRE(all);
        std::string expected;
        for (int i = 0; i < 16; ++i)
            expected += bulk(value);
        CHECK(all->size() == expected.size() + 5);
        CHECK(*all == expected + "+OK\r\n");
    }
}
