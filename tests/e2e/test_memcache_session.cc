// test_memcache_session.cc: how a memcached session through kvsvc
// --protocol memcache ends, as docs/memcache.md ("Serving it") and
// docs/operations.md ("The memcached door", "Administer") state it: the idle
// timeout closes a silent client without a word and leaves a talking one
// alone; `kvstored clients` lists the session as `memcache`; `kvstored kick`
// and SIGTERM write every reply to a command kvstored ran, whole, then close.
// Each case runs with the socket handed to kvstored and relayed by kvsvc
// (--no-handoff).
#include <catch2/catch.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "xinetd_fixture.h"

using namespace kvtest;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// The two ways kvsvc serves a memcached client: the socket handed to
// kvstored (the default) and relayed through a socketpair.
std::vector<std::string> memcache_args(bool relay, std::vector<std::string> more = {})
{
    std::vector<std::string> args = {"--protocol", "memcache"};
    if (relay)
        args.push_back("--no-handoff");
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// kvstored with an admin socket in its TempDir.
struct MemcacheServed {
    TempDir dir;
    std::string admin_socket = dir.file("admin.sock");
    Daemon daemon{dir, {"--admin-socket", admin_socket}};

    CliResult cli(std::vector<std::string> args) const
    {
        args.insert(args.begin(), {"--admin-socket", admin_socket});
        return run_kvstored(args);
    }

    // The rows of `kvstored clients` (its table), each split at blanks:
    // id pid address date time commands idle protocol.
    std::vector<std::vector<std::string>> client_rows() const
    {
        CliResult r = cli({"clients"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        std::vector<std::vector<std::string>> rows;
        std::istringstream lines(r.out);
        std::string line;
        std::getline(lines, line);  // the header
        while (std::getline(lines, line)) {
            std::istringstream words(line);
            std::vector<std::string> row;
            for (std::string w; words >> w;)
                row.push_back(w);
            if (!row.empty())
                rows.push_back(row);
        }
        return rows;
    }

    // The row of the session served by kvsvc `pid`; empty when not listed.
    std::vector<std::string> row_of(pid_t pid) const
    {
        for (auto& row : client_rows())
            if (row.size() == 8 && row[1] == std::to_string(pid))
                return row;
        return {};
    }

    // The commands the session of kvsvc `pid` has run (`kvstored clients`);
    // -1 when it is not listed.
    long commands(pid_t pid) const
    {
        auto row = row_of(pid);
        return row.empty() ? -1 : std::stol(row[5]);
    }

    // For a client that sent commands and reads nothing: polls until its
    // session has run at least `n` commands and then runs no more (the same
    // count 100 ms apart: kvstored stops at its output bound), at most
    // `timeout`. Returns that count, or the last one seen.
    long settled_commands(pid_t pid, long n, Millis timeout = 10s) const
    {
        auto deadline = Clock::now() + timeout;
        long last = -1;
        for (;;) {
            long count = commands(pid);
            if (count >= n && count == last)
                return count;
            if (Clock::now() >= deadline)
                return count;
            last = count;
            std::this_thread::sleep_for(100ms);
        }
    }

    // Polls kvstored's log (at most `timeout`) for `text`.
    bool wait_for_log(const std::string& text, Millis timeout = 5s) const
    {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            if (daemon.log().find(text) != std::string::npos)
                return true;
            if (Clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(10ms);
        }
    }
};

// Values of 60,000 bytes (under the default --max-value of 64 KiB), each
// different, so that a reply out of place or cut short shows.
constexpr int kKeys = 8;
constexpr size_t kValueBytes = 60000;

std::string big_value(int i)
{
    std::string v(kValueBytes, ' ');
    for (size_t j = 0; j < v.size(); ++j)
        v[j] = static_cast<char>('a' + (static_cast<size_t>(i) * 7 + j) % 26);
    return v;
}

std::string key(int i)
{
    return "big" + std::to_string(i % kKeys);
}

// The reply to `get big<i % kKeys>`.
std::string get_reply(int i)
{
    return "VALUE " + key(i) + " 0 " + std::to_string(kValueBytes) + "\r\n" + big_value(i % kKeys) + "\r\nEND\r\n";
}

void store_big_values(LineClient& c)
{
    for (int i = 0; i < kKeys; ++i) {
        c.send("set " + key(i) + " 0 0 " + std::to_string(kValueBytes) + "\r\n" + big_value(i) + "\r\n");
        REQUIRE(c.read_bytes(8) == "STORED\r\n");
    }
}

// `n` pipelined gets, big0 big1 ... in turn, sent at once and not read.
std::string pipelined_gets(int n)
{
    std::string out;
    for (int i = 0; i < n; ++i)
        out += "get " + key(i) + "\r\n";
    return out;
}

// What a client reads until EOF (at most `timeout`), kept when EOF does not
// come (LineClient::read_to_eof drops it).
struct Drained {
    std::string bytes;
    bool eof = false;
};

Drained drain(LineClient& c, Millis timeout)
{
    Drained d;
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        pollfd p{c.fd(), POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
            return d;
        char buf[64 * 1024];
        ssize_t n = ::read(c.fd(), buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {  // EOF, or a reset (ECONNRESET): the end either way
            d.eof = true;
            return d;
        }
        d.bytes.append(buf, static_cast<size_t>(n));
    }
}

// How many whole replies to pipelined_gets() `got` is, or why it is not a
// run of whole replies (a reply cut short, or bytes that are no reply).
struct WholeReplies {
    int count = 0;
    std::string problem;  // empty: `got` is exactly `count` whole replies
};

WholeReplies whole_replies(const std::string& got, int sent)
{
    WholeReplies w;
    size_t at = 0;
    while (at < got.size()) {
        if (w.count == sent) {
            w.problem = std::to_string(got.size() - at) + " bytes after the " + std::to_string(sent) + " replies";
            return w;
        }
        std::string want = get_reply(w.count);
        size_t n = std::min(want.size(), got.size() - at);
        if (got.compare(at, n, want, 0, n) != 0) {
            w.problem = "reply " + std::to_string(w.count) + " differs from the expected one: '"
                + got.substr(at, std::min<size_t>(n, 60)) + "...'";
            return w;
        }
        if (n < want.size()) {
            w.problem = "reply " + std::to_string(w.count) + " is cut after " + std::to_string(n) + " of its "
                + std::to_string(want.size()) + " bytes";
            return w;
        }
        at += n;
        ++w.count;
    }
    return w;
}

// Enough gets that their replies (2.4 MB) pass every output bound: kvstored
// stops running them while 1 MiB waits (4 MiB relayed), and the client reads
// nothing, so some have run with their replies unsent and others wait unrun.
constexpr int kPipelined = 40;
// Replies that must have been made before the test acts: 5 x 60 KB is more
// than a socketpair's buffer, so some of them are still in kvstored (or kvsvc).
constexpr long kRunFirst = 5;

}  // namespace

TEST_CASE("kvsvc --protocol memcache --idle-timeout 1: a silent client is closed without a word, a talking one is not")
{
    TempDir dir;
    Daemon daemon(dir);
    INFO("kvstored log:\n" << daemon.log());
    for (bool relay : {false, true}) {
        INFO((relay ? "relayed (--no-handoff)" : "handed off"));
        const auto args = memcache_args(relay, {"--idle-timeout", "1"});

        // Silent from the start: no bytes at all, then EOF, after about 1 s.
        {
            auto start = Clock::now();
            KvsvcSession s = spawn_kvsvc(daemon.socket_path(), args);
            CHECK(s.client.read_to_eof(5s) == "");
            double took = seconds_since(start);
            CHECK(took > 0.8);
            CHECK(took < 3.0);
            s.client.close();  // else kvsvc lingers 2 s for it (kFinishGrace)
            CHECK(exited_with(s.process.wait_exit(5s), 0));
        }
        // Silent after a command: its reply, then nothing more but EOF.
        {
            KvsvcSession s = spawn_kvsvc(daemon.socket_path(), args);
            s.client.send("set idle 0 0 2\r\nhi\r\n");
            REQUIRE(s.client.read_bytes(8) == "STORED\r\n");
            auto quiet_since = Clock::now();
            CHECK(s.client.read_to_eof(5s) == "");
            double idle = seconds_since(quiet_since);
            CHECK(idle > 0.8);
            CHECK(idle < 3.0);
            s.client.close();
            CHECK(exited_with(s.process.wait_exit(5s), 0));
        }
        // Talking every 300 ms for 3 s, three times the timeout: served
        // throughout; it leaves with quit.
        {
            KvsvcSession s = spawn_kvsvc(daemon.socket_path(), args);
            auto start = Clock::now();
            int answered = 0;
            while (seconds_since(start) < 3.0) {
                s.client.send("get idle\r\n");
                CHECK(s.client.read_bytes(25) == "VALUE idle 0 2\r\nhi\r\nEND\r\n");
                // The pause between commands, watched: nothing may come (no
                // EOF either) while the client says nothing.
                CHECK(s.client.read_bytes(1, 300ms) == "");
                REQUIRE_FALSE(s.client.eof());
                ++answered;
            }
            CHECK(answered >= 8);
            s.client.send("quit\r\n");
            CHECK(s.client.read_to_eof(5s) == "");
            s.client.close();
            CHECK(exited_with(s.process.wait_exit(5s), 0));
        }
    }
}

TEST_CASE("kvstored clients lists a memcached session as memcache, kick writes its replies whole, then closes it")
{
    MemcacheServed f;
    {
        KvsvcSession setup = spawn_kvsvc(f.daemon.socket_path(), memcache_args(false));
        store_big_values(setup.client);
    }
    for (bool relay : {false, true}) {
        INFO((relay ? "relayed (--no-handoff)" : "handed off"));
        KvsvcSession line = connected_session(f.daemon.socket_path());
        KvsvcSession mc = spawn_kvsvc(f.daemon.socket_path(), memcache_args(relay));
        mc.client.send("version\r\n");
        REQUIRE(mc.client.read_line().value_or("").rfind("VERSION 1.6.18-kvstore-", 0) == 0);

        auto row = f.row_of(mc.process.pid());
        REQUIRE(row.size() == 8);
        CHECK(row[7] == "memcache");
        auto line_row = f.row_of(line.process.pid());
        REQUIRE(line_row.size() == 8);
        CHECK(line_row[7] == "line");

        // Replies in flight: gets pipelined and not read. The count includes
        // the version.
        mc.client.send(pipelined_gets(kPipelined));
        const long ran = f.settled_commands(mc.process.pid(), 1 + kRunFirst);
        REQUIRE(ran >= 1 + kRunFirst);

        // kick answers once the client has left, and the client leaves once
        // it has read its replies: the kick runs meanwhile, and the client
        // reads from when kvstored has logged it.
        const std::string id = row[0];
        auto kick = std::async(std::launch::async, [&f, id] { return f.cli({"kick", id}); });
        CHECK(f.wait_for_log("client " + id + " kicked by admin"));
        Drained got = drain(mc.client, 15s);
        CHECK(got.eof);
        mc.client.close();
        INFO("kvstored log:\n" << f.daemon.log());
        WholeReplies w = whole_replies(got.bytes, kPipelined);
        INFO("received " << got.bytes.size() << " bytes: " << w.count << " whole replies; " << ran
                         << " commands had run before the kick");
        CHECK(w.problem == "");
        // Every command that had run is answered (the version's reply was
        // read before), and kvstored ran none of those still unread after
        // the kick: not all 40 are answered.
        CHECK(w.count >= ran - 1);
        CHECK(w.count < kPipelined);
        CliResult r = kick.get();
        INFO(r.describe());
        CHECK(r.code == 0);
        CHECK(r.out == "client " + id + " disconnected\n");
        CHECK(exited_with(mc.process.wait_exit(5s), 0));
        CHECK(f.commands(mc.process.pid()) == -1);

        // The line session goes on, and a new memcached session works.
        CHECK(line.client.ask("ping") == "PONG");
        KvsvcSession again = spawn_kvsvc(f.daemon.socket_path(), memcache_args(relay));
        again.client.send("get big3\r\n");
        CHECK(again.client.read_bytes(get_reply(3).size()) == get_reply(3));
        again.client.send("quit\r\n");
        CHECK(again.client.read_to_eof(5s) == "");
    }
}

TEST_CASE("SIGTERM to kvstored while a memcached client has replies unread: it reads only whole replies, then EOF")
{
    for (bool relay : {false, true}) {
        INFO((relay ? "relayed (--no-handoff)" : "handed off"));
        MemcacheServed f;
        {
            KvsvcSession setup = spawn_kvsvc(f.daemon.socket_path(), memcache_args(false));
            store_big_values(setup.client);
        }
        KvsvcSession mc = spawn_kvsvc(f.daemon.socket_path(), memcache_args(relay));
        mc.client.send(pipelined_gets(kPipelined));
        const long ran = f.settled_commands(mc.process.pid(), kRunFirst);
        REQUIRE(ran >= kRunFirst);

        f.daemon.process().signal(SIGTERM);
        Drained got = drain(mc.client, 15s);
        CHECK(got.eof);
        mc.client.close();
        INFO("kvstored log:\n" << f.daemon.log());
        WholeReplies w = whole_replies(got.bytes, kPipelined);
        INFO("received " << got.bytes.size() << " bytes: " << w.count << " whole replies; " << ran
                         << " commands had run before SIGTERM");
        CHECK(w.problem == "");
        // Every command that had run is answered, and kvstored ran none of
        // those still unread after SIGTERM: not all 40 are answered.
        CHECK(w.count >= ran);
        CHECK(w.count < kPipelined);
        CHECK(exited_with(mc.process.wait_exit(5s), 0));
        CHECK(exited_with(f.daemon.process().wait_exit(10s), 0));
    }
}
