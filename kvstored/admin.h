// admin.h: the admin operations (status, clients, kick, flush, shutdown,
// dump, and the staged load: begin, entries, commit), run for a peer on the
// admin socket. The data operations (get, set, del, keys, stats) go through
// commands.h like a kvsvc's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "commands.h"
#include "wire.h"

namespace kv {

class Client;
class Server;

// Appends the reply to `out`; returns the ticket of a write (flush, load
// commit) or 0. `dump` appends nothing and sets `listing`: the caller sends
// its pages.
uint64_t execute_admin(const wire::Request& req, Server& server, const Client& self, std::string& out,
                       std::optional<Listing>& listing);

}  // namespace kv
