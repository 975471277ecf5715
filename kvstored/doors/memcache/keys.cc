// keys.cc: delete incr decr touch flush_all, as memcached 1.6.18's
// process_delete_command, process_arithmetic_command (do_add_delta),
// process_touch_command and process_flush_all_command answer them, in
// their order of checks. Every reply obeys noreply, errors included, as
// memcached's out_string does.
#include <optional>

#include "handlers.h"

namespace kv::memcache {
namespace {

// memcached's do_add_delta: the value must be a decimal number as
// safe_strtoull reads it (leading blanks, then digits up to a blank or the
// end: "12 abc" is 12; over 2^64 - 1 or empty is not a number). incr wraps
// at 2^64, decr stops at 0. A result no longer than the value is written
// over it and padded with spaces ("10" decr 1 is "9 "), as memcached
// rewrites the item in place; a longer one replaces it. Flags and deadline
// are kept.
uint64_t arithmetic(const Request& req, Context& ctx, std::string& out, bool incr)
{
    bool noreply = noreply_token(req);
    std::string_view key = req.tokens[1];
    if (!key_ok(key)) {
        reply_line(out, noreply, kBadFormat);
        return 0;
    }
    uint64_t delta = 0;
    if (!safe_strtoull(req.tokens[2], delta)) {
        reply_line(out, noreply, "CLIENT_ERROR invalid numeric delta argument");
        return 0;
    }
    if (write_refused(ctx, out, noreply))
        return 0;
    Stats::Memcache& m = ctx.stats.memcache;
    ++(incr ? ctx.stats.incrs : ctx.stats.decrs);
    std::optional<Store::Entry> e = ctx.db.store().get(key);
    if (!e) {
        ++(incr ? m.incr_misses : m.decr_misses);
        reply_line(out, noreply, "NOT_FOUND");
        return 0;
    }
    uint64_t value = 0;
    if (!safe_strtoull(e->value, value)) {
        reply_line(out, noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        return 0;
    }
    if (incr)
        value += delta;  // wraps at 2^64, as memcached's
    else
        value = delta > value ? 0 : value - delta;
    ++(incr ? m.incr_hits : m.decr_hits);
    std::string digits = std::to_string(value);
    std::string stored = digits;
    if (stored.size() < e->value.size())
        stored.append(e->value.size() - stored.size(), ' ');
    Store::PutResult result;
    uint64_t ticket = ctx.db.put(key, stored, e->deadline, kKeepFlags, result);
    if (result == Store::PutResult::Full) {  // cannot happen to a present key; answered as memcached's EOM
        reply_line(out, noreply, "SERVER_ERROR out of memory");
        return ticket;
    }
    reply_line(out, noreply, digits);
    return ticket;
}

}  // namespace

// delete <key> [0] [noreply]: memcached still takes a hold time of "0" (the
// old protocol's) and nothing else.
uint64_t delete_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    size_t n = req.tokens.size();
    bool noreply = false;
    if (n > 2) {
        bool hold_is_zero = req.tokens[2] == "0";
        noreply = noreply_token(req);
        bool valid = (n == 3 && (hold_is_zero || noreply)) || (n == 4 && hold_is_zero && noreply);
        if (!valid) {
            reply_line(out, noreply, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
            return 0;
        }
    }
    std::string_view key = req.tokens[1];
    if (!key_ok(key)) {
        reply_line(out, noreply, kBadFormat);
        return 0;
    }
    if (write_refused(ctx, out, noreply))
        return 0;
    ++ctx.stats.deletes;
    bool erased = false;
    uint64_t ticket = ctx.db.erase(key, erased);
    ++(erased ? ctx.stats.memcache.delete_hits : ctx.stats.memcache.delete_misses);
    reply_line(out, noreply, erased ? "DELETED" : "NOT_FOUND");
    return ticket;
}

uint64_t incr_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    return arithmetic(req, ctx, out, true);
}

uint64_t decr_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    return arithmetic(req, ctx, out, false);
}

// touch <key> <exptime> [noreply]. The entry keeps its cas unique, as in
// memcached (Store::Version::Keep).
uint64_t touch_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    bool noreply = noreply_token(req);
    std::string_view key = req.tokens[1];
    if (!key_ok(key)) {
        reply_line(out, noreply, kBadFormat);
        return 0;
    }
    int32_t exptime = 0;
    if (!safe_strtol(req.tokens[2], exptime)) {
        reply_line(out, noreply, kBadExptime);
        return 0;
    }
    if (write_refused(ctx, out, noreply))
        return 0;
    Stats::Memcache& m = ctx.stats.memcache;
    ++ctx.stats.expires;
    ++m.cmd_touch;
    int64_t deadline = deadline_of(exptime, ctx.clock);
    bool found = false;
    uint64_t ticket = 0;
    if (expired_at_once(deadline, ctx.clock))
        ticket = ctx.db.erase(key, found);
    else
        ticket = ctx.db.set_deadline(key, deadline, found, Store::Version::Keep);
    ++(found ? m.touch_hits : m.touch_misses);
    reply_line(out, noreply, found ? "TOUCHED" : "NOT_FOUND");
    return ticket;
}

// flush_all [delay] [noreply]. No delay (or 0, or a negative one) empties
// the store now; a delay (seconds, or a unix time over 30 days) empties it
// then (Host::flush_at), every entry written before that time included, as
// memcached's oldest_live does. memcached reads the delay only when the
// line has a token besides noreply.
uint64_t flush_all_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    bool noreply = noreply_token(req);
    ++ctx.stats.memcache.cmd_flush;
    int32_t delay = 0;
    if (req.tokens.size() != (noreply ? 2u : 1u) && !safe_strtol(req.tokens[1], delay)) {
        reply_line(out, noreply, kBadExptime);
        return 0;
    }
    if (write_refused(ctx, out, noreply))
        return 0;
    uint64_t ticket = 0;
    int64_t at = delay > 0 ? deadline_of(delay, ctx.clock) : kNoDeadline;
    if (at == kNoDeadline || expired_at_once(at, ctx.clock)) {
        ticket = ctx.db.clear();
        ticket = std::max(ticket, ctx.host.flush_at(0));  // the latest flush_all decides: a pending one is cancelled
    } else {
        ticket = ctx.host.flush_at(at);
    }
    reply_line(out, noreply, "OK");
    return ticket;
}

}  // namespace kv::memcache
