// etcd_threads.h: the etcd backend's network side, three threads that never
// touch the store; each has its own EtcdClient (connection):
//
//   committers kCommitters of them, each sending the transactions the loop
//              hands it one at a time (so that many are in etcd at once)
//   watcher    streams the prefix's changes from a revision on; reloads the
//              whole prefix when etcd has compacted that revision away, or
//              when the keeper asks
//   keeper     every kProbeInterval: a linearizable read that tells whether
//              etcd has a quorum (read-only while not) and the prefix's
//              newest revision (a watch that stays behind it is restarted);
//              every kLeaderInterval, which endpoint is the Raft leader: the
//              committers and the probe go there first (a follower would
//              forward every proposal to it, one more hop and its CPU);
//              the expiry election (a lease and a key bound to it); every
//              check interval, the count of keys at the revision the copy has
//              applied, compared with the copy's (a mismatch reloads)
//
// They deliver to the loop through an inbox and an eventfd (notify_fd).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/etcd/etcd_client.h"
#include "backends/etcd/etcd_config.h"
#include "backends/etcd/etcd_wire.h"
#include "fd.h"

namespace kv {

// What one transaction came to.
struct BatchOutcome {
    bool ok = false;  // etcd answered it
    bool succeeded = false;  // its compares held
    int64_t revision = 0;  // the answer's header revision
    etcd::TxnResult txn;  // ok: the answer
    std::string error;  // !ok
    bool unavailable = false;  // !ok because etcd has no quorum or cannot be reached
};

struct Delivery {
    enum class Kind { Events, Reload, Batch };
    Kind kind = Kind::Events;
    int64_t revision = 0;  // Events: the message's header; Reload: the load's
    std::vector<etcd::Event> events;
    std::vector<etcd::KeyValue> kvs;  // Reload: every key under the prefix
    double seconds = 0;  // Reload: how long it took
    BatchOutcome batch;
    size_t slot = 0;  // Batch: which committer
};

// Transactions one host has in etcd at once: enough to keep etcd's disk
// busy while each waits for its round trip (bench/README.md, T10).
inline constexpr size_t kCommitters = 4;

// Reads every key under `prefix` at one revision, in pages. Returns "" or
// why it failed; `revision` is the revision read at.
std::string load_prefix(etcd::EtcdClient& client, const std::string& prefix, std::vector<etcd::KeyValue>& kvs,
                        int64_t& revision);

// A txn that reads the prefix's newest mod_revision: the range op that ends
// every batch's failure branch, and all of a sync-only batch.
etcd::Op newest_revision_op(const std::string& prefix);

class EtcdThreads {
public:
    // Starts the threads; the watch begins at `watch_from`.
    EtcdThreads(const EtcdConfig& config, int64_t watch_from, std::string host_id);
    ~EtcdThreads();
    EtcdThreads(const EtcdThreads&) = delete;
    EtcdThreads& operator=(const EtcdThreads&) = delete;

    // Loop side.
    int notify_fd() const { return notify_.get(); }
    // Makes notify_fd readable (the loop resolved a ticket by itself: its
    // client must be woken as for a delivery).
    void poke();
    std::vector<Delivery> take();
    // Hands committer `slot` a txn body; one at a time each (the loop waits
    // for its Batch delivery before giving that slot the next).
    void send(size_t slot, std::string txn_body);
    // The copy has applied `revision` and holds `entries` keys (the count
    // check compares etcd's count at that revision).
    void publish_applied(int64_t revision, uint64_t entries);
    // A write failed for want of a quorum: read-only until a probe succeeds.
    void mark_unavailable(const std::string& why);
    std::string unavailable_why() const;
    bool expiry_leader() const { return leader_.load(); }
    std::string endpoint() const;
    uint64_t watch_restarts() const { return watch_restarts_.load(); }
    // Restarts the watch at `revision`, however old (tests: etcd then sends
    // again events the copy has applied, which it must skip).
    void rewatch_from(int64_t revision)
    {
        rewatch_from_ = revision;
        restart_watch_ = true;
    }

private:
    void push(Delivery d);
    void guarded(const char* name, const std::function<void()>& body);
    void committer_main(size_t slot);
    void watcher_main(int64_t from);
    void keeper_main();
    void probe(etcd::EtcdClient& client);
    void find_leader(std::vector<std::unique_ptr<etcd::EtcdClient>>& members);
    // Points `client` at the leader, when one is known, before each call:
    // also after a failover took it elsewhere and the same member still leads.
    void follow_leader(etcd::EtcdClient& client) const;
    void campaign(etcd::EtcdClient& client);
    void check_count(etcd::EtcdClient& client);
    bool sleep_for(std::chrono::milliseconds d);  // false when stopping

    EtcdConfig config_;
    std::string prefix_;  // config_.prefix + "/"
    std::string host_id_;
    UniqueFd notify_;
    std::atomic<bool> stop_{false};

    mutable std::mutex mu_;  // guards everything below up to the atomics
    std::condition_variable wake_;
    std::deque<Delivery> inbox_;
    std::vector<std::optional<std::string>> jobs_;  // each committer's next txn body
    std::string unavailable_why_;
    std::string endpoint_;
    int64_t applied_revision_ = 0;
    uint64_t applied_entries_ = 0;

    std::atomic<bool> leader_{false};
    std::atomic<bool> restart_watch_{false};  // abort the stream (and reload if reload_)
    std::atomic<bool> reload_{false};
    std::atomic<uint64_t> watch_restarts_{0};
    std::atomic<int64_t> delivered_revision_{0};  // the watcher's: last revision delivered
    std::atomic<int64_t> rewatch_from_{0};  // see rewatch_from()
    // The leader's index in config_.endpoints, plus 1 (0: not known: no
    // listed member said it leads at the last ask).
    std::atomic<size_t> leader_endpoint_{0};

    std::vector<std::thread> committers_;
    std::thread watcher_, keeper_;  // last: started once all above exists
};

}  // namespace kv
