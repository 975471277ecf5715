// Tests for kvstored's SQLite persistence (kvstored/persistence.h) and the
// Database facade: round trips in every sync mode, the startup refusals, and
// the failure path (a commit that cannot take the write lock) with recovery.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "database.h"
#include "held_replies.h"

using namespace std::chrono_literals;
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
    CHECK_THAT(startup_error(c), Catch::Contains("schema version 7 is unknown; this kvstored reads version 1"));

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

TEST_CASE("a stored value with a LF or longer than --max-value is refused at startup, naming its key",
          "[persistence][regression]")
{
    // What went wrong: values loaded from the database were not checked, so a
    // row written by hand could hold a LF (splitting a VALUE reply in two) or
    // a value longer than --max-value.
    TempDir dir;
    PersistConfig c = config(dir, SyncMode::Batch);
    {
        Database db(100, c);  // creates the schema
    }
    sql_value(c.path, "INSERT INTO kv VALUES(CAST('fine' AS BLOB), CAST('ok' AS BLOB))");
    sql_value(c.path, "INSERT INTO kv VALUES(CAST('split' AS BLOB), CAST('a' || char(10) || 'b' AS BLOB))");
    CHECK_THAT(startup_error(c), Catch::Contains("the value of key 'split' contains a line feed"));
    sql_value(c.path, "DELETE FROM kv WHERE key = CAST('split' AS BLOB)");
    sql_value(c.path, "INSERT INTO kv VALUES(CAST('big' AS BLOB), zeroblob(101))");
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
            REQUIRE(db.load_add(1, "n" + std::to_string(i), "v").empty());
        CHECK(db.load_add(1, "n5", "v")
              == "ERR full the load has more than 5 entries, the capacity of the store; nothing was changed\n");
        uint64_t ticket;
        std::string summary;
        CHECK_THAT(db.load_commit(1, ticket, summary), Catch::Contains("no load was begun"));
        CHECK(db.store().size() == 3);

        // Without replace, keys already present do not count twice: a, b, d, e fit; f does not.
        REQUIRE(db.load_begin(1, false).empty());
        for (const char* k : {"a", "b", "d", "e", "f"})
            REQUIRE(db.load_add(1, k, "new").empty());
        CHECK(db.load_commit(1, ticket, summary)
              == "ERR full the store would hold 6 entries, more than its capacity of 5; nothing was changed\n");
        CHECK(db.store().peek("a")->value == "old");
        CHECK(db.store().size() == 3);

        // Another client cannot start a load while one is staged.
        REQUIRE(db.load_begin(1, false).empty());
        CHECK_THAT(db.load_begin(2, false), Catch::StartsWith("ERR busy"));
        for (const char* k : {"a", "b", "d", "e"})
            REQUIRE(db.load_add(1, k, "new").empty());
        // The write lock is taken by another connection: the load waits for it as one transaction.
        sqlite3* blocker = nullptr;
        REQUIRE(sqlite3_open(c.path.c_str(), &blocker) == SQLITE_OK);
        REQUIRE(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
        REQUIRE(db.load_commit(1, ticket, summary).empty());
        CHECK(summary == "4 5");
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
        error = db.load_add(7, "k" + std::to_string(added), value);
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
