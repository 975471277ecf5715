// cli.h: running a command-line program to completion with its stdin given and
// its stdout and stderr captured, every wait bounded; and any program (not just
// kvsvc) attached to a socketpair, e.g. kvsvc started through setpriv.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvstore.h"
#include "process.h"

namespace kvtest {

struct CliResult {
    // The exit code; -1 when it was killed by a signal or did not finish in time.
    int code = -1;
    std::string out;
    std::string err;
    std::string status;  // "exited 0", "killed by signal 9", "timed out after 20000 ms"

    // For INFO(): the command, how it ended and what it printed (control bytes as \xHH).
    std::string describe() const;
    std::string command;
};

// Runs `program args...` with `stdin_text` as its stdin (an anonymous file) and
// its stdout and stderr captured (anonymous files, so no pipe can fill up).
// A program still running after `timeout` is killed and reported as code -1.
CliResult run_program(const std::string& program, const std::vector<std::string>& args,
                      std::string_view stdin_text = {}, Millis timeout = 20s);

// run_program(kvstored_bin(), args, ...).
CliResult run_kvstored(const std::vector<std::string>& args, std::string_view stdin_text = {}, Millis timeout = 20s);

// `program args...` on a socketpair (its stdin, stdout and stderr), as
// spawn_kvsvc does for kvsvc itself.
KvsvcSession spawn_on_socketpair(const std::string& program, const std::vector<std::string>& args);

}  // namespace kvtest
