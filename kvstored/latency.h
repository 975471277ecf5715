// latency.h: how long kvstored's event loop spends running one command, per
// door and command, as fixed-bucket histograms (Prometheus's histogram
// buckets). Kept in Stats; `stats` shows each (door, command) that ran as a
// row latency_<door>_<op> (docs/protocol.md), and
// `kvstored stats --format prometheus` as kvstore_command_duration_seconds.
//
// What is timed: from the parsed request to its reply built, on the event
// loop. Not in it: the network, kvsvc's relay, parsing, and the wait for a
// database or etcd commit before the reply may go out (held_replies.h,
// awaited_command.h). A command run again after an etcd conflict counts once,
// as in every other counter (run_uncounted).
//
// Cost: two reads of CLOCK_MONOTONIC (vDSO, about 25 ns each) and a few
// adds per command; no allocation. Every array is fixed: kDoors x kMaxOps
// slots, indexed by the door's own command index.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kv {

// The buckets' upper bounds (inclusive, Prometheus's "le"), in ns and as the
// le label prints them in seconds; above the last is the +Inf bucket.
inline constexpr std::array<uint64_t, 11> kLatencyBoundsNs
    = {5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000, 100'000'000};
inline constexpr std::array<std::string_view, 11> kLatencyBoundsText
    = {"0.000005", "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.01", "0.1"};

class LatencyHistogram {
public:
    void observe(uint64_t ns);
    uint64_t count() const { return count_; }
    uint64_t sum_ns() const { return sum_ns_; }
    // Observations at or below kLatencyBoundsNs[bound]: cumulative, as a
    // Prometheus bucket is.
    uint64_t at_most(size_t bound) const;
    // The `stats` row's value, one token: "<count>,<sum_ns>,<at_most(0)>,...,
    // <at_most(10)>" (the +Inf bucket is the count).
    std::string row_value() const;

private:
    uint64_t count_ = 0;
    uint64_t sum_ns_ = 0;
    // Per bucket, not cumulative: observations above the bound before and at
    // or below this one. Those above the last bound are only in count_.
    std::array<uint64_t, kLatencyBoundsNs.size()> in_bucket_{};
};

// Reads CLOCK_MONOTONIC, in ns.
uint64_t monotonic_ns();

class Latency {
public:
    // kv::Door is a door's session (doors/door.h); this names which door.
    enum class Door : uint8_t { Line, Redis, Memcache };
    static constexpr size_t kDoors = 3;
    // As the door label and the stats row print it.
    static std::string_view door_name(Door door);

    // The most commands one door's table may hold (the Redis door's has 73):
    // a command whose index is not below it is not recorded.
    static constexpr size_t kMaxOps = 96;

    // One run of the door's command `op` (its index in the door's table),
    // named `name` (a view of static storage: the table's own name).
    void record(Door door, size_t op, std::string_view name, uint64_t ns);
    // The `stats` rows: "latency_<door>_<name>" with row_value() for every
    // (door, command) that ran at least once, by door, then by index.
    void append_rows(std::vector<std::pair<std::string, std::string>>& rows) const;
    const LatencyHistogram* find(Door door, std::string_view name) const;

private:
    struct Slot {
        std::string_view name;  // empty until the command first ran
        LatencyHistogram histogram;
    };
    std::array<std::array<Slot, kMaxOps>, kDoors> slots_{};
};

// Times the enclosing scope as one command of `door`, recorded when it ends
// if name() was called (an unknown command is not recorded).
class LatencyTimer {
public:
    LatencyTimer(Latency& latency, Latency::Door door) : latency_(latency), door_(door), start_(monotonic_ns()) { }
    LatencyTimer(const LatencyTimer&) = delete;
    LatencyTimer& operator=(const LatencyTimer&) = delete;
    ~LatencyTimer()
    {
        if (!name_.empty())
            latency_.record(door_, op_, name_, monotonic_ns() - start_);
    }
    void name(size_t op, std::string_view name)
    {
        op_ = op;
        name_ = name;
    }

private:
    Latency& latency_;
    Latency::Door door_;
    uint64_t start_;
    size_t op_ = 0;
    std::string_view name_;
};

}  // namespace kv
