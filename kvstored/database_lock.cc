// database_lock.cc: see database_lock.h.
#include "database_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "log.h"

namespace kv {
namespace {

// An exclusive lock on the whole file; 0 or -1 with errno.
int lock_whole_file(int fd)
{
    struct flock fl { };
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;  // l_start 0, l_len 0: from the start to any end
    return ::fcntl(fd, F_OFD_SETLK, &fl);
}

// The pid written in the lock file open as `fd`, or 0 when it holds none. The
// holder writes it just after it locks, so an empty file is read again a few
// times (up to 100 ms) before the pid is given up as unknown.
long read_holder_pid(int fd)
{
    for (int attempt = 0; attempt < 10; ++attempt) {
        char buf[32];
        ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            long pid = 0;
            auto [end, ec] = std::from_chars(buf, buf + n, pid);
            return ec == std::errc{} && pid > 0 && (end == buf + n || *end == '\n') ? pid : 0;
        }
        if (n < 0)
            return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

std::string in_use_error(const std::string& db_path, const std::string& lock_path, long pid)
{
    std::string who = pid > 0 ? "kvstored pid " + std::to_string(pid) : "another process (its pid is unknown)";
    return "lock " + lock_path + ": database " + db_path + " is in use by " + who
        + " (stop that kvstored first, or give this one another --db)";
}

// Replaces the file's contents with "<pid>\n". Only the message of a refused
// second daemon depends on it, so a failure is a warning, not a refusal.
void write_pid(int fd, const std::string& lock_path)
{
    std::string text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        LOG_WARN("%s", log::errno_text("write pid to " + lock_path).c_str());
}

}  // namespace

std::string DatabaseLock::path_for(const std::string& db_path)
{
    std::error_code ec;
    std::filesystem::path resolved = std::filesystem::weakly_canonical(db_path, ec);
    // Unresolvable (a directory we may not search): the path as given; opening
    // the lock file then fails with the reason.
    return (ec ? std::filesystem::path(db_path) : resolved).string() + ".lock";
}

DatabaseLock::DatabaseLock(const std::string& db_path) : path_(path_for(db_path))
{
    // O_CLOEXEC: a child must not inherit the descriptor, hence the lock.
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644));
    if (!fd_)
        throw std::runtime_error(log::errno_text("open lock file " + path_));
    if (lock_whole_file(fd_.get()) != 0) {
        if (errno != EAGAIN && errno != EACCES)
            throw std::runtime_error(log::errno_text("lock " + path_));
        throw std::runtime_error(in_use_error(db_path, path_, read_holder_pid(fd_.get())));
    }
    write_pid(fd_.get(), path_);
}

}  // namespace kv
