// server.cc: see server.h.
#include "server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <grp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>
#include <utility>

#include "awaited_command.h"
#include "client.h"
#include "log.h"
#include "secret.h"

namespace kv {
namespace {

// A kicked client has this long to leave; then its connection is cut, and the
// admin's `kick` says which of the two happened.
constexpr std::chrono::seconds kKickTimeout{5};

// The active expiry cycle (Database::expire_cycle): each run reclaims
// expired entries for at most kExpireBudget, so no client waits longer than
// that behind it. While a run leaves expired entries behind the next comes
// kExpireBusy later: at most 1 ms in 5, a fifth of one core, reclaims a
// million entries that expire together within a few seconds (bench/README.md,
// "Expiry"). Otherwise it sleeps until the next deadline, but at least
// kExpireMin (entries expiring within it wait for the next run; commands
// never see them meanwhile) and at most kExpireMax (an idle daemon wakes once
// a second; entries a command reclaimed leave the database then).
constexpr std::chrono::microseconds kExpireBudget{1000};
constexpr std::chrono::milliseconds kExpireBusy{5};
constexpr std::chrono::milliseconds kExpireMin{100};
constexpr std::chrono::milliseconds kExpireMax{1000};

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

// The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13), so that a
// member of a group by /etc/group gets in, not only one whose primary group
// it is. Empty when the kernel cannot tell: then only the primary group counts.
std::vector<gid_t> peer_groups(int fd)
{
    std::vector<gid_t> groups(32);
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
            groups.resize(len / sizeof(gid_t));
            return groups;
        }
        if (errno != ERANGE)
            return {};
        groups.resize(len / sizeof(gid_t) + 1);  // ERANGE: len is the size needed
    }
    return {};
}

bool is_member(const ucred& peer, const std::vector<gid_t>& groups, gid_t group)
{
    return peer.gid == group || std::find(groups.begin(), groups.end(), group) != groups.end();
}

// "group kvsvc (gid 998)" for messages.
std::string group_text(gid_t gid)
{
    const struct group* g = ::getgrgid(gid);
    return "group " + (g ? std::string(g->gr_name) + " (gid " + std::to_string(gid) + ")" : std::to_string(gid));
}

// The store, where the config says it lives.
Database open_database(const ServerConfig& config)
{
    if (config.etcd)
        return Database(config.capacity, *config.etcd);
    return Database(config.capacity, config.persist, config.when_full);
}

}  // namespace

Server::Server(EventLoop& loop, const ServerConfig& config)
    : loop_(loop),
      config_(config),
      limits_{config.max_value},
      db_(open_database(config)),
      own_uid_(::geteuid()),
      service_gid_(config.service_group.value_or(::getegid())),
      users_(config.users),
      auth_throttle_(config.auth_failures_per_address)
{
    config_.users.reset();  // users_ is the one in force: reloads replace it
    db_.set_deferrer([this](std::function<void()> fn) { loop_.defer(std::move(fn)); });
    if (db_.backend_notify_fd() >= 0)
        durable_watcher_ = std::make_unique<FdWatcher>(loop_, db_.backend_notify_fd(), [this] {
            db_.on_backend_notify();
            release_durable_replies();
        });
    // One group for both would let every kvsvc administer kvstored.
    if (config_.admin_group && *config_.admin_group == service_gid_)
        throw std::runtime_error("the admin group and the service group are both " + group_text(service_gid_)
                                 + ": kvsvc would be let onto the admin socket; use a separate admin group");
    // kvsvc runs in the service group: owner and group may connect.
    gid_t group = config_.service_group ? *config_.service_group : static_cast<gid_t>(-1);
    service_ = std::make_unique<Listener>(
        loop_, Listener::Options{config_.socket_path, 0660, group},
        [this](UniqueFd fd, const ucred& peer) { admit(std::move(fd), peer, Client::Role::Service); });
    // The admin group's members may connect; without one, only the owner (and root).
    admin_ = std::make_unique<Listener>(
        loop_,
        Listener::Options{config_.admin_socket_path, mode_t{config_.admin_group ? 0660u : 0600u},
                          config_.admin_group.value_or(static_cast<gid_t>(-1))},
        [this](UniqueFd fd, const ucred& peer) { admit(std::move(fd), peer, Client::Role::Admin); });
    expire_timer_ = loop_.add_timer(kExpireMin, [this] { expire_tick(); });
    if (int64_t at = db_.pending_flush()) {
        LOG_INFO("a delayed flush_all recorded before the restart deletes every entry %s",
                 at <= db_.store().clock().now_ms() ? "now" : "at its time");
        arm_flush(at);
    }
    // The password checkers start now, not with the first check: kvstored
    // does not run, saying why, with a users file and no way to check one.
    if (users_)
        auth_worker();
}

Server::~Server()
{
    loop_.cancel_timer(expire_timer_);
    loop_.cancel_timer(flush_timer_);
    clients_.clear();
}

void Server::expire_tick()
{
    bool more = true;
    try {
        more = db_.expire_cycle(kExpireBudget);
    } catch (const std::bad_alloc&) {
        LOG_WARN("expiry: out of memory; trying again shortly");
    }
    // With etcd a delayed flush_all may come from any host, and be done or
    // cancelled by another: follow the copy. A time still there after its
    // timer ran is armed again: the flush's transaction failed or was
    // refused, or is on its way (a second try is refused by its compare).
    if (db_.replicated()) {
        int64_t at = db_.pending_flush();
        if (at != armed_flush_ || (at != 0 && flush_timer_ == 0))
            arm_flush(at);
    }
    std::chrono::milliseconds delay = kExpireBusy;
    if (!more) {
        const Store& store = db_.store();
        int64_t next = store.next_deadline();
        delay = next == kNoDeadline
            ? kExpireMax
            : std::clamp(std::chrono::milliseconds(next - store.clock().now_ms()), kExpireMin, kExpireMax);
    }
    expire_timer_ = loop_.add_timer(delay, [this] { expire_tick(); });
}

uint64_t Server::flush_at(int64_t unix_ms)
{
    uint64_t ticket = db_.note_flush_at(unix_ms);
    // With etcd the time is armed once the copy holds it (expire_tick), on
    // every host alike.
    if (!db_.replicated())
        arm_flush(unix_ms);
    return ticket;
}

void Server::arm_flush(int64_t unix_ms)
{
    loop_.cancel_timer(flush_timer_);
    flush_timer_ = 0;
    armed_flush_ = unix_ms;
    if (unix_ms == 0)
        return;
    auto delay = std::chrono::milliseconds(std::max<int64_t>(0, unix_ms - db_.store().clock().now_ms()));
    flush_timer_ = loop_.add_timer(delay, [this, unix_ms] { run_flush(unix_ms); });
}

// The delayed flush_all's time has come. It was answered OK when it was
// asked, so it is carried out however long that takes: while the database
// refuses writes it is tried again every second.
void Server::run_flush(int64_t unix_ms)
{
    flush_timer_ = 0;
    // With etcd one host carries it out for all: the expiry host. The others
    // keep it armed until the copy shows it done or cancelled (expire_tick).
    if (db_.replicated() && !db_.backend_status().expiry_leader) {
        flush_timer_ = loop_.add_timer(std::chrono::seconds(1), [this, unix_ms] { run_flush(unix_ms); });
        return;
    }
    if (db_.replicated() && db_.pending_flush() != unix_ms)
        return;  // cancelled or replaced since it was armed: expire_tick follows the copy
    std::string refusal = db_.write_refusal();
    if (!refusal.empty()) {
        LOG_WARN("delayed flush_all: waiting for the database: %s", refusal.c_str());
        flush_timer_ = loop_.add_timer(std::chrono::seconds(1), [this, unix_ms] { run_flush(unix_ms); });
        return;
    }
    size_t entries = db_.store().size();
    try {
        // Nobody waits for the ticket: the flush_all was answered when it
        // was asked. The clear and the cancel are one command: they commit
        // together (etcd) or in order (SQLite).
        run_command(db_, [this, unix_ms] {
            db_.clear();
            return db_.note_flush_done(unix_ms);
        });
    } catch (const std::bad_alloc&) {
        LOG_WARN("delayed flush_all: out of memory; trying again in a second");
        flush_timer_ = loop_.add_timer(std::chrono::seconds(1), [this, unix_ms] { run_flush(unix_ms); });
        return;
    }
    LOG_INFO("delayed flush_all: deleted %zu entries, as a memcached client asked", entries);
}

// "" when `peer` (with supplementary `groups`) may use the socket of `role`,
// else what to tell it. See server.h for who may use which.
std::string Server::refusal(const ucred& peer, const std::vector<gid_t>& groups, Client::Role role) const
{
    if (peer.uid == 0)
        return "";
    std::string allowed = "root";
    if (role == Client::Role::Service) {
        if (peer.uid == own_uid_ || is_member(peer, groups, service_gid_))
            return "";
        allowed += " and uid " + std::to_string(own_uid_) + " and group " + std::to_string(service_gid_);
    } else if (config_.admin_group) {
        // Not kvstored's own uid: see server.h.
        if (is_member(peer, groups, *config_.admin_group))
            return "";
        allowed += " and group " + std::to_string(*config_.admin_group);
    } else {
        if (peer.uid == own_uid_)
            return "";
        allowed += " and uid " + std::to_string(own_uid_);
    }
    return "permission denied: uid " + std::to_string(peer.uid) + " (gid " + std::to_string(peer.gid) + ") may not use "
        + (role == Client::Role::Admin ? config_.admin_socket_path : config_.socket_path) + "; allowed: " + allowed;
}

void Server::admit(UniqueFd fd, const ucred& peer, Client::Role role)
{
    if (std::string why = refusal(peer, peer_groups(fd.get()), role); !why.empty()) {
        LOG_WARN("refused pid %d: %s", peer.pid, why.c_str());
        // The socket buffer of a fresh connection has room for this small frame.
        std::string frame;
        wire::append(frame, wire::Msg::Refused, wire::Notice{why});
        (void)!::send(fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        return;
    }
    uint64_t id = next_id_++;
    clients_.emplace(id, std::make_unique<Client>(*this, std::move(fd), id, peer, role));
}

bool Server::kick(uint64_t id, const std::string& message, uint64_t admin_id)
{
    auto it = clients_.find(id);
    auto admin = clients_.find(admin_id);
    if (it == clients_.end() || !it->second->attached() || (admin_id != 0 && admin == clients_.end()))
        return false;
    if (admin_id != 0)
        LOG_INFO("client %llu kicked by admin %llu (pid %d, uid %u): %s", static_cast<unsigned long long>(id),
                 static_cast<unsigned long long>(admin_id), admin->second->pid(), admin->second->uid(),
                 message.c_str());
    else
        LOG_INFO("client %llu disconnected: %s", static_cast<unsigned long long>(id), message.c_str());
    PendingKick& kick = kicks_[id];
    if (admin_id != 0) {
        admin->second->defer_reply();
        kick.admins.push_back(admin_id);
    }
    if (kick.timer == 0)
        kick.timer = loop_.add_timer(kKickTimeout, [this, id] { on_kick_deadline(id); });
    // Registered first: the client may be gone before this returns.
    it->second->notify_shutdown(message);
    return true;
}

// kKickTimeout (5 s): a kicked client that has not left by then (it does not
// read its output, or its kvsvc does not hang up) is cut.
void Server::on_kick_deadline(uint64_t target)
{
    auto kick = kicks_.find(target);
    if (kick == kicks_.end())
        return;
    kick->second.timer = 0;
    std::string seconds = std::to_string(kKickTimeout.count());
    answer_kick(target, "OK cut: the client did not leave within " + seconds + " s; its connection was reset\n");
    if (auto it = clients_.find(target); it != clients_.end())
        it->second->cut("kicked, and did not leave within " + seconds + " s");
}

// Sends `reply` to every admin waiting on the kick of `target` (later: the
// caller may be inside the kicked client).
void Server::answer_kick(uint64_t target, const std::string& reply)
{
    auto kick = kicks_.find(target);
    if (kick == kicks_.end())
        return;
    if (kick->second.timer)
        loop_.cancel_timer(kick->second.timer);
    std::vector<uint64_t> admins = std::move(kick->second.admins);
    kicks_.erase(kick);
    loop_.defer([this, admins, reply] {
        for (uint64_t admin : admins)
            if (auto it = clients_.find(admin); it != clients_.end())
                it->second->deliver_deferred_reply(reply);
    });
}

void Server::for_each_client(const std::function<void(const Client&)>& fn) const
{
    for (const auto& [id, client] : clients_)
        if (client->attached())
            fn(*client);
}

// The connection counters count kvsvc clients; admin sessions are not traffic.
void Server::on_attached(Client& client)
{
    if (client.role() != Client::Role::Service)
        return;
    ++stats_.connections_total;
    ++stats_.connections_current;
    if (client.protocol_kind() == Client::Protocol::Line)
        ++stats_.line_connections_total;
}

void Server::hold_until_durable(const Client& client)
{
    try {
        durable_waiters_.insert(client.id());
    } catch (const std::bad_alloc&) {
        durable_waiters_lost_ = true;
    }
}

void Server::release_durable_replies()
{
    // Taken out first: a release may run the client's next commands, which
    // hold again (hold_until_durable), or end the client (its removal is
    // deferred: clients_ stays as it is during this loop).
    std::set<uint64_t> waiters;
    waiters.swap(durable_waiters_);
    auto visit = [this](Client& client) {
        client.release_durable();
        if (client.holds_until_durable())
            hold_until_durable(client);
    };
    if (std::exchange(durable_waiters_lost_, false)) {
        for (auto& [id, client] : clients_)
            visit(*client);
        return;
    }
    for (uint64_t id : waiters)
        if (auto it = clients_.find(id); it != clients_.end())
            visit(*it->second);
}

void Server::remove(Client& client, bool was_attached)
{
    if (was_attached && client.role() == Client::Role::Service)
        --stats_.connections_current;
    uint64_t id = client.id();
    db_.load_abort(id);  // a load it staged and did not commit changes nothing
    answer_kick(id, "OK\n");
    // Freed after the current batch: the caller is still inside the Client.
    loop_.defer([this, id] {
        durable_waiters_.erase(id);
        clients_.erase(id);
        if (shutting_down_ && clients_.empty()) {
            LOG_INFO("every client has hung up; exiting");
            loop_.stop();
        }
    });
}

size_t Server::count_role(Client::Role role) const
{
    size_t n = 0;
    for (const auto& [id, client] : clients_)
        n += client->role() == role;
    return n;
}

void Server::wipe_stack_after_turn()
{
    if (stack_wipe_due_)
        return;
    stack_wipe_due_ = true;
    // Deferred work runs from EventLoop::run itself, above every handler's frame.
    loop_.defer([this] {
        stack_wipe_due_ = false;
        wipe_stack_below();
    });
}

AuthWorker& Server::auth_worker()
{
    if (!auth_worker_)
        auth_worker_ = std::make_unique<AuthWorker>(
            loop_, [this](uint64_t id, const std::string& source, users::Verdict verdict) {
                if (source.empty())
                    ;
                else if (verdict == users::Verdict::Unchecked)
                    auth_throttle_.dropped(source);
                else
                    auth_throttle_.checked(source, verdict != users::Verdict::Ok, AuthThrottle::Clock::now());
                // A session that went away while its check ran is not found.
                if (auto it = clients_.find(id); it != clients_.end())
                    it->second->on_auth_result(verdict);
            });
    return *auth_worker_;
}

void Server::reload_users()
{
    if (config_.users_path.empty()) {
        LOG_INFO("SIGHUP: nothing to reload (no users file: --users, users =)");
        return;
    }
    try {
        auto table = std::make_shared<const users::Table>(users::Table::load(config_.users_path));
        users_ = std::move(table);
        LOG_INFO("users reloaded from %s: %zu users", config_.users_path.c_str(), users_->size());
    } catch (const users::Error& e) {
        for (const std::string& p : e.problems())
            LOG_ERR("users reload refused, the %zu users loaded before stay: %s", users_ ? users_->size() : 0,
                    p.c_str());
    }
}

void Server::begin_shutdown(const std::string& message)
{
    if (shutting_down_)
        return;
    shutting_down_ = true;
    sd_notify(0, "STOPPING=1");
    service_->close();
    admin_->close();
    // Everything acknowledged or about to be must be on disk before anyone is
    // told goodbye.
    if (Persistence* p = db_.persistence()) {
        if (p->flush(std::chrono::seconds(10)))
            LOG_INFO("database %s is up to date", p->config().path.c_str());
        else
            LOG_ERR("database %s: pending changes not committed: %s", p->config().path.c_str(), p->failure().c_str());
    }
    // Clients only: the admin session that asked for the shutdown (or any
    // other) is not one, as in `kvstored clients` and the stats.
    LOG_INFO("shutting down: notifying %zu client(s)", count_role(Client::Role::Service));
    for (auto& [id, client] : clients_)
        client->notify_shutdown(message);
    if (clients_.empty()) {
        loop_.stop();
        return;
    }
    loop_.add_timer(config_.shutdown_timeout, [this] {
        LOG_WARN("shutdown deadline passed with %zu client(s) and %zu admin session(s) still attached; closing them",
                 count_role(Client::Role::Service), count_role(Client::Role::Admin));
        // A handed-off client still here has not taken its output: its kvsvc
        // is told to reset the connection (it would also reset it on finding
        // us gone while we hold the socket). Others just lose their link.
        for (auto& [id, client] : clients_)
            client->cut("shutdown deadline passed");
        loop_.stop();
    });
}

}  // namespace kv
