// daemon.h: `kvstored run`: the long-running service.
#pragma once

#include "server.h"

namespace kv {

// Serves until SIGTERM or SIGINT, then shuts down gracefully. Returns the
// process exit status; startup failures are logged and return 1.
int run_daemon(const ServerConfig& config);

}  // namespace kv
