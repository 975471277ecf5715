// etcd_backend.h: the store kept in etcd (docs/scale-out.md), as Database's
// etcd mode uses it. Everything here runs on the event loop's thread; the
// network is on three threads of its own (etcd_threads.h), which talk to the
// loop through one inbox and an eventfd.
//
// The pattern is Kubernetes' watch cache: the Store (in mirror mode, see
// store.h) is a full copy of the keys under the prefix, loaded at one
// revision and kept current by a watch from the next. Reads are served from
// it. A write never changes it directly:
//
//   command runs      its writes are applied to the copy tentatively, so the
//                     command sees them; each key's state before its first
//                     write is remembered
//   end_command       the tentative writes are undone; what remains is one
//                     Command: per key a compare (mod_revision as this copy
//                     knows it, or "absent") and the op that makes the key
//                     what the command left it (put or delete), plus how the
//                     key count changes; its ticket is Pending
//   next_batch        commands go to etcd in one transaction per round trip
//                     (group commit), never two commands on one key in one
//                     transaction; a count change adds a compare on the
//                     count's value and a put of the new one
//   success at R      the ticket is Done once the watch has applied R (the
//                     client then reads its own write)
//   compare failed    this copy was behind: once it has applied what etcd
//                     held at that moment (the failure branch reads the
//                     prefix's newest mod_revision), the ticket says Retry and
//                     the door runs the command again
//   error / timeout   Failed; writes are refused (read-only) until a probe
//                     finds a quorum again
//
// The capacity: a command may create a key only while the keys held plus
// the keys other commands of this host are creating stay within the capacity; the count
// compare makes that exact across hosts.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/etcd/etcd_config.h"
#include "backends/etcd/etcd_wire.h"
#include "store.h"

namespace kv {

class WatchRegistry;
struct BackendStatus;
class EtcdThreads;

class EtcdBackend {
public:
    // Connects, checks or records the capacity under the prefix, loads the
    // copy and starts the threads. Throws std::runtime_error (etcd
    // unreachable within the timeout, another capacity, unreadable entries).
    EtcdBackend(const EtcdConfig& config, Store& store, WatchRegistry& watches);
    ~EtcdBackend();
    EtcdBackend(const EtcdBackend&) = delete;
    EtcdBackend& operator=(const EtcdBackend&) = delete;

    // Commands (Database's replicated-store API). A write outside
    // begin/end is a command of its own (Server's timers).
    // The writes return 0 within a command (end_command gives its ticket)
    // and the ticket of the command they make on their own outside one.
    void begin_command();
    // The command running decides what to write from what it reads (a SETNX
    // that finds the key writes nothing, a cas that finds another version):
    // from here to end_command every key it reads is checked with etcd
    // along with its writes, so its answer rests on what etcd holds, not on
    // a copy that may be behind. Read-only commands never call it: they are
    // answered from the copy.
    void write_command();
    // What put() counts against the capacity: the entries held and this
    // host's creates on their way. note_full(): a refusal for it (Database).
    size_t counted_entries() const { return store_.stored() + reserved_.size(); }
    void note_full()
    {
        if (in_command_)
            command_full_ = true;
    }
    uint64_t end_command();
    uint64_t put(std::string_view key, std::string_view value, int64_t deadline, int64_t flags,
                 Store::PutResult& result);
    uint64_t erase(std::string_view key, bool& erased);
    uint64_t set_deadline(std::string_view key, int64_t deadline, Store::Version version, bool& found);
    uint64_t clear();
    uint64_t sync();
    // memcached's delayed flush_all, shared by every host: P/m/flush-at holds
    // its time (unix ms; 0 deletes it). flush_at() is the one the copy holds,
    // 0 for none; the expiry host carries it out (Server::run_flush).
    uint64_t note_flush_at(int64_t unix_ms);
    int64_t flush_at() const { return flush_at_; }
    // The flush at `unix_ms` is done: deletes P/m/flush-at in the command's
    // transaction, which commits only if the key still holds that time (else
    // it was cancelled or replaced meanwhile, and the command, the flush's
    // clear included, is refused).
    uint64_t note_flush_done(int64_t unix_ms);

    enum class State { Done, Pending, Failed, Retry };
    State state(uint64_t ticket) const;
    // A Done ticket's commit revision: every key its transaction wrote has it
    // as its mod_revision (its version, memcached's cas). 0 otherwise.
    int64_t commit_revision(uint64_t ticket) const;
    std::string failure_text(uint64_t ticket) const;
    std::string failure_code(uint64_t ticket) const;  // "unavailable", "too-large", "unsupported"
    // Why writes are refused ("" while accepted).
    std::string refusal() const;

    // Readable when the threads delivered something: call on_notify().
    int notify_fd() const;
    // Applies what the threads delivered (watch events, a reload, a batch's
    // outcome), resolves tickets and sends the next batch.
    void on_notify();
    // The expiry host's part of expiry (Server's expiry timer): deletes up to
    // a batch of expired keys in etcd. Every host hides them already.
    void expire_cycle();
    void fill_status(BackendStatus& status) const;
    // Tests: the watch starts again at `revision` (duplicate events).
    void rewatch_from(int64_t revision);
    // Runs a function once the loop has dispatched this turn's events
    // (EventLoop::defer): see schedule_batch().
    using Deferrer = std::function<void(std::function<void()>)>;
    void set_deferrer(Deferrer defer) { defer_ = std::move(defer); }

private:
    struct Before {  // a key's state in the copy before the command's first write
        std::optional<std::string> value;  // nullopt: absent
        int64_t deadline = 0;
        uint32_t flags = 0;
        uint64_t version = 0;  // its mod_revision
        // Every write of the command to it gave a whole new entry (a put
        // with its own deadline and flags) over a live one, in a command
        // whose reads are logged (write_command): if it did not read the key
        // either, its outcome rests only on the key still being in etcd.
        // Not a delete: its answer rests on the entry being live, and
        // another host may have stored it already expired.
        bool whole = true;
    };
    struct Command {
        uint64_t ticket = 0;
        std::vector<etcd::Compare> compares;
        std::vector<etcd::Op> ops;
        std::vector<std::string> keys;  // every key it writes or depends on (one per compare)
        std::vector<std::string> creates;  // keys it creates (reserved against the capacity)
        int64_t count_delta = 0;  // creates minus deletes
        // It wrote nothing and answered "full": etcd's count must confirm it.
        bool count_read = false;
        std::vector<etcd::Op> meta_ops;  // P/m/ writes (flush-at), outside the data range a clear deletes
        std::vector<etcd::Compare> meta_compares;  // conditions on P/m/ keys (not paired with keys: see stale())
        bool clear = false;
        bool internal = false;  // the expiry's own deletes: nobody waits
    };
    struct Ticket {
        State state = State::Pending;
        int64_t wait_revision = 0;  // Pending once sent: Done/Retry once applied reaches it
        State then = State::Done;  // what it becomes then
        std::string error;
        std::string code;  // Failed: the error's code
        std::vector<std::string> creates;  // reserved until resolved
        std::vector<std::string> keys;  // busy (in busy_keys_) while sent and unresolved
        bool sent = false;
        bool internal = false;
        std::chrono::steady_clock::time_point created;
        std::chrono::steady_clock::time_point resolved_at;
    };

    uint64_t new_ticket();
    // Remembers the key's Before (first write in the command); `whole`: see Before.
    void touch(std::string_view key, bool whole);
    void undo(const std::string& key, const Before& before);
    Command seal();
    void queue_command(Command command);
    void resolve(uint64_t ticket, State state, std::string error = {}, std::string code = "unavailable");
    void wait_for(uint64_t ticket, int64_t revision, State then);
    void resolve_applied();  // tickets waiting for a revision this copy has reached
    void schedule_batch();
    void next_batch();
    bool fill_slot(size_t slot);  // false when there was nothing to send
    bool sendable(const Command& c, const std::set<std::string, std::less<>>& taken) const;
    void on_batch_done(size_t slot, const struct BatchOutcome& outcome);
    void apply_events(std::vector<etcd::Event>& events);
    void apply_reload(std::vector<etcd::KeyValue>& kvs, int64_t revision, double seconds);
    void apply_kv(const etcd::KeyValue& kv);
    void forget_old_tickets();
    void fail_queued(const std::string& why);
    bool stale(const Command& c) const;  // a compare the copy already knows fails
    void retry_stale();  // runs again every queued command that is stale()
    // "The key is as the copy knows it": at `version`, or absent, or holding
    // what another program wrote there (foreign_).
    etcd::Compare unchanged(const std::string& key, std::optional<uint64_t> version) const;
    // "The key exists, whatever its revision": the condition of a key the
    // command wrote whole without reading it (Before::whole).
    etcd::Compare exists(const std::string& key) const;
    void note_foreign(std::string_view key, int64_t mod_revision);
    std::string too_large(const Command& c) const;

    EtcdConfig config_;
    Store& store_;
    WatchRegistry& watches_;
    std::string data_prefix_;
    std::string count_key_;
    std::string flush_key_;  // P/m/flush-at
    std::string host_id_;
    std::string mark_key_;  // P/m/mark/<host id>: see next_batch()
    uint64_t batches_ = 0;

    // The command running now.
    bool in_command_ = false;
    bool command_clear_ = false;
    bool command_full_ = false;  // a put in the command was refused for the capacity
    bool reads_logged_ = false;  // write_command() was called: see Before::whole
    std::map<std::string, Before, std::less<>> touched_;
    std::vector<std::string> read_keys_;  // a write command's reads (Store::log_reads)
    std::vector<etcd::Op> meta_ops_;  // the command's P/m/ writes
    std::vector<etcd::Compare> meta_compares_;  // and conditions

    uint64_t next_ticket_ = 1;
    std::unordered_map<uint64_t, Ticket> tickets_;
    std::multimap<int64_t, uint64_t> waiting_;  // (revision, ticket): resolved once applied
    std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> resolved_order_;  // to forget them
    std::deque<uint64_t> pending_order_;  // tickets by age, to answer every one in time
    std::deque<Command> queued_;  // sealed, not sent yet
    std::vector<uint64_t> syncs_;  // sync tickets not sent yet
    // Batches in etcd now, one per committer thread (etcd_threads.h).
    struct Slot {
        bool busy = false;
        std::vector<Command> commands;
        std::vector<uint64_t> syncs;
        std::string mark;  // see fill_slot()
        int64_t mark_version = 0;  // its mark key's version in etcd, as last known
        bool changes_count = false;
    };
    std::vector<Slot> slots_;
    std::multiset<std::string, std::less<>> busy_keys_;  // keys of commands sent and not resolved
    bool count_in_flight_ = false;  // a batch changing the count is in etcd
    int64_t count_wait_revision_ = 0;  // the next count change waits until the copy has this
    // Keys that commands not yet resolved create, with how many create each:
    // one place in the store each (two creates of one key cannot both commit).
    std::unordered_map<std::string, int> reserved_;
    uint64_t expiry_ticket_ = 0;  // the expiry's deletes in progress (one batch at a time)

    int64_t applied_revision_ = 0;
    uint64_t count_known_ = 0;  // P/m/count as applied
    bool count_exists_ = false;
    // Keys under the data prefix that hold no entry kvstored wrote (another
    // program put them there), with their mod_revision: absent to commands,
    // but a command's compare must name that revision, or etcd would refuse
    // it each time it ran again. Counted with the copy's keys for the
    // consistency check, which counts every key under the prefix.
    std::map<std::string, int64_t, std::less<>> foreign_;
    int64_t flush_at_ = 0;  // P/m/flush-at as applied
    std::string read_only_why_;  // from a failed batch; the keeper clears it

    // Counters (stats).
    uint64_t txns_ = 0, conflicts_ = 0, retries_ = 0, reloads_ = 0, events_skipped_ = 0;
    double last_reload_seconds_ = 0;
    uint64_t last_reload_entries_ = 0;

    Deferrer defer_;
    bool in_notify_ = false;  // within on_notify(): its caller wakes the clients
    bool batch_scheduled_ = false;

    std::unique_ptr<EtcdThreads> threads_;  // last: stopped first
};

}  // namespace kv
