// test_pipelining.cc: many commands in one write; replies must come back
// complete and in command order, whether kvsvc or kvstored answers them.
#include <catch2/catch.hpp>

#include <random>

#include "served.h"

using namespace kvtest;

namespace {

struct Script {
    std::string bytes;
    Lines expect;

    void add(const std::string& line, const Lines& replies)
    {
        bytes += line + "\n";
        expect.insert(expect.end(), replies.begin(), replies.end());
    }
};

// `n` commands mixing saves, reads (hits and misses), pings, help and unknown
// words, from a fixed seed so that a failure replays identically.
Script mixed_commands(size_t n, const Lines& help)
{
    std::mt19937 rng(20240601);
    std::vector<std::string> values;  // values[j] is saved under "k<j>"
    Script s;
    for (size_t i = 0; i < n; ++i) {
        switch (rng() % 6) {
        case 0:
        case 1:
            values.push_back("value " + std::to_string(i) + " a:b");
            s.add("save k" + std::to_string(values.size() - 1) + ":" + values.back(), {"OK"});
            break;
        case 2: {
            size_t j = rng() % (values.size() + 3);  // some keys are not saved yet
            s.add("read k" + std::to_string(j), {j < values.size() ? "VALUE " + values[j] : "NOT_FOUND"});
            break;
        }
        case 3:
            s.add("ping", {"PONG"});
            break;
        case 4:
            s.add("help", help);
            break;
        default:
            s.add("bogus" + std::to_string(i), {"ERR unknown-command bogus" + std::to_string(i) + " (type 'help')"});
        }
    }
    return s;
}

}  // namespace

TEST_CASE("1000 pipelined commands in one write are all answered in order")
{
    Served f({"--capacity", "2000"});
    LineClient& c = f.connected();
    c.send("help\n");
    Lines help = c.read_reply_block();
    REQUIRE(help.size() == 27);  // "HELP 26" and 26 commands

    Script s = mixed_commands(1000, help);
    c.send(s.bytes);
    Lines got = c.read_lines(s.expect.size(), 20s);
    REQUIRE(got.size() == s.expect.size());
    for (size_t i = 0; i < got.size(); ++i) {
        INFO("reply line " << i + 1);
        REQUIRE(got[i] == s.expect[i]);
    }
    CHECK(c.ask("ping") == "PONG");
}

TEST_CASE("close and exit wait for the replies to earlier pipelined commands")
{
    Served f;
    LineClient& c = f.client();
    c.send("connect\nsave a:1\nread a\nclose\nread a\nconnect\nread a\ndelete a\nexit\nping\n");
    CHECK(c.read_lines(8)
          == Lines{"OK connected", "OK", "VALUE 1", "OK closed", kNotConnected, "OK connected", "VALUE 1", "OK"});
    CHECK(c.read_line() == "BYE");
    CHECK(c.expect_eof());
}

TEST_CASE("end of input after many pipelined commands still gets every reply")
{
    Served f({"--capacity", "1000"});
    LineClient& c = f.connected();
    std::string bytes;
    std::string expect;
    for (int i = 0; i < 500; ++i) {
        bytes += "save k" + std::to_string(i) + ":" + std::to_string(i) + "\nread k" + std::to_string(i) + "\n";
        expect += "OK\nVALUE " + std::to_string(i) + "\n";
    }
    c.send(bytes);
    c.shutdown_write();
    CHECK(c.read_to_eof(10s) == expect);
}

// Replies far larger than the output bounds (kvsvc's 1 MiB, kvstored's 4 MiB):
// processing stops at the bound and must resume each time the client drains
// the output, or the session stalls with requests left.
TEST_CASE("a pipelined burst of large replies is answered in full, relaying and handed off")
{
    for (bool handoff : {true, false}) {
        INFO((handoff ? "handed off" : "relaying (--no-handoff)"));
        Served f({"--capacity", "10"}, handoff ? std::vector<std::string>{} : std::vector<std::string>{"--no-handoff"});
        LineClient& c = f.connected();
        const std::string value(60000, 'x');
        REQUIRE(c.ask("save big:" + value) == "OK");
        constexpr size_t kReads = 1000;  // 60 MB of replies
        std::string burst;
        for (size_t i = 0; i < kReads; ++i)
            burst += "read big\n";
        c.send(burst);
        size_t answered = 0;
        for (; answered < kReads; ++answered) {
            auto line = c.read_line(10s);
            if (!line || *line != "VALUE " + value)
                break;
        }
        CHECK(answered == kReads);
    }
}
