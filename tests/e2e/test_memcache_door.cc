// test_memcache_door.cc: kvsvc --protocol memcache, the service side of the
// memcached door (docs/memcache.md): its answer when kvstored cannot serve
// the client, its usage errors, and a memcached client served by kvstored
// through it, on a socket (the handoff), through pipes (the relay) and
// through real xinetd.
#include <catch2/catch.hpp>

#include "door_test.h"

using namespace kvtest;

namespace {

const std::vector<std::string> kMemcache = {"--protocol", "memcache"};

}  // namespace

TEST_CASE("kvsvc --protocol memcache without kvstored answers SERVER_ERROR kvstore unavailable and exits")
{
    TempDir dir;
    const std::string socket = dir.file("none.sock");
    check_door_unavailable(socket, kMemcache, "one SERVER_ERROR line",
                           "SERVER_ERROR kvstore unavailable: cannot reach kvstored at " + socket
                               + ": No such file or directory\r\n",
                           "get k\r\n", "stats\r\n");
}

TEST_CASE("kvsvc --protocol memcache: a kvstored that never takes the socket is given up after 5 s")
{
    check_door_gives_up_after_5s(kMemcache, "version\r\n",
                                 "SERVER_ERROR kvstore unavailable: kvstored did not answer within 5000 ms\r\n");
}

TEST_CASE("kvsvc --protocol memcache: usage errors are a SERVER_ERROR line (exit 2), --help names the door")
{
    TempDir dir;
    check_kvsvc_answers_and_exits(dir.file("none.sock"), {"--protocol", "memcache", "--idle-timeout", "x"},
                                  "SERVER_ERROR kvstore unavailable: kvsvc: --idle-timeout wants whole seconds, not "
                                  "'x' (see kvsvc --help)\r\n",
                                  2);

    const std::string help = kvsvc_help(dir.file("none.sock"));
    CHECK(help.find("memcache   SERVER_ERROR kvstore unavailable: <why>") != std::string::npos);
    CHECK(help.find("docs/memcache.md") != std::string::npos);
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
        check_piped_kvsvc(daemon.socket_path(), kMemcache, "set k 0 0 1\r\nv\r\nget k\r\ndelete k\r\n",
                          "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\nDELETED\r\n");
    }
    SECTION("--no-handoff relays too")
    {
        check_kvsvc_session(daemon.socket_path(), {"--protocol", "memcache", "--no-handoff"}, "get nothing\r\nquit\r\n",
                            "END\r\n");
    }
    SECTION("through real xinetd, its one service kvsvc --protocol memcache")
    {
        PrivateXinetd xinetd(dir, free_tcp_port(), door_service(daemon.socket_path(), "memcache"));
        LineClient c = connect_tcp(xinetd.port());
        c.send("version\r\n");
        CHECK(c.read_line().value_or("").rfind("VERSION 1.6.18-kvstore-", 0) == 0);
        c.send("quit\r\n");
        CHECK(c.read_to_eof(5s) == "");
    }
}
