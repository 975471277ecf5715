// latency.cc: see latency.h.
#include "latency.h"

#include <time.h>

namespace kv {

void LatencyHistogram::observe(uint64_t ns)
{
    ++count_;
    sum_ns_ += ns;
    for (size_t i = 0; i < kLatencyBoundsNs.size(); ++i) {
        if (ns <= kLatencyBoundsNs[i]) {
            ++in_bucket_[i];
            return;
        }
    }
}

uint64_t LatencyHistogram::at_most(size_t bound) const
{
    uint64_t n = 0;
    for (size_t i = 0; i <= bound && i < in_bucket_.size(); ++i)
        n += in_bucket_[i];
    return n;
}

std::string LatencyHistogram::row_value() const
{
    std::string out = std::to_string(count_) + "," + std::to_string(sum_ns_);
    uint64_t cumulative = 0;
    for (uint64_t n : in_bucket_) {
        cumulative += n;
        out += "," + std::to_string(cumulative);
    }
    return out;
}

std::string_view Latency::door_name(Door door)
{
    switch (door) {
    case Door::Line:
        return "line";
    case Door::Redis:
        return "redis";
    case Door::Memcache:
        return "memcache";
    }
    return "?";
}

uint64_t monotonic_ns()
{
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void Latency::record(Door door, size_t op, std::string_view name, uint64_t ns)
{
    if (op >= kMaxOps)
        return;
    Slot& slot = slots_[static_cast<size_t>(door)][op];
    slot.name = name;
    slot.histogram.observe(ns);
}

void Latency::append_rows(std::vector<std::pair<std::string, std::string>>& rows) const
{
    for (size_t d = 0; d < kDoors; ++d)
        for (const Slot& slot : slots_[d])
            if (slot.histogram.count() > 0)
                rows.emplace_back("latency_" + std::string(door_name(static_cast<Door>(d))) + "_"
                                      + std::string(slot.name),
                                  slot.histogram.row_value());
}

const LatencyHistogram* Latency::find(Door door, std::string_view name) const
{
    for (const Slot& slot : slots_[static_cast<size_t>(door)])
        if (slot.histogram.count() > 0 && slot.name == name)
            return &slot.histogram;
    return nullptr;
}

}  // namespace kv
