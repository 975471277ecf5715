// hostile.h: helpers for the hostile-input, fault and overload tests: what a
// process costs (/proc), raw peers of kvstored's sockets, a private xinetd
// tuned for thousands of connections, and non-blocking TCP connections for
// driving many sessions from one thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvstore.h"
#include "xinetd.h"

namespace kvtest {

using Clock = std::chrono::steady_clock;

// The memory bounds in these tests are those of the production build. Under
// AddressSanitizer (build-asan/) each process also keeps freed memory in
// quarantine (scripts/test --sanitize caps it: quarantine_size_mb=16) and
// pads allocations with redzones, so this much slack is added to each bound.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kSanitizerSlackKib = 32 * 1024;
#else
inline constexpr long kSanitizerSlackKib = 0;
#endif
inline long memory_bound_kib(long production_kib)
{
    return production_kib + kSanitizerSlackKib;
}

// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"); -1 once the process
// is gone.
long proc_kib(pid_t pid, const char* field);
// Entries in /proc/PID/fd: the descriptors the process holds.
size_t fd_count(pid_t pid);

// Polls `done` every `step` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, Millis timeout, Millis step = 20ms);

// The integer in environment variable `name`, or `fallback` when unset or
// not a number. The knobs that let CI scale the heavy tests.
long env_long(const char* name, long fallback);

// Wire bytes, written by hand so that a test can send what kvsvc never would.
std::string be16(uint16_t v);
std::string be32(uint32_t v);
std::string wire_frame(uint8_t type, std::string_view payload);
// A Request frame in wire version 6's layout, with an empty value and zero fields.
std::string wire_request(uint8_t op, std::string_view key = {});
// A Hello that kvstored accepts (protocol version 6); with `flags` 1
// (kHelloHandoff) it announces a Handoff with two descriptors.
std::string wire_hello(uint8_t flags = 0);

// A raw connection to a Unix socket of kvstored (REQUIREs the connect).
LineClient raw_unix_peer(const std::string& path);

// Sends "stats" and returns the "STATS n" block.
std::vector<std::string> stats_of(LineClient& c);

// Writes `bytes` bytes of `fill` in 1 MiB pieces, each bounded by `timeout`.
void send_filler(LineClient& c, size_t bytes, char fill, Millis timeout = 10s);

// A private /usr/sbin/xinetd in the foreground serving kvsvc on a free port of
// 127.0.0.1, with the limits that let thousands of connections through: no
// instance or per-source cap, a connection rate limit far above what one
// machine can open. (tests/e2e/xinetd_fixture.h keeps the production limits.)
class TunedXinetd : public PrivateXinetd {
public:
    TunedXinetd(const TempDir& dir, const std::string& kvstored_socket);
};

// kvstored (with `daemon_args`) and a TunedXinetd in front of it.
struct LoadStack {
    TempDir dir;
    Daemon daemon;
    TunedXinetd xinetd;

    explicit LoadStack(std::vector<std::string> daemon_args = {})
        : daemon(dir, std::move(daemon_args)), xinetd(dir, daemon.socket_path())
    {
    }
};

// Starts a non-blocking connect to 127.0.0.1:port. Returns the socket (the
// connect may still be in progress: wait for POLLOUT, then connect_error()),
// or -1 when it failed at once.
int start_tcp_connect(int port);
// 0 when the connect on `fd` succeeded, else its errno.
int connect_error(int fd);

// Opens `n` TCP sessions through xinetd on `port` and reads each greeting.
// Connects are paced: at most `max_pending` connections wait for a greeting
// at once, below xinetd's listen backlog (64), because the kernel drops a
// burst beyond the backlog and TCP retries only a second later. A connect
// that fails or stays silent for 3 s is retried with backoff. Throws, with
// the count, when not all are open within `timeout`.
std::vector<LineClient> open_sessions(int port, size_t n, Millis timeout, size_t max_pending = 48);

// Latency figures from a set of samples, in milliseconds.
struct Percentiles {
    double p50 = 0, p99 = 0, max = 0;
};
Percentiles percentiles(std::vector<float> samples_ms);

}  // namespace kvtest
