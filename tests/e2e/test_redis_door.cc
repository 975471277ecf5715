// test_redis_door.cc: kvsvc --protocol redis, the service side of the Redis
// door (docs/redis.md): its answer when kvstored cannot serve the client, its
// usage errors, and a Redis client served by kvstored through it, on a
// socket (the handoff), through pipes (the relay) and through real xinetd.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "piped_kvsvc.h"
#include "xinetd_fixture.h"

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
    const std::string expected
        = "-ERR kvstore unavailable: cannot reach kvstored at " + socket + ": No such file or directory\r\n";
    SECTION("on a socket: no greeting, one RESP error, then the end of the stream")
    {
        KvsvcSession s = spawn_kvsvc(socket, kRedis);
        s.client.send(resp({"PING"}));
        CHECK(s.client.read_to_eof(5s) == expected);
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    SECTION("through pipes (the relay)")
    {
        PipedKvsvc k(socket, kRedis);
        k.write_unless_gone(resp({"PING"}));
        CHECK(k.read_all() == expected);
        CHECK(exited_with(k.process.wait_exit(5s), 0));
    }
    SECTION("before the client says anything")
    {
        KvsvcSession s = spawn_kvsvc(socket, kRedis);
        CHECK(s.client.read_to_eof(5s) == expected);
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
}

TEST_CASE("kvsvc --protocol redis: a kvstored that never takes the socket is given up after 5 s")
{
    // A listener that never accepts: the connect completes (the backlog) and
    // the Hello with the client's socket waits there, unread.
    TempDir dir;
    const std::string path = dir.file("stuck.sock");
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);

    auto start = std::chrono::steady_clock::now();
    KvsvcSession s = spawn_kvsvc(path, kRedis);
    s.client.send(resp({"PING"}));
    CHECK(s.client.read_to_eof(10s) == "-ERR kvstore unavailable: kvstored did not answer within 5000 ms\r\n");
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 4900ms);
    CHECK(took < 8s);
    CHECK(exited_with(s.process.wait_exit(5s), 0));
    ::close(listener);
}

TEST_CASE("kvsvc --protocol: anything but line, redis or memcache is a usage error (exit 2)")
{
    TempDir dir;
    KvsvcSession s = spawn_kvsvc(dir.file("none.sock"), {"--protocol", "bogus"});
    CHECK(s.client.read_line()
          == "ERR unavailable kvsvc: --protocol wants line, redis or memcache, not 'bogus' (see kvsvc --help)");
    CHECK(exited_with(s.process.wait_exit(5s), 2));

    // With --protocol redis already read, the usage error is a RESP error.
    KvsvcSession r = spawn_kvsvc(dir.file("none.sock"), {"--protocol", "redis", "--idle-timeout", "x"});
    CHECK(r.client.read_to_eof(5s)
          == "-ERR kvstore unavailable: kvsvc: --idle-timeout wants whole seconds, not 'x' (see kvsvc --help)\r\n");
    CHECK(exited_with(r.process.wait_exit(5s), 2));

    KvsvcSession h = spawn_kvsvc(dir.file("none.sock"), {"--help"});
    std::string help = h.client.read_to_eof(5s).value_or("");
    CHECK(help.find("--protocol line|redis|memcache") != std::string::npos);
    CHECK(exited_with(h.process.wait_exit(5s), 0));
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
        PipedKvsvc k(daemon.socket_path(), kRedis);
        k.write(resp({"PING"}) + resp({"SET", "k", "v"}) + resp({"GET", "k"}));
        k.close_input();
        CHECK(k.read_all() == "+PONG\r\n+OK\r\n$1\r\nv\r\n");
        CHECK(exited_with(k.process.wait_exit(5s), 0));
    }
    SECTION("--no-handoff relays too")
    {
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), {"--protocol", "redis", "--no-handoff"});
        s.client.send(resp({"PING"}) + resp({"QUIT"}));
        CHECK(s.client.read_to_eof(5s) == "+PONG\r\n+OK\r\n");
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    SECTION("through xinetd, beside the line protocol's service")
    {
        XinetdOptions o = kvsvc_service(daemon.socket_path());
        o.server_args = "--protocol redis " + o.server_args;
        PrivateXinetd xinetd(dir, free_tcp_port(), o);
        LineClient c = connect_tcp(xinetd.port());
        c.send(resp({"PING"}));
        CHECK(c.read_bytes(7) == "+PONG\r\n");
        c.send(resp({"QUIT"}));
        CHECK(c.read_to_eof(5s) == "+OK\r\n");
    }
}
