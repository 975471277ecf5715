// histogram.h: a latency histogram with bounded relative error, in the spirit
// of HdrHistogram but a few dozen lines.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above,
// each power of two is split into 128 equal buckets, so a reported percentile
// is at most 1/128 (0.8 %) above the true value. Values from 1 ns to about
// 18 minutes (2^40 ns) are kept in 4,352 counters (34 KiB); larger ones are
// clamped. Recording is a handful of instructions and never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvbench {

class Histogram {
public:
    Histogram();

    void record(uint64_t ns);
    void merge(const Histogram& other);

    uint64_t count() const { return count_; }
    uint64_t min() const { return count_ ? min_ : 0; }
    uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
    // The smallest recorded value v such that at least `percent` % of all
    // values are <= v, rounded up to its bucket's upper edge (never above max()).
    // 0 when nothing was recorded.
    uint64_t percentile(double percent) const;

private:
    static size_t bucket_of(uint64_t ns);
    static uint64_t upper_edge(size_t bucket);

    std::vector<uint64_t> counts_;
    uint64_t count_ = 0;
    uint64_t sum_ = 0;
    uint64_t min_ = UINT64_MAX;
    uint64_t max_ = 0;
};

}  // namespace kvbench
