// listener.h: one listening Unix socket, the service socket or the admin
// socket. It is created with an explicit mode and group (never the umask's),
// replaces only a stale socket file, accepts defensively, and removes its own
// file (and only its own) when closed.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <string>

#include "event_loop.h"
#include "fd.h"

namespace kv {

class Listener : public EventLoop::Watcher {
public:
    struct Options {
        std::string path;
        mode_t mode = 0660;
        gid_t group = static_cast<gid_t>(-1);  // -1: leave the group as created
    };
    // Called for every accepted connection with the peer's credentials.
    using OnAccept = std::function<void(UniqueFd fd, const ucred& peer)>;

    // Throws std::runtime_error naming the operation, the path and the cause.
    Listener(EventLoop& loop, Options options, OnAccept on_accept);
    ~Listener() override { close(); }

    void on_ready(uint32_t events) override;
    void close();
    const std::string& path() const { return options_.path; }

private:
    void pause_accepting();

    EventLoop& loop_;
    Options options_;
    OnAccept on_accept_;
    UniqueFd fd_;
    dev_t dev_ = 0;  // identity of the socket file we created, so that
    ino_t ino_ = 0;  // we never unlink a successor's socket
};

}  // namespace kv
