// server.cc: see server.h.
#include "server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "client.h"
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

// Runs `fn` whenever an fd becomes readable (used for the writer's eventfd).
class FdWatcher : public EventLoop::Watcher {
public:
    FdWatcher(EventLoop& loop, int fd, std::function<void()> fn) : loop_(loop), fd_(fd), fn_(std::move(fn))
    {
        loop_.watch(fd_, EPOLLIN, this);
    }
    ~FdWatcher() override { loop_.unwatch(fd_); }
    void on_ready(uint32_t) override { fn_(); }

private:
    EventLoop& loop_;
    int fd_;
    std::function<void()> fn_;
};

}  // namespace

Server::Server(EventLoop& loop, const ServerConfig& config)
    : loop_(loop), config_(config), limits_{config.max_value}, db_(config.capacity, config.persist)
{
    if (Persistence* p = db_.persistence())
        durable_watcher_ = std::make_unique<FdWatcher>(loop_, p->notify_fd(), [this, p] {
            p->drain();
            release_durable_replies();
        });
    sockaddr_un addr = unix_address(config_.socket_path);
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listener_)
        fail("socket");
    bind_or_replace_stale(listener_.get(), addr, config_.socket_path);
    struct stat st;
    if (::stat(config_.socket_path.c_str(), &st) == 0) {
        socket_dev_ = st.st_dev;
        socket_ino_ = st.st_ino;
    }
    // Owner and group may connect (kvsvc runs in the service's group); set the
    // mode explicitly rather than trusting the umask.
    if (::chmod(config_.socket_path.c_str(), 0660) < 0)
        fail("chmod " + config_.socket_path);
    if (::listen(listener_.get(), SOMAXCONN) < 0)
        fail("listen " + config_.socket_path);
    loop_.watch(listener_.get(), EPOLLIN, this);
}

Server::~Server()
{
    clients_.clear();
    close_listener();
}

void Server::release_durable_replies()
{
    for (auto& [id, client] : clients_)
        client->release_durable();
}

void Server::on_ready(uint32_t)
{
    accept_clients();
}

void Server::accept_clients()
{
    for (;;) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                LOG_WARN("%s; not accepting for 100 ms", log::errno_text("accept").c_str());
                pause_accepting();
                return;
            }
            LOG_ERR("%s", log::errno_text("accept").c_str());
            return;
        }
        ucred peer{};
        socklen_t len = sizeof peer;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
            peer = ucred{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
        uint64_t id = next_id_++;
        clients_.emplace(id, std::make_unique<Client>(*this, std::move(fd), id, peer));
    }
}

// Out of descriptors: stop watching the listener for a moment instead of
// spinning on a socket that stays readable (tmux's server_accept does the same).
void Server::pause_accepting()
{
    loop_.unwatch(listener_.get());
    loop_.add_timer(std::chrono::milliseconds(100), [this] {
        if (listener_)
            loop_.watch(listener_.get(), EPOLLIN, this);
    });
}

void Server::on_attached(Client&)
{
    ++stats_.connections_total;
    ++stats_.connections_current;
}

void Server::remove(Client& client, bool was_attached)
{
    if (was_attached)
        --stats_.connections_current;
    uint64_t id = client.id();
    // Freed after the current batch: the caller is still inside the Client.
    loop_.defer([this, id] {
        clients_.erase(id);
        if (shutting_down_ && clients_.empty()) {
            LOG_INFO("every client has hung up; exiting");
            loop_.stop();
        }
    });
}

void Server::begin_shutdown(const std::string& message)
{
    if (shutting_down_)
        return;
    shutting_down_ = true;
    sd_notify(0, "STOPPING=1");
    close_listener();
    // Everything acknowledged or about to be must be on disk before anyone is
    // told goodbye.
    if (Persistence* p = db_.persistence()) {
        if (p->flush(std::chrono::seconds(10)))
            LOG_INFO("database %s is up to date", p->config().path.c_str());
        else
            LOG_ERR("database %s: pending changes not committed: %s", p->config().path.c_str(), p->failure().c_str());
    }
    LOG_INFO("shutting down: notifying %zu client(s)", clients_.size());
    for (auto& [id, client] : clients_)
        client->notify_shutdown(message);
    if (clients_.empty()) {
        loop_.stop();
        return;
    }
    loop_.add_timer(config_.shutdown_timeout, [this] {
        LOG_WARN("shutdown deadline passed with %zu client(s) still attached; closing them", clients_.size());
        loop_.stop();
    });
}

void Server::close_listener()
{
    if (!listener_)
        return;
    loop_.unwatch(listener_.get());
    listener_.reset();
    struct stat st;
    if (::lstat(config_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_)
        ::unlink(config_.socket_path.c_str());
}

}  // namespace kv
