// etcd_threads.cc: see etcd_threads.h.
#include "backends/etcd/etcd_threads.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "log.h"

namespace kv {
namespace {

using namespace std::chrono_literals;

// How often the keeper probes etcd (and renews the expiry lease).
constexpr auto kProbeInterval = 500ms;
// How often the keeper asks every endpoint which member leads; each ask
// waits at most kLeaderAskTimeout (a member that is down costs that).
constexpr auto kLeaderInterval = 2s;
constexpr auto kLeaderAskTimeout = 300ms;
// The expiry lease: a host that stops renewing loses the role after this.
constexpr int64_t kLeaseSeconds = 5;
// A watch that stays behind the prefix's newest revision this long is
// restarted (a member that stopped answering without closing the stream).
constexpr auto kWatchLagLimit = 3s;
// Keys per page of a load.
constexpr int64_t kLoadPage = 2000;

etcd::ClientConfig client_config(const EtcdConfig& config)
{
    etcd::ClientConfig c;
    c.endpoints = config.endpoints;
    c.timeout = config.timeout;
    c.connect_timeout = std::min(config.timeout, std::chrono::milliseconds{500});
    return c;
}

// The error of a response that is not a 200 with a body, in words.
std::string error_of(const etcd::EtcdClient::Response& r, bool& unavailable)
{
    if (!r.ok) {
        unavailable = true;
        return "no etcd member answered: " + r.error;
    }
    etcd::Error e;
    if (etcd::parse_error(r.body, e)) {
        unavailable = e.code == etcd::kCodeUnavailable || e.code == etcd::kCodeDeadlineExceeded;
        return "etcd " + r.endpoint + " refused: " + e.message;
    }
    unavailable = r.status >= 500;
    return "etcd " + r.endpoint + " answered HTTP " + std::to_string(r.status);
}

}  // namespace

etcd::Op newest_revision_op(const std::string& prefix)
{
    etcd::Op op;
    op.kind = etcd::Op::Kind::Range;
    op.key = prefix;
    op.range_end = etcd::prefix_end(prefix);
    op.limit = 1;
    op.keys_only = true;
    op.newest_first = true;
    return op;
}

std::string load_prefix(etcd::EtcdClient& client, const std::string& prefix, std::vector<etcd::KeyValue>& kvs,
                        int64_t& revision)
{
    kvs.clear();
    revision = 0;
    etcd::RangeRequest req;
    req.key = prefix;
    req.range_end = etcd::prefix_end(prefix);
    req.limit = kLoadPage;
    for (;;) {
        req.revision = revision;  // 0 for the first page: the latest, then pinned
        auto r = client.call("/v3/kv/range", etcd::range_body(req));
        bool unavailable = false;
        if (!r.ok || r.status != 200)
            return "loading " + prefix + ": " + error_of(r, unavailable);
        etcd::RangeResult page;
        std::string why;
        if (!etcd::parse_range(r.body, page, why))
            return "loading " + prefix + ": " + why;
        if (revision == 0)
            revision = page.header.revision;
        for (auto& kv : page.kvs)
            kvs.push_back(std::move(kv));
        if (!page.more || kvs.empty())
            return "";
        req.key = kvs.back().key + std::string(1, '\0');
    }
}

EtcdThreads::EtcdThreads(const EtcdConfig& config, int64_t watch_from, std::string host_id)
    : config_(config), prefix_(config.prefix + "/"), host_id_(std::move(host_id))
{
    notify_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!notify_)
        throw std::runtime_error(std::string("etcd backend: eventfd: ") + std::strerror(errno));
    delivered_revision_ = watch_from - 1;
    jobs_.resize(kCommitters);
    for (size_t i = 0; i < kCommitters; ++i)
        committers_.emplace_back([this, i] { guarded("committer", [this, i] { committer_main(i); }); });
    // Started again after a failure, the watch resumes after what it delivered.
    watcher_ = std::thread([this] { guarded("watcher", [this] { watcher_main(delivered_revision_.load() + 1); }); });
    keeper_ = std::thread([this] { guarded("keeper", [this] { keeper_main(); }); });
}

EtcdThreads::~EtcdThreads()
{
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        restart_watch_ = true;  // the watch's own stop flag
    }
    wake_.notify_all();
    for (std::thread& t : committers_)
        t.join();
    for (std::thread* t : {&watcher_, &keeper_})
        if (t->joinable())
            t->join();
}

// An exception (out of memory; libcurl that cannot start) must not end
// kvstored through std::terminate: the thread logs it and starts over.
void EtcdThreads::guarded(const char* name, const std::function<void()>& body)
{
    while (!stop_) {
        try {
            body();
            return;
        } catch (const std::exception& e) {
            LOG_ERR("etcd: the %s thread failed (%s); starting it again", name, e.what());
        }
        sleep_for(std::chrono::milliseconds(1000));
    }
}

void EtcdThreads::push(Delivery d)
{
    {
        std::lock_guard lock(mu_);
        inbox_.push_back(std::move(d));
    }
    poke();
}

void EtcdThreads::poke()
{
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(notify_.get(), &one, sizeof one);
}

std::vector<Delivery> EtcdThreads::take()
{
    uint64_t n;
    while (::read(notify_.get(), &n, sizeof n) == sizeof n) { }
    std::lock_guard lock(mu_);
    std::vector<Delivery> out(std::make_move_iterator(inbox_.begin()), std::make_move_iterator(inbox_.end()));
    inbox_.clear();
    return out;
}

void EtcdThreads::send(size_t slot, std::string txn_body)
{
    {
        std::lock_guard lock(mu_);
        jobs_.at(slot) = std::move(txn_body);
    }
    wake_.notify_all();
}

void EtcdThreads::publish_applied(int64_t revision, uint64_t entries)
{
    std::lock_guard lock(mu_);
    applied_revision_ = revision;
    applied_entries_ = entries;
}

void EtcdThreads::mark_unavailable(const std::string& why)
{
    std::lock_guard lock(mu_);
    unavailable_why_ = why;
}

std::string EtcdThreads::unavailable_why() const
{
    std::lock_guard lock(mu_);
    return unavailable_why_;
}

std::string EtcdThreads::endpoint() const
{
    std::lock_guard lock(mu_);
    return endpoint_;
}

bool EtcdThreads::sleep_for(std::chrono::milliseconds d)
{
    std::unique_lock lock(mu_);
    return !wake_.wait_for(lock, d, [this] { return stop_.load(); });
}

void EtcdThreads::committer_main(size_t slot)
{
    etcd::EtcdClient client(client_config(config_));
    for (;;) {
        std::string body;
        {
            std::unique_lock lock(mu_);
            wake_.wait(lock, [this, slot] { return stop_ || jobs_[slot]; });
            if (stop_)
                return;
            body = std::move(*jobs_[slot]);
            jobs_[slot].reset();
        }
        Delivery d;
        d.kind = Delivery::Kind::Batch;
        d.slot = slot;
        BatchOutcome& out = d.batch;
        follow_leader(client);
        auto r = client.call("/v3/kv/txn", body);
        {
            std::lock_guard lock(mu_);
            endpoint_ = r.endpoint.empty() ? client.current_endpoint() : r.endpoint;
        }
        etcd::TxnResult txn;
        std::string why;
        if (!r.ok || r.status != 200) {
            out.error = error_of(r, out.unavailable);
        } else if (!etcd::parse_txn(r.body, txn, why)) {
            out.error = "etcd " + r.endpoint + " sent a transaction reply kvstored cannot read: " + why;
        } else {
            out.ok = true;
            out.succeeded = txn.succeeded;
            out.revision = txn.header.revision;
            out.txn = std::move(txn);
        }
        push(std::move(d));
    }
}

void EtcdThreads::watcher_main(int64_t from)
{
    etcd::EtcdClient client(client_config(config_));
    std::string end = etcd::prefix_end(prefix_);
    while (!stop_) {
        // Cleared before stop_, reload_ and rewatch_from_ are read: each is
        // set before restart_watch_ (the destructor, check_count), so a
        // request that comes while this turn starts is either seen below or
        // aborts the watch it starts; cleared later, it could be lost and
        // the watch run on until etcd's next event (a stop then waits).
        restart_watch_ = false;
        if (reload_.exchange(false)) {
            Delivery d;
            d.kind = Delivery::Kind::Reload;
            auto start = std::chrono::steady_clock::now();
            std::string why = load_prefix(client, prefix_, d.kvs, d.revision);
            if (!why.empty()) {
                LOG_WARN("etcd: reload failed, trying again: %s", why.c_str());
                reload_ = true;
                sleep_for(kProbeInterval);
                continue;
            }
            d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            from = d.revision + 1;
            delivered_revision_ = d.revision;
            push(std::move(d));
        }
        if (stop_)
            return;
        if (int64_t again = rewatch_from_.exchange(0); again > 0)
            from = again;
        std::atomic<bool>& abort = restart_watch_;
        std::string why = client.watch(
            etcd::watch_body(prefix_, end, from, true),
            [&](std::string_view message) {
                etcd::Error err;
                if (etcd::parse_error(message, err)) {
                    LOG_WARN("etcd: the watch failed: %s", err.message.c_str());
                    return false;
                }
                etcd::WatchMessage m;
                std::string bad;
                if (!etcd::parse_watch(message, m, bad)) {
                    LOG_WARN("etcd: unreadable watch message (%s); restarting the watch", bad.c_str());
                    return false;
                }
                if (m.compact_revision > 0) {
                    LOG_WARN("etcd: revision %lld was compacted (now from %lld): reloading",
                             static_cast<long long>(from), static_cast<long long>(m.compact_revision));
                    reload_ = true;
                    return false;
                }
                if (m.canceled)
                    return false;
                if (m.events.empty())
                    return !stop_;
                Delivery d;
                d.kind = Delivery::Kind::Events;
                d.revision = m.header.revision;
                from = m.events.back().kv.mod_revision + 1;
                delivered_revision_ = from - 1;
                d.events = std::move(m.events);
                push(std::move(d));
                return !stop_;
            },
            abort, std::chrono::hours(24));
        if (stop_)
            return;
        if (!reload_) {
            watch_restarts_++;
            if (!why.empty())
                LOG_WARN("etcd: the watch ended (%s); resuming from revision %lld", why.c_str(),
                         static_cast<long long>(from));
            sleep_for(200ms);
        }
    }
}

void EtcdThreads::keeper_main()
{
    etcd::EtcdClient client(client_config(config_));
    // One client per endpoint, without failover, to ask each who leads.
    std::vector<std::unique_ptr<etcd::EtcdClient>> members;
    for (const std::string& endpoint : config_.endpoints) {
        etcd::ClientConfig one = client_config(config_);
        one.endpoints = {endpoint};
        one.timeout = std::min(one.timeout, std::chrono::milliseconds{kLeaderAskTimeout});
        one.connect_timeout = std::min(one.connect_timeout, one.timeout);
        members.push_back(std::make_unique<etcd::EtcdClient>(one));
    }
    auto next_check = std::chrono::steady_clock::now() + config_.check_interval;
    auto next_leader = std::chrono::steady_clock::now();
    while (sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(kProbeInterval))) {
        if (members.size() > 1 && std::chrono::steady_clock::now() >= next_leader) {
            find_leader(members);
            next_leader = std::chrono::steady_clock::now() + kLeaderInterval;
        }
        follow_leader(client);
        probe(client);
        campaign(client);
        if (std::chrono::steady_clock::now() >= next_check) {
            check_count(client);
            next_check = std::chrono::steady_clock::now() + config_.check_interval;
        }
    }
}

// Asks each endpoint for its status: the member that says it leads (the
// newest term's, should two say so for a moment) is where proposals cost
// least. When none does (no quorum, the leader down or not in the list),
// calls go where failover takes them until one does again.
void EtcdThreads::find_leader(std::vector<std::unique_ptr<etcd::EtcdClient>>& members)
{
    size_t best = members.size();
    uint64_t best_term = 0;
    for (size_t i = 0; i < members.size() && !stop_; ++i) {
        auto r = members[i]->call("/v3/maintenance/status", "{}");
        etcd::StatusResult status;
        std::string why;
        if (r.ok && r.status == 200 && etcd::parse_status(r.body, status, why) && status.leader != 0
            && status.leader == status.header.member_id && status.header.raft_term >= best_term) {
            best = i;
            best_term = status.header.raft_term;
        }
    }
    size_t now = best == members.size() ? 0 : best + 1;
    if (leader_endpoint_.exchange(now) == now || stop_)
        return;
    if (now != 0)
        LOG_INFO("etcd: the leader is %s; writes go there first", config_.endpoints[best].c_str());
    else
        LOG_INFO("etcd: no listed member says it leads; writes go to whichever answers");
}

void EtcdThreads::follow_leader(etcd::EtcdClient& client) const
{
    size_t leader = leader_endpoint_.load();
    if (leader != 0 && client.current_endpoint() != config_.endpoints[leader - 1])
        client.prefer(leader - 1);
}

// A linearizable read (it needs a quorum) of the prefix's newest revision.
void EtcdThreads::probe(etcd::EtcdClient& client)
{
    static thread_local std::chrono::steady_clock::time_point behind_since{};
    etcd::Txn txn;
    txn.success.push_back(newest_revision_op(prefix_));
    auto r = client.call("/v3/kv/txn", etcd::txn_body(txn));
    bool unavailable = false;
    etcd::TxnResult result;
    std::string why;
    if (!r.ok || r.status != 200 || !etcd::parse_txn(r.body, result, why)) {
        std::string text = why.empty() ? error_of(r, unavailable) : why;
        std::lock_guard lock(mu_);
        if (unavailable_why_.empty())
            LOG_WARN("etcd: writes refused until etcd answers again: %s", text.c_str());
        unavailable_why_ = text;
        return;
    }
    int64_t newest = 0;
    if (!result.ranges.empty() && !result.ranges.front().kvs.empty())
        newest = result.ranges.front().kvs.front().mod_revision;
    {
        std::lock_guard lock(mu_);
        if (!unavailable_why_.empty())
            LOG_INFO("etcd: answering again (%s); writes accepted", r.endpoint.c_str());
        unavailable_why_.clear();
        endpoint_ = r.endpoint;
    }
    // The watch should have delivered `newest` by now; one that stays behind
    // is on a member that no longer sends: start it again.
    auto now = std::chrono::steady_clock::now();
    if (delivered_revision_.load() >= newest) {
        behind_since = {};
    } else if (behind_since == std::chrono::steady_clock::time_point{}) {
        behind_since = now;
    } else if (now - behind_since > kWatchLagLimit) {
        LOG_WARN("etcd: the watch is behind (revision %lld of %lld) for %lld s; restarting it",
                 static_cast<long long>(delivered_revision_.load()), static_cast<long long>(newest),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(now - behind_since).count()));
        behind_since = {};
        restart_watch_ = true;
    }
}

// The expiry election: the host whose lease holds P/m/expiry-leader deletes
// expired keys; it keeps the lease alive while it runs, and when it stops
// the lease runs out and another host takes the key.
void EtcdThreads::campaign(etcd::EtcdClient& client)
{
    static thread_local int64_t lease = 0;
    bool unavailable = false;
    if (lease != 0) {
        auto r = client.call("/v3/lease/keepalive", etcd::lease_id_body(lease));
        etcd::LeaseResult l;
        std::string why;
        if (r.ok && r.status == 200 && etcd::parse_lease(r.body, l, why) && l.ttl > 0)
            return;
        if (r.ok) {  // etcd answered: the lease is gone
            if (leader_.exchange(false))
                LOG_WARN("etcd: lost the expiry lease; another host deletes expired keys now");
            lease = 0;
        }
        return;
    }
    auto g = client.call("/v3/lease/grant", etcd::lease_grant_body(kLeaseSeconds));
    etcd::LeaseResult granted;
    std::string why;
    if (!g.ok || g.status != 200 || !etcd::parse_lease(g.body, granted, why) || granted.id == 0)
        return;
    etcd::Txn txn;
    std::string key = etcd::meta_key(config_.prefix, "expiry-leader");
    txn.compare.push_back({key, etcd::Compare::Target::Create, etcd::Compare::Result::Equal, 0, {}});
    etcd::Op put;
    put.kind = etcd::Op::Kind::Put;
    put.key = key;
    put.value = host_id_;
    put.lease = granted.id;
    txn.success.push_back(put);
    auto r = client.call("/v3/kv/txn", etcd::txn_body(txn));
    etcd::TxnResult result;
    if (r.ok && r.status == 200 && etcd::parse_txn(r.body, result, why) && result.succeeded) {
        lease = granted.id;
        leader_ = true;
        LOG_INFO("etcd: this host deletes expired keys (expiry lease %llx)", static_cast<unsigned long long>(lease));
        return;
    }
    // Someone else holds it: give our lease back.
    client.call("/v3/lease/revoke", etcd::lease_id_body(granted.id));
    (void)unavailable;
}

// etcd's count of keys under P/k/ at the revision the copy has applied,
// against the copy's own count then.
void EtcdThreads::check_count(etcd::EtcdClient& client)
{
    int64_t revision;
    uint64_t entries;
    {
        std::lock_guard lock(mu_);
        revision = applied_revision_;
        entries = applied_entries_;
    }
    if (revision == 0)
        return;
    etcd::RangeRequest req;
    req.key = etcd::data_prefix(config_.prefix);
    req.range_end = etcd::prefix_end(req.key);
    req.revision = revision;
    req.count_only = true;
    auto r = client.call("/v3/kv/range", etcd::range_body(req));
    etcd::RangeResult result;
    std::string why;
    if (!r.ok || r.status != 200 || !etcd::parse_range(r.body, result, why))
        return;  // unreachable, or compacted past that revision: next time
    if (static_cast<uint64_t>(result.count) == entries)
        return;
    LOG_WARN("etcd: the copy holds %llu keys at revision %lld, etcd %lld: reloading",
             static_cast<unsigned long long>(entries), static_cast<long long>(revision),
             static_cast<long long>(result.count));
    reload_ = true;
    restart_watch_ = true;
}

}  // namespace kv
