// kvstore.h: the programs under test. kvstored runs as a Daemon on a socket
// in a TempDir; kvsvc is attached to a socketpair exactly as xinetd attaches it
// to a TCP socket (one end as its stdin, stdout and stderr).
//
// The paths of the built programs and the version come from compile
// definitions: KVSTORED_BIN, KVSVC_BIN, KVSTORE_VERSION.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "line_client.h"
#include "process.h"

namespace kvtest {

std::string kvstored_bin();
std::string kvsvc_bin();
std::string kvsvc_tls_bin();  // kvsvc linked with OpenSSL (kvsvc/tls.h)
std::string version();
// "HELLO kvstore <version> ready; type 'help'"
std::string greeting();

// `kvstored run --socket DIR/kvstored.sock [extra]`, its stderr in
// DIR/kvstored.log. The constructor returns once the socket accepts
// connections (at most 5 s) and throws, quoting the log, when it does not.
class Daemon {
public:
    explicit Daemon(const TempDir& dir, std::vector<std::string> extra = {});

    const std::string& socket_path() const { return socket_; }
    Process& process() { return process_; }
    std::string log() const;
    // Whether the log shows `text` within `timeout`: a line kvstored writes
    // once it has noticed something (a peer's exit) may come a moment after
    // the test saw the same thing.
    bool log_shows(std::string_view text, Millis timeout = 3s) const;
    // Starts it again after it has exited, with the same arguments.
    void restart();
    // SIGTERM; the wait status once it exits within `timeout`.
    std::optional<int> terminate(Millis timeout = 8s);
    // SIGKILL, and reaps it.
    void kill_hard();

private:
    void start();

    std::string socket_;
    std::string log_path_;
    std::vector<std::string> args_;
    Process process_;
};

// Waits (at most `timeout`) until something accepts connections on `path`.
bool wait_for_unix_listener(const std::string& path, Millis timeout);

// One kvsvc and the client end of its socketpair. The client is declared last
// so that it closes first: kvsvc then sees EOF and exits on its own.
struct KvsvcSession {
    Process process;
    LineClient client;
};

// Starts kvsvc --socket PATH [extra]. Its stderr is the socketpair too, unless
// `stderr_fd` >= 0 is given.
KvsvcSession spawn_kvsvc(const std::string& socket_path, std::vector<std::string> extra = {}, int stderr_fd = -1);

// A spawned kvsvc that has sent its greeting, answered `connect` with
// "OK connected" and then `ping` with "PONG"; throws std::runtime_error
// otherwise. The ping round trip means that a kvsvc that hands its socket to
// kvstored (the default, on a socketpair) has done so by the time this returns.
KvsvcSession connected_session(const std::string& socket_path, std::vector<std::string> extra = {});

// While it lives, the kvsvc processes spawned get REMOTE_HOST=`host`, the
// client address xinetd passes (kvstored's throttle, familiar addresses and
// logs use it); unset again when it goes, even when a REQUIRE throws.
class RemoteHost {
public:
    explicit RemoteHost(const std::string& host);
    ~RemoteHost();
    RemoteHost(const RemoteHost&) = delete;
    RemoteHost& operator=(const RemoteHost&) = delete;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_tcp_port();

// The value of `name` in a "STATS n" block, or "" when absent.
std::string stat_value(const std::vector<std::string>& block, const std::string& name);

}  // namespace kvtest
