// test_memcache_door.cc: kvsvc --protocol memcache, the service side of the
// memcached door (docs/memcache.md): its answer when kvstored cannot serve
// the client, its usage errors, and a memcached client served by kvstored
// through it, on a socket (the handoff), through pipes (the relay) and
// through real xinetd.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "piped_kvsvc.h"
#include "xinetd_fixture.h"

using namespace kvtest;

namespace {

const std::vector<std::string> kMemcache = {"--protocol", "memcache"};

}  // namespace

TEST_CASE("kvsvc --protocol memcache without kvstored answers SERVER_ERROR kvstore unavailable and exits")
{
    TempDir dir;
    const std::string socket = dir.file("none.sock");
    const std::string expected
        = "SERVER_ERROR kvstore unavailable: cannot reach kvstored at " + socket + ": No such file or directory\r\n";
    SECTION("on a socket: no greeting, one SERVER_ERROR line, then the end of the stream")
    {
        KvsvcSession s = spawn_kvsvc(socket, kMemcache);
        s.client.send("get k\r\n");
        CHECK(s.client.read_to_eof(5s) == expected);
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    SECTION("through pipes (the relay)")
    {
        PipedKvsvc k(socket, kMemcache);
        k.write_unless_gone("stats\r\n");
        CHECK(k.read_all() == expected);
        CHECK(exited_with(k.process.wait_exit(5s), 0));
    }
    SECTION("before the client says anything")
    {
        KvsvcSession s = spawn_kvsvc(socket, kMemcache);
        CHECK(s.client.read_to_eof(5s) == expected);
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
}

TEST_CASE("kvsvc --protocol memcache: a kvstored that never takes the socket is given up after 5 s")
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
    KvsvcSession s = spawn_kvsvc(path, kMemcache);
    s.client.send("version\r\n");
    CHECK(s.client.read_to_eof(10s) == "SERVER_ERROR kvstore unavailable: kvstored did not answer within 5000 ms\r\n");
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 4900ms);
    CHECK(took < 8s);
    CHECK(exited_with(s.process.wait_exit(5s), 0));
    ::close(listener);
}

TEST_CASE("kvsvc --protocol memcache: usage errors are a SERVER_ERROR line (exit 2); --help names the door")
{
    TempDir dir;
    KvsvcSession r = spawn_kvsvc(dir.file("none.sock"), {"--protocol", "memcache", "--idle-timeout", "x"});
    CHECK(r.client.read_to_eof(5s)
          == "SERVER_ERROR kvstore unavailable: kvsvc: --idle-timeout wants whole seconds, not 'x' (see kvsvc "
             "--help)\r\n");
    CHECK(exited_with(r.process.wait_exit(5s), 2));

    KvsvcSession h = spawn_kvsvc(dir.file("none.sock"), {"--help"});
    std::string help = h.client.read_to_eof(5s).value_or("");
    CHECK(help.find("memcache   SERVER_ERROR kvstore unavailable: <why>") != std::string::npos);
    CHECK(help.find("docs/memcache.md") != std::string::npos);
    CHECK(exited_with(h.process.wait_exit(5s), 0));
}

// Through kvstored's memcached door (docs/memcache.md).
TEST_CASE("a memcached client through kvsvc --protocol memcache: handed off, relayed, and through xinetd")
{
    TempDir dir;
    Daemon daemon(dir);
    INFO("kvstored log:\n" << daemon.log());
    SECTION("on a socket: kvsvc hands it to kvstored")
    {
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), kMemcache);
        s.client.send("set door 5 0 8\r\nmemcache\r\n");
        CHECK(s.client.read_bytes(8) == "STORED\r\n");
        s.client.send("get door\r\n");
        const std::string value = "VALUE door 5 8\r\nmemcache\r\nEND\r\n";
        CHECK(s.client.read_bytes(value.size()) == value);
        s.client.send("quit\r\n");
        CHECK(s.client.read_to_eof(5s) == "");
        CHECK(exited_with(s.process.wait_exit(5s), 0));

        // The line protocol sees the same store.
        KvsvcSession line = connected_session(daemon.socket_path());
        CHECK(line.client.ask("read door") == "VALUE memcache");
    }
    SECTION("through pipes: kvsvc relays a socketpair; end of input ends the session")
    {
        PipedKvsvc k(daemon.socket_path(), kMemcache);
        k.write("set k 0 0 1\r\nv\r\nget k\r\ndelete k\r\n");
        k.close_input();
        CHECK(k.read_all() == "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\nDELETED\r\n");
        CHECK(exited_with(k.process.wait_exit(5s), 0));
    }
    SECTION("--no-handoff relays too")
    {
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), {"--protocol", "memcache", "--no-handoff"});
        s.client.send("get nothing\r\nquit\r\n");
        CHECK(s.client.read_to_eof(5s) == "END\r\n");
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    SECTION("through real xinetd, its one service kvsvc --protocol memcache")
    {
        XinetdOptions o = kvsvc_service(daemon.socket_path());
        o.server_args = "--protocol memcache " + o.server_args;
        PrivateXinetd xinetd(dir, free_tcp_port(), o);
        LineClient c = connect_tcp(xinetd.port());
        c.send("version\r\n");
        CHECK(c.read_line().value_or("").rfind("VERSION 1.6.18-kvstore-", 0) == 0);
        c.send("quit\r\n");
        CHECK(c.read_to_eof(5s) == "");
    }
}
