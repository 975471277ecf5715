// server_commands.cc: execute() (the dispatcher), deadline_of(), the helpers
// every family shares (handlers.h), and the server commands: version
// verbosity quit stats cache_memlimit shutdown. Replies are memcached
// 1.6.18's, checked against the real server (docs/memcache.md lists what
// differs and why).
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend_report.h"
#include "command.h"  // store_key_problem
#include "handlers.h"
#include "version.h"

namespace kv::memcache {
namespace {

// One command: its handler and its token count (the name included) as
// memcached's WANT_TOKENS checks it; -1 for no bound.
struct Command {
    std::string_view name;
    int min_tokens;
    int max_tokens;
    Handler handler;
    bool storage;  // the parser has read its data block (Request::storage)
    bool writes = false;  // Database::write_command
};

constexpr Command kCommands[] = {
    {"get", 2, -1, retrieval_command, false},
    {"gets", 2, -1, retrieval_command, false},
    {"gat", 2, -1, retrieval_command, false},
    {"gats", 2, -1, retrieval_command, false},
    {"bget", 2, -1, retrieval_command, false},  // memcached still answers this ancient alias of get
    {"set", 5, 6, storage_command, true, true},
    {"add", 5, 6, storage_command, true, true},
    {"replace", 5, 6, storage_command, true, true},
    {"append", 5, 6, storage_command, true, true},
    {"prepend", 5, 6, storage_command, true, true},
    {"cas", 6, 7, storage_command, true, true},
    {"delete", 2, 4, delete_command, false, true},
    {"incr", 3, 4, incr_command, false, true},
    {"decr", 3, 4, decr_command, false, true},
    {"touch", 3, 4, touch_command, false, true},
    {"flush_all", 1, 3, flush_all_command, false, true},
    {"version", 1, -1, version_command, false},
    {"verbosity", 2, 3, verbosity_command, false},
    {"quit", 1, -1, quit_command, false},
    {"stats", 1, -1, stats_command, false},
    {"cache_memlimit", 2, 3, cache_memlimit_command, false},
    {"shutdown", 1, -1, shutdown_command, false},
    // The meta commands check their own tokens (meta.cc).
    {"mg", 1, -1, meta_get, false},
    {"ms", 1, -1, meta_set, false, true},
    {"md", 1, -1, meta_delete, false, true},
    {"ma", 1, -1, meta_arithmetic, false, true},
    {"mn", 1, -1, meta_noop, false},
    {"me", 1, -1, meta_debug, false},
};

// Each command's index in kCommands is its slot in Stats::latency.
static_assert(std::size(kCommands) <= Latency::kMaxOps, "raise Latency::kMaxOps (latency.h)");

const Command* find_command(std::string_view name)
{
    for (const Command& c : kCommands)
        if (c.name == name)
            return &c;
    return nullptr;
}

std::string stat_line(std::string_view name, std::string_view value)
{
    std::string s = "STAT ";
    s.append(name).append(" ").append(value).append("\r\n");
    return s;
}

std::string version_text()
{
    return std::string("1.6.18-kvstore-") + KVSTORE_VERSION;
}

// "seconds.microseconds", as memcached prints rusage_user and rusage_system.
std::string timeval_text(const timeval& tv)
{
    char buf[48];
    std::snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec));
    return buf;
}

// `stats` (no argument): memcached's general counters that kvstore can fill
// honestly (a field kvstore has no true number for is left out, never made
// up), then kvstore's own. docs/memcache.md says what each means.
void general_stats(Context& ctx, std::string& out)
{
    ServerFacts f = ctx.host.facts();
    const Stats::Memcache& m = ctx.stats.memcache;
    auto num = [](uint64_t v) { return std::to_string(v); };
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    out += stat_line("pid", std::to_string(f.pid));
    out += stat_line("uptime", std::to_string(f.uptime_seconds));
    out += stat_line("time", std::to_string(ctx.clock.now_ms() / 1000));
    out += stat_line("version", version_text());
    out += stat_line("pointer_size", std::to_string(sizeof(void*) * 8));
    out += stat_line("rusage_user", timeval_text(usage.ru_utime));
    out += stat_line("rusage_system", timeval_text(usage.ru_stime));
    out += stat_line("curr_connections", num(f.connected_clients));
    out += stat_line("total_connections", num(m.connections_total));
    out += stat_line("cmd_get", num(m.cmd_get));
    out += stat_line("cmd_set", num(m.cmd_set));
    out += stat_line("cmd_flush", num(m.cmd_flush));
    out += stat_line("cmd_touch", num(m.cmd_touch));
    out += stat_line("cmd_meta", num(m.meta_cmds));
    out += stat_line("get_hits", num(m.get_hits));
    out += stat_line("get_misses", num(m.get_misses));
    out += stat_line("delete_misses", num(m.delete_misses));
    out += stat_line("delete_hits", num(m.delete_hits));
    out += stat_line("incr_misses", num(m.incr_misses));
    out += stat_line("incr_hits", num(m.incr_hits));
    out += stat_line("decr_misses", num(m.decr_misses));
    out += stat_line("decr_hits", num(m.decr_hits));
    out += stat_line("cas_misses", num(m.cas_misses));
    out += stat_line("cas_hits", num(m.cas_hits));
    out += stat_line("cas_badval", num(m.cas_badval));
    out += stat_line("touch_hits", num(m.touch_hits));
    out += stat_line("touch_misses", num(m.touch_misses));
    out += stat_line("store_too_large", num(m.store_too_large));
    out += stat_line("store_no_memory", num(m.store_no_memory));
    out += stat_line("curr_items", num(ctx.db.store().size()));
    out += stat_line("total_items", num(m.total_items));
    out += stat_line("evictions", num(ctx.db.store().evicted_total()));
    out += stat_line("kvstore_capacity", num(f.capacity));
    out += stat_line("kvstore_max_value", num(f.max_value));
    out += stat_line("kvstore_when_full", f.when_full);
    out += stat_line("kvstore_persistence", f.persistence);
    if (!f.sync.empty())
        out += stat_line("kvstore_sync", f.sync);
    out += stat_line("kvstore_rss_bytes", num(f.rss_bytes));
    out += stat_line("kvstore_commands_total", num(ctx.stats.commands_total));
    out += stat_line("kvstore_expired_total", num(ctx.db.store().expired_total()));
    out += stat_line("kvstore_full_rejections", num(ctx.stats.full_rejections));
    out += stat_line("kvstore_storage_refusals", num(ctx.stats.storage_refusals));
    // The line protocol's backend rows (backend_report.h), prefixed.
    for (const auto& [name, value] : backend_rows(ctx.db.backend_status()))
        out += stat_line("kvstore_" + name, value);
}

// `stats settings`: the settings kvstore has, under memcached's names.
void settings_stats(Context& ctx, std::string& out)
{
    ServerFacts f = ctx.host.facts();
    out += stat_line("item_size_max", std::to_string(f.max_value));
    out += stat_line("evictions", f.when_full == "evict" ? "on" : "off");
    out += stat_line("cas_enabled", "yes");
    out += stat_line("flush_enabled", "yes");
    out += stat_line("kvstore_capacity", std::to_string(f.capacity));
}

}  // namespace

// ---- shared helpers ---------------------------------------------------------

void reply_line(std::string& out, bool noreply, std::string_view line)
{
    if (noreply)
        return;
    out.append(line);
    out.append("\r\n");
}

bool noreply_token(const Request& req)
{
    return req.tokens.size() >= 2 && req.tokens.back() == "noreply";
}

bool write_refused(Context& ctx, std::string& out, bool noreply)
{
    std::string why = ctx.db.write_refusal();
    if (why.empty())
        return false;
    ++ctx.stats.storage_refusals;
    reply_line(
        out, noreply,
        (ctx.db.replicated() ? "SERVER_ERROR unavailable " : "SERVER_ERROR kvstore cannot write to its database: ")
            + why);
    return true;
}

bool expired_at_once(int64_t deadline, const Clock& clock)
{
    return deadline != kNoDeadline && deadline <= clock.now_ms();
}

bool key_ok(std::string_view key)
{
    return key.size() <= kMaxKey && store_key_problem(key).empty();
}

int64_t deadline_of(int64_t exptime, const Clock& clock)
{
    if (exptime == 0)
        return kNoDeadline;
    int64_t now = clock.now_ms();
    if (exptime < 0)
        return std::max<int64_t>(1, now - 1000);  // memcached: expired at once
    int64_t deadline = 0;
    if (exptime <= kRealtimeMaxDelta)
        deadline = now + exptime * 1000;
    else if (exptime > kMaxDeadline / 1000)
        deadline = kMaxDeadline;
    else
        deadline = exptime * 1000;  // a unix time: in the past means expired at once
    return std::min(deadline, kMaxDeadline);
}

// ---- execute() --------------------------------------------------------------

namespace {

// execute() without the timing: `c` is set to the command found, if any.
uint64_t dispatch(const Request& req, Session& session, Context& ctx, std::string& out, const Command*& c)
{
    if (session.next_key == 0)
        ++ctx.stats.commands_total;  // a retrieval resumed is the same request
    // memcached: no command is shorter than two bytes.
    if (req.tokens.empty() || req.tokens[0].size() < 2) {
        reply_line(out, false, "ERROR");
        return 0;
    }
    c = find_command(req.tokens[0]);
    int n = static_cast<int>(req.tokens.size());
    if (!c || (c->min_tokens != -1 && n < c->min_tokens) || (c->max_tokens != -1 && n > c->max_tokens)
        || (c->storage && !req.storage)) {
        session.next_key = 0;
        reply_line(out, false, "ERROR");
        return 0;
    }
    if (session.next_key == 0) {
        // With a users file, every command is checked against the session's
        // user as the table in force has it: a reload that removed the user
        // or a right refuses its next command (the door logs sessions in).
        bool required = false;
        const users::User* user = ctx.host.user(required);
        if (required && !user) {
            reply_line(out, false, "CLIENT_ERROR unauthenticated");
            return 0;
        }
        if (std::string_view why = user ? access_refusal(req, *user) : std::string_view(); !why.empty()) {
            // As every memcached error: silent for a classic noreply command,
            // shown by a meta command (its q flag hides only successes).
            bool meta = req.tokens[0].size() == 2 && req.tokens[0][0] == 'm';
            reply_line(out, !meta && noreply_token(req), why);
            return 0;
        }
    }
    if (c->writes)
        ctx.db.write_command();
    return c->handler(req, session, ctx, out);
}

}  // namespace

uint64_t execute(const Request& req, Session& session, Context& ctx, std::string& out)
{
    session.cas_at.clear();
    uint64_t start = monotonic_ns();
    const Command* c = nullptr;
    uint64_t ticket = dispatch(req, session, ctx, out, c);
    if (!c)
        return ticket;  // not a command memcached knows: not recorded
    // A retrieval answered in chunks is one request: its chunks' times add
    // up, recorded when the last one is done.
    session.elapsed_ns += monotonic_ns() - start;
    if (session.next_key == 0) {
        ctx.stats.latency.record(Latency::Door::Memcache, static_cast<size_t>(c - kCommands), c->name,
                                 session.elapsed_ns);
        session.elapsed_ns = 0;
    }
    return ticket;
}

// ---- the server commands ---------------------------------------------------

uint64_t version_command(const Request&, Session&, Context&, std::string& out)
{
    reply_line(out, false, "VERSION " + version_text());
    return 0;
}

// kvstore has no log verbosity to set (its log level is a start-up option):
// the command is checked and answered as memcached answers it, and changes
// nothing.
uint64_t verbosity_command(const Request& req, Session&, Context&, std::string& out)
{
    bool noreply = noreply_token(req);
    uint32_t level = 0;
    if (!safe_strtoul(req.tokens[1], level)) {
        reply_line(out, noreply, kBadFormat);
        return 0;
    }
    reply_line(out, noreply, "OK");
    return 0;
}

uint64_t quit_command(const Request&, Session& session, Context&, std::string&)
{
    session.close_after_reply = true;  // memcached closes without a word
    return 0;
}

// memcached's default: the shutdown command is disabled (-A enables it);
// kvstore never lets a cache client stop the server.
uint64_t shutdown_command(const Request&, Session&, Context&, std::string& out)
{
    reply_line(out, false, "ERROR: shutdown not enabled");
    return 0;
}

// memcached's process_memlimit_command. kvstore's capacity is counted in
// entries and set at start (--capacity), so a well-formed request gets
// memcached's reply for a limit it cannot apply.
uint64_t cache_memlimit_command(const Request& req, Session&, Context&, std::string& out)
{
    bool noreply = noreply_token(req);
    uint32_t megabytes = 0;
    if (!safe_strtoul(req.tokens[1], megabytes))
        reply_line(out, noreply, "ERROR");
    else if (megabytes < 8)
        reply_line(out, noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
    else if (megabytes > 1000000000)
        reply_line(out, noreply, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
    else
        reply_line(out, noreply, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust");
    return 0;
}

// memcached's process_stat. kvstore has no slab allocator, no per-prefix
// detail and no item dump: `stats items` and `stats slabs` list no classes,
// `stats sizes` reports size tracking disabled, `stats conns` lists nobody,
// `stats cachedump` is refused as memcached refuses it when dumps are
// disabled; `stats detail` and anything else is unknown ("ERROR").
uint64_t stats_command(const Request& req, Session&, Context& ctx, std::string& out)
{
    if (req.tokens.size() == 1) {
        general_stats(ctx, out);
        out += "END\r\n";
        return 0;
    }
    std::string_view sub = req.tokens[1];
    if (sub == "reset") {
        ctx.stats.memcache = Stats::Memcache{};
        reply_line(out, false, "RESET");
    } else if (sub == "settings") {
        settings_stats(ctx, out);
        out += "END\r\n";
    } else if (sub == "items" || sub == "slabs" || sub == "conns") {
        out += "END\r\n";
    } else if (sub == "sizes") {
        out += stat_line("sizes_status", "disabled");
        out += "END\r\n";
    } else if (sub == "cachedump") {
        reply_line(out, false, "CLIENT_ERROR stats cachedump not allowed");
    } else {
        reply_line(out, false, "ERROR");
    }
    return 0;
}

}  // namespace kv::memcache
