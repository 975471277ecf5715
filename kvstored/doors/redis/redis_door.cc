// redis_door.cc: see redis_door.h. Also the redis::Host that lets commands
// see the server (CLIENT, INFO, CONFIG GET, LASTSAVE).
#include "redis_door.h"

#include <unistd.h>

#include <cstring>

#include <new>

#include "client.h"
#include "log.h"
#include "secret.h"
#include "server.h"

namespace kv {
namespace {

// How a reply that cannot be given (its write failed or was abandoned at
// shutdown) reads in RESP: Redis's MISCONF for a failing disk, ERR otherwise.
std::string resp_error(std::string_view code, std::string_view message)
{
    std::string line = code == "storage" ? "-MISCONF " : "-ERR ";
    line.append(message).append("\r\n");
    return line;
}

// The error that replaces the reply of a replicated command whose ticket
// Failed (Database::failure_code, failure_text): "-ERR unavailable <text>";
// a failing disk keeps MISCONF.
std::string resp_failure(std::string_view code, std::string_view text)
{
    if (code == "storage")
        return resp_error(code, text);
    std::string line = "-ERR ";
    line.append(code).append(" ").append(text).append("\r\n");
    return line;
}

bool is_exec(std::string_view name)
{
    return name.size() == 4 && (name[0] | 0x20) == 'e' && (name[1] | 0x20) == 'x' && (name[2] | 0x20) == 'e'
        && (name[3] | 0x20) == 'c';
}

// The reply buffer's capacity kept between commands.
constexpr size_t kKeptReplyCapacity = 64 * 1024;

int64_t unix_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The server as Redis commands see it.
class ServerHost : public redis::Host {
public:
    ServerHost(Server& server, const Client& owner) : server_(server), owner_(owner) { }

    std::vector<redis::ClientInfo> clients() const override
    {
        std::vector<redis::ClientInfo> all;
        auto now = std::chrono::steady_clock::now();
        int64_t unix = unix_now();
        server_.for_each_client([&](const Client& c) {
            if (c.role() != Client::Role::Service)
                return;
            redis::ClientInfo info;
            info.id = c.id();
            info.address = c.address();
            info.age_seconds = unix - c.attached_since_unix();
            info.idle_seconds = std::chrono::duration_cast<std::chrono::seconds>(now - c.last_active()).count();
            if (const Door* door = c.door()) {
                info.output_bytes = door->unsent();
                if (auto* redis = dynamic_cast<const RedisDoor*>(door)) {
                    info.name = redis->session().name;
                    info.last_command = redis->session().last_command;
                    info.protocol = redis->session().protocol;
                }
            }
            all.push_back(std::move(info));
        });
        return all;
    }

    // A client already on its way out (a kick pending) is not killed again,
    // nor logged again. Never called for the caller itself (CLIENT KILL ends
    // its own session through Session::close_after_reply).
    bool kill_client(uint64_t id) override
    {
        bool found = false;
        server_.for_each_client([&](const Client& c) { found = found || (c.id() == id && c.attached()); });
        if (!found || server_.kick_pending(id))
            return false;
        server_.kick(id, "killed by CLIENT KILL", 0);
        return true;
    }

    redis::ServerFacts facts() const override { return server_facts(server_); }

    const users::User* user(bool& required) const override { return owner_.session_user(required); }

private:
    Server& server_;
    const Client& owner_;
};

}  // namespace

RedisDoor::RedisDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout)
    : Door(server, owner, std::move(fd), idle_timeout, resp_error, resp_failure),
      parser_(redis::request_limits_for(server.limits().max_value)),
      host_(std::make_unique<ServerHost>(server, owner))
{
    session_.id = owner.id();
    session_.address = owner.address();
    ++server.stats().redis_connections_total;
}

RedisDoor::~RedisDoor() = default;

size_t RedisDoor::input_room() const
{
    return parser_.wants_input() ? 64 * 1024 : 0;
}

// Runs the next buffered request. After QUIT or a protocol error, and at the
// end of the client's input, the session ends: kvsvc writes what we have not
// and closes.
Door::Step RedisDoor::run_step()
{
    if (owner().auth_pending())
        return Step::Idle;  // answer() resumes
    if (!budget_.allows_more())
        return Step::Idle;
    switch (parser_.next(args_, error_)) {
    case redis::RequestParser::Next::NeedMore:
        if (input_ended())
            request_hand_back(wire::HandBackReason::EndOfInput, {});
        return Step::Idle;
    case redis::RequestParser::Next::Error:
        if (error_.empty()) {
            LOG_WARN("client %llu: a Redis request passed %zu bytes; connection closed",
                     static_cast<unsigned long long>(owner().id()), parser_.limits().max_request);
        } else {
            ++server().stats().error_replies;  // INFO total_error_replies counts these, as Redis's does
            queue(error_, 0);
        }
        request_hand_back(wire::HandBackReason::EndOfInput, {});
        return Step::Idle;
    case redis::RequestParser::Next::Command:
        budget_.use();
        run(args_);
        return Step::Ran;
    }
    return Step::Idle;
}

void RedisDoor::run(const std::vector<std::string_view>& args)
{
    owner().note_command();
    try {
        Database& db = server().db();
        redis::Context ctx{db, server().stats(), server().limits(), *host_, system_clock()};
        reply_.clear();  // reused: no allocation per command
        // EXEC consumes the session's queue: with a replicated store a re-run
        // needs it back, so it is copied first (only then).
        saved_multi_.reset();
        if (db.replicated() && session_.in_multi && !args.empty() && is_exec(args[0]))
            saved_multi_ = SavedMulti{session_.multi_failed, session_.queued, session_.queued_bytes};
        uint64_t ticket = run_command(db, [&] { return redis::execute(args, session_, ctx, reply_); });
        if (session_.auth) {
            start_auth();
            for (std::string_view arg : args)
                wipe(arg);  // views into the parser's buffer, holding the password (secret.h)
            return;
        }
        if (finish(reply_, ticket))
            rerun_args_.assign(args.begin(), args.end());  // views into the parser's buffer: owned copies
        else
            saved_multi_.reset();
        if (reply_.capacity() > kKeptReplyCapacity)
            std::string().swap(reply_);  // a large reply does not stay allocated
    } catch (const std::bad_alloc&) {
        out_of_memory("running a command");
        return;
    }
    if (session_.close_after_reply)
        request_hand_back(wire::HandBackReason::EndOfInput, {});
}

// Hands the session's AUTH to its owner (a password checker process checks
// it); the password's bytes are wiped once handed over.
void RedisDoor::start_auth()
{
    redis::Session::PendingAuth pending = std::move(*session_.auth);
    session_.auth.reset();
    after_auth_ = std::move(pending.then);
    std::string now = owner().start_auth(pending.user, pending.password, true);
    wipe(pending.password);
    if (!now.empty())
        answer(now);
}

void RedisDoor::answer(std::string_view text)
{
    std::vector<std::string> then = std::move(after_auth_);
    after_auth_.clear();
    if (!text.starts_with("OK")) {
        // A wrong password or user, as Redis says it; "busy" and the
        // throttled address (auth_throttle.h) are kvstore's own.
        if (text.find("busy") != std::string_view::npos)
            Door::answer("-ERR too many password checks pending; try again later\r\n");
        else if (text.find("from this address") != std::string_view::npos)
            Door::answer("-ERR too many failed passwords from this address; try again later\r\n");
        else
            Door::answer("-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        return;
    }
    if (then.empty()) {
        Door::answer("+OK\r\n");
        return;
    }
    std::vector<std::string_view> args(then.begin(), then.end());
    run(args);  // the HELLO, now that the session is authenticated
    Door::answer("");
}

// The awaited command again (Door::rerun), from the session state it
// started with: nothing it did reached the store.
void RedisDoor::rerun()
{
    if (saved_multi_) {
        session_.in_multi = true;
        session_.multi_failed = saved_multi_->failed;
        session_.queued = std::move(saved_multi_->queued);
        session_.queued_bytes = saved_multi_->queued_bytes;
        saved_multi_.reset();
    }
    std::vector<std::string> owned = std::move(rerun_args_);
    rerun_args_.clear();
    std::vector<std::string_view> args(owned.begin(), owned.end());
    run(args);  // copies them again if it is awaited again
}

}  // namespace kv
