// kvbench: a load generator for kvstore, Redis and memcached (see
// `kvbench --help`, and bench/README.md for how the project uses it).
//
// The pieces, one file each: options (command line), address (resolve and
// refuse non-loopback), workload (the request stream), codec_* (one per
// protocol), connection (one socket's state machine), engine (the epoll
// loop), histogram and stats (what is measured), report (what is printed).
#include <cstdio>
#include <exception>

#include "address.h"
#include "codec.h"
#include "engine.h"
#include "options.h"
#include "report.h"
#include "stats.h"
#include "workload.h"

int main(int argc, char** argv)
{
    using namespace kvbench;
    int exit_code = 0;
    std::optional<Options> options = parse_options(argc, argv, exit_code);
    if (!options)
        return exit_code;
    const Options& o = *options;

    Address address;
    try {
        address = resolve(o.host, o.port, o.allow_remote);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvbench: %s\n", e.what());
        return 2;
    }

    Workload workload(o);
    Stats stats;
    RunResult result;
    try {
        result = run(o, address, *make_codec(o), workload, stats);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvbench: %s\n", e.what());
        return 1;
    }

    if (o.json)
        print_json(o, address, stats, result);
    else
        print_report(o, address, stats, result);
    std::fflush(stdout);
    if (result.ending == Ending::Interrupted)
        return 130;
    bool ok = result.ending == Ending::Completed && stats.errors() == 0 && stats.answered() > 0;
    if (!ok && !stats.first_error.empty())
        std::fprintf(stderr, "kvbench: %s\n", stats.first_error.c_str());
    return ok ? 0 : 1;
}
