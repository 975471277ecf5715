// process.h: child processes and temporary directories for the integration and
// end-to-end tests, both owned RAII-style so that nothing outlives a test, even
// one that fails half-way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvtest {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// The standard descriptors a child gets; -1 means /dev/null.
struct Stdio {
    int in = -1;
    int out = -1;
    int err = -1;
};

// One child process, started with posix_spawn. It inherits no descriptor but
// its three standard ones. The destructor ends it by PID if it still runs:
// SIGTERM, up to 3 s for the exit, then SIGKILL; it is always reaped.
class Process {
public:
    Process() = default;
    // Throws std::runtime_error when the program cannot be started.
    Process(const std::string& program, const std::vector<std::string>& args, Stdio stdio = {});
    ~Process();
    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    // True until the exit has been observed.
    bool running();
    // The wait status once the process has exited within `timeout`, else nullopt.
    std::optional<int> wait_exit(Millis timeout);
    void signal(int sig);
    // SIGTERM, up to `grace` for the exit, then SIGKILL. Returns the wait status.
    int stop(Millis grace = 3s);

private:
    bool reap(bool block);

    pid_t pid_ = -1;
    std::optional<int> status_;
};

// "exited 0", "killed by signal 9", ... for messages.
std::string describe_status(int status);
bool exited_with(std::optional<int> status, int code);

// Processes whose parent is `parent` (from /proc/*/stat), zombies included or not.
enum class Zombies { include, exclude };
std::vector<pid_t> child_pids(pid_t parent, Zombies zombies = Zombies::include);
// The first live child of `parent` whose comm (ps's name) is `name`, or -1.
pid_t child_named(pid_t parent, const std::string& name);

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

std::string read_file(const std::string& path);
// A field of /proc/PID/status in KiB ("VmRSS", "VmSize"); -1 when the
// process or the field is gone.
long proc_status_kib(pid_t pid, const std::string& field);

// The sanitizer build (scripts/test stage 2). ASan keeps freed memory in
// quarantine and reserves terabytes of address space, so the tests of memory
// bounds (RSS, RLIMIT_AS) are meaningful in the normal build only.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
// First statement of such a test: ends it with a warning in the sanitizer
// build (which still runs every other test).
#define KVTEST_MEASURES_MEMORY()                                                                                       \
    do {                                                                                                               \
        if (kvtest::kSanitizerBuild) {                                                                                 \
            WARN("skipped in the sanitizer build: it measures memory (tests/support/process.h)");                      \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)
void write_file(const std::string& path, std::string_view text);

// Sets the soft RLIMIT_NOFILE to the hard limit (hundreds of sessions need it).
void raise_fd_limit();

}  // namespace kvtest
