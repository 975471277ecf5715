// commands.cc: see commands.h. Requests come from kvsvc, which already parsed and
// validated the client's line; they are checked again here because kvstored
// trusts no peer.
#include "commands.h"

#include <chrono>

#include "command.h"
#include "version.h"

namespace kv {
namespace {

struct Context {
    const wire::Request& req;
    Database& db;
    const Store& store;
    Stats& stats;
    const Limits& limits;
    std::string& out;
    std::optional<Listing>& listing;
    uint64_t ticket = 0;
};

// Writes are refused, and nothing changes, while storage is failing.
bool refuse_if_storage_failed(Context& c)
{
    std::string why = c.db.write_refusal();
    if (why.empty())
        return false;
    ++c.stats.storage_refusals;
    c.out += error_reply("storage", why);
    return true;
}

void put_line(std::string& out, std::string_view a, std::string_view b = {})
{
    out.append(a);
    if (!b.empty())
        out.append(" ").append(b);
    out.push_back('\n');
}

void do_save(Context& c)
{
    ++c.stats.saves;
    if (c.req.value.size() > c.limits.max_value) {
        c.out += error_reply("too-long",
                             "value is " + std::to_string(c.req.value.size()) + " bytes; the limit is "
                                 + std::to_string(c.limits.max_value));
        return;
    }
    // kvsvc cannot send one, but an admin `set` could: a LF would split the reply.
    if (c.req.value.find('\n') != std::string_view::npos) {
        c.out += error_reply("bad-value", "values may not contain a line feed");
        return;
    }
    if (refuse_if_storage_failed(c))
        return;
    Store::PutResult result;
    c.ticket = c.db.put(c.req.key, c.req.value, result);
    if (result == Store::PutResult::Full) {
        ++c.stats.full_rejections;
        c.out += error_reply("full",
                             std::to_string(c.store.size()) + "/" + std::to_string(c.store.capacity()) + " entries");
        return;
    }
    put_line(c.out, "OK");
}

void do_read(Context& c)
{
    ++c.stats.reads;
    std::optional<std::string_view> value = c.store.get(c.req.key);
    ++(value ? c.stats.hits : c.stats.misses);
    if (!value) {
        put_line(c.out, "NOT_FOUND");
        return;
    }
    c.out.append("VALUE ").append(*value).push_back('\n');
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

void do_stats(Context& c)
{
    const Stats& s = c.stats;
    Persistence* p = c.db.persistence();
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started);
    const std::pair<const char*, std::string> rows[] = {
        {"version", KVSTORE_VERSION},
        {"uptime_seconds", std::to_string(uptime.count())},
        {"entries", std::to_string(c.store.size())},
        {"capacity", std::to_string(c.store.capacity())},
        {"connections_current", std::to_string(s.connections_current)},
        {"connections_total", std::to_string(s.connections_total)},
        {"commands_total", std::to_string(s.commands_total)},
        {"saves", std::to_string(s.saves)},
        {"reads", std::to_string(s.reads)},
        {"deletes", std::to_string(s.deletes)},
        {"hits", std::to_string(s.hits)},
        {"misses", std::to_string(s.misses)},
        {"full_rejections", std::to_string(s.full_rejections)},
        {"protocol_errors", std::to_string(s.protocol_errors)},
        {"persistence", p ? sync_mode_name(p->config().mode) : "memory"},
        {"commits", std::to_string(p ? p->commits() : 0)},
        {"last_commit_unix", std::to_string(p ? p->last_commit_unix() : 0)},
        {"storage_failed", p && p->failed() ? "1" : "0"},
        {"storage_refusals", std::to_string(s.storage_refusals)},
    };
    put_line(c.out, "STATS", std::to_string(std::size(rows)));
    for (const auto& [name, value] : rows)
        put_line(c.out, name, value);
}

using Handler = void (*)(Context&);

struct OpSpec {
    Handler handler;
    enum { NoKey, Key, Prefix } key;
};

OpSpec spec_for(wire::Op op)
{
    switch (op) {
    case wire::Op::Save:
        return {do_save, OpSpec::Key};
    case wire::Op::Read:
        return {do_read, OpSpec::Key};
    case wire::Op::Delete:
        return {do_delete, OpSpec::Key};
    case wire::Op::Exists:
        return {do_exists, OpSpec::Key};
    case wire::Op::Keys:
        return {do_keys, OpSpec::Prefix};
    case wire::Op::Count:
        return {do_count, OpSpec::NoKey};
    case wire::Op::Stats:
        return {do_stats, OpSpec::NoKey};
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
            lines.append(keys[n]).push_back('\n');
            ++listed;
        } else if (auto entry = store.peek(keys[n])) {  // "<key> <deadline ms, 0: none> <value>"
            lines.append(keys[n]).append(" ").append(std::to_string(entry->deadline)).append(" ");
            lines.append(entry->value).push_back('\n');
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
        if (auto why = key_problem(req.key); !why.empty()) {
            out += error_reply("bad-key", why);
            return 0;
        }
    }
    Context ctx{req, db, db.store(), stats, limits, out, listing};
    spec.handler(ctx);
    return ctx.ticket;
}

}  // namespace kv
