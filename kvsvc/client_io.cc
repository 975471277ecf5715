// client_io.cc: see client_io.h.
#include "client_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>

namespace kv {
namespace {

// stdout's file status flags before make_stdout_nonblocking(), or -1.
int saved_stdout_flags = -1;
void (*reset_hook)() = nullptr;

}  // namespace

void make_stdout_nonblocking()
{
    int flags = ::fcntl(STDOUT_FILENO, F_GETFL);
    if (flags < 0 || (flags & O_NONBLOCK))
        return;
    if (::fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) == 0 && saved_stdout_flags < 0) {
        saved_stdout_flags = flags;
        std::atexit(restore_stdout_flags);
    }
}

void restore_stdout_flags()
{
    if (saved_stdout_flags >= 0)
        ::fcntl(STDOUT_FILENO, F_SETFL, saved_stdout_flags);
    saved_stdout_flags = -1;
}

Stdio inspect_stdio()
{
    struct stat in, out;
    Stdio s;
    s.stdout_is_socket = ::fstat(STDOUT_FILENO, &out) == 0 && S_ISSOCK(out.st_mode);
    s.one_socket
        = s.stdout_is_socket && ::fstat(STDIN_FILENO, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino;
    return s;
}

void reset_client_connection(bool stdout_is_socket, const std::string& client_address, const std::string& why)
{
    const std::string& who = client_address.empty() ? std::string("local") : client_address;
    syslog(LOG_WARNING, "client %s: %s; connection reset", who.c_str(), why.c_str());
    if (reset_hook)
        reset_hook();
    restore_stdout_flags();
    if (stdout_is_socket) {
        const struct linger reset_on_close = {1, 0};
        ::setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    }
    ::close(STDIN_FILENO);
    ::close(STDOUT_FILENO);
    ::close(STDERR_FILENO);
}

void set_client_reset_hook(void (*hook)())
{
    reset_hook = hook;
}

void linger_client(bool stdout_is_socket, std::chrono::steady_clock::time_point deadline)
{
    if (!stdout_is_socket || ::shutdown(STDOUT_FILENO, SHUT_WR) < 0)
        return;
    char discard[4096];
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
            return;
        if (::read(STDIN_FILENO, discard, sizeof discard) <= 0)
            return;
    }
}

}  // namespace kv
