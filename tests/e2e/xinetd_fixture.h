// xinetd_fixture.h: a private, foreground /usr/sbin/xinetd that serves kvsvc
// on a free port of 127.0.0.1, configured as in production (see xinetd.d/).
#pragma once

#include <string>

#include "kvstore.h"

namespace kvtest {

inline constexpr const char* kXinetd = "/usr/sbin/xinetd";

class Xinetd {
public:
    // Writes DIR/xinetd.conf, starts `xinetd -dontfork` (so its PID is our
    // child's, and the Process destructor ends it) and returns once the port
    // accepts connections, at most 5 s. Throws std::runtime_error, quoting
    // xinetd's log, otherwise; and when xinetd is not installed.
    Xinetd(const TempDir& dir, const std::string& kvstored_socket);

    int port() const { return port_; }
    Process& process() { return process_; }
    std::string log() const;

private:
    void write_config(const std::string& kvstored_socket) const;
    void wait_until_serving();

    const TempDir& dir_;
    int port_;
    Process process_;
};

// kvstored on DIR/kvstored.sock and xinetd in front of it.
struct XinetdStack {
    TempDir dir;
    Daemon daemon{dir};
    Xinetd xinetd{dir, daemon.socket_path()};

    // A TCP client whose greeting has been read (REQUIREd).
    LineClient client();
};

}  // namespace kvtest
