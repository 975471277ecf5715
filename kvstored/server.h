// server.h: the service socket, the set of attached kvsvc clients, and the
// graceful-shutdown handshake.
//
// Shutdown: stop accepting, commit everything pending to the database, send
// every client a Shutdown notice, then wait
// until each kvsvc has hung up or the deadline passes; only then does run()
// return. That ordering is what lets every idle TCP client see its BYE.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "database.h"
#include "event_loop.h"
#include "fd.h"
#include "stats.h"

namespace kv {

class Client;

struct ServerConfig {
    std::string socket_path;
    size_t capacity = 10000;
    std::optional<PersistConfig> persist;  // nullopt: memory only
    size_t max_value = 64 * 1024;
    std::chrono::milliseconds shutdown_timeout{5000};
};

class Server : public EventLoop::Watcher {
public:
    // Opens the database (if any) and binds the service socket. Throws
    // std::runtime_error with a message that names the operation, the path
    // and the cause.
    Server(EventLoop& loop, const ServerConfig& config);
    ~Server() override;

    void on_ready(uint32_t events) override;  // the listening socket is readable
    void begin_shutdown(const std::string& message);
    bool shutting_down() const { return shutting_down_; }

    EventLoop& loop() { return loop_; }
    Database& db() { return db_; }
    Stats& stats() { return stats_; }
    const Limits& limits() const { return limits_; }
    size_t client_count() const { return clients_.size(); }

    // Called by Client.
    void on_attached(Client& client);
    void remove(Client& client, bool was_attached);

private:
    void accept_clients();
    void pause_accepting();
    void close_listener();
    void release_durable_replies();

    EventLoop& loop_;
    ServerConfig config_;
    Limits limits_;
    Database db_;
    Stats stats_;
    std::unique_ptr<EventLoop::Watcher> durable_watcher_;  // wakes held replies
    UniqueFd listener_;
    dev_t socket_dev_ = 0;  // identity of the socket file we created, so that
    ino_t socket_ino_ = 0;  // we never unlink a successor's socket
    uint64_t next_id_ = 1;
    bool shutting_down_ = false;
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
};

}  // namespace kv
