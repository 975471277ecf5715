// test_xinetd.cc: the deployed chain, a TCP client -> real xinetd -> kvsvc ->
// kvstored, over 127.0.0.1 only.
#include <catch2/catch.hpp>

#include <csignal>

#include "xinetd_fixture.h"

using namespace kvtest;

TEST_CASE("a TCP session through xinetd")
{
    XinetdStack stack;
    LineClient c = connect_tcp(stack.xinetd.port());
    auto hello = c.read_line();
    REQUIRE(hello);
    CHECK(hello->rfind("HELLO kvstore ", 0) == 0);
    CHECK(hello->size() > std::string("HELLO kvstore  ready; type 'help'").size());
    CHECK(hello->substr(hello->size() - std::string(" ready; type 'help'").size()) == " ready; type 'help'");
    CHECK(*hello == greeting());

    CHECK(c.ask("connect") == "OK connected");
    CHECK(c.ask("save a:1") == "OK");
    CHECK(c.ask("read a") == "VALUE 1");
    CHECK(c.ask("close") == "OK closed");
    CHECK(c.ask("exit") == "BYE");
    CHECK(c.expect_eof());
}

TEST_CASE("CRLF from a telnet-like client over TCP")
{
    XinetdStack stack;
    LineClient c = stack.xinetd.client();
    c.send("connect\r\nsave k:v w\r\nread k\r\nquit\r\n");
    CHECK(c.read_lines(4) == std::vector<std::string>{"OK connected", "OK", "VALUE v w", "BYE"});
    CHECK(c.expect_eof());
}

TEST_CASE("an idle TCP client gets the shutdown notice through xinetd")
{
    XinetdStack stack;
    LineClient c = stack.xinetd.client();
    CHECK(c.ask("connect") == "OK connected");
    stack.daemon.process().signal(SIGTERM);
    CHECK(c.read_line(2s) == "BYE kvstored is shutting down");
    CHECK(c.expect_eof(2s));
    auto status = stack.daemon.process().wait_exit(6s);
    INFO("kvstored log:\n" << stack.daemon.log());
    CHECK(exited_with(status, 0));
}

TEST_CASE("50 TCP clients at once through xinetd")
{
    XinetdStack stack;
    constexpr int kClients = 50;
    std::vector<LineClient> clients;
    for (int i = 0; i < kClients; ++i)
        clients.push_back(connect_tcp(stack.xinetd.port()));
    std::vector<Exchange> ex(kClients);
    for (int i = 0; i < kClients; ++i) {
        std::string k = "client" + std::to_string(i);
        ex[i].client = &clients[i];
        ex[i].send = "connect\nsave " + k + ":value of " + k + "\nread " + k + "\nexit\n";
        ex[i].expect = {greeting(), "OK connected", "OK", "VALUE value of " + k, "BYE"};
        ex[i].then_eof = true;
    }
    auto failures = run_exchanges(ex, 30s);
    INFO(failures.size() << " client(s) failed; first: " << (failures.empty() ? "" : failures.front())
                         << "\nxinetd log:\n"
                         << stack.xinetd.log());
    CHECK(failures.empty());

    LineClient last = stack.xinetd.client();
    CHECK(last.ask("connect") == "OK connected");
    CHECK(last.ask("count") == "COUNT 50 10000");
}
