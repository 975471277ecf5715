// address.h: where kvbench connects, resolved once before the run.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace kvbench {

struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string text;  // "127.0.0.1:7070" or "[::1]:7070", for messages
};

// Resolves host:port to its first address. Throws std::runtime_error naming the
// host on failure, and when the address is not loopback (127.0.0.0/8, ::1,
// ::ffff:127.x) unless allow_remote: kvbench is for this machine's servers.
Address resolve(const std::string& host, uint16_t port, bool allow_remote);

}  // namespace kvbench
