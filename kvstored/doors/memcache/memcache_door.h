// memcache_door.h: memcached's text protocol (docs/memcache.md) on a
// handed-off socket. kvsvc --protocol memcache hands every session over at
// once (wire.h, kHelloMemcache), so kvstored serves the whole session: it
// parses requests with memcache::RequestParser and runs them with
// memcache::execute, onto the same Database as every other door.
//
// With a users file (issue 18) a session first logs in as memcached 1.6 -Y
// does, with a `set` whose data is "user password" (checked on the auth
// worker, never on the loop); until then every other request is answered
// "CLIENT_ERROR unauthenticated". Rights and key patterns are checked for
// every command after that (access.cc).
//
// The session ends with a hand-back that kvsvc answers by writing the output
// and closing: after quit or a line the parser will not read past
// (EndOfInput, no input), at the end of the client's input, at the idle
// timeout (none by default, as memcached's -o idle_timeout), at shutdown or a
// kick (Shutdown), or when the socket breaks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "door.h"
#include "memcache_commands.h"
#include "text_parser.h"

namespace kv {

class MemcacheDoor : public Door {
public:
    // An idle timeout of zero means none.
    MemcacheDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout);
    ~MemcacheDoor() override;

    // The answer to the session's login (Client::start_auth): "OK
    // authenticated" or an "ERR ..." line, worded here as memcached does.
    void answer(std::string_view text) override;

private:
    Step run_step() override;
    void take_input(const char* data, size_t len) override { parser_.append(data, len); }
    size_t input_room() const override;
    std::string rest_of_input() override { return {}; }
    void rerun() override;
    // A failed chunk's SERVER_ERROR ends the retrieval's reply, as in memcached.
    void drop_command() override { session_.next_key = 0; }
    AwaitedCommand::Reply reply_kind() const;
    void run();
    // Before the session has authenticated (a users file is configured):
    // memcached 1.6's -Y login (docs/memcache.md, "Authentication").
    bool signed_in();
    void run_unauthenticated(memcache::RequestParser::Next next);
    void log_in();

    memcache::RequestParser parser_;
    std::unique_ptr<memcache::Host> host_;
    memcache::Session session_;
    memcache::Request request_;  // the request being run (a retrieval may take several steps)
    std::string reply_;  // the reply being built

    // With a replicated store, the awaited request's own copy of its bytes
    // (request_ points into it until the next request is parsed), and the
    // retrieval chunk a re-run starts from (Session::next_key).
    struct OwnedRequest {
        explicit OwnedRequest(const memcache::Request& from);
        OwnedRequest(const OwnedRequest&) = delete;
        OwnedRequest& operator=(const OwnedRequest&) = delete;
        std::vector<std::string> tokens;
        std::string key;
        std::string data;
        memcache::Request request;  // its views point into the strings above
    };
    std::unique_ptr<OwnedRequest> owned_;
    size_t rerun_key_ = 0;
};

}  // namespace kv
