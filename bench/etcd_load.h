// etcd_load.h: what etcd_put (etcd's JSON gateway) and etcd_grpc_put (etcd's
// gRPC API) share, so both put the same keys with the same options and print
// the same report: the options and their parser, the key generator, the
// counters and the report (kvbench's text report or JSON line).
//
// The load (bench/README.md, T10): C concurrent writers, each with one request
// in flight; a request is one put, or with --batch N a transaction of N puts
// of distinct keys; keys drawn uniformly from --keys by a seeded splitmix64
// ("key." + zero-padded number under --prefix, as kvbench's); values of
// --value-size letters; --watchers W watch streams on --prefix reading every
// event, as W kvstored hosts' copies do.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvbench/histogram.h"

namespace etcdload {

using Clock = std::chrono::steady_clock;

struct Options {
    std::vector<std::string> endpoints;  // http://LOOPBACK:PORT, no trailing slash
    bool to_leader = false;
    unsigned connections = 64;  // concurrent writers, one request in flight each
    double duration = 10;
    double warmup = 0;
    uint64_t requests = 0;  // 0: run for `duration`
    uint32_t keys = 10000;
    unsigned key_size = 16;
    unsigned value_size = 32;
    std::string prefix = "/etcd_put/";
    double timeout = 10;
    uint64_t seed = 1;
    unsigned batch = 1;  // puts per request; more than 1: a txn
    unsigned watchers = 0;
    bool json = false;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A tool's own option taking a value: returns false when `opt` is not one of
// its own; throws UsageError for a bad value.
using ExtraOption = std::function<bool(const std::string& opt, const char* value)>;

// Parses the shared options (-h/--help prints `usage` and exits 0); throws
// UsageError naming the option.
Options parse(int argc, char** argv, const char* usage, const ExtraOption& extra = nullptr);

// Parses a whole number from lo to hi for `opt`, or throws UsageError.
uint64_t whole(const std::string& opt, const char* text, uint64_t lo, uint64_t hi);

// The uniform key stream and the value, the same for both tools and seeds.
class Keys {
public:
    explicit Keys(const Options& o);
    uint32_t next();  // splitmix64, uniform over 0..keys-1
    std::string text(uint32_t k) const;  // prefix + "key." + zero-padded k
    // n distinct keys (etcd refuses one key twice in a txn).
    std::vector<uint32_t> distinct(unsigned n);
    const std::string& value() const { return value_; }

private:
    const Options& o_;
    uint64_t rng_;
    std::string value_;
};

struct Stats {
    kvbench::Histogram latency;
    uint64_t ok = 0;  // puts acknowledged (a txn counts its puts)
    uint64_t error_replies = 0;  // an answer from etcd that is an error
    uint64_t connection_errors = 0;  // no answer (refused, reset, timed out)
    uint64_t watch_events = 0;  // events the watchers read in the measured time
    std::string first_error;
    uint64_t answered() const { return ok + error_replies; }
    uint64_t errors() const { return error_replies + connection_errors; }
    void note(const std::string& what)
    {
        if (first_error.empty())
            first_error = what;
    }
};

Clock::duration to_duration(double seconds);
std::string join(const std::vector<std::string>& v);

// What a report names: the tool ("etcd_put"), its protocol ("etcd",
// "etcd-grpc") and what one request is ("POST /v3/kv/put").
struct ReportHeader {
    const char* tool;
    const char* protocol;
    std::string request;
    bool counts_watch_events = false;  // Stats::watch_events is a count (else left out)
};

// Prints kvbench's report, or with o.json its JSON line (kvbench's fields and
// order, bench/kvbench/report.cc, plus to, endpoints, batch, watchers and,
// where counted, watch_events), to stdout.
void report(const ReportHeader& h, const Options& o, const std::string& to, const std::vector<std::string>& targets,
            const Stats& s, double seconds, const char* ending);

}  // namespace etcdload
