// stats.h: the run's tallies, kept by the connections and read by the engine
// and the report. Single-threaded: plain counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "histogram.h"

namespace kvbench {

using Clock = std::chrono::steady_clock;

struct Stats {
    Histogram latency;  // per request, or per session with --reconnect (ns)
    uint64_t ok = 0;  // SETs stored, echoes and sessions without a GET
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t error_replies = 0;  // answered, but with an error
    uint64_t connection_errors = 0;  // connect failed, reset, EOF, malformed reply
    uint64_t lost = 0;  // requests sent (or taken) on a connection that then failed
    Clock::time_point last_progress{};  // when the last request was answered
    std::string first_error;  // the first error of the run, for the report

    uint64_t answered() const { return ok + hits + misses + error_replies; }
    // Requests the run is done with: answered or lost.
    uint64_t finished() const { return answered() + lost; }
    uint64_t errors() const { return error_replies + connection_errors; }

    void note_error(std::string what)
    {
        if (first_error.empty())
            first_error = std::move(what);
    }
    // Forgets everything measured so far (the end of --warmup); keeps
    // first_error, which explains trouble whenever it happened.
    void restart()
    {
        std::string keep = std::move(first_error);
        auto progress = last_progress;
        *this = Stats{};
        first_error = std::move(keep);
        last_progress = progress;
    }
};

}  // namespace kvbench
