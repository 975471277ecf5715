// retrieval.cc: get gets gat gats (and bget, memcached's old alias of get),
// as memcached 1.6.18's process_get_command answers them: a VALUE block per
// key found, in the order asked, then END.
//
// Bounded replies: one request may name thousands of keys. The reply is
// built in chunks: once `out` holds kReplyChunk bytes the command stops,
// notes the next key in Session::next_key, and the door calls it again with
// the same request after sending what is there (each call answers at least
// one key). So a retrieval never holds
// more than about kReplyChunk plus one value of reply.
//
// memcached refuses a request naming a key over 250 bytes with
// "CLIENT_ERROR bad command line format" and drops what it had answered; as
// a chunk may already be sent, kvstore checks every key before answering
// any (memcached's keys before the long one are looked up and counted, and
// gat's are touched: kvstore does neither).
#include <algorithm>
#include <optional>

#include "handlers.h"

namespace kv::memcache {
namespace {

void value_block(std::string& out, std::string_view key, uint32_t flags, std::string_view value, bool with_cas,
                 uint64_t cas)
{
    out += "VALUE ";
    out.append(key);
    out += ' ';
    out += std::to_string(flags);
    out += ' ';
    out += std::to_string(value.size());
    if (with_cas) {
        out += ' ';
        out += std::to_string(cas);
    }
    out += "\r\n";
    out.append(value);
    out += "\r\n";
}

}  // namespace

uint64_t retrieval_command(const Request& req, Session& session, Context& ctx, std::string& out)
{
    std::string_view name = req.tokens[0];
    bool with_cas = name == "gets" || name == "gats";
    bool touch = name == "gat" || name == "gats";
    size_t first = touch ? 2 : 1;
    int64_t deadline = kNoDeadline;
    if (touch) {
        int32_t exptime = 0;
        if (!safe_strtol(req.tokens[1], exptime)) {
            session.next_key = 0;
            reply_line(out, false, kBadExptime);
            return 0;
        }
        deadline = deadline_of(exptime, ctx.clock);
    }
    if (session.next_key == 0) {
        for (size_t i = first; i < req.tokens.size(); ++i) {
            if (!key_ok(req.tokens[i])) {
                reply_line(out, false, kBadFormat);
                return 0;
            }
        }
        // gat writes (a touch): refused whole while storage refuses writes.
        if (touch && first < req.tokens.size() && write_refused(ctx, out, false))
            return 0;
    }
    Stats::Memcache& m = ctx.stats.memcache;
    uint64_t ticket = 0;
    size_t start = session.next_key ? session.next_key : first;
    session.next_key = 0;
    for (size_t i = start; i < req.tokens.size(); ++i) {
        // At least one key per call, so a full `out` still makes progress.
        if (i > start && out.size() >= kReplyChunk) {
            session.next_key = i;  // answered up to here: the door calls again
            return ticket;
        }
        std::string_view key = req.tokens[i];
        ++ctx.stats.reads;
        std::optional<Store::Entry> e = ctx.db.store().get(key);
        if (touch)
            ++m.cmd_touch;
        else
            ++m.cmd_get;
        if (!e) {
            ++ctx.stats.misses;
            ++(touch ? m.touch_misses : m.get_misses);
            continue;
        }
        ++ctx.stats.hits;
        if (!touch) {
            ++m.get_hits;
            value_block(out, key, e->flags, e->value, with_cas, e->version);
            continue;
        }
        // gat: touch, then answer with the entry as touched (its new cas:
        // every write, a touch included, gives the entry a new version).
        ++m.touch_hits;
        ++ctx.stats.expires;
        if (expired_at_once(deadline, ctx.clock)) {
            value_block(out, key, e->flags, e->value, with_cas, e->version);
            bool erased = false;
            ticket = std::max(ticket, ctx.db.erase(key, erased));
            continue;
        }
        bool found = false;
        ticket = std::max(ticket, ctx.db.set_deadline(key, deadline, found));
        if (std::optional<Store::Entry> t = ctx.db.store().peek(key))
            value_block(out, key, t->flags, t->value, with_cas, t->version);
    }
    out += "END\r\n";
    return ticket;
}

}  // namespace kv::memcache
