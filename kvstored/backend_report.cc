// backend_report.cc: see backend_report.h.
#include "backend_report.h"

#include <cmath>

namespace kv {
namespace {

// The reason as one line of printable ASCII: it comes from an etcd error
// body or a SQLite message, and a line break would end a stats line early.
std::string one_line(const std::string& why)
{
    if (why.empty())
        return "-";
    std::string out;
    for (char ch : why.substr(0, kMaxWhyBytes)) {
        unsigned char u = static_cast<unsigned char>(ch);
        out += u < 0x20 || u >= 0x7f ? '?' : ch;
    }
    return out;
}

}  // namespace

BackendRows backend_rows(const BackendStatus& s)
{
    auto num = [](auto n) { return std::to_string(n); };
    BackendRows rows = {
        {"backend", s.backend},
        {"read_only", s.read_only_why.empty() ? "0" : "1"},
        {"read_only_why", one_line(s.read_only_why)},
    };
    if (s.backend != "etcd")
        return rows;
    rows.insert(rows.end(),
                {
                    {"etcd_endpoint", s.endpoint.empty() ? "-" : one_line(s.endpoint)},
                    {"etcd_revision", num(s.revision)},
                    {"etcd_expiry_leader", s.expiry_leader ? "1" : "0"},
                    {"etcd_txns", num(s.txns)},
                    {"etcd_conflicts", num(s.conflicts)},
                    {"etcd_retries", num(s.retries)},
                    {"etcd_reloads", num(s.reloads)},
                    {"etcd_watch_restarts", num(s.watch_restarts)},
                    {"etcd_last_reload_ms", num(std::llround(s.last_reload_seconds * 1000))},
                    {"etcd_last_reload_entries", num(s.last_reload_entries)},
                });
    return rows;
}

}  // namespace kv
