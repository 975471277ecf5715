// strings.cc: Redis's string commands (GET .. LCS) over the Database.
// Replies are Redis 7.0.15's, checked against redis-server; the differences
// are in docs/redis.md. Each write reads the entry once and writes back the
// deadline that read saw (never kKeepDeadline), as the line protocol does:
// the clock may pass the deadline in between, and the entry must then still
// expire rather than become permanent.
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "command.h"  // parse_int64
#include "handlers.h"

namespace kv::redis {

#define HANDLER(name)                                                                                                  \
    void name([[maybe_unused]] std::span<const std::string_view> args, [[maybe_unused]] Session& session,              \
              [[maybe_unused]] Context& ctx, [[maybe_unused]] ReplyWriter& reply, [[maybe_unused]] uint64_t& ticket)

namespace {

constexpr std::string_view kTooBig = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

// LCS's table is (len1 + 1) x (len2 + 1) 32-bit cells, as in Redis; Redis
// refuses one larger than proto-max-bulk-len (512 MB), kvstore one larger
// than 4 MiB (1M cells: two values of about 1,000 bytes; a few ms of work,
// docs/redis.md "Limits"), with Redis's reply.
constexpr uint64_t kLcsMaxTableBytes = 4u << 20;

void note(uint64_t& ticket, uint64_t t)
{
    ticket = std::max(ticket, t);
}

// Stores `value` under `key`; false, with the OOM reply sent, when the
// store is full. `flags` (memcached's, store.h): 0 for a whole new value (SET
// and its variants, MSET), kKeepFlags for a change in place (APPEND, SETRANGE,
// INCR*, DECR*), as memcached's own append and incr keep them.
bool put(Context& ctx, ReplyWriter& reply, uint64_t& ticket, std::string_view key, std::string_view value,
         int64_t deadline, int64_t flags)
{
    Store::PutResult result;
    note(ticket, ctx.db.put(key, value, deadline, flags, result));
    if (result != Store::PutResult::Full)
        return true;
    reply_full(ctx, reply);
    return false;
}

bool value_fits(Context& ctx, ReplyWriter& reply, uint64_t size)
{
    if (size <= ctx.limits.max_value)
        return true;
    reply.error(kTooBig);
    return false;
}

// The options of SET (for_set) and GETEX: Redis's
// parseExtendedStringArgumentsOrReply, the same combinations refused.
enum Flag : unsigned {
    kNx = 1,
    kXx = 2,
    kGet = 4,
    kKeepTtl = 8,
    kPersist = 16,
    kEx = 32,
    kPx = 64,
    kExAt = 128,
    kPxAt = 256,
};

struct Options {
    unsigned flags = 0;
    std::string_view expire;  // the EX/PX/EXAT/PXAT argument, if flags has one
};

bool parse_options(std::span<const std::string_view> args, size_t first, bool for_set, Options& o, ReplyWriter& reply)
{
    constexpr unsigned kExpiry = kEx | kPx | kExAt | kPxAt;
    for (size_t j = first; j < args.size(); ++j) {
        std::string_view opt = args[j];
        bool next = j + 1 < args.size();
        unsigned& f = o.flags;
        auto expiry = [&](unsigned flag) {
            f |= flag;
            o.expire = args[++j];
        };
        if (is_option(opt, "nx") && !(f & kXx) && for_set)
            f |= kNx;
        else if (is_option(opt, "xx") && !(f & kNx) && for_set)
            f |= kXx;
        else if (is_option(opt, "get") && for_set)
            f |= kGet;
        else if (is_option(opt, "keepttl") && !(f & (kPersist | kExpiry)) && for_set)
            f |= kKeepTtl;
        else if (is_option(opt, "persist") && !for_set && !(f & (kExpiry | kKeepTtl)))
            f |= kPersist;
        else if (is_option(opt, "ex") && !(f & (kKeepTtl | kPersist | (kExpiry & ~kEx))) && next)
            expiry(kEx);
        else if (is_option(opt, "px") && !(f & (kKeepTtl | kPersist | (kExpiry & ~kPx))) && next)
            expiry(kPx);
        else if (is_option(opt, "exat") && !(f & (kKeepTtl | kPersist | (kExpiry & ~kExAt))) && next)
            expiry(kExAt);
        else if (is_option(opt, "pxat") && !(f & (kKeepTtl | kPersist | (kExpiry & ~kPxAt))) && next)
            expiry(kPxAt);
        else {
            reply.error("ERR syntax error");
            return false;
        }
    }
    return true;
}

// The deadline (unix ms) an expiry argument asks for: Redis's
// getExpireMillisecondsOrReply, plus kvstore's own limit (kMaxDeadline, the
// year 10889) under the same error. `command` names it in the error.
std::optional<int64_t> expiry_deadline(Context& ctx, ReplyWriter& reply, std::string_view text, unsigned flag,
                                       std::string_view command)
{
    std::optional<int64_t> ms = integer_arg(text, reply);
    if (!ms)
        return std::nullopt;
    bool seconds = flag == kEx || flag == kExAt;
    bool relative = flag == kEx || flag == kPx;
    bool ok = *ms > 0 && !(seconds && *ms > LLONG_MAX / 1000);
    int64_t deadline = 0;
    if (ok) {
        deadline = seconds ? *ms * 1000 : *ms;
        if (relative)
            ok = !__builtin_add_overflow(deadline, ctx.clock.now_ms(), &deadline);
        ok = ok && deadline <= kMaxDeadline;
    }
    if (!ok) {
        reply.error("ERR invalid expire time in '" + std::string(command) + "' command");
        return std::nullopt;
    }
    return deadline;
}

// SET and its variants: writes `value` with `deadline` (kNoDeadline, or unix
// ms; one already past deletes the key, as Redis's lazy expiry would at
// once). NX/XX in `flags`. Sends nothing on success; returns whether the
// value was set, or nullopt when a reply (OOM) was already sent.
std::optional<bool> set_generic(Context& ctx, ReplyWriter& reply, uint64_t& ticket, std::string_view key,
                                std::string_view value, unsigned flags, int64_t deadline, bool present)
{
    ++ctx.stats.saves;
    if (((flags & kNx) && present) || ((flags & kXx) && !present))
        return false;
    if (deadline != kNoDeadline && deadline <= ctx.clock.now_ms()) {
        bool erased;
        note(ticket, ctx.db.erase(key, erased));
        // Redis stores the key, already expired, and so touches it even when
        // nothing was there: a watcher's EXEC fails either way.
        ctx.db.watches().touch(key);
        return true;
    }
    if (!put(ctx, reply, ticket, key, value, deadline, 0))
        return std::nullopt;
    return true;
}

// The checks every command that writes a whole new value makes first.
bool can_write(Context& ctx, ReplyWriter& reply, std::string_view key)
{
    return !write_refused(ctx, reply) && key_ok(key, reply);
}

// Redis's string2ld: strtold over the whole argument, no leading blank, no
// NaN, no overflow (nor underflow to zero).
std::optional<long double> parse_long_double(std::string_view text)
{
    if (text.empty() || text.size() >= 5 * 1024)
        return std::nullopt;
    std::string s(text);
    errno = 0;
    char* end = nullptr;
    long double v = std::strtold(s.c_str(), &end);
    if (std::isspace(static_cast<unsigned char>(s[0])) || *end != '\0'
        || static_cast<size_t>(end - s.c_str()) != s.size()
        || (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) || errno == EINVAL
        || std::isnan(v))
        return std::nullopt;
    return v;
}

// Redis's ld2string(LD_STR_HUMAN): %.17Lf without trailing zeros, "-0" as "0".
std::string format_long_double(long double v)
{
    char buf[5 * 1024];
    int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
    std::string s(buf, static_cast<size_t>(std::max(n, 0)));
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0')
            s.pop_back();
        if (s.back() == '.')
            s.pop_back();
    }
    if (s == "-0")
        s = "0";
    return s;
}

// INCR, DECR, INCRBY, DECRBY: Redis's incrDecrCommand. A missing key counts
// from 0; an existing one keeps its deadline.
void incr_generic(Context& ctx, ReplyWriter& reply, uint64_t& ticket, std::string_view key, int64_t by)
{
    std::optional<Store::Entry> e = ctx.db.store().get(key);
    int64_t n = 0;
    int64_t deadline = kNoDeadline;
    if (e) {
        std::optional<int64_t> stored = parse_int64(e->value);
        if (!stored)
            return reply.error("ERR value is not an integer or out of range");
        n = *stored;
        deadline = e->deadline;
    }
    if (__builtin_add_overflow(n, by, &n))
        return reply.error("ERR increment or decrement would overflow");
    std::string value = std::to_string(n);
    if (value_fits(ctx, reply, value.size()) && put(ctx, reply, ticket, key, value, deadline, kKeepFlags))
        reply.integer(n);
}

}  // namespace

HANDLER(cmd_get)
{
    ++ctx.stats.reads;
    if (!key_ok(args[1], reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    ++(e ? ctx.stats.hits : ctx.stats.misses);
    e ? reply.bulk(e->value) : reply.null();
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
HANDLER(cmd_set)
{
    if (!can_write(ctx, reply, args[1]))
        return;
    Options o;
    if (!parse_options(args, 3, true, o, reply))
        return;
    int64_t deadline = kNoDeadline;
    if (unsigned f = o.flags & (kEx | kPx | kExAt | kPxAt)) {
        std::optional<int64_t> d = expiry_deadline(ctx, reply, o.expire, f, "set");
        if (!d)
            return;
        deadline = *d;
    }
    if (!value_fits(ctx, reply, args[2].size()))
        return;
    // Only the options that need it look at the key: with etcd, a key
    // written without being read needs only to be there still when the
    // write commits (docs/scale-out.md), so plain SETs from two hosts do not
    // refuse each other.
    std::optional<Store::Entry> old;
    if (o.flags & (kNx | kXx | kGet | kKeepTtl))
        old = ctx.db.store().get(args[1]);
    if (o.flags & kKeepTtl)
        deadline = old ? old->deadline : kNoDeadline;
    std::optional<std::string> previous;
    if (old && (o.flags & kGet))
        previous.emplace(old->value);
    std::optional<bool> done = set_generic(ctx, reply, ticket, args[1], args[2], o.flags, deadline, old.has_value());
    if (!done)
        return;
    if (o.flags & kGet)
        previous ? reply.bulk(*previous) : reply.null();
    else
        *done ? reply.ok() : reply.null();
}

HANDLER(cmd_setnx)
{
    if (!can_write(ctx, reply, args[1]) || !value_fits(ctx, reply, args[2].size()))
        return;
    bool present = ctx.db.store().contains(args[1]);
    if (std::optional<bool> done = set_generic(ctx, reply, ticket, args[1], args[2], kNx, kNoDeadline, present))
        reply.integer(*done ? 1 : 0);
}

static void setex_generic(std::span<const std::string_view> args, Context& ctx, ReplyWriter& reply, uint64_t& ticket,
                          unsigned unit, std::string_view name)
{
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<int64_t> deadline = expiry_deadline(ctx, reply, args[2], unit, name);
    if (!deadline || !value_fits(ctx, reply, args[3].size()))
        return;
    if (set_generic(ctx, reply, ticket, args[1], args[3], 0, *deadline, false))
        reply.ok();
}

HANDLER(cmd_setex)
{
    setex_generic(args, ctx, reply, ticket, kEx, "setex");
}

HANDLER(cmd_psetex)
{
    setex_generic(args, ctx, reply, ticket, kPx, "psetex");
}

HANDLER(cmd_getset)
{
    if (!can_write(ctx, reply, args[1]) || !value_fits(ctx, reply, args[2].size()))
        return;
    std::optional<Store::Entry> old = ctx.db.store().get(args[1]);
    std::optional<std::string> previous;
    if (old)
        previous.emplace(old->value);
    if (set_generic(ctx, reply, ticket, args[1], args[2], 0, kNoDeadline, old.has_value()))
        previous ? reply.bulk(*previous) : reply.null();
}

HANDLER(cmd_getdel)
{
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (!e)
        return reply.null();
    reply.bulk(e->value);
    bool erased;
    note(ticket, ctx.db.erase(args[1], erased));
}

// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]: the key is looked up before
// the expiry is checked, as in Redis (a missing key answers null even with a
// bad expiry).
HANDLER(cmd_getex)
{
    if (!can_write(ctx, reply, args[1]))
        return;
    Options o;
    if (!parse_options(args, 2, false, o, reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (!e)
        return reply.null();
    int64_t deadline = kNoDeadline;
    if (unsigned f = o.flags & (kEx | kPx | kExAt | kPxAt)) {
        std::optional<int64_t> d = expiry_deadline(ctx, reply, o.expire, f, "getex");
        if (!d)
            return;
        deadline = *d;
    }
    reply.bulk(e->value);
    bool found;
    if (deadline != kNoDeadline && deadline <= ctx.clock.now_ms())
        note(ticket, ctx.db.erase(args[1], found));
    else if (deadline != kNoDeadline)
        note(ticket, ctx.db.set_deadline(args[1], deadline, found));
    else if ((o.flags & kPersist) && e->deadline != kNoDeadline)
        note(ticket, ctx.db.set_deadline(args[1], kNoDeadline, found));
}

HANDLER(cmd_mget)
{
    ++ctx.stats.reads;
    if (!keys_ok(args, 1, 1, reply))
        return;
    reply.array(args.size() - 1);
    for (size_t i = 1; i < args.size(); ++i) {
        std::optional<Store::Entry> e = ctx.db.store().get(args[i]);
        ++(e ? ctx.stats.hits : ctx.stats.misses);
        e ? reply.bulk(e->value) : reply.null();
    }
}

// MSET and MSETNX: all keys or none. With --when-full refuse the room for
// the new keys is checked first, so a full store refuses the whole command.
static void mset_generic(std::span<const std::string_view> args, Context& ctx, ReplyWriter& reply, uint64_t& ticket,
                         bool nx)
{
    if (write_refused(ctx, reply))
        return;
    if (args.size() % 2 == 0)
        return reply.error(std::string("ERR wrong number of arguments for '") + (nx ? "msetnx" : "mset") + "' command");
    if (!keys_ok(args, 1, 2, reply))
        return;
    for (size_t i = 2; i < args.size(); i += 2)
        if (!value_fits(ctx, reply, args[i].size()))
            return;
    Store& store = ctx.db.store();
    std::set<std::string_view> fresh;
    for (size_t i = 1; i < args.size(); i += 2) {
        if (!store.contains(args[i]))
            fresh.insert(args[i]);
        else if (nx)
            return reply.integer(0);
    }
    if (store.when_full() == WhenFull::Refuse && fresh.size() > ctx.db.room()) {
        ctx.db.note_full();
        return reply_full(ctx, reply);
    }
    for (size_t i = 1; i < args.size(); i += 2) {
        ++ctx.stats.saves;
        if (!put(ctx, reply, ticket, args[i], args[i + 1], kNoDeadline, 0))
            return;
    }
    nx ? reply.integer(1) : reply.ok();
}

HANDLER(cmd_mset)
{
    mset_generic(args, ctx, reply, ticket, false);
}

HANDLER(cmd_msetnx)
{
    mset_generic(args, ctx, reply, ticket, true);
}

// Creates the key (even with an empty value) when absent, as Redis does.
HANDLER(cmd_append)
{
    ++ctx.stats.appends;
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    std::string value;
    int64_t deadline = kNoDeadline;
    if (e) {
        if (!value_fits(ctx, reply, uint64_t{e->value.size()} + args[2].size()))
            return;
        deadline = e->deadline;
        value.reserve(e->value.size() + args[2].size());
        value.append(e->value);
    } else if (!value_fits(ctx, reply, args[2].size())) {
        return;
    }
    value.append(args[2]);
    if (put(ctx, reply, ticket, args[1], value, deadline, kKeepFlags))
        reply.integer(static_cast<long long>(value.size()));
}

HANDLER(cmd_strlen)
{
    if (!key_ok(args[1], reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    reply.integer(e ? static_cast<long long>(e->value.size()) : 0);
}

HANDLER(cmd_incr)
{
    ++ctx.stats.incrs;
    if (can_write(ctx, reply, args[1]))
        incr_generic(ctx, reply, ticket, args[1], 1);
}

HANDLER(cmd_decr)
{
    ++ctx.stats.decrs;
    if (can_write(ctx, reply, args[1]))
        incr_generic(ctx, reply, ticket, args[1], -1);
}

HANDLER(cmd_incrby)
{
    ++ctx.stats.incrs;
    if (!can_write(ctx, reply, args[1]))
        return;
    if (std::optional<int64_t> by = integer_arg(args[2], reply))
        incr_generic(ctx, reply, ticket, args[1], *by);
}

HANDLER(cmd_decrby)
{
    ++ctx.stats.decrs;
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<int64_t> by = integer_arg(args[2], reply);
    if (!by)
        return;
    if (*by == INT64_MIN)
        return reply.error("ERR decrement would overflow");
    incr_generic(ctx, reply, ticket, args[1], -*by);
}

// Computed in long double and written as Redis writes it (%.17Lf trimmed);
// the key keeps its deadline.
HANDLER(cmd_incrbyfloat)
{
    ++ctx.stats.incrs;
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    long double value = 0;
    int64_t deadline = kNoDeadline;
    if (e) {
        std::optional<long double> v = parse_long_double(e->value);
        if (!v)
            return reply.error("ERR value is not a valid float");
        value = *v;
        deadline = e->deadline;
    }
    std::optional<long double> by = parse_long_double(args[2]);
    if (!by)
        return reply.error("ERR value is not a valid float");
    value += *by;
    if (std::isnan(value) || std::isinf(value))
        return reply.error("ERR increment would produce NaN or Infinity");
    std::string text = format_long_double(value);
    if (value_fits(ctx, reply, text.size()) && put(ctx, reply, ticket, args[1], text, deadline, kKeepFlags))
        reply.bulk(text);
}

HANDLER(cmd_getrange)
{
    std::optional<int64_t> start = integer_arg(args[2], reply);
    if (!start)
        return;
    std::optional<int64_t> end = integer_arg(args[3], reply);
    if (!end || !key_ok(args[1], reply))
        return;
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (!e)
        return reply.bulk("");
    int64_t len = static_cast<int64_t>(e->value.size());
    int64_t s = *start, t = *end;
    if (s < 0 && t < 0 && s > t)
        return reply.bulk("");
    if (s < 0)
        s += len;
    if (t < 0)
        t += len;
    s = std::max<int64_t>(s, 0);
    t = std::max<int64_t>(t, 0);
    if (t >= len)
        t = len - 1;
    if (s > t || len == 0)
        return reply.bulk("");
    reply.bulk(e->value.substr(static_cast<size_t>(s), static_cast<size_t>(t - s + 1)));
}

// Pads with zero bytes; the key keeps its deadline. An empty value changes
// nothing (and creates no key).
HANDLER(cmd_setrange)
{
    if (!can_write(ctx, reply, args[1]))
        return;
    std::optional<int64_t> offset = integer_arg(args[2], reply);
    if (!offset)
        return;
    if (*offset < 0)
        return reply.error("ERR offset is out of range");
    std::string_view piece = args[3];
    std::optional<Store::Entry> e = ctx.db.store().get(args[1]);
    if (piece.empty())
        return reply.integer(e ? static_cast<long long>(e->value.size()) : 0);
    uint64_t off = static_cast<uint64_t>(*offset);
    if (!value_fits(ctx, reply, off + piece.size()))
        return;
    std::string value(e ? e->value : std::string_view{});
    int64_t deadline = e ? e->deadline : kNoDeadline;
    if (value.size() < off + piece.size())
        value.resize(off + piece.size(), '\0');
    value.replace(off, piece.size(), piece);
    if (put(ctx, reply, ticket, args[1], value, deadline, kKeepFlags))
        reply.integer(static_cast<long long>(value.size()));
}

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: Redis's
// lcsCommand, the same table and the same walk back through it, so that IDX
// lists the same ranges in the same order. Bounded by kLcsMaxTableBytes.
HANDLER(cmd_lcs)
{
    if (!keys_ok(args.subspan(0, 3), 1, 1, reply))
        return;
    bool getlen = false, getidx = false, withmatchlen = false;
    int64_t minmatchlen = 0;
    for (size_t j = 3; j < args.size(); ++j) {
        bool more = j + 1 < args.size();
        if (is_option(args[j], "idx")) {
            getidx = true;
        } else if (is_option(args[j], "len")) {
            getlen = true;
        } else if (is_option(args[j], "withmatchlen")) {
            withmatchlen = true;
        } else if (is_option(args[j], "minmatchlen") && more) {
            std::optional<int64_t> n = integer_arg(args[++j], reply);
            if (!n)
                return;
            minmatchlen = std::max<int64_t>(*n, 0);
        } else {
            return reply.error("ERR syntax error");
        }
    }
    if (getidx && getlen)
        return reply.error("ERR If you want both the length and indexes, please just use IDX.");
    Store& store = ctx.db.store();
    std::optional<Store::Entry> ea = store.get(args[1]);
    std::string a(ea ? ea->value : std::string_view{});
    std::optional<Store::Entry> eb = store.get(args[2]);
    std::string_view b = eb ? eb->value : std::string_view{};
    const uint64_t alen = a.size(), blen = b.size();
    // (alen + 1) x (blen + 1) cells past the bound, without the product (two
    // values of 2 GiB would overflow it).
    if (alen + 1 > kLcsMaxTableBytes / sizeof(uint32_t) / (blen + 1))
        return reply.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    std::vector<uint32_t> table((alen + 1) * (blen + 1), 0);
    auto at = [&](uint64_t i, uint64_t j) -> uint32_t& { return table[j + i * (blen + 1)]; };
    for (uint64_t i = 1; i <= alen; ++i)
        for (uint64_t j = 1; j <= blen; ++j)
            at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));

    uint32_t idx = at(alen, blen);
    bool computelcs = getidx || !getlen;
    std::string result(computelcs ? idx : 0, '\0');
    struct Range {
        uint64_t a_start, a_end, b_start, b_end;
    };
    std::vector<Range> ranges;
    uint64_t arange_start = alen, arange_end = 0, brange_start = 0, brange_end = 0;  // alen: none yet
    uint64_t i = alen, j = blen;
    while (computelcs && i > 0 && j > 0) {
        bool emit = false;
        if (a[i - 1] == b[j - 1]) {
            result[idx - 1] = a[i - 1];
            if (arange_start == alen) {
                arange_start = arange_end = i - 1;
                brange_start = brange_end = j - 1;
            } else if (arange_start == i && brange_start == j) {
                --arange_start;
                --brange_start;
            } else {
                emit = true;
            }
            if (arange_start == 0 || brange_start == 0)
                emit = true;
            --idx;
            --i;
            --j;
        } else {
            if (at(i - 1, j) > at(i, j - 1))
                --i;
            else
                --j;
            if (arange_start != alen)
                emit = true;
        }
        uint64_t match_len = arange_end - arange_start + 1;
        if (emit) {
            if (minmatchlen == 0 || match_len >= static_cast<uint64_t>(minmatchlen))
                ranges.push_back({arange_start, arange_end, brange_start, brange_end});
            arange_start = alen;
        }
    }
    if (getidx) {
        reply.map(2);
        reply.bulk("matches");
        reply.array(ranges.size());
        for (const Range& r : ranges) {
            reply.array(withmatchlen ? 3 : 2);
            reply.array(2);
            reply.integer(static_cast<long long>(r.a_start));
            reply.integer(static_cast<long long>(r.a_end));
            reply.array(2);
            reply.integer(static_cast<long long>(r.b_start));
            reply.integer(static_cast<long long>(r.b_end));
            if (withmatchlen)
                reply.integer(static_cast<long long>(r.a_end - r.a_start + 1));
        }
        reply.bulk("len");
        reply.integer(at(alen, blen));
    } else if (getlen) {
        reply.integer(at(alen, blen));
    } else {
        reply.bulk(result);
    }
}

}  // namespace kv::redis
