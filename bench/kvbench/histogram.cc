// histogram.cc: see histogram.h.
#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace kvbench {
namespace {

// 2^kSubBits buckets per power of two; values below 2^(kSubBits + 1) are exact.
constexpr unsigned kSubBits = 7;
constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;
// Values are clamped to below 2^kMaxBits ns.
constexpr unsigned kMaxBits = 40;
constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxBits) - 1;
constexpr size_t kBuckets = (kMaxBits - kSubBits) * kSubCount + kSubCount;

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) { }

// For v >= 2^kSubBits with its top bit at position msb, shift = msb - kSubBits
// drops all but the kSubBits + 1 leading bits; those leading bits (128..255)
// plus shift * 128 number the buckets contiguously, and for shift 0 the index
// is v itself, which joins the exact range below.
size_t Histogram::bucket_of(uint64_t ns)
{
    if (ns < kSubCount)
        return static_cast<size_t>(ns);
    unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(ns));
    unsigned shift = msb - kSubBits;
    return static_cast<size_t>(shift * kSubCount + (ns >> shift));
}

uint64_t Histogram::upper_edge(size_t bucket)
{
    if (bucket < 2 * kSubCount)
        return bucket;
    uint64_t shift = bucket / kSubCount - 1;
    uint64_t lead = bucket % kSubCount + kSubCount;
    return ((lead + 1) << shift) - 1;
}

void Histogram::record(uint64_t ns)
{
    ns = std::min(ns, kMaxValue);
    ++counts_[bucket_of(ns)];
    ++count_;
    sum_ += ns;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other)
{
    for (size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double percent) const
{
    if (count_ == 0)
        return 0;
    percent = std::clamp(percent, 0.0, 100.0);
    auto rank = static_cast<uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_)));
    rank = std::max<uint64_t>(rank, 1);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank)
            return std::min(upper_edge(i), max_);
    }
    return max_;
}

}  // namespace kvbench
