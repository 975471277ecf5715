// admin_cli.h: the admin subcommands of kvstored (status, stats, clients,
// kick, get, set, del, keys, dump, load, flush, shutdown), the client side of
// the admin socket. Each returns the process exit status.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "dump_format.h"

namespace kv::admin {

// Exit statuses, documented in `kvstored --help` and docs/operations.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // also: not found (get, del, kick)
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;  // LSB: program is not running

struct Target {
    std::string admin_socket;
    std::chrono::milliseconds timeout{10000};  // for each reply
};

// `json`: one JSON object of the status rows (numbers as numbers) instead
// of the aligned text; "not running" is the same either way.
int status(const Target& t, bool json = false);
// How `kvstored stats` prints the counters: "name value" lines, one JSON
// object, or the Prometheus text format (prometheus.h).
enum class StatsFormat { Text, Json, Prometheus };
// output: "" for stdout, else the file to replace, atomically (a temporary
// file beside it, then rename(2)): a reader such as node-exporter's textfile
// collector sees the old file or the new one, never half of one.
int stats(const Target& t, StatsFormat format, const std::string& output = "");
int clients(const Target& t, bool json);
int kick(const Target& t, const std::string& id, const std::string& message);
// Prints the value of KEY on stdout and, when it has a deadline, when it
// expires on stderr.
int get(const Target& t, const std::string& key);
// ttl_seconds: the entry expires that many seconds from now (none: no deadline).
int set(const Target& t, const std::string& key, const std::string& value, std::optional<int64_t> ttl_seconds);
// Prints the seconds KEY has left, rounded up, or "none".
int ttl(const Target& t, const std::string& key);
int del(const Target& t, const std::string& key);
int keys(const Target& t, const std::string& prefix);
int dump(const Target& t, dump::Format format);
int load(const Target& t, dump::Format format, bool replace);
int flush(const Target& t, bool yes);
int shutdown(const Target& t, const std::string& message, std::chrono::milliseconds wait);

// The rows of `kvstored status` (name -> value) from the kvstored at `t`, for
// other subcommands (`kvstored passwd` finds the pid to signal). Returns
// kExitOk with `rows` filled, kExitNotRunning, or kExitError; `error` says
// why when not kExitOk.
int status_rows(const Target& t, std::map<std::string, std::string>& rows, std::string& error);

}  // namespace kv::admin
