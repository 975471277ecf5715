// Tests for kvstored's SQLite persistence (kvstored/persistence.h) and the
// Database facade: round trips in every sync mode, the startup refusals, and
// the failure path (a commit that cannot take the write lock) with recovery.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <thread>

#include "command.h"
#include "database.h"
#include "held_replies.h"

using namespace std::chrono_literals;
using namespace std::string_literals;
using kv::Database;
using kv::PersistConfig;
using kv::SyncMode;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/kvstore-unit-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

PersistConfig config(const TempDir& dir, SyncMode mode)
{
    PersistConfig c;
    c.path = (dir.path / "store.db").string();
    c.mode = mode;
    c.interval = 50ms;
    c.busy_timeout = 50ms;
    return c;
}

// Waits (bounded) until `done` holds, sleeping on the writer's eventfd.
template <typename Pred> bool wait_for(kv::Persistence& p, Pred done, std::chrono::milliseconds limit = 5s)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        pollfd fd{p.notify_fd(), POLLIN, 0};
        ::poll(&fd, 1, 50);
        p.drain();
    }
    return true;
}

// Runs one SQL statement on its own connection, as another process would.
std::string sql_value(const std::string& path, const std::string& sql)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    std::string result;
    sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int, char** values, char**) {
            *static_cast<std::string*>(out) = values[0] ? values[0] : "NULL";
            return 0;
        },
        &result, nullptr);
    sqlite3_close(db);
    return result;
}

// Every row of a query, columns joined by '|' and rows by '\n'.
std::string sql_rows(const std::string& path, const std::string& sql)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    std::string result;
    char* err = nullptr;
    int rc = sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int n, char** values, char**) {
            auto& text = *static_cast<std::string*>(out);
            if (!text.empty())
                text += '\n';
            for (int i = 0; i < n; ++i)
                text.append(i ? "|" : "").append(values[i] ? values[i] : "NULL");
            return 0;
        },
        &result, &err);
    std::string error = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    INFO(sql << ": " << error);
    REQUIRE(rc == SQLITE_OK);
    return result;
}

std::string startup_error(const PersistConfig& c, size_t capacity = 100)
{
    try {
        Database db(capacity, c);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the store survives a restart in every sync mode", "[persistence]")
{
    for (SyncMode mode : {SyncMode::Always, SyncMode::Batch, SyncMode::Off}) {
        INFO("mode " << kv::sync_mode_name(mode));
        TempDir dir;
        std::string binary("\0\t\"\\\xff\r", 6);
        {
            Database db(100, config(dir, mode));
            kv::Store::PutResult r;
            bool erased;
            db.put("a", "1", r);
            db.put("b", binary, r);
            db.put("empty", "", r);
            db.put("gone", "x", r);
            db.erase("gone", erased);
            REQUIRE(erased);
            db.put("a", "2", r);
        }  // closing commits what is queued
        Database db(100, config(dir, mode));
        const kv::Store& s = db.store();
        CHECK(s.size() == 3);
        REQUIRE(s.peek("a"));
        CHECK(s.peek("a")->value == "2");
        REQUIRE(s.peek("b"));
        CHECK(s.peek("b")->value == binary);
        REQUIRE(s.peek("empty"));
        CHECK(s.peek("empty")->value.empty());
        CHECK_FALSE(s.peek("gone"));
    }
}

namespace {

// Entries only the Redis door can write: every byte value in keys (alone, in
// a longer key, as a 250-byte key) and in values (LF, CR, NUL included).
std::map<std::string, std::string> every_byte_entries()
{
    std::string all_bytes;
    for (int b = 0; b < 256; ++b)
        all_bytes.push_back(static_cast<char>(b));
    std::map<std::string, std::string> entries;
    for (int b = 0; b < 256; ++b) {
        char c = static_cast<char>(b);
        entries[std::string(1, c)] = std::string(1, c);
        entries["key" + std::string(1, c) + "end"] = all_bytes + c;
    }
    entries[std::string(250, '\0')] = "";
    entries[std::string(250, '\n')] = std::string(3, '\0');
    entries[std::string(250, '\xff')] = "\r";
    entries["a b:c\r\n"] = "line one\nline two\r\n";
    return entries;
}

void require_entries(const kv::Store& s, const std::map<std::string, std::string>& entries)
{
    CHECK(s.size() == entries.size());
    for (const auto& [key, value] : entries) {
        INFO("key " << kv::printable_bytes(key));
        std::optional<kv::Store::Entry> e = s.peek(key);
        REQUIRE(e);
        CHECK(e->value == value);
    }
}

}  // namespace

TEST_CASE("keys and values of every byte value survive a restart: SQLite keeps them as BLOBs, NUL included",
          "[persistence][xdoor]")
{
    SyncMode mode = GENERATE(SyncMode::Always, SyncMode::Batch);
    INFO("mode " << kv::sync_mode_name(mode));
    TempDir dir;
    PersistConfig c = config(dir, mode);
    auto entries = every_byte_entries();
    {
        Database db(1000, c);
        kv::Store::PutResult r;
        for (const auto& [key, value] : entries)
            db.put(key, value, r);
        db.put("gone\0"s, "x", r);  // erase and set_deadline bind the same bytes
        bool found;
        db.erase("gone\0"s, found);
        REQUIRE(found);
        db.set_deadline("\n"s, int64_t{4'102'444'800'000}, found);
        REQUIRE(found);
    }
    // Stored as BLOBs of exactly their length: a NUL ends no key or value.
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv WHERE typeof(key) <> 'blob' OR typeof(value) <> 'blob'") == "0");
    CHECK(sql_value(c.path, "SELECT length(value) FROM kv WHERE key = zeroblob(250)") == "0");
    CHECK(sql_value(c.path, "SELECT length(value) FROM kv WHERE key = x'6b657900656e64'") == "257");  // "key\0end"
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv") == std::to_string(entries.size()));
    Database db(1000, c);
    require_entries(db.store(), entries);
    CHECK(db.store().peek("\n")->deadline == 4'102'444'800'000);
    CHECK_FALSE(db.store().peek("gone\0"s));
}

TEST_CASE("a staged load takes keys and values of every byte value and they survive a restart", "[persistence][xdoor]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    auto entries = every_byte_entries();
    {
        Database db(1000, c);
        REQUIRE(db.load_begin(1, true).empty());
        for (const auto& [key, value] : entries)
            REQUIRE(db.load_add(1, key, value, kv::kNoDeadline).empty());
        CHECK(db.load_add(1, "", "v", kv::kNoDeadline) == "ERR bad-key key is empty; nothing was changed\n");
        REQUIRE(db.load_begin(1, true).empty());
        for (const auto& [key, value] : entries)
            REQUIRE(db.load_add(1, key, value, kv::kNoDeadline).empty());
        CHECK(db.load_add(1, "ok", "v", -5)
              == "ERR syntax the deadline of ok is not a unix time in ms from 1 to " + std::to_string(kv::kMaxDeadline)
                  + "; nothing was changed\n");
        REQUIRE(db.load_begin(1, true).empty());
        for (const auto& [key, value] : entries)
            REQUIRE(db.load_add(1, key, value, kv::kNoDeadline).empty());
        uint64_t ticket;
        std::string summary;
        REQUIRE(db.load_commit(1, ticket, summary).empty());
        CHECK(summary == std::to_string(entries.size()) + " " + std::to_string(entries.size()) + " 0");
        require_entries(db.store(), entries);
    }
    Database db(1000, c);
    require_entries(db.store(), entries);
}

TEST_CASE("errors that name a key show its control bytes escaped", "[persistence][xdoor]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);
        kv::Store::PutResult r;
        db.put("a\nb", "12345", r);
    }
    c.max_value = 4;
    CHECK_THAT(startup_error(c), Catch::Contains("the value of key 'a\\x0ab' is 5 bytes"));
    Database db(100, std::nullopt);
    REQUIRE(db.load_begin(1, false).empty());
    CHECK(db.load_add(1, "x\ny", "v", kv::kMaxDeadline + 1)
          == "ERR syntax the deadline of x\\x0ay is not a unix time in ms from 1 to " + std::to_string(kv::kMaxDeadline)
              + "; nothing was changed\n");
}

TEST_CASE("always mode makes each write durable promptly, tickets order the writes", "[persistence]")
{
    TempDir dir;
    Database db(100, config(dir, SyncMode::Always));
    kv::Store::PutResult r;
    uint64_t t1 = db.put("k", "v1", r);
    uint64_t t2 = db.put("k", "v2", r);
    CHECK(t2 > t1);
    REQUIRE(wait_for(*db.persistence(), [&] { return db.durability(t2) == Database::Durability::Durable; }));
    CHECK(sql_value(db.persistence()->config().path, "SELECT value FROM kv WHERE key = CAST('k' AS BLOB)") == "v2");
    CHECK(db.persistence()->commits() >= 1);
}

TEST_CASE("batch mode acknowledges at once and commits within the interval", "[persistence]")
{
    TempDir dir;
    Database db(100, config(dir, SyncMode::Batch));
    kv::Store::PutResult r;
    uint64_t t = db.put("k", "v", r);
    CHECK(db.durability(t) == Database::Durability::Durable);  // no waiting in batch mode
    REQUIRE(wait_for(
        *db.persistence(), [&] { return db.persistence()->durable() >= t; }, 2s));
    CHECK(sql_value(db.persistence()->config().path, "SELECT count(*) FROM kv") == "1");
}

TEST_CASE("flush commits everything queued, in off mode too", "[persistence]")
{
    TempDir dir;
    Database db(100, config(dir, SyncMode::Off));
    kv::Store::PutResult r;
    for (int i = 0; i < 10; ++i)
        db.put("k" + std::to_string(i), "v", r);
    REQUIRE(db.persistence()->flush(5s));
    CHECK(sql_value(db.persistence()->config().path, "SELECT count(*) FROM kv") == "10");
}

TEST_CASE("a database larger than the capacity is refused at startup", "[persistence]")
{
    TempDir dir;
    {
        Database db(100, config(dir, SyncMode::Always));
        kv::Store::PutResult r;
        for (int i = 0; i < 5; ++i)
            db.put("k" + std::to_string(i), "v", r);
    }
    std::string err = startup_error(config(dir, SyncMode::Always), 4);
    CHECK_THAT(err, Catch::Contains("holds 5 entries, more than the capacity of 4"));
    CHECK_THAT(err, Catch::Contains("--capacity 5"));
}

TEST_CASE("unknown schema versions and foreign databases are refused", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    sql_value(c.path,
              "CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT); "
              "INSERT INTO meta VALUES('schema_version', '7')");
    CHECK_THAT(
        startup_error(c),
        Catch::Contains("schema version 7 is unknown; this kvstored reads version 3 (and migrates versions 1 and 2)"));

    TempDir other;
    PersistConfig foreign = config(other, SyncMode::Batch);
    sql_value(foreign.path, "CREATE TABLE t(x)");
    CHECK_THAT(startup_error(foreign), Catch::Contains("not a kvstore database"));
}

TEST_CASE("an unopenable path is refused with the path and the reason", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.path = (dir.path / "missing-dir" / "store.db").string();
    std::string err = startup_error(c);
    CHECK_THAT(err, Catch::Contains("sqlite open " + c.path + ": unable to open database file"));
    CHECK_THAT(err, Catch::Contains("No such file or directory"));
}

TEST_CASE("a failing commit refuses further writes, fails held ones, and recovers", "[persistence]")
{
    TempDir dir;
    Database db(100, config(dir, SyncMode::Always));
    kv::Persistence& p = *db.persistence();
    // Another connection takes the write lock and keeps it: our commits fail
    // with SQLITE_BUSY after the 50 ms busy timeout.
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(p.config().path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);

    kv::Store::PutResult r;
    uint64_t t = db.put("k", "v", r);
    REQUIRE(wait_for(p, [&] { return p.failed(); }));
    CHECK(db.durability(t) == Database::Durability::Failed);
    CHECK_THAT(db.write_refusal(), Catch::Contains("database is locked"));

    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    // The retry (every second) commits the kept batch and writes work again.
    REQUIRE(wait_for(p, [&] { return !p.failed() && p.durable() >= t; }));
    CHECK(db.write_refusal().empty());
    CHECK(sql_value(p.config().path, "SELECT value FROM kv WHERE key = CAST('k' AS BLOB)") == "v");
}

// --- issue 13: what the database may hold, and what the queue may cost ---------------

TEST_CASE("a database where WAL mode cannot work is refused at startup", "[persistence][regression]")
{
    // What went wrong: the result of PRAGMA journal_mode = WAL was never
    // checked, so kvstored ran on a database that silently kept another mode
    // (":memory:" keeps "memory": nothing would ever reach a disk).
    PersistConfig c;
    c.path = ":memory:";
    c.busy_timeout = 50ms;
    CHECK_THAT(startup_error(c), Catch::Contains("PRAGMA journal_mode = WAL: SQLite kept journal mode 'memory'"));
}

TEST_CASE("a stored value longer than --max-value is refused at startup, naming its key, a LF is fine",
          "[persistence][regression]")
{
    // What went wrong: values loaded from the database were not checked, so a
    // row written by hand could hold a value longer than --max-value. (A LF
    // was refused too, until the Redis door could write one: read answers
    // such a value "ERR unshowable", see test_commands.cc.)
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);  // creates the schema
    }
    sql_value(c.path, "INSERT INTO kv(key, value) VALUES(CAST('fine' AS BLOB), CAST('ok' AS BLOB))");
    sql_value(c.path, "INSERT INTO kv(key, value) VALUES(CAST('split' AS BLOB), CAST('a' || char(10) || 'b' AS BLOB))");
    CHECK(startup_error(c).empty());
    sql_value(c.path, "INSERT INTO kv(key, value) VALUES(CAST('big' AS BLOB), zeroblob(101))");
    c.max_value = 100;
    std::string err = startup_error(c);
    CHECK_THAT(err, Catch::Contains("the value of key 'big' is 101 bytes, more than --max-value 100"));
    CHECK_THAT(err, Catch::Contains("start with --max-value 101 or more"));
    c.max_value = 101;
    CHECK(startup_error(c).empty());
}

TEST_CASE("uncommitted bytes throttle batch mode and the queue's global cap gates writers", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.busy_timeout = 5000ms;  // our commit waits for the lock below
    c.max_uncommitted_bytes = 100 * 1024;
    c.max_queue_bytes = 200 * 1024;
    Database db(100, c);
    kv::Persistence& p = *db.persistence();
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);

    const std::string value(32 * 1024, 'v');
    kv::Store::PutResult r;
    std::vector<uint64_t> tickets;
    for (int i = 0; i < 8; ++i)
        tickets.push_back(db.put("k" + std::to_string(i), value, r));
    const size_t w = kv::change_weight("k0", value);
    CHECK(db.weight(tickets[0]) == w);
    CHECK(db.pending_bytes() == 8 * w);
    // Acknowledged at once while within 100 KiB of the last commit: 3 saves.
    for (size_t i = 0; i < tickets.size(); ++i) {
        INFO("save " << i);
        CHECK(db.durability(tickets[i])
              == ((i + 1) * w <= c.max_uncommitted_bytes ? Database::Durability::Durable
                                                         : Database::Durability::Pending));
    }
    CHECK(db.write_backlogged());  // 8 * 32 KiB > 200 KiB

    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    REQUIRE(p.flush(5s));
    p.drain();
    CHECK(db.pending_bytes() == 0);
    CHECK_FALSE(db.write_backlogged());
    CHECK(db.durability(tickets.back()) == Database::Durability::Durable);
}

TEST_CASE("a staged load is checked against the capacity first and lands in one transaction", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    c.busy_timeout = 5000ms;
    {
        Database db(5, c);
        kv::Store::PutResult r;
        for (const char* k : {"a", "b", "c"})
            db.put(k, "old", r);
        REQUIRE(db.persistence()->flush(5s));

        // Replace with 6: does not fit; nothing changes, and the staging is gone.
        REQUIRE(db.load_begin(1, true).empty());
        for (int i = 0; i < 5; ++i)
            REQUIRE(db.load_add(1, "n" + std::to_string(i), "v", kv::kNoDeadline).empty());
        CHECK(db.load_add(1, "n5", "v", kv::kNoDeadline)
              == "ERR full the load has more than 5 entries, the capacity of the store; nothing was changed\n");
        uint64_t ticket;
        std::string summary;
        CHECK_THAT(db.load_commit(1, ticket, summary), Catch::Contains("no load was begun"));
        CHECK(db.store().size() == 3);

        // Without replace, keys already present do not count twice: a, b, d, e fit; f does not.
        REQUIRE(db.load_begin(1, false).empty());
        for (const char* k : {"a", "b", "d", "e", "f"})
            REQUIRE(db.load_add(1, k, "new", kv::kNoDeadline).empty());
        CHECK(db.load_commit(1, ticket, summary)
              == "ERR full the store would hold 6 entries, more than its capacity of 5; nothing was changed\n");
        CHECK(db.store().peek("a")->value == "old");
        CHECK(db.store().size() == 3);

        // Another client cannot start a load while one is staged.
        REQUIRE(db.load_begin(1, false).empty());
        CHECK_THAT(db.load_begin(2, false), Catch::StartsWith("ERR busy"));
        for (const char* k : {"a", "b", "d", "e"})
            REQUIRE(db.load_add(1, k, "new", kv::kNoDeadline).empty());
        // The write lock is taken by another connection: the load waits for it as one transaction.
        sqlite3* blocker = nullptr;
        REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
        REQUIRE(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
        REQUIRE(db.load_commit(1, ticket, summary).empty());
        CHECK(summary == "4 5 0");
        CHECK(db.store().size() == 5);
        CHECK(db.durability(ticket) == Database::Durability::Pending);
        sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(blocker);
        REQUIRE(wait_for(*db.persistence(), [&] { return db.durability(ticket) == Database::Durability::Durable; }));
        CHECK(sql_value(c.path, "SELECT count(*) FROM kv WHERE value = CAST('new' AS BLOB)") == "4");
    }
    Database db(5, c);
    CHECK(db.store().size() == 5);
    CHECK(db.store().peek("e")->value == "new");
}

TEST_CASE("a write made at the queue's global cap holds its client's input until it is released", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    c.busy_timeout = 5000ms;
    c.max_queue_bytes = 256 * 1024;  // kMaxQueueBytes (64 MiB) in kvstored, made small
    Database db(100, c);
    kv::Persistence& p = *db.persistence();
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);

    kv::HeldReplies held(db);
    std::string out;
    auto emit = [&](std::string_view t) { out.append(t); };
    const std::string value(32 * 1024, 'v');
    const size_t w = kv::change_weight("k", value);
    kv::Store::PutResult r;
    size_t writes = 0;
    // A client writes until its held replies block it: each one weighs its change.
    while (!held.blocks_input() && writes < 100) {
        held.add("OK\n", db.put("k", value, r), emit);
        ++writes;
        INFO("after " << writes << " writes");
        CHECK(held.bytes() == writes * (3 + w));
    }
    // The write that found the queue at 256 KiB was the last one taken.
    CHECK(writes == c.max_queue_bytes / w + 1);
    CHECK(db.pending_bytes() >= c.max_queue_bytes);
    CHECK(out.empty());

    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    REQUIRE(wait_for(p, [&] {
        held.release(emit);
        return held.empty();
    }));
    CHECK_FALSE(held.blocks_input());
    CHECK(held.bytes() == 0);
    CHECK(out.size() == 3 * writes);
}

TEST_CASE("an empty held reply (memcached noreply) stays empty when its write is abandoned", "[persistence]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    c.busy_timeout = 5000ms;
    Database db(100, c);
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);

    kv::HeldReplies held(db);
    std::string out;
    auto emit = [&](std::string_view t) { out.append(t); };
    kv::Store::PutResult r;
    held.add("", db.put("quiet", "1", r), emit);
    held.add("OK\n", db.put("told", "1", r), emit);
    CHECK(out.empty());
    held.abandon(emit);
    CHECK(out == "ERR unavailable kvstored shut down before the write was saved\n");
    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
}

TEST_CASE("a load larger than kMaxLoadBytes is refused while it is staged, and nothing changes", "[persistence]")
{
    Database db(1000, std::nullopt);
    kv::Store::PutResult r;
    db.put("old", "1", r);
    REQUIRE(db.load_begin(7, true).empty());
    const std::string value(1u << 20, 'v');
    std::string error;
    size_t added = 0;
    while (error.empty() && added < 300) {
        error = db.load_add(7, "k" + std::to_string(added), value, kv::kNoDeadline);
        ++added;
    }
    // 256 MiB staged: the 256th value of 1 MiB (plus keys and overhead) is one too many.
    CHECK(added == kv::kMaxLoadBytes / value.size());
    CHECK(error
          == "ERR too-long the load is larger than 256 MiB (keys and values plus 96 bytes per entry); nothing "
             "was changed\n");
    uint64_t ticket;
    std::string summary;
    CHECK_THAT(db.load_commit(7, ticket, summary), Catch::Contains("no load was begun"));
    CHECK(db.store().size() == 1);
    REQUIRE(db.store().peek("old"));
}

// --- issue 14: deadlines, versions, schema version 2 ----------------------------------

namespace {

constexpr int64_t kNow = 1'800'000'000'000;  // ManualClock's default start

// A store on a ManualClock and its persistence, wired as Database wires them.
struct Opened {
    kv::Store store;
    kv::Persistence persistence;
    Opened(const PersistConfig& c, const kv::Clock& clock, size_t capacity = 100)
        : store(capacity, kv::WhenFull::Refuse, clock), persistence(c, store)
    {
    }
    uint64_t put(std::string_view key, std::string_view value, int64_t deadline = kv::kNoDeadline, uint32_t flags = 0)
    {
        REQUIRE(store.put(key, value, deadline, flags) != kv::Store::PutResult::Full);
        return persistence.put(key, value, deadline, flags, store.last_version());
    }
    int64_t deadline(std::string_view key) const
    {
        auto e = store.peek(key);
        REQUIRE(e);
        return e->deadline;
    }
};

// The deadline column of a key's row ("NULL" for none, "" for no row).
std::string row_deadline(const PersistConfig& c, const std::string& key)
{
    return sql_value(c.path, "SELECT deadline FROM kv WHERE key = CAST('" + key + "' AS BLOB)");
}

#ifndef KVSTORE_TEST_DATA
#error "tests/CMakeLists.txt defines KVSTORE_TEST_DATA (the tests/data directory)"
#endif

// A copy of a fixture in `dir`, so the committed file is never changed.
std::string copy_fixture(const TempDir& dir, const std::string& name)
{
    std::filesystem::path to = dir.path / name;
    std::filesystem::copy_file(std::filesystem::path(KVSTORE_TEST_DATA) / name, to);
    return to.string();
}

}  // namespace

TEST_CASE("deadlines round-trip through a restart", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        o.put("soon", "1", kNow + 1'000);
        o.put("later", "2", kNow + 86'400'000);
        o.put("never", "3");
        o.put("cleared", "4", kNow + 5'000);
        o.put("cleared", "5");  // a save without a deadline clears it
    }
    CHECK(row_deadline(c, "soon") == std::to_string(kNow + 1'000));
    CHECK(row_deadline(c, "never") == "NULL");
    CHECK(row_deadline(c, "cleared") == "NULL");
    Opened o(c, clock);
    CHECK(o.store.size() == 4);
    CHECK(o.deadline("soon") == kNow + 1'000);
    CHECK(o.deadline("later") == kNow + 86'400'000);
    CHECK(o.deadline("never") == kv::kNoDeadline);
    CHECK(o.deadline("cleared") == kv::kNoDeadline);
    CHECK(o.store.peek("cleared")->value == "5");
}

TEST_CASE("rows past their deadline are gone after a restart, in memory and on disk", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        o.put("due", "x", kNow + 1'000);
        o.put("exactly", "x", kNow + 2'000);
        o.put("alive", "y", kNow + 2'001);
        o.put("plain", "z");
    }
    clock.advance(2'000);  // kvstored was stopped for 2 s: "due" and "exactly" expired meanwhile
    Opened o(c, clock);
    CHECK(o.store.size() == 2);
    CHECK_FALSE(o.store.peek("due"));
    CHECK_FALSE(o.store.peek("exactly"));
    CHECK(o.deadline("alive") == kNow + 2'001);
    CHECK(o.store.peek("plain"));
    // Their rows go with the first commit.
    REQUIRE(o.persistence.flush(5s));
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT) FROM kv ORDER BY key") == "alive\nplain");
}

TEST_CASE("startup only reads: it works while another process holds the write lock", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        o.put("due", "x", kNow + 1'000);
        o.put("plain", "y");
    }
    clock.advance(1'000);
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    c.busy_timeout = 5000ms;  // the first commit waits for the lock
    Opened o(c, clock);  // would fail after the busy timeout if loading wrote
    CHECK(o.store.size() == 1);
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv") == "2");
    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    REQUIRE(o.persistence.flush(5s));
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT) FROM kv") == "plain");
}

TEST_CASE("expired rows do not count against the capacity at startup", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        for (int i = 0; i < 5; ++i)
            o.put("k" + std::to_string(i), "v", i < 3 ? kNow + 10 : kv::kNoDeadline);
    }
    clock.advance(10);
    Opened o(c, clock, 2);  // 5 rows, 3 of them expired: fits
    CHECK(o.store.size() == 2);
}

TEST_CASE("expire(now) deletes exactly the rows due by then, using the deadline index", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    kv::ManualClock clock;
    Opened o(c, clock);
    o.put("a", "1", kNow + 100);
    o.put("b", "2", kNow + 150);
    o.put("c", "3", kNow + 151);
    o.put("d", "4");
    o.persistence.expire(kNow + 150);  // at or before: a and b
    REQUIRE(o.persistence.flush(5s));
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT), deadline FROM kv ORDER BY key")
          == "c|" + std::to_string(kNow + 151) + "\nd|NULL");
    o.persistence.expire(kNow + 10'000);
    REQUIRE(o.persistence.flush(5s));
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT) FROM kv") == "d");
    // The statement searches the partial index instead of scanning every row.
    CHECK_THAT(sql_rows(c.path, "EXPLAIN QUERY PLAN DELETE FROM kv WHERE deadline <= 5"),
               Catch::Contains("INDEX kv_deadline"));
}

TEST_CASE("set_deadline changes only the deadline, and kNoDeadline clears it", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        o.put("k", "value");
        o.put("t", "value", kNow + 1'000);
        REQUIRE(o.store.set_deadline("k", kNow + 60'000));
        o.persistence.set_deadline("k", kNow + 60'000, o.store.last_version());
        REQUIRE(o.store.set_deadline("t", kv::kNoDeadline));
        o.persistence.set_deadline("t", kv::kNoDeadline, o.store.last_version());
        o.persistence.set_deadline("absent", kNow, o.store.last_version());  // no row: no change
    }
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT), CAST(value AS TEXT), deadline FROM kv ORDER BY key")
          == "k|value|" + std::to_string(kNow + 60'000) + "\nt|value|NULL");
    clock.advance(1'000);
    Opened o(c, clock);
    CHECK(o.deadline("k") == kNow + 60'000);
    CHECK(o.deadline("t") == kv::kNoDeadline);
}

TEST_CASE("put_all stores each entry's deadline in one transaction", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    {
        Opened o(c, clock);
        o.put("old", "gone after the replace");
        std::vector<kv::Persistence::Entry> entries{{"a", "1", kNow + 5'000}, {"b", "2", kv::kNoDeadline}};
        o.store.clear();
        o.store.put("a", "1", kNow + 5'000);
        o.store.put("b", "2");
        uint64_t seq = o.persistence.put_all(true, std::move(entries), o.store.last_version());
        REQUIRE(wait_for(o.persistence, [&] { return o.persistence.durable() >= seq; }));
        CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'version_floor'")
              == std::to_string(o.store.last_version()));
    }
    CHECK(sql_rows(c.path, "SELECT CAST(key AS TEXT), deadline FROM kv ORDER BY key")
          == "a|" + std::to_string(kNow + 5'000) + "\nb|NULL");
    clock.advance(5'000);
    Opened o(c, clock);
    CHECK(o.store.size() == 1);
    CHECK(o.deadline("b") == kv::kNoDeadline);
}

TEST_CASE("each commit records the version floor, and a restart never hands out a version again",
          "[persistence][versions]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    uint64_t highest;
    {
        Opened o(c, clock);
        CHECK(sql_value(c.path, "SELECT count(*) FROM meta WHERE name = 'version_floor'") == "0");
        for (int i = 0; i < 10; ++i)
            o.put("k" + std::to_string(i % 3), "v");
        bool erased = o.store.erase("k0");
        REQUIRE(erased);
        uint64_t seq = o.persistence.erase("k0");  // carries no version: the floor stays
        highest = o.store.last_version();
        REQUIRE(wait_for(o.persistence, [&] { return o.persistence.durable() >= seq; }));
        CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'version_floor'") == std::to_string(highest));
    }
    SECTION("the clock went back an hour while kvstored was stopped: the recorded floor wins")
    {
        clock.set(kNow - 3'600'000);
        Opened o(c, clock);
        CHECK(o.store.last_version() >= highest);
        o.put("k1", "new");
        CHECK(o.store.peek("k1")->version > highest);
    }
    SECTION("an hour later: now in microseconds wins")
    {
        clock.set(kNow + 3'600'000);
        Opened o(c, clock);
        CHECK(o.store.last_version() >= static_cast<uint64_t>(kNow + 3'600'000) * 1000);
    }
    SECTION("a floor far ahead (written by hand) is honoured, and the next commit records the new highest")
    {
        sql_value(c.path, "UPDATE meta SET value = '9000000000000000000' WHERE name = 'version_floor'");
        Opened o(c, clock);
        CHECK(o.store.last_version() >= 9'000'000'000'000'000'000u);
        o.put("x", "y");
        REQUIRE(o.persistence.flush(5s));
        CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'version_floor'")
              == std::to_string(o.store.last_version()));
    }
}

TEST_CASE("a schema-1 database written by kvstored before issue 14 is migrated and loses nothing",
          "[persistence][migration]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.path = copy_fixture(dir, "schema-v1.db");
    REQUIRE(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "1");
    std::string rows_before = sql_rows(c.path, "SELECT hex(key), hex(value) FROM kv ORDER BY key");
    REQUIRE(sql_value(c.path, "SELECT count(*) FROM kv") == "9");
    {
        kv::ManualClock clock;
        Opened o(c, clock);
        CHECK(o.store.size() == 9);
        // Every row, byte for byte, and none has a deadline.
        std::string rows_loaded;
        std::vector<std::string_view> keys;
        o.store.keys_page("", "", 100, keys);
        for (std::string_view k : keys) {
            auto e = o.store.peek(k);
            REQUIRE(e);
            CHECK(e->deadline == kv::kNoDeadline);
        }
        CHECK(keys.size() == 9);
        CHECK(o.store.peek("binary")->value == std::string("\x01\x02\xff\xfe\x80zero-free"));
        CHECK(o.store.peek("k\xc3(bad")->value == "v\xe2\x82");
        CHECK(o.store.peek("empty")->value.empty());
        CHECK(o.store.peek("big")->value == std::string(3000, 'z'));
        CHECK(o.store.peek("controls")->value == "tab\there\rcr back\\slash \x7f del");
        // Writable as version 2 right away.
        o.put("new", "v", kNow + 1'000);
    }
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "3");
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv WHERE flags != 0") == "0");
    CHECK(sql_rows(c.path, "SELECT hex(key), hex(value) FROM kv WHERE key != CAST('new' AS BLOB) ORDER BY key")
          == rows_before);
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv WHERE deadline IS NOT NULL") == "1");
    CHECK(sql_value(c.path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'kv_deadline'") == "1");
    CHECK(sql_value(c.path, "PRAGMA integrity_check") == "ok");
    // And opens again as version 2, with no second migration.
    kv::ManualClock clock;
    Opened o(c, clock);
    CHECK(o.store.size() == 10);
    CHECK(o.deadline("new") == kNow + 1'000);
}

TEST_CASE("a migration that cannot finish changes nothing and says why", "[persistence][migration]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.path = copy_fixture(dir, "schema-v1.db");
    // Another connection holds the write lock: BEGIN IMMEDIATE times out.
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::string err = startup_error(c);
    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    CHECK_THAT(err, Catch::Contains("migrating from schema version 1 to 3 failed, nothing was changed"));
    CHECK_THAT(err, Catch::Contains("database is locked"));
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "1");
    CHECK(sql_value(c.path, "SELECT count(*) FROM pragma_table_info('kv') WHERE name = 'deadline'") == "0");
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv") == "9");
    // Once the lock is free the migration goes through.
    CHECK(startup_error(c).empty());
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "3");
}

TEST_CASE("a newer schema version is refused, and the file is left alone", "[persistence][migration]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);
    }
    sql_value(c.path, "UPDATE meta SET value = '4' WHERE name = 'schema_version'");
    CHECK_THAT(
        startup_error(c),
        Catch::Contains("schema version 4 is unknown; this kvstored reads version 3 (and migrates versions 1 and 2)"));
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "4");
}

TEST_CASE("a deadline kvstored could not have written is refused at startup, naming its key", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);
    }
    // (A number at or before now, 0 and negatives included, is simply past:
    // the load deletes it with the other expired rows.)
    const char* bad[] = {"'soon'", "x'01'", "1e300", "'2030-01-01'", "281474976710656"};
    for (const char* deadline : bad) {
        INFO("deadline " << deadline);
        sql_value(c.path, "DELETE FROM kv");
        sql_value(c.path,
                  std::string("INSERT INTO kv(key, value, deadline) VALUES(CAST('odd' AS BLOB), CAST('v' AS BLOB), ")
                      + deadline + ")");
        CHECK_THAT(
            startup_error(c),
            Catch::Contains("the deadline of key 'odd' is not a unix time in ms from 1 to 281474976710655; it was not "
                            "written by kvstored"));
    }
}

TEST_CASE("a staged load keeps deadlines and skips entries already past theirs", "[persistence][expiry]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    int64_t in_an_hour = kv::system_clock().now_ms() + 3'600'000;
    {
        Database db(3, c);
        kv::Store::PutResult r;
        db.put("kept", "old", r);
        db.put("also", "old", r);
        REQUIRE(db.load_begin(1, false).empty());
        REQUIRE(db.load_add(1, "fresh", "1", in_an_hour).empty());
        REQUIRE(db.load_add(1, "stale", "3", 1).empty());  // 1970: long gone
        REQUIRE(db.load_add(1, "kept", "4", 1'000).empty());  // expired: "kept" keeps its value
        CHECK_THAT(db.load_add(1, "odd", "5", -1), Catch::StartsWith("ERR syntax the deadline of odd is not"));
        REQUIRE(db.load_begin(1, false).empty());
        CHECK_THAT(db.load_add(1, "odd", "5", kv::kMaxDeadline + 1), Catch::StartsWith("ERR syntax"));
        // That refusal discarded the load; again, and within the capacity of 3
        // only because the expired entries do not count.
        REQUIRE(db.load_begin(1, false).empty());
        REQUIRE(db.load_add(1, "fresh", "1", in_an_hour).empty());
        REQUIRE(db.load_add(1, "stale", "3", 1).empty());
        REQUIRE(db.load_add(1, "kept", "4", 1'000).empty());
        uint64_t ticket;
        std::string summary;
        REQUIRE(db.load_commit(1, ticket, summary).empty());
        CHECK(summary == "1 3 2");
        CHECK(db.store().peek("fresh")->deadline == in_an_hour);
        CHECK(db.store().peek("kept")->value == "old");
        CHECK_FALSE(db.store().peek("stale"));
        REQUIRE(wait_for(*db.persistence(), [&] { return db.durability(ticket) == Database::Durability::Durable; }));
    }
    CHECK(row_deadline(c, "fresh") == std::to_string(in_an_hour));
    CHECK(row_deadline(c, "stale").empty());
    Database db(3, c);
    CHECK(db.store().peek("fresh")->deadline == in_an_hour);
}

// --- issue 16: memcached's client flags, schema version 3 --------------------------------

TEST_CASE("flags round-trip through a restart, kept flags included", "[persistence][flags]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    kv::ManualClock clock;
    {
        Database db(100, c, kv::WhenFull::Refuse, clock);
        kv::Store::PutResult r;
        db.put("plain", "v", r);
        db.put("flagged", "v", kv::kNoDeadline, 7, r);
        db.put("max", "v", kNow + 60'000, 4'294'967'295, r);
        // A change in place keeps them, on disk too.
        db.put("flagged", "v2", kv::kKeepDeadline, kv::kKeepFlags, r);
        db.put("max", "v2", kv::kKeepDeadline, kv::kKeepFlags, r);
        // A new value clears them.
        db.put("cleared", "v", kv::kNoDeadline, 9, r);
        db.put("cleared", "w", r);
        bool found;
        db.set_deadline("flagged", kNow + 90'000, found);
        REQUIRE(found);
        REQUIRE(db.persistence()->flush(5s));
    }
    CHECK(sql_rows(c.path, "SELECT key, value, flags FROM kv ORDER BY key")
          == "cleared|w|0\nflagged|v2|7\nmax|v2|4294967295\nplain|v|0");
    Database db(100, c, kv::WhenFull::Refuse, clock);
    CHECK(db.store().peek("flagged")->flags == 7);
    CHECK(db.store().peek("flagged")->deadline == kNow + 90'000);
    CHECK(db.store().peek("max")->flags == 4'294'967'295u);
    CHECK(db.store().peek("max")->deadline == kNow + 60'000);
    CHECK(db.store().peek("plain")->flags == 0);
    CHECK(db.store().peek("cleared")->flags == 0);
}

TEST_CASE("a staged load keeps flags, and refuses flags out of range", "[persistence][flags]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Always);
    {
        Database db(10, c);
        REQUIRE(db.load_begin(1, false).empty());
        CHECK_THAT(db.load_add(1, "k", "v", kv::kNoDeadline, -1),
                   Catch::StartsWith("ERR syntax the flags of k are not a number from 0 to 4294967295"));
        REQUIRE(db.load_begin(1, false).empty());
        CHECK_THAT(db.load_add(1, "k", "v", kv::kNoDeadline, int64_t{1} << 32), Catch::StartsWith("ERR syntax"));
        REQUIRE(db.load_begin(1, false).empty());
        REQUIRE(db.load_add(1, "a", "1", kv::kNoDeadline, 5).empty());
        REQUIRE(db.load_add(1, "b", "2", kv::kNoDeadline).empty());
        REQUIRE(db.load_add(1, "c", "x", kv::kNoDeadline, 1).empty());
        REQUIRE(db.load_add(1, "c", "3", kv::kNoDeadline, 4'294'967'295).empty());  // the later one wins
        uint64_t ticket;
        std::string summary;
        REQUIRE(db.load_commit(1, ticket, summary).empty());
        CHECK(db.store().peek("a")->flags == 5);
        CHECK(db.store().peek("b")->flags == 0);
        CHECK(db.store().peek("c")->flags == 4'294'967'295u);
        REQUIRE(db.persistence()->flush(5s));
    }
    CHECK(sql_rows(c.path, "SELECT key, value, flags FROM kv ORDER BY key") == "a|1|5\nb|2|0\nc|3|4294967295");
    Database db(10, c);
    CHECK(db.store().peek("a")->flags == 5);
    CHECK(db.store().peek("c")->flags == 4'294'967'295u);
}

TEST_CASE("a schema-2 database written by kvstored before issue 16 is migrated and loses nothing",
          "[persistence][migration][flags]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.path = copy_fixture(dir, "schema-v2.db");
    REQUIRE(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "2");
    REQUIRE(sql_value(c.path, "SELECT count(*) FROM pragma_table_info('kv') WHERE name = 'flags'") == "0");
    std::string rows_before
        = sql_rows(c.path, "SELECT hex(key), hex(value), coalesce(deadline, 'none') FROM kv ORDER BY key");
    std::string floor_before = sql_value(c.path, "SELECT value FROM meta WHERE name = 'version_floor'");
    REQUIRE(sql_value(c.path, "SELECT count(*) FROM kv") == "11");
    {
        kv::ManualClock clock;
        Opened o(c, clock);
        CHECK(o.store.size() == 11);
        for (std::string_view k : o.store.keys("")) {
            INFO("key " << kv::printable_bytes(k));
            CHECK(o.store.peek(k)->flags == 0);
        }
        CHECK(o.store.peek("timed")->value == "until 2100");
        CHECK(o.deadline("timed") == 4'102'444'800'000);
        CHECK(o.store.peek("multi\nline key")->value == "line1\nline2");
        CHECK(o.store.peek("overwritten")->value == "third");
        CHECK(o.store.peek("binary")->value == std::string("\x01\x02\xff\xfe\x80zero-free"));
        // Versions stay above those the old kvstored handed out.
        CHECK(o.store.last_version() >= std::stoull(floor_before));
        // Writable as version 3 right away, flags included.
        o.put("new", "v", kNow + 1'000, 31);
        REQUIRE(o.persistence.flush(5s));
    }
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "3");
    CHECK(sql_rows(c.path,
                   "SELECT hex(key), hex(value), coalesce(deadline, 'none') FROM kv "
                   "WHERE key != CAST('new' AS BLOB) ORDER BY key")
          == rows_before);
    CHECK(sql_value(c.path, "SELECT count(*) FROM kv WHERE flags != 0") == "1");
    CHECK(sql_value(c.path, "SELECT \"notnull\" || ',' || dflt_value FROM pragma_table_info('kv') WHERE name = 'flags'")
          == "1,0");
    CHECK(sql_value(c.path, "PRAGMA integrity_check") == "ok");
    // And opens again as version 3, with no second migration.
    kv::ManualClock clock;
    Opened o(c, clock);
    CHECK(o.store.size() == 12);
    CHECK(o.store.peek("new")->flags == 31);
    CHECK(o.deadline("new") == kNow + 1'000);
}

TEST_CASE("a schema-2 migration that cannot finish changes nothing", "[persistence][migration][flags]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    c.path = copy_fixture(dir, "schema-v2.db");
    sqlite3* blocker = nullptr;
    REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::string err = startup_error(c);
    sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(blocker);
    CHECK_THAT(err, Catch::Contains("migrating from schema version 2 to 3 failed, nothing was changed"));
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "2");
    CHECK(sql_value(c.path, "SELECT count(*) FROM pragma_table_info('kv') WHERE name = 'flags'") == "0");
    CHECK(startup_error(c).empty());
    CHECK(sql_value(c.path, "SELECT value FROM meta WHERE name = 'schema_version'") == "3");
}

TEST_CASE("flags kvstored could not have written are refused at startup, naming the key", "[persistence][flags]")
{
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);
    }
    for (const char* flags : {"-1", "4294967296", "'red'", "1.5", "x'01'"}) {
        INFO("flags " << flags);
        sql_value(c.path, "DELETE FROM kv");
        sql_value(c.path,
                  std::string("INSERT INTO kv(key, value, flags) VALUES(CAST('odd' AS BLOB), CAST('v' AS BLOB), ")
                      + flags + ")");
        CHECK_THAT(startup_error(c),
                   Catch::Contains("the flags of key 'odd' are not an integer from 0 to 4294967295; they were not "
                                   "written by kvstored"));
    }
}
