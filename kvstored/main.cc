// main.cc: kvstored's command line. `kvstored run` is the daemon; the other
// subcommands administer a running daemon through its admin socket.
//
// Options may also come from the configuration file (INI): top-level keys for
// the global options (admin-socket), a [run] section for the daemon's. Flags on
// the command line override the file. kvstored reads and checks the file itself
// (config_file.h) after CLI11 has parsed the command line, so that a mistake in
// it stops only `run` and `check-config`.
#include <grp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>
#include <vector>

#include "admin_cli.h"
#include "backends/etcd/etcd_client.h"
#include "command.h"
#include "config_file.h"
#include "daemon.h"
#include "log.h"
#include "password_checker.h"
#include "spelling.h"
#include "users.h"
#include "users_cli.h"
#include "version.h"

namespace {

constexpr const char* kDefaultConfig = "/etc/kvstore/kvstored.conf";
constexpr const char* kDefaultSocket = "/run/kvstored/kvstored.sock";
constexpr const char* kDefaultAdminSocket = "/run/kvstored/admin.sock";

constexpr const char* kFooter
    = "Configuration: every option of 'run' and --admin-socket may be set in the file named by\n"
      "--config (default /etc/kvstore/kvstored.conf; a missing default file is fine):\n"
      "    admin-socket = /run/kvstored/admin.sock\n"
      "    [run]\n"
      "    socket = /run/kvstored/kvstored.sock\n"
      "    db = /var/lib/kvstore/store.db\n"
      "    # or, for the etcd backend (docs/scale-out.md):\n"
      "    # backend = etcd\n"
      "    # etcd-endpoints = http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379\n"
      "    # and, for clients to authenticate (docs/operations.md, Users):\n"
      "    # users = /etc/kvstore/users\n"
      "Command-line flags override the file. A bad file (an unknown key, a bad value, no read\n"
      "permission) stops 'run' and 'check-config' with its line (exit 2); the other subcommands\n"
      "warn and go on. Check a file with 'kvstored check-config', which takes run's flags.\n"
      "\n"
      "Exit status: 0 success; 1 error (including 'not found' for get, del and kick);\n"
      "2 bad usage or configuration; 3 kvstored is not running (LSB, as for 'status').\n"
      "See docs/operations.md.";

struct RunOptions {
    kv::ServerConfig server;
    std::string db_path;
    bool memory = false;
    std::string sync = "batch";
    double interval_s = 1.0;
    double shutdown_timeout_s = 5.0;
    std::string service_group;
    std::string admin_group;
    std::string log_level = "info";
    std::string when_full = "refuse";
    std::string backend = "sqlite";
    std::vector<std::string> etcd_endpoints;
    std::string etcd_prefix = "/kvstore";
    long etcd_timeout_ms = 2000;
    long etcd_check_interval_s = 30;
    std::string users_path;  // "": auth off
    // Set when parsing: what the command line or the file gave (CLI11's
    // count() counts both), for the checks of check_backend().
    const CLI::Option* db_opt = nullptr;
    const CLI::Option* memory_opt = nullptr;
    std::vector<const CLI::Option*> etcd_opts;
};

// A configuration CLI11 cannot refuse by itself (options that exclude each
// other only in some combinations): `run` and `check-config` exit 2 with it.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void add_persistence_options(CLI::App& run, RunOptions& o)
{
    CLI::Option* db = run.add_option(
        "--db", o.db_path,
        "SQLite database to persist the store to (WAL mode); loaded into memory at "
        "start. Locked for the daemon's life (DB.lock holds its pid): a second kvstored given the same file "
        "refuses to start. Without --db the store lives in memory only");
    o.db_opt = db;
    o.memory_opt
        = run.add_flag("--memory", o.memory, "Keep the store in memory only (the default without --db)")->excludes(db);
    run.add_option("--sync", o.sync,
                   "When a write is acknowledged: 'always' after its transaction is fsync'd (group commit); "
                   "'batch' at once, committed within --sync-interval; 'off' at once, committed when the "
                   "queue grows and at shutdown, without fsync (docs/persistence.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"always", "batch", "off"}));
    run.add_option("--sync-interval", o.interval_s, "Seconds between commits in --sync batch mode")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 3600.0));
}

// The etcd backend's options (docs/scale-out.md). Each one is refused
// without --backend etcd (check_backend), so a half-edited file is caught.
void add_etcd_options(CLI::App& run, RunOptions& o)
{
    run.add_option("--backend", o.backend,
                   "Where the store lives. sqlite: in this process's memory, persisted to --db when given (the "
                   "default; without --db, memory only, as before). etcd: in an etcd cluster shared by every "
                   "kvstored given the same --etcd-endpoints and --etcd-prefix; each keeps a full copy in memory, "
                   "kept current by a watch, and a write is acknowledged once etcd has committed it and this "
                   "copy holds it. Excludes --db, --memory and --when-full evict (docs/scale-out.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"sqlite", "etcd"}));
    o.etcd_opts.push_back(
        run.add_option("--etcd-endpoints", o.etcd_endpoints,
                       "The client URLs of the etcd members, comma-separated, each http://HOST:PORT (list every "
                       "member: writes go to the one that leads, asked every 2 s, and calls fail over from one to "
                       "the next in this order). Required with --backend etcd")
            ->delimiter(',')
            ->type_name("URL,URL,..."));
    o.etcd_opts.push_back(run.add_option("--etcd-prefix", o.etcd_prefix,
                                         "The etcd key prefix the store lives under (P/k/<key>, P/m/count, ...): "
                                         "several stores can share one cluster under different prefixes. Starts "
                                         "with '/', no trailing '/', printable ASCII without spaces")
                              ->capture_default_str()
                              ->type_name("PREFIX"));
    o.etcd_opts.push_back(run.add_option("--etcd-timeout", o.etcd_timeout_ms,
                                         "Milliseconds a write may wait for etcd: past it the client gets ERR "
                                         "unavailable (the write may still commit) and writes are refused until "
                                         "etcd answers again; reads go on. Also bounds every other etcd call")
                              ->capture_default_str()
                              ->type_name("MS")
                              ->check(CLI::Range(100L, 600'000L)));
    o.etcd_opts.push_back(run.add_option("--etcd-check-interval", o.etcd_check_interval_s,
                                         "Seconds between consistency checks: the local copy's entry count is "
                                         "compared with etcd's at the same revision, and a mismatch reloads the "
                                         "copy from etcd")
                              ->capture_default_str()
                              ->type_name("S")
                              ->check(CLI::Range(1L, 86'400L)));
}

// The daemon's options, on `run` and (to show what they make) on `check-config`.
void add_run_options(CLI::App* run, RunOptions& o)
{
    o.server.socket_path = kDefaultSocket;
    run->add_option("--socket", o.server.socket_path, "Service socket that kvsvc connects to")->capture_default_str();
    o.server.capacity = 10000;
    run->add_option("--capacity", o.server.capacity,
                    "Most entries the store holds (entries past their deadline do not count); what a new key "
                    "beyond it gets is --when-full's choice")
        ->capture_default_str()
        ->check(CLI::Range(size_t{1}, size_t{1} << 32));
    run->add_option("--when-full", o.when_full,
                    "A new key when the store is full and nothing has expired: refuse (ERR full; nothing a client "
                    "saved disappears) or evict (an approximately least recently used entry makes room; counted "
                    "in stats as evictions)")
        ->capture_default_str()
        ->check(CLI::IsMember({"refuse", "evict"}));
    o.server.max_value = kv::kDefaultMaxValueBytes;
    run->add_option("--max-value", o.server.max_value, "Largest value in bytes a client may save")
        ->capture_default_str()
        // A partly read line of a handed-off client must fit in one HandBack frame.
        ->check(CLI::Range(size_t{1}, size_t{kv::wire::kMaxPayload} - kv::kLineOverhead - 1024));
    add_persistence_options(*run, o);
    add_etcd_options(*run, o);
    run->add_option("--service-group", o.service_group,
                    "Group (name) whose members may use the service socket; the socket is given this group. "
                    "Default: kvstored's own group");
    run->add_option("--admin-group", o.admin_group,
                    "Group (name) whose members, besides root, may use the admin socket (mode 0660, given this "
                    "group); kvstored's own user is then not enough. Must differ from --service-group. "
                    "Default: none (mode 0600: root and kvstored's user)");
    run->add_option("--shutdown-timeout", o.shutdown_timeout_s,
                    "Seconds to wait for kvsvc processes to hang up after the shutdown notice")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 600.0));
    run->add_option("--users", o.users_path,
                    "The users file (one user a line: NAME:HASH:RIGHTS:PATTERNS; manage it with 'kvstored passwd'): "
                    "clients then authenticate, and each may do only what its rights and key patterns allow. "
                    "Loaded at start (a bad file stops kvstored) and again on SIGHUP (systemctl reload kvstored; "
                    "a bad file is refused whole and the old users stay). Without it there is no authentication")
        ->type_name("FILE");
    run->add_option("--auth-failures-per-address", o.server.auth_failures_per_address,
                    "Password checks one client address may have failed within a minute, or pending, before its "
                    "further attempts fail without a check (a right password too) until that minute has passed; "
                    "0: no limit. Sessions without an address (kvsvc run by hand) are not counted")
        ->capture_default_str()
        ->check(CLI::Range(0u, 1000000u));
    run->add_option("--log-level", o.log_level, "Least severe messages logged")
        ->capture_default_str()
        ->check(CLI::IsMember({"error", "warning", "info", "debug"}));
}

CLI::App* add_run_command(CLI::App& app, RunOptions& o)
{
    CLI::App* run = app.add_subcommand("run", "Run the daemon in the foreground (as systemd does)");
    run->footer("Run the daemon in the foreground. It serves kvsvc processes on the service socket and\n"
                "the admin subcommands on the admin socket, holds a capped in-memory store, optionally\n"
                "persisted to SQLite (--db) or kept in an etcd cluster (--backend etcd), logs to stderr\n"
                "(the journal under systemd) and shuts down gracefully on SIGTERM or SIGINT: pending\n"
                "writes are committed, then every attached kvsvc is told: a line-protocol client sees\n"
                "'BYE kvstored is shutting down'; a Redis or memcached client gets the replies to what\n"
                "kvstored ran, then the connection closes.\n"
                "Access: the service socket (mode 0660) admits root, kvstored's user and the service\n"
                "group. The admin socket admits root and the --admin-group (mode 0660), or without\n"
                "one root and kvstored's user (mode 0600). The packaged unit runs kvstored as user\n"
                "kvstore with --service-group kvsvc --admin-group kvstore-admin. Run as root, it logs a\n"
                "warning at start: what it creates belongs to root, and without --service-group no\n"
                "kvsvc of another user can reach it.\n"
                "Exit status: 0 after a clean shutdown, 1 when it cannot start (the log line says\n"
                "which operation failed and why), 2 for options that contradict each other or a bad\n"
                "configuration file.");
    add_run_options(run, o);
    return run;
}

kv::log::Level parse_level(const std::string& name)
{
    if (name == "error")
        return kv::log::Level::Error;
    if (name == "warning")
        return kv::log::Level::Warning;
    if (name == "debug")
        return kv::log::Level::Debug;
    return kv::log::Level::Info;
}

// The gid of group `name`, given by `option`; throws when there is none.
gid_t group_by_name(const std::string& option, const std::string& name)
{
    group* g = ::getgrnam(name.c_str());
    if (!g)
        throw std::runtime_error(option + " " + name + ": no such group");
    return g->gr_gid;
}

// Why `prefix` cannot be an --etcd-prefix, or "" when it can.
std::string prefix_problem(const std::string& prefix)
{
    if (prefix.size() < 2 || prefix.front() != '/')
        return "it must start with '/' and name something after it";
    if (prefix.back() == '/')
        return "no trailing '/' (kvstored adds /k/ and /m/ itself)";
    if (prefix.size() > 200)
        return "at most 200 bytes";
    for (char ch : prefix)
        if (ch <= ' ' || ch >= 0x7f)
            return "printable ASCII only, no spaces";
    return "";
}

// The combinations of --backend and the options that go with it; throws
// UsageError naming both options of a conflict.
void check_backend(const RunOptions& o)
{
    const char* see = " (docs/scale-out.md)";
    // CLI11's excludes() sees the command line only: the file is applied later.
    if (o.memory_opt->count() > 0 && o.db_opt->count() > 0)
        throw UsageError("--memory excludes --db");
    if (o.backend != "etcd") {
        for (const CLI::Option* opt : o.etcd_opts)
            if (opt->count() > 0)
                throw UsageError(opt->get_name() + " needs --backend etcd (the backend is " + o.backend + ")" + see);
        return;
    }
    if (o.db_opt->count() > 0)
        throw UsageError("--backend etcd excludes --db: the store lives in etcd, not in a SQLite file"
                         + std::string(see));
    if (o.memory_opt->count() > 0)
        throw UsageError("--backend etcd excludes --memory: the store lives in etcd" + std::string(see));
    if (o.when_full == "evict")
        throw UsageError("--backend etcd excludes --when-full evict: every host would have to agree on the least "
                         "recently used entry; use --when-full refuse"
                         + std::string(see));
    if (o.etcd_endpoints.empty())
        throw UsageError("--backend etcd needs --etcd-endpoints URL,URL,... (each member's http://HOST:PORT)"
                         + std::string(see));
    for (const std::string& e : o.etcd_endpoints)
        if (std::string why = kv::etcd::endpoint_problem(e); !why.empty())
            throw UsageError("--etcd-endpoints: " + why);
    if (std::string why = prefix_problem(o.etcd_prefix); !why.empty())
        throw UsageError("--etcd-prefix " + o.etcd_prefix + ": " + why);
}

// Loads --users into the configuration (its absolute path, so that a reload
// and `kvstored passwd` find the same file); throws UsageError with every
// problem of a bad file.
void load_users(const RunOptions& o, kv::ServerConfig& c)
{
    if (o.users_path.empty())
        return;
    c.users_path = std::filesystem::absolute(o.users_path).lexically_normal().string();
    try {
        c.users = std::make_shared<const kv::users::Table>(kv::users::Table::load(c.users_path));
    } catch (const kv::users::Error& e) {
        std::string all = "users file refused:";
        for (const std::string& p : e.problems())
            all += "\n  " + p;
        throw UsageError(all);
    }
}

// Turns the parsed options into the daemon's configuration; throws
// std::runtime_error for what CLI11 cannot check (an unknown group), and
// UsageError for options that contradict each other.
kv::ServerConfig server_config(RunOptions& o, const std::string& admin_socket)
{
    check_backend(o);
    kv::ServerConfig c = o.server;
    c.admin_socket_path = admin_socket;
    c.when_full = o.when_full == "evict" ? kv::WhenFull::Evict : kv::WhenFull::Refuse;
    c.shutdown_timeout = std::chrono::milliseconds(static_cast<long>(o.shutdown_timeout_s * 1000));
    if (!o.service_group.empty())
        c.service_group = group_by_name("--service-group", o.service_group);
    if (!o.admin_group.empty())
        c.admin_group = group_by_name("--admin-group", o.admin_group);
    gid_t service_gid = c.service_group.value_or(::getegid());
    if (c.admin_group && *c.admin_group == service_gid)
        throw std::runtime_error("--admin-group " + o.admin_group
                                 + " is also the service group: every kvsvc could administer kvstored");
    if (o.backend == "etcd") {
        kv::EtcdConfig e;
        e.endpoints = o.etcd_endpoints;
        e.prefix = o.etcd_prefix;
        e.timeout = std::chrono::milliseconds(o.etcd_timeout_ms);
        e.check_interval = std::chrono::seconds(o.etcd_check_interval_s);
        c.etcd = e;
    } else if (!o.db_path.empty()) {
        kv::PersistConfig p;
        p.path = o.db_path;
        p.mode = o.sync == "always" ? kv::SyncMode::Always : o.sync == "off" ? kv::SyncMode::Off : kv::SyncMode::Batch;
        p.interval = std::chrono::milliseconds(static_cast<long>(o.interval_s * 1000));
        p.max_value = c.max_value;
        c.persist = p;
    }
    load_users(o, c);
    return c;
}

struct AdminOptions {
    kv::admin::Target target;
    bool json = false;
    bool yes = false;
    bool replace = false;
    std::string format = "jsonl";
    std::string stats_format = "text";
    std::string output;
    std::string key, value, id, prefix;
    std::optional<int64_t> ttl_seconds;
    std::string message;
    double wait_s = 15;
};

kv::dump::Format format_of(const std::string& name)
{
    return name == "tsv" ? kv::dump::Format::Tsv : kv::dump::Format::Jsonl;
}

// Registers every admin subcommand; each sets `action` to what it runs.
void add_admin_commands(CLI::App& app, AdminOptions& o, std::function<int()>& action)
{
    namespace a = kv::admin;
    auto& t = o.target;
    auto sub = [&](const char* name, const char* help, std::function<int()> fn) {
        CLI::App* cmd = app.add_subcommand(name, help);
        cmd->callback([&action, fn] { action = fn; });
        return cmd;
    };
    sub("status",
        "Is kvstored running? pid, version, uptime, sockets, entries, clients, persistence, the backend "
        "(memory, sqlite or etcd) and whether it takes writes, and why not (exit 0 running, 3 not running)",
        [&] { return a::status(t, o.json); })
        ->add_flag("--json", o.json, "One JSON object instead of aligned lines (numbers as numbers)");
    auto* stats = sub("stats", "Counters: connections, commands, hits, misses, full rejections, commits", [&] {
        auto format = o.json || o.stats_format == "json" ? a::StatsFormat::Json
            : o.stats_format == "prometheus"             ? a::StatsFormat::Prometheus
                                                         : a::StatsFormat::Text;
        return a::stats(t, format, o.output);
    });
    auto* stats_format
        = stats
              ->add_option("--format", o.stats_format,
                           "text: 'name value' lines; json: one JSON object (numbers as numbers); prometheus: the "
                           "Prometheus text format (docs/operations.md, Metrics)")
              ->check(CLI::IsMember({"text", "json", "prometheus"}));
    stats->add_flag("--json", o.json, "The same as --format json")->excludes(stats_format);
    stats
        ->add_option("--output", o.output,
                     "Write to FILE instead of stdout, replacing it atomically (a temporary file beside it, then "
                     "rename): for prometheus-node-exporter's textfile collector")
        ->type_name("FILE");
    sub("clients",
        "One row per attached kvsvc: id, pid, remote address, attached since, commands, idle seconds, protocol "
        "(line, redis or memcache)",
        [&] { return a::clients(t, o.json); })
        ->add_flag("--json", o.json, "A JSON array instead of a table");
    auto* kick = sub("kick",
                     "Disconnect one client: a line-protocol client gets 'BYE <message>' (a Redis or memcached "
                     "client's replies in flight are written, then its connection closes) and its kvsvc exits; "
                     "answers once it has left, or resets it after 5 s if it does not read",
                     [&] { return a::kick(t, o.id, o.message); });
    kick->add_option("ID", o.id, "Client id, from 'kvstored clients'")->required();
    kick->add_option("--message", o.message, "What the client is told (default: disconnected by the administrator)");
    sub("get",
        "Print the value of KEY; on stderr, its memcached flags when not 0, and when it expires if it has a "
        "deadline",
        [&] { return a::get(t, o.key); })
        ->add_option("KEY", o.key, "The key")
        ->required();
    auto* set = sub("set", "Store VALUE under KEY (with no deadline, unless --ttl)",
                    [&] { return a::set(t, o.key, o.value, o.ttl_seconds); });
    set->add_option("KEY", o.key, "The key")->required();
    set->add_option("VALUE", o.value, "The value (may be empty)")->required();
    set->add_option("--ttl", o.ttl_seconds, "The entry expires this many seconds from now")
        ->check(CLI::Range(int64_t{1}, int64_t{3'153'600'000}));
    sub("ttl", "Print the seconds KEY has left before it expires (rounded up), or 'none'",
        [&] { return a::ttl(t, o.key); })
        ->add_option("KEY", o.key, "The key")
        ->required();
    sub("del", "Delete KEY", [&] { return a::del(t, o.key); })->add_option("KEY", o.key, "The key")->required();
    sub("keys",
        "List keys, sorted, optionally only those starting with PREFIX; only keys the line protocol can name "
        "(no space, ':' or control byte: 'dump' has every entry)",
        [&] { return a::keys(t, o.prefix); })
        ->add_option("PREFIX", o.prefix, "Key prefix");
    sub("dump", "Write every entry to stdout, one per line (lossless for any bytes)",
        [&] { return a::dump(t, format_of(o.format)); })
        ->add_option("--format", o.format,
                     "jsonl: a header line {\"kvstore_dump\":2}, then {\"key\":..,\"value\":..[,\"deadline\":"
                     "<unix ms>][,\"flags\":<memcached flags>]} (base64 under key_b64/value_b64 when not UTF-8); "
                     "tsv: a header line #kvstore-dump 2, then key<TAB>value<TAB>deadline (empty: none)"
                     "[<TAB>flags, when not 0] with backslash escapes")
        ->capture_default_str()
        ->check(CLI::IsMember({"jsonl", "tsv"}));
    auto* load = sub("load",
                     "Read entries from stdin (the format of dump; a file without a header line is a version-1 "
                     "dump, without deadlines) and save them all in one step: nothing changes if a line is "
                     "malformed or the entries do not fit the capacity; entries already past their deadline "
                     "are skipped and counted",
                     [&] { return a::load(t, format_of(o.format), o.replace); });
    load->add_flag("--replace", o.replace, "Delete every existing entry, in the same step");
    load->add_option("--format", o.format, "jsonl or tsv, as for dump")
        ->capture_default_str()
        ->check(CLI::IsMember({"jsonl", "tsv"}));
    sub("flush", "Delete every entry (needs --yes)", [&] {
        return a::flush(t, o.yes);
    })->add_flag("--yes", o.yes, "Yes, delete everything");
    auto* shutdown
        = sub("shutdown",
              "Stop kvstored gracefully: every line-protocol client gets 'BYE <message>' (Redis and memcached "
              "clients get their replies, then the connection closes); waits for it to exit",
              [&] { return a::shutdown(t, o.message, std::chrono::milliseconds(static_cast<long>(o.wait_s * 1000))); });
    shutdown->add_option("--message", o.message, "What clients are told (default: kvstored is shutting down)");
    shutdown->add_option("--timeout", o.wait_s, "Seconds to wait for kvstored to exit")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3600.0));
}

struct UsersOptions {
    std::string file;  // --users; "": the configured one, else kDefaultUsersFile
    kv::users_cli::PasswdOptions passwd;
};

// `kvstored users` and `kvstored passwd` (users_cli.h). Their --users
// defaults to run's (the configuration file's `users =`, applied to `run`'s
// options before the action runs), else /etc/kvstore/users.
void add_users_commands(CLI::App& app, UsersOptions& o, const RunOptions& run, const kv::admin::Target& target,
                        std::function<int()>& action)
{
    auto path = [&o, &run] {
        return !o.file.empty() ? o.file : !run.users_path.empty() ? run.users_path : kv::users_cli::kDefaultUsersFile;
    };
    const char* file_help = "The users file (default: users = in the configuration file's [run], else "
                            "/etc/kvstore/users)";
    CLI::App* users = app.add_subcommand(
        "users", "List the users of the users file: name, rights and key patterns (never the password hashes)");
    users->add_option("--users", o.file, file_help)->type_name("FILE");
    users->callback([&action, path] { action = [path] { return kv::users_cli::list(path()); }; });

    CLI::App* passwd = app.add_subcommand(
        "passwd",
        "Add USER to the users file or change its password (asked twice on the terminal, without echo; or one "
        "line of stdin when it is not a terminal; never an argument), or delete it; the file is replaced "
        "atomically, keeping its mode and owner, and a running kvstored that reads it is told to re-read it "
        "(SIGHUP)");
    passwd->add_option("--users", o.file, file_help)->type_name("FILE");
    passwd
        ->add_option("--rights", o.passwd.rights,
                     "What USER may do, comma-separated: read, write, admin-data (flush, and listing every key); "
                     "default for a new user read,write, an existing user keeps its rights")
        ->type_name("LIST");
    passwd
        ->add_option("--keys", o.passwd.keys,
                     "A glob of the keys USER may use (Redis's syntax: app1.* or app1:*); repeat it for several. "
                     "Default for a new user every key (*), an existing user keeps its patterns")
        ->type_name("PATTERN")
        ->take_all()
        ->allow_extra_args(false);
    passwd->add_flag("--delete", o.passwd.remove, "Delete USER instead");
    passwd->add_option("USER", o.passwd.user, "The user's name")->required();
    passwd->callback([&action, &o, &target, path] {
        action = [&o, &target, path] {
            o.passwd.path = path();
            return kv::users_cli::passwd(o.passwd, target);
        };
    });
}

// Throws UsageError when the database could not be created: its directory is
// missing (kvstored would fail at start, after the unit's restarts).
void check_db_directory(const kv::ServerConfig& c)
{
    if (!c.persist)
        return;
    std::filesystem::path dir = std::filesystem::path(c.persist->path).parent_path();
    if (dir.empty())
        dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw UsageError("db " + c.persist->path + ": directory " + dir.string() + " does not exist");
}

int check_config(const std::string& file, bool exists, RunOptions& o, const std::string& admin_socket)
{
    try {
        kv::ServerConfig c = server_config(o, admin_socket);
        check_db_directory(c);
        std::printf("%s: %s\n", file.c_str(), exists ? "OK" : "not found; the defaults apply");
        std::printf("  admin-socket  = %s\n  socket        = %s\n  capacity      = %zu\n  max-value     = %zu\n",
                    c.admin_socket_path.c_str(), c.socket_path.c_str(), c.capacity, c.max_value);
        std::printf("  when-full     = %s\n", o.when_full.c_str());
        std::printf("  backend       = %s\n", o.backend.c_str());
        if (c.etcd) {
            std::string endpoints;
            for (const std::string& e : c.etcd->endpoints)
                endpoints += (endpoints.empty() ? "" : ",") + e;
            std::printf("  etcd-endpoints = %s\n  etcd-prefix   = %s\n  etcd-timeout  = %lld\n"
                        "  etcd-check-interval = %lld\n",
                        endpoints.c_str(), c.etcd->prefix.c_str(), static_cast<long long>(c.etcd->timeout.count()),
                        static_cast<long long>(c.etcd->check_interval.count()));
        } else {
            std::printf("  db            = %s\n  sync          = %s\n",
                        c.persist ? c.persist->path.c_str() : "(memory)", o.sync.c_str());
        }
        // Only when set: without one there is no authentication, as before.
        if (c.users)
            std::printf("  users         = %s (%zu users)\n", c.users_path.c_str(), c.users->size());
        return kv::admin::kExitOk;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvstored check-config: %s: %s\n", file.c_str(), e.what());
        return kv::admin::kExitUsage;
    }
}

// The word taken for a subcommand that names none, or "". CLI11 keeps such a
// word among the unparsed arguments and then reports only that a subcommand
// is required ("A subcommand is required"), which hides the typo.
std::string unknown_subcommand(const CLI::App& app, const CLI::ParseError& e)
{
    if (dynamic_cast<const CLI::RequiredError*>(&e) == nullptr || !app.get_subcommands().empty())
        return "";
    for (const std::string& arg : app.remaining())
        if (!arg.starts_with('-'))
            return arg;
    return "";
}

// "kvstored: unknown subcommand 'stauts': did you mean status? ...", exit 2.
int refuse_subcommand(CLI::App& app, const std::string& word)
{
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        names.push_back(sub->get_name());
    std::string guess = kv::spelling::nearest(word, names);
    std::string hint = guess.empty() ? "" : ": did you mean " + guess + "?";
    std::fprintf(stderr, "kvstored: unknown subcommand '%s'%s ('kvstored --help' lists them)\n", word.c_str(),
                 hint.c_str());
    return kv::admin::kExitUsage;
}

// The keys the configuration file may hold: --admin-socket's at the top, the
// daemon's options (long names without the dashes) in [run].
kv::config_file::Known known_keys(const CLI::App& daemon_cmd)
{
    kv::config_file::Known known{{"", {"admin-socket"}}, {"run", {}}};
    for (const CLI::Option* opt : daemon_cmd.get_options())
        if (opt->get_name() != "--help" && !opt->get_lnames().empty())
            known["run"].push_back(opt->get_lnames().front());
    return known;
}

// Why CLI11 refused `value` for `opt`, without the flag's name: the problem
// is in the file, whose key the caller names.
std::string refusal(const CLI::Option& opt, const CLI::ParseError& e)
{
    std::string why = e.what();
    std::string prefix = opt.get_name() + ": ";
    if (why.starts_with(prefix))
        why.erase(0, prefix.size());
    if (why.find(opt.get_name()) != std::string::npos)
        why = "not a valid value";
    return why;
}

// Gives one file entry to its option (in `app`'s top level or, for [run], in
// `daemon_cmd`) unless the command line set it; "" or why it is refused.
std::string apply_entry(const kv::config_file::Entry& e, CLI::App& app, CLI::App& daemon_cmd,
                        std::set<CLI::Option*>& from_file)
{
    CLI::Option* opt = (e.section.empty() ? app : daemon_cmd).get_option_no_throw("--" + e.key);
    if (opt->count() > 0 && !from_file.contains(opt))
        return "";  // the command line wins
    opt->clear();  // a later line for the same key wins
    from_file.insert(opt);
    try {
        opt->add_result(opt->get_expected_min() == 0 ? opt->get_flag_value(e.key, e.value) : e.value);
        opt->run_callback();
        return "";
    } catch (const CLI::ParseError& err) {
        opt->clear();
        return e.key + " = " + e.value + ": " + refusal(*opt, err);
    }
}

// What reading the configuration file found.
struct ConfigLoad {
    bool exists = false;  // false: the defaults apply
    bool fatal = false;  // a named file is missing: every subcommand refuses
    std::vector<std::string> problems;  // "FILE:LINE: ...": run and check-config refuse
};

// Reads `path`, checks every line and applies the good ones to the options
// the command line left unset. A missing file is fine unless `named` (given
// with --config).
ConfigLoad load_config(const std::string& path, bool named, CLI::App& app, CLI::App& daemon_cmd)
{
    namespace cf = kv::config_file;
    ConfigLoad out;
    std::string text, error;
    bool missing = false;
    if (!cf::read(path, text, error, missing)) {
        if (!missing || named)
            out.problems.push_back(path + ": " + error);
        out.fatal = missing;
        return out;
    }
    out.exists = true;
    cf::Parsed parsed = cf::parse(text);
    std::vector<cf::Problem> problems = parsed.problems;
    std::vector<cf::Problem> unknown = cf::check_keys(parsed.entries, known_keys(daemon_cmd));
    std::set<int> bad_lines;
    for (const cf::Problem& p : unknown)
        bad_lines.insert(p.line);
    problems.insert(problems.end(), unknown.begin(), unknown.end());
    std::set<CLI::Option*> from_file;
    for (const cf::Entry& e : parsed.entries)
        if (!bad_lines.contains(e.line))
            if (std::string why = apply_entry(e, app, daemon_cmd, from_file); !why.empty())
                problems.push_back({e.line, why});
    std::sort(problems.begin(), problems.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
    for (const cf::Problem& p : problems)
        out.problems.push_back(cf::describe(path, p));
    return out;
}

}  // namespace

int main(int argc, char** argv)
{
    // kvstored's own password checkers, which it starts (password_checker.h).
    if (argc == 2 && std::strcmp(argv[1], kv::password_checker::kArg) == 0)
        return kv::password_checker::serve(argv[0]);
    CLI::App app{"kvstored: the kvstore daemon (kvstored run) and its admin tool", "kvstored"};
    app.set_version_flag("--version", "kvstored " KVSTORE_VERSION);
    // Not CLI11's set_config(): load_config() reads the file once the
    // subcommand is known (a bad file stops run and check-config only).
    std::string config_path = kDefaultConfig;
    CLI::Option* config_opt
        = app.add_option("--config", config_path, "Configuration file (INI; see below)")->capture_default_str();
    std::string admin_socket = kDefaultAdminSocket;
    CLI::Option* admin_opt
        = app.add_option("--admin-socket", admin_socket,
                         "Admin socket: where 'run' listens (default for run: admin.sock beside --socket), where the "
                         "other subcommands connect")
              ->capture_default_str();
    // Global options may also follow the subcommand: `kvstored status --admin-socket X`.
    app.fallthrough();
    app.require_subcommand(1);
    app.footer(kFooter);

    RunOptions run, checked;
    AdminOptions admin;
    std::function<int()> action;
    CLI::App* run_cmd = add_run_command(app, run);
    add_admin_commands(app, admin, action);
    UsersOptions users;
    add_users_commands(app, users, run, admin.target, action);
    CLI::App* check_cmd = app.add_subcommand(
        "check-config",
        "Check the configuration file and print the settings in effect, without starting; takes run's options, "
        "which override the file as they do for run (exit 2 when the file or the options are bad)");
    check_cmd->footer("To see what the packaged service runs with, give the flags of its ExecStart line:\n"
                      "    kvstored check-config --socket /run/kvstored/kvstored.sock \\\n"
                      "        --db /var/lib/kvstore/store.db --service-group kvsvc --admin-group kvstore-admin");
    add_run_options(check_cmd, checked);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (std::string word = unknown_subcommand(app, e); !word.empty())
            return refuse_subcommand(app, word);
        return app.exit(e) == 0 ? kv::admin::kExitOk : kv::admin::kExitUsage;
    }
    bool checking = app.got_subcommand(check_cmd);
    bool daemon_side = app.got_subcommand(run_cmd) || checking;
    RunOptions& daemon_opts = checking ? checked : run;
    std::string who = "kvstored " + (app.get_subcommands().empty() ? "" : app.get_subcommands().front()->get_name());
    ConfigLoad config = load_config(config_path, config_opt->count() > 0, app, checking ? *check_cmd : *run_cmd);
    for (const std::string& p : config.problems)
        std::fprintf(stderr, "%s: %s%s\n", who.c_str(), daemon_side || config.fatal ? "" : "warning: ", p.c_str());
    if (!config.problems.empty() && (daemon_side || config.fatal))
        return kv::admin::kExitUsage;
    // For the daemon both sockets live together unless told otherwise, so that a
    // kvstored on a private --socket never collides with the system one's.
    if (daemon_side && admin_opt->count() == 0)
        admin_socket = std::filesystem::path(daemon_opts.server.socket_path).replace_filename("admin.sock").string();
    if (checking)
        return check_config(config_path, config.exists, checked, admin_socket);
    admin.target.admin_socket = admin_socket;
    if (app.got_subcommand("run")) {
        kv::log::set_min_level(parse_level(run.log_level));
        try {
            return kv::run_daemon(server_config(run, admin_socket));
        } catch (const UsageError& e) {
            std::fprintf(stderr, "kvstored run: %s\n", e.what());
            return kv::admin::kExitUsage;
        } catch (const std::exception& e) {
            LOG_ERR("%s", e.what());
            return 1;
        }
    }
    return action ? action() : kv::admin::kExitUsage;
}
