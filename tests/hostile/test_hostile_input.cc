// test_hostile_input.cc: clients and peers that misbehave on purpose. Each
// case checks the clear error the misbehaving side gets, that kvstored keeps
// serving everyone else, and that the memory it costs stays bounded.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

#include "hostile.h"

using namespace kvtest;

namespace {

const std::string kTooLong = "ERR too-long line exceeds 66048 bytes; the rest of it was discarded";
const std::string kControlByte = "ERR bad-key key contains a control byte";

// kvsvc hands its client's socket to kvstored after connect (the default:
// kvstored then takes what the client sends) or relays every command
// (--no-handoff: kvsvc takes it). Cases about what a client costs run both ways.
const std::vector<std::string> kRelay = {"--no-handoff"};

const char* path_name(const std::vector<std::string>& kvsvc_args)
{
    return kvsvc_args.empty() ? "handoff" : "relay (--no-handoff)";
}

// kvstored on a temporary socket and one connected kvsvc session.
struct Stack {
    TempDir dir;
    Daemon daemon;
    KvsvcSession session;

    explicit Stack(std::vector<std::string> daemon_args = {"--capacity", "10000"},
                   std::vector<std::string> kvsvc_args = {})
        : daemon(dir, std::move(daemon_args)), session(connected_session(daemon.socket_path(), std::move(kvsvc_args)))
    {
    }
    LineClient& client() { return session.client; }
    pid_t kvstored() { return daemon.process().pid(); }
    pid_t kvsvc() { return session.process.pid(); }
    std::string admin_socket() const { return dir.file("admin.sock"); }
};

// Another kvsvc session works: the check that kvstored still serves others.
void require_others_served(const std::string& socket)
{
    KvsvcSession other = connected_session(socket);
    REQUIRE(other.client.ask("save other:still here") == "OK");
    REQUIRE(other.client.ask("read other") == "VALUE still here");
}

std::string with_nul(std::string_view before, std::string_view after)
{
    return std::string(before) + '\0' + std::string(after);
}

// Sends "keys" (or whatever `command` is) without ever reading, as fast as the
// socket takes it, for `duration`; samples the peak RSS of the processes in
// `watched` meanwhile. Returns the commands sent.
size_t flood_without_reading(LineClient& c, const std::string& command, Millis duration,
                             const std::vector<pid_t>& watched, std::vector<long>& peak_kib)
{
    std::string batch;
    for (int i = 0; i < 64; ++i)
        batch += command + "\n";
    peak_kib.assign(watched.size(), 0);
    size_t sent = 0;
    auto deadline = Clock::now() + duration;
    while (Clock::now() < deadline) {
        ssize_t n = ::send(c.fd(), batch.data(), batch.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent += static_cast<size_t>(n) / (command.size() + 1);
        else
            std::this_thread::sleep_for(20ms);  // full: kvsvc stopped reading, as it should
        for (size_t i = 0; i < watched.size(); ++i)
            peak_kib[i] = std::max(peak_kib[i], proc_kib(watched[i], "VmRSS"));
    }
    return sent;
}

// Saves `n` keys of about 200 bytes each, so that one `keys` reply is large.
void fill_long_keys(LineClient& c, size_t n)
{
    std::string batch;
    for (size_t i = 0; i < n; ++i)
        batch += "save " + std::string(190, 'k') + std::to_string(100000 + i) + ":v\n";
    c.send(batch, 30s);
    auto replies = c.read_lines(n, 30s);
    REQUIRE(replies.size() == n);
    REQUIRE(std::all_of(replies.begin(), replies.end(), [](const std::string& r) { return r == "OK"; }));
}

// Floods kvstored (through a kvsvc session started with `kvsvc_args`) with
// `command` without reading a reply; CHECKs that kvsvc and kvstored stay small
// and that others are served.
void check_flood_without_reading(Stack& s, const std::string& command, const std::vector<std::string>& kvsvc_args)
{
    KvsvcSession hog = connected_session(s.daemon.socket_path(), kvsvc_args);
    long kvsvc_before = proc_kib(hog.process.pid(), "VmRSS");
    long kvstored_before = proc_kib(s.kvstored(), "VmRSS");
    std::vector<long> peak;
    size_t sent = flood_without_reading(hog.client, command, 4s, {hog.process.pid(), s.kvstored()}, peak);
    long kvsvc_grown = peak[0] - kvsvc_before;
    long kvstored_grown = peak[1] - kvstored_before;
    std::printf("never-reading client, '%s', %s: %zu commands taken; kvsvc RSS +%ld KiB, kvstored RSS +%ld KiB\n",
                command.c_str(), path_name(kvsvc_args), sent, kvsvc_grown, kvstored_grown);
    // kvsvc holds about 1 MiB of unread replies (kMaxClientOutput in common/command.h) and
    // kvstored about 4 MiB per client (client.cc, kMaxPendingOutput).
    CHECK(kvsvc_grown < memory_bound_kib(8 * 1024));
    CHECK(kvstored_grown < memory_bound_kib(16 * 1024));
    auto t0 = Clock::now();
    require_others_served(s.daemon.socket_path());
    CHECK(Clock::now() - t0 < 2s);
    hog.client.close();
    CHECK(exited_with(hog.process.wait_exit(5s), 0));
}

}  // namespace

TEST_CASE("a 1 MiB and a 100 MiB line without LF each get one ERR too-long, kvsvc's and kvstored's memory stays "
          "flat",
          "[hostile]")
{
    auto kvsvc_args = GENERATE(std::vector<std::string>{}, kRelay);
    INFO(path_name(kvsvc_args));
    Stack s({"--capacity", "10000"}, kvsvc_args);
    LineClient& c = s.client();
    long hwm_before = proc_kib(s.kvsvc(), "VmHWM");
    long kvstored_hwm_before = proc_kib(s.kvstored(), "VmHWM");
    for (size_t mib : {1, 100}) {
        INFO(mib << " MiB without LF");
        send_filler(c, mib << 20, 'x');
        c.send("\nping\n");
        CHECK(c.read_line(10s) == kTooLong);
        CHECK(c.read_line() == "PONG");  // exactly one error: the next line is the ping's answer
    }
    long grown = proc_kib(s.kvsvc(), "VmHWM") - hwm_before;
    long kvstored_grown = proc_kib(s.kvstored(), "VmHWM") - kvstored_hwm_before;
    std::printf("after 101 MiB of overlong lines, %s: kvsvc VmHWM grew by %ld KiB, kvstored's by %ld KiB\n",
                path_name(kvsvc_args), grown, kvstored_grown);
    CHECK(grown < memory_bound_kib(4 * 1024));
    CHECK(kvstored_grown < memory_bound_kib(4 * 1024));
    CHECK(c.ask("save after:long lines") == "OK");
    CHECK(c.ask("read after") == "VALUE long lines");
}

TEST_CASE("control bytes in keys are refused as bad-key, NUL, 0xFF and invalid UTF-8 round-trip", "[hostile]")
{
    Stack s;
    LineClient& c = s.client();

    // Keys: NUL, other control bytes and DEL are refused, whatever the command.
    CHECK(c.ask(with_nul("save a", "b:v")) == kControlByte);
    CHECK(c.ask(with_nul("read ", "")) == kControlByte);
    CHECK(c.ask("exists a\x01z") == kControlByte);
    CHECK(c.ask("delete a\x7f") == kControlByte);
    CHECK(c.ask("keys \x1b[2J") == kControlByte);

    // Any other byte is allowed in a key (docs/protocol.md), UTF-8 or not:
    // 0xFF, a lone continuation byte, an overlong '/', a UTF-16 surrogate.
    const std::vector<std::string> odd_keys = {"\xff\xfe", "a\x80z", "\xc0\xaf", "\xed\xa0\x80", "caf\xc3\xa9"};
    // Values: any byte but LF, NUL and CR-in-the-middle included.
    const std::string odd_value = with_nul("a", "b\xff\xc3\x28\xed\xa0\x80\r\xf8\x88\x80\x80\x80 end");
    for (const auto& key : odd_keys)
        CHECK(c.ask("save " + key + ":" + odd_value) == "OK");
    for (const auto& key : odd_keys)
        CHECK(c.ask("read " + key) == "VALUE " + odd_value);
    c.send("keys\n");
    std::vector<std::string> listed = c.read_reply_block();
    std::vector<std::string> sorted = odd_keys;
    std::sort(sorted.begin(), sorted.end());  // bytewise, as the protocol says
    sorted.insert(sorted.begin(), "KEYS " + std::to_string(odd_keys.size()));
    CHECK(listed == sorted);

    // An unknown command is echoed printable-only: no escape sequence or NUL
    // reaches the client's terminal.
    CHECK(c.ask(with_nul("\x1b[31mevil", "x")) == "ERR unknown-command ?[31mevil?x (type 'help')");
    CHECK(c.ask("\xff\xfe\xfd") == "ERR unknown-command ??? (type 'help')");
    CHECK(c.ask("count") == "COUNT 5 10000");
}

TEST_CASE("a client that sends half a line and vanishes: kvsvc exits, kvstored is unaffected", "[hostile]")
{
    Stack s;
    size_t fds_before = fd_count(s.kvstored());
    for (std::string half : {std::string("save half:va"), "save big:" + std::string(30'000, 'b')}) {
        KvsvcSession gone = connected_session(s.daemon.socket_path());
        gone.client.send(half);
        gone.client.close();
        CHECK(exited_with(gone.process.wait_exit(5s), 0));
    }
    CHECK(eventually([&] { return fd_count(s.kvstored()) == fds_before; }, 3s));
    CHECK(stat_value(stats_of(s.client()), "connections_current") == "1");
    require_others_served(s.daemon.socket_path());
}

TEST_CASE("a client that never reads the replies to help: kvsvc (relaying) or kvstored (handed off) stops reading, "
          "memory stays bounded",
          "[hostile]")
{
    auto kvsvc_args = GENERATE(std::vector<std::string>{}, kRelay);
    Stack s;
    check_flood_without_reading(s, "help", kvsvc_args);
}

TEST_CASE("a client that never reads kvstored's replies (keys): kvsvc and kvstored memory stay bounded", "[hostile]")
{
    auto kvsvc_args = GENERATE(std::vector<std::string>{}, kRelay);
    Stack s;
    fill_long_keys(s.client(), 2000);  // each `keys` reply is about 400 KiB
    check_flood_without_reading(s, "keys", kvsvc_args);
}

// kvstored's side of the same: a peer that keeps reading, but more slowly than
// kvstored produces, must not make kvstored keep what it has already sent.
TEST_CASE("a kvsvc that reads its replies slowly cannot grow kvstored's memory", "[hostile]")
{
    Stack s;
    fill_long_keys(s.client(), 2000);
    LineClient peer = raw_unix_peer(s.daemon.socket_path());
    std::string requests = wire_hello();
    for (int i = 0; i < 1000; ++i)
        requests += wire_request(5);  // Keys, no prefix
    peer.send(requests);
    long before = proc_kib(s.kvstored(), "VmRSS");
    long peak = before;
    size_t received = 0;
    std::vector<char> buf(256 << 10);
    auto until = Clock::now() + 4s;
    while (Clock::now() < until) {
        ssize_t n = ::recv(peer.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
        received += n > 0 ? static_cast<size_t>(n) : 0;
        peak = std::max(peak, proc_kib(s.kvstored(), "VmRSS"));
        std::this_thread::sleep_for(10ms);  // about 25 MB/s: slower than kvstored answers
    }
    std::printf("slow reader: %zu KiB read in 4 s; kvstored RSS +%ld KiB\n", received >> 10, peak - before);
    CHECK(peak - before < memory_bound_kib(16 * 1024));
    CHECK(s.client().ask("ping") == "PONG");
    require_others_served(s.daemon.socket_path());
}

// While a reply from kvstored is pending, kvsvc queues the answers it gives
// itself (help, ping, errors) behind it, in order. A client that pipelines a
// flood of those behind one slow command must not grow kvsvc without bound.
TEST_CASE("replies kvsvc answers itself, queued behind a stalled kvstored reply, stay bounded", "[hostile]")
{
    Stack s;
    // Relaying: a handed-off socket is kvstored's to read, and it is stopped.
    KvsvcSession hog = connected_session(s.daemon.socket_path(), kRelay);
    long before = proc_kib(hog.process.pid(), "VmRSS");
    s.daemon.process().signal(SIGSTOP);  // kvstored stalls: the save below stays unanswered
    hog.client.send("save slow:reply\n");
    std::vector<long> peak;
    size_t sent = flood_without_reading(hog.client, "help", 3s, {hog.process.pid()}, peak);
    s.daemon.process().signal(SIGCONT);
    long grown = peak[0] - before;
    std::printf("help flood behind a stalled save: %zu commands taken; kvsvc RSS +%ld KiB\n", sent, grown);
    CHECK(grown < memory_bound_kib(8 * 1024));
    hog.client.close();
    CHECK(exited_with(hog.process.wait_exit(5s), 0));
    require_others_served(s.daemon.socket_path());
}

TEST_CASE("garbage on the service and the admin socket: dropped, logged, kvstored fine", "[hostile]")
{
    Stack s;
    std::mt19937 rng(7);
    std::string noise;
    for (int i = 0; i < 4096; ++i)
        noise.push_back(static_cast<char>(rng()));
    noise[0] = '\x7f';  // a length far over 1 MiB, so the drop is immediate
    const std::vector<std::pair<std::string, std::string>> garbage = {
        {"random bytes", noise},
        {"an HTTP request", "GET / HTTP/1.1\r\nHost: kvstore\r\n\r\n"},
        {"a TLS ClientHello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + noise.substr(0, 64)},
        {"a Request before Hello", wire_frame(4, std::string("\x02\x00\x01k\x00\x00\x00\x00", 8))},
        {"Hello, then an unknown op", wire_hello() + wire_request(0x63)},
        {"Hello, then a truncated Request", wire_hello() + wire_frame(4, std::string("\x02\x00\x09k", 4))},
        {"Hello, then a Reply (wrong direction)", wire_hello() + wire_frame(5, std::string("\x00OK\n", 4))},
        {"Hello, then an unknown message type", wire_hello() + wire_frame(0xee, "?")},
        {"Hello announcing a Handoff, then a Request", wire_hello(1) + wire_request(2, "k")},
        {"Hello announcing a Handoff, then one without descriptors",
         wire_hello(1) + wire_frame(7, be32(300) + be32(8) + "read k\n\n")},
    };
    size_t fds_before = fd_count(s.kvstored());
    int drops = 0;
    for (const std::string& socket : {s.daemon.socket_path(), s.admin_socket()}) {
        for (const auto& [what, bytes] : garbage) {
            INFO(what << " on " << socket);
            LineClient peer = raw_unix_peer(socket);
            peer.send(bytes);
            CHECK(peer.read_to_eof(3s).has_value());  // dropped: kvstored hangs up
            ++drops;
        }
    }
    // An admin operation on the service socket is not what a kvsvc sends.
    LineClient sneaky = raw_unix_peer(s.daemon.socket_path());
    sneaky.send(wire_hello() + wire_request(22));  // Flush
    CHECK(sneaky.read_to_eof(3s).has_value());
    ++drops;

    CHECK(eventually([&] { return fd_count(s.kvstored()) == fds_before; }, 3s));
    CHECK(stat_value(stats_of(s.client()), "protocol_errors") == std::to_string(drops));
    std::string log = s.daemon.log();
    size_t logged = 0;
    for (size_t at = log.find("protocol error"); at != std::string::npos; at = log.find("protocol error", at + 1))
        ++logged;
    INFO("kvstored's log:\n" << log);
    CHECK(logged == static_cast<size_t>(drops));
    CHECK(s.client().ask("save a:1") == "OK");
    require_others_served(s.daemon.socket_path());
}

TEST_CASE("a frame claiming 4 GiB is dropped at once, without allocating it", "[hostile]")
{
    Stack s;
    long hwm_before = proc_kib(s.kvstored(), "VmHWM");
    for (const std::string& socket : {s.daemon.socket_path(), s.admin_socket()}) {
        for (uint32_t claimed : {0xffffffffu, 0x80000000u, (1u << 20) + 1}) {
            INFO("a frame of " << claimed << " bytes on " << socket);
            LineClient peer = raw_unix_peer(socket);
            peer.send(be32(claimed) + "\x01" + std::string(4096, 'A'));
            CHECK(peer.read_to_eof(1s) == std::string());
        }
        // The same after a valid Hello, once kvstored trusts the peer a little.
        LineClient attached = raw_unix_peer(socket);
        attached.send(wire_hello() + be32(0xffffffffu) + "\x04");
        CHECK(attached.read_to_eof(1s).has_value());
    }
    long grown = proc_kib(s.kvstored(), "VmHWM") - hwm_before;
    std::printf("kvstored after 8 frames claiming up to 4 GiB: VmHWM grew by %ld KiB\n", grown);
    CHECK(grown < memory_bound_kib(1024));
    CHECK(s.client().ask("ping") == "PONG");
    CHECK(s.client().ask("save a:1") == "OK");
}
