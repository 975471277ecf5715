// backend_report.h: Database::backend_status() as "name value" rows, so that
// the line protocol's `stats`, the admin `status`, Redis's INFO and
// memcached's `stats` use the same names (the doors prefix them with
// `kvstore_`). docs/protocol.md lists them; docs/scale-out.md explains them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "database.h"

namespace kv {

using BackendRows = std::vector<std::pair<std::string, std::string>>;

// Always: backend (memory, sqlite or etcd), read_only (0 or 1) and
// read_only_why ("-" while writes are accepted, else why not: words,
// printable ASCII, at most kMaxWhyBytes). With etcd also etcd_endpoint,
// etcd_revision, etcd_expiry_leader (0 or 1), etcd_txns, etcd_conflicts,
// etcd_retries, etcd_reloads, etcd_watch_restarts, etcd_last_reload_ms and
// etcd_last_reload_entries. A value is never empty and never holds a line
// break, so every door can print it on one line.
BackendRows backend_rows(const BackendStatus& status);

inline constexpr size_t kMaxWhyBytes = 300;

}  // namespace kv
