// database.h: the store as the rest of kvstored sees it. Reads come from
// memory; a write changes memory and queues the same change for persistence
// (when enabled) in one step, so the two never disagree about order.
//
// Every write returns a ticket. With --sync always a reply to a write may be
// sent only once durability(ticket) is Durable; the other modes acknowledge at
// once. While storage is failing, writes are refused before they touch memory.
//
// An admin `load` is staged here (load_begin, load_add, load_commit) and then
// applied whole or not at all: see Staged loads below.
//
// Expiry (docs/protocol.md, "Expiry"): an entry past its deadline is gone for
// every command at once (the Store hides it); its memory is reclaimed lazily
// when a command meets it and by expire_cycle(), which the server runs on a
// timer with a bounded budget per call. The database copy is cleaned up with
// one expire(now) change per cycle that reclaimed anything, not a delete per
// entry: a million keys expiring together cost the disk one statement.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backends/etcd/etcd_config.h"
#include "persistence.h"
#include "store.h"
#include "watch_registry.h"

namespace kv {

// What one admin load may stage (docs/operations.md): keys and values plus
// kStagedEntryOverhead per entry. Only one load is staged at a time, so this
// is also what all staging together may hold.
inline constexpr size_t kMaxLoadBytes = 256u << 20;
inline constexpr size_t kStagedEntryOverhead = 96;  // a std::map node and its strings

class EtcdBackend;

// What stats and status say about where the store lives (docs/scale-out.md).
struct BackendStatus {
    std::string backend;  // "memory", "sqlite" or "etcd"
    std::string read_only_why;  // "" while writes are accepted
    // etcd only.
    std::string endpoint;  // the member the last call went to
    int64_t revision = 0;  // the etcd revision the local copy has applied
    bool expiry_leader = false;  // this host deletes expired keys in etcd
    uint64_t txns = 0;  // transactions committed
    uint64_t conflicts = 0;  // transactions refused: this copy was behind
    uint64_t retries = 0;  // commands run again after a conflict
    uint64_t reloads = 0;  // full reloads (start, compaction, mismatch)
    uint64_t watch_restarts = 0;
    uint64_t events_skipped = 0;  // delivered again (at or below `revision`), not applied
    double last_reload_seconds = 0;
    uint64_t last_reload_entries = 0;
};

class Database {
public:
    // Throws std::runtime_error when persistence cannot be opened or loaded.
    Database(size_t capacity, const std::optional<PersistConfig>& persist, WhenFull when_full = WhenFull::Refuse,
             const Clock& clock = system_clock());
    // The etcd backend (docs/scale-out.md): loads the store from etcd and
    // keeps it current with a watch; writes commit in etcd first. Throws
    // std::runtime_error when etcd cannot be reached within the timeout, the
    // prefix holds another capacity, or holds entries kvstored cannot read.
    Database(size_t capacity, const EtcdConfig& etcd, const Clock& clock = system_clock());
    ~Database();

    // --- Replicated stores (the etcd backend) -----------------------------
    // With the etcd backend a write does not change this host's copy: every
    // write a command makes goes to etcd in one transaction, conditional on
    // the keys it writes being as this copy last saw them; the copy changes
    // when the watch brings the committed write back. So a door brackets
    // each command: begin_command() before it runs, end_command(ticket) after
    // (the ticket execute() returned); end_command returns the command's
    // ticket. Then, while durability(ticket) is Pending, the client runs no
    // further command (so that it reads its own writes). Durable: send the
    // reply. Failed: send the error (failure_code(), failure_text()) instead.
    // Retry: the command's writes were refused because this copy was behind;
    // it has caught up now: run the same command again, from the same
    // session state (nothing it did reached the store). During a command its
    // own writes are visible to it (undone at end_command), so a command
    // that writes a key and then reads it sees its write.
    // Without etcd these are no-ops: end_command returns `ticket` as it is.
    bool replicated() const { return etcd_ != nullptr; }
    EtcdBackend* etcd() { return etcd_.get(); }  // nullptr without
    void begin_command();
    // Called by a write command (the doors' dispatchers: Redis's "write"
    // flag, the memcached and line-protocol writes) before it reads: what it
    // decides from its reads (SETNX finding the key, add, replace, a cas on
    // a missing key) is checked with etcd too, so it rests on what etcd
    // holds rather than on a copy that may be behind. Read commands are
    // answered from the copy. A no-op without etcd or outside a command.
    void write_command();
    // How many new keys put() would take now (--when-full refuse): the
    // capacity less the live entries; with etcd, less every entry the copy
    // holds (expired ones wait for the expiry host) and this host's creates
    // on their way, as put() counts them. note_full(): the command refuses a
    // write because of it (its own check, as Redis MSET's): with etcd the
    // refusal is checked against etcd's count like put()'s.
    size_t room() const;
    void note_full();
    uint64_t end_command(uint64_t ticket);
    // A ticket that becomes Durable once this host's copy holds every write
    // etcd had committed when sync() was called (one etcd round trip): the
    // reads a session makes after it are linearizable. 0 without etcd.
    uint64_t sync();
    // The error of a Failed ticket, in a door's terms: the code ("storage",
    // "unavailable") and the text.
    // failure_code(ticket): that ticket's (etcd: "too-large" and
    // "unsupported" too, for a command one transaction cannot carry).
    std::string failure_code() const;
    std::string failure_code(uint64_t ticket) const;
    std::string failure_text(uint64_t ticket) const;
    BackendStatus backend_status() const;
    // The backend's eventfd (SQLite's commits, etcd's deliveries), -1 for
    // none: when readable, call on_backend_notify() and then release the
    // replies waiting for durability.
    int backend_notify_fd() const;
    void on_backend_notify();
    // etcd: how to run work after the loop's current turn (EventLoop::defer),
    // for group commit. Without it, each write is sent at once.
    void set_deferrer(std::function<void(std::function<void()>)> defer);

    // Reads go to the store directly (Store::get may reclaim an expired
    // entry: that needs no database change, see expire_cycle()).
    Store& store() { return store_; }
    const Store& store() const { return store_; }
    Persistence* persistence() { return persistence_.get(); }
    // The keys Redis sessions WATCH: every write below (and a load's commit)
    // touches the keys it changes there, so that any door's write aborts a
    // watcher's EXEC. An expiry is not a touch: EXEC checks deadlines itself.
    WatchRegistry& watches() { return watches_; }

    // Why writes are refused right now, or "" when they are accepted; the
    // refusal's code is failure_code().
    std::string write_refusal() const;

    // Each returns the ticket of the change (0 when nothing needs to reach disk).
    // put's deadline is as for Store::put (kNoDeadline, kKeepDeadline or unix
    // ms); an entry it displaced to make room (expired or evicted) is deleted
    // from the database first. set_deadline changes a live entry's deadline
    // (kNoDeadline: none), with a new version unless asked to keep it
    // (Store::set_deadline).
    // `flags`: 0..UINT32_MAX or kKeepFlags (store.h); the overloads without
    // it write flags 0 (a whole new value from a door without flags).
    uint64_t put(std::string_view key, std::string_view value, int64_t deadline, int64_t flags,
                 Store::PutResult& result);
    uint64_t put(std::string_view key, std::string_view value, int64_t deadline, Store::PutResult& result)
    {
        return put(key, value, deadline, 0, result);
    }
    uint64_t put(std::string_view key, std::string_view value, Store::PutResult& result)
    {
        return put(key, value, kNoDeadline, 0, result);
    }
    uint64_t erase(std::string_view key, bool& erased);
    uint64_t set_deadline(std::string_view key, int64_t deadline, bool& found,
                          Store::Version version = Store::Version::New);
    uint64_t clear();
    // memcached's delayed flush_all, recorded so that it survives a restart
    // (Persistence::flush_at; Server::flush_at runs it): the time, unix ms,
    // or 0 for none. pending_flush() is the one the database held at start;
    // with etcd, the one every host shares now (EtcdBackend::note_flush_at).
    uint64_t note_flush_at(int64_t unix_ms);
    int64_t pending_flush() const;
    // The delayed flush at `unix_ms` has been carried out (in the same
    // command as its clear): with etcd the command commits only if that
    // time is still the one recorded (not cancelled or replaced meanwhile).
    uint64_t note_flush_done(int64_t unix_ms);

    // The active expiry cycle: reclaims expired entries, earliest deadline
    // first, for at most `budget` of CPU time, and queues one database
    // cleanup if anything expired since the last. True when expired entries
    // are still waiting (call again soon).
    bool expire_cycle(std::chrono::microseconds budget);

    // Whether the reply to the change with this ticket may go out: Durable
    // (yes), Pending (wait for a commit: --sync always, or the disk is behind,
    // see PersistConfig::max_uncommitted and max_uncommitted_bytes) or Failed
    // (its commit failed).
    // Retry: only with etcd (see replicated() above).
    enum class Durability { Durable, Pending, Failed, Retry };
    Durability durability(uint64_t ticket) const;
    // etcd: the version that a Durable ticket's writes gave their keys (the
    // commit's revision), which no one knows before etcd committed. 0 for
    // other backends (the version is known when the command runs).
    uint64_t commit_version(uint64_t ticket) const;

    // Bytes (change_weight) of uncommitted changes: of all, and of the change
    // with this ticket alone (0 when none is pending). A held reply weighs its
    // change (HeldReplies), so what a client has queued for the disk counts
    // against its output bound.
    uint64_t pending_bytes() const { return persistence_ ? persistence_->pending_bytes() : 0; }
    size_t weight(uint64_t ticket) const { return persistence_ && ticket ? persistence_->weight(ticket) : 0; }
    // The queue is at its global cap (PersistConfig::max_queue_bytes,
    // kMaxQueueBytes = 64 MiB): a write made now holds its client's input
    // until its reply is released (HeldReplies::blocks_input).
    bool write_backlogged() const
    {
        return persistence_ && persistence_->pending_bytes() >= persistence_->config().max_queue_bytes;
    }

    // Staged loads. One admin client at a time stages entries (`owner` is its
    // client id), then commits them: entries whose deadline has passed by
    // then are skipped (they would be gone at once; the key keeps whatever
    // the store held), the capacity is checked (counting keys already
    // present, or none with `replace`), then the store changes in one step
    // and the database in one transaction. Each returns "" or the error reply
    // to send; a failed add or commit discards the staging, and nothing
    // changes. Commit sets `ticket` and `summary` ("<entries loaded> <size
    // after> <entries skipped as expired>").
    std::string load_begin(uint64_t owner, bool replace);
    // `deadline`: unix ms (1..kMaxDeadline), kNoDeadline for none; `flags`:
    // memcached's client flags (0..UINT32_MAX, else refused).
    std::string load_add(uint64_t owner, std::string_view key, std::string_view value, int64_t deadline,
                         int64_t flags = 0);
    std::string load_commit(uint64_t owner, uint64_t& ticket, std::string& summary);
    // Drops `owner`'s staging, if any (it hung up or gave up).
    void load_abort(uint64_t owner);

private:
    struct Staging {
        uint64_t owner = 0;
        bool replace = false;
        struct Value {
            std::string bytes;
            int64_t deadline;
            uint32_t flags;
        };
        std::map<std::string, Value, std::less<>> entries;  // a later entry for a key replaces an earlier one
        size_t bytes = 0;
    };
    std::string refuse_load(const std::string& code, const std::string& why);
    // Touches every watched key that holds a live entry (before a clear).
    void touch_live_keys();

    Store store_;
    std::unique_ptr<Persistence> persistence_;
    std::unique_ptr<EtcdBackend> etcd_;
    uint64_t expired_cleaned_ = 0;  // store_.expired_total() when the database was last cleaned up
    std::optional<Staging> staging_;
    WatchRegistry watches_;
};

}  // namespace kv
