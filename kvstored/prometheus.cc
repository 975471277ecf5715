// prometheus.cc: see prometheus.h. Two tables: the metric families (name,
// type, help) in the order they are printed, and the stats rows that feed
// them (row, family, labels). A family's samples are printed together, as the
// format requires, whatever the order of the rows.
#include "prometheus.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string_view>
#include <vector>

#include "latency.h"

namespace kv::prometheus {
namespace {

struct Family {
    const char* name;
    const char* type;  // "gauge", "counter" or "histogram"
    const char* help;
};

// Every family, in the order printed. Counters count since kvstored started
// (a restart resets them, which Prometheus's rate() handles).
constexpr Family kFamilies[] = {
    {"kvstore_info", "gauge", "Always 1; the labels say kvstored's version, persistence, backend and when_full."},
    {"kvstore_uptime_seconds", "gauge", "Seconds since kvstored started."},
    {"kvstore_entries", "gauge", "Entries in the store (none past its deadline)."},
    {"kvstore_capacity", "gauge", "The most entries the store holds (--capacity)."},
    {"kvstore_clients", "gauge", "Clients attached now, through every door."},
    {"kvstore_storage_failed", "gauge", "1 while database commits fail and writes are refused, else 0."},
    {"kvstore_read_only", "gauge", "1 while writes are refused (the database fails, or etcd cannot commit), else 0."},
    {"kvstore_last_commit_timestamp_seconds", "gauge", "Unix time of the last database commit (0: none yet)."},
    {"kvstore_connections_total", "counter", "Client sessions attached, by door (line, redis, memcache)."},
    {"kvstore_commands_total", "counter", "Requests executed, every door's."},
    {"kvstore_operations_total", "counter",
     "Data commands by kind, every door's (a Redis GET counts as read, a memcached set as save, ...)."},
    {"kvstore_lookups_total", "counter", "read, gets, take and exists (and the doors' reads) by result: hit or miss."},
    {"kvstore_cas_changed_total", "counter", "cas refused because the entry's version had moved on."},
    {"kvstore_full_rejections_total", "counter", "Writes of a new key refused because the store was full."},
    {"kvstore_expired_entries_total", "counter", "Entries removed because their deadline passed."},
    {"kvstore_evictions_total", "counter", "Live entries removed to make room (--when-full evict)."},
    {"kvstore_protocol_errors_total", "counter", "Peers dropped for sending malformed frames."},
    {"kvstore_commits_total", "counter", "Database transactions committed."},
    {"kvstore_storage_refusals_total", "counter", "Writes refused because the database was failing."},
    {"kvstore_redis_error_replies_total", "counter", "Error replies sent by the Redis door."},
    {"kvstore_redis_exec_aborts_total", "counter", "Redis EXECs that ran nothing (a watched key changed, EXECABORT)."},
    {"kvstore_memcache_commands_total", "counter",
     "memcached door requests by kind: get (keys asked for), set, flush, touch, meta."},
    {"kvstore_memcache_results_total", "counter",
     "memcached door get, delete, incr, decr, cas and touch by result (as memcached's stats; stats reset zeroes "
     "them)."},
    {"kvstore_memcache_store_refusals_total", "counter",
     "memcached door writes refused: too_large (over --max-value) or no_memory (the store is full)."},
    {"kvstore_memcache_items_stored_total", "counter", "Values stored through the memcached door (STORED replies)."},
    {"kvstore_etcd_revision", "gauge", "The etcd revision this host's copy has applied."},
    {"kvstore_etcd_expiry_leader", "gauge", "1 when this host deletes the expired keys in etcd, else 0."},
    {"kvstore_etcd_last_reload_seconds", "gauge", "How long the last full reload of the copy from etcd took."},
    {"kvstore_etcd_last_reload_entries", "gauge", "Entries loaded by the last full reload from etcd."},
    {"kvstore_etcd_txns_total", "counter", "etcd transactions committed (each may carry many clients' writes)."},
    {"kvstore_etcd_conflicts_total", "counter", "etcd transactions refused because this host's copy was behind."},
    {"kvstore_etcd_retries_total", "counter", "Commands run again after an etcd conflict."},
    {"kvstore_etcd_reloads_total", "counter", "Full reloads of the copy from etcd."},
    {"kvstore_etcd_watch_restarts_total", "counter", "Times the etcd watch was restarted."},
    {"kvstore_command_duration_seconds", "histogram",
     "Time kvstored's event loop spent running one client command, from the parsed request to its reply built "
     "(not the network, nor the wait for a commit), by door and command."},
};

// The stats rows latency_<door>_<op> (kvstored/latency.h) feed it.
constexpr std::string_view kLatencyRow = "latency_";
constexpr const char* kLatencyFamily = "kvstore_command_duration_seconds";

struct Source {
    const char* row;  // the stats row
    const char* family;  // nullptr: printed elsewhere (a label of kvstore_info, or a sum of other samples)
    const char* labels = "";  // e.g. op="save"
    double scale = 1;  // the row's unit to the family's base unit (ms to s: 0.001)
};

constexpr Source kSources[] = {
    // Text rows: labels of kvstore_info (info_sample). The reason for being
    // read only and the etcd endpoint are words that change: left out.
    {"version", nullptr},
    {"when_full", nullptr},
    {"persistence", nullptr},
    {"backend", nullptr},
    {"read_only_why", nullptr},
    {"etcd_endpoint", nullptr},
    // The sum of the three door samples of kvstore_connections_total.
    {"connections_total", nullptr},
    {"uptime_seconds", "kvstore_uptime_seconds"},
    {"entries", "kvstore_entries"},
    {"capacity", "kvstore_capacity"},
    {"connections_current", "kvstore_clients"},
    {"storage_failed", "kvstore_storage_failed"},
    {"read_only", "kvstore_read_only"},
    {"last_commit_unix", "kvstore_last_commit_timestamp_seconds"},
    {"line_connections_total", "kvstore_connections_total", R"(door="line")"},
    {"redis_connections_total", "kvstore_connections_total", R"(door="redis")"},
    {"memcache_connections_total", "kvstore_connections_total", R"(door="memcache")"},
    {"commands_total", "kvstore_commands_total"},
    {"saves", "kvstore_operations_total", R"(op="save")"},
    {"reads", "kvstore_operations_total", R"(op="read")"},
    {"deletes", "kvstore_operations_total", R"(op="delete")"},
    {"adds", "kvstore_operations_total", R"(op="add")"},
    {"replaces", "kvstore_operations_total", R"(op="replace")"},
    {"gets", "kvstore_operations_total", R"(op="gets")"},
    {"cas", "kvstore_operations_total", R"(op="cas")"},
    {"incrs", "kvstore_operations_total", R"(op="incr")"},
    {"decrs", "kvstore_operations_total", R"(op="decr")"},
    {"appends", "kvstore_operations_total", R"(op="append")"},
    {"takes", "kvstore_operations_total", R"(op="take")"},
    {"expires", "kvstore_operations_total", R"(op="expire")"},
    {"persists", "kvstore_operations_total", R"(op="persist")"},
    {"ttls", "kvstore_operations_total", R"(op="ttl")"},
    {"hits", "kvstore_lookups_total", R"(result="hit")"},
    {"misses", "kvstore_lookups_total", R"(result="miss")"},
    {"cas_changed", "kvstore_cas_changed_total"},
    {"full_rejections", "kvstore_full_rejections_total"},
    {"expired_entries", "kvstore_expired_entries_total"},
    {"evictions", "kvstore_evictions_total"},
    {"protocol_errors", "kvstore_protocol_errors_total"},
    {"commits", "kvstore_commits_total"},
    {"storage_refusals", "kvstore_storage_refusals_total"},
    {"redis_error_replies", "kvstore_redis_error_replies_total"},
    {"redis_exec_aborts", "kvstore_redis_exec_aborts_total"},
    {"memcache_cmd_get", "kvstore_memcache_commands_total", R"(cmd="get")"},
    {"memcache_cmd_set", "kvstore_memcache_commands_total", R"(cmd="set")"},
    {"memcache_cmd_flush", "kvstore_memcache_commands_total", R"(cmd="flush")"},
    {"memcache_cmd_touch", "kvstore_memcache_commands_total", R"(cmd="touch")"},
    {"memcache_cmd_meta", "kvstore_memcache_commands_total", R"(cmd="meta")"},
    {"memcache_get_hits", "kvstore_memcache_results_total", R"(op="get",result="hit")"},
    {"memcache_get_misses", "kvstore_memcache_results_total", R"(op="get",result="miss")"},
    {"memcache_delete_hits", "kvstore_memcache_results_total", R"(op="delete",result="hit")"},
    {"memcache_delete_misses", "kvstore_memcache_results_total", R"(op="delete",result="miss")"},
    {"memcache_incr_hits", "kvstore_memcache_results_total", R"(op="incr",result="hit")"},
    {"memcache_incr_misses", "kvstore_memcache_results_total", R"(op="incr",result="miss")"},
    {"memcache_decr_hits", "kvstore_memcache_results_total", R"(op="decr",result="hit")"},
    {"memcache_decr_misses", "kvstore_memcache_results_total", R"(op="decr",result="miss")"},
    {"memcache_cas_hits", "kvstore_memcache_results_total", R"(op="cas",result="hit")"},
    {"memcache_cas_misses", "kvstore_memcache_results_total", R"(op="cas",result="miss")"},
    {"memcache_cas_badval", "kvstore_memcache_results_total", R"(op="cas",result="badval")"},
    {"memcache_touch_hits", "kvstore_memcache_results_total", R"(op="touch",result="hit")"},
    {"memcache_touch_misses", "kvstore_memcache_results_total", R"(op="touch",result="miss")"},
    {"memcache_store_too_large", "kvstore_memcache_store_refusals_total", R"(reason="too_large")"},
    {"memcache_store_no_memory", "kvstore_memcache_store_refusals_total", R"(reason="no_memory")"},
    {"memcache_total_items", "kvstore_memcache_items_stored_total"},
    {"etcd_revision", "kvstore_etcd_revision"},
    {"etcd_expiry_leader", "kvstore_etcd_expiry_leader"},
    {"etcd_last_reload_ms", "kvstore_etcd_last_reload_seconds", "", 0.001},
    {"etcd_last_reload_entries", "kvstore_etcd_last_reload_entries"},
    {"etcd_txns", "kvstore_etcd_txns_total"},
    {"etcd_conflicts", "kvstore_etcd_conflicts_total"},
    {"etcd_retries", "kvstore_etcd_retries_total"},
    {"etcd_reloads", "kvstore_etcd_reloads_total"},
    {"etcd_watch_restarts", "kvstore_etcd_watch_restarts_total"},
};

const Source* source_of(std::string_view row)
{
    for (const Source& s : kSources)
        if (row == s.row)
            return &s;
    return nullptr;
}

bool is_number(const std::string& s)
{
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// A label value: backslash, double quote and line feed escaped, as the
// format requires.
std::string escape_label(const std::string& v)
{
    std::string out;
    for (char ch : v) {
        if (ch == '\\' || ch == '"')
            out += '\\';
        if (ch == '\n') {
            out += "\\n";
            continue;
        }
        out += ch;
    }
    return out;
}

std::string sample(const std::string& family, const std::string& labels, const std::string& value)
{
    return family + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
}

std::string scaled(const std::string& value, double scale)
{
    if (scale == 1)
        return value;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", std::stod(value) * scale);
    return buf;
}

std::string info_sample(const Rows& rows)
{
    std::string labels;
    for (const char* name : {"version", "persistence", "backend", "when_full"})
        for (const auto& [row, value] : rows)
            if (row == name)
                labels += std::string(labels.empty() ? "" : ",") + name + "=\"" + escape_label(value) + "\"";
    return sample("kvstore_info", labels, "1");
}

// The samples of a latency_<door>_<op> row: its buckets (le, cumulative),
// the +Inf bucket, _sum in seconds and _count. "" for a row that is not
// "<count>,<sum_ns>,<one count per bound>" with cumulative counts, so a
// malformed row never makes a malformed exposition.
std::string histogram_samples(std::string_view row, const std::string& value)
{
    std::string_view door_op = row.substr(kLatencyRow.size());
    size_t bar = door_op.find('_');
    if (bar == std::string_view::npos || bar == 0 || bar + 1 == door_op.size())
        return "";
    std::vector<uint64_t> n;
    for (size_t at = 0; at <= value.size();) {
        size_t comma = std::min(value.find(',', at), value.size());
        std::string field = value.substr(at, comma - at);
        if (!is_number(field) || field.size() > 19)
            return "";
        n.push_back(std::stoull(field));
        at = comma + 1;
    }
    if (n.size() != 2 + kLatencyBoundsText.size())
        return "";
    for (size_t i = 3; i < n.size(); ++i)
        if (n[i] < n[i - 1])
            return "";
    if (n.back() > n[0])
        return "";
    std::string labels = "door=\"" + escape_label(std::string(door_op.substr(0, bar))) + "\",op=\""
        + escape_label(std::string(door_op.substr(bar + 1))) + "\"";
    std::string out;
    std::string bucket = std::string(kLatencyFamily) + "_bucket";
    for (size_t i = 0; i < kLatencyBoundsText.size(); ++i)
        out += sample(bucket, labels + ",le=\"" + std::string(kLatencyBoundsText[i]) + "\"", std::to_string(n[2 + i]));
    out += sample(bucket, labels + ",le=\"+Inf\"", std::to_string(n[0]));
    char sum[64];
    std::snprintf(sum, sizeof sum, "%llu.%09llu", static_cast<unsigned long long>(n[1] / 1'000'000'000u),
                  static_cast<unsigned long long>(n[1] % 1'000'000'000u));
    out += sample(std::string(kLatencyFamily) + "_sum", labels, sum);
    out += sample(std::string(kLatencyFamily) + "_count", labels, std::to_string(n[0]));
    return out;
}

void put_family(std::string& out, const std::string& name, const char* type, const std::string& help,
                const std::string& samples)
{
    out += "# HELP " + name + " " + help + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    out += samples;
}

}  // namespace

std::string exposition(const Rows& rows)
{
    std::map<std::string, std::string, std::less<>> samples;  // family: its sample lines
    samples["kvstore_info"] = info_sample(rows);
    std::string untyped;
    for (const auto& [row, value] : rows) {
        if (row.rfind(kLatencyRow, 0) == 0) {
            if (std::string h = histogram_samples(row, value); !h.empty())
                samples[kLatencyFamily] += h;
            continue;
        }
        const Source* s = source_of(row);
        if (s && s->family && is_number(value))
            samples[s->family] += sample(s->family, s->labels, scaled(value, s->scale));
        else if (!s && is_number(value))
            put_family(untyped, "kvstore_" + row, "untyped",
                       "The stats row " + row + " (docs/protocol.md); no Prometheus name yet.",
                       sample("kvstore_" + row, "", value));
    }
    std::string out;
    for (const Family& f : kFamilies)
        if (auto it = samples.find(f.name); it != samples.end())
            put_family(out, f.name, f.type, f.help, it->second);
    return out + untyped;
}

}  // namespace kv::prometheus
