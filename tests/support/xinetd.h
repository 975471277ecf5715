// xinetd.h: a private /usr/sbin/xinetd in the foreground (-dontfork, so its
// PID is our child's and the Process destructor ends it) with its config, its
// logs and its pidfile in a TempDir; and waiting for a TCP port to serve.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "line_client.h"
#include "process.h"

namespace kvtest {

inline constexpr const char* kXinetd = "/usr/sbin/xinetd";

using XinetdSettings = std::vector<std::pair<std::string, std::string>>;

// One section of an xinetd config, each setting on its own line.
std::string xinetd_section(const std::string& header, const XinetdSettings& settings);

// Opens `path` for appending, for a child's stdout and stderr; throws on error.
int open_log(const std::string& path);

// One try, no waiting: does 127.0.0.1:port accept a connection?
bool accepts(int port);

// Waits up to 5 s until 127.0.0.1:port accepts, while `process` runs. Throws
// otherwise, naming the process `name` and quoting `log()`.
void wait_accepting(Process& process, int port, const std::string& name, const std::function<std::string()>& log);

// What differs between the private xinetds of the tests.
struct XinetdOptions {
    // "defaults": logs go to the TempDir's xinetd-access.log; an empty flag
    // leaves its setting out.
    std::string log_on_success;
    std::string log_on_failure;
    // "service kvstore" on 127.0.0.1 (only from there) at the port.
    std::string server;
    std::string server_args;
    std::string user = "root";
    std::string instances;
    std::string per_source;
    std::string cps;
    // When set, no service of its own: the config includes this directory
    // instead, as Debian's /etc/xinetd.conf includes /etc/xinetd.d.
    std::string include_dir;
};

// The built kvsvc serving `kvstored_socket` as root, with the end-to-end
// tests' limits (600 instances, no per-source cap, cps 1000 1) and logging.
XinetdOptions kvsvc_service(const std::string& kvstored_socket);

class PrivateXinetd {
public:
    // Writes DIR/xinetd.conf, starts `xinetd -dontfork` and returns once
    // `port` accepts connections, at most 5 s. Throws std::runtime_error,
    // quoting xinetd's log, otherwise; and when xinetd is not installed.
    PrivateXinetd(const TempDir& dir, int port, const XinetdOptions& options);

    int port() const { return port_; }
    Process& process() { return process_; }
    std::string log() const;  // xinetd's own messages
    std::string access_log() const;  // START / EXIT / FAIL lines
    // A TCP client of kvsvc whose greeting has been read (REQUIREd).
    LineClient client();

private:
    void write_config(const XinetdOptions& options) const;
    std::string service_section(const XinetdOptions& options) const;
    void start();

    const TempDir& dir_;
    int port_;
    Process process_;
};

}  // namespace kvtest
