// cli.cc: see cli.h.
#include "cli.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace kvtest {
namespace {

// An anonymous file holding `text`, its offset at 0. Owned by the caller.
int anonymous_file(const char* name, std::string_view text = {})
{
    int fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ::close(fd);
            throw std::runtime_error(std::string("write to memfd: ") + std::strerror(errno));
        }
        text.remove_prefix(static_cast<size_t>(n));
    }
    ::lseek(fd, 0, SEEK_SET);
    return fd;
}

std::string contents(int fd)
{
    std::string text;
    char buf[64 * 1024];
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

// Closes the descriptors it holds, whatever happens.
struct Fds {
    int in = -1, out = -1, err = -1;
    ~Fds()
    {
        for (int fd : {in, out, err})
            if (fd >= 0)
                ::close(fd);
    }
};

// `bytes` with control bytes other than LF shown as \xHH, for messages.
std::string visible(const std::string& bytes)
{
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (char ch : bytes) {
        unsigned char c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\n') || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

}  // namespace

std::string CliResult::describe() const
{
    return visible(command) + "\n  -> " + status + "\n  stdout: [" + visible(out) + "]\n  stderr: [" + visible(err)
        + "]";
}

CliResult run_program(const std::string& program, const std::vector<std::string>& args, std::string_view stdin_text,
                      Millis timeout)
{
    CliResult r;
    r.command = program;
    for (const auto& a : args)
        r.command += " '" + a + "'";
    Fds fds;
    fds.in = anonymous_file("stdin", stdin_text);
    fds.out = anonymous_file("stdout");
    fds.err = anonymous_file("stderr");
    Process p(program, args, Stdio{fds.in, fds.out, fds.err});
    std::optional<int> status = p.wait_exit(timeout);
    if (!status) {
        p.stop(1s);
        r.status = "timed out after " + std::to_string(timeout.count()) + " ms";
    } else {
        r.status = describe_status(*status);
        if (WIFEXITED(*status))
            r.code = WEXITSTATUS(*status);
    }
    r.out = contents(fds.out);
    r.err = contents(fds.err);
    return r;
}

CliResult run_kvstored(const std::vector<std::string>& args, std::string_view stdin_text, Millis timeout)
{
    return run_program(kvstored_bin(), args, stdin_text, timeout);
}

KvsvcSession spawn_on_socketpair(const std::string& program, const std::vector<std::string>& args)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    LineClient client(sv[0]);
    KvsvcSession s;
    try {
        s.process = Process(program, args, Stdio{sv[1], sv[1], sv[1]});
    } catch (...) {
        ::close(sv[1]);
        throw;
    }
    ::close(sv[1]);
    s.client = std::move(client);
    return s;
}

}  // namespace kvtest
