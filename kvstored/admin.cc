// admin.cc: see admin.h. One handler per operation; replies are "<WORD> <n>"
// blocks of "<name> <value>" lines that the admin subcommands parse.
#include "admin.h"

#include <unistd.h>

#include <charconv>

#include "backend_report.h"
#include "client.h"
#include "command.h"
#include "log.h"
#include "server.h"
#include "version.h"

namespace kv {
namespace {

struct Context {
    const wire::Request& req;
    Server& server;
    const Client& self;
    std::string& out;
    std::optional<Listing>& listing;
    uint64_t ticket = 0;
};

using Rows = std::vector<std::pair<std::string, std::string>>;

void put_block(std::string& out, const char* word, const Rows& rows)
{
    out.append(word).append(" ").append(std::to_string(rows.size())).append("\n");
    for (const auto& [name, value] : rows)
        out.append(name).append(" ").append(value).append("\n");
}

int64_t seconds_since(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t).count();
}

void do_status(Context& c)
{
    const ServerConfig& cfg = c.server.config();
    Database& db = c.server.db();
    Persistence* p = db.persistence();
    Rows rows = {
        {"pid", std::to_string(::getpid())},
        {"version", KVSTORE_VERSION},
        {"uptime_seconds", std::to_string(seconds_since(c.server.stats().started))},
        {"socket", cfg.socket_path},
        {"admin_socket", cfg.admin_socket_path},
        {"entries", std::to_string(db.store().size())},
        {"capacity", std::to_string(db.store().capacity())},
        {"clients", std::to_string(c.server.stats().connections_current)},
        {"persistence", p ? sync_mode_name(p->config().mode) : "memory"},
        {"database", p ? p->config().path : "-"},
        {"commits", std::to_string(p ? p->commits() : 0)},
        {"last_commit_unix", std::to_string(p ? p->last_commit_unix() : 0)},
        {"storage_failed", p && p->failed() ? "1" : "0"},
        // The users file (users.h; "-": none, auth off) and how many users
        // the table in force holds: `kvstored passwd` signals only a
        // kvstored that reads the file it wrote.
        {"users_file", cfg.users_path.empty() ? "-" : cfg.users_path},
        {"users", std::to_string(c.server.users() ? c.server.users()->size() : 0)},
    };
    // Where the store lives, and whether it takes writes (backend_report.h).
    BackendRows backend = backend_rows(db.backend_status());
    rows.insert(rows.end(), backend.begin(), backend.end());
    put_block(c.out, "STATUS", rows);
}

void do_clients(Context& c)
{
    std::vector<std::string> rows;
    c.server.for_each_client([&](const Client& client) {
        if (client.role() != Client::Role::Service)
            return;
        rows.push_back(std::to_string(client.id()) + " " + std::to_string(client.pid()) + " " + client.address() + " "
                       + std::to_string(client.attached_since_unix()) + " " + std::to_string(client.commands()) + " "
                       + std::to_string(seconds_since(client.last_active())) + " " + client.protocol());
    });
    c.out.append("CLIENTS ").append(std::to_string(rows.size())).append("\n");
    for (const auto& row : rows)
        c.out.append(row).append("\n");
}

void do_kick(Context& c)
{
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(c.req.key.data(), c.req.key.data() + c.req.key.size(), id);
    if (ec != std::errc() || end != c.req.key.data() + c.req.key.size()) {
        c.out += error_reply("syntax", "client id must be a number");
        return;
    }
    std::string message = c.req.value.empty() ? "disconnected by the administrator" : std::string(c.req.value);
    // The reply comes once the client is gone, or cut at the kick deadline
    // (Server::kick); only NOT_FOUND is known now.
    if (!c.server.kick(id, message, c.self.id()))
        c.out += "NOT_FOUND\n";
}

void do_flush(Context& c)
{
    Database& db = c.server.db();
    if (std::string why = db.write_refusal(); !why.empty()) {
        c.out += error_reply(db.failure_code(), why);
        return;
    }
    size_t n = db.store().size();
    c.ticket = db.clear();
    LOG_INFO("flush by admin %llu (pid %d, uid %u): %zu entries deleted", static_cast<unsigned long long>(c.self.id()),
             c.self.pid(), c.self.uid(), n);
    c.out += "OK\n";
}

void do_shutdown(Context& c)
{
    std::string message = c.req.value.empty() ? "kvstored is shutting down" : std::string(c.req.value);
    LOG_INFO("shutdown requested by admin %llu (pid %d, uid %u)", static_cast<unsigned long long>(c.self.id()),
             c.self.pid(), c.self.uid());
    c.out += "OK\n";
    // After this reply is queued: the notice to this admin client follows it.
    Server& server = c.server;
    server.loop().defer([&server, message] { server.begin_shutdown(message); });
}

// The admin `get`: the whole entry, deadline and flags included. Any key the store
// holds may be asked for, and the value is sent as it is, LF or not: it is
// the rest of the reply, which is one message (wire.h, Op::Entry).
void do_entry(Context& c)
{
    if (auto why = store_key_problem(c.req.key); !why.empty()) {
        c.out += error_reply("bad-key", why);
        return;
    }
    std::optional<Store::Entry> e = c.server.db().store().peek(c.req.key);
    if (!e) {
        c.out += "NOT_FOUND\n";
        return;
    }
    c.out.append("ENTRY ").append(std::to_string(e->version)).append(" ").append(std::to_string(e->deadline));
    c.out.append(" ").append(std::to_string(e->flags)).append(" ").append(e->value).append("\n");
}

// Answered in pages by the caller, as `keys` is.
void do_dump(Context& c)
{
    c.listing.emplace(Listing::Kind::Dump, "");
}

// A staged load (wire.h LoadBegin/LoadEntry/LoadCommit, database.h): the
// entries wait in the Database until the commit applies them all at once.
void do_load_begin(Context& c)
{
    if (c.req.value != "" && c.req.value != "replace") {
        c.out += error_reply("syntax", "load mode must be \"replace\" or empty");
        return;
    }
    // With etcd a load would be one transaction of up to kMaxLoadBytes,
    // past etcd's request size limit, and its re-run after a conflict would
    // need the whole staging kept: refused (docs/operations.md).
    if (c.server.db().replicated()) {
        c.out += error_reply("unsupported", "load is not supported with the etcd backend; nothing was changed");
        return;
    }
    std::string error = c.server.db().load_begin(c.self.id(), c.req.value == "replace");
    c.out += error.empty() ? "OK\n" : error;
}

void do_load_entry(Context& c)
{
    Database& db = c.server.db();
    size_t max_value = c.server.limits().max_value;
    if (c.req.value.size() > max_value) {
        db.load_abort(c.self.id());
        c.out += error_reply("too-long",
                             "value of " + printable_bytes(c.req.key) + " is " + std::to_string(c.req.value.size())
                                 + " bytes; the limit is " + std::to_string(max_value) + "; nothing was changed");
        return;
    }
    // The entry's deadline travels as Expiry::At (unix ms); None: it has none.
    int64_t deadline = kNoDeadline;
    if (c.req.expiry == wire::Expiry::At && c.req.expiry_ms > 0) {
        deadline = c.req.expiry_ms;
    } else if (c.req.expiry != wire::Expiry::None) {
        db.load_abort(c.self.id());
        c.out += error_reply("syntax",
                             "the deadline of a loaded entry must be a positive unix time in ms (Expiry::At) "
                             "or none; nothing was changed");
        return;
    }
    // The flags travel in `delta` (wire.h); Database::load_add checks their range.
    std::string error = db.load_add(c.self.id(), c.req.key, c.req.value, deadline, c.req.delta);
    c.out += error.empty() ? "OK\n" : error;
}

void do_load_commit(Context& c)
{
    std::string summary;
    std::string error = c.server.db().load_commit(c.self.id(), c.ticket, summary);
    c.out += error.empty() ? "LOADED " + summary + "\n" : error;
}

}  // namespace

uint64_t execute_admin(const wire::Request& req, Server& server, const Client& self, std::string& out,
                       std::optional<Listing>& listing)
{
    Context c{req, server, self, out, listing};
    switch (req.op) {
    case wire::Op::Status:
        do_status(c);
        break;
    case wire::Op::Clients:
        do_clients(c);
        break;
    case wire::Op::Kick:
        do_kick(c);
        break;
    case wire::Op::Flush:
        do_flush(c);
        break;
    case wire::Op::Shutdown:
        do_shutdown(c);
        break;
    case wire::Op::Entry:
        do_entry(c);
        break;
    case wire::Op::Dump:
        do_dump(c);
        break;
    case wire::Op::LoadBegin:
        do_load_begin(c);
        break;
    case wire::Op::LoadEntry:
        do_load_entry(c);
        break;
    case wire::Op::LoadCommit:
        do_load_commit(c);
        break;
    default:
        out += error_reply("unknown-command", "not an admin operation");
    }
    return c.ticket;
}

}  // namespace kv
