// Unit tests for awaited_command.h, as far as they go without etcd: without
// a replicated store run_command() is the bare call, and an AwaitedCommand
// settles by the ticket's durability (a memory-only Database: always
// Durable). The replicated paths (Pending, Failed, Retry) run against etcd
// in the etcd stage.
#include <catch2/catch.hpp>

#include "awaited_command.h"
#include "command.h"

using kv::AwaitedCommand;

namespace {

std::string redis_style(std::string_view code, std::string_view text)
{
    return "-ERR " + std::string(code) + " " + std::string(text) + "\r\n";
}

}  // namespace

TEST_CASE("without a replicated store run_command only runs the command", "[awaited]")
{
    kv::Database db{3, std::nullopt};
    REQUIRE_FALSE(db.replicated());
    int runs = 0;
    CHECK(kv::run_command(db, [&] { return ++runs, uint64_t{42}; }) == 42);  // the ticket as it is
    CHECK(runs == 1);
    CHECK_THROWS_AS(kv::run_command(db, []() -> uint64_t { throw std::bad_alloc(); }), std::bad_alloc);
}

TEST_CASE("an awaited command sends its reply, or sync's made at release, once durable", "[awaited]")
{
    kv::Database db{3, std::nullopt};
    AwaitedCommand a;
    CHECK_FALSE(a.active());
    std::string text = "stale";
    a.await(7, "OK\n");
    REQUIRE(a.active());
    CHECK(a.settle(db, kv::error_reply, text) == AwaitedCommand::Outcome::Send);
    CHECK(text == "OK\n");
    CHECK_FALSE(a.active());

    a.await(8, "ignored", AwaitedCommand::Reply::Synced);
    CHECK(a.settle(db, kv::error_reply, text) == AwaitedCommand::Outcome::Send);
    CHECK(text == "OK synced 0\n");

    a.await(9, "", AwaitedCommand::Reply::Silent);
    CHECK(a.settle(db, kv::error_reply, text) == AwaitedCommand::Outcome::Send);
    CHECK(text.empty());
}

TEST_CASE("an awaited command abandoned at shutdown says so, unless it was silent", "[awaited]")
{
    AwaitedCommand a;
    a.await(3, "OK\n");
    CHECK(a.abandon(kv::error_reply) == "ERR unavailable kvstored shut down before the write was saved\n");
    CHECK_FALSE(a.active());
    a.await(4, "+OK\r\n");
    CHECK(a.abandon(redis_style) == "-ERR unavailable kvstored shut down before the write was saved\r\n");
    a.await(5, "", AwaitedCommand::Reply::Silent);
    CHECK(a.abandon(kv::error_reply).empty());
    CHECK_FALSE(a.active());
}
