// commands.h: executes one wire request against the store and returns the
// exact reply text the client will see. One handler per operation.
#pragma once

#include <cstddef>
#include <string>

#include "stats.h"
#include "store.h"
#include "wire.h"

namespace kv {

struct Limits {
    size_t max_value;  // bytes
};

// Appends the reply to `out`. Never fails: bad arguments get an ERR reply.
void execute(const wire::Request& req, Store& store, Stats& stats, const Limits& limits, std::string& out);

}  // namespace kv
