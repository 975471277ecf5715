// persistence.cc: see persistence.h.
#include "persistence.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "command.h"
#include "log.h"

namespace kv {
namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Bump when the tables change; an unknown version is refused, never guessed at.
// 1: kv(key, value), meta(schema_version). 2 (issue 14): kv.deadline (unix
// ms, NULL for none) with a partial index; meta version_floor. 3 (issue 16):
// kv.flags (memcached's client flags, INTEGER NOT NULL DEFAULT 0). A file of
// an older version is migrated at open (migrate).
constexpr int kSchemaVersion = 3;
constexpr auto kRetryDelay = 1s;

}  // namespace

const char* sync_mode_name(SyncMode mode)
{
    switch (mode) {
    case SyncMode::Always:
        return "always";
    case SyncMode::Batch:
        return "batch";
    case SyncMode::Off:
        return "off";
    }
    return "?";
}

Persistence::Persistence(const PersistConfig& config, Store& store)
    : config_(config), notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
{
    if (!notify_)
        throw std::runtime_error(log::errno_text("eventfd"));
    open();
    if (int found = check_schema(); found != kSchemaVersion)
        migrate(found);
    load(store);
    put_stmt_ = prepare("INSERT INTO kv(key, value, deadline, flags) VALUES(?1, ?2, ?3, ?4) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, deadline = excluded.deadline, "
                        "flags = excluded.flags");
    set_deadline_stmt_ = prepare("UPDATE kv SET deadline = ?2 WHERE key = ?1");
    erase_stmt_ = prepare("DELETE FROM kv WHERE key = ?1");
    clear_stmt_ = prepare("DELETE FROM kv");
    // Uses the partial index kv_deadline: `deadline <= ?` implies `deadline IS NOT NULL`.
    expire_stmt_ = prepare("DELETE FROM kv WHERE deadline <= ?1");
    // Versions only grow, so the newest batch holds the highest; the WHERE
    // keeps the floor from ever going down all the same.
    floor_stmt_ = prepare("INSERT INTO meta(name, value) VALUES('version_floor', ?1) "
                          "ON CONFLICT(name) DO UPDATE SET value = excluded.value "
                          "WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)");
    flush_at_stmt_ = prepare("INSERT INTO meta(name, value) VALUES('flush_at', ?1) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    begin_stmt_ = prepare("BEGIN IMMEDIATE");
    commit_stmt_ = prepare("COMMIT");
    rollback_stmt_ = prepare("ROLLBACK");
    writer_ = std::thread([this] { writer_loop(); });
}

Persistence::~Persistence()
{
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_writer_.notify_one();
    writer_.join();
}

void Persistence::fail(const std::string& what) const
{
    std::string why = db_ ? sqlite3_errmsg(db_.get()) : "out of memory";
    throw std::runtime_error("sqlite " + what + " " + config_.path + ": " + why);
}

// SQLite says only "unable to open database file"; find out why ourselves.
std::string Persistence::open_problem() const
{
    const std::string& path = config_.path;
    if (::access(path.c_str(), F_OK) == 0)
        return ::access(path.c_str(), R_OK | W_OK) == 0 ? "" : log::errno_text(path);
    // With its trailing slash, so never empty ("/" for a file in the root).
    // (No `dir = "/"` fallback: besides being dead, it made GCC 12 -O3 warn
    // falsely, -Wrestrict, GCC bug 105329.)
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    return ::access(dir.c_str(), W_OK | X_OK) == 0 ? "" : log::errno_text("directory " + dir);
}

void Persistence::open()
{
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(config_.path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(raw);  // owned even on failure: sqlite hands back a handle to close
    if (rc != SQLITE_OK) {
        std::string problem = open_problem();
        if (problem.empty())
            fail("open");
        throw std::runtime_error("sqlite open " + config_.path + ": " + sqlite3_errmsg(db_.get()) + " (" + problem
                                 + ")");
    }
    // Another process holding a write lock (an admin's sqlite3 shell) delays us
    // briefly instead of failing the commit at once.
    sqlite3_busy_timeout(db_.get(), static_cast<int>(config_.busy_timeout.count()));
    // SQLite answers with the mode it now uses; it keeps another one where WAL
    // cannot work (":memory:", some file systems) without an error, and the
    // promises of docs/persistence.md (and the backup advice) assume WAL.
    if (std::string mode = pragma("PRAGMA journal_mode = WAL"); mode != "wal")
        throw std::runtime_error("sqlite " + config_.path + ": PRAGMA journal_mode = WAL: SQLite kept journal mode '"
                                 + mode + "'; kvstored needs a database file where WAL works (a local file system)");
    exec(config_.mode == SyncMode::Off ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL");
}

void Persistence::exec(const char* sql)
{
    char* err = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_.get());
        sqlite3_free(err);
        throw std::runtime_error("sqlite " + config_.path + ": " + sql + ": " + msg);
    }
}

// Runs a statement that answers one value (a PRAGMA) and returns it as text.
std::string Persistence::pragma(const char* sql)
{
    std::string value;
    char* err = nullptr;
    auto first_column = [](void* out, int n, char** values, char**) {
        if (n > 0 && values[0])
            *static_cast<std::string*>(out) = values[0];
        return 0;
    };
    if (sqlite3_exec(db_.get(), sql, first_column, &value, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_.get());
        sqlite3_free(err);
        throw std::runtime_error("sqlite " + config_.path + ": " + sql + ": " + msg);
    }
    return value;
}

Persistence::Stmt Persistence::prepare(const char* sql)
{
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK)
        fail("prepare");
    return Stmt(raw);
}

// A new file gets the schema; an existing one must be ours, at a version we
// read. Returns that version.
int Persistence::check_schema()
{
    Stmt tables = prepare("SELECT count(*), sum(name = 'meta') FROM sqlite_schema WHERE type = 'table'");
    if (sqlite3_step(tables.get()) != SQLITE_ROW)
        fail("read schema of");
    int n_tables = sqlite3_column_int(tables.get(), 0);
    bool has_meta = sqlite3_column_int(tables.get(), 1) > 0;
    tables.reset();
    if (n_tables > 0 && !has_meta)
        throw std::runtime_error("sqlite " + config_.path + ": not a kvstore database (no meta table)");
    if (n_tables == 0) {
        exec("BEGIN");
        exec("CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
        exec("CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, deadline INTEGER, "
             "flags INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID");
        exec("CREATE INDEX kv_deadline ON kv(deadline) WHERE deadline IS NOT NULL");
        exec(("INSERT INTO meta VALUES('schema_version', '" + std::to_string(kSchemaVersion) + "')").c_str());
        exec("COMMIT");
        LOG_INFO("created database %s (schema version %d)", config_.path.c_str(), kSchemaVersion);
        return kSchemaVersion;
    }
    Stmt version = prepare("SELECT value FROM meta WHERE name = 'schema_version'");
    if (sqlite3_step(version.get()) != SQLITE_ROW)
        throw std::runtime_error("sqlite " + config_.path + ": no schema_version in its meta table");
    int found = sqlite3_column_int(version.get(), 0);
    if (found < 1 || found > kSchemaVersion)
        throw std::runtime_error("sqlite " + config_.path + ": schema version " + std::to_string(found)
                                 + " is unknown; this kvstored reads version " + std::to_string(kSchemaVersion)
                                 + " (and migrates versions 1 and 2)");
    return found;
}

// Version 1 or 2 -> 3 in one transaction: either the file is all version 3
// or, after any failure, still all the version it was (and kvstored does not
// start). The entries themselves are not touched: they simply have no
// deadline (from 1) and flags 0.
void Persistence::migrate(int from)
{
    std::string steps = std::to_string(from) + " to " + std::to_string(kSchemaVersion);
    try {
        exec("BEGIN IMMEDIATE");
        if (from < 2) {
            exec("ALTER TABLE kv ADD COLUMN deadline INTEGER");
            exec("CREATE INDEX kv_deadline ON kv(deadline) WHERE deadline IS NOT NULL");
        }
        exec("ALTER TABLE kv ADD COLUMN flags INTEGER NOT NULL DEFAULT 0");
        exec(
            ("UPDATE meta SET value = '" + std::to_string(kSchemaVersion) + "' WHERE name = 'schema_version'").c_str());
        exec("COMMIT");
    } catch (const std::runtime_error& e) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);  // harmless when none is open
        throw std::runtime_error("migrating from schema version " + steps
                                 + " failed, nothing was changed: " + e.what());
    }
    LOG_INFO("migrated database %s from schema version %s (entries may have deadlines and memcached flags)",
             config_.path.c_str(), steps.c_str());
}

// The version floor recorded by the last commit; 0 when none was (a new or
// just-migrated database).
uint64_t Persistence::read_version_floor()
{
    Stmt floor = prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'version_floor'");
    int rc = sqlite3_step(floor.get());
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        fail("read the version floor of");
    int64_t v = sqlite3_column_int64(floor.get(), 0);
    return v > 0 ? static_cast<uint64_t>(v) : 0;
}

// The delayed flush_all recorded by the last commit; 0 when none is pending.
int64_t Persistence::read_pending_flush()
{
    Stmt at = prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'flush_at'");
    int rc = sqlite3_step(at.get());
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        fail("read the pending flush_all of");
    return std::max<int64_t>(sqlite3_column_int64(at.get(), 0), 0);
}

// Reads only: the rows that expired while kvstored was stopped are skipped
// here and deleted by the first commit (one queued expire), so kvstored starts
// even while another process holds the database's write lock.
void Persistence::load(Store& store)
{
    int64_t now = store.clock().now_ms();
    Stmt count = prepare("SELECT count(*), coalesce(sum(deadline > 0 AND deadline <= ?1), 0) FROM kv");
    sqlite3_bind_int64(count.get(), 1, now);
    if (sqlite3_step(count.get()) != SQLITE_ROW)
        fail("count entries in");
    auto expired = static_cast<size_t>(sqlite3_column_int64(count.get(), 1));
    auto n = static_cast<size_t>(sqlite3_column_int64(count.get(), 0)) - expired;
    if (n > store.capacity())
        throw std::runtime_error("database " + config_.path + " holds " + std::to_string(n)
                                 + " entries, more than the capacity of " + std::to_string(store.capacity())
                                 + "; start with --capacity " + std::to_string(n) + " or more");
    // Every version handed out from now on, those the loaded entries get
    // included, exceeds any a client saw before the restart (a cas must never
    // match a version from an earlier life).
    store.raise_version_floor(std::max(read_version_floor(), static_cast<uint64_t>(std::max<int64_t>(now, 0)) * 1000));
    pending_flush_ = read_pending_flush();
    Stmt rows = prepare(
        "SELECT key, value, deadline, flags FROM kv WHERE deadline IS NULL OR deadline <= 0 OR deadline > ?1");
    sqlite3_bind_int64(rows.get(), 1, now);
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
        auto column = [&](int i) {
            const void* p = sqlite3_column_blob(rows.get(), i);
            return std::string_view(static_cast<const char*>(p),
                                    static_cast<size_t>(sqlite3_column_bytes(rows.get(), i)));
        };
        check_entry(column(0), column(1));
        store.put(column(0), column(1), check_deadline(column(0), rows.get(), 2),
                  check_flags(column(0), rows.get(), 3));
    }
    if (rc != SQLITE_DONE)
        fail("load from");
    // The first commit deletes the rows that expired while kvstored was
    // stopped and records the versions just given to the loaded entries, so
    // that the next start hands out none of them again.
    if (expired > 0 || store.stored() > 0)
        enqueue(Change{Change::Kind::Expire, {}, {}, now, store.last_version()});
    std::string expired_note;
    if (expired > 0)
        expired_note
            = "; " + std::to_string(expired) + " expired while kvstored was stopped (deleted by the first commit)";
    LOG_INFO("loaded %zu entries from %s (sync %s)%s", store.size(), config_.path.c_str(), sync_mode_name(config_.mode),
             expired_note.c_str());
}

// kvstored writes only entries it can serve; anything else was put there by
// hand (or kvstored now runs with a smaller --max-value). Keys follow the
// store's rule, not the line protocol's, and values may hold any bytes: the
// Redis door writes such entries (docs/protocol.md, "Keys and values written
// through other doors"). A value longer than --max-value would break that
// promise, and dropping it would lose data silently: refuse to start, naming
// the key.
void Persistence::check_entry(std::string_view key, std::string_view value) const
{
    if (auto why = store_key_problem(key); !why.empty())
        throw std::runtime_error("database " + config_.path + " holds an invalid key (" + std::string(why)
                                 + "); it was not written by kvstored");
    if (value.size() > config_.max_value)
        throw std::runtime_error("database " + config_.path + ": the value of key '" + printable_bytes(key) + "' is "
                                 + std::to_string(value.size()) + " bytes, more than --max-value "
                                 + std::to_string(config_.max_value) + "; start with --max-value "
                                 + std::to_string(value.size()) + " or more");
}

// A deadline column holds NULL (none) or an integer from 1 to kMaxDeadline
// (unix ms). (Rows at or before now are not loaded.)
int64_t Persistence::check_deadline(std::string_view key, sqlite3_stmt* rows, int column) const
{
    int type = sqlite3_column_type(rows, column);
    if (type == SQLITE_NULL)
        return kNoDeadline;
    int64_t deadline = sqlite3_column_int64(rows, column);
    if (type != SQLITE_INTEGER || deadline <= 0 || deadline > kMaxDeadline)
        throw std::runtime_error("database " + config_.path + ": the deadline of key '" + printable_bytes(key)
                                 + "' is not a unix time in ms from 1 to " + std::to_string(kMaxDeadline)
                                 + "; it was not written by kvstored");
    return deadline;
}

// A flags column holds an integer from 0 to UINT32_MAX (NOT NULL DEFAULT 0).
uint32_t Persistence::check_flags(std::string_view key, sqlite3_stmt* rows, int column) const
{
    int64_t flags = sqlite3_column_int64(rows, column);
    if (sqlite3_column_type(rows, column) != SQLITE_INTEGER || flags < 0 || flags > int64_t{UINT32_MAX})
        throw std::runtime_error("database " + config_.path + ": the flags of key '" + printable_bytes(key)
                                 + "' are not an integer from 0 to 4294967295; they were not written by kvstored");
    return static_cast<uint32_t>(flags);
}

uint64_t Persistence::put(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags,
                          uint64_t version)
{
    return enqueue(Change{Change::Kind::Put, std::string(key), std::string(value), deadline, version, flags});
}

uint64_t Persistence::set_deadline(std::string_view key, int64_t deadline, uint64_t version)
{
    return enqueue(Change{Change::Kind::SetDeadline, std::string(key), {}, deadline, version});
}

uint64_t Persistence::erase(std::string_view key)
{
    return enqueue(Change{Change::Kind::Erase, std::string(key), {}});
}

uint64_t Persistence::clear()
{
    return enqueue(Change{Change::Kind::Clear, {}, {}});
}

uint64_t Persistence::expire(int64_t now_ms)
{
    return enqueue(Change{Change::Kind::Expire, {}, {}, now_ms});
}

uint64_t Persistence::flush_at(int64_t unix_ms)
{
    return enqueue(Change{Change::Kind::FlushAt, {}, {}, unix_ms});
}

uint64_t Persistence::put_all(bool clear_first, std::vector<Entry> entries, uint64_t version)
{
    uint64_t seq;
    {
        // One lock for all: the writer takes the whole queue at once (and a
        // failed batch goes back whole), so these land in one transaction.
        std::lock_guard lock(mu_);
        seq = clear_first ? enqueue_locked(Change{Change::Kind::Clear, {}, {}}) : next_seq_ - 1;
        for (Entry& e : entries)
            seq = enqueue_locked(
                Change{Change::Kind::Put, std::move(e.key), std::move(e.value), e.deadline, 0, e.flags});
        if (!entries.empty())
            queue_.back().version = version;  // the batch's floor: the highest version of the load
    }
    wake_writer_.notify_one();
    return seq;
}

uint64_t Persistence::enqueue(Change change)
{
    bool wake;
    uint64_t seq;
    {
        std::lock_guard lock(mu_);
        seq = enqueue_locked(std::move(change));
        wake = config_.mode == SyncMode::Always || queue_.size() >= config_.batch_limit
            || queue_bytes_ >= config_.batch_limit_bytes;
    }
    if (wake)
        wake_writer_.notify_one();
    return seq;
}

uint64_t Persistence::enqueue_locked(Change change)
{
    forget_committed_marks();
    size_t weight = change_weight(change.key, change.value);
    enqueued_bytes_ += weight;
    change.seq = next_seq_++;
    change.end = enqueued_bytes_;
    marks_.push_back(Mark{change.end, weight});
    queue_bytes_ += weight;
    queue_.push_back(std::move(change));
    return next_seq_ - 1;
}

// Loop thread: the marks of committed changes are no longer asked for.
void Persistence::forget_committed_marks()
{
    uint64_t done = durable();
    while (!marks_.empty() && first_mark_ <= done) {
        marks_.pop_front();
        ++first_mark_;
    }
}

uint64_t Persistence::pending_bytes_through(uint64_t seq) const
{
    if (seq < first_mark_ || seq - first_mark_ >= marks_.size() || seq <= durable())
        return 0;
    uint64_t committed = durable_bytes_.load(std::memory_order_acquire);
    uint64_t end = marks_[seq - first_mark_].end;
    return end > committed ? end - committed : 0;
}

size_t Persistence::weight(uint64_t seq) const
{
    if (seq < first_mark_ || seq - first_mark_ >= marks_.size())
        return 0;
    return marks_[seq - first_mark_].weight;
}

std::string Persistence::failure() const
{
    std::lock_guard lock(mu_);
    return failure_;
}

void Persistence::drain()
{
    uint64_t n;
    while (::read(notify_.get(), &n, sizeof n) == sizeof n) { }
    forget_committed_marks();
}

bool Persistence::flush(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mu_);
    flush_target_ = next_seq_ - 1;
    uint64_t target = flush_target_;
    wake_writer_.notify_one();
    return committed_.wait_for(lock, timeout, [&] { return durable() >= target; });
}

// Called with mu_ held: whether the writer should commit now.
bool Persistence::commit_due(SteadyClock::time_point since) const
{
    if (queue_.empty())
        return false;
    if (stopping_ || flush_target_ > durable() || queue_.size() >= config_.batch_limit
        || queue_bytes_ >= config_.batch_limit_bytes)
        return true;
    switch (config_.mode) {
    case SyncMode::Always:
        return true;
    case SyncMode::Batch:
        return SteadyClock::now() - since >= config_.interval;
    case SyncMode::Off:
        return false;
    }
    return false;
}

void Persistence::writer_loop()
{
    std::vector<Change> batch;
    auto last = SteadyClock::now();
    std::unique_lock lock(mu_);
    int shutdown_retries = 3;
    for (;;) {
        if (failed())
            wake_writer_.wait_for(lock, kRetryDelay, [&] { return stopping_; });
        else
            wake_writer_.wait_for(lock, config_.interval, [&] { return commit_due(last) || stopping_; });
        if (queue_.empty()) {
            if (stopping_)
                return;
            last = SteadyClock::now();
            continue;
        }
        if (!failed() && !commit_due(last))
            continue;
        // Take the whole queue: this is the group in group commit.
        batch.swap(queue_);
        size_t batch_bytes = queue_bytes_;
        queue_bytes_ = 0;
        lock.unlock();
        std::string error = commit(batch);
        lock.lock();
        last = SteadyClock::now();
        if (!error.empty()) {
            // Keep the batch, in order, ahead of anything queued meanwhile.
            queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
            queue_bytes_ += batch_bytes;
            if (stopping_ && --shutdown_retries == 0) {
                LOG_ERR("giving up at shutdown: %zu change(s) not saved to %s", queue_.size(), config_.path.c_str());
                return;
            }
        }
        if (error.empty())
            durable_bytes_.store(batch.back().end, std::memory_order_release);  // before durable_ (publish)
        uint64_t seq = error.empty() ? batch.back().seq : durable();
        batch.clear();
        publish(seq, error);
    }
}

// Called with mu_ held.
void Persistence::publish(uint64_t seq, const std::string& error)
{
    bool was_failed = failed();
    failure_ = error;
    failed_.store(!error.empty(), std::memory_order_release);
    durable_.store(seq, std::memory_order_release);
    if (error.empty()) {
        commits_.fetch_add(1, std::memory_order_relaxed);
        last_commit_unix_.store(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count(),
            std::memory_order_relaxed);
        if (was_failed)
            LOG_WARN("commit to %s works again; accepting writes", config_.path.c_str());
    } else if (!was_failed) {
        LOG_ERR("commit to %s failed: %s; refusing writes, retrying every second", config_.path.c_str(), error.c_str());
    }
    committed_.notify_all();
    uint64_t one = 1;
    (void)!::write(notify_.get(), &one, sizeof one);
}

// The statement that applies `c`, its parameters bound (valid while `c` lives).
sqlite3_stmt* Persistence::bind(const Change& c)
{
    auto bind_blob = [](sqlite3_stmt* s, int i, const std::string& bytes) {
        sqlite3_bind_blob(s, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
    };
    auto bind_deadline = [](sqlite3_stmt* s, int i, int64_t deadline) {
        if (deadline == kNoDeadline)
            sqlite3_bind_null(s, i);
        else
            sqlite3_bind_int64(s, i, deadline);
    };
    switch (c.kind) {
    case Change::Kind::Put:
        bind_blob(put_stmt_.get(), 1, c.key);
        bind_blob(put_stmt_.get(), 2, c.value);
        bind_deadline(put_stmt_.get(), 3, c.deadline);
        sqlite3_bind_int64(put_stmt_.get(), 4, c.flags);
        return put_stmt_.get();
    case Change::Kind::SetDeadline:
        bind_blob(set_deadline_stmt_.get(), 1, c.key);
        bind_deadline(set_deadline_stmt_.get(), 2, c.deadline);
        return set_deadline_stmt_.get();
    case Change::Kind::Erase:
        bind_blob(erase_stmt_.get(), 1, c.key);
        return erase_stmt_.get();
    case Change::Kind::Clear:
        return clear_stmt_.get();
    case Change::Kind::Expire:
        sqlite3_bind_int64(expire_stmt_.get(), 1, c.deadline);
        return expire_stmt_.get();
    case Change::Kind::FlushAt:
        sqlite3_bind_int64(flush_at_stmt_.get(), 1, c.deadline);
        return flush_at_stmt_.get();
    }
    return nullptr;  // not reached: -Wswitch checks that every kind has its case
}

std::string Persistence::commit(const std::vector<Change>& batch)
{
    sqlite3* db = db_.get();
    auto run = [db](sqlite3_stmt* s) {
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        return rc == SQLITE_DONE || rc == SQLITE_ROW;
    };
    if (!run(begin_stmt_.get()))
        return sqlite3_errmsg(db);
    uint64_t floor = 0;
    for (const Change& c : batch) {
        sqlite3_stmt* s = bind(c);
        bool ok = s && run(s);
        if (s)
            sqlite3_clear_bindings(s);
        if (!ok) {
            std::string error = sqlite3_errmsg(db);
            run(rollback_stmt_.get());
            return error;
        }
        floor = std::max(floor, c.version);
    }
    if (floor > 0) {
        sqlite3_bind_int64(floor_stmt_.get(), 1, static_cast<int64_t>(floor));
        bool ok = run(floor_stmt_.get());
        sqlite3_clear_bindings(floor_stmt_.get());
        if (!ok) {
            std::string error = sqlite3_errmsg(db);
            run(rollback_stmt_.get());
            return error;
        }
    }
    if (!run(commit_stmt_.get())) {
        std::string error = sqlite3_errmsg(db);
        run(rollback_stmt_.get());
        return error;
    }
    return "";
}

}  // namespace kv
