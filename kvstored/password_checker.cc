// password_checker.cc: see password_checker.h.
#include "password_checker.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

extern char** environ;

namespace kv::password_checker {

namespace {

// Reads exactly `size` bytes. 1: read; 0: the input ended before the first
// byte; -1: an error, or an end within.
int read_full(int fd, void* buf, size_t size)
{
    auto* p = static_cast<char*>(buf);
    size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, p + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 && got == 0 ? 0 : -1;
        got += static_cast<size_t>(n);
    }
    return 1;
}

// Only what is left open on purpose: a descriptor of kvstored's (a client's
// socket, the database) held by a helper would outlive kvstored's close.
void close_inherited()
{
    if (::close_range(3, ~0U, 0) == 0)
        return;
    for (long fd = 3, max = ::sysconf(_SC_OPEN_MAX); fd < max; ++fd)
        ::close(static_cast<int>(fd));
}

std::runtime_error failure(const std::string& call, int err)
{
    return std::runtime_error("password checker: " + call + ": " + std::strerror(err));
}

}  // namespace

int serve(const char* name)
{
    ::prctl(PR_SET_NAME, name);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // No core file: it holds a password while it checks.
    ::prctl(PR_SET_DUMPABLE, 0);
    close_inherited();
    char data[users::kMaxHash + users::kMaxPassword];
    for (;;) {
        RequestHeader header;
        int r = read_full(STDIN_FILENO, &header, sizeof header);
        if (r == 0)
            return 0;  // kvstored closed our stdin: stopping
        if (r < 0 || header.hash_size > users::kMaxHash || header.password_size > users::kMaxPassword
            || read_full(STDIN_FILENO, data, header.hash_size + header.password_size) != 1) {
            std::fprintf(stderr, "%s: a malformed or cut request from kvstored; exiting\n", name);
            return 1;
        }
        std::string hash(data, header.hash_size);
        bool match = users::verify_password(hash, std::string_view(data + header.hash_size, header.password_size));
        ::explicit_bzero(data, sizeof data);
        char answer = match ? kMatch : kNoMatch;
        ssize_t n;
        while ((n = ::write(STDOUT_FILENO, &answer, 1)) < 0 && errno == EINTR) { }
        if (n != 1)
            return 1;  // kvstored is gone
    }
}

Process::Process(const char* name)
{
    reap_dying();
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) < 0)
        throw failure("pipe2", errno);
    UniqueFd to_read(to[0]), to_write(to[1]);
    if (::pipe2(from, O_CLOEXEC | O_NONBLOCK) < 0)
        throw failure("pipe2", errno);
    UniqueFd from_read(from[0]), from_write(from[1]);
    // Non-blocking on kvstored's side only: the helper's reads block.
    if (::fcntl(to_write.get(), F_SETFL, O_NONBLOCK) < 0 || ::fcntl(from_write.get(), F_SETFL, 0) < 0)
        throw failure("fcntl", errno);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_adddup2(&actions, to_read.get(), STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, from_write.get(), STDOUT_FILENO);
    // kvstored blocks the signals it reads from a signalfd and ignores
    // SIGPIPE: a helper starts with neither.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &all);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char* argv[] = {const_cast<char*>(name), const_cast<char*>(kArg), nullptr};
    int err = ::posix_spawn(&pid_, "/proc/self/exe", &actions, &attr, argv, environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (err != 0)
        throw failure("posix_spawn /proc/self/exe", err);
    to_ = std::move(to_write);
    from_ = std::move(from_read);
}

Process::~Process()
{
    end();
}

bool Process::send(std::string_view hash, std::string_view password)
{
    char buf[PIPE_BUF];
    RequestHeader header{static_cast<uint32_t>(hash.size()), static_cast<uint32_t>(password.size())};
    if (hash.size() > users::kMaxHash || password.size() > users::kMaxPassword)
        return false;  // the caller's bug: AuthWorker keeps to the bounds
    std::memcpy(buf, &header, sizeof header);
    std::memcpy(buf + sizeof header, hash.data(), hash.size());
    std::memcpy(buf + sizeof header + hash.size(), password.data(), password.size());
    size_t size = sizeof header + hash.size() + password.size();
    ssize_t n;
    while ((n = ::write(to_.get(), buf, size)) < 0 && errno == EINTR) { }
    ::explicit_bzero(buf, size);
    return n == static_cast<ssize_t>(size);
}

Process::Answer Process::read_answer()
{
    char answer;
    ssize_t n;
    while ((n = ::read(from_.get(), &answer, 1)) < 0 && errno == EINTR) { }
    if (n < 0 && errno == EAGAIN)
        return Answer::NotYet;
    if (n != 1 || (answer != kMatch && answer != kNoMatch))
        return Answer::Ended;
    return answer == kMatch ? Answer::Match : Answer::NoMatch;
}

std::string Process::end()
{
    pid_t pid = std::exchange(pid_, 0);
    if (pid <= 0)
        return "already ended";
    ::kill(pid, SIGKILL);  // a helper that has exited already keeps its own status
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) { }
    if (r == 0) {
        // Still exiting: its exit runs at its own priority, SCHED_IDLE for
        // the checker, so on a busy machine it can take seconds. Never
        // waited for on the loop: reaped by a later reap_dying(), or by
        // init once kvstored has exited.
        dying().push_back(pid);
        return "still exiting";
    }
    if (r < 0)
        return std::string("waitpid: ") + std::strerror(errno);
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status));
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

std::vector<pid_t>& Process::dying()
{
    static std::vector<pid_t> pids;
    return pids;
}

void Process::reap_dying()
{
    std::erase_if(dying(), [](pid_t pid) {
        int status;
        return ::waitpid(pid, &status, WNOHANG) != 0;  // reaped, or not ours any more
    });
}

}  // namespace kv::password_checker
