// transactions.cc: MULTI, EXEC, DISCARD, WATCH and UNWATCH with Redis 7.0's
// semantics (multi.c). execute() queues commands while a session is in MULTI;
// EXEC runs the queue back to back within one call of execute(), so within one
// step of kvstored's event loop: no other client's command runs in between.
//
// WATCH notes each key in the database's WatchRegistry; any write to it from
// any door marks the session dirty, and EXEC then answers a null array. A key
// that was live with a deadline at WATCH and has expired by EXEC also aborts
// it (Redis's isWatchedKeyExpired): expiry reaches nobody's registry, so EXEC
// looks at the deadlines it noted.
#include <algorithm>
#include <cctype>

#include "handlers.h"
#include "watch_registry.h"

namespace kv::redis {

namespace {

// What one session may watch (docs/redis.md): key bytes plus
// kWatchedKeyOverhead per key, a bound on what it holds here and in the
// registry (each key is kept in both).
constexpr size_t kMaxWatchedBytes = 256 * 1024;
constexpr size_t kWatchedKeyOverhead = 64;

}  // namespace

struct WatchState : WatchRegistry::Watcher {
    explicit WatchState(WatchRegistry& r) : registry(r) { }
    WatchState(const WatchState&) = delete;
    WatchState& operator=(const WatchState&) = delete;
    ~WatchState()
    {
        for (const Key& k : keys)
            registry.remove(k.key, this);
    }

    struct Key {
        std::string key;
        int64_t deadline;  // of the live entry at WATCH; kNoDeadline when none or absent
    };
    WatchRegistry& registry;
    std::vector<Key> keys;
    size_t bytes = 0;  // counted against kMaxWatchedBytes

    // A key live at WATCH has passed its deadline.
    bool expired(int64_t now_ms) const
    {
        return std::any_of(keys.begin(), keys.end(),
                           [now_ms](const Key& k) { return k.deadline != kNoDeadline && k.deadline <= now_ms; });
    }
};

Session::Session() = default;
Session::~Session()
{
    forget_scan_cursors(id);
}

namespace {

void unwatch_all(Session& session)
{
    session.watch.reset();
}

// Leaves MULTI with nothing queued and nothing watched (discardTransaction).
void discard_transaction(Session& session)
{
    session.in_multi = false;
    session.multi_failed = false;
    session.queued.clear();
    session.queued.shrink_to_fit();
    session.queued_bytes = 0;
    unwatch_all(session);
}

std::string lower(std::string_view s)
{
    std::string l(s);
    for (char& ch : l)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return l;
}

bool is_flush(std::string_view name)
{
    std::string n = lower(name);
    return n == "flushall" || n == "flushdb";
}

// Queued commands whose answer rests on the whole keyspace of this host's
// copy (KEYS and SCAN are never queued): a transaction's compares name keys,
// so beside a write nothing would tell etcd what they saw.
bool reads_keyspace(std::string_view name)
{
    std::string n = lower(name);
    return n == "dbsize" || n == "randomkey";
}

}  // namespace

void cmd_multi(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    if (session.in_multi) {
        reply.error("ERR MULTI calls can not be nested");
        return;
    }
    session.in_multi = true;
    session.multi_failed = false;
    reply.ok();
}

void cmd_discard(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    if (!session.in_multi) {
        reply.error("ERR DISCARD without MULTI");
        return;
    }
    discard_transaction(session);
    reply.ok();
}

void cmd_exec(Args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t& ticket)
{
    if (!session.in_multi) {
        reply.error("ERR EXEC without MULTI");
        return;
    }
    bool dirty = session.watch && (session.watch->dirty || session.watch->expired(ctx.db.store().clock().now_ms()));
    if (session.multi_failed) {
        ++ctx.stats.exec_aborts;
        reply.error("EXECABORT Transaction discarded because of previous errors.");
        discard_transaction(session);
        return;
    }
    if (dirty) {
        ++ctx.stats.exec_aborts;
        reply.null_array();
        discard_transaction(session);
        return;
    }
    if (ctx.db.replicated() && session.queued.size() > 1) {
        // With etcd a flush is one range delete, which etcd refuses beside a
        // put in one transaction ("duplicate key"), and this copy shows it
        // only once committed (a later read in the queue would see the old
        // entries): a flush must be alone in its EXEC.
        for (const auto& q : session.queued) {
            if (is_flush(q.front())) {
                reply.error("ERR FLUSHALL and FLUSHDB must be alone in a transaction with the etcd backend");
                discard_transaction(session);
                return;
            }
        }
    }
    // A transaction that writes rests on every key it reads, the reads
    // queued before its first write included.
    bool writes = false, scans = false;
    for (size_t i = 0; i < session.queued.size() && ctx.db.replicated(); ++i) {
        std::vector<std::string_view> args(session.queued[i].begin(), session.queued[i].end());
        const CommandSpec* spec = resolve_command(args);
        writes = writes || (spec && has_flag(*spec, "write"));
        scans = scans || reads_keyspace(session.queued[i].front());
    }
    if (writes && scans) {
        reply.error("ERR DBSIZE and RANDOMKEY cannot share a transaction that writes with the etcd backend");
        discard_transaction(session);
        return;
    }
    if (writes)
        ctx.db.write_command();
    unwatch_all(session);
    // The session stays in MULTI while its queue runs, as in Redis (CLIENT
    // INFO inside EXEC shows flags=x and the queue's length).
    std::string& out = reply.buffer();
    size_t exec_start = out.size();
    reply.array(session.queued.size());
    std::vector<std::string_view> args;
    for (size_t i = 0; i < session.queued.size(); ++i) {
        args.assign(session.queued[i].begin(), session.queued[i].end());
        // execute() found it and checked its arity when it queued it.
        const CommandSpec* spec = resolve_command(args);
        uint64_t t = 0;
        // Each reply in the protocol of its moment (HELLO); all of them
        // together within kMaxReplyBytes: past it a command still runs (the
        // transaction is one step) but its reply is an error saying so.
        size_t used = out.size() - exec_start;
        run_command(*spec, args, session, ctx, out, t, used < kMaxReplyBytes ? kMaxReplyBytes - used : 0);
        if (t != 0)
            ticket = t;
    }
    discard_transaction(session);
}

void cmd_watch(Args args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    if (session.in_multi) {
        reply.error("ERR WATCH inside MULTI is not allowed");
        return;
    }
    // With etcd a write from another host reaches this copy only when the
    // watch brings it, and EXEC's transaction compares only the keys it
    // writes: a watched key changed elsewhere could go unnoticed. Refused
    // rather than half kept (docs/redis.md).
    if (ctx.db.replicated()) {
        reply.error("ERR WATCH is not supported with the etcd backend");
        return;
    }
    if (!session.watch)
        session.watch = std::make_unique<WatchState>(ctx.db.watches());
    WatchState& w = *session.watch;
    size_t more = 0;
    for (std::string_view key : args.subspan(1))
        more += key.size() + kWatchedKeyOverhead;
    if (w.bytes + more > kMaxWatchedBytes) {
        reply.error("ERR kvstore watches at most " + std::to_string(kMaxWatchedBytes)
                    + " bytes of keys per connection (each key counts its length + "
                    + std::to_string(kWatchedKeyOverhead) + ")");
        return;
    }
    for (std::string_view key : args.subspan(1)) {
        if (!w.registry.add(key, &w))
            continue;  // already watched
        std::optional<Store::Entry> e = ctx.db.store().peek(key);
        w.keys.push_back(WatchState::Key{std::string(key), e ? e->deadline : kNoDeadline});
        w.bytes += key.size() + kWatchedKeyOverhead;
    }
    reply.ok();
}

void cmd_unwatch(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    unwatch_all(session);
    reply.ok();
}

}  // namespace kv::redis
