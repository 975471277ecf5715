// memcache_commands.h: the memcached text-protocol commands kvstore implements
// (docs/memcache.md), each a thin translation onto the Database operations
// every door shares (kvstored/database.h): memcached 1.6's replies, kvstore's
// store.
//
// Families: storage.cc (set add replace append prepend cas), retrieval.cc
// (get gets gat gats), keys.cc (delete incr decr touch flush_all),
// server_commands.cc (version verbosity quit stats cache_memlimit, and the
// dispatcher execute()), meta.cc (mg ms md ma mn me).
//
// Mapping (docs/memcache.md): the client flags are the entry's flags
// (Store::Entry::flags); the cas unique is the entry's version; exptime is
// converted to a deadline in unix ms (0: none; up to 30 days: relative
// seconds; above: an absolute unix time; negative: already expired).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clock.h"
#include "commands.h"  // kv::Limits
#include "database.h"
#include "server_facts.h"
#include "stats.h"
#include "text_parser.h"
#include "users.h"

namespace kv::memcache {

// memcached's REALTIME_MAXDELTA: an exptime above it is a unix time.
inline constexpr int64_t kRealtimeMaxDelta = 60 * 60 * 24 * 30;

// A retrieval appends VALUE blocks until its reply holds this much, then
// stops and is called again (Session::next_key), so one "get" of many large
// values never builds a reply bigger than about this plus one value.
inline constexpr size_t kReplyChunk = 256 * 1024;

// What commands need from the server beyond the database. Implemented by the
// memcached door (memcache_door.cc) over kv::Server.
class Host {
public:
    virtual ~Host() = default;
    virtual ServerFacts facts() const = 0;
    // flush_all with a delay: every entry is deleted at `unix_ms` (a later
    // flush_all replaces an earlier one's time; memcached keeps one; 0
    // cancels it). It survives a restart. Returns the ticket of its record.
    virtual uint64_t flush_at(int64_t unix_ms) = 0;
    // Authentication (issue 18; docs/memcache.md, "Authentication"):
    // `required` false when no users file is configured; else the session's
    // user in the table in force, or null while it has not authenticated (or
    // its user was removed by a reload). The door logs a session in (a `set`
    // carrying "user password"); execute() checks the user's rights and key
    // patterns for every command (access.cc).
    virtual const users::User* user(bool& required) const
    {
        required = false;
        return nullptr;
    }
};

// One memcached session's own state.
struct Session {
    uint64_t id = 0;  // kvstored's client id
    // A retrieval that stopped at kReplyChunk: the index (in the request's
    // tokens) of the next key to answer; 0 when no retrieval is in progress.
    // While it is not 0 the door calls execute() again with the same request.
    size_t next_key = 0;
    // Close the connection once this reply is written (quit).
    bool close_after_reply = false;
    // With etcd (Database::replicated()) the cas of an item this command
    // wrote is the commit's revision, unknown until etcd answers: the places
    // in the reply where it goes (ascending), filled in by AwaitedCommand.
    // Cleared by execute().
    std::vector<size_t> cas_at;
    // The time the chunks of a retrieval took so far (execute(): one
    // request's time in Stats::latency).
    uint64_t elapsed_ns = 0;
};

struct Context {
    Database& db;
    Stats& stats;
    const kv::Limits& limits;
    Host& host;
    const Clock& clock;
};

// Runs one request and appends its whole reply (or, for a retrieval, the
// next chunk of it: Session::next_key) to `out`. Returns the ticket of the
// last write it made (0 for none): the reply may go out only once that ticket
// is durable (Database::durability). Never throws for bad input (errors are
// replies); may throw std::bad_alloc, and then the client is dropped.
uint64_t execute(const Request& req, Session& session, Context& ctx, std::string& out);

// exptime (as a client sends it) to a deadline in unix ms for Database:
// kNoDeadline for 0, a past time for a negative exptime.
int64_t deadline_of(int64_t exptime, const Clock& clock);

}  // namespace kv::memcache
