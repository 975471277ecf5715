// command_table.cc: the table of every command the Redis door implements and
// execute(), the dispatcher: Redis 7.0's processCommand order of checks
// (unknown command, unknown subcommand, arity, no-multi) with its exact
// error texts, MULTI's queuing, then the handler.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "handlers.h"

namespace kv::redis {
namespace {

// What gen_command_info.py wrote: Redis's own description of each command.
struct Generated {
    std::string_view name;
    int arity, first_key, last_key, key_step;
    std::string_view flags, info2, info3, docs2, docs3;
};

constexpr Generated kGenerated[] = {
#include "command_info.inc"
};

struct Binding {
    std::string_view name;
    Handler handler;
};

// Every name in kGenerated but the containers CLIENT and CONFIG, whose
// subcommands are their commands (COMMAND alone lists every command).
constexpr Binding kHandlers[] = {
    // strings (strings.cc)
    {"get", cmd_get},
    {"set", cmd_set},
    {"setnx", cmd_setnx},
    {"setex", cmd_setex},
    {"psetex", cmd_psetex},
    {"getset", cmd_getset},
    {"getdel", cmd_getdel},
    {"getex", cmd_getex},
    {"mget", cmd_mget},
    {"mset", cmd_mset},
    {"msetnx", cmd_msetnx},
    {"append", cmd_append},
    {"strlen", cmd_strlen},
    {"incr", cmd_incr},
    {"decr", cmd_decr},
    {"incrby", cmd_incrby},
    {"decrby", cmd_decrby},
    {"incrbyfloat", cmd_incrbyfloat},
    {"getrange", cmd_getrange},
    {"setrange", cmd_setrange},
    {"lcs", cmd_lcs},
    // keys (keys.cc)
    {"del", cmd_del},
    {"unlink", cmd_del},
    {"exists", cmd_exists},
    {"type", cmd_type},
    {"keys", cmd_keys},
    {"scan", cmd_scan},
    {"rename", cmd_rename},
    {"renamenx", cmd_renamenx},
    {"randomkey", cmd_randomkey},
    {"flushdb", cmd_flushdb},
    {"flushall", cmd_flushdb},
    {"expire", cmd_expire},
    {"pexpire", cmd_pexpire},
    {"expireat", cmd_expireat},
    {"pexpireat", cmd_pexpireat},
    {"ttl", cmd_ttl},
    {"pttl", cmd_pttl},
    {"expiretime", cmd_expiretime},
    {"pexpiretime", cmd_pexpiretime},
    {"persist", cmd_persist},
    {"touch", cmd_touch},
    {"copy", cmd_copy},
    // connection and server (server_commands.cc)
    {"dbsize", cmd_dbsize},
    {"ping", cmd_ping},
    {"echo", cmd_echo},
    {"quit", cmd_quit},
    {"hello", cmd_hello},
    {"select", cmd_select},
    {"auth", cmd_auth},
    {"client|id", cmd_client_id},
    {"client|getname", cmd_client_getname},
    {"client|setname", cmd_client_setname},
    {"client|info", cmd_client_info},
    {"client|list", cmd_client_list},
    {"client|kill", cmd_client_kill},
    {"info", cmd_info},
    {"command", cmd_command},
    {"command|count", cmd_command_count},
    {"command|info", cmd_command_info},
    {"command|docs", cmd_command_docs},
    {"time", cmd_time},
    {"lastsave", cmd_lastsave},
    {"config|get", cmd_config_get},
    {"config|set", cmd_config_set},
    {"shutdown", cmd_shutdown},
    // transactions (transactions.cc)
    {"multi", cmd_multi},
    {"exec", cmd_exec},
    {"discard", cmd_discard},
    {"watch", cmd_watch},
    {"unwatch", cmd_unwatch},
};

// The longest command name, "container|sub" included: a longer argv[0] is
// unknown without a lookup.
constexpr size_t kMaxName = 32;

// The most commands one MULTI may queue, besides the bytes bound
// (request_limits_for): a bound on what a session holds and on the work of
// one EXEC, which runs in one step (docs/redis.md); past either the
// transaction fails as on a queuing error.
constexpr size_t kMaxQueued = 10000;
// Per queued argument, beyond its bytes: a std::string.
constexpr size_t kQueuedArgOverhead = 32;

// Commands whose cost grows with the store or with the values (KEYS, SCAN,
// LCS): they run whole in one step, so EXEC, which runs its queue in one
// step too, does not take them (docs/redis.md, "Differences").
bool costly(const CommandSpec& spec)
{
    return spec.name == "keys" || spec.name == "scan" || spec.name == "lcs";
}

// kvstore's store keeps keys of 1 to 250 bytes (common/command.h).
constexpr size_t kMaxKey = 250;

struct Table {
    std::vector<CommandSpec> specs;
    std::vector<const CommandSpec*> top_level;
    std::unordered_map<std::string_view, const CommandSpec*> by_name;  // views of the generated table's names
    std::unordered_map<std::string_view, bool> container;  // top-level name -> has subcommands

    Table()
    {
        specs.reserve(std::size(kGenerated));
        for (const Generated& g : kGenerated) {
            Handler handler = nullptr;
            for (const Binding& b : kHandlers)
                if (b.name == g.name)
                    handler = b.handler;
            specs.push_back(CommandSpec{g.name, g.arity, g.first_key, g.last_key, g.key_step, g.flags, g.info2, g.info3,
                                        g.docs2, g.docs3, handler});
        }
        for (const CommandSpec& spec : specs) {
            by_name.emplace(spec.name, &spec);
            size_t bar = spec.name.find('|');
            if (bar == std::string_view::npos)
                top_level.push_back(&spec);
            else
                container[spec.name.substr(0, bar)] = true;
        }
    }
};

// Each command's index in the table is its slot in Stats::latency.
static_assert(std::size(kGenerated) <= Latency::kMaxOps, "raise Latency::kMaxOps (latency.h)");

const Table& table()
{
    static const Table t;
    return t;
}

// As C's "%.*s" prints an argument: up to its first NUL byte.
std::string_view c_string(std::string_view s, size_t max)
{
    return s.substr(0, std::min(s.find('\0'), max));
}

// Redis's commandCheckExistence texts.
std::string unknown_command(Args args)
{
    std::string list;
    for (size_t i = 1; i < args.size() && list.size() < 128; ++i) {
        std::string_view arg = c_string(args[i], 128 - list.size());
        list.append("'").append(arg).append("' ");
    }
    return "ERR unknown command '" + std::string(c_string(args[0], 128)) + "', with args beginning with: " + list;
}

std::string unknown_subcommand(Args args)
{
    std::string container(c_string(args[0], std::string_view::npos));
    std::transform(container.begin(), container.end(), container.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c); });
    return "ERR unknown subcommand '" + std::string(c_string(args[1], 128)) + "'. Try " + container + " HELP.";
}

// A command refused before it ran: inside MULTI, EXEC will answer EXECABORT
// (Redis's flagTransaction).
void reject(Session& session, Context& ctx, std::string& out, std::string_view message)
{
    if (session.in_multi)
        session.multi_failed = true;
    ++ctx.stats.error_replies;
    ReplyWriter(out, session.protocol).error(message);
}

// What MULTI does not queue (Redis 7.0's processCommand).
bool runs_inside_multi(const CommandSpec& spec)
{
    return spec.name == "exec" || spec.name == "discard" || spec.name == "multi" || spec.name == "watch"
        || spec.name == "quit";
}

}  // namespace

bool has_flag(const CommandSpec& spec, std::string_view flag)
{
    std::string_view f = spec.flags;
    while (!f.empty()) {
        size_t space = f.find(' ');
        if (f.substr(0, space) == flag)
            return true;
        f = space == std::string_view::npos ? std::string_view{} : f.substr(space + 1);
    }
    return false;
}

std::span<const CommandSpec* const> top_level_commands()
{
    return table().top_level;
}

const CommandSpec* find_command(std::string_view name)
{
    if (name.size() > kMaxName)
        return nullptr;
    // Lower-cased on the stack: this runs for every command.
    char buf[kMaxName];
    std::transform(name.begin(), name.end(), buf,
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
    const Table& t = table();
    auto it = t.by_name.find(std::string_view(buf, name.size()));
    return it == t.by_name.end() ? nullptr : it->second;
}

std::string arity_error(std::string_view name)
{
    return "ERR wrong number of arguments for '" + std::string(name) + "' command";
}

bool equals_nocase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
               return fold(x) == fold(y);
           });
}

// Why the session may not run `spec` (issue 18), as Redis 7.0 words it, or
// "": NOAUTH before AUTH (except for the no_auth commands: AUTH, HELLO,
// QUIT); NOPERM for a command that needs a right the user lacks (reads need
// read, write commands write, FLUSHDB and FLUSHALL admin-data; KEYS, SCAN
// and RANDOMKEY range over every key, so admin-data unless the user's
// patterns cover every key), or for a key outside its patterns.
std::string refusal(const CommandSpec& spec, Args args, Context& ctx)
{
    using users::Right;
    bool required = false;
    const users::User* user = ctx.host.user(required);
    if (!required || has_flag(spec, "no_auth"))
        return {};
    if (!user)
        return "NOAUTH Authentication required.";
    std::string no_command = "NOPERM this user has no permissions to run the '" + std::string(spec.name) + "' command";
    bool writes = has_flag(spec, "write");
    std::string_view name = spec.name;
    if (name == "flushdb" || name == "flushall")
        return user->has(Right::AdminData) ? std::string() : no_command;
    if (name == "keys" || name == "scan" || name == "randomkey") {
        if (!user->has(Right::Read) || (!user->all_keys() && !user->has(Right::AdminData)))
            return no_command;
        return {};
    }
    Right right = writes ? Right::Write : Right::Read;
    if (!user->has(right))
        return no_command;
    if (spec.first_key > 0) {
        size_t last = spec.last_key < 0 ? args.size() - static_cast<size_t>(-spec.last_key)
                                        : static_cast<size_t>(spec.last_key);
        for (size_t i = static_cast<size_t>(spec.first_key); i <= last && i < args.size();
             i += static_cast<size_t>(spec.key_step))
            if (!users::allows(*user, right, args[i]))
                return "NOPERM this user has no permissions to access one of the keys used as arguments";
    }
    return {};
}

void run_command(const CommandSpec& spec, Args args, Session& session, Context& ctx, std::string& out, uint64_t& ticket,
                 size_t room)
{
    ++ctx.stats.commands_total;
    size_t start = out.size();
    ReplyWriter reply(out, session.protocol, room);
    if (std::string no = refusal(spec, args, ctx); !no.empty()) {
        ++ctx.stats.error_replies;
        reply.error(no);
        return;
    }
    // Every key the command names must be one the store can keep (docs/redis.md);
    // WATCH inside MULTI answers its own error first, as in Redis.
    bool watch_in_multi = spec.name == "watch" && session.in_multi;
    if (spec.first_key > 0 && !watch_in_multi) {
        size_t last = spec.last_key < 0 ? args.size() - static_cast<size_t>(-spec.last_key)
                                        : static_cast<size_t>(spec.last_key);
        for (size_t i = static_cast<size_t>(spec.first_key); i <= last && i < args.size();
             i += static_cast<size_t>(spec.key_step))
            if (args[i].empty() || args[i].size() > kMaxKey) {
                ++ctx.stats.error_replies;
                reply.error("ERR kvstore keys are 1 to 250 bytes");
                return;
            }
    }
    if (ctx.db.replicated() && has_flag(spec, "write"))
        ctx.db.write_command();
    spec.handler(args, session, ctx, reply, ticket);
    if (reply.overflowed()) {
        out.resize(start);
        ReplyWriter(out, session.protocol)
            .error("ERR kvstore replies are at most " + std::to_string(kMaxReplyBytes)
                   + " bytes, in a transaction all together; this one was longer (ask for fewer keys, or use SCAN)");
    }
    if (out.size() > start && out[start] == '-')
        ++ctx.stats.error_replies;
}

const CommandSpec* resolve_command(Args args)
{
    // A subcommand is found through its container only ("client|id" is unknown).
    const CommandSpec* spec = args[0].find('|') == std::string_view::npos ? find_command(args[0]) : nullptr;
    if (!spec || args.size() == 1 || !table().container.contains(spec->name))
        return spec;
    if (args[1].size() > kMaxName || args[1].find('|') != std::string_view::npos)
        return nullptr;
    return find_command(std::string(spec->name) + "|" + std::string(args[1]));
}

uint64_t execute(std::span<const std::string_view> args, Session& session, Context& ctx, std::string& out)
{
    // Timed from the lookup to the reply built, under the table's name
    // ("get", "client|id"): a name not in the table is not recorded.
    LatencyTimer timer(ctx.stats.latency, Latency::Door::Redis);
    const CommandSpec* spec = resolve_command(args);
    if (spec)
        timer.name(static_cast<size_t>(spec - table().specs.data()), spec->name);
    // What CLIENT LIST shows as cmd: the last command looked up, queued or
    // refused too ("" for an unknown one: "NULL"), as Redis's lastcmd.
    session.last_command = spec ? spec->name : std::string_view{};
    if (!spec) {
        bool container = args[0].find('|') == std::string_view::npos && find_command(args[0]);
        reject(session, ctx, out, container ? unknown_subcommand(args) : unknown_command(args));
        return 0;
    }
    int argc = static_cast<int>(std::min(args.size(), size_t{1} << 30));
    if ((spec->arity > 0 && spec->arity != argc) || argc < -spec->arity) {
        reject(session, ctx, out, arity_error(spec->name));
        return 0;
    }
    if (session.in_multi && has_flag(*spec, "no_multi")) {
        reject(session, ctx, out, "ERR Command not allowed inside a transaction");
        return 0;
    }
    if (session.in_multi && (spec->handler == cmd_auth || spec->handler == cmd_hello)) {
        bool required = false;
        ctx.host.user(required);
        if (required) {  // its answer waits for a password check: EXEC runs in one step
            reject(session, ctx, out, "ERR kvstore does not queue '" + std::string(spec->name) + "' in a transaction");
            return 0;
        }
    }
    if (session.in_multi && !runs_inside_multi(*spec)) {
        if (costly(*spec)) {
            reject(session, ctx, out,
                   "ERR kvstore does not queue '" + std::string(spec->name)
                       + "' in a transaction: its cost grows with the store or the values, and EXEC runs in one step");
            return 0;
        }
        size_t bytes = 0;
        for (std::string_view a : args)
            bytes += a.size() + kQueuedArgOverhead;
        size_t max_bytes = request_limits_for(ctx.limits.max_value).max_request;
        if (session.queued.size() >= kMaxQueued || session.queued_bytes + bytes > max_bytes) {
            reject(session, ctx, out,
                   "ERR kvstore queues at most " + std::to_string(kMaxQueued) + " commands and "
                       + std::to_string(max_bytes) + " bytes in a transaction");
            return 0;
        }
        // A transaction that already failed keeps nothing (EXEC discards it).
        if (!session.multi_failed) {
            session.queued.emplace_back(args.begin(), args.end());
            session.queued_bytes += bytes;
        }
        ReplyWriter(out, session.protocol).simple("QUEUED");
        return 0;
    }
    if (!spec->handler) {  // a container without a subcommand: its arity refused it above
        reject(session, ctx, out, arity_error(spec->name));
        return 0;
    }
    uint64_t ticket = 0;
    // EXEC bounds its queued commands' replies itself (each gets the room the
    // ones before it left): never replace its array, whose commands all ran.
    run_command(*spec, args, session, ctx, out, ticket, spec->handler == cmd_exec ? SIZE_MAX : kMaxReplyBytes);
    return ticket;
}

}  // namespace kv::redis
