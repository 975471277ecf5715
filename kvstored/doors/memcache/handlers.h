// handlers.h: what the memcached command families share (memcache_commands.h
// lists them). Internal to kvstored/doors/memcache/.
#pragma once

#include <cstdint>
#include <string>

#include "memcache_commands.h"

namespace kv::memcache {

// A command's handler: appends its reply to `out`, returns the ticket of the
// last write it made (0 for none), as execute() does.
using Handler = uint64_t (*)(const Request& req, Session& session, Context& ctx, std::string& out);

// The meta commands (meta.cc): mg ms md ma mn me.
uint64_t meta_get(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_set(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_delete(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_arithmetic(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_noop(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_debug(const Request& req, Session& session, Context& ctx, std::string& out);

}  // namespace kv::memcache
