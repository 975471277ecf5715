// test_robustness.cc: kvstored facing peers that are not kvsvc, and kvsvc
// keeping its stderr (the client's socket under xinetd) clean.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <random>

#include "served.h"
#include "wire.h"

using namespace kvtest;

namespace {

std::string be32(uint32_t v)
{
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string frame(uint8_t type, const std::string& payload)
{
    return be32(static_cast<uint32_t>(payload.size())) + static_cast<char>(type) + payload;
}

// Connects to kvstored as a raw peer and sends `bytes`. Returns what kvstored
// sent back before hanging up, or nullopt when it did not hang up in time.
std::optional<std::string> raw_peer(const std::string& socket, const std::string& bytes)
{
    int fd = connect_unix(socket);
    REQUIRE(fd >= 0);
    LineClient raw(fd);
    raw.send(bytes);
    return raw.read_to_eof(3s);
}

std::string random_bytes(size_t n)
{
    std::mt19937 rng(4242);
    std::string s;
    for (size_t i = 0; i < n; ++i)
        s.push_back(static_cast<char>(rng() & 0xff));
    s[0] = static_cast<char>(s[0] | 0x01);  // the length field claims >= 16 MiB
    return s;
}

// Everything in the read end of a pipe once all writers have closed it.
std::string drain_pipe(int fd)
{
    std::string all;
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    for (int i = 0; i < 1000 && ::poll(&p, 1, 3000) > 0; ++i) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        all.append(buf, static_cast<size_t>(n));
    }
    return all;
}

// VmRSS of `pid` in KiB, from /proc.
long rss_kib(pid_t pid)
{
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    size_t at = status.find("VmRSS:");
    REQUIRE(at != std::string::npos);
    return std::stol(status.substr(at + 6));
}

struct Pipe {
    int r = -1;
    int w = -1;
    Pipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        r = fds[0];
        w = fds[1];
    }
    ~Pipe()
    {
        close_write();
        ::close(r);
    }
    void close_write()
    {
        if (w >= 0)
            ::close(w);
        w = -1;
    }
};

}  // namespace

TEST_CASE("kvstored drops peers that send garbage and keeps serving kvsvc")
{
    Served f;
    LineClient& c = f.connected();
    CHECK(c.ask("save a:1") == "OK");
    const std::string sock = f.daemon.socket_path();

    CHECK(raw_peer(sock, random_bytes(64)) == "");
    CHECK(c.ask("read a") == "VALUE 1");
    CHECK(raw_peer(sock, be32(0xffffffff) + "\x01garbage") == "");
    CHECK(c.ask("read a") == "VALUE 1");
    CHECK(raw_peer(sock, frame(0xee, "an unknown message type")) == "");
    CHECK(raw_peer(sock, frame(4, std::string("\x02\x00\x01k\x00\x00\x00\x00", 8))) == "");  // Request before Hello
    CHECK(raw_peer(sock, frame(1, std::string(1, '\0'))) == "");  // a Hello too short to hold a version

    CHECK(c.ask("save b:2") == "OK");
    KvsvcSession fresh = connected_session(sock);
    CHECK(fresh.client.ask("read b") == "VALUE 2");
    fresh.client.send("stats\n");
    CHECK(stat_value(fresh.client.read_reply_block(), "protocol_errors") == "5");
}

// wire.h: "kvstored -> kvsvc Welcome (or Refused, then kvstored closes)".
TEST_CASE("kvstored refuses a peer of another wire version and closes the connection")
{
    Served f;
    int fd = connect_unix(f.daemon.socket_path());
    REQUIRE(fd >= 0);
    LineClient raw(fd);
    raw.send(frame(1, be32(99) + be32(12345) + std::string("\x00\x00", 2)));
    std::string reason = "kvstored speaks protocol " + std::to_string(kv::wire::kVersion)
        + ", kvsvc speaks 99; install matching versions";
    std::string str16{static_cast<char>(reason.size() >> 8), static_cast<char>(reason.size())};
    std::string refused = frame(3, str16 + reason);
    CHECK(raw.read_bytes(refused.size(), 2s) == refused);
    CHECK(raw.expect_eof(2s));
    CHECK(f.connected().ask("ping") == "PONG");
}

TEST_CASE("a refused peer that keeps sending cannot grow kvstored's memory")
{
    Served f;
    int fd = connect_unix(f.daemon.socket_path());
    REQUIRE(fd >= 0);
    LineClient raw(fd);
    long before = rss_kib(f.daemon.process().pid());
    raw.send(frame(1, be32(99) + be32(12345) + std::string("\x00\x00", 2)));
    const std::string chunk(1 << 20, 'g');
    try {
        for (int i = 0; i < 64; ++i)
            raw.send(chunk, 2s);  // kvstored should have hung up long before
    } catch (const std::runtime_error&) {
    }
    long grown = rss_kib(f.daemon.process().pid()) - before;
    INFO("kvstored's resident memory grew by " << grown << " KiB");
    CHECK(grown < 16 * 1024);
    CHECK(f.connected().ask("ping") == "PONG");
}

TEST_CASE("a peer that hangs up mid-frame costs kvstored nothing")
{
    Served f;
    int fd = connect_unix(f.daemon.socket_path());
    REQUIRE(fd >= 0);
    LineClient raw(fd);
    raw.send(be32(100) + "\x01" + "only ten b");
    raw.close();
    LineClient& c = f.connected();
    CHECK(c.ask("save a:1") == "OK");
    CHECK(f.daemon.process().running());
}

TEST_CASE("kvsvc never writes to stderr, even across errors and a lost kvstored")
{
    // Handed off, kvstored answers the errors and kvsvc ends the session when
    // kvstored is lost; relaying, kvsvc does both itself.
    bool relay = GENERATE(false, true);
    INFO((relay ? "relay (--no-handoff)" : "handoff"));
    TempDir dir;
    Daemon daemon(dir);
    Pipe err;
    KvsvcSession s = spawn_kvsvc(daemon.socket_path(),
                                 relay ? std::vector<std::string>{"--no-handoff"} : std::vector<std::string>{}, err.w);
    err.close_write();
    LineClient& c = s.client;
    REQUIRE(c.read_line() == greeting());
    CHECK(c.ask("read a") == kNotConnected);
    CHECK(c.ask("connect") == "OK connected");
    CHECK(c.ask("bogus") == "ERR unknown-command bogus (type 'help')");
    CHECK(c.ask("read") == "ERR syntax usage: read <key>");
    CHECK(c.ask("save :x") == "ERR bad-key key is empty");
    c.send(std::string(70'000, 'x') + "\n");
    CHECK(c.read_line() == "ERR too-long line exceeds 66048 bytes; the rest of it was discarded");
    daemon.kill_hard();
    if (relay) {
        CHECK(c.ask("read a") == "ERR unavailable kvstored went away");
        CHECK(c.ask("connect").rfind("ERR unavailable cannot reach kvstored", 0) == 0);
    } else {
        // No BYE: kvsvc cannot know that kvstored stopped at a reply boundary.
        CHECK(c.expect_eof());
    }
    c.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));
    CHECK(drain_pipe(err.r) == "");
}

TEST_CASE("kvsvc reports bad usage on stdout, not stderr, and exits 2")
{
    auto [args, message] = GENERATE(table<std::vector<std::string>, std::string>({
        {{"--bogus"}, "ERR unavailable kvsvc: unknown option '--bogus' (see kvsvc --help)"},
        {{"--idle-timeout", "soon"},
         "ERR unavailable kvsvc: --idle-timeout wants whole seconds, not 'soon' (see kvsvc --help)"},
        {{"--idle-timeout"}, "ERR unavailable kvsvc: option --idle-timeout needs a value (see kvsvc --help)"},
    }));
    TempDir dir;
    Pipe err;
    KvsvcSession s = spawn_kvsvc(dir.file("kvstored.sock"), args, err.w);
    err.close_write();
    CHECK(s.client.read_line() == message);
    CHECK(s.client.expect_eof());
    CHECK(exited_with(s.process.wait_exit(3s), 2));
    CHECK(drain_pipe(err.r) == "");
}

TEST_CASE("kvsvc --version prints its version")
{
    TempDir dir;
    KvsvcSession s = spawn_kvsvc(dir.file("kvstored.sock"), {"--version"});
    CHECK(s.client.read_line() == "kvsvc " + version());
    CHECK(s.client.expect_eof());
    CHECK(exited_with(s.process.wait_exit(3s), 0));
}
