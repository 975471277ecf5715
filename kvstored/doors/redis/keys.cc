// keys.cc: Redis's key commands (DEL .. COPY) over the Database, and the
// helpers every handler file shares (handlers.h). Replies are Redis 7.0.15's,
// checked against redis-server; the differences are in docs/redis.md.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "command.h"  // parse_int64, kMaxKeyBytes
#include "glob.h"
#include "handlers.h"

namespace kv::redis {

#define HANDLER(name)                                                                                                  \
    void name([[maybe_unused]] std::span<const std::string_view> args, [[maybe_unused]] Session& session,              \
              [[maybe_unused]] Context& ctx, [[maybe_unused]] ReplyWriter& reply, [[maybe_unused]] uint64_t& ticket)

bool key_ok(std::string_view key, ReplyWriter& reply)
{
    if (!key.empty() && key.size() <= kMaxKeyBytes)
        return true;
    reply.error("ERR kvstore keys are 1 to 250 bytes");
    return false;
}

bool keys_ok(std::span<const std::string_view> args, size_t first, size_t step, ReplyWriter& reply)
{
    for (size_t i = first; i < args.size(); i += step)
        if (!key_ok(args[i], reply))
            return false;
    return true;
}

bool write_refused(Context& ctx, ReplyWriter& reply)
{
    std::string why = ctx.db.write_refusal();
    if (why.empty())
        return false;
    ++ctx.stats.storage_refusals;
    if (ctx.db.replicated())
        reply.error("ERR unavailable " + why);
    else
        reply.error("MISCONF kvstore cannot write to its database: " + why);
    return true;
}

void reply_full(Context& ctx, ReplyWriter& reply)
{
    ++ctx.stats.full_rejections;
    const Store& store = ctx.db.store();
    reply.error("OOM command not allowed when the store is full (" + std::to_string(store.size()) + " of "
                + std::to_string(store.capacity()) + " entries, --when-full refuse)");
}

bool is_option(std::string_view a, std::string_view b)
{
    a = a.substr(0, a.find('\0'));  // Redis compares C strings (strcasecmp)
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

std::optional<int64_t> integer_arg(std::string_view text, ReplyWriter& reply)
{
    std::optional<int64_t> n = parse_int64(text);
    if (!n)
        reply.error("ERR value is not an integer or out of range");
    return n;
}

namespace {

void note(uint64_t& ticket, uint64_t t)
{
    ticket = std::max(ticket, t);
}

// SCAN's cursors (docs/redis.md, "SCAN"): each names the last key of the
// page it ended and the session that got it. Lookups are server-wide (a
// cursor works from any connection while it lives), but each session holds
// at most kPerSession live cursors: its next one retires its own oldest, never
// another session's, so no client can flush the cursors of the others, and a
// session's cursors go when it ends (forget_scan_cursors, from ~Session). A
// cursor is an opaque nonzero 64-bit number: a counter passed through a
// bijective mix (splitmix64's finaliser) from a random start, so two live
// cursors never collide and none is guessable from another. Memory: at most
// sessions x 16 x (a key of up to 250 bytes + about 100 bytes of map and
// queue overhead), about 5.6 KB per session that scans.
class ScanCursors {
public:
    static constexpr size_t kPerSession = 16;

    uint64_t add(uint64_t owner, std::string_view last_key)
    {
        if (!seeded_) {
            counter_ = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
            seeded_ = true;
        }
        uint64_t id;
        do
            id = mix(counter_++);
        while (id == 0);
        std::vector<uint64_t>& mine = by_owner_[owner];
        mine.reserve(kPerSession);  // so that the push_back below cannot throw
        if (mine.size() == kPerSession) {
            by_id_.erase(mine.front());
            mine.erase(mine.begin());
        }
        by_id_.emplace(id, Cursor{owner, std::string(last_key)});
        mine.push_back(id);
        return id;
    }
    const std::string* find(uint64_t id) const
    {
        auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : &it->second.last_key;
    }
    void forget(uint64_t owner)
    {
        auto it = by_owner_.find(owner);
        if (it == by_owner_.end())
            return;
        for (uint64_t id : it->second)
            by_id_.erase(id);
        by_owner_.erase(it);
    }

private:
    struct Cursor {
        uint64_t owner;
        std::string last_key;
    };
    static uint64_t mix(uint64_t z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    bool seeded_ = false;  // seeded at the first cursor, not at load time
    uint64_t counter_ = 0;
    std::unordered_map<uint64_t, Cursor> by_id_;
    std::unordered_map<uint64_t, std::vector<uint64_t>> by_owner_;  // each session's, oldest first
};

// The server's one cursor table: kvstored runs one Database, and its Redis
// sessions all run on the server's thread, as every handler here does.
ScanCursors scan_cursors;

// Keys SCAN examines in one call at most, whatever COUNT asks: COUNT is a
// hint in Redis too (a call may return fewer keys, and a MATCH filters the
// page after it is taken), and this bounds one call's work to about
// 1000 x (one tree step + one glob match) whatever the pattern.
constexpr size_t kScanMaxCount = 1000;

// Redis's parseScanCursorOrReply: strtoul, no leading blank, nothing after
// the digits (up to the first NUL, as C sees the argument).
std::optional<uint64_t> parse_cursor(std::string_view text)
{
    std::string s(text);
    if (!s.empty() && std::isspace(static_cast<unsigned char>(s[0])))
        return std::nullopt;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return std::nullopt;
    return v;
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: Redis's expireGenericCommand.
void expire_generic(std::span<const std::string_view> args, Context& ctx, ReplyWriter& reply, uint64_t& ticket, bool at,
                    bool seconds, std::string_view name)
{
    ++ctx.stats.expires;
    if (write_refused(ctx, reply) || !key_ok(args[1], reply))
        return;
    bool nx = false, xx = false, gt = false, lt = false;
    for (size_t j = 3; j < args.size(); ++j) {
        if (is_option(args[j], "nx"))
            nx = true;
        else if (is_option(args[j], "xx"))
            xx = true;
        else if (is_option(args[j], "gt"))
            gt = true;
        else if (is_option(args[j], "lt"))
            lt = true;
        else
            // Redis prints the option as a C string: up to its first NUL.
            return reply.error("ERR Unsupported option " + std::string(args[j].substr(0, args[j].find('\0'))));
    }
    if (nx && (xx || gt || lt))
        return reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    if (gt && lt)
        return reply.error("ERR GT and LT options at the same time are not compatible");
    std::optional<int64_t> when = integer_arg(args[2], reply);
    if (!when)
        return;
    const std::string invalid = "ERR invalid expire time in '" + std::string(name) + "' command";
    if (seconds) {
        if (*when > LLONG_MAX / 1000 || *when < LLONG_MIN / 1000)
            return reply.error(invalid);
        *when *= 1000;
    }
    int64_t now = ctx.clock.now_ms();
    int64_t base = at ? 0 : now;
    if (*when > LLONG_MAX - base)
        return reply.error(invalid);
    *when += base;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (!e)
        return reply.integer(0);
    // A key without a deadline counts as one that never expires.
    bool volatile_key = e->deadline != kNoDeadline;
    if ((nx && volatile_key) || (xx && !volatile_key) || (gt && (!volatile_key || *when <= e->deadline))
        || (lt && volatile_key && *when >= e->deadline))
        return reply.integer(0);
    bool found;
    if (*when <= now) {
        note(ticket, ctx.db.erase(args[1], found));
    } else {
        // kvstore keeps deadlines up to the year 10889 (kMaxDeadline); Redis
        // takes any that fits in 64 bits.
        if (*when > kMaxDeadline)
            return reply.error(invalid);
        note(ticket, ctx.db.set_deadline(args[1], *when, found));
    }
    reply.integer(1);
}

// TTL, PTTL, EXPIRETIME, PEXPIRETIME: Redis's ttlGenericCommand (seconds are
// rounded to the nearest, as Redis rounds them).
void ttl_generic(std::span<const std::string_view> args, Context& ctx, ReplyWriter& reply, bool ms, bool absolute)
{
    ++ctx.stats.ttls;
    if (!key_ok(args[1], reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().peek(args[1]);
    if (!e)
        return reply.integer(-2);
    if (e->deadline == kNoDeadline)
        return reply.integer(-1);
    int64_t t = absolute ? e->deadline : std::max<int64_t>(e->deadline - ctx.clock.now_ms(), 0);
    reply.integer(ms ? t : (t + 500) / 1000);
}

// RENAME and RENAMENX. The source is erased before the destination is
// written, so that a full store always has room for the destination.
void rename_generic(std::span<const std::string_view> args, Context& ctx, ReplyWriter& reply, uint64_t& ticket, bool nx)
{
    if (write_refused(ctx, reply) || !keys_ok(args, 1, 1, reply))
        return;
    Store& store = ctx.db.store();
    std::optional<Store::Entry> src = store.get(args[1]);
    if (!src)
        return reply.error("ERR no such key");
    if (args[1] == args[2])
        return nx ? reply.integer(0) : reply.ok();
    if (nx && store.contains(args[2]))
        return reply.integer(0);
    std::string value(src->value);
    int64_t deadline = src->deadline;
    uint32_t flags = src->flags;
    bool erased;
    note(ticket, ctx.db.erase(args[1], erased));
    Store::PutResult result;
    // The whole entry moves: its deadline and memcached flags with it.
    note(ticket, ctx.db.put(args[2], value, deadline, flags, result));
    if (result == Store::PutResult::Full)
        return reply_full(ctx, reply);
    nx ? reply.integer(1) : reply.ok();
}

}  // namespace

void forget_scan_cursors(uint64_t session_id)
{
    scan_cursors.forget(session_id);
}

HANDLER(cmd_del)
{
    ++ctx.stats.deletes;
    if (write_refused(ctx, reply) || !keys_ok(args, 1, 1, reply))
        return;
    long long n = 0;
    for (size_t i = 1; i < args.size(); ++i) {
        bool erased;
        note(ticket, ctx.db.erase(args[i], erased));
        n += erased;
    }
    reply.integer(n);
}

HANDLER(cmd_exists)
{
    if (!keys_ok(args, 1, 1, reply))
        return;
    long long n = 0;
    for (size_t i = 1; i < args.size(); ++i) {
        bool found = ctx.db.store().contains(args[i]);
        ++(found ? ctx.stats.hits : ctx.stats.misses);
        n += found;
    }
    reply.integer(n);
}

HANDLER(cmd_type)
{
    if (key_ok(args[1], reply))
        reply.simple(ctx.db.store().contains(args[1]) ? "string" : "none");
}

// One array of every matching key, sorted bytewise (Redis: hash order). Its
// size is bounded by the store's: --capacity keys of at most 250 bytes, about
// 260 bytes each in the reply (2.6 MB at the default 10,000 entries).
HANDLER(cmd_keys)
{
    GlobPattern pattern(args[1]);
    std::vector<std::string_view> keys = ctx.db.store().keys(pattern.literal_prefix());
    if (!pattern.matches_everything())
        std::erase_if(keys, [&](std::string_view k) { return !pattern.matches(k); });
    reply.array(keys.size());
    for (std::string_view k : keys)
        reply.bulk(k);
}

HANDLER(cmd_scan)
{
    std::optional<uint64_t> cursor = parse_cursor(args[1]);
    if (!cursor)
        return reply.error("ERR invalid cursor");
    int64_t count = 10;
    std::optional<std::string_view> match, type;
    for (size_t i = 2; i < args.size();) {
        bool has_value = args.size() - i >= 2;
        if (is_option(args[i], "count") && has_value) {
            std::optional<int64_t> n = integer_arg(args[i + 1], reply);
            if (!n)
                return;
            if (*n < 1)
                return reply.error("ERR syntax error");
            count = *n;
        } else if (is_option(args[i], "match") && has_value) {
            match = args[i + 1];
        } else if (is_option(args[i], "type") && has_value) {
            type = args[i + 1];
        } else {
            return reply.error("ERR syntax error");
        }
        i += 2;
    }
    std::string after;
    if (*cursor != 0) {
        const std::string* last = scan_cursors.find(*cursor);
        if (!last)
            return reply.error("ERR invalid cursor");
        after = *last;
    }
    std::optional<GlobPattern> pattern;
    if (match && *match != "*")
        pattern.emplace(*match);
    const Store& store = ctx.db.store();
    std::vector<std::string_view> page;
    size_t limit = std::min<size_t>(static_cast<size_t>(count), kScanMaxCount);
    bool more = store.keys_page(pattern ? pattern->literal_prefix() : "", after, limit, page);
    uint64_t next = more && !page.empty() ? scan_cursors.add(session.id, page.back()) : 0;
    // Every value is a string: TYPE string (any case) keeps all, another type none.
    if (type && !is_option(*type, "string"))
        page.clear();
    if (pattern)
        std::erase_if(page, [&](std::string_view k) { return !pattern->matches(k); });
    reply.array(2);
    reply.bulk(std::to_string(next));
    reply.array(page.size());
    for (std::string_view k : page)
        reply.bulk(k);
}

HANDLER(cmd_rename)
{
    rename_generic(args, ctx, reply, ticket, false);
}

HANDLER(cmd_renamenx)
{
    rename_generic(args, ctx, reply, ticket, true);
}

// The first key after a random byte string (or the first key): every key can
// come up, though not uniformly (nor are Redis's picks).
HANDLER(cmd_randomkey)
{
    static std::mt19937_64 rng{std::random_device{}()};
    const Store& store = ctx.db.store();
    std::vector<std::string_view> page;
    uint64_t r = rng();
    std::string after(reinterpret_cast<const char*>(&r), sizeof r);
    if (!store.keys_page("", after, 1, page) && page.empty())
        store.keys_page("", "", 1, page);
    if (page.empty())
        return reply.null();
    reply.bulk(page[0]);
}

// FLUSHDB and FLUSHALL [ASYNC|SYNC]: one database, cleared at once either way.
HANDLER(cmd_flushdb)
{
    if (write_refused(ctx, reply))
        return;
    if (args.size() > 2 || (args.size() == 2 && !is_option(args[1], "sync") && !is_option(args[1], "async")))
        return reply.error("ERR syntax error");
    note(ticket, ctx.db.clear());
    reply.ok();
}

HANDLER(cmd_expire)
{
    expire_generic(args, ctx, reply, ticket, false, true, "expire");
}

HANDLER(cmd_pexpire)
{
    expire_generic(args, ctx, reply, ticket, false, false, "pexpire");
}

HANDLER(cmd_expireat)
{
    expire_generic(args, ctx, reply, ticket, true, true, "expireat");
}

HANDLER(cmd_pexpireat)
{
    expire_generic(args, ctx, reply, ticket, true, false, "pexpireat");
}

HANDLER(cmd_ttl)
{
    ttl_generic(args, ctx, reply, false, false);
}

HANDLER(cmd_pttl)
{
    ttl_generic(args, ctx, reply, true, false);
}

HANDLER(cmd_expiretime)
{
    ttl_generic(args, ctx, reply, false, true);
}

HANDLER(cmd_pexpiretime)
{
    ttl_generic(args, ctx, reply, true, true);
}

HANDLER(cmd_persist)
{
    ++ctx.stats.persists;
    if (write_refused(ctx, reply) || !key_ok(args[1], reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (!e || e->deadline == kNoDeadline)
        return reply.integer(0);
    bool found;
    note(ticket, ctx.db.set_deadline(args[1], kNoDeadline, found));
    reply.integer(found ? 1 : 0);
}

// Marks each key used (eviction's LRU stamp), as Redis's TOUCH does.
HANDLER(cmd_touch)
{
    if (!keys_ok(args, 1, 1, reply))
        return;
    long long n = 0;
    for (size_t i = 1; i < args.size(); ++i)
        n += ctx.db.store().get(args[i]).has_value();
    reply.integer(n);
}

// COPY source destination [DB 0] [REPLACE]: kvstore has database 0 only.
HANDLER(cmd_copy)
{
    if (write_refused(ctx, reply))
        return;
    bool replace = false;
    for (size_t j = 3; j < args.size(); ++j) {
        if (is_option(args[j], "replace")) {
            replace = true;
        } else if (is_option(args[j], "db") && j + 1 < args.size()) {
            std::optional<int64_t> db = integer_arg(args[++j], reply);
            if (!db)
                return;
            if (*db < INT_MIN || *db > INT_MAX)
                return reply.error("ERR value is out of range, value must between -2147483648 and 2147483647");
            if (*db != 0)
                return reply.error("ERR DB index is out of range");
        } else {
            return reply.error("ERR syntax error");
        }
    }
    if (!keys_ok(args.subspan(0, 3), 1, 1, reply))
        return;
    if (args[1] == args[2])
        return reply.error("ERR source and destination objects are the same");
    Store& store = ctx.db.store();
    std::optional<Store::Entry> src = store.get(args[1]);
    if (!src)
        return reply.integer(0);
    if (!replace && store.contains(args[2]))
        return reply.integer(0);
    std::string value(src->value);
    Store::PutResult result;
    // The whole entry, its deadline and memcached flags included.
    note(ticket, ctx.db.put(args[2], value, src->deadline, src->flags, result));
    if (result == Store::PutResult::Full)
        return reply_full(ctx, reply);
    reply.integer(1);
}

}  // namespace kv::redis
