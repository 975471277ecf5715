// process.cc: see process.h.
#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace kvtest {
namespace {

using Clock = std::chrono::steady_clock;

// posix_spawn file actions that give the child `fd` (or /dev/null) as `target`.
// (glibc clears FD_CLOEXEC when fd == target, as POSIX asks.)
void add_stdio(posix_spawn_file_actions_t& fa, int fd, int target)
{
    if (fd < 0)
        posix_spawn_file_actions_addopen(&fa, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    else
        posix_spawn_file_actions_adddup2(&fa, fd, target);
}

// Waits for `pid` to become reapable, up to `timeout`, without busy sleeping
// when the kernel offers pidfds.
void wait_reapable(pid_t pid, Millis timeout)
{
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(timeout.count()));
        ::close(pidfd);
        return;
    }
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
            return;
        std::this_thread::sleep_for(2ms);
    }
}

}  // namespace

Process::Process(const std::string& program, const std::vector<std::string>& args, Stdio stdio)
{
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    // Our descriptors are all >= 3 (the test main keeps 0-2 open), so the order is safe.
    add_stdio(fa, stdio.in, 0);
    add_stdio(fa, stdio.out, 1);
    add_stdio(fa, stdio.err, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    int rc = ::posix_spawn(&pid_, program.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
    }
}

Process::~Process()
{
    if (pid_ > 0 && !status_)
        stop();
}

Process::Process(Process&& other) noexcept : pid_(other.pid_), status_(other.status_)
{
    other.pid_ = -1;
}

Process& Process::operator=(Process&& other) noexcept
{
    if (this != &other) {
        if (pid_ > 0 && !status_)
            stop();
        pid_ = other.pid_;
        status_ = other.status_;
        other.pid_ = -1;
    }
    return *this;
}

bool Process::reap(bool block)
{
    if (pid_ <= 0 || status_)
        return true;
    int status = 0;
    pid_t r;
    do
        r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid_)
        status_ = status;
    return status_.has_value();
}

bool Process::running()
{
    return pid_ > 0 && !reap(false);
}

std::optional<int> Process::wait_exit(Millis timeout)
{
    if (!running())
        return status_;
    wait_reapable(pid_, timeout);
    reap(false);
    return status_;
}

void Process::signal(int sig)
{
    if (running())
        ::kill(pid_, sig);
}

int Process::stop(Millis grace)
{
    signal(SIGTERM);
    signal(SIGCONT);  // a stopped process must be able to act on the SIGTERM
    if (!wait_exit(grace)) {
        signal(SIGKILL);
        reap(true);
    }
    return status_.value_or(-1);
}

std::string describe_status(int status)
{
    if (WIFEXITED(status))
        return "exited " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

bool exited_with(std::optional<int> status, int code)
{
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

TempDir::TempDir()
{
    char tmpl[] = "/tmp/kvtest.XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path_ = tmpl;
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

namespace {

// State and parent of process `pid` (a name in /proc), from "pid (comm) state
// ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
std::optional<std::pair<char, long>> state_and_parent(const std::string& pid)
{
    std::string stat = read_file("/proc/" + pid + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos)
        return std::nullopt;
    std::istringstream rest(stat.substr(paren + 1));
    char state = 0;
    long ppid = 0;
    if (!(rest >> state >> ppid))
        return std::nullopt;
    return std::pair{state, ppid};
}

}  // namespace

std::vector<pid_t> child_pids(pid_t parent, Zombies zombies)
{
    std::vector<pid_t> children;
    DIR* proc = ::opendir("/proc");
    if (!proc)
        return children;
    while (const dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0')
            continue;
        auto stat = state_and_parent(e->d_name);
        if (stat && stat->second == parent && (zombies == Zombies::include || stat->first != 'Z'))
            children.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return children;
}

pid_t child_named(pid_t parent, const std::string& name)
{
    for (pid_t pid : child_pids(parent, Zombies::exclude)) {
        if (read_file("/proc/" + std::to_string(pid) + "/comm") == name + "\n")
            return pid;
    }
    return -1;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

long proc_status_kib(pid_t pid, const std::string& field)
{
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    size_t at = status.find("\n" + field + ":");
    return at == std::string::npos ? -1 : std::stol(status.substr(at + field.size() + 2));
}

void write_file(const std::string& path, std::string_view text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

void raise_fd_limit()
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace kvtest
