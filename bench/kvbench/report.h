// report.h: what kvbench prints: the progress line, the final report, and the
// one-line JSON form of the report.
#pragma once

#include <cstdint>
#include <string>

#include "address.h"
#include "engine.h"
#include "options.h"
#include "stats.h"

namespace kvbench {

// Redraws the progress line on stdout (a terminal): elapsed time, requests so
// far, the last second's rate, errors and p99 so far.
void print_progress(Clock::duration elapsed, const Stats& stats, uint64_t last_second);
void clear_progress();

void print_report(const Options& o, const Address& a, const Stats& stats, const RunResult& r);
void print_json(const Options& o, const Address& a, const Stats& stats, const RunResult& r);

}  // namespace kvbench
