// test_handoff.cc: socket handoff. A kvsvc whose stdin and stdout are one
// socket passes that socket to kvstored (wire Handoff) with the Hello of each
// `connect`, together with the input it read behind it; kvstored then answers
// the connect, reads the client's lines and writes the replies itself. (If it
// could not, an attached kvsvc at rest hands off when the client sends more.)
// kvstored hands the socket back (wire HandBack)
// for close/exit/quit, end of input, the idle timeout, shutdown and kick, and
// kvsvc carries on as before. If kvstored dies holding the socket, kvsvc resets
// the connection (no BYE: a reply may have been cut). `kvsvc --no-handoff`, and a
// kvsvc on pipes, relay every command instead.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "served.h"

using namespace kvtest;
using Json = nlohmann::ordered_json;

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kRelay = {"--no-handoff"};

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// The read calls `pid` has made (syscr in /proc/PID/io: read, readv, ...).
long read_calls(pid_t pid)
{
    std::string io = read_file("/proc/" + std::to_string(pid) + "/io");
    size_t at = io.find("syscr:");
    REQUIRE(at != std::string::npos);
    return std::stol(io.substr(at + 6));
}

// True when process `holder` has open the very socket that is stdin of
// process `owner`: kvstored holding a kvsvc's client socket (handed off).
bool holds_stdin_of(pid_t holder, pid_t owner)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path target = fs::read_symlink("/proc/" + std::to_string(owner) + "/fd/0", ec);
    if (ec || target.string().rfind("socket:", 0) != 0)
        return false;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(holder) + "/fd", ec)) {
        std::error_code link_ec;
        if (fs::read_symlink(entry.path(), link_ec) == target && !link_ec)
            return true;
    }
    return false;
}

// A kvstored and its admin socket (DIR/admin.sock, bound just after the
// service socket), for `kvstored clients` and `kvstored kick`.
struct Administered {
    TempDir dir;
    Daemon daemon;

    explicit Administered(std::vector<std::string> daemon_args = {"--capacity", "100"})
        : daemon(dir, std::move(daemon_args))
    {
        REQUIRE(wait_for_unix_listener(dir.file("admin.sock"), 5s));
    }

    const std::string& socket() const { return daemon.socket_path(); }

    CliResult cli(std::vector<std::string> args) const
    {
        args.insert(args.begin(), {"--admin-socket", dir.file("admin.sock")});
        return run_kvstored(args);
    }

    // The row of `clients --json` for the kvsvc with `pid`; requires one.
    Json client_row(pid_t pid) const
    {
        CliResult r = cli({"clients", "--json"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        Json rows = Json::parse(r.out, nullptr, false);
        REQUIRE(rows.is_array());
        for (const auto& row : rows)
            if (row.at("pid") == pid)
                return row;
        FAIL("no client with pid " << pid << " in " << rows.dump());
        return {};
    }
};

// A descriptor closed on destruction.
struct OwnedFd {
    int fd = -1;
    OwnedFd() = default;
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() { reset(); }
    void reset()
    {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
};

// A pipe, both ends closed on destruction.
struct OwnedPipe {
    OwnedFd r, w;
    OwnedPipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        r.fd = fds[0];
        w.fd = fds[1];
    }
};

// Writes all of `data` to the pipe `fd` (bounded by 5 s); false on failure.
bool write_all(int fd, std::string_view data)
{
    auto deadline = Clock::now() + 5s;
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        pollfd p{fd, POLLOUT, 0};
        if (Clock::now() >= deadline || ::poll(&p, 1, 100) < 0)
            return false;
    }
    return true;
}

// Reads the pipe `fd` until `buffer` holds a whole line, at most `timeout`;
// returns the line without its LF, "<eof>" or "<timeout>".
std::string read_pipe_line(int fd, std::string& buffer, Millis timeout = 5s)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (size_t lf = buffer.find('\n'); lf != std::string::npos) {
            std::string line = buffer.substr(0, lf);
            buffer.erase(0, lf + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
            return "<timeout>";
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0)
            return "<eof>";
        if (n > 0)
            buffer.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

TEST_CASE("kvsvc is off the request path after connect: under 20 read calls for 500 commands, at least 500 with "
          "--no-handoff")
{
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "1000"});
    for (bool relay : {false, true}) {
        INFO((relay ? "relay (--no-handoff)" : "handoff"));
        KvsvcSession s = connected_session(daemon.socket_path(), relay ? kRelay : std::vector<std::string>{});
        CHECK(holds_stdin_of(daemon.process().pid(), s.process.pid()) == !relay);
        const std::string tag = relay ? "r" : "h";
        long before = read_calls(s.process.pid());
        size_t wrong = 0;
        std::string first_wrong;
        for (int i = 0; i < 250; ++i) {
            std::string key = tag + std::to_string(i);
            for (auto [command, expected] : {std::pair{"save " + key + ":v" + key, std::string("OK")},
                                             std::pair{"read " + key, "VALUE v" + key}}) {
                std::string reply = s.client.ask(command);
                if (reply != expected && wrong++ == 0)
                    first_wrong = command + " -> '" + reply + "'";
            }
        }
        long grown = read_calls(s.process.pid()) - before;
        INFO("first wrong reply: " << first_wrong);
        CHECK(wrong == 0);
        std::printf("500 sequential commands, %s: kvsvc made %ld read calls\n",
                    relay ? "relaying (--no-handoff)" : "handed off", grown);
        if (relay)
            CHECK(grown >= 500);
        else
            CHECK(grown < 20);
        CHECK(s.client.ask("exit") == "BYE");
        CHECK(s.client.expect_eof());
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(3s), 0));
    }
}

TEST_CASE("connect, save, read, close, read, connect, read, exit in one write: the same transcript handed off and "
          "relaying")
{
    const std::string input = "connect\nsave a:1\nread a\nclose\nread a\nconnect\nread a\nexit\n";
    const std::string expected
        = "OK connected\nOK\nVALUE 1\nOK closed\n" + kNotConnected + "\nOK connected\nVALUE 1\nBYE\n";
    TempDir dir;
    Daemon daemon(dir);
    std::vector<std::string> transcripts;
    for (bool relay : {false, true}) {
        INFO((relay ? "relay (--no-handoff)" : "handoff"));
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), relay ? kRelay : std::vector<std::string>{});
        REQUIRE(s.client.read_line() == greeting());
        s.client.send(input);
        auto transcript = s.client.read_to_eof(5s);
        REQUIRE(transcript);  // and then EOF
        CHECK(*transcript == expected);
        transcripts.push_back(*transcript);
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(3s), 0));
    }
    CHECK(transcripts[0] == transcripts[1]);
}

// The same commands in pieces, each sent once the previous replies are in: a
// handing-off kvsvc sends the socket with each `connect` (kvstored answers
// it), and gets it back at `close` and at `exit`. Byte for byte what a
// relaying kvsvc writes.
TEST_CASE("connect, save, read, close, read, connect, read, exit in pieces across two handoffs: the same transcript "
          "handed off and relaying")
{
    struct Piece {
        std::string send;
        size_t lines;  // replies to it
        bool handed_off;  // after them, does kvstored hold the socket (unless relaying)?
    };
    const std::vector<Piece> pieces = {
        {"connect\n", 1, true},  // handed off with the Hello: kvstored answers
        {"save a:1\n", 1, true},
        {"read a\nclose\nread a\nconnect\n", 4, true},  // handed back at close, off again at connect
        {"read a\n", 1, true},
        {"exit\n", 1, false},  // handed back: kvsvc says BYE
    };
    const std::string expected
        = "OK connected\nOK\nVALUE 1\nOK closed\n" + kNotConnected + "\nOK connected\nVALUE 1\nBYE\n";
    TempDir dir;
    Daemon daemon(dir);
    std::vector<std::string> transcripts;
    for (bool relay : {false, true}) {
        INFO((relay ? "relay (--no-handoff)" : "handoff"));
        KvsvcSession s = spawn_kvsvc(daemon.socket_path(), relay ? kRelay : std::vector<std::string>{});
        REQUIRE(s.client.read_line() == greeting());
        std::string transcript;
        for (const auto& piece : pieces) {
            INFO("after sending '" << piece.send << "'");
            s.client.send(piece.send);
            Lines replies = s.client.read_lines(piece.lines);
            for (const auto& line : replies)
                transcript += line + "\n";
            REQUIRE(replies.size() == piece.lines);
            if (piece.send != "exit\n")
                CHECK(holds_stdin_of(daemon.process().pid(), s.process.pid()) == (piece.handed_off && !relay));
        }
        CHECK(s.client.expect_eof());
        CHECK(transcript == expected);
        transcripts.push_back(transcript);
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(3s), 0));
    }
    CHECK(transcripts[0] == transcripts[1]);
}

TEST_CASE("SIGTERM to kvstored while a handed-off client is idle: BYE with the shutdown message, EOF, kvsvc exits 0")
{
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = connected_session(daemon.socket_path());
    REQUIRE(s.client.ask("save a:1") == "OK");
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    daemon.process().signal(SIGTERM);
    CHECK(s.client.read_line(3s) == "BYE kvstored is shutting down");
    CHECK(s.client.expect_eof(3s));
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));
    CHECK(exited_with(daemon.process().wait_exit(6s), 0));
}

TEST_CASE("kvstored kick of a handed-off client: BYE with the message, EOF, kvsvc exits 0, the others are served")
{
    Administered f;
    KvsvcSession victim = connected_session(f.socket());
    KvsvcSession bystander = connected_session(f.socket());
    REQUIRE(victim.client.ask("save a:1") == "OK");
    REQUIRE(holds_stdin_of(f.daemon.process().pid(), victim.process.pid()));
    std::string id = f.client_row(victim.process.pid()).at("id").dump();

    CliResult r = f.cli({"kick", id, "--message", "handed back: bye"});
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "client " + id + " disconnected\n");
    CHECK(victim.client.read_line(3s) == "BYE handed back: bye");
    CHECK(victim.client.expect_eof(3s));
    victim.client.close();
    CHECK(exited_with(victim.process.wait_exit(3s), 0));

    CHECK(bystander.client.ask("read a") == "VALUE 1");
    CHECK(bystander.client.ask("ping") == "PONG");
}

TEST_CASE("a handed-off client silent for --idle-timeout gets BYE idle timeout, then EOF")
{
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = connected_session(daemon.socket_path(), {"--idle-timeout", "1"});
    REQUIRE(s.client.ask("save a:1") == "OK");
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    auto quiet_since = Clock::now();
    CHECK(s.client.read_line(4s) == "BYE idle timeout");
    double idle = seconds_since(quiet_since);
    CHECK(idle > 0.8);
    CHECK(idle < 3.0);
    CHECK(s.client.expect_eof());
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));
}

TEST_CASE("kill -9 of kvstored while a client is handed off and idle: the connection ends with no BYE, kvsvc exits 0")
{
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = connected_session(daemon.socket_path());
    REQUIRE(s.client.ask("save a:1") == "OK");
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    daemon.kill_hard();
    // kvsvc cannot know whether kvstored stopped mid-reply: a reset (EOF on
    // this socketpair), never a BYE.
    CHECK(s.client.expect_eof(3s));
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));

    // The client reconnects once kvstored is back.
    daemon.restart();
    KvsvcSession again = connected_session(daemon.socket_path());
    CHECK(again.client.ask("save b:2") == "OK");
    CHECK(again.client.ask("read b") == "VALUE 2");
}

TEST_CASE("a handed-off client that half-closes after an unterminated last line gets both replies, then EOF")
{
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = connected_session(daemon.socket_path());
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    s.client.send("save x:1\nread x");
    s.client.shutdown_write();
    auto rest = s.client.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(*rest == "OK\nVALUE 1\n");
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));
}

// wire.h, handoff with the Hello: kvstored answers the connect and sends its
// Welcome only with its first other frame, here the hand-back at the end.
TEST_CASE("a socket handed off with the Hello stays with kvstored past the 5 s attach timeout, at the client's EOF "
          "kvstored hangs up first and kvsvc exits")
{
    TempDir dir;
    Daemon daemon(dir, {"--log-level", "debug"});  // the detach line is debug
    KvsvcSession s = spawn_kvsvc(daemon.socket_path());
    REQUIRE(s.client.read_line() == greeting());
    s.client.send("connect\nsave a:1\n");
    CHECK(s.client.read_lines(2) == Lines{"OK connected", "OK"});
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    CHECK_FALSE(s.client.read_line(5500ms));  // nothing from a kvsvc that took its socket back
    CHECK(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    CHECK(s.client.ask("read a") == "VALUE 1");
    s.client.shutdown_write();
    auto rest = s.client.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->empty());
    CHECK(exited_with(s.process.wait_exit(3s), 0));
    CHECK(daemon.log_shows("detached (session ended)"));
}

TEST_CASE("with --sync always, 200 pipelined save/read pairs on a handed-off session are answered in order, then "
          "exit says BYE")
{
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "1000", "--db", dir.file("store.db"), "--sync", "always"});
    KvsvcSession s = connected_session(daemon.socket_path());
    REQUIRE(holds_stdin_of(daemon.process().pid(), s.process.pid()));
    std::string batch;
    Lines expected;
    for (int i = 0; i < 200; ++i) {
        std::string n = std::to_string(i);
        batch += "save k" + n + ":v" + n + "\nread k" + n + "\n";
        expected.push_back("OK");
        expected.push_back("VALUE v" + n);
    }
    s.client.send(batch + "exit\n");
    expected.push_back("BYE");
    Lines got = s.client.read_lines(expected.size(), 30s);
    CHECK(got == expected);
    CHECK(s.client.expect_eof());
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));

    // Acknowledged with --sync always: there after a restart.
    CHECK(exited_with(daemon.terminate(), 0));
    daemon.restart();
    KvsvcSession again = connected_session(daemon.socket_path());
    CHECK(again.client.ask("count") == "COUNT 200 1000");
    CHECK(again.client.ask("read k199") == "VALUE v199");
}

TEST_CASE("with stdin and stdout as two pipes kvsvc relays, and the session works")
{
    TempDir dir;
    Daemon daemon(dir);
    OwnedPipe in, out;
    Process kvsvc(kvsvc_bin(), {"--socket", daemon.socket_path()}, Stdio{in.r.fd, out.w.fd, -1});
    in.r.reset();
    out.w.reset();
    std::string buffer;
    auto ask = [&](const std::string& line) {
        REQUIRE(write_all(in.w.fd, line + "\n"));
        return read_pipe_line(out.r.fd, buffer);
    };
    CHECK(read_pipe_line(out.r.fd, buffer) == greeting());
    CHECK(ask("connect") == "OK connected");
    long before = read_calls(kvsvc.pid());
    for (int i = 0; i < 20; ++i) {
        std::string n = std::to_string(i);
        CHECK(ask("save p" + n + ":" + n) == "OK");
        CHECK(ask("read p" + n) == "VALUE " + n);
    }
    CHECK(read_calls(kvsvc.pid()) - before >= 40);  // it read every command itself
    CHECK(ask("ping") == "PONG");
    CHECK(ask("exit") == "BYE");
    CHECK(read_pipe_line(out.r.fd, buffer) == "<eof>");
    CHECK(exited_with(kvsvc.wait_exit(3s), 0));
}

TEST_CASE("kvstored clients shows a handed-off client's command count going up")
{
    Administered f;
    KvsvcSession s = connected_session(f.socket());
    REQUIRE(holds_stdin_of(f.daemon.process().pid(), s.process.pid()));
    CHECK(f.client_row(s.process.pid()).at("commands") == 0);  // ping is not a command kvstored counts
    REQUIRE(s.client.ask("save a:1") == "OK");
    REQUIRE(s.client.ask("read a") == "VALUE 1");
    REQUIRE(s.client.ask("exists b") == "NO");
    CHECK(f.client_row(s.process.pid()).at("commands") == 3);
    std::string batch;
    for (int i = 0; i < 50; ++i)
        batch += "read a\n";
    s.client.send(batch);
    CHECK(s.client.read_lines(50).size() == 50);
    Json row = f.client_row(s.process.pid());
    CHECK(row.at("commands") == 53);
    CHECK(row.at("idle_seconds").get<int64_t>() <= 1);
}
