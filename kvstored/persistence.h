// persistence.h: the SQLite copy of the store, and the promise it keeps.
//
// The event loop never touches disk. It queues each change here and gets a
// sequence number back; a writer thread commits queued changes in batches
// (group commit: everything that arrived while one commit was in flight goes
// into the next transaction) and publishes the highest committed sequence
// number, waking the loop through an eventfd.
//
// Modes (docs/persistence.md):
//   always: a write is acknowledged only once durable() covers it; every
//           commit is synchronous=FULL (fsync'd).
//   batch:  acknowledged at once; committed (synchronous=FULL) within the
//           sync interval, or sooner when the queue grows large.
//   off:    acknowledged at once; committed when the queue grows large and at
//           shutdown, with synchronous=OFF (no fsync).
// In batch and off modes "at once" holds while the disk keeps up: replies to
// writes more than max_uncommitted changes, or max_uncommitted_bytes, ahead of
// the last commit wait.
//
// Memory: every queued change holds a copy of its key and value until it is
// committed. The queue's size is counted in bytes (change_weight()), so the
// loop can bound it: a held reply weighs its change, which counts against its
// client's output bound, and past max_queue_bytes no client may start another
// write until the queue has shrunk (Database::write_backlogged()).
// A failed commit is kept and retried every second; until one succeeds,
// failure() is non-empty and kvstored refuses new writes.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fd.h"
#include "store.h"

namespace kv {

enum class SyncMode { Always, Batch, Off };

// The global cap on the bytes of uncommitted changes (docs/persistence.md):
// once the queue holds this much, a client whose write finds it so takes no
// further command until that write's reply is released. The queue may exceed
// the cap by at most one change per client (the write that found it full)
// plus one admin load.
inline constexpr size_t kMaxQueueBytes = 64u << 20;
// What a queued change costs beyond its key and value bytes: the Change
// itself, its bookkeeping on the loop thread and allocator headers.
inline constexpr size_t kChangeOverhead = 128;

inline size_t change_weight(std::string_view key, std::string_view value)
{
    return key.size() + value.size() + kChangeOverhead;
}

const char* sync_mode_name(SyncMode mode);

struct PersistConfig {
    std::string path;
    SyncMode mode = SyncMode::Batch;
    std::chrono::milliseconds interval{1000};
    size_t batch_limit = 10000;  // queued changes that trigger a commit in batch and off modes
    size_t batch_limit_bytes = 8u << 20;  // queued bytes (change_weight) that trigger one too
    // batch and off: a write is acknowledged at once only while fewer than this
    // many earlier changes are uncommitted; past that its reply waits for a
    // commit, so clients that write faster than the disk commits are slowed
    // down instead of piling up memory and changes a crash would lose.
    size_t max_uncommitted = 20000;
    // The same, in bytes of uncommitted changes (change_weight): 20,000 saves
    // of 32 KiB would otherwise be 640 MiB of copies waiting for the disk.
    size_t max_uncommitted_bytes = 16u << 20;
    // The global cap (kMaxQueueBytes above), for every mode.
    size_t max_queue_bytes = kMaxQueueBytes;
    // --max-value: a stored value longer than this, or holding a LF, makes
    // the database refuse to load (it could not be served as a reply line).
    size_t max_value = 64 * 1024;
    // How long a commit waits for another process's lock before it fails.
    std::chrono::milliseconds busy_timeout{5000};
};

class Persistence {
public:
    // Opens or creates the database, migrates a version-1 or version-2
    // database to the current schema (one transaction), loads every entry
    // whose deadline has not passed (by store.clock()) into `store` with its
    // deadline and flags, queues the
    // deletion of the others (one expire), and raises the store's version
    // floor to the one recorded (version_floor in meta) or to now in
    // microseconds, whichever is higher. Only creating or migrating the file
    // writes to it before the writer thread starts.
    // Throws std::runtime_error naming the path and SQLite's error text when
    // the file cannot be opened, cannot use WAL mode, is not a kvstore
    // database, has an unknown schema version, holds more entries than the
    // store's capacity, or holds an entry kvstored could not have written (an
    // invalid key; a value longer than max_value; a deadline that is not a
    // positive integer; flags that are not an integer from 0 to UINT32_MAX:
    // the message names the key).
    Persistence(const PersistConfig& config, Store& store);
    // Commits everything still queued (retrying briefly on failure), then stops.
    ~Persistence();

    Persistence(const Persistence&) = delete;
    Persistence& operator=(const Persistence&) = delete;

    // Queue a change; returns its sequence number. Called on the loop thread
    // only. Deadlines are unix ms, kNoDeadline for none (never kKeepDeadline:
    // the caller passes the deadline the entry now has). `version` is the
    // entry's new version (Store::Entry::version): each commit records the
    // highest of its batch as the version floor, so versions handed out after
    // a restart are higher than any a client has seen. `flags`: the entry's
    // memcached client flags (never kKeepFlags either).
    uint64_t put(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags, uint64_t version);
    uint64_t set_deadline(std::string_view key, int64_t deadline, uint64_t version);
    uint64_t erase(std::string_view key);
    uint64_t clear();
    // Deletes every row whose deadline is at or before `now_ms`: what the
    // store reclaimed in memory since the last expire (lazily, actively or to
    // make room) goes in one statement instead of a delete per key.
    uint64_t expire(int64_t now_ms);
    // memcached's delayed flush_all (Server::flush_at): the time every entry
    // is to be deleted, unix ms, or 0 for none; kept in meta so that a
    // restart still carries it out. pending_flush() is what the file held at
    // start.
    uint64_t flush_at(int64_t unix_ms);
    int64_t pending_flush() const { return pending_flush_; }
    // Queues, in one step, a clear (when `clear_first`) and a put of every
    // entry: they always go into the same transaction, so the database holds
    // either all of them or none. `version` is the highest version the
    // entries got. Returns the sequence number of the last.
    struct Entry {
        std::string key;
        std::string value;
        int64_t deadline = kNoDeadline;
        uint32_t flags = 0;
    };
    uint64_t put_all(bool clear_first, std::vector<Entry> entries, uint64_t version);

    // Every change with a sequence number <= durable() is committed.
    uint64_t durable() const { return durable_.load(std::memory_order_acquire); }
    // Loop thread only: the bytes (change_weight) of the changes queued and
    // not yet committed; how many of them lie ahead of change `seq`, itself
    // included (0 once it is committed); and the weight of change `seq`.
    uint64_t pending_bytes() const { return enqueued_bytes_ - durable_bytes_.load(std::memory_order_acquire); }
    uint64_t pending_bytes_through(uint64_t seq) const;
    size_t weight(uint64_t seq) const;
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    std::string failure() const;

    // Readable when durable() or failed() may have changed; call drain() then.
    int notify_fd() const { return notify_.get(); }
    void drain();

    // Asks the writer to commit everything queued now and waits for it, up to
    // `timeout`. True when it all reached the database.
    bool flush(std::chrono::milliseconds timeout);

    const PersistConfig& config() const { return config_; }
    uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
    // Wall-clock time of the last successful commit (0 = none yet).
    int64_t last_commit_unix() const { return last_commit_unix_.load(std::memory_order_relaxed); }

private:
    struct Change {
        enum class Kind { Put, SetDeadline, Erase, Clear, Expire, FlushAt } kind;
        std::string key;
        std::string value;
        int64_t deadline = kNoDeadline;  // Put, SetDeadline; Expire: its "now"; FlushAt: its time
        uint64_t version = 0;  // Put, SetDeadline (0: none to record)
        uint32_t flags = 0;  // Put
        uint64_t seq = 0;
        uint64_t end = 0;  // enqueued_bytes_ once this change was queued
    };
    // Loop thread: what pending_bytes_through() and weight() need of each
    // uncommitted change; marks_[i] is change first_mark_ + i.
    struct Mark {
        uint64_t end;
        size_t weight;
    };
    struct DbClose {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    struct StmtFinalize {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    using Db = std::unique_ptr<sqlite3, DbClose>;
    using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

    void open();
    // The schema version of the file, after creating the tables in an empty one.
    int check_schema();
    void migrate(int from);
    void load(Store& store);
    uint64_t read_version_floor();
    int64_t read_pending_flush();
    Stmt prepare(const char* sql);
    void exec(const char* sql);
    [[noreturn]] void fail(const std::string& what) const;
    std::string open_problem() const;
    std::string pragma(const char* sql);
    void check_entry(std::string_view key, std::string_view value) const;
    int64_t check_deadline(std::string_view key, sqlite3_stmt* rows, int column) const;
    uint32_t check_flags(std::string_view key, sqlite3_stmt* rows, int column) const;

    // Called with mu_ held.
    uint64_t enqueue_locked(Change change);
    uint64_t enqueue(Change change);
    void forget_committed_marks();
    bool commit_due(std::chrono::steady_clock::time_point since) const;
    void writer_loop();
    sqlite3_stmt* bind(const Change& c);
    std::string commit(const std::vector<Change>& batch);  // "" on success
    void publish(uint64_t seq, const std::string& error);

    PersistConfig config_;
    Db db_;
    Stmt put_stmt_, set_deadline_stmt_, erase_stmt_, clear_stmt_, expire_stmt_, floor_stmt_, flush_at_stmt_;
    int64_t pending_flush_ = 0;
    Stmt begin_stmt_, commit_stmt_, rollback_stmt_;
    UniqueFd notify_;

    mutable std::mutex mu_;  // guards everything below it up to the atomics
    std::condition_variable wake_writer_;
    std::condition_variable committed_;
    std::vector<Change> queue_;
    size_t queue_bytes_ = 0;  // change_weight of everything in queue_
    uint64_t next_seq_ = 1;
    uint64_t flush_target_ = 0;  // a flush() waits for durable() to reach this
    bool stopping_ = false;
    std::string failure_;

    std::atomic<uint64_t> durable_{0};
    std::atomic<uint64_t> durable_bytes_{0};  // `end` of the last committed change

    // Loop thread only (written under mu_ too, where the writer never reads them).
    uint64_t enqueued_bytes_ = 0;
    std::deque<Mark> marks_;
    uint64_t first_mark_ = 1;
    std::atomic<bool> failed_{false};
    std::atomic<uint64_t> commits_{0};
    std::atomic<int64_t> last_commit_unix_{0};
    std::thread writer_;  // last: started once everything above exists
};

}  // namespace kv
