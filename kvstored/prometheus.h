// prometheus.h: `kvstored stats --format prometheus`, the rows of the
// `stats` reply (docs/protocol.md, "stats") in the Prometheus text exposition
// format, version 0.0.4 (what prometheus-node-exporter's textfile collector
// reads). The names and labels are listed in docs/operations.md, "Metrics".
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kv::prometheus {

// "<name> <value>" rows, in the order `stats` sends them.
using Rows = std::vector<std::pair<std::string, std::string>>;

// The exposition of `rows`: a HELP and a TYPE line for each metric family,
// then its samples. Counters end in _total and carry labels (door, op,
// result, ...) where `stats` has one row per kind; levels are gauges; the
// text rows (version, persistence, backend, when_full) are the labels of
// kvstore_info. A numeric row the table in prometheus.cc does not name comes
// out as the untyped kvstore_<row>, so a counter added to `stats` is never
// lost, and the test that runs promtool on a real kvstored fails on the word
// "untyped" until the table names it. The rows latency_<door>_<op>
// (latency.h) become the histogram kvstore_command_duration_seconds{door,op}.
std::string exposition(const Rows& rows);

}  // namespace kv::prometheus
