// memcache_door.cc: see memcache_door.h. Also the memcache::Host that lets
// commands see the server (stats, a delayed flush_all).
#include "memcache_door.h"

#include <cstring>
#include <new>

#include "client.h"
#include "log.h"
#include "secret.h"
#include "server.h"

namespace kv {
namespace {

// How a reply that cannot be given (its write failed or was abandoned at
// shutdown) reads in memcached's protocol.
std::string memcache_error(std::string_view, std::string_view message)
{
    std::string line = "SERVER_ERROR ";
    line.append(message).append("\r\n");
    return line;
}

// The error that replaces the reply of a replicated command whose ticket
// Failed (Database::failure_code, failure_text): "SERVER_ERROR unavailable
// <text>".
std::string memcache_failure(std::string_view code, std::string_view text)
{
    if (code == "storage")
        return memcache_error(code, text);
    std::string line = "SERVER_ERROR ";
    line.append(code).append(" ").append(text).append("\r\n");
    return line;
}

// The reply buffer's capacity kept between commands.
constexpr size_t kKeptReplyCapacity = 64 * 1024;

class ServerHost : public memcache::Host {
public:
    ServerHost(Server& server, const Client& owner) : server_(server), owner_(owner) { }
    ServerFacts facts() const override { return server_facts(server_); }
    uint64_t flush_at(int64_t unix_ms) override { return server_.flush_at(unix_ms); }
    const users::User* user(bool& required) const override { return owner_.session_user(required); }

private:
    Server& server_;
    const Client& owner_;
};

// memcached 1.6.18's replies to a client that has not authenticated
// (proto_text.c, try_read_command_asciiauth).
constexpr std::string_view kUnauthenticated = "CLIENT_ERROR unauthenticated\r\n";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad authentication token format\r\n";
constexpr std::string_view kAuthFailure = "CLIENT_ERROR authentication failure\r\n";

}  // namespace

MemcacheDoor::MemcacheDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout)
    : Door(server, owner, std::move(fd), idle_timeout, memcache_error, memcache_failure),
      parser_(memcache::Limits{.max_value = server.limits().max_value}),
      host_(std::make_unique<ServerHost>(server, owner))
{
    session_.id = owner.id();
    ++server.stats().memcache.connections_total;
}

MemcacheDoor::~MemcacheDoor() = default;

// Nothing is read while a retrieval is half answered: its keys are views into
// the parser's buffer, which reading may move.
size_t MemcacheDoor::input_room() const
{
    return session_.next_key == 0 && parser_.wants_input() ? 64 * 1024 : 0;
}

// Runs the next buffered request, or the next chunk of a retrieval. After
// quit or a line the parser closes on, and at the end of the client's input,
// the session ends: kvsvc writes what we have not and closes.
Door::Step MemcacheDoor::run_step()
{
    if (owner().auth_pending())
        return Step::Idle;  // answer() resumes
    if (!budget_.allows_more())
        return Step::Idle;
    if (session_.next_key == 0) {
        owned_.reset();  // the request it held is done
        memcache::RequestParser::Next next = parser_.next(request_, reply_);
        if (next != memcache::RequestParser::Next::NeedMore && next != memcache::RequestParser::Next::Close
            && !signed_in()) {
            budget_.use();
            run_unauthenticated(next);
            return Step::Ran;
        }
        switch (next) {
        case memcache::RequestParser::Next::NeedMore:
            if (input_ended())
                request_hand_back(wire::HandBackReason::EndOfInput, {});
            return Step::Idle;
        case memcache::RequestParser::Next::Reply:
            budget_.use();
            queue(reply_, 0);
            return Step::Ran;
        case memcache::RequestParser::Next::Close:
            LOG_WARN("client %llu: a memcached command line passed %zu bytes; connection closed",
                     static_cast<unsigned long long>(owner().id()), parser_.limits().max_line);
            queue(reply_, 0);
            request_hand_back(wire::HandBackReason::EndOfInput, {});
            return Step::Idle;
        case memcache::RequestParser::Next::Request:
            break;
        }
    }
    budget_.use();
    run();
    return Step::Ran;
}

void MemcacheDoor::run()
{
    if (session_.next_key == 0)
        owner().note_command();
    try {
        Database& db = server().db();
        memcache::Context ctx{db, server().stats(), server().limits(), *host_, system_clock()};
        reply_.clear();  // reused: no allocation per command
        size_t first_key = session_.next_key;  // where this chunk of a retrieval starts
        uint64_t ticket = run_command(db, [&] { return memcache::execute(request_, session_, ctx, reply_); });
        if (finish(reply_, ticket, reply_kind(), std::move(session_.cas_at))) {
            // The request's views (its data block too) point into the
            // parser's buffer, which reading may move: the re-run, and a
            // retrieval's later chunks, use an owned copy.
            owned_ = std::make_unique<OwnedRequest>(request_);
            request_ = owned_->request;
            rerun_key_ = first_key;
        }
        if (reply_.capacity() > kKeptReplyCapacity)
            std::string().swap(reply_);  // a large reply does not stay allocated
    } catch (const std::bad_alloc&) {
        out_of_memory("running a command");
        return;
    }
    if (session_.close_after_reply)
        request_hand_back(wire::HandBackReason::EndOfInput, {});
}

bool MemcacheDoor::signed_in()
{
    bool required = false;
    const users::User* user = owner().session_user(required);
    return !required || user != nullptr;
}

// As memcached 1.6.18 answers before a session has authenticated: a `set` is
// the login, whatever its key, flags and exptime, and is answered even with
// noreply; anything else, a line the parser refused included, is
// "CLIENT_ERROR unauthenticated" (a data block that does not end in "\r\n"
// is memcached's "bad command line termination").
void MemcacheDoor::run_unauthenticated(memcache::RequestParser::Next next)
{
    owner().note_command();
    if (next == memcache::RequestParser::Next::Request && request_.tokens[0] == "set") {
        log_in();
        return;
    }
    bool bad_chunk = next == memcache::RequestParser::Next::Reply && reply_ == "CLIENT_ERROR bad data chunk\r\n";
    queue(bad_chunk ? "CLIENT_ERROR bad command line termination\r\n" : kUnauthenticated, 0);
}

// Hands the password to the owner, which checks it on the auth worker and
// answers through answer(), after its failure delay when it is wrong. A block
// that is not "user password" is no attempt: answered at once, not counted.
void MemcacheDoor::log_in()
{
    std::string_view user, password;
    if (request_.too_large || !memcache::split_credentials(request_.data, user, password)) {
        queue(kBadToken, 0);
        return;
    }
    std::string now = owner().start_auth(user, password, true);
    // The worker holds its own copy (wiped once checked): the block in the
    // parser's buffer, consumed already, is wiped now, as the Redis door
    // wipes its AUTH's.
    wipe(request_.data);
    if (!now.empty())
        answer(now);
}

void MemcacheDoor::answer(std::string_view text)
{
    if (text.starts_with("OK")) {
        Door::answer("STORED\r\n");
    } else if (text.find("busy") != std::string_view::npos) {
        // kvstore's own: every password check slot is taken (AuthWorker).
        Door::answer("SERVER_ERROR too many password checks pending; try again later\r\n");
    } else {
        Door::answer(kAuthFailure);
    }
}

MemcacheDoor::OwnedRequest::OwnedRequest(const memcache::Request& from)
    : tokens(from.tokens.begin(), from.tokens.end()), key(from.key), data(from.data), request(from)
{
    request.tokens.assign(tokens.begin(), tokens.end());
    request.key = key;
    request.data = data;
}

// How an awaited write's reply goes out. A classic command's empty reply is
// a noreply: silent even when the write fails (memcached silences its errors
// too). A meta command's empty reply is a quiet (q) success: memcached's
// quiet mode still shows errors.
AwaitedCommand::Reply MemcacheDoor::reply_kind() const
{
    bool meta = !request_.tokens.empty() && request_.tokens[0].size() == 2 && request_.tokens[0][0] == 'm';
    return reply_.empty() && !meta ? AwaitedCommand::Reply::Silent : AwaitedCommand::Reply::Text;
}

// The awaited command again (Door::rerun): the same request from its owned
// copy, a retrieval from the chunk that was awaited.
void MemcacheDoor::rerun()
{
    session_.next_key = rerun_key_;
    run();
}

}  // namespace kv
