// test_redis_door.cc: kvsvc --protocol redis, the service side of the Redis
// door (docs/redis.md): its answer when kvstored cannot serve the client, its
// usage errors, and a Redis client served by kvstored through it, on a
// socket (the handoff), through pipes (the relay) and through real xinetd.
#include <catch2/catch.hpp>

#include "door_test.h"

using namespace kvtest;

namespace {

const std::vector<std::string> kRedis = {"--protocol", "redis"};

// A RESP request, as redis-cli sends it.
std::string resp(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args)
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

}  // namespace

TEST_CASE("kvsvc --protocol redis without kvstored answers -ERR kvstore unavailable and exits")
{
    TempDir dir;
    const std::string socket = dir.file("none.sock");
    check_door_unavailable(socket, kRedis, "one RESP error",
                           "-ERR kvstore unavailable: cannot reach kvstored at " + socket
                               + ": No such file or directory\r\n",
                           resp({"PING"}), resp({"PING"}));
}

TEST_CASE("kvsvc --protocol redis: a kvstored that never takes the socket is given up after 5 s")
{
    check_door_gives_up_after_5s(kRedis, resp({"PING"}),
                                 "-ERR kvstore unavailable: kvstored did not answer within 5000 ms\r\n");
}

TEST_CASE("kvsvc --protocol: anything but line, redis or memcache is a usage error (exit 2)")
{
    TempDir dir;
    KvsvcSession s = spawn_kvsvc(dir.file("none.sock"), {"--protocol", "bogus"});
    CHECK(s.client.read_line()
          == "ERR unavailable kvsvc: --protocol wants line, redis or memcache, not 'bogus' (see kvsvc --help)");
    CHECK(exited_with(s.process.wait_exit(5s), 2));

    // With --protocol redis already read, the usage error is a RESP error.
    check_kvsvc_answers_and_exits(
        dir.file("none.sock"), {"--protocol", "redis", "--idle-timeout", "x"},
        "-ERR kvstore unavailable: kvsvc: --idle-timeout wants whole seconds, not 'x' (see kvsvc --help)\r\n", 2);

    CHECK(kvsvc_help(dir.file("none.sock")).find("--protocol line|redis|memcache") != std::string::npos);
}

// Through kvstored's RedisDoor (docs/redis.md).
TEST_CASE("a Redis client through kvsvc --protocol redis: handed off, relayed, and through xinetd")
{
    TempDir dir;
    Daemon daemon(dir);
    INFO("kvstored log:\n" << daemon.log());
    SECTION("on a socket: kvsvc hands it to kvstored")
    {
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), kRedis);
        s.client.send(resp({"PING"}));
        CHECK(s.client.read_bytes(7) == "+PONG\r\n");
        s.client.send(resp({"SET", "door", "redis"}) + resp({"GET", "door"}));
        CHECK(s.client.read_bytes(5 + 11) == "+OK\r\n$5\r\nredis\r\n");
        s.client.send(resp({"QUIT"}));
        CHECK(s.client.read_to_eof(5s) == "+OK\r\n");
        CHECK(exited_with(s.process.wait_exit(5s), 0));

        // The line protocol sees the same store.
        KvsvcSession line = connected_session(daemon.socket_path());
        CHECK(line.client.ask("read door") == "VALUE redis");
    }
    SECTION("through pipes: kvsvc relays a socketpair; end of input ends the session")
    {
        check_piped_kvsvc(daemon.socket_path(), kRedis, resp({"PING"}) + resp({"SET", "k", "v"}) + resp({"GET", "k"}),
                          "+PONG\r\n+OK\r\n$1\r\nv\r\n");
    }
    SECTION("--no-handoff relays too")
    {
        check_kvsvc_session(daemon.socket_path(), {"--protocol", "redis", "--no-handoff"},
                            resp({"PING"}) + resp({"QUIT"}), "+PONG\r\n+OK\r\n");
    }
    SECTION("through xinetd, beside the line protocol's service")
    {
        PrivateXinetd xinetd(dir, free_tcp_port(), door_service(daemon.socket_path(), "redis"));
        LineClient c = connect_tcp(xinetd.port());
        c.send(resp({"PING"}));
        CHECK(c.read_bytes(7) == "+PONG\r\n");
        c.send(resp({"QUIT"}));
        CHECK(c.read_to_eof(5s) == "+OK\r\n");
    }
}
