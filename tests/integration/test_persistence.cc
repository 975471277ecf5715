// test_persistence.cc: kvstored with --db, as a client sees it: data survives
// restarts in every sync mode, startup refusals are clear, and with --sync
// always no acknowledged write is lost when kvstored is killed with SIGKILL in
// the middle of a write storm, whether kvsvc handed its client's socket to
// kvstored (the default) or relays every command (--no-handoff).
#include <poll.h>

#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "served.h"

using namespace kvtest;

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> db_args(const TempDir& dir, const std::string& mode)
{
    return {"--capacity", "1000000", "--db", dir.file("store.db"), "--sync", mode, "--sync-interval", "0.2"};
}

const std::string kWentAwayError = "ERR unavailable kvstored went away";
const std::string kWentAwayBye = "BYE kvstored went away";

// How the writers' kvsvcs serve them: `handoff` hands the client's socket to
// kvstored after connect (the default), `relay` forwards every command
// (--no-handoff). When kvstored dies, a relaying kvsvc answers each save in
// flight with kWentAwayError and the session goes on; a kvsvc whose socket
// kvstored held cannot know which saves kvstored had read, so it says
// kWentAwayBye and ends the session: the saves not answered by then are simply
// not acknowledged.
enum class Path { handoff, relay };

std::vector<std::string> kvsvc_args(Path path)
{
    return path == Path::relay ? std::vector<std::string>{"--no-handoff"} : std::vector<std::string>{};
}

const char* path_name(Path path)
{
    return path == Path::relay ? "relay (--no-handoff)" : "handoff";
}

// One kvsvc writing its own keys, at most kWindow saves in flight.
struct Writer {
    KvsvcSession session;
    std::string prefix;
    int next = 0;
    std::deque<std::string> in_flight;  // keys, oldest first
    bool said_bye = false;  // got kWentAwayBye (then EOF must follow)
    size_t unanswered = 0;  // saves in flight at the BYE
};

constexpr size_t kWriters = 16;
constexpr size_t kWindow = 8;

std::string value_of(const std::string& key)
{
    return "value-of-" + key;
}

struct StormResult {
    std::set<std::string> sent;
    std::set<std::string> acked;
    size_t went_away = 0;  // relaying: saves answered kWentAwayError
};

void keep_window_full(Writer& w, StormResult& r)
{
    while (w.in_flight.size() < kWindow) {
        std::string key = w.prefix + std::to_string(w.next++);
        w.session.client.send("save " + key + ":" + value_of(key) + "\n");
        w.in_flight.push_back(key);
        r.sent.insert(key);
    }
}

// Reads what arrived; OK acknowledges the oldest save in flight. Anything
// but the replies `path` allows (see Path) fails the test.
void collect_replies(Writer& w, StormResult& r, Path path)
{
    w.session.client.pump();
    while (auto line = w.session.client.buffered_line()) {
        INFO(w.prefix << " (" << path_name(path) << "): '" << *line << "' with " << w.in_flight.size()
                      << " saves in flight");
        REQUIRE_FALSE(w.said_bye);  // nothing after the BYE
        if (path == Path::handoff && *line == kWentAwayBye) {
            w.said_bye = true;
            w.unanswered = w.in_flight.size();
            w.in_flight.clear();
            continue;
        }
        REQUIRE_FALSE(w.in_flight.empty());
        if (*line == "OK") {
            r.acked.insert(w.in_flight.front());
        } else {
            REQUIRE((path == Path::relay && *line == kWentAwayError));
            ++r.went_away;
        }
        w.in_flight.pop_front();
    }
}

// Done after the kill: a relaying writer once every save is answered; a
// handed-off one once it got the BYE and then EOF.
bool finished(const Writer& w, Path path)
{
    return path == Path::relay ? w.in_flight.empty() : w.said_bye && w.session.client.eof();
}

void poll_writers(std::vector<Writer>& writers)
{
    std::vector<pollfd> fds;
    for (auto& w : writers)
        fds.push_back(pollfd{w.session.client.eof() ? -1 : w.session.client.fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 10);
}

// Writes from every writer until `kill_after`, then SIGKILLs kvstored and
// waits (bounded) until every writer has finished as `path` says it must.
StormResult write_storm(Daemon& daemon, std::vector<Writer>& writers, Millis kill_after, Path path)
{
    StormResult r;
    auto kill_at = Clock::now() + kill_after;
    while (Clock::now() < kill_at) {
        for (auto& w : writers)
            keep_window_full(w, r);
        poll_writers(writers);
        for (auto& w : writers)
            collect_replies(w, r, path);
    }
    daemon.kill_hard();
    auto deadline = Clock::now() + 10s;
    auto unfinished = [&] {
        size_t n = 0;
        for (auto& w : writers)
            n += !finished(w, path);
        return n;
    };
    while (unfinished() > 0 && Clock::now() < deadline) {
        poll_writers(writers);
        for (auto& w : writers)
            collect_replies(w, r, path);
    }
    for (auto& w : writers) {
        INFO(w.prefix << " (" << path_name(path) << "): " << w.in_flight.size() << " saves unanswered, "
                      << (w.said_bye ? "said BYE" : "no BYE") << ", " << (w.session.client.eof() ? "EOF" : "no EOF")
                      << " 10 s after the kill");
        CHECK(finished(w, path));
    }
    REQUIRE(unfinished() == 0);
    return r;
}

std::vector<Writer> start_writers(const Daemon& daemon, const std::string& round, Path path)
{
    std::vector<Writer> writers;
    for (size_t i = 0; i < kWriters; ++i)
        writers.push_back(Writer{
            connected_session(daemon.socket_path(), kvsvc_args(path)), round + "w" + std::to_string(i) + ".", 0, {}});
    return writers;
}

// The saves that got no answer because their kvsvc said BYE.
size_t unanswered(const std::vector<Writer>& writers)
{
    size_t n = 0;
    for (const auto& w : writers)
        n += w.unanswered;
    return n;
}

// Every key stored under `prefix`, and its value.
std::map<std::string, std::string> stored(LineClient& c, const std::string& prefix)
{
    c.send("keys " + prefix + "\n");
    Listing listing = c.read_listing(10s);  // every page of it
    REQUIRE(listing.complete);
    Lines block = std::move(listing.keys);
    block.insert(block.begin(), "KEYS");  // keys from index 1, as below
    std::map<std::string, std::string> out;
    // Pipelined in chunks: a client that sends without reading would, rightly,
    // be throttled by kvsvc once its unread replies pile up.
    constexpr size_t kChunk = 1000;
    for (size_t first = 1; first < block.size(); first += kChunk) {
        size_t end = std::min(block.size(), first + kChunk);
        std::string reads;
        for (size_t i = first; i < end; ++i)
            reads += "read " + block[i] + "\n";
        c.send(reads);
        for (size_t i = first; i < end; ++i) {
            auto line = c.read_line(10s);
            REQUIRE(line);
            REQUIRE(line->rfind("VALUE ", 0) == 0);
            out[block[i]] = line->substr(6);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("saves and deletes survive a restart in every sync mode")
{
    for (const char* mode : {"always", "batch", "off"}) {
        INFO("--sync " << mode);
        TempDir dir;
        Daemon daemon(dir, db_args(dir, mode));
        {
            KvsvcSession s = connected_session(daemon.socket_path());
            for (const char* cmd : {"save a:1", "save b:two words: x", "save empty:", "save gone:x", "delete gone"})
                REQUIRE(s.client.ask(cmd) == "OK");
        }
        REQUIRE(exited_with(daemon.terminate(), 0));
        daemon.restart();
        KvsvcSession s = connected_session(daemon.socket_path());
        CHECK(s.client.ask("read a") == "VALUE 1");
        CHECK(s.client.ask("read b") == "VALUE two words: x");
        CHECK(s.client.ask("read empty") == "VALUE ");
        CHECK(s.client.ask("read gone") == "NOT_FOUND");
        CHECK(s.client.ask("count") == "COUNT 3 1000000");
    }
}

TEST_CASE("kvstored refuses to start on a database larger than its capacity, saying so")
{
    TempDir dir;
    {
        Daemon daemon(dir, db_args(dir, "always"));
        KvsvcSession s = connected_session(daemon.socket_path());
        for (const char* cmd : {"save a:1", "save b:2", "save c:3"})
            REQUIRE(s.client.ask(cmd) == "OK");
    }
    Process small(kvstored_bin(),
                  {"run", "--socket", dir.file("small.sock"), "--db", dir.file("store.db"), "--capacity", "2"},
                  Stdio{-1, -1, -1});
    auto status = small.wait_exit(5s);
    CHECK(exited_with(status, 1));
}

TEST_CASE("with --sync always, no acknowledged write is lost when kvstored is killed -9")
{
    Path path = GENERATE(Path::handoff, Path::relay);
    INFO("kvsvc path: " << path_name(path));
    TempDir dir;
    Daemon daemon(dir, db_args(dir, "always"));
    std::random_device seed;
    std::mt19937 rng(seed());
    size_t total_acked = 0;
    for (int round = 0; round < 3; ++round) {
        std::string prefix = "r" + std::to_string(round);
        auto kill_after = Millis(std::uniform_int_distribution<int>(150, 600)(rng));
        std::vector<Writer> writers = start_writers(daemon, prefix, path);
        StormResult r = write_storm(daemon, writers, kill_after, path);
        daemon.restart();

        KvsvcSession check = connected_session(daemon.socket_path());
        auto found = stored(check.client, prefix);
        size_t lost = 0;
        for (const auto& key : r.acked)
            lost += found.count(key) == 0;
        for (const auto& [key, value] : found) {
            CHECK(r.sent.count(key) == 1);  // nothing that was never sent
            CHECK(value == value_of(key));
        }
        std::printf("sync always, %s, round %d: killed after %lld ms; %zu saves sent, %zu acknowledged, "
                    "%zu answered 'went away', %zu unanswered at 'BYE kvstored went away', %zu on disk, "
                    "%zu acknowledged but lost\n",
                    path_name(path), round, static_cast<long long>(kill_after.count()), r.sent.size(), r.acked.size(),
                    r.went_away, unanswered(writers), found.size(), lost);
        CHECK(lost == 0);
        CHECK(r.acked.size() > 0);
        total_acked += r.acked.size();
    }
    CHECK(total_acked > 100);
}

TEST_CASE("with --sync batch, a kill -9 loses at most the last interval's writes, never more than 20,000")
{
    TempDir dir;
    Daemon daemon(dir, db_args(dir, "batch"));
    std::vector<Writer> writers = start_writers(daemon, "b", Path::handoff);
    StormResult r = write_storm(daemon, writers, 700ms, Path::handoff);
    daemon.restart();
    KvsvcSession check = connected_session(daemon.socket_path());
    auto found = stored(check.client, "b");
    size_t lost = 0;
    for (const auto& key : r.acked)
        lost += found.count(key) == 0;
    for (const auto& [key, value] : found)
        CHECK(r.sent.count(key) == 1);
    std::printf("sync batch (interval 0.2 s): %zu saves acknowledged in 0.7 s, %zu on disk after kill -9, "
                "%zu acknowledged but lost (%.1f%%)\n",
                r.acked.size(), found.size(), lost, r.acked.empty() ? 0.0 : 100.0 * lost / r.acked.size());
    CHECK(r.acked.size() > 0);
    CHECK(found.size() > 0);  // 0.7 s of writing spans at least one 0.2 s commit
    // Writers faster than the disk wait for commits (PersistConfig::max_uncommitted).
    CHECK(lost <= 20000);
}
