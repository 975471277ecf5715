// Unit tests for kvsvc's ReplyQueue: local answers never overtake forwarded
// commands that came before them.
#include <catch2/catch.hpp>

#include "reply_queue.h"

TEST_CASE("replies leave in command order", "[reply-queue]")
{
    std::string out;
    kv::ReplyQueue q(out);
    q.local("A\n");  // nothing pending: straight out
    CHECK(out == "A\n");
    q.expect_remote();
    q.local("C\n");
    q.expect_remote();
    q.local("E\n");
    CHECK(out == "A\n");
    CHECK(q.outstanding() == 2);
    REQUIRE(q.remote("B\n"));
    CHECK(out == "A\nB\nC\n");
    REQUIRE(q.remote("D\n"));
    CHECK(out == "A\nB\nC\nD\nE\n");
    CHECK(q.outstanding() == 0);
}

TEST_CASE("a reply nobody asked for is reported", "[reply-queue]")
{
    std::string out;
    kv::ReplyQueue q(out);
    CHECK_FALSE(q.remote("X\n"));
    CHECK(out.empty());
}

TEST_CASE("fail_all answers every waiting command, keeping local ones in place", "[reply-queue]")
{
    std::string out;
    kv::ReplyQueue q(out);
    q.expect_remote();
    q.local("L\n");
    q.expect_remote();
    q.fail_all("ERR unavailable kvstored went away\n");
    CHECK(out == "ERR unavailable kvstored went away\nL\nERR unavailable kvstored went away\n");
    CHECK(q.outstanding() == 0);
}

TEST_CASE("drop_waiting forgets every unwritten reply, local ones behind kvstored's too", "[reply-queue]")
{
    std::string out;
    kv::ReplyQueue q(out);
    q.local("A\n");
    q.expect_remote();
    q.local("L\n");  // answered here, but behind a command kvstored never answered
    q.expect_remote();
    q.drop_waiting();
    CHECK(out == "A\n");
    CHECK(q.outstanding() == 0);
    CHECK(q.queued_bytes() == 0);
    q.local("BYE\n");  // what follows goes straight out
    CHECK(out == "A\nBYE\n");
}
