// test_stuck_clients.cc: clients that stop reading their output (issue 13,
// points 2, 4 and 8, and the end-of-session half of point 9).
//
// - A client that takes none of its output for kWriteStallTimeout (10 s) is
//   disconnected, handed off or relayed, whatever its idle timeout; `kick` and
//   shutdown finish within their deadlines and `kick` says what happened.
// - When the output may have stopped mid-reply (kvstored died holding the
//   socket, or cut the session at a deadline) the client sees a TCP reset,
//   never a BYE glued to a partial reply.
// - A relayed peer that hangs up while its reply waits for durability does
//   not make kvstored spin.
// - At shutdown, commands kvstored did not carry out get no reply, handed off
//   or relayed: BYE follows the last reply.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "db_lock.h"
#include "served.h"

using namespace kvtest;
using Json = nlohmann::ordered_json;

namespace {

using Clock = std::chrono::steady_clock;

// kvstored's and kvsvc's write-stall deadline (common/command.h), and
// kvstored's kick deadline (kvstored/server.cc).
constexpr auto kWriteStall = 10s;
constexpr auto kKickDeadline = 5s;
const std::string kBigValue(60'000, 'x');

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// A kvstored with its admin socket, for `clients` and `kick`.
struct Administered {
    TempDir dir;
    Daemon daemon;

    explicit Administered(std::vector<std::string> args = {"--capacity", "20000"}) : daemon(dir, std::move(args))
    {
        REQUIRE(wait_for_unix_listener(dir.file("admin.sock"), 5s));
    }

    CliResult cli(std::vector<std::string> args, Millis timeout = 20s) const
    {
        args.insert(args.begin(), {"--admin-socket", dir.file("admin.sock")});
        return run_kvstored(args, {}, timeout);
    }

    // The id of the attached kvsvc with `pid`, or "" when it is not listed.
    std::string client_id(pid_t pid) const
    {
        CliResult r = cli({"clients", "--json"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        Json rows = Json::parse(r.out, nullptr, false);
        REQUIRE(rows.is_array());
        for (const auto& row : rows)
            if (row.at("pid") == pid)
                return row.at("id").dump();
        return "";
    }
};

// The recipe: 9,000 keys of 250 bytes, so that `keys` is ~2.3 MB.
void fill_9000_long_keys(const std::string& socket)
{
    KvsvcSession s = connected_session(socket);
    std::string batch;
    for (int i = 0; i < 9000; ++i) {
        std::string key = std::to_string(i);
        key.insert(0, 250 - key.size(), 'k');
        batch += "save " + key + ":v\n";
    }
    s.client.send(batch, 20s);
    Lines replies = s.client.read_lines(9000, 30s);
    REQUIRE(replies.size() == 9000);
    REQUIRE(replies.back() == "OK");
}

// kvsvc on a loopback TCP connection, as xinetd runs it (the accepted socket as
// its fds 0, 1 and 2): only TCP shows a reset. The client's receive buffer is
// `rcvbuf` bytes (set before connecting, so that the window follows it).
KvsvcSession spawn_kvsvc_tcp(const std::string& socket, std::vector<std::string> extra, int rcvbuf)
{
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    REQUIRE(::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    int served = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    REQUIRE(served >= 0);
    std::vector<std::string> args = {"--socket", socket};
    args.insert(args.end(), extra.begin(), extra.end());
    KvsvcSession s;
    s.client = LineClient(client);
    s.process = Process(kvsvc_bin(), args, Stdio{served, served, served});
    ::close(served);
    return s;
}

// Greeting, connect, ping: the socket is with kvstored (or relayed) and
// nothing is left unread.
void greet_and_connect(LineClient& c)
{
    REQUIRE(c.read_line() == greeting());
    REQUIRE(c.ask("connect") == "OK connected");
    REQUIRE(c.ask("ping") == "PONG");
}

// Everything the client receives until the stream ends, and how it ended:
// 0 for an orderly end (EOF), else the errno of the failed read (ECONNRESET),
// or -1 when it did not end within `timeout`.
struct Ending {
    std::string data;
    int error = -1;
};

Ending read_until_end(int fd, Millis timeout)
{
    Ending e;
    auto deadline = Clock::now() + timeout;
    char buf[64 * 1024];
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
            return e;
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            e.data.append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
            e.error = 0;
            return e;
        } else if (errno != EAGAIN && errno != EINTR) {
            e.error = errno;
            return e;
        }
    }
}

std::string describe(const Ending& e)
{
    std::string tail = e.data.substr(e.data.size() > 80 ? e.data.size() - 80 : 0);
    return std::to_string(e.data.size()) + " bytes ending in '" + tail + "', then "
        + (e.error == 0      ? "EOF"
               : e.error < 0 ? "nothing (timeout)"
                             : std::strerror(e.error));
}

// utime + stime of `pid`, in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid)
{
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t at = stat.rfind(')');
    REQUIRE(at != std::string::npos);
    std::istringstream fields(stat.substr(at + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
        if (i >= 14)
            ticks += std::stol(field);
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

// Point 2: kvstored never re-armed its idle timer once a hand-back was due, and
// the hand-back waited for the output to fit one frame: a client that sent
// `connect` and three `keys` and never read stayed attached forever.
TEST_CASE("regression: a handed-off client that never reads is disconnected at the write-stall deadline, idle timeout "
          "or not",
          "[stuck]")
{
    // With an idle timeout kvstored hands the session back at it (a listing's
    // unsent pages fit in the HandBack) and kvsvc resets the client after its
    // finish grace; without one kvstored cuts it at the write-stall deadline.
    std::string idle = GENERATE("3", "0");
    Administered f;
    fill_9000_long_keys(f.daemon.socket_path());
    KvsvcSession s = spawn_kvsvc(f.daemon.socket_path(), {"--idle-timeout", idle});
    REQUIRE(s.client.read_line() == greeting());
    s.client.send("connect\nkeys\nkeys\nkeys\n");
    auto sent = Clock::now();
    std::this_thread::sleep_for(1s);
    REQUIRE(f.client_id(s.process.pid()) != "");

    auto status = s.process.wait_exit(kWriteStall + 10s);
    double stayed = seconds_since(sent);
    WARN("the stuck handed-off client stayed attached " << stayed << " s");
    REQUIRE(status);
    CHECK(exited_with(status, 0));
    CHECK(stayed < std::chrono::duration<double>(kWriteStall).count() + 6);
    CHECK(f.client_id(s.process.pid()) == "");
    if (idle == "0")
        CHECK(f.daemon.log_shows("took none of its output for 10 s; connection cut"));
    else
        CHECK(stayed < 3 + 2 + 3);  // idle timeout, kvsvc's finish grace, slack
    // Everyone else is still served.
    KvsvcSession other = connected_session(f.daemon.socket_path());
    CHECK(other.client.ask("count").rfind("COUNT 9000 ", 0) == 0);
}

// Point 2, relayed: with no idle timeout a relaying kvsvc waited for its
// client forever.
TEST_CASE("regression: a relayed client that never reads is disconnected at the write-stall deadline", "[stuck]")
{
    Administered f({"--capacity", "100"});
    {
        KvsvcSession s = connected_session(f.daemon.socket_path());
        REQUIRE(s.client.ask("save big:" + kBigValue) == "OK");
    }
    KvsvcSession s = spawn_kvsvc(f.daemon.socket_path(), {"--no-handoff", "--idle-timeout", "0"});
    REQUIRE(s.client.read_line() == greeting());
    std::string reads = "connect\n";
    for (int i = 0; i < 200; ++i)
        reads += "read big\n";
    s.client.send(reads);
    auto sent = Clock::now();
    auto status = s.process.wait_exit(kWriteStall + 10s);
    double stayed = seconds_since(sent);
    WARN("the stuck relayed client stayed " << stayed << " s");
    REQUIRE(status);
    CHECK(stayed < std::chrono::duration<double>(kWriteStall).count() + 6);
    CHECK(f.client_id(s.process.pid()) == "");
}

// Point 2: `kick` printed "disconnected" at once while a client that did not
// read stayed attached.
TEST_CASE("regression: kick of a client that does not read cuts it at the kick deadline and says so", "[stuck]")
{
    bool relay = GENERATE(false, true);
    INFO((relay ? "relayed" : "handed off"));
    Administered f({"--capacity", "100"});
    {
        KvsvcSession s = connected_session(f.daemon.socket_path());
        REQUIRE(s.client.ask("save big:" + kBigValue) == "OK");
    }
    std::vector<std::string> args = {"--idle-timeout", "0"};
    if (relay)
        args.push_back("--no-handoff");
    KvsvcSession s = spawn_kvsvc(f.daemon.socket_path(), args);
    REQUIRE(s.client.read_line() == greeting());
    std::string reads = "connect\n";
    for (int i = 0; i < 200; ++i)
        reads += "read big\n";
    s.client.send(reads);
    std::this_thread::sleep_for(500ms);
    std::string id = f.client_id(s.process.pid());
    REQUIRE(id != "");

    auto kicked = Clock::now();
    CliResult r = f.cli({"kick", id});
    double took = seconds_since(kicked);
    WARN("kick answered after " << took << " s: " << r.out);
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out.rfind("client " + id + " cut off: the client did not leave within 5 s", 0) == 0);
    CHECK(took < std::chrono::duration<double>(kKickDeadline).count() + 3);
    CHECK(f.client_id(s.process.pid()) == "");
    // Relayed, kvsvc itself gives up at its write-stall deadline.
    CHECK(s.process.wait_exit(kWriteStall + 5s));
}

TEST_CASE("kick of a client that reads waits until it has left and says disconnected", "[stuck]")
{
    Administered f({"--capacity", "100"});
    KvsvcSession s = connected_session(f.daemon.socket_path());
    std::string id = f.client_id(s.process.pid());
    REQUIRE(id != "");
    CliResult r = f.cli({"kick", id, "--message", "bye now"});
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "client " + id + " disconnected\n");
    // By the time kick answers, kvstored no longer lists it.
    CHECK(f.client_id(s.process.pid()) == "");
    CHECK(s.client.read_line(3s) == "BYE bye now");
    CHECK(s.client.expect_eof(3s));
}

// Point 4: kvsvc wrote "BYE kvstored went away" after whatever part of a reply
// kvstored had written, so a cut VALUE line looked whole.
TEST_CASE("regression: kill -9 of kvstored mid-reply resets the client's connection instead of appending BYE",
          "[stuck]")
{
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "100"});
    {
        KvsvcSession s = connected_session(daemon.socket_path());
        REQUIRE(s.client.ask("save big:" + kBigValue) == "OK");
    }
    KvsvcSession s = spawn_kvsvc_tcp(daemon.socket_path(), {}, 4096);
    greet_and_connect(s.client);
    std::string reads;
    for (int i = 0; i < 100; ++i)
        reads += "read big\n";
    s.client.send(reads);
    std::this_thread::sleep_for(500ms);  // kvstored writes until the socket is full
    daemon.kill_hard();
    REQUIRE(s.process.wait_exit(8s));

    Ending e = read_until_end(s.client.fd(), 10s);
    INFO(describe(e));
    CHECK(e.error == ECONNRESET);
    CHECK(e.data.find("BYE") == std::string::npos);
    // Whatever whole lines arrived are whole replies.
    for (size_t pos = 0, lf; (lf = e.data.find('\n', pos)) != std::string::npos; pos = lf + 1)
        CHECK(e.data.substr(pos, lf - pos) == "VALUE " + kBigValue);
}

// Point 4: at the shutdown deadline kvsvc found kvstored gone and appended
// "BYE kvstored went away" to a cut `keys` listing.
TEST_CASE("regression: SIGTERM with a client that does not read resets it past the shutdown deadline", "[stuck]")
{
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "20000", "--shutdown-timeout", "1"});
    fill_9000_long_keys(daemon.socket_path());
    KvsvcSession s = spawn_kvsvc_tcp(daemon.socket_path(), {}, 4096);
    greet_and_connect(s.client);
    s.client.send("keys\nkeys\nkeys\n");
    std::this_thread::sleep_for(500ms);
    auto stopped = Clock::now();
    daemon.process().signal(SIGTERM);
    CHECK(exited_with(daemon.process().wait_exit(8s), 0));
    WARN("kvstored exited " << seconds_since(stopped) << " s after SIGTERM");
    REQUIRE(s.process.wait_exit(8s));

    Ending e = read_until_end(s.client.fd(), 10s);
    INFO(describe(e));
    CHECK(e.error == ECONNRESET);
    CHECK(e.data.find("BYE") == std::string::npos);
    // A listing's unsent pages fit in the HandBack, so kvstored returns the
    // socket at once and exits; kvsvc, which cannot write them, resets.
    CHECK(seconds_since(stopped) < 1 + 3);
}

// Point 9: at shutdown a relaying kvsvc answered the commands kvstored had not
// carried out "ERR unavailable", while a handed-off client got no reply for
// them: both now end with BYE right after the last reply.
TEST_CASE("regression: at shutdown, commands kvstored did not carry out get no reply, handed off or relayed", "[stuck]")
{
    bool relay = GENERATE(false, true);
    INFO((relay ? "relayed" : "handed off"));
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "100", "--shutdown-timeout", "20"});
    {
        KvsvcSession s = connected_session(daemon.socket_path());
        REQUIRE(s.client.ask("save big:" + kBigValue) == "OK");
    }
    KvsvcSession s = spawn_kvsvc(daemon.socket_path(),
                                 relay ? std::vector<std::string>{"--no-handoff"} : std::vector<std::string>{});
    greet_and_connect(s.client);
    std::string reads;
    for (int i = 0; i < 300; ++i)  // 18 MB of replies: far past every output bound
        reads += "read big\n";
    s.client.send(reads);
    std::this_thread::sleep_for(1s);
    daemon.process().signal(SIGTERM);
    std::this_thread::sleep_for(500ms);

    Ending e = read_until_end(s.client.fd(), 15s);
    INFO(describe(e));
    REQUIRE(e.error == 0);
    size_t values = 0;
    std::string last;
    for (size_t pos = 0, lf; (lf = e.data.find('\n', pos)) != std::string::npos; pos = lf + 1) {
        last = e.data.substr(pos, lf - pos);
        if (last == "VALUE " + kBigValue)
            ++values;
        else
            CHECK(last == "BYE kvstored is shutting down");
    }
    CHECK(last == "BYE kvstored is shutting down");
    CHECK(values > 0);
    CHECK(values < 300);
}

// Point 8: a relayed peer that hung up while its reply was held for
// durability left kvstored's Client watching for nothing, and epoll kept
// reporting EPOLLHUP: kvstored spun at 90 % CPU until the database came back.
TEST_CASE("regression: a relayed peer that hangs up while its reply is held does not make kvstored spin", "[stuck]")
{
    TempDir dir;
    std::string db = dir.file("store.db");
    Daemon daemon(dir, {"--capacity", "100", "--db", db, "--sync", "always"});
    {
        KvsvcSession s = connected_session(daemon.socket_path());
        REQUIRE(s.client.ask("save a:1") == "OK");
    }
    KvsvcSession s = spawn_kvsvc(daemon.socket_path(), {"--no-handoff"});
    greet_and_connect(s.client);
    double spent = 0;
    {
        DbLock lock(db);
        s.client.send("save b:2\n");
        std::this_thread::sleep_for(300ms);  // the save reaches kvstored, its reply is held
        s.process.signal(SIGKILL);
        REQUIRE(s.process.wait_exit(3s));
        std::this_thread::sleep_for(200ms);
        double before = cpu_seconds(daemon.process().pid());
        std::this_thread::sleep_for(2s);
        spent = cpu_seconds(daemon.process().pid()) - before;
    }
    WARN("kvstored used " << spent << " s of CPU in 2 s with the peer gone and its reply held");
    CHECK(spent < 0.3);
    // Once the database is free kvstored carries on.
    KvsvcSession other = connected_session(daemon.socket_path());
    CHECK(other.client.ask("read b", 15s) == "VALUE 2");
}
