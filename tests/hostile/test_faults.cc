// test_faults.cc: processes killed mid-work and a disk that fills up. Each
// case checks what the clients see, that kvstored (or its successor) serves
// everyone else, and that no acknowledged write is lost.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <set>

#include "hostile.h"

using namespace kvtest;

namespace {

// When kvstored dies holding a client's socket (handed to it by kvsvc after
// connect), kvsvc cannot know which commands kvstored had read, nor whether its
// last write ended mid-reply: it resets the connection, with no BYE. (A
// relaying kvsvc, --no-handoff, answers each command in flight "ERR
// unavailable kvstored went away" instead and goes on.)

bool killed_by(std::optional<int> status, int sig)
{
    return status && WIFSIGNALED(*status) && WTERMSIG(*status) == sig;
}

// ---- kill -9 kvstored under load -------------------------------------------

// A TCP client that keeps `window` saves in flight and remembers which ones
// kvstored acknowledged.
struct Writer {
    LineClient client;
    std::string name;
    uint64_t next = 0;
    std::deque<uint64_t> in_flight;
    std::set<uint64_t> sent;
    std::set<uint64_t> acked;
    std::vector<std::string> unexpected;
    size_t unanswered = 0;  // saves in flight when the connection ended: not acknowledged

    std::string key(uint64_t n) const { return name + "." + std::to_string(n); }
    static std::string value(uint64_t n) { return "value " + std::to_string(n); }

    void top_up(size_t window)
    {
        std::string batch;
        for (; in_flight.size() < window; ++next) {
            batch += "save " + key(next) + ":" + value(next) + "\n";
            in_flight.push_back(next);
            sent.insert(next);
        }
        if (!batch.empty())
            client.send(batch);
    }
    // Takes every reply received so far.
    void take_replies()
    {
        while (auto line = client.buffered_line()) {
            if (in_flight.empty()) {
                unexpected.push_back("reply to nothing: '" + *line + "'");
                continue;
            }
            uint64_t n = in_flight.front();
            in_flight.pop_front();
            if (*line == "OK")
                acked.insert(n);
            else
                unexpected.push_back("save " + key(n) + ": '" + *line + "'");
        }
    }
    // After the kill: kvsvc resets the connection (no BYE: kvstored may have
    // stopped mid-reply); the saves still in flight are not acknowledged.
    bool ended() const { return client.eof(); }
    void count_unanswered()
    {
        unanswered = in_flight.size();
        in_flight.clear();
    }
};

// Pumps every writer once (waiting at most 10 ms for any to be readable).
void pump_all(std::vector<Writer>& writers)
{
    std::vector<pollfd> fds;
    for (auto& w : writers)
        fds.push_back({w.client.eof() ? -1 : w.client.fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 10);
    for (size_t i = 0; i < writers.size(); ++i) {
        if (fds[i].revents)
            writers[i].client.pump();
        writers[i].take_replies();
    }
}

// Reads back, on `c`, every acknowledged key of `w`; returns how many are
// missing or wrong.
size_t count_lost(LineClient& c, const Writer& w)
{
    std::string batch;
    for (uint64_t n : w.acked)
        batch += "read " + w.key(n) + "\n";
    c.send(batch, 30s);
    auto replies = c.read_lines(w.acked.size(), 30s);
    size_t lost = w.acked.size() - replies.size();
    size_t i = 0;
    for (uint64_t n : w.acked)
        if (i < replies.size() && replies[i++] != "VALUE " + Writer::value(n))
            ++lost;
    return lost;
}

// The keys of `w` that are stored but were never sent (the saves are
// numbered, so a stray one is a number outside w.sent), or stored with a
// wrong value. Lists the keys with prefix w.name + "." on `c`.
size_t count_strays(LineClient& c, const Writer& w)
{
    c.send("keys " + w.name + ".\n");
    Listing listing = c.read_listing(30s);  // every page of it
    if (!listing.complete)
        return 1;
    std::vector<std::string> block = std::move(listing.keys);
    block.insert(block.begin(), "KEYS");  // keys from index 1, as below
    size_t strays = 0;
    std::string reads;
    std::vector<uint64_t> numbers;
    for (size_t i = 1; i < block.size(); ++i) {
        std::string number = block[i].substr(w.name.size() + 1);
        if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos
            || w.sent.count(std::stoull(number)) == 0) {
            ++strays;
            continue;
        }
        numbers.push_back(std::stoull(number));
        reads += "read " + block[i] + "\n";
    }
    c.send(reads, 30s);
    auto replies = c.read_lines(numbers.size(), 30s);
    strays += numbers.size() - replies.size();
    for (size_t i = 0; i < replies.size(); ++i)
        strays += replies[i] != "VALUE " + Writer::value(numbers[i]);
    return strays;
}

// ---- a small filesystem that can fill up -----------------------------------

// A filesystem of a few hundred KiB mounted on `dir` (so that SQLite hits
// "disk full" quickly), and a way to free space on it. A tmpfs when mount(2)
// is allowed; else an ext2 image on a loop device with a ballast file to
// delete. Unmounted on destruction. reason() says why neither worked.
// KVSTORE_DISKFULL_LOOP=1 skips the tmpfs, to exercise the loop fallback.
class SmallFilesystem {
public:
    explicit SmallFilesystem(const TempDir& scratch) : dir_(scratch.file("small"))
    {
        ::mkdir(dir_.c_str(), 0755);
        if (::geteuid() != 0) {
            reason_ = "not root";
            return;
        }
        if (std::getenv("KVSTORE_DISKFULL_LOOP") == nullptr && mount_tmpfs())
            return;
        std::string tmpfs_failure = reason_;
        if (!mount_loop(scratch.file("small.img")))
            reason_ = tmpfs_failure + "; " + reason_;
    }
    ~SmallFilesystem()
    {
        if (mounted_ && ::umount(dir_.c_str()) < 0)
            ::umount2(dir_.c_str(), MNT_DETACH);
    }
    SmallFilesystem(const SmallFilesystem&) = delete;
    SmallFilesystem& operator=(const SmallFilesystem&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& reason() const { return reason_; }
    std::string file(std::string_view name) const { return dir_ + "/" + std::string(name); }
    const char* kind() const { return tmpfs_ ? "tmpfs" : "loop-mounted ext2"; }

    // Makes room for a few more MiB: remounts the tmpfs bigger, or deletes the
    // loop filesystem's ballast.
    bool free_space()
    {
        if (tmpfs_)
            return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, "size=8m") == 0;
        return ::unlink(file(kBallast).c_str()) == 0;
    }

private:
    static constexpr const char* kBallast = "ballast";

    bool mount_tmpfs()
    {
        if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=512k") < 0) {
            reason_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
            return false;
        }
        mounted_ = tmpfs_ = true;
        return true;
    }

    // A 4 MiB ext2 image, 3 MiB of it taken by a ballast file.
    bool mount_loop(const std::string& image)
    {
        write_file(image, std::string(4 << 20, '\0'));
        auto run = [](const std::string& program, const std::vector<std::string>& args) {
            return exited_with(Process(program, args).wait_exit(10s), 0);
        };
        if (!run("/usr/sbin/mkfs.ext2", {"-q", "-F", "-m", "0", image})) {
            reason_ = "mkfs.ext2 failed (package e2fsprogs)";
            return false;
        }
        if (!run("/usr/bin/mount", {"-o", "loop", image, dir_})) {
            reason_ = "mount -o loop failed";
            return false;
        }
        mounted_ = true;
        write_file(file(kBallast), std::string(3 << 20, 'b'));
        return true;
    }

    std::string dir_;
    std::string reason_;
    bool mounted_ = false;
    bool tmpfs_ = false;
};

// Saves values of 32 KiB under fill.0, fill.1, ... until kvstored refuses one
// with ERR storage. Returns the keys acknowledged before that.
std::vector<std::string> fill_until_refused(LineClient& c, std::string& refusal)
{
    std::vector<std::string> saved;
    const std::string value(32 << 10, 'f');
    for (int i = 0; i < 1000; ++i) {
        std::string key = "fill." + std::to_string(i);
        std::string reply = c.ask("save " + key + ":" + value, 10s);
        if (reply != "OK") {
            refusal = reply;
            break;
        }
        saved.push_back(key);
    }
    return saved;
}

}  // namespace

TEST_CASE("kill -9 of kvsvc mid-command: its client is disconnected, kvstored is unaffected", "[faults]")
{
    TempDir dir;
    Daemon daemon(dir, {"--capacity", "10000"});
    const pid_t kvstored = daemon.process().pid();
    KvsvcSession observer = connected_session(daemon.socket_path());
    size_t fds_before = fd_count(kvstored);

    KvsvcSession victim = connected_session(daemon.socket_path());
    std::string burst;
    for (int i = 0; i < 2000; ++i)
        burst += "save victim." + std::to_string(i) + ":value\n";
    victim.client.send(burst + "save victim.half:" + std::string(1000, 'h'));  // and half a line
    victim.process.signal(SIGKILL);
    CHECK(killed_by(victim.process.wait_exit(3s), SIGKILL));
    CHECK(victim.client.read_to_eof(3s).has_value());  // whatever replies came, then EOF

    CHECK(eventually([&] { return fd_count(kvstored) == fds_before; }, 3s));
    CHECK(stat_value(stats_of(observer.client), "connections_current") == "1");
    CHECK(observer.client.ask("save observer:fine") == "OK");
    CHECK(observer.client.ask("read observer") == "VALUE fine");
}

TEST_CASE("kill -9 of kvsvc under xinetd: the TCP client sees the connection close", "[faults]")
{
    LoadStack stack;
    const pid_t kvstored = stack.daemon.process().pid();
    size_t fds_before = fd_count(kvstored);
    LineClient c = stack.xinetd.client();
    REQUIRE(c.ask("connect") == "OK connected");
    // xinetd's own readiness probe started a kvsvc too: wait until ours is the only one.
    const pid_t xinetd = stack.xinetd.process().pid();
    REQUIRE(eventually([&] { return child_pids(xinetd).size() == 1; }, 5s));
    pid_t kvsvc = child_pids(xinetd).front();
    c.send("save tcp:half a li");
    ::kill(kvsvc, SIGKILL);
    CHECK(c.read_to_eof(3s).has_value());

    CHECK(eventually([&] { return fd_count(kvstored) == fds_before; }, 3s));
    LineClient other = stack.xinetd.client();
    CHECK(other.ask("connect") == "OK connected");
    CHECK(other.ask("save tcp:whole") == "OK");
    CHECK(stack.xinetd.process().running());
}

TEST_CASE("kill -9 of kvstored under load through xinetd (--sync always): every session ends with a reset and no "
          "BYE, reconnect, nothing acked lost",
          "[faults]")
{
    constexpr size_t kWriters = 16;
    constexpr size_t kWindow = 4;
    TempDir dbdir;
    const std::string db = dbdir.file("store.db");
    LoadStack stack({"--db", db, "--sync", "always", "--capacity", "1000000"});
    std::vector<Writer> writers(kWriters);
    for (size_t i = 0; i < kWriters; ++i) {
        writers[i].client = stack.xinetd.client();
        writers[i].name = "w" + std::to_string(i);
        REQUIRE(writers[i].client.ask("connect") == "OK connected");
    }

    // Load for a second and a half, then kill kvstored in the middle of it.
    auto kill_at = Clock::now() + 1500ms;
    while (Clock::now() < kill_at) {
        for (auto& w : writers)
            w.top_up(kWindow);
        pump_all(writers);
    }
    for (auto& w : writers)
        w.top_up(kWindow);  // so that saves are surely in flight at the kill
    stack.daemon.kill_hard();
    // Every session gets the replies kvstored wrote, then a reset (never a BYE
    // that could complete a cut reply); none hangs. The saves not answered by
    // then are not acknowledged.
    auto deadline = Clock::now() + 5s;
    auto ended = [&] { return std::all_of(writers.begin(), writers.end(), [](const Writer& w) { return w.ended(); }); };
    while (!ended() && Clock::now() < deadline)
        pump_all(writers);
    for (auto& w : writers) {
        w.take_replies();
        w.count_unanswered();
    }
    for (auto& w : writers) {
        INFO(w.name << ": " << (w.unexpected.empty() ? "" : w.unexpected.front()) << "; "
                    << (w.client.eof() ? "ended" : "not ended") << " 5 s after the kill");
        CHECK(w.unexpected.empty());
        CHECK(w.ended());
    }
    // The kvsvcs are gone: xinetd has no child left.
    const pid_t xinetd = stack.xinetd.process().pid();
    CHECK(eventually([&] { return child_pids(xinetd, Zombies::exclude).empty(); }, 5s));

    // kvstored comes back on the same database; every client reconnects (a new
    // TCP connection, as the reset ended the old one) and finds every write it
    // was told OK for, and nothing it never sent.
    stack.daemon.restart();
    size_t acked = 0, lost = 0, unanswered = 0, strays = 0;
    for (auto& w : writers) {
        LineClient again = stack.xinetd.client();
        REQUIRE(again.ask("connect") == "OK connected");
        acked += w.acked.size();
        unanswered += w.unanswered;
        lost += count_lost(again, w);
        strays += count_strays(again, w);
    }
    std::printf("kill -9 kvstored under load (--sync always, via xinetd): %zu writes acknowledged, %zu lost; "
                "%zu in flight unanswered at the reset; %zu stored but never sent or wrong\n",
                acked, lost, unanswered, strays);
    CHECK(acked > 0);
    CHECK(lost == 0);
    CHECK(strays == 0);
}

TEST_CASE("disk full under --sync always: writes refused with ERR storage, reads work, writes resume once freed",
          "[faults]")
{
    TempDir dir;
    SmallFilesystem fs(dir);
    if (!fs.mounted()) {
        WARN("disk-full test skipped: cannot mount a small filesystem here (" << fs.reason() << ")");
        return;
    }
    std::optional<Daemon> daemon;  // stopped before the filesystem is unmounted
    daemon.emplace(dir, std::vector<std::string>{"--db", fs.file("store.db"), "--sync", "always"});
    KvsvcSession s = connected_session(daemon->socket_path());
    LineClient& c = s.client;

    std::string refusal;
    std::vector<std::string> saved = fill_until_refused(c, refusal);
    INFO("kvstored's log:\n" << daemon->log());
    REQUIRE_FALSE(refusal.empty());
    CHECK(refusal.rfind("ERR storage ", 0) == 0);
    CHECK(!saved.empty());
    // Refused until the disk has room, and reads keep working meanwhile.
    CHECK(c.ask("save more:x").rfind("ERR storage writes are refused", 0) == 0);
    CHECK(c.ask("read " + saved.front()) == "VALUE " + std::string(32 << 10, 'f'));
    CHECK(stat_value(stats_of(c), "storage_failed") == "1");
    CHECK(stat_value(stats_of(c), "read_only") == "1");
    CHECK(stat_value(stats_of(c), "read_only_why").rfind("writes are refused until the database works again: ", 0)
          == 0);

    REQUIRE(fs.free_space());
    auto freed = Clock::now();
    bool resumed = eventually([&] { return c.ask("save after:room again") == "OK"; }, 10s, 200ms);
    double recovery = std::chrono::duration<double>(Clock::now() - freed).count();
    CHECK(resumed);
    std::printf("disk full (%s): %zu x 32 KiB saved, then '%s'; writes resumed %.1f s after space was freed\n",
                fs.kind(), saved.size(), refusal.c_str(), recovery);
    CHECK(daemon->log().find("works again; accepting writes") != std::string::npos);

    // Everything acknowledged is in the database: restart and read it back.
    s.client.close();
    CHECK(exited_with(daemon->terminate(), 0));
    daemon->restart();
    KvsvcSession again = connected_session(daemon->socket_path());
    CHECK(again.client.ask("read after") == "VALUE room again");
    for (const auto& key : saved)
        CHECK(again.client.ask("exists " + key) == "YES");
    again.client.close();
    daemon.reset();
}
