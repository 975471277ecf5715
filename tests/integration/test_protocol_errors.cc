// test_protocol_errors.cc: error replies where code and docs/protocol.md
// must agree (issue 13, point 9): the reply to commands pipelined behind a
// connect that fails, and the prefix rule of `keys`.
#include "served.h"

using namespace kvtest;

TEST_CASE("commands pipelined behind a connect that fails at once get the connect's error", "[protocol][regression]")
{
    // What went wrong: when kvsvc could not even reach kvstored's socket, the
    // data commands sent right behind `connect` were answered "ERR
    // not-connected", not the connect's "ERR unavailable <why>" that
    // docs/protocol.md promises.
    std::vector<std::string> kvsvc_args
        = GENERATE(std::vector<std::string>{}, std::vector<std::string>{"--no-handoff"});
    INFO("kvsvc " << (kvsvc_args.empty() ? "handing off" : "--no-handoff"));
    TempDir dir;  // no kvstored: nothing listens on the socket
    KvsvcSession s = spawn_kvsvc(dir.file("kvstored.sock"), kvsvc_args);
    REQUIRE(s.client.read_line() == greeting());
    s.client.send("connect\nread a\nsave a:1\nping\ncount\n");
    Lines replies = s.client.read_lines(5);
    REQUIRE(replies.size() == 5);
    CHECK(replies[0].rfind("ERR unavailable ", 0) == 0);
    CHECK(replies[1] == replies[0]);
    CHECK(replies[2] == replies[0]);
    CHECK(replies[3] == "PONG");
    CHECK(replies[4] == replies[0]);
    // Commands sent later, not behind that connect, are simply not connected.
    CHECK(s.client.ask("read a") == kNotConnected);
}

TEST_CASE("keys checks its prefix like a key: one with ':' is answered bad-key", "[protocol]")
{
    Served f;
    LineClient& c = f.connected();
    REQUIRE(c.ask("save a.b:1") == "OK");
    CHECK(c.ask("keys a:b") == "ERR bad-key key contains ':'");
    c.send("keys a.\n");
    CHECK(c.read_reply_block() == Lines{"KEYS 1", "a.b"});
}
