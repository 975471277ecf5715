// server_commands.cc: the connection and server commands (PING ECHO QUIT
// HELLO SELECT AUTH CLIENT INFO COMMAND TIME LASTSAVE DBSIZE CONFIG SHUTDOWN),
// answering as Redis 7.0.15 answers with its default configuration, no
// password and one database (docs/redis.md lists what differs and why).
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "backend_report.h"
#include "command.h"  // parse_int64
#include "glob.h"
#include "handlers.h"
#include "log.h"
#include "version.h"

namespace kv::redis {
namespace {

constexpr std::string_view kRedisVersion = "7.0.15";

// Redis's getLongLongFromObjectOrReply: string2ll, which parse_int64 is.
std::optional<int64_t> to_int(std::string_view s)
{
    return parse_int64(s);
}

// Redis's validateClientName: printable ASCII without spaces ("" clears).
bool valid_client_name(std::string_view name)
{
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}
constexpr std::string_view kBadClientName = "ERR Client names cannot contain spaces, newlines or special characters.";

// As C's "%s" prints an argument: up to its first NUL byte.
std::string c_str(std::string_view s)
{
    return std::string(s.substr(0, s.find('\0')));
}

// Redis's bytesToHuman.
std::string human_bytes(uint64_t n)
{
    static const char units[] = "KMGTPE";
    if (n < 1024)
        return std::to_string(n) + "B";
    double d = static_cast<double>(n) / 1024;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof units - 1) {
        d /= 1024;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f%c", d, units[u]);
    return buf;
}

// CLIENT LIST's line for one client (catClientInfoString's fields, with
// what kvstore knows: no fd or local address, buffers it does not measure
// as 0). `self` adds this session's own state.
std::string client_line(const ClientInfo& c, const Session* self)
{
    std::string flags = "N";
    int multi = -1;
    if (self && self->in_multi) {
        flags = "x";
        multi = static_cast<int>(self->queued.size());
    }
    std::string cmd = c.last_command.empty() ? "NULL" : c.last_command;
    return "id=" + std::to_string(c.id) + " addr=" + c.address + " laddr= fd=-1 name=" + c.name
        + " age=" + std::to_string(c.age_seconds) + " idle=" + std::to_string(c.idle_seconds) + " flags=" + flags
        + " db=0 sub=0 psub=0 ssub=0 multi=" + std::to_string(multi)
        + " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=" + std::to_string(c.output_bytes)
        + " tot-mem=0 events=r cmd=" + cmd + " user=default redir=-1 resp=" + std::to_string(c.protocol) + "\n";
}

// Every client, this session with its own current state.
std::vector<ClientInfo> all_clients(const Session& session, Context& ctx)
{
    std::vector<ClientInfo> clients = ctx.host.clients();
    auto self = std::find_if(clients.begin(), clients.end(), [&](const ClientInfo& c) { return c.id == session.id; });
    if (self == clients.end()) {
        clients.push_back(ClientInfo{});
        self = clients.end() - 1;
        self->id = session.id;
        self->address = session.address;
    }
    self->name = session.name;
    self->protocol = session.protocol;
    self->last_command = session.last_command;
    std::sort(clients.begin(), clients.end(), [](const ClientInfo& a, const ClientInfo& b) { return a.id < b.id; });
    return clients;
}

// Redis's getClientTypeByName: every kvstore client is "normal".
enum class ClientType { Unknown, Normal, Other };
ClientType client_type(std::string_view name)
{
    if (equals_nocase(name, "normal"))
        return ClientType::Normal;
    if (equals_nocase(name, "slave") || equals_nocase(name, "replica") || equals_nocase(name, "pubsub")
        || equals_nocase(name, "master"))
        return ClientType::Other;
    return ClientType::Unknown;
}

void hello_reply(Session& session, ReplyWriter& reply)
{
    reply.map(7);
    reply.bulk("server");
    reply.bulk("redis");
    reply.bulk("version");
    reply.bulk(kRedisVersion);
    reply.bulk("proto");
    reply.integer(session.protocol);
    reply.bulk("id");
    reply.integer(static_cast<long long>(session.id));
    reply.bulk("mode");
    reply.bulk("standalone");
    reply.bulk("role");
    reply.bulk("master");
    reply.bulk("modules");
    reply.array(0);
}

// The one user, "default", takes any password (Redis with no requirepass).
bool authenticate(std::string_view user)
{
    return user == "default";
}
constexpr std::string_view kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

}  // namespace

void cmd_ping(Args args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    if (args.size() > 2)
        reply.error(arity_error("ping"));
    else if (args.size() == 2)
        reply.bulk(args[1]);
    else
        reply.simple("PONG");
}

void cmd_echo(Args args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    reply.bulk(args[1]);
}

void cmd_quit(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    session.close_after_reply = true;
    reply.ok();
}

void cmd_hello(Args args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    int version = 0;
    size_t next = 1;
    if (args.size() >= 2) {
        std::optional<int64_t> v = to_int(args[next++]);
        if (!v) {
            reply.error("ERR Protocol version is not an integer or out of range");
            return;
        }
        if (*v < 2 || *v > 3) {
            reply.error("NOPROTO unsupported protocol version");
            return;
        }
        version = static_cast<int>(*v);
    }
    std::optional<std::string_view> user, name;
    size_t auth_at = 0;
    for (size_t j = next; j < args.size(); ++j) {
        size_t more = args.size() - 1 - j;
        if (equals_nocase(args[j], "AUTH") && more >= 2) {
            user = args[j + 1];
            auth_at = j;
            j += 2;
        } else if (equals_nocase(args[j], "SETNAME") && more >= 1) {
            name = args[j + 1];
            if (!valid_client_name(*name)) {
                reply.error(kBadClientName);
                return;
            }
            ++j;
        } else {
            reply.error("ERR Syntax error in HELLO option '" + c_str(args[j]) + "'");
            return;
        }
    }
    bool required = false;
    ctx.host.user(required);
    if (user && required) {
        // The door checks the password and then runs this HELLO without it.
        Session::PendingAuth pending{std::string(*user), std::string(args[auth_at + 2]), {}};
        for (size_t j = 0; j < args.size(); ++j)
            if (j < auth_at || j > auth_at + 2)
                pending.then.emplace_back(args[j]);
        session.auth = std::move(pending);
        return;
    }
    if (user && !authenticate(*user)) {
        reply.error(kWrongPass);
        return;
    }
    if (name)
        session.name = std::string(*name);
    if (version) {
        session.protocol = version;
        ReplyWriter now(reply.buffer(), version);  // the reply is in the new protocol
        hello_reply(session, now);
        return;
    }
    hello_reply(session, reply);
}

// One database, 0, as Redis configured with `databases 1`.
void cmd_select(Args args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    std::optional<int64_t> db = to_int(args[1]);
    if (!db || *db < INT32_MIN || *db > INT32_MAX)
        reply.error("ERR value is not an integer or out of range");
    else if (*db != 0)
        reply.error("ERR DB index is out of range");
    else
        reply.ok();
}

void cmd_auth(Args args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    bool required = false;
    ctx.host.user(required);
    if (args.size() > 3) {
        reply.error("ERR syntax error");
    } else if (required) {
        // AUTH <password> is user "default"'s, as in Redis. The door checks it.
        session.auth = Session::PendingAuth{
            args.size() == 3 ? std::string(args[1]) : std::string("default"), std::string(args.back()), {}};
    } else if (args.size() == 2) {
        reply.error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
            "configuration is correct?");
    } else if (!authenticate(args[1])) {
        reply.error(kWrongPass);
    } else {
        reply.ok();
    }
}

void cmd_client_id(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    reply.integer(static_cast<long long>(session.id));
}

void cmd_client_getname(Args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    if (session.name.empty())
        reply.null();
    else
        reply.bulk(session.name);
}

void cmd_client_setname(Args args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    if (!valid_client_name(args[2])) {
        reply.error(kBadClientName);
        return;
    }
    session.name = std::string(args[2]);
    reply.ok();
}

void cmd_client_info(Args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    for (const ClientInfo& c : all_clients(session, ctx))
        if (c.id == session.id) {
            reply.verbatim(client_line(c, &session));
            return;
        }
}

void cmd_client_list(Args args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    std::vector<ClientInfo> clients = all_clients(session, ctx);
    auto line = [&](const ClientInfo& c) { return client_line(c, c.id == session.id ? &session : nullptr); };
    std::string text;
    if (args.size() == 4 && equals_nocase(args[2], "type")) {
        ClientType type = client_type(args[3]);
        if (type == ClientType::Unknown) {
            reply.error("ERR Unknown client type '" + c_str(args[3]) + "'");
            return;
        }
        if (type == ClientType::Normal)
            for (const ClientInfo& c : clients)
                text += line(c);
    } else if (args.size() > 3 && equals_nocase(args[2], "id")) {
        for (std::string_view arg : args.subspan(3)) {
            std::optional<int64_t> id = to_int(arg);
            if (!id) {
                reply.error("ERR Invalid client ID");
                return;
            }
            for (const ClientInfo& c : clients)
                if (static_cast<int64_t>(c.id) == *id)
                    text += line(c);
        }
    } else if (args.size() != 2) {
        reply.error("ERR syntax error");
        return;
    } else {
        for (const ClientInfo& c : clients)
            text += line(c);
    }
    reply.verbatim(text);
}

// CLIENT KILL addr:port (the old form: may kill this client, "+OK" or "No such
// client"), or filters ID ADDR LADDR TYPE USER SKIPME (a count).
void cmd_client_kill(Args args, Session& session, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    std::optional<std::string_view> addr, laddr;
    std::optional<ClientType> type;
    uint64_t id = 0;
    bool skipme = true;
    if (args.size() == 3) {
        addr = args[2];
        skipme = false;
    } else {
        for (size_t i = 2; i < args.size(); i += 2) {
            bool more = i + 1 < args.size();
            std::string_view opt = args[i];
            if (equals_nocase(opt, "id") && more) {
                std::optional<int64_t> v = to_int(args[i + 1]);
                if (!v || *v < 1) {
                    reply.error("ERR client-id should be greater than 0");
                    return;
                }
                id = static_cast<uint64_t>(*v);
            } else if (equals_nocase(opt, "type") && more) {
                type = client_type(args[i + 1]);
                if (*type == ClientType::Unknown) {
                    reply.error("ERR Unknown client type '" + c_str(args[i + 1]) + "'");
                    return;
                }
            } else if (equals_nocase(opt, "addr") && more) {
                addr = args[i + 1];
            } else if (equals_nocase(opt, "laddr") && more) {
                laddr = args[i + 1];
            } else if (equals_nocase(opt, "user") && more) {
                if (args[i + 1] != "default") {
                    reply.error("ERR No such user '" + c_str(args[i + 1]) + "'");
                    return;
                }
            } else if (equals_nocase(opt, "skipme") && more) {
                if (equals_nocase(args[i + 1], "yes"))
                    skipme = true;
                else if (equals_nocase(args[i + 1], "no"))
                    skipme = false;
                else {
                    reply.error("ERR syntax error");
                    return;
                }
            } else {
                reply.error("ERR syntax error");
                return;
            }
        }
    }
    long long killed = 0;
    for (const ClientInfo& c : all_clients(session, ctx)) {
        if (addr && c.address != *addr)
            continue;
        if (laddr)  // kvstore does not know the address a client reached (docs/redis.md)
            continue;
        if (type && *type != ClientType::Normal)
            continue;
        if (id != 0 && c.id != id)
            continue;
        bool self = c.id == session.id;
        if (self && skipme)
            continue;
        if (self)
            session.close_after_reply = true;
        else if (!ctx.host.kill_client(c.id))
            continue;
        ++killed;
    }
    if (args.size() == 3) {
        if (killed == 0)
            reply.error("ERR No such client");
        else
            reply.ok();
    } else {
        reply.integer(killed);
    }
}

// INFO [section ...]: server clients memory persistence stats replication
// keyspace ("default", "all" and "everything" are all of them); an unknown
// section adds nothing, as in Redis.
void cmd_info(Args args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    static constexpr std::string_view kSections[]
        = {"server", "clients", "memory", "persistence", "stats", "replication", "keyspace"};
    bool wanted[std::size(kSections)] = {};
    if (args.size() == 1)
        std::fill(std::begin(wanted), std::end(wanted), true);
    for (std::string_view arg : args.subspan(1)) {
        if (equals_nocase(arg, "default") || equals_nocase(arg, "all") || equals_nocase(arg, "everything"))
            std::fill(std::begin(wanted), std::end(wanted), true);
        for (size_t i = 0; i < std::size(kSections); ++i)
            if (equals_nocase(arg, kSections[i]))
                wanted[i] = true;
    }
    ServerFacts f = ctx.host.facts();
    const Store& store = ctx.db.store();
    const Stats& s = ctx.stats;
    int64_t now_ms = ctx.clock.now_ms();
    std::string text;
    auto section = [&](size_t i, std::string_view title) {
        if (!wanted[i])
            return false;
        if (!text.empty())
            text += "\r\n";
        text.append("# ").append(title).append("\r\n");
        return true;
    };
    auto field = [&](std::string_view name, const std::string& value) {
        text.append(name).append(":").append(value).append("\r\n");
    };
    auto num = [](auto n) { return std::to_string(n); };
    if (section(0, "Server")) {
        struct utsname u { };
        uname(&u);
        field("redis_version", std::string(kRedisVersion));
        field("redis_mode", "standalone");
        field("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
        field("arch_bits", num(sizeof(void*) * 8));
        field("process_id", num(f.pid));
        field("server_time_usec", num(now_ms * 1000));
        field("uptime_in_seconds", num(f.uptime_seconds));
        field("uptime_in_days", num(f.uptime_seconds / 86400));
        field("kvstore_version", KVSTORE_VERSION);
    }
    if (section(1, "Clients")) {
        field("connected_clients", num(f.connected_clients));
        field("blocked_clients", "0");
    }
    if (section(2, "Memory")) {
        field("used_memory", num(f.rss_bytes));
        field("used_memory_human", human_bytes(f.rss_bytes));
        field("used_memory_rss", num(f.rss_bytes));
        field("used_memory_rss_human", human_bytes(f.rss_bytes));
        field("maxmemory", "0");
        field("maxmemory_human", "0B");
        field("maxmemory_policy", f.when_full == "evict" ? "allkeys-lru" : "noeviction");
        field("kvstore_capacity", num(f.capacity));
        field("kvstore_max_value", num(f.max_value));
        field("kvstore_when_full", f.when_full);
    }
    // backend, read_only, read_only_why (Persistence) and, with etcd, the
    // etcd_* rows (Replication): the line protocol's names, prefixed.
    BackendRows backend = backend_rows(ctx.db.backend_status());
    auto backend_fields = [&](bool etcd) {
        for (const auto& [name, value] : backend)
            if (name.starts_with("etcd_") == etcd)
                field("kvstore_" + name, value);
    };
    if (section(3, "Persistence")) {
        std::string refusal = ctx.db.write_refusal();
        field("loading", "0");
        field("async_loading", "0");
        field("rdb_bgsave_in_progress", "0");
        field("rdb_last_save_time", num(f.last_save_unix));
        field("rdb_last_bgsave_status", refusal.empty() ? "ok" : "err");
        field("aof_enabled", f.persistence == "none" ? "0" : "1");
        field("aof_rewrite_in_progress", "0");
        field("aof_last_write_status", refusal.empty() ? "ok" : "err");
        field("kvstore_persistence", f.persistence);
        field("kvstore_sync", f.sync);
        field("kvstore_pending_bytes", num(ctx.db.pending_bytes()));
        backend_fields(false);
    }
    if (section(4, "Stats")) {
        field("total_connections_received", num(s.connections_total));
        field("total_commands_processed", num(s.commands_total));
        field("instantaneous_ops_per_sec", "0");
        field("rejected_connections", "0");
        field("expired_keys", num(store.expired_total()));
        field("evicted_keys", num(store.evicted_total()));
        field("keyspace_hits", num(s.hits));
        field("keyspace_misses", num(s.misses));
        field("total_error_replies", num(s.error_replies));
        field("kvstore_redis_connections_received", num(s.redis_connections_total));
        field("kvstore_exec_aborts", num(s.exec_aborts));
        field("kvstore_full_rejections", num(s.full_rejections));
        field("kvstore_storage_refusals", num(s.storage_refusals));
        field("kvstore_protocol_errors", num(s.protocol_errors));
    }
    if (section(5, "Replication")) {
        field("role", "master");
        field("connected_slaves", "0");
        backend_fields(true);
    }
    if (section(6, "Keyspace")) {
        if (size_t keys = store.size())
            field("db0", "keys=" + num(keys) + ",expires=" + num(store.with_deadline()) + ",avg_ttl=0");
    }
    reply.verbatim(text);
}

namespace {

void command_infos(std::span<const CommandSpec* const> specs, ReplyWriter& reply)
{
    reply.array(specs.size());
    for (const CommandSpec* spec : specs)
        reply.buffer().append(reply.protocol() == 3 ? spec->info3 : spec->info2);
}

void command_docs(std::span<const CommandSpec* const> specs, ReplyWriter& reply)
{
    reply.map(specs.size());
    for (const CommandSpec* spec : specs) {
        reply.bulk(spec->name);
        reply.buffer().append(reply.protocol() == 3 ? spec->docs3 : spec->docs2);
    }
}

}  // namespace

void cmd_command(Args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    command_infos(top_level_commands(), reply);
}

void cmd_command_count(Args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    reply.integer(static_cast<long long>(top_level_commands().size()));
}

void cmd_command_info(Args args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    if (args.size() == 2) {
        command_infos(top_level_commands(), reply);
        return;
    }
    reply.array(args.size() - 2);
    for (std::string_view name : args.subspan(2)) {
        const CommandSpec* spec = find_command(name);
        if (spec)
            reply.buffer().append(reply.protocol() == 3 ? spec->info3 : spec->info2);
        else
            reply.null();
    }
}

void cmd_command_docs(Args args, Session&, Context&, ReplyWriter& reply, uint64_t&)
{
    if (args.size() == 2) {
        command_docs(top_level_commands(), reply);
        return;
    }
    std::vector<const CommandSpec*> found;
    for (std::string_view name : args.subspan(2))
        if (const CommandSpec* spec = find_command(name))
            found.push_back(spec);
    command_docs(found, reply);
}

void cmd_time(Args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    int64_t ms = ctx.clock.now_ms();
    reply.array(2);
    reply.bulk(std::to_string(ms / 1000));
    reply.bulk(std::to_string(ms % 1000 * 1000));
}

void cmd_lastsave(Args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    reply.integer(ctx.host.facts().last_save_unix);
}

void cmd_dbsize(Args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    reply.integer(static_cast<long long>(ctx.db.store().size()));
}

namespace {

// CONFIG GET's parameters: Redis's names for what kvstore has. None can be
// set at run time (kvstored's options are fixed at start).
std::vector<std::pair<std::string_view, std::string>> config_parameters(Context& ctx)
{
    ServerFacts f = ctx.host.facts();
    bool persistent = f.persistence != "none";
    std::string fsync = f.sync == "always" ? "always" : f.sync == "batch" ? "everysec" : "no";
    return {
        {"maxmemory", "0"},
        {"maxmemory-policy", f.when_full == "evict" ? "allkeys-lru" : "noeviction"},
        {"proto-max-bulk-len", std::to_string(f.max_value)},
        {"databases", "1"},
        {"save", ""},
        {"appendonly", persistent ? "yes" : "no"},
        {"appendfsync", persistent ? fsync : "no"},
        {"timeout", "0"},
        {"kvstore-capacity", std::to_string(f.capacity)},
    };
}

}  // namespace

void cmd_config_get(Args args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    std::vector<std::pair<std::string_view, std::string>> params = config_parameters(ctx);
    std::vector<const std::pair<std::string_view, std::string>*> matched;
    for (const auto& p : params)
        for (std::string_view pattern : args.subspan(2))
            if (stringmatch(pattern, p.first, true)) {
                matched.push_back(&p);
                break;
            }
    reply.map(matched.size());
    for (const auto* p : matched) {
        reply.bulk(p->first);
        reply.bulk(p->second);
    }
}

void cmd_config_set(Args args, Session&, Context& ctx, ReplyWriter& reply, uint64_t&)
{
    if (args.size() % 2) {
        reply.error("ERR syntax error");
        return;
    }
    std::vector<std::pair<std::string_view, std::string>> params = config_parameters(ctx);
    for (size_t i = 2; i < args.size(); i += 2) {
        bool known
            = std::any_of(params.begin(), params.end(), [&](const auto& p) { return equals_nocase(p.first, args[i]); });
        if (!known) {
            reply.error("ERR Unknown option or number of arguments for CONFIG SET - '" + c_str(args[i]) + "'");
            return;
        }
    }
    reply.error("ERR CONFIG SET failed (possibly related to argument '" + c_str(args[2])
                + "') - can't set immutable config");
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: kvstored stops only when its
// operator allowed clients to stop it (docs/redis.md); every change is
// already saved (or queued for the disk), so the options change nothing.
void cmd_shutdown(Args args, Session& session, Context&, ReplyWriter& reply, uint64_t&)
{
    bool nosave = false, save = false, abort = false, other = false;
    for (std::string_view arg : args.subspan(1)) {
        if (equals_nocase(arg, "nosave"))
            nosave = true;
        else if (equals_nocase(arg, "save"))
            save = true;
        else if (equals_nocase(arg, "now") || equals_nocase(arg, "force"))
            other = true;
        else if (equals_nocase(arg, "abort"))
            abort = true;
        else {
            reply.error("ERR syntax error");
            return;
        }
    }
    if ((abort && (nosave || save || other)) || (nosave && save)) {
        reply.error("ERR syntax error");
        return;
    }
    if (abort) {
        reply.error("ERR No shutdown in progress.");
        return;
    }
    // Stopping kvstored is an admin operation (`kvstored shutdown`, on the
    // admin socket and its access control): a network client may not. Logged
    // once per session, so that a client cannot flood the log.
    if (!session.shutdown_refused)
        LOG_WARN("SHUTDOWN from Redis client %llu (%s) refused: use kvstored shutdown",
                 static_cast<unsigned long long>(session.id),
                 session.address.empty() ? "address unknown" : session.address.c_str());
    session.shutdown_refused = true;
    reply.error("ERR Errors trying to SHUTDOWN. Check logs.");
}

}  // namespace kv::redis
