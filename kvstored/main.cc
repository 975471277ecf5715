// main.cc: kvstored's command line. `kvstored run` is the daemon; further
// subcommands administer a running daemon.
#include <CLI/CLI.hpp>

#include "command.h"
#include "daemon.h"
#include "log.h"
#include "version.h"

namespace {

constexpr const char* kDefaultSocket = "/run/kvstored/kvstored.sock";

struct PersistOptions {
    std::string db_path;
    bool memory = false;
    std::string sync = "batch";
    double interval_s = 1.0;
};

void add_persistence_options(CLI::App& run, PersistOptions& o)
{
    auto* db = run.add_option("--db", o.db_path,
                              "SQLite database to persist the store to (WAL mode); loaded into memory at start. "
                              "Without --db the store lives in memory only");
    run.add_flag("--memory", o.memory, "Keep the store in memory only (the default without --db)")->excludes(db);
    run.add_option("--sync", o.sync,
                   "When a write is acknowledged: 'always' after its transaction is fsync'd (group commit); "
                   "'batch' at once, committed within --sync-interval; 'off' at once, committed when the "
                   "queue grows and at shutdown, without fsync (docs/persistence.md)")
        ->default_val("batch")
        ->check(CLI::IsMember({"always", "batch", "off"}));
    run.add_option("--sync-interval", o.interval_s, "Seconds between commits in --sync batch mode")
        ->default_val(1.0)
        ->check(CLI::Range(0.001, 3600.0));
}

std::optional<kv::PersistConfig> persist_config(const PersistOptions& o)
{
    if (o.db_path.empty())
        return std::nullopt;
    kv::PersistConfig c;
    c.path = o.db_path;
    c.mode = o.sync == "always" ? kv::SyncMode::Always : o.sync == "off" ? kv::SyncMode::Off : kv::SyncMode::Batch;
    c.interval = std::chrono::milliseconds(static_cast<long>(o.interval_s * 1000));
    return c;
}

void add_run_command(CLI::App& app, kv::ServerConfig& config, PersistOptions& persist, std::string& log_level)
{
    CLI::App* run = app.add_subcommand("run", "Run the daemon in the foreground (as systemd does)");
    run->description("Run the daemon in the foreground. It serves kvsvc processes on a Unix-domain socket,\n"
                     "holds a capped in-memory store, logs to stderr (the journal under systemd) and shuts\n"
                     "down gracefully on SIGTERM or SIGINT: every attached kvsvc is told first, so each\n"
                     "client sees 'BYE kvstored is shutting down'. Exit status: 0 after a clean shutdown,\n"
                     "1 when it cannot start (the log line says which operation failed and why).");
    run->add_option("--socket", config.socket_path, "Unix socket that kvsvc connects to")->default_val(kDefaultSocket);
    run->add_option("--capacity", config.capacity,
                    "Most entries the store holds; saving a new key beyond it is refused with ERR full")
        ->default_val(10000)
        ->check(CLI::Range(size_t{1}, size_t{1} << 32));
    run->add_option("--max-value", config.max_value, "Largest value in bytes a client may save")
        ->default_val(kv::kDefaultMaxValueBytes)
        ->check(CLI::Range(size_t{1}, size_t{kv::wire::kMaxPayload} - kv::kLineOverhead));
    run->add_option_function<double>(
           "--shutdown-timeout",
           [&config](double s) { config.shutdown_timeout = std::chrono::milliseconds(static_cast<long>(s * 1000)); },
           "Seconds to wait for kvsvc processes to hang up after the shutdown notice")
        ->default_val(5)
        ->check(CLI::Range(0.0, 600.0));
    add_persistence_options(*run, persist);
    run->add_option("--log-level", log_level, "Least severe messages logged")
        ->default_val("info")
        ->check(CLI::IsMember({"error", "warning", "info", "debug"}));
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

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"kvstored: the kvstore daemon and its admin tool", "kvstored"};
    app.set_version_flag("--version", "kvstored " KVSTORE_VERSION);
    app.require_subcommand(1);
    app.footer("Run 'kvstored SUBCOMMAND --help' for the options of one subcommand.\n"
               "Exit status: 0 success, 1 error, 2 bad usage.");

    kv::ServerConfig config;
    PersistOptions persist;
    std::string log_level;
    add_run_command(app, config, persist, log_level);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (app.got_subcommand("run")) {
        kv::log::set_min_level(parse_level(log_level));
        config.persist = persist_config(persist);
        return kv::run_daemon(config);
    }
    return 2;
}
