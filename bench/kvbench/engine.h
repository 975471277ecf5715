// engine.h: the run itself: one epoll loop driving every connection until the
// run's bound (--duration, --requests, --fill), a stall (--timeout) or a signal.
#pragma once

#include "address.h"
#include "codec.h"
#include "options.h"
#include "stats.h"
#include "workload.h"

namespace kvbench {

enum class Ending {
    Completed,  // duration over, or every request answered or lost
    Stalled,  // no reply for --timeout seconds
    Interrupted,  // SIGINT or SIGTERM
};

struct RunResult {
    double seconds = 0;  // the measured interval (after --warmup)
    Ending ending = Ending::Completed;
};

// Runs the benchmark, filling `stats`. Prints a progress line to stdout once a
// second when stdout is a terminal. Throws std::runtime_error when the loop
// itself cannot be set up.
RunResult run(const Options& options, const Address& address, const Codec& codec, Workload& workload, Stats& stats);

}  // namespace kvbench
