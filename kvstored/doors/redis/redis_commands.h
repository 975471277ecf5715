// redis_commands.h: the Redis commands kvstore implements (docs/redis.md), each a
// thin translation onto the Database operations every door shares
// (kvstored/database.h): Redis 7.0's replies, kvstore's store.
//
// One table (command_table.cc) lists every command with its arity, flags and key
// positions as Redis 7.0 declares them; the dispatcher checks arity and the
// session state (MULTI) before a handler runs, and COMMAND answers from the
// same table. Handlers are grouped by family: strings.cc, keys.cc,
// server_commands.cc (connection, server, CLIENT, INFO, CONFIG, COMMAND) and
// transactions.cc (MULTI, EXEC, DISCARD, WATCH, UNWATCH).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "clock.h"
#include "commands.h"  // kv::Limits
#include "database.h"
#include "resp.h"
#include "server_facts.h"
#include "stats.h"
#include "users.h"

namespace kv::redis {

// One attached client as CLIENT LIST and INFO show it (any door: line-protocol
// sessions are listed too, with what kvstore knows of them).
struct ClientInfo {
    uint64_t id = 0;
    std::string address;  // "ip:port", or "" when unknown
    std::string name;  // CLIENT SETNAME; "" for none
    int64_t age_seconds = 0;
    int64_t idle_seconds = 0;
    std::string last_command;  // lower case, "" for none
    int protocol = 0;  // 2 or 3 for RESP sessions, 0 for the line protocol
    uint64_t output_bytes = 0;  // reply bytes waiting to be written
};

// Facts about the server that INFO, CONFIG GET, LASTSAVE and HELLO report.
using ServerFacts = kv::ServerFacts;

// What commands need from the server beyond the database. Implemented by the
// Redis door (redis_door.cc) over kv::Server.
class Host {
public:
    virtual ~Host() = default;
    virtual std::vector<ClientInfo> clients() const = 0;  // in id order
    // Ends client `id`'s session (its pending replies are still written).
    // False when there is no such client or it is already leaving. Never
    // called for the caller itself (Session::close_after_reply does that).
    virtual bool kill_client(uint64_t id) = 0;
    virtual ServerFacts facts() const = 0;
    // The session's user (issue 18): `required` false when no users file is
    // configured (every command allowed); else the user in force, or null
    // while the session has not authenticated or its user was removed.
    virtual const users::User* user(bool& required) const
    {
        required = false;
        return nullptr;
    }
};

// Every key a session WATCHes, noted in the database's watch registry so
// that a write to it from any door aborts the session's EXEC (Database's
// touch hook; transactions.cc).
struct WatchState;

// One RESP session's own state.
struct Session {
    uint64_t id = 0;  // kvstored's client id (CLIENT ID)
    std::string address;
    int protocol = 2;  // HELLO
    std::string name;  // CLIENT SETNAME
    std::string last_command;
    // MULTI: commands queued until EXEC (copies of their arguments); a
    // queuing error makes EXEC answer EXECABORT.
    bool in_multi = false;
    bool multi_failed = false;
    std::vector<std::vector<std::string>> queued;
    size_t queued_bytes = 0;  // the queued arguments' bytes (bounded: docs/redis.md)
    std::unique_ptr<WatchState> watch;  // null while nothing is watched
    // Close the connection once this reply is written (QUIT, CLIENT KILL of
    // oneself, a protocol error).
    bool close_after_reply = false;
    bool shutdown_refused = false;  // SHUTDOWN was refused and logged (once per session)
    // AUTH or HELLO ... AUTH while a users file is configured (issue 18): the
    // password is checked off the loop, so the handler writes no reply and
    // leaves the check here for the door (RedisDoor::run), which answers
    // once it is done: +OK for AUTH, or runs `then` (the HELLO without its
    // AUTH option) on success; -WRONGPASS on failure. Never logged.
    struct PendingAuth {
        std::string user;
        std::string password;
        std::vector<std::string> then;  // empty for AUTH
    };
    std::optional<PendingAuth> auth;
    // Out of line (transactions.cc), where WatchState is complete.
    Session();
    ~Session();
};

struct Context {
    Database& db;
    Stats& stats;
    const Limits& limits;
    Host& host;
    const Clock& clock;
};

// Runs one command (args[0] is its name, any case) and appends its whole
// reply to `out` in the session's protocol. Returns the ticket of the last
// write it made (0 for none): the reply may go out only once that ticket is
// durable (Database::durability). Never throws for bad input (errors are
// replies); may throw std::bad_alloc, and then the client is dropped.
uint64_t execute(std::span<const std::string_view> args, Session& session, Context& ctx, std::string& out);

}  // namespace kv::redis
