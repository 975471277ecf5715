// etcd_backend.cc: see etcd_backend.h.
#include "backends/etcd/etcd_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>

#include "backends/etcd/etcd_threads.h"
#include "command.h"
#include "database.h"
#include "log.h"
#include "watch_registry.h"

namespace kv {
namespace {

using Steady = std::chrono::steady_clock;

// Ops per transaction: etcd refuses more than --max-txn-ops (128 by
// default) in a branch, and a batch adds the count's put.
constexpr size_t kMaxBatchOps = 120;
// Bytes of values per transaction: etcd refuses a request over
// --max-request-bytes (1.5 MiB by default).
constexpr size_t kMaxBatchBytes = 1u << 20;
// Expired keys the expiry host deletes per transaction.
constexpr size_t kExpiryBatch = 100;
// A resolved ticket is forgotten after this (its door has long read it).
constexpr auto kTicketMemory = std::chrono::seconds(30);

// This kvstored among all: host name, pid and a random word (a pid repeats
// across restarts and containers).
std::string host_id()
{
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    uint32_t word = 0;
    std::random_device random;
    word = random();
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", word);
    return std::string(name) + ":" + std::to_string(::getpid()) + ":" + hex;
}

etcd::Op put_op(std::string key, std::string value)
{
    etcd::Op op;
    op.kind = etcd::Op::Kind::Put;
    op.key = std::move(key);
    op.value = std::move(value);
    return op;
}

etcd::Compare compare(std::string key, etcd::Compare::Target target, int64_t number, std::string value = {})
{
    return etcd::Compare{std::move(key), target, etcd::Compare::Result::Equal, number, std::move(value)};
}

// Records the capacity under a new prefix, or checks it under an old one.
void claim_prefix(etcd::EtcdClient& client, const EtcdConfig& config, size_t capacity)
{
    std::string cap_key = etcd::meta_key(config.prefix, "capacity");
    etcd::Txn txn;
    txn.compare.push_back(compare(cap_key, etcd::Compare::Target::Create, 0));
    txn.success.push_back(put_op(cap_key, std::to_string(capacity)));
    txn.success.push_back(put_op(etcd::meta_key(config.prefix, "count"), etcd::count_text(0)));
    etcd::Op read;
    read.kind = etcd::Op::Kind::Range;
    read.key = cap_key;
    txn.failure.push_back(read);
    auto r = client.call("/v3/kv/txn", etcd::txn_body(txn));
    etcd::TxnResult result;
    std::string why;
    if (!r.ok)
        throw std::runtime_error("cannot reach etcd (" + r.error + ")");
    if (r.status != 200 || !etcd::parse_txn(r.body, result, why)) {
        etcd::Error e;
        throw std::runtime_error("etcd " + r.endpoint + " refused to set up " + config.prefix + ": "
                                 + (etcd::parse_error(r.body, e) ? e.message : why));
    }
    if (result.succeeded) {
        LOG_INFO("etcd: a new store under %s, capacity %zu", config.prefix.c_str(), capacity);
        return;
    }
    std::string held = result.ranges.empty() || result.ranges[0].kvs.empty() ? "" : result.ranges[0].kvs[0].value;
    if (held != std::to_string(capacity))
        throw std::runtime_error("the store under " + config.prefix + " in etcd has capacity " + held
                                 + "; every kvstored on it must run with --capacity " + held + " (this one has "
                                 + std::to_string(capacity) + ")");
}

}  // namespace

EtcdBackend::EtcdBackend(const EtcdConfig& config, Store& store, WatchRegistry& watches)
    : config_(config),
      store_(store),
      watches_(watches),
      data_prefix_(etcd::data_prefix(config.prefix)),
      count_key_(etcd::meta_key(config.prefix, "count")),
      flush_key_(etcd::meta_key(config.prefix, "flush-at")),
      host_id_(host_id()),
      mark_key_(etcd::meta_key(config.prefix, "mark/" + host_id_))
{
    try {
        etcd::check_endpoints(config.endpoints);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
    }
    store_.set_mirror(true);
    etcd::ClientConfig cc;
    cc.endpoints = config.endpoints;
    cc.timeout = config.timeout;
    etcd::EtcdClient client(cc);
    claim_prefix(client, config_, store_.capacity());
    auto start = Steady::now();
    std::vector<etcd::KeyValue> kvs;
    int64_t revision = 0;
    if (std::string why = load_prefix(client, config_.prefix + "/", kvs, revision); !why.empty())
        throw std::runtime_error(why);
    for (const auto& kv : kvs) {
        if (kv.key.starts_with(data_prefix_)) {
            std::string value;
            int64_t deadline;
            uint32_t flags;
            std::string_view key = std::string_view(kv.key).substr(data_prefix_.size());
            if (!store_key_problem(key).empty() || !etcd::decode_value(kv.value, value, deadline, flags))
                throw std::runtime_error("etcd holds " + printable_bytes(kv.key)
                                         + ", which is not an entry kvstored wrote; nothing was loaded");
        }
        apply_kv(kv);
    }
    applied_revision_ = revision;
    last_reload_seconds_ = std::chrono::duration<double>(Steady::now() - start).count();
    last_reload_entries_ = store_.stored();
    LOG_INFO("etcd: loaded %zu entries from %s at revision %lld in %.3f s", store_.stored(), config_.prefix.c_str(),
             static_cast<long long>(revision), last_reload_seconds_);
    slots_.resize(kCommitters);
    threads_ = std::make_unique<EtcdThreads>(config_, revision + 1, host_id_);
    threads_->publish_applied(applied_revision_, store_.stored() + foreign_.size());
}

// The marks go with the host (best effort: a host that dies leaves a few
// small keys behind).
EtcdBackend::~EtcdBackend()
{
    threads_.reset();
    try {
        etcd::ClientConfig cc;
        cc.endpoints = config_.endpoints;
        cc.timeout = std::chrono::milliseconds(500);
        etcd::EtcdClient client(cc);
        etcd::Txn txn;
        etcd::Op del;
        del.kind = etcd::Op::Kind::DeleteRange;
        del.key = mark_key_ + "/";
        del.range_end = etcd::prefix_end(del.key);
        txn.success.push_back(del);
        client.call("/v3/kv/txn", etcd::txn_body(txn));
    } catch (const std::exception&) {
    }
}

// --- Commands ---------------------------------------------------------------

void EtcdBackend::begin_command()
{
    in_command_ = true;
    command_clear_ = false;
    command_full_ = false;
    reads_logged_ = false;
    touched_.clear();
    read_keys_.clear();
    meta_ops_.clear();
    meta_compares_.clear();
    store_.log_reads(nullptr);
}

void EtcdBackend::write_command()
{
    if (in_command_) {
        store_.log_reads(&read_keys_);
        reads_logged_ = true;
    }
}

void EtcdBackend::touch(std::string_view key, bool whole)
{
    if (auto it = touched_.find(key); it != touched_.end()) {
        it->second.whole = it->second.whole && whole;
        return;
    }
    Before b;
    bool expired = false;
    auto e = store_.peek_any(key, &expired);
    // A write path that skips write_command (memcached's mg ... N, gat)
    // reads without logging it: its keys keep the exact compare.
    b.whole = whole && reads_logged_ && !expired;
    if (e) {
        b.value = std::string(e->value);
        b.deadline = e->deadline;
        b.flags = e->flags;
        b.version = e->version;
    }
    touched_.emplace(std::string(key), std::move(b));
}

void EtcdBackend::undo(const std::string& key, const Before& before)
{
    if (before.value)
        store_.apply(key, *before.value, before.deadline, before.flags, before.version);
    else
        store_.apply_erase(key);
}

uint64_t EtcdBackend::put(std::string_view key, std::string_view value, int64_t deadline, int64_t flags,
                          Store::PutResult& result)
{
    bool own = !in_command_;
    if (own)
        begin_command();
    touch(key, deadline != kKeepDeadline && flags != kKeepFlags);
    bool absent_before = !store_.peek_any(key);
    result = store_.put(key, value, deadline, flags);
    // A new key must fit beside the keys held and the keys still on their
    // way to etcd (whose count compare makes the cap exact). Another create
    // of this same key takes no second place: only one of them can commit.
    size_t reserved = reserved_.size() - (reserved_.contains(std::string(key)) ? 1 : 0);
    if (result == Store::PutResult::Inserted && absent_before && store_.stored() + reserved > store_.capacity()) {
        store_.apply_erase(key);
        result = Store::PutResult::Full;
    }
    command_full_ = command_full_ || result == Store::PutResult::Full;
    return own ? end_command() : 0;
}

uint64_t EtcdBackend::erase(std::string_view key, bool& erased)
{
    bool own = !in_command_;
    if (own)
        begin_command();
    touch(key, false);  // see Before::whole
    erased = store_.erase(key);
    return own ? end_command() : 0;
}

uint64_t EtcdBackend::set_deadline(std::string_view key, int64_t deadline, Store::Version version, bool& found)
{
    bool own = !in_command_;
    if (own)
        begin_command();
    touch(key, false);  // the value written back is the one the copy holds
    found = store_.set_deadline(key, deadline, version);
    return own ? end_command() : 0;
}

uint64_t EtcdBackend::note_flush_at(int64_t unix_ms)
{
    bool own = !in_command_;
    if (own)
        begin_command();
    if (unix_ms != 0) {
        meta_ops_.push_back(put_op(flush_key_, std::to_string(unix_ms)));
    } else {
        etcd::Op del;
        del.kind = etcd::Op::Kind::Delete;
        del.key = flush_key_;
        meta_ops_.push_back(std::move(del));
    }
    return own ? end_command() : 0;
}

uint64_t EtcdBackend::note_flush_done(int64_t unix_ms)
{
    bool own = !in_command_;
    if (own)
        begin_command();
    note_flush_at(0);
    meta_compares_.push_back(compare(flush_key_, etcd::Compare::Target::Value, 0, std::to_string(unix_ms)));
    return own ? end_command() : 0;
}

uint64_t EtcdBackend::clear()
{
    bool own = !in_command_;
    if (own)
        begin_command();
    command_clear_ = true;
    return own ? end_command() : 0;
}

EtcdBackend::Command EtcdBackend::seal()
{
    store_.log_reads(nullptr);
    Command c;
    c.clear = command_clear_;
    std::sort(read_keys_.begin(), read_keys_.end());
    read_keys_.erase(std::unique(read_keys_.begin(), read_keys_.end()), read_keys_.end());
    for (const auto& [key, before] : touched_) {
        auto now = store_.peek_any(key);
        bool existed = before.value.has_value();
        std::string etcd_key = data_prefix_ + key;
        // Written back as it was, or not written at all (a delete of an
        // absent key, a touch of one): the command's answer still rests on
        // the copy's view of the key, which may be behind etcd (another
        // host's create not yet here). A compare without an op makes etcd
        // confirm that view, or the command runs again once the copy has
        // caught up. The version alone cannot tell "unchanged": a memcached
        // touch keeps it (Store::Version::Keep). A key written whole and not
        // read (a plain save or set) needs only to be in etcd still: a newer
        // value from another host changes nothing in the answer, and this
        // write is simply ordered after it, so two hosts' saves of one key
        // do not refuse each other.
        bool whole = before.whole && !std::binary_search(read_keys_.begin(), read_keys_.end(), key);
        if (existed && whole)
            c.compares.push_back(exists(key));
        else
            c.compares.push_back(unchanged(key, existed ? std::optional(before.version) : std::nullopt));
        c.keys.push_back(key);
        if ((!now && !existed)
            || (now && existed && now->version == before.version && now->deadline == before.deadline
                && now->flags == before.flags && now->value == *before.value))
            continue;
        if (now) {
            c.ops.push_back(put_op(etcd_key, etcd::encode_value(now->value, now->deadline, now->flags)));
        } else {
            etcd::Op del;
            del.kind = etcd::Op::Kind::Delete;
            del.key = etcd_key;
            c.ops.push_back(std::move(del));
        }
        if (!existed && now)
            c.creates.push_back(key);
        c.count_delta += (!existed && now) ? 1 : (existed && !now) ? -1 : 0;
    }
    // The keys a write command only read: each as the copy holds it, which
    // etcd confirms or the command runs again (a clear makes them moot).
    for (const std::string& key : read_keys_) {
        if (c.clear || touched_.contains(key))
            continue;
        auto now = store_.peek_any(key);
        c.compares.push_back(unchanged(key, now ? std::optional(now->version) : std::nullopt));
        c.keys.push_back(key);
    }
    read_keys_.clear();
    // "full" rests on the copy's count, which may not have seen another
    // host's deletes: the count is compared too (fill_slot). A command that
    // wrote something as well goes without (its own creates are reserved).
    c.count_read = command_full_ && c.ops.empty() && !c.clear;
    // etcd refuses a transaction naming one key twice: two commands writing
    // flush-at never share a batch (the key is busy as a data key would be).
    // After the compared keys: stale() pairs keys and compares by position.
    if (!meta_ops_.empty()) {
        c.meta_ops.push_back(std::move(meta_ops_.back()));  // the command's last word on it
        meta_ops_.clear();
        c.meta_compares = std::move(meta_compares_);
        meta_compares_.clear();
        c.keys.push_back(flush_key_);
    }
    // The copy goes back to what etcd holds; the watch brings the rest.
    for (const auto& [key, before] : touched_)
        undo(key, before);
    touched_.clear();
    return c;
}

uint64_t EtcdBackend::end_command()
{
    in_command_ = false;
    Command c = seal();
    if (c.ops.empty() && c.compares.empty() && !c.clear && !c.count_read && c.meta_ops.empty())
        return 0;
    c.ticket = new_ticket();
    uint64_t ticket = c.ticket;
    if (std::string why = too_large(c); !why.empty()) {
        resolve(ticket, State::Failed, why, c.clear ? "unsupported" : "too-large");
        return ticket;
    }
    queue_command(std::move(c));
    return ticket;
}

// What one etcd transaction cannot carry (docs/scale-out.md,
// "Transactions"): "" when `c` fits.
std::string EtcdBackend::too_large(const Command& c) const
{
    if (c.clear && !c.ops.empty())
        return "a command that empties the store and then writes is not supported with the etcd backend; send "
               "the writes after the flush";
    size_t bytes = 0;
    for (const auto& op : c.ops)
        bytes += op.key.size() + op.value.size();
    if (c.ops.size() <= kMaxBatchOps && c.compares.size() <= kMaxBatchOps && bytes <= kMaxBatchBytes)
        return "";
    return "this command writes " + std::to_string(c.ops.size()) + " keys (" + std::to_string(bytes)
        + " bytes) and depends on " + std::to_string(c.compares.size())
        + "; with the etcd backend one command writes or depends on at most " + std::to_string(kMaxBatchOps)
        + " keys, and writes at most " + std::to_string(kMaxBatchBytes >> 20) + " MiB";
}

uint64_t EtcdBackend::new_ticket()
{
    uint64_t t = next_ticket_++;
    tickets_[t].created = Steady::now();
    pending_order_.push_back(t);
    return t;
}

void EtcdBackend::queue_command(Command c)
{
    if (std::string why = refusal(); !why.empty()) {
        resolve(c.ticket, State::Failed, why);
        return;
    }
    Ticket& t = tickets_[c.ticket];
    for (const std::string& key : c.creates)
        ++reserved_[key];
    t.creates = c.creates;
    t.internal = c.internal;
    queued_.push_back(std::move(c));
    schedule_batch();
}

uint64_t EtcdBackend::sync()
{
    uint64_t t = new_ticket();
    syncs_.push_back(t);
    schedule_batch();
    return t;
}

// --- Tickets ----------------------------------------------------------------

int64_t EtcdBackend::commit_revision(uint64_t ticket) const
{
    auto it = tickets_.find(ticket);
    return it != tickets_.end() && it->second.state == State::Done ? it->second.wait_revision : 0;
}

EtcdBackend::State EtcdBackend::state(uint64_t ticket) const
{
    // A ticket forgotten (kTicketMemory) may have been Failed or Retry: its
    // door did not read it in time (a client that does not read its
    // replies). Never say Done for a write that may not have happened.
    auto it = tickets_.find(ticket);
    if (it == tickets_.end())
        return ticket < next_ticket_ ? State::Failed : State::Done;
    return it->second.state;
}

std::string EtcdBackend::failure_text(uint64_t ticket) const
{
    auto it = tickets_.find(ticket);
    if (it == tickets_.end())
        return "the outcome of this write is unknown: it was decided more than " + std::to_string(kTicketMemory.count())
            + " s before it was read";
    return it->second.error;
}

std::string EtcdBackend::failure_code(uint64_t ticket) const
{
    auto it = tickets_.find(ticket);
    return it == tickets_.end() ? "unavailable" : it->second.code;
}

std::string EtcdBackend::refusal() const
{
    return threads_ ? threads_->unavailable_why() : "";
}

void EtcdBackend::resolve(uint64_t ticket, State state, std::string error, std::string code)
{
    auto it = tickets_.find(ticket);
    if (it == tickets_.end())
        return;
    Ticket& t = it->second;
    if (t.state != State::Pending)
        return;
    // Outside on_notify (a batch made later in the turn, the expiry timer,
    // end_command), nothing else would wake the client that waits for it.
    if (!in_notify_ && threads_)
        threads_->poke();
    t.state = state;
    t.error = std::move(error);
    t.code = std::move(code);
    t.resolved_at = Steady::now();
    resolved_order_.emplace_back(t.resolved_at, ticket);
    for (const std::string& key : t.creates)
        if (auto r = reserved_.find(key); r != reserved_.end() && --r->second == 0)
            reserved_.erase(r);
    t.creates.clear();
    if (t.sent)
        for (const std::string& key : t.keys)
            busy_keys_.erase(busy_keys_.find(key));
    t.sent = false;
    if (state == State::Retry)
        ++retries_;
    if (ticket == expiry_ticket_)
        expiry_ticket_ = 0;
}

void EtcdBackend::wait_for(uint64_t ticket, int64_t revision, State then)
{
    auto it = tickets_.find(ticket);
    if (it == tickets_.end())
        return;
    it->second.wait_revision = revision;
    it->second.then = then;
    waiting_.emplace(revision, ticket);
}

void EtcdBackend::resolve_applied()
{
    bool changed = false;  // by a write of this host
    while (!waiting_.empty() && waiting_.begin()->first <= applied_revision_) {
        uint64_t ticket = waiting_.begin()->second;
        waiting_.erase(waiting_.begin());
        auto it = tickets_.find(ticket);
        if (it == tickets_.end())
            continue;
        if (it->second.then == State::Done && it->second.state == State::Pending)
            changed = changed || !it->second.keys.empty();
        resolve(ticket, it->second.then);
    }
    if (changed)
        retry_stale();
}

// The bound on every answer (docs/scale-out.md, "When etcd is in trouble"):
// a command waits at most for a transaction in flight before its own, and
// then for its own: each gives up after --etcd-timeout. A ticket older than
// that (and a second more, for the watch to bring a committed write back) is
// answered Failed, outcome unknown: whatever happened to etcd or to the
// watch meanwhile, no client waits longer. Resolved tickets are forgotten
// after kTicketMemory.
void EtcdBackend::forget_old_tickets()
{
    auto now = Steady::now();
    auto bound = 2 * config_.timeout + std::chrono::seconds(1);
    while (!pending_order_.empty()) {
        uint64_t ticket = pending_order_.front();
        auto it = tickets_.find(ticket);
        if (it != tickets_.end() && it->second.state == State::Pending) {
            if (now - it->second.created <= bound)
                break;
            resolve(ticket, State::Failed,
                    "etcd gave no answer within "
                        + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(bound).count())
                        + " ms; the outcome of this write is unknown (it may still be committed)");
        }
        pending_order_.pop_front();
    }
    // Resolved in time order: the oldest first (a scan of every ticket per
    // delivery cost a third of the loop at 3,000 writes/s).
    while (!resolved_order_.empty() && now - resolved_order_.front().first > kTicketMemory) {
        tickets_.erase(resolved_order_.front().second);
        resolved_order_.pop_front();
    }
}

// --- Batches ----------------------------------------------------------------

// Group commit: batches are made once the loop has run every command of this
// turn (Database::set_deferrer), so that the commands of all the clients
// that were ready together share a transaction. Without a deferrer (tests),
// at once.
void EtcdBackend::schedule_batch()
{
    if (!defer_) {
        next_batch();
        return;
    }
    if (batch_scheduled_)
        return;
    batch_scheduled_ = true;
    defer_([this] {
        batch_scheduled_ = false;
        next_batch();
    });
}

// Fills every idle slot with a batch, while there is something to send.
void EtcdBackend::next_batch()
{
    if (queued_.empty() && syncs_.empty())
        return;
    if (std::string why = refusal(); !why.empty()) {
        fail_queued(why);
        return;
    }
    for (size_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].busy && !fill_slot(i))
            return;
}

// Whether command `c` may go into a batch now, beside the keys of the
// batches in flight and of this one (`taken`): a command on a key another
// batch is writing would be refused (it was made against the older
// revision), so it waits, and is run again as soon as that write is in
// (retry_behind). Count changes go one batch at a time (each compares the
// count the copy knows), after the copy has the previous one.
bool EtcdBackend::sendable(const Command& c, const std::set<std::string, std::less<>>& taken) const
{
    for (const auto& k : c.keys)
        if (busy_keys_.contains(k) || taken.contains(k))
            return false;
    if (c.count_delta != 0 || c.clear || c.count_read)
        return !count_in_flight_ && applied_revision_ >= count_wait_revision_;
    return true;
}

bool EtcdBackend::fill_slot(size_t slot)
{
    Slot& s = slots_[slot];
    etcd::Txn txn;
    std::set<std::string, std::less<>> keys;
    int64_t delta = 0;
    size_t bytes = 0;
    bool clear = false, count = false, full_check = false;
    for (auto it = queued_.begin(); it != queued_.end();) {
        Command& c = *it;
        if (state(c.ticket) != State::Pending) {  // answered already (forget_old_tickets)
            it = queued_.erase(it);
            continue;
        }
        // The keys it creates must still fit beside what etcd holds now (the
        // copy may have applied other hosts' creates since the command ran):
        // else it runs again, against the copy that now knows.
        if (c.count_delta > 0
            && static_cast<int64_t>(count_known_) + delta + c.count_delta > static_cast<int64_t>(store_.capacity())) {
            resolve(c.ticket, State::Retry);
            it = queued_.erase(it);
            continue;
        }
        // And a "full" must still be so (another host's deletes since): by
        // put()'s own rule (the keys held and this host's creates on their
        // way), so that the command run again finds the room.
        if (c.count_read && sendable(c, keys) && store_.stored() + reserved_.size() < store_.capacity()) {
            resolve(c.ticket, State::Retry);
            it = queued_.erase(it);
            continue;
        }
        // Made against a key the copy has since seen change (another host's
        // write, or this host's on the same key): etcd would refuse it, and
        // the copy already knows why.
        if (stale(c)) {
            resolve(c.ticket, State::Retry);
            it = queued_.erase(it);
            continue;
        }
        size_t c_bytes = 0;
        for (const auto& op : c.ops)
            c_bytes += op.key.size() + op.value.size();
        bool first = s.commands.empty();
        // A clear goes alone; two commands on one key never share a batch.
        if (clear || !sendable(c, keys)
            || (!first
                && (c.clear || txn.success.size() + c.ops.size() + c.meta_ops.size() > kMaxBatchOps
                    || txn.compare.size() + c.compares.size() + c.meta_compares.size() > kMaxBatchOps
                    || bytes + c_bytes > kMaxBatchBytes))) {
            ++it;
            continue;
        }
        if (c.clear) {
            etcd::Op del;
            del.kind = etcd::Op::Kind::DeleteRange;
            del.key = data_prefix_;
            del.range_end = etcd::prefix_end(data_prefix_);
            txn.success.push_back(std::move(del));
            clear = true;
        }
        count = count || c.count_delta != 0 || c.clear || c.count_read;
        full_check = full_check || c.count_read;
        for (auto& cmp : c.compares)
            txn.compare.push_back(std::move(cmp));
        for (auto& op : c.ops)
            txn.success.push_back(std::move(op));
        for (auto& op : c.meta_ops)
            txn.success.push_back(std::move(op));
        for (auto& cmp : c.meta_compares)
            txn.compare.push_back(std::move(cmp));
        keys.insert(c.keys.begin(), c.keys.end());
        delta += c.count_delta;
        bytes += c_bytes;
        s.commands.push_back(std::move(c));
        it = queued_.erase(it);
    }
    if (s.commands.empty() && syncs_.empty())
        return false;
    if (clear) {
        txn.success.push_back(put_op(count_key_, etcd::count_text(0)));
    } else if (delta != 0 || full_check) {
        txn.compare.push_back(count_exists_
                                  ? compare(count_key_, etcd::Compare::Target::Value, 0, etcd::count_text(count_known_))
                                  : compare(count_key_, etcd::Compare::Target::Create, 0));
        int64_t after = static_cast<int64_t>(count_known_) + delta;
        if (delta != 0)
            txn.success.push_back(
                put_op(count_key_, etcd::count_text(static_cast<uint64_t>(std::max<int64_t>(after, 0)))));
    }
    // The failure branch (and a sync alone) reads the prefix's newest
    // revision: the copy must reach it before a command runs again.
    std::string prefix = config_.prefix + "/";
    txn.failure.push_back(newest_revision_op(prefix));
    if (s.commands.empty())
        txn.success.push_back(newest_revision_op(prefix));
    // The batch's mark (one key per slot): the client may send a transaction
    // again to another member when the first did not answer in time, and the
    // first may have committed it after all. The mark, written by the
    // transaction and read back by its failure branch, tells "refused because
    // it is already in" from a real conflict, so that no command runs twice.
    std::string mark_key = mark_key_ + "/" + std::to_string(slot);
    if (!s.commands.empty()) {
        // Compared too: a batch without compares of its own (a clear) must
        // not commit twice either, nor an old try after a newer batch.
        txn.compare.push_back(compare(mark_key, etcd::Compare::Target::Version, s.mark_version));
        s.mark = host_id_ + "/" + std::to_string(++batches_);
        txn.success.push_back(put_op(mark_key, s.mark));
        etcd::Op read;
        read.kind = etcd::Op::Kind::Range;
        read.key = mark_key;
        txn.failure.push_back(std::move(read));
    }
    for (const Command& c : s.commands) {
        Ticket& t = tickets_[c.ticket];
        t.keys = c.keys;
        t.sent = true;
        for (const auto& k : c.keys)
            busy_keys_.insert(k);
    }
    s.syncs = std::move(syncs_);
    syncs_.clear();
    s.changes_count = count;
    count_in_flight_ = count_in_flight_ || count;
    s.busy = true;
    threads_->send(slot, etcd::txn_body(txn));
    return true;
}

// Compares and keys are made in step (seal(), expire_cycle()).
bool EtcdBackend::stale(const Command& c) const
{
    for (size_t i = 0; i < c.keys.size() && i < c.compares.size(); ++i) {
        auto now = store_.peek_any(c.keys[i]);
        const etcd::Compare& made = c.compares[i];
        if (made.result == etcd::Compare::Result::Greater) {  // exists()
            if (!now)
                return true;
            continue;
        }
        etcd::Compare expected = unchanged(c.keys[i], now ? std::optional(now->version) : std::nullopt);
        if (made.target != expected.target || made.number != expected.number)
            return true;
    }
    return false;
}

etcd::Compare EtcdBackend::exists(const std::string& key) const
{
    etcd::Compare c = compare(data_prefix_ + key, etcd::Compare::Target::Create, 0);
    c.result = etcd::Compare::Result::Greater;
    return c;
}

etcd::Compare EtcdBackend::unchanged(const std::string& key, std::optional<uint64_t> version) const
{
    if (version)
        return compare(data_prefix_ + key, etcd::Compare::Target::Mod, static_cast<int64_t>(*version));
    if (auto it = foreign_.find(key); it != foreign_.end())
        return compare(data_prefix_ + key, etcd::Compare::Target::Mod, it->second);
    return compare(data_prefix_ + key, etcd::Compare::Target::Create, 0);
}

// A key holding what another program wrote: whatever entry the copy had
// there is gone from etcd, so it goes from the copy too.
void EtcdBackend::note_foreign(std::string_view key, int64_t mod_revision)
{
    LOG_WARN("etcd: %s is not an entry kvstored wrote; treated as absent",
             printable_bytes(data_prefix_ + std::string(key)).c_str());
    if (store_key_problem(key).empty() && store_.peek_any(key)) {
        store_.apply_erase(key);
        watches_.touch(key);
    }
    auto it = foreign_.find(key);
    if (it == foreign_.end())
        it = foreign_.emplace(std::string(key), 0).first;
    it->second = mod_revision;
}

void EtcdBackend::fail_queued(const std::string& why)
{
    for (Command& c : queued_)
        resolve(c.ticket, State::Failed, why);
    queued_.clear();
    for (uint64_t t : syncs_)
        resolve(t, State::Failed, why);
    syncs_.clear();
}

void EtcdBackend::on_batch_done(size_t slot, const BatchOutcome& outcome)
{
    Slot& s = slots_[slot];
    s.busy = false;
    int64_t revision = 0;
    if (!outcome.ok) {
        if (outcome.unavailable)
            threads_->mark_unavailable(outcome.error);
        LOG_WARN("etcd: a transaction of %zu write(s) failed: %s", s.commands.size(), outcome.error.c_str());
        for (const Command& c : s.commands)
            resolve(c.ticket, State::Failed, outcome.error);
        for (uint64_t t : s.syncs)
            resolve(t, State::Failed, outcome.error);
    } else {
        // What the copy must reach: the transaction's own revision when it
        // committed; when refused, the newest under the prefix (read by the
        // failure branch, first op), or, when the refusal found this batch's
        // mark (second op: an earlier try of it committed), the mark's.
        // A sync alone reads the newest in its success branch.
        bool committed = outcome.succeeded;
        revision = outcome.revision;
        const auto& ranges = outcome.txn.ranges;
        auto newest = [&](size_t i) {
            return ranges.size() > i && !ranges[i].kvs.empty() ? ranges[i].kvs.front().mod_revision : 0;
        };
        if (!committed && !s.commands.empty() && ranges.size() > 1) {
            // The mark as etcd holds it: the next batch of this slot compares it.
            s.mark_version = ranges[1].kvs.empty() ? 0 : ranges[1].kvs.front().version;
            if (!ranges[1].kvs.empty() && ranges[1].kvs.front().value == s.mark) {
                committed = true;
                revision = ranges[1].kvs.front().mod_revision;
            }
        } else if (committed && !s.commands.empty()) {
            ++s.mark_version;
        }
        if (!committed || s.commands.empty())
            revision = std::max<int64_t>(newest(0), 1);
        if (committed)
            txns_ += !s.commands.empty();
        else
            ++conflicts_;
        for (const Command& c : s.commands)
            wait_for(c.ticket, revision, committed ? State::Done : State::Retry);
        for (uint64_t t : s.syncs)
            wait_for(t, revision, State::Done);
    }
    if (s.changes_count) {
        count_in_flight_ = false;
        count_wait_revision_ = revision;
    }
    s.commands.clear();
    s.syncs.clear();
    s.changes_count = false;
}

// A queued command waiting behind a key that a write of this host has just
// changed was made against the older revision: if etcd would refuse it now,
// it runs again at once (a plain save behind another one still holds).
void EtcdBackend::retry_stale()
{
    for (auto it = queued_.begin(); it != queued_.end();) {
        if (stale(*it)) {
            resolve(it->ticket, State::Retry);
            it = queued_.erase(it);
        } else {
            ++it;
        }
    }
}

// --- What the threads deliver -----------------------------------------------

void EtcdBackend::on_notify()
{
    in_notify_ = true;
    struct Reset {
        bool& flag;
        ~Reset() { flag = false; }
    } reset{in_notify_};
    for (Delivery& d : threads_->take()) {
        switch (d.kind) {
        case Delivery::Kind::Events:
            apply_events(d.events);
            break;
        case Delivery::Kind::Reload:
            apply_reload(d.kvs, d.revision, d.seconds);
            break;
        case Delivery::Kind::Batch:
            on_batch_done(d.slot, d.batch);
            break;
        }
    }
    threads_->publish_applied(applied_revision_, store_.stored() + foreign_.size());
    resolve_applied();
    forget_old_tickets();
    in_notify_ = false;
    schedule_batch();
}

void EtcdBackend::apply_kv(const etcd::KeyValue& kv)
{
    if (kv.key == count_key_) {
        count_known_ = etcd::parse_count(kv.value).value_or(0);
        count_exists_ = true;
        return;
    }
    if (kv.key == flush_key_) {
        char* end = nullptr;
        long long at = std::strtoll(kv.value.c_str(), &end, 10);
        flush_at_ = end != kv.value.c_str() && *end == '\0' && at > 0 ? at : 0;
        return;
    }
    if (!kv.key.starts_with(data_prefix_))
        return;
    std::string_view key = std::string_view(kv.key).substr(data_prefix_.size());
    std::string value;
    int64_t deadline;
    uint32_t flags;
    if (!store_key_problem(key).empty() || !etcd::decode_value(kv.value, value, deadline, flags)) {
        note_foreign(key, kv.mod_revision);
        return;
    }
    if (auto it = foreign_.find(key); it != foreign_.end())
        foreign_.erase(it);
    store_.apply(key, value, deadline, flags, static_cast<uint64_t>(kv.mod_revision));
    watches_.touch(key);
}

// Events come in revision order, every event of a revision in one message;
// a watch resumed after a break may repeat revisions this copy has applied
// (and etcd 3.4.23 can deliver one twice): those are skipped.
void EtcdBackend::apply_events(std::vector<etcd::Event>& events)
{
    int64_t last = applied_revision_;
    for (const etcd::Event& e : events) {
        if (e.kv.mod_revision <= applied_revision_) {
            ++events_skipped_;
            continue;
        }
        last = std::max(last, e.kv.mod_revision);
        if (e.type == etcd::Event::Type::Put) {
            apply_kv(e.kv);
        } else if (e.kv.key == count_key_) {
            count_exists_ = false;
            count_known_ = 0;
        } else if (e.kv.key == flush_key_) {
            flush_at_ = 0;
        } else if (e.kv.key.starts_with(data_prefix_)) {
            std::string_view key = std::string_view(e.kv.key).substr(data_prefix_.size());
            if (auto it = foreign_.find(key); it != foreign_.end())
                foreign_.erase(it);
            store_.apply_erase(key);
            watches_.touch(key);
        }
    }
    applied_revision_ = last;
}

void EtcdBackend::apply_reload(std::vector<etcd::KeyValue>& kvs, int64_t revision, double seconds)
{
    if (!watches_.empty())
        watches_.touch_if([](std::string_view) { return true; });
    store_.clear();
    foreign_.clear();
    count_exists_ = false;
    count_known_ = 0;
    flush_at_ = 0;
    for (const auto& kv : kvs)
        apply_kv(kv);
    applied_revision_ = std::max(applied_revision_, revision);
    ++reloads_;
    last_reload_seconds_ = seconds;
    last_reload_entries_ = store_.stored();
    LOG_INFO("etcd: reloaded %zu entries at revision %lld in %.3f s", store_.stored(), static_cast<long long>(revision),
             seconds);
}

// --- Expiry -----------------------------------------------------------------

void EtcdBackend::expire_cycle()
{
    forget_old_tickets();
    next_batch();  // or fail what is queued, when writes are refused now
    if (!threads_->expiry_leader() || expiry_ticket_ != 0 || !refusal().empty())
        return;
    Command c;
    for (auto& [key, version] : store_.expired_entries(kExpiryBatch)) {
        std::string etcd_key = data_prefix_ + key;
        c.compares.push_back(compare(etcd_key, etcd::Compare::Target::Mod, static_cast<int64_t>(version)));
        etcd::Op del;
        del.kind = etcd::Op::Kind::Delete;
        del.key = etcd_key;
        c.ops.push_back(std::move(del));
        c.count_delta -= 1;
        c.keys.push_back(key);
    }
    if (c.ops.empty())
        return;
    c.internal = true;
    c.ticket = new_ticket();
    expiry_ticket_ = c.ticket;
    queue_command(std::move(c));
}

void EtcdBackend::fill_status(BackendStatus& s) const
{
    s.endpoint = threads_->endpoint();
    s.revision = applied_revision_;
    s.expiry_leader = threads_->expiry_leader();
    s.txns = txns_;
    s.conflicts = conflicts_;
    s.retries = retries_;
    s.reloads = reloads_;
    s.watch_restarts = threads_->watch_restarts();
    s.events_skipped = events_skipped_;
    s.last_reload_seconds = last_reload_seconds_;
    s.last_reload_entries = last_reload_entries_;
}

void EtcdBackend::rewatch_from(int64_t revision)
{
    threads_->rewatch_from(revision);
}

int EtcdBackend::notify_fd() const
{
    return threads_->notify_fd();
}

}  // namespace kv
