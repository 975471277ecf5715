// storage.cc: set add replace append prepend cas, memcached 1.6.18's
// do_store_item over the Database. The parser has checked the command line
// and read the data block (Request::storage); these decide and write.
//
// Whole-value writes (set add replace cas) write the client's flags and
// exptime; append and prepend keep the entry's flags and deadline, as
// memcached keeps the old item's. An exptime already past (negative, or a
// unix time gone by) deletes the key: memcached stores the item and it is
// gone at once, so the reply is still STORED.
#include <optional>

#include "handlers.h"

namespace kv::memcache {
namespace {

enum class Kind { Set, Add, Replace, Append, Prepend, Cas };

std::optional<Kind> kind_of(std::string_view name)
{
    if (name == "set")
        return Kind::Set;
    if (name == "add")
        return Kind::Add;
    if (name == "replace")
        return Kind::Replace;
    if (name == "append")
        return Kind::Append;
    if (name == "prepend")
        return Kind::Prepend;
    if (name == "cas")
        return Kind::Cas;
    return std::nullopt;
}

// Writes the value (or deletes the key for a deadline already past) and
// replies STORED, or memcached's out-of-memory error when the store is full
// (--when-full refuse).
uint64_t store(Context& ctx, std::string& out, const Request& req, std::string_view value, int64_t deadline,
               int64_t flags)
{
    uint64_t ticket = 0;
    if (expired_at_once(deadline, ctx.clock)) {
        bool erased = false;
        ticket = ctx.db.erase(req.key, erased);
    } else {
        Store::PutResult result;
        ticket = ctx.db.put(req.key, value, deadline, flags, result);
        if (result == Store::PutResult::Full) {
            ++ctx.stats.memcache.store_no_memory;
            ++ctx.stats.full_rejections;
            reply_line(out, req.noreply, kOutOfMemory);
            return ticket;
        }
    }
    ++ctx.stats.memcache.total_items;
    reply_line(out, req.noreply, "STORED");
    return ticket;
}

}  // namespace

uint64_t storage_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    std::optional<Kind> kind = kind_of(req.tokens[0]);
    if (!kind) {
        reply_line(out, false, "ERROR");
        return 0;
    }
    if (write_refused(ctx, out, req.noreply))
        return 0;
    Stats::Memcache& m = ctx.stats.memcache;
    if (req.too_large) {
        // memcached refuses the item before reading its data, and a set
        // also drops the key's old value so that no stale value outlives it.
        ++m.store_too_large;
        uint64_t ticket = 0;
        if (*kind == Kind::Set) {
            bool erased = false;
            ticket = ctx.db.erase(req.key, erased);
        }
        reply_line(out, req.noreply, kTooLarge);
        return ticket;
    }
    if (!key_ok(req.key)) {
        reply_line(out, req.noreply, kBadFormat);
        return 0;
    }
    ++m.cmd_set;
    int64_t deadline = deadline_of(req.exptime, ctx.clock);
    int64_t flags = req.flags;
    // A set does not look at the key (see Redis's SET, strings.cc).
    std::optional<Store::Entry> old;
    if (*kind != Kind::Set)
        old = ctx.db.store().get(req.key);
    switch (*kind) {
    case Kind::Set:
        ++ctx.stats.saves;
        return store(ctx, out, req, req.data, deadline, flags);
    case Kind::Add:
        ++ctx.stats.adds;
        if (old)
            break;
        return store(ctx, out, req, req.data, deadline, flags);
    case Kind::Replace:
        ++ctx.stats.replaces;
        if (!old)
            break;
        return store(ctx, out, req, req.data, deadline, flags);
    case Kind::Append:
    case Kind::Prepend: {
        ++ctx.stats.appends;
        // memcached cannot allocate an item over its size limit and answers
        // NOT_STORED; kvstore's limit is --max-value.
        if (!old || old->value.size() + req.data.size() > ctx.limits.max_value)
            break;
        std::string value;
        value.reserve(old->value.size() + req.data.size());
        if (*kind == Kind::Append)
            value.append(old->value).append(req.data);
        else
            value.append(req.data).append(old->value);
        return store(ctx, out, req, value, old->deadline, kKeepFlags);
    }
    case Kind::Cas:
        ++ctx.stats.cas;
        if (!old) {
            ++m.cas_misses;
            reply_line(out, req.noreply, "NOT_FOUND");
            return 0;
        }
        if (old->version != req.cas_unique) {
            ++m.cas_badval;
            ++ctx.stats.cas_changed;
            reply_line(out, req.noreply, "EXISTS");
            return 0;
        }
        ++m.cas_hits;
        return store(ctx, out, req, req.data, deadline, flags);
    }
    reply_line(out, req.noreply, "NOT_STORED");
    return 0;
}

}  // namespace kv::memcache
