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
// Durability: the reply to gat/gats does not wait for its touches to reach
// the disk (--sync always), unlike every other write's reply. A reply sent in
// chunks cannot be taken back when a later commit fails, and a touch lost to
// a failing disk leaves every value shown true; the touch is still written
// in order with everything else (docs/memcache.md).
//
// memcached refuses a request naming a key over 250 bytes with
// "CLIENT_ERROR bad command line format" and drops what it had answered, but
// the keys before the long one were looked up, counted and (gat) touched. As
// a chunk may already be sent, kvstore finds a long key before answering any,
// then does the same: those keys are looked up, counted and touched, and
// their answers dropped.
#include <algorithm>
#include <optional>
#include <span>
#include <vector>

#include "handlers.h"

namespace kv::memcache {
namespace {

// `cas_at`: with etcd, the item was just written (a touch) and its cas is
// the commit's revision: its place in `out` goes there (Session::cas_at).
void value_block(std::string& out, std::string_view key, uint32_t flags, std::string_view value, bool with_cas,
                 uint64_t cas, std::vector<size_t>* cas_at = nullptr)
{
    out += "VALUE ";
    out.append(key);
    out += ' ';
    out += std::to_string(flags);
    out += ' ';
    out += std::to_string(value.size());
    if (with_cas) {
        out += ' ';
        if (cas_at)
            cas_at->push_back(out.size());
        else
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
    Stats::Memcache& m = ctx.stats.memcache;
    // Answers one key into `into`. A touch's ticket is not waited for: see
    // the top of this file.
    auto answer = [&](std::string_view key, std::string& into) {
        ++ctx.stats.reads;
        std::optional<Store::Entry> e = ctx.db.store().get(key);
        ++(touch ? m.cmd_touch : m.cmd_get);
        if (!e) {
            ++ctx.stats.misses;
            ++(touch ? m.touch_misses : m.get_misses);
            return;
        }
        ++ctx.stats.hits;
        if (!touch) {
            ++m.get_hits;
            value_block(into, key, e->flags, e->value, with_cas, e->version);
            return;
        }
        // gat: touch, then answer with the entry as touched (its cas
        // unchanged, as in memcached: Store::Version::Keep; with etcd, the
        // touch's revision).
        ++m.touch_hits;
        ++ctx.stats.expires;
        if (expired_at_once(deadline, ctx.clock)) {
            value_block(into, key, e->flags, e->value, with_cas, e->version);
            bool erased = false;
            ctx.db.erase(key, erased);
            return;
        }
        bool found = false;
        ctx.db.set_deadline(key, deadline, found, Store::Version::Keep);
        std::vector<size_t>* cas_at = ctx.db.replicated() && &into == &out ? &session.cas_at : nullptr;
        if (std::optional<Store::Entry> after = ctx.db.store().peek(key))
            value_block(into, key, after->flags, after->value, with_cas, after->version, cas_at);
    };
    if (session.next_key == 0) {
        // gat writes (a touch): refused whole while storage refuses writes.
        if (touch && first < req.tokens.size() && write_refused(ctx, out, false))
            return 0;
        auto keys = std::span(req.tokens).subspan(first);
        auto bad = std::find_if(keys.begin(), keys.end(), [](std::string_view k) { return !key_ok(k); });
        if (bad != keys.end()) {
            // memcached looks up (and gat touches) the keys before the long
            // one, then drops what it had answered.
            std::string dropped;
            for (auto k = keys.begin(); k != bad; ++k) {
                answer(*k, dropped);
                dropped.clear();
            }
            reply_line(out, false, kBadFormat);
            return 0;
        }
    }
    size_t start = session.next_key ? session.next_key : first;
    session.next_key = 0;
    for (size_t i = start; i < req.tokens.size(); ++i) {
        // At least one key per call, so a full `out` still makes progress.
        if (i > start && out.size() >= kReplyChunk) {
            session.next_key = i;  // answered up to here: the door calls again
            return 0;
        }
        answer(req.tokens[i], out);
    }
    out += "END\r\n";
    return 0;
}

}  // namespace kv::memcache
