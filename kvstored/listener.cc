// listener.cc: see listener.h.
#include "listener.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "log.h"

namespace kv {
namespace {

[[noreturn]] void fail(const std::string& what)
{
    throw std::runtime_error(log::errno_text(what));
}

sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path '" + path + "' must be 1 to " + std::to_string(sizeof addr.sun_path - 1)
                                 + " bytes long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// The directory `path` is in: "." for a bare name, "/" for one in the root.
std::string directory_of(const std::string& path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string user_text(uid_t uid)
{
    const passwd* pw = ::getpwuid(uid);
    return pw ? pw->pw_name : "uid " + std::to_string(uid);
}

std::string group_text(gid_t gid)
{
    const group* gr = ::getgrgid(gid);
    return gr ? gr->gr_name : "gid " + std::to_string(gid);
}

// What bind(2)'s EACCES on `path` means: kvstored's user may not create a
// file in the socket's directory (typically one made by a kvstored run as
// root). The fix is to change the directory or the user, so name both.
std::string bind_denied(const std::string& path)
{
    std::string dir = directory_of(path);
    std::string runs_as = "kvstored runs as user " + user_text(::geteuid()) + ", group " + group_text(::getegid());
    std::string what = "bind " + path + ": " + std::strerror(EACCES);
    struct stat st;
    if (::stat(dir.c_str(), &st) < 0)
        return what + " (" + log::errno_text("stat " + dir) + "; " + runs_as + ")";
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return what + " (directory " + dir + ": owner " + user_text(st.st_uid) + ", group " + group_text(st.st_gid)
        + ", mode " + mode + "; " + runs_as + ")";
}

// The socket's directory, created with an explicit mode when missing (as under
// /run without systemd's RuntimeDirectory=). Only the last component.
void ensure_directory(const std::string& path)
{
    std::string dir = directory_of(path);
    if (dir == "." || dir == "/")
        return;
    if (::mkdir(dir.c_str(), 0755) == 0) {
        ::chmod(dir.c_str(), 0755);
        LOG_INFO("created directory %s", dir.c_str());
    }
}

// True when something accepts connections at `addr`: another kvstored.
bool someone_listens(const sockaddr_un& addr)
{
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

// Binds, replacing a stale socket file left by a kvstored that died, but never
// a live one and never a file that is not a socket.
void bind_or_replace_stale(int fd, const sockaddr_un& addr, const std::string& path)
{
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
        return;
    if (errno == EACCES)
        throw std::runtime_error(bind_denied(path));
    if (errno != EADDRINUSE)
        fail("bind " + path);
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        throw std::runtime_error("bind " + path + ": file exists and is not a socket; refusing to replace it");
    if (someone_listens(addr))
        throw std::runtime_error("bind " + path + ": another kvstored is already listening there");
    LOG_INFO("removing stale socket %s", path.c_str());
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        fail("unlink stale socket " + path);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
        fail("bind " + path);
}

}  // namespace

Listener::Listener(EventLoop& loop, Options options, OnAccept on_accept)
    : loop_(loop), options_(std::move(options)), on_accept_(std::move(on_accept))
{
    const std::string& path = options_.path;
    sockaddr_un addr = unix_address(path);
    ensure_directory(path);
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_)
        fail("socket");
    bind_or_replace_stale(fd_.get(), addr, path);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        dev_ = st.st_dev;
        ino_ = st.st_ino;
    }
    // Without privileges, chown to a group works only for a group kvstored's
    // user is in (kvstored.service: SupplementaryGroups=).
    if (options_.group != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), options_.group) < 0) {
        int err = errno;
        throw std::runtime_error("chown " + path + " to group " + std::to_string(options_.group) + ": "
                                 + std::strerror(err)
                                 + (err == EPERM ? " (kvstored's user must be a member of that group)" : ""));
    }
    if (::chmod(path.c_str(), options_.mode) < 0)
        fail("chmod " + path);
    if (::listen(fd_.get(), SOMAXCONN) < 0)
        fail("listen " + path);
    loop_.watch(fd_.get(), EPOLLIN, this);
}

void Listener::on_ready(uint32_t)
{
    for (;;) {
        UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                LOG_WARN("%s; not accepting for 100 ms", log::errno_text("accept on " + options_.path).c_str());
                pause_accepting();
                return;
            }
            LOG_ERR("%s", log::errno_text("accept on " + options_.path).c_str());
            return;
        }
        ucred peer{};
        socklen_t len = sizeof peer;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
            peer = ucred{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
        on_accept_(std::move(fd), peer);
    }
}

// Out of descriptors: stop watching for a moment instead of spinning on a
// socket that stays readable (tmux's server_accept does the same).
void Listener::pause_accepting()
{
    loop_.unwatch(fd_.get());
    loop_.add_timer(std::chrono::milliseconds(100), [this] {
        if (fd_)
            loop_.watch(fd_.get(), EPOLLIN, this);
    });
}

void Listener::close()
{
    if (!fd_)
        return;
    loop_.unwatch(fd_.get());
    fd_.reset();
    struct stat st;
    if (::lstat(options_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
        ::unlink(options_.path.c_str());
}

}  // namespace kv
