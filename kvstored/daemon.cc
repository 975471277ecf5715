// daemon.cc: see daemon.h. Signals arrive through a signalfd so that they are
// ordinary events in the loop, never handlers racing with it.
#include "daemon.h"

#include <grp.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <optional>

#include "database_lock.h"
#include "log.h"
#include "version.h"

namespace kv {
namespace {

sigset_t handled_signals()
{
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&set, sig);
    return set;
}

// Blocked in every thread (threads inherit the mask, so this must happen before
// the database writer starts); they are read from the signalfd instead.
void block_handled_signals()
{
    sigset_t set = handled_signals();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

class SignalWatcher : public EventLoop::Watcher {
public:
    SignalWatcher(EventLoop& loop, Server& server) : loop_(loop), server_(server)
    {
        sigset_t set = handled_signals();
        fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
        if (!fd_)
            throw std::runtime_error(log::errno_text("signalfd"));
        loop_.watch(fd_.get(), EPOLLIN, this);
    }
    ~SignalWatcher() override { loop_.unwatch(fd_.get()); }

    void on_ready(uint32_t) override
    {
        signalfd_siginfo info;
        while (::read(fd_.get(), &info, sizeof info) == sizeof info) {
            int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGHUP) {
                // Reads the users file on this thread: a small file, and
                // loading never hashes (users.h), so it takes microseconds.
                LOG_INFO("SIGHUP from pid %u", info.ssi_pid);
                server_.reload_users();
                continue;
            }
            LOG_INFO("%s from pid %u", strsignal(sig), info.ssi_pid);
            server_.begin_shutdown("kvstored is shutting down");
        }
    }

private:
    EventLoop& loop_;
    Server& server_;
    UniqueFd fd_;
};

// A session holds two descriptors here (the client's socket, handed off,
// and kvsvc's link; one with --no-handoff): take all the kernel allows us.
// Returns the limit now in effect (0 when unknown).
rlim_t raise_fd_limit()
{
    rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim = raised;
    }
    return lim.rlim_cur;
}

// How many sessions the descriptor limit leaves room for: two descriptors
// each, past kFdsOwn of the daemon's own (listeners, epoll, timers, database,
// log, with room to spare).
unsigned long long sessions_room(rlim_t limit)
{
    constexpr rlim_t kFdsOwn = 32;
    if (limit == RLIM_INFINITY)
        return ~0ULL;
    return limit > kFdsOwn ? static_cast<unsigned long long>((limit - kFdsOwn) / 2) : 0;
}

// Warns when the limit leaves room for fewer sessions than the 1000 the
// shipped front ends admit (xinetd.d/kvstore instances, kvsvc.socket
// MaxConnections): past it, new sessions get "ERR unavailable"
// (docs/operations.md, "Many sessions").
void warn_if_few_fds(rlim_t limit)
{
    constexpr unsigned long long kShippedSessions = 1000;
    if (limit == 0 || sessions_room(limit) >= kShippedSessions)
        return;
    LOG_WARN("descriptor limit %llu leaves room for about %llu sessions (two descriptors each), fewer than the %llu "
             "the shipped xinetd and systemd front ends admit: raise it (LimitNOFILE=, ulimit -Hn; "
             "docs/operations.md, \"Many sessions\")",
             static_cast<unsigned long long>(limit), sessions_room(limit), kShippedSessions);
}

// Root is allowed (tests and the demo's fallback run so), but as a mistake it
// breaks things later and far away, so say what and why at start
// (docs/operations.md, "Accounts": kvstored runs as user kvstore; "Without
// systemd": how to start it so by hand).
void warn_if_root(const ServerConfig& config)
{
    if (::geteuid() != 0)
        return;
    LOG_WARN("running as root; the packaged kvstored runs as user kvstore (systemctl start kvstored, or setpriv "
             "as in docs/operations.md, \"Without systemd\"): a database or socket directory created now belongs to "
             "root, and a kvstored run as kvstore cannot use it later");
    if (config.service_group)
        return;
    const group* g = ::getgrgid(::getegid());
    std::string name = g ? g->gr_name : "gid " + std::to_string(::getegid());
    LOG_WARN("as root without --service-group, %s admits only root and group %s: every kvsvc run as another "
             "user (kvsvc, as packaged) gets 'Permission denied'; pass --service-group kvsvc, or run kvstored "
             "as kvstore",
             config.socket_path.c_str(), name.c_str());
}

}  // namespace

int run_daemon(const ServerConfig& config)
{
    // A kvsvc that vanishes mid-reply must cost us an EPIPE, not the process.
    ::signal(SIGPIPE, SIG_IGN);
    block_handled_signals();
    rlim_t fd_limit = raise_fd_limit();
    warn_if_root(config);
    warn_if_few_fds(fd_limit);
    try {
        // Before anything is loaded or bound, and released only after the
        // last commit (it outlives the server): one database, one daemon.
        // Only SQLite needs it; memory has no file and etcd is shared by design.
        std::optional<DatabaseLock> db_lock;
        if (config.persist)
            db_lock.emplace(config.persist->path);
        EventLoop loop;
        Server server(loop, config);
        SignalWatcher signals(loop, server);
        if (config.users)
            LOG_INFO("users loaded from %s: %zu users", config.users_path.c_str(), config.users->size());
        LOG_INFO("kvstored %s ready on %s (capacity %zu entries, values up to %zu bytes, descriptors for about %llu "
                 "sessions)",
                 KVSTORE_VERSION, config.socket_path.c_str(), config.capacity, config.max_value,
                 sessions_room(fd_limit));
        // Type=notify: the socket listens and the database is loaded.
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu entries on %s", server.db().store().size(),
                   config.socket_path.c_str());
        loop.run();
        LOG_INFO("stopped");
        return 0;
    } catch (const std::exception& e) {
        LOG_ERR("%s", e.what());
        return 1;
    }
}

}  // namespace kv
