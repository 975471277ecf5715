// server.h: the two sockets (service and admin), the set of connected peers,
// who may connect, and the graceful-shutdown handshake.
//
// Access (docs/operations.md, "Access control"): the service socket (mode
// 0660, group service_group) admits root, kvstored's own user and members of
// the service group. The admin socket admits root and members of the admin
// group (mode 0660, group admin_group) when one is configured, and otherwise
// (mode 0600) root and kvstored's own user. With an admin group, kvstored's
// own uid is not enough: a kvsvc left running as that user (an old xinetd
// file) must not administer anything. The admin and the service group must
// differ. "Member" means the primary group (SO_PEERCRED) or a supplementary
// one (SO_PEERGROUPS). Each peer is checked before it can send anything; a
// refused peer gets a Refused notice saying what is allowed, and a log line.
//
// Shutdown: stop accepting, commit everything pending to the database, send
// every client a Shutdown notice, then wait until each has hung up or the
// deadline passes; only then does run() return. That ordering is what lets
// every idle TCP client see its BYE.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth_throttle.h"
#include "auth_worker.h"
#include "client.h"
#include "commands.h"
#include "database.h"
#include "event_loop.h"
#include "listener.h"
#include "stats.h"
#include "users.h"

namespace kv {

struct ServerConfig {
    std::string socket_path;
    std::string admin_socket_path;
    size_t capacity = 10000;
    WhenFull when_full = WhenFull::Refuse;
    std::optional<PersistConfig> persist;  // nullopt: memory only (or etcd)
    std::optional<EtcdConfig> etcd;  // set: the etcd backend (persist is then nullopt)
    size_t max_value = 64 * 1024;
    std::chrono::milliseconds shutdown_timeout{5000};
    std::optional<gid_t> service_group;  // nullopt: kvstored's own group
    std::optional<gid_t> admin_group;  // nullopt: the admin socket admits root and kvstored's own user
    // The users file (--users, `users =`; users.h) and the table loaded from
    // it before the server starts. Empty path (and null table): auth is off.
    std::string users_path;
    std::shared_ptr<const users::Table> users;
    // Password checks one client address may have failed within a minute
    // or pending before its attempts fail unchecked (auth_throttle.h); 0:
    // no limit.
    unsigned auth_failures_per_address = AuthThrottle::kDefaultMaxFailures;
};

class Server {
public:
    // Opens the database (if any) and binds both sockets. Throws
    // std::runtime_error with a message that names the operation, the path
    // and the cause.
    Server(EventLoop& loop, const ServerConfig& config);
    ~Server();

    void begin_shutdown(const std::string& message);
    bool shutting_down() const { return shutting_down_; }
    // Sends client `id` a Shutdown notice with `message`, on behalf of admin
    // client `admin_id`, whose reply waits (Client::defer_reply) until the
    // client is gone ("OK") or kKickTimeout has passed, when its connection is
    // cut (Client::cut) and the reply says so ("OK cut ..."). With admin_id 0
    // nobody waits (a Redis client's CLIENT KILL). False, with no reply
    // deferred, if there is no such attached client.
    bool kick(uint64_t id, const std::string& message, uint64_t admin_id);
    // Client `id` has been kicked and has not left yet.
    bool kick_pending(uint64_t id) const { return kicks_.contains(id); }
    // memcached's delayed flush_all: every entry is deleted at `unix_ms` (a
    // time already past: on the next loop turn). One is pending at most: a
    // later call replaces it, and 0 cancels it (an immediate flush_all does,
    // as in memcached, where the latest flush_all decides). Recorded in the
    // database, so a restart carries it out (at start, or at its time).
    // Returns the ticket of that record.
    uint64_t flush_at(int64_t unix_ms);
    // Every attached client, in id order.
    void for_each_client(const std::function<void(const Client&)>& fn) const;

    EventLoop& loop() { return loop_; }
    Database& db() { return db_; }
    Stats& stats() { return stats_; }
    const Limits& limits() const { return limits_; }
    const ServerConfig& config() const { return config_; }
    size_t attached_count() const { return stats_.connections_current; }

    // The users table in force (users.h), for the doors: null while no users
    // file is configured (auth off, every session may do everything), else
    // the last file that loaded whole. Read it on the loop thread; a worker
    // thread that checks a password gets a copy of the shared_ptr from the
    // loop thread, which keeps that table alive however many reloads come.
    // Look the session's user up by name for every operation: a reload
    // replaces the table between two loop turns.
    const std::shared_ptr<const users::Table>& users() const { return users_; }
    // SIGHUP: reads the users file again. A file that loads whole replaces the
    // table ("users reloaded from FILE: N users"); any problem keeps the old
    // one and logs why. Sessions are untouched either way. Without a users
    // file, logs that there is nothing to reload.
    void reload_users();

    // The password checks' worker (auth_worker.h), started with the server
    // when a users file is configured, else with the first check.
    AuthWorker& auth_worker();
    // Failed passwords per client address (auth_throttle.h).
    AuthThrottle& auth_throttle() { return auth_throttle_; }
    // A password was read this turn: once the turn's events are handled,
    // overwrite the stack their handlers used (secret.h, wipe_stack_below).
    void wipe_stack_after_turn();

    // Called by Client.
    void on_attached(Client& client);
    void remove(Client& client, bool was_attached);
    // `client` (or its door) now holds a reply until a write is durable, or
    // awaits one: the next backend notification visits it.
    void hold_until_durable(const Client& client);

private:
    void admit(UniqueFd fd, const ucred& peer, Client::Role role);
    std::string refusal(const ucred& peer, const std::vector<gid_t>& groups, Client::Role role) const;
    void release_durable_replies();
    void on_kick_deadline(uint64_t target);
    void expire_tick();
    void arm_flush(int64_t unix_ms);
    void run_flush(int64_t unix_ms);
    void answer_kick(uint64_t target, const std::string& reply);
    // Connections of that role, attached or not yet (for the log).
    size_t count_role(Client::Role role) const;

    EventLoop& loop_;
    ServerConfig config_;
    Limits limits_;
    Database db_;
    Stats stats_;
    uid_t own_uid_;
    gid_t service_gid_;
    std::unique_ptr<EventLoop::Watcher> durable_watcher_;  // wakes held replies
    std::unique_ptr<Listener> service_;
    std::unique_ptr<Listener> admin_;
    std::shared_ptr<const users::Table> users_;  // null: auth off
    std::unique_ptr<AuthWorker> auth_worker_;
    AuthThrottle auth_throttle_;
    bool stack_wipe_due_ = false;  // wipe_stack_after_turn() has deferred one
    uint64_t next_id_ = 1;
    bool shutting_down_ = false;
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
    // The ids of clients that hold or await durable replies: a backend
    // notification visits these alone, not every client (10,000 sessions at
    // thousands of notifications a second would make that the loop's work).
    std::set<uint64_t> durable_waiters_;
    bool durable_waiters_lost_ = false;  // an insert failed (no memory): visit every client once
    // Kicks in progress, by the kicked client's id.
    struct PendingKick {
        std::vector<uint64_t> admins;  // whose replies wait
        uint64_t timer = 0;
    };
    std::map<uint64_t, PendingKick> kicks_;
    uint64_t expire_timer_ = 0;
    uint64_t flush_timer_ = 0;  // flush_at's; 0 when none is pending
    int64_t armed_flush_ = 0;  // the time flush_timer_ runs the flush at (unix ms), 0 for none
};

}  // namespace kv
