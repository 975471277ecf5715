// histogram_test.cc: ctest's check of the histogram (label "bench"): every
// percentile of a million log-normal samples is at or above the exact value
// and within 1/128 of it; a lone value comes back exactly.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "histogram.h"

int main()
{
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> latency(12.0, 2.0);  // median ~160 us, long tail
    kvbench::Histogram h;
    std::vector<uint64_t> exact;
    for (int i = 0; i < 1000000; ++i) {
        auto ns = static_cast<uint64_t>(latency(rng));
        h.record(ns);
        exact.push_back(ns);
    }
    std::sort(exact.begin(), exact.end());
    int failures = 0;
    for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(exact.size()))));
        uint64_t want = exact[rank - 1];
        uint64_t got = h.percentile(p);
        if (got < want || static_cast<double>(got - want) > static_cast<double>(want) / 128.0) {
            std::printf("p%g: got %llu, exact %llu\n", p, static_cast<unsigned long long>(got),
                        static_cast<unsigned long long>(want));
            ++failures;
        }
    }
    if (h.count() != exact.size() || h.min() != exact.front() || h.max() != exact.back()) {
        std::printf("count/min/max wrong\n");
        ++failures;
    }
    for (uint64_t ns : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{123456789}}) {
        kvbench::Histogram one;
        one.record(ns);
        if (one.percentile(50) != ns || one.percentile(100) != ns) {
            std::printf("a lone %llu came back as %llu\n", static_cast<unsigned long long>(ns),
                        static_cast<unsigned long long>(one.percentile(50)));
            ++failures;
        }
    }
    std::printf("histogram: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
