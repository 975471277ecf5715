// commands.h: executes one wire request against the store and returns the
// exact reply text the client will see. One handler per operation.
#pragma once

#include <cstddef>
#include <string>

#include "database.h"
#include "stats.h"
#include "wire.h"

namespace kv {

struct Limits {
    size_t max_value;  // bytes
};

// Appends the reply to `out` and returns the ticket of the write it made (0 for
// none): the reply may be released only once that ticket is durable. Never
// fails: bad arguments and refused writes get an ERR reply.
uint64_t execute(const wire::Request& req, Database& db, Stats& stats, const Limits& limits, std::string& out);

}  // namespace kv
