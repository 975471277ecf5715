// commands.cc: see commands.h. Requests come from kvsvc, which already parsed and
// validated the client's line; they are checked again here because kvstored
// trusts no peer.
#include "commands.h"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "backend_report.h"
#include "command.h"
#include "dump_format.h"
#include "version.h"

namespace kv {
namespace {

struct Context {
    const wire::Request& req;
    Database& db;
    Store& store;
    Stats& stats;
    const Limits& limits;
    std::string& out;
    std::optional<Listing>& listing;
    uint64_t ticket = 0;
};

// The longest expiry a peer may ask for, relative to now: kvsvc allows
// 3,153,600,000 seconds (100 years); kvstored trusts no peer to have checked.
constexpr int64_t kMaxExpiryMs = int64_t{3'153'600'000} * 1000;

// Writes are refused, and nothing changes, while storage is failing.
bool refuse_if_storage_failed(Context& c)
{
    std::string why = c.db.write_refusal();
    if (why.empty())
        return false;
    ++c.stats.storage_refusals;
    c.out += error_reply(c.db.failure_code(), why);
    return true;
}

void put_line(std::string& out, std::string_view a, std::string_view b = {})
{
    out.append(a);
    if (!b.empty())
        out.append(" ").append(b);
    out.push_back('\n');
}

// A value a command would store: within --max-value. Any bytes may be in it
// (the store's rule): kvsvc cannot send a LF, but an admin `set` may, as a
// Redis client may; read answers such a value "ERR unshowable" (answer_value).
bool value_ok(Context& c, std::string_view value)
{
    if (value.size() > c.limits.max_value) {
        c.out += error_reply("too-long",
                             "value is " + std::to_string(value.size()) + " bytes; the limit is "
                                 + std::to_string(c.limits.max_value));
        return false;
    }
    return true;
}

// The deadline a write asks for (kNoDeadline, kKeepDeadline or unix ms), or
// false with an ERR reply when the request's expiry is out of range. A
// deadline already past is allowed: the entry is gone at once.
bool requested_deadline(Context& c, int64_t& deadline)
{
    int64_t ms = c.req.expiry_ms;
    switch (c.req.expiry) {
    case wire::Expiry::None:
        deadline = kNoDeadline;
        return true;
    case wire::Expiry::Keep:
        deadline = kKeepDeadline;
        return true;
    case wire::Expiry::After:
        if (ms > 0 && ms <= kMaxExpiryMs) {
            deadline = c.store.clock().now_ms() + ms;
            return true;
        }
        break;
    case wire::Expiry::At:
        if (ms > 0 && ms <= c.store.clock().now_ms() + kMaxExpiryMs) {
            deadline = ms;
            return true;
        }
        break;
    }
    c.out += error_reply("syntax", "ttl must be 1 to 3153600000 seconds");
    return false;
}

// Stores `value` under the request's key with `deadline`; on a full store
// answers "ERR full" and returns false. `flags` (memcached's, store.h): 0 for
// a whole new value (save, add, replace, cas), kKeepFlags for a change in
// place (incr, decr, append), as memcached keeps them.
bool store_value(Context& c, std::string_view value, int64_t deadline, int64_t flags)
{
    Store::PutResult result;
    c.ticket = c.db.put(c.req.key, value, deadline, flags, result);
    if (result != Store::PutResult::Full)
        return true;
    ++c.stats.full_rejections;
    c.out
        += error_reply("full", std::to_string(c.store.size()) + "/" + std::to_string(c.store.capacity()) + " entries");
    return false;
}

// The checks every value-writing command makes before it looks at the store.
bool write_allowed(Context& c, int64_t& deadline)
{
    return value_ok(c, c.req.value) && !refuse_if_storage_failed(c) && requested_deadline(c, deadline);
}

void do_save(Context& c)
{
    ++c.stats.saves;
    int64_t deadline;
    if (write_allowed(c, deadline) && store_value(c, c.req.value, deadline, 0))
        put_line(c.out, "OK");
}

// add (set only if absent: a lock) and replace (only if present): the
// condition and the write are one step, as every command is.
void set_if(Context& c, bool want_present, std::string_view otherwise)
{
    int64_t deadline;
    if (!write_allowed(c, deadline))
        return;
    if (c.store.contains(c.req.key) != want_present)
        put_line(c.out, otherwise);
    else if (store_value(c, c.req.value, deadline, 0))
        put_line(c.out, "OK");
}

void do_add(Context& c)
{
    ++c.stats.adds;
    set_if(c, false, "EXISTS");
}

void do_replace(Context& c)
{
    ++c.stats.replaces;
    set_if(c, true, "NOT_FOUND");
}

// Compare-and-set on the entry's version (as `gets` shows it).
void do_cas(Context& c)
{
    ++c.stats.cas;
    int64_t deadline;
    if (!write_allowed(c, deadline))
        return;
    std::optional<Store::Entry> e = c.store.get(c.req.key);
    if (!e) {
        put_line(c.out, "NOT_FOUND");
    } else if (e->version != c.req.version) {
        ++c.stats.cas_changed;
        put_line(c.out, "CHANGED");
    } else if (store_value(c, c.req.value, deadline, 0)) {
        put_line(c.out, "OK");
    }
}

// read, gets and take: "VALUE [<version> ]<value>" of the live entry, or
// NOT_FOUND, counted as a hit or a miss. True when there was one and it was
// sent. A value written through another door that one line cannot carry (a
// LF) is answered "ERR unshowable": sent, it would end the reply early and
// its rest would read as further replies (docs/protocol.md, "Keys and values
// written through other doors").
bool answer_value(Context& c, bool with_version)
{
    std::optional<Store::Entry> e = c.store.get(c.req.key);
    ++(e ? c.stats.hits : c.stats.misses);
    if (!e) {
        put_line(c.out, "NOT_FOUND");
        return false;
    }
    if (auto why = unshowable_value(e->value); !why.empty()) {
        c.out += error_reply("unshowable", std::string(why) + "; read it through the Redis door");
        return false;
    }
    c.out.append("VALUE ");
    if (with_version)
        c.out.append(std::to_string(e->version)).append(" ");
    c.out.append(e->value).push_back('\n');
    return true;
}

void do_read(Context& c)
{
    ++c.stats.reads;
    answer_value(c, false);
}

void do_gets(Context& c)
{
    ++c.stats.gets;
    answer_value(c, true);
}

// incr and decr: a missing key counts from 0 (and gets no deadline); an
// existing one keeps its deadline.
void do_add_to_counter(Context& c, bool decrement)
{
    ++(decrement ? c.stats.decrs : c.stats.incrs);
    if (refuse_if_storage_failed(c))
        return;
    // The stored value obeys the line protocol's rule for numbers (parse_int64:
    // Redis's string2ll, so that the Redis door agrees).
    // The deadline the read saw is the one written back, not kKeepDeadline:
    // the clock may pass it between the read and the write, and then the
    // entry must still expire, not become permanent.
    int64_t n = 0;
    int64_t deadline = kNoDeadline;
    if (std::optional<Store::Entry> e = c.store.get(c.req.key)) {
        std::optional<int64_t> stored = parse_int64(e->value);
        if (!stored) {
            c.out += error_reply("not-integer", "the value is not a signed 64-bit decimal integer");
            return;
        }
        n = *stored;
        deadline = e->deadline;
    }
    bool overflow = decrement ? __builtin_sub_overflow(n, c.req.delta, &n) : __builtin_add_overflow(n, c.req.delta, &n);
    if (overflow) {
        c.out += error_reply("overflow", "the result would not fit in a signed 64-bit integer");
        return;
    }
    std::string value = std::to_string(n);
    if (value_ok(c, value) && store_value(c, value, deadline, kKeepFlags))
        put_line(c.out, "VALUE", value);
}

void do_incr(Context& c)
{
    do_add_to_counter(c, false);
}

void do_decr(Context& c)
{
    do_add_to_counter(c, true);
}

// Creates the key when absent; an existing one keeps its deadline.
void do_append(Context& c)
{
    ++c.stats.appends;
    if (!value_ok(c, c.req.value) || refuse_if_storage_failed(c))
        return;
    std::string value;
    int64_t deadline = kNoDeadline;  // as the read saw it: see do_add_to_counter
    if (std::optional<Store::Entry> e = c.store.get(c.req.key)) {
        deadline = e->deadline;
        if (e->value.size() + c.req.value.size() > c.limits.max_value) {
            c.out += error_reply("too-long",
                                 "the value would be " + std::to_string(e->value.size() + c.req.value.size())
                                     + " bytes; the limit is " + std::to_string(c.limits.max_value));
            return;
        }
        value.reserve(e->value.size() + c.req.value.size());
        value.append(e->value);
    }
    value.append(c.req.value);
    if (store_value(c, value, deadline, kKeepFlags))
        put_line(c.out, "OK");
}

// Read and delete in one step; a value it cannot show stays (answer_value).
void do_take(Context& c)
{
    ++c.stats.takes;
    if (refuse_if_storage_failed(c) || !answer_value(c, false))
        return;
    bool erased;
    c.ticket = c.db.erase(c.req.key, erased);
}

void do_delete(Context& c)
{
    ++c.stats.deletes;
    if (refuse_if_storage_failed(c))
        return;
    bool erased;
    c.ticket = c.db.erase(c.req.key, erased);
    put_line(c.out, erased ? "OK" : "NOT_FOUND");
}

// A deadline now or in the past deletes the entry at once.
void do_expire(Context& c)
{
    ++c.stats.expires;
    if (refuse_if_storage_failed(c))
        return;
    int64_t now = c.store.clock().now_ms();
    int64_t ms = c.req.expiry_ms;
    bool valid = c.req.expiry == wire::Expiry::After ? ms >= -kMaxExpiryMs && ms <= kMaxExpiryMs
                                                     : c.req.expiry == wire::Expiry::At && ms <= now + kMaxExpiryMs;
    if (!valid) {
        c.out += error_reply("syntax", "expire needs -3153600000 to 3153600000 seconds");
        return;
    }
    int64_t deadline = c.req.expiry == wire::Expiry::After ? now + ms : ms;
    bool found;
    if (deadline <= now)
        c.ticket = c.db.erase(c.req.key, found);
    else
        c.ticket = c.db.set_deadline(c.req.key, deadline, found);
    put_line(c.out, found ? "OK" : "NOT_FOUND");
}

void do_persist(Context& c)
{
    ++c.stats.persists;
    if (refuse_if_storage_failed(c))
        return;
    bool found;
    c.ticket = c.db.set_deadline(c.req.key, kNoDeadline, found);
    put_line(c.out, found ? "OK" : "NOT_FOUND");
}

// Seconds left, rounded up: an entry with 1 ms left still shows "TTL 1".
void do_ttl(Context& c)
{
    ++c.stats.ttls;
    std::optional<Store::Entry> e = c.store.peek(c.req.key);
    if (!e) {
        put_line(c.out, "NOT_FOUND");
        return;
    }
    if (e->deadline == kNoDeadline) {
        put_line(c.out, "TTL", "none");
        return;
    }
    // At least 1: the entry was live when peek read the clock.
    int64_t left = std::max<int64_t>(e->deadline - c.store.clock().now_ms(), 1);
    put_line(c.out, "TTL", std::to_string((left + 999) / 1000));
}

void do_exists(Context& c)
{
    bool found = c.store.contains(c.req.key);
    ++(found ? c.stats.hits : c.stats.misses);
    put_line(c.out, found ? "YES" : "NO");
}

// Answered in pages by the caller (Listing).
void do_keys(Context& c)
{
    c.listing.emplace(Listing::Kind::Keys, c.req.key);
}

void do_count(Context& c)
{
    put_line(c.out, "COUNT", std::to_string(c.store.size()) + " " + std::to_string(c.store.capacity()));
}

// Each door's own counters (stats.h), so that `stats`, and so the admin
// `kvstored stats` and its Prometheus form, show every counter kvstored
// keeps: the Redis door's are also in its INFO, the memcached door's in its
// `stats` (as memcache_<memcached's name>).
void add_door_rows(std::vector<std::pair<std::string, std::string>>& rows, const Stats& s)
{
    const Stats::Memcache& m = s.memcache;
    auto num = [](uint64_t n) { return std::to_string(n); };
    rows.insert(rows.end(),
                {
                    {"line_connections_total", num(s.line_connections_total)},
                    {"redis_connections_total", num(s.redis_connections_total)},
                    {"redis_error_replies", num(s.error_replies)},
                    {"redis_exec_aborts", num(s.exec_aborts)},
                    {"memcache_connections_total", num(m.connections_total)},
                    {"memcache_cmd_get", num(m.cmd_get)},
                    {"memcache_cmd_set", num(m.cmd_set)},
                    {"memcache_cmd_flush", num(m.cmd_flush)},
                    {"memcache_cmd_touch", num(m.cmd_touch)},
                    {"memcache_cmd_meta", num(m.meta_cmds)},
                    {"memcache_get_hits", num(m.get_hits)},
                    {"memcache_get_misses", num(m.get_misses)},
                    {"memcache_delete_hits", num(m.delete_hits)},
                    {"memcache_delete_misses", num(m.delete_misses)},
                    {"memcache_incr_hits", num(m.incr_hits)},
                    {"memcache_incr_misses", num(m.incr_misses)},
                    {"memcache_decr_hits", num(m.decr_hits)},
                    {"memcache_decr_misses", num(m.decr_misses)},
                    {"memcache_cas_hits", num(m.cas_hits)},
                    {"memcache_cas_misses", num(m.cas_misses)},
                    {"memcache_cas_badval", num(m.cas_badval)},
                    {"memcache_touch_hits", num(m.touch_hits)},
                    {"memcache_touch_misses", num(m.touch_misses)},
                    {"memcache_store_too_large", num(m.store_too_large)},
                    {"memcache_store_no_memory", num(m.store_no_memory)},
                    {"memcache_total_items", num(m.total_items)},
                });
}

void do_stats(Context& c)
{
    const Stats& s = c.stats;
    Persistence* p = c.db.persistence();
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started);
    std::vector<std::pair<std::string, std::string>> rows = {
        {"version", KVSTORE_VERSION},
        {"uptime_seconds", std::to_string(uptime.count())},
        {"entries", std::to_string(c.store.size())},
        {"capacity", std::to_string(c.store.capacity())},
        {"when_full", c.store.when_full() == WhenFull::Evict ? "evict" : "refuse"},
        {"connections_current", std::to_string(s.connections_current)},
        {"connections_total", std::to_string(s.connections_total)},
        {"commands_total", std::to_string(s.commands_total)},
        {"saves", std::to_string(s.saves)},
        {"reads", std::to_string(s.reads)},
        {"deletes", std::to_string(s.deletes)},
        {"adds", std::to_string(s.adds)},
        {"replaces", std::to_string(s.replaces)},
        {"gets", std::to_string(s.gets)},
        {"cas", std::to_string(s.cas)},
        {"cas_changed", std::to_string(s.cas_changed)},
        {"incrs", std::to_string(s.incrs)},
        {"decrs", std::to_string(s.decrs)},
        {"appends", std::to_string(s.appends)},
        {"takes", std::to_string(s.takes)},
        {"expires", std::to_string(s.expires)},
        {"persists", std::to_string(s.persists)},
        {"ttls", std::to_string(s.ttls)},
        {"hits", std::to_string(s.hits)},
        {"misses", std::to_string(s.misses)},
        {"full_rejections", std::to_string(s.full_rejections)},
        {"expired_entries", std::to_string(c.store.expired_total())},
        {"evictions", std::to_string(c.store.evicted_total())},
        {"protocol_errors", std::to_string(s.protocol_errors)},
        {"persistence", p ? sync_mode_name(p->config().mode) : "memory"},
        {"commits", std::to_string(p ? p->commits() : 0)},
        {"last_commit_unix", std::to_string(p ? p->last_commit_unix() : 0)},
        {"storage_failed", p && p->failed() ? "1" : "0"},
        {"storage_refusals", std::to_string(s.storage_refusals)},
    };
    add_door_rows(rows, s);
    // Where the store lives, and whether it takes writes (backend_report.h).
    BackendRows backend = backend_rows(c.db.backend_status());
    rows.insert(rows.end(), backend.begin(), backend.end());
    // Last, and only for the commands that ran: a kvstored nobody used
    // answers the rows above alone.
    s.latency.append_rows(rows);
    put_line(c.out, "STATS", std::to_string(rows.size()));
    for (const auto& [name, value] : rows)
        put_line(c.out, name, value);
}

// A strong read (docs/protocol.md, "sync"): with the etcd backend the ticket
// of Database::sync(), and the reply is made again once it is durable
// (run_command's caller: awaited_command.h); without etcd, at once.
void do_sync(Context& c)
{
    c.ticket = c.db.sync();
    c.out += synced_reply(c.db);
}

using Handler = void (*)(Context&);

struct OpSpec {
    Handler handler;
    enum { NoKey, Key, Prefix } key;
    bool writes = false;  // Database::write_command
};

OpSpec spec_for(wire::Op op)
{
    switch (op) {
    case wire::Op::Save:
        return {do_save, OpSpec::Key, true};
    case wire::Op::Read:
        return {do_read, OpSpec::Key};
    case wire::Op::Delete:
        return {do_delete, OpSpec::Key, true};
    case wire::Op::Exists:
        return {do_exists, OpSpec::Key};
    case wire::Op::Keys:
        return {do_keys, OpSpec::Prefix};
    case wire::Op::Count:
        return {do_count, OpSpec::NoKey};
    case wire::Op::Stats:
        return {do_stats, OpSpec::NoKey};
    case wire::Op::Add:
        return {do_add, OpSpec::Key, true};
    case wire::Op::Replace:
        return {do_replace, OpSpec::Key, true};
    case wire::Op::Gets:
        return {do_gets, OpSpec::Key};
    case wire::Op::Cas:
        return {do_cas, OpSpec::Key, true};
    case wire::Op::Incr:
        return {do_incr, OpSpec::Key, true};
    case wire::Op::Decr:
        return {do_decr, OpSpec::Key, true};
    case wire::Op::Append:
        return {do_append, OpSpec::Key, true};
    case wire::Op::Take:
        return {do_take, OpSpec::Key, true};
    case wire::Op::Expire:
        return {do_expire, OpSpec::Key, true};
    case wire::Op::Persist:
        return {do_persist, OpSpec::Key, true};
    case wire::Op::Ttl:
        return {do_ttl, OpSpec::Key};
    case wire::Op::Sync:
        return {do_sync, OpSpec::NoKey};
    default:  // admin operations: admin.h
        return {nullptr, OpSpec::NoKey};
    }
}

}  // namespace

bool Listing::next_page(const Store& store, std::string& out)
{
    std::vector<std::string_view> keys;
    bool more = store.keys_page(prefix_, after_, kPageKeys, keys);
    std::string lines;
    size_t n = 0, listed = 0;
    for (; n < keys.size() && lines.size() < kPageBytes; ++n) {
        if (kind_ == Kind::Keys) {
            // Only keys the line protocol can name: one with a LF would
            // break the one-key-per-line framing, and one with a space, ':'
            // or control byte could not be used in any command anyway.
            if (!key_problem(keys[n]).empty())
                continue;
            lines.append(keys[n]).push_back('\n');
            ++listed;
        } else if (auto entry = store.peek(keys[n])) {  // a tsv dump line: any key and value, escaped
            lines.append(dump::encode_line(dump::Format::Tsv, keys[n], entry->value, entry->deadline, entry->flags));
            lines.push_back('\n');
            ++listed;
        }
    }
    more = more || n < keys.size();
    std::string header
        = std::string(kind_ == Kind::Keys ? "KEYS " : "DUMP ") + std::to_string(listed) + (more ? " more\n" : "\n");
    std::string last = n > 0 ? std::string(keys[n - 1]) : after_;
    // Nothing above changed the listing: a failed allocation leaves it as it was.
    out.reserve(out.size() + header.size() + lines.size());
    out.append(header).append(lines);
    after_ = std::move(last);
    return more;
}

uint64_t execute(const wire::Request& req, Database& db, Stats& stats, const Limits& limits, std::string& out,
                 std::optional<Listing>& listing)
{
    ++stats.commands_total;
    OpSpec spec = spec_for(req.op);
    if (!spec.handler) {
        out += error_reply("unknown-command", "not a data operation");
        return 0;
    }
    bool key_needed = spec.key == OpSpec::Key || (spec.key == OpSpec::Prefix && !req.key.empty());
    if (key_needed) {
        // The store's rule: kvsvc's parser already held a client's key to the
        // line protocol's, and the admin CLI may name any key the store holds.
        if (auto why = store_key_problem(req.key); !why.empty()) {
            out += error_reply("bad-key", why);
            return 0;
        }
    }
    if (spec.writes)
        db.write_command();
    Context ctx{req, db, db.store(), stats, limits, out, listing};
    spec.handler(ctx);
    return ctx.ticket;
}

uint64_t execute_for_client(const wire::Request& req, Database& db, Stats& stats, const Limits& limits,
                            std::string& out, std::optional<Listing>& listing)
{
    uint64_t start = monotonic_ns();
    uint64_t ticket = execute(req, db, stats, limits, out, listing);
    // Only the data operations the line protocol names (op_word): an admin
    // or unknown op is not a line command.
    if (std::string_view word = op_word(req.op); !word.empty())
        stats.latency.record(Latency::Door::Line, static_cast<size_t>(req.op), word, monotonic_ns() - start);
    return ticket;
}

std::string permission_problem(const wire::Request& req, const users::User& user)
{
    using users::Right;
    OpSpec spec = spec_for(req.op);
    if (!spec.handler)
        return {};  // execute() answers unknown-command
    bool reads = true, writes = spec.writes;
    switch (req.op) {
    case wire::Op::Save:
    case wire::Op::Add:
    case wire::Op::Replace:
    case wire::Op::Cas:
    case wire::Op::Append:
    case wire::Op::Delete:
    case wire::Op::Expire:
    case wire::Op::Persist:
        reads = false;
        break;
    default:
        break;
    }
    auto refuse = [&](std::string_view what) {
        return error_reply("no-permission", "user '" + user.name + "' may not " + std::string(what));
    };
    if ((reads && !user.has(Right::Read)) || (writes && !user.has(Right::Write)))
        return refuse(std::string(writes ? (reads ? "read and write" : "write") : "read")
                      + " (rights: " + (user.rights ? users::format_rights(user.rights) : "none") + ")");
    if (spec.key == OpSpec::Key) {
        if ((reads && !users::allows(user, Right::Read, req.key))
            || (writes && !users::allows(user, Right::Write, req.key)))
            return refuse("use key '" + printable_bytes(req.key) + "' (keys: " + [&] {
                std::string all;
                for (const std::string& p : user.patterns)
                    all += (all.empty() ? "" : " ") + p;
                return all;
            }() + ")");
    } else if (spec.key == OpSpec::Prefix && !user.all_keys() && !user.has(Right::AdminData)) {
        return refuse("list keys: its key patterns do not cover every key and it lacks admin-data");
    }
    return {};
}

std::string synced_reply(const Database& db)
{
    return "OK synced " + std::to_string(db.backend_status().revision) + "\n";
}

}  // namespace kv
