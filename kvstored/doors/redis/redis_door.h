// redis_door.h: the Redis protocol (RESP2/RESP3, docs/redis.md) on a
// handed-off socket. kvsvc --protocol redis hands every session over at once
// (wire.h, kHelloRedis), so kvstored serves the whole session: it parses
// requests with redis::RequestParser and runs them with redis::execute, onto
// the same Database as every other door.
//
// The session ends with a hand-back that kvsvc answers by writing the output
// and closing: after QUIT or a protocol error (EndOfInput, no input), at the
// end of the client's input, at the idle timeout (Redis's `timeout`: none by
// default), at shutdown or a kick (Shutdown), or when the socket breaks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "door.h"
#include "redis_commands.h"
#include "resp.h"

namespace kv {

class RedisDoor : public Door {
public:
    // An idle timeout of zero means none.
    RedisDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout);
    ~RedisDoor() override;

    const redis::Session& session() const { return session_; }
    // The answer to the session's AUTH or HELLO ... AUTH (Client::start_auth):
    // "OK authenticated" or an "ERR ..." line, worded here as Redis does.
    void answer(std::string_view text) override;

private:
    Step run_step() override;
    void take_input(const char* data, size_t len) override { parser_.append(data, len); }
    size_t input_room() const override;
    std::string rest_of_input() override { return {}; }
    void rerun() override;
    void run(const std::vector<std::string_view>& args);
    void start_auth();

    // After a HELLO ... AUTH: the HELLO to run once the password is right.
    std::vector<std::string> after_auth_;

    redis::RequestParser parser_;
    std::unique_ptr<redis::Host> host_;
    redis::Session session_;
    std::vector<std::string_view> args_;
    std::string error_;
    std::string reply_;  // the reply being built
    // With a replicated store, what a re-run of the awaited command needs:
    // its arguments, and for EXEC the MULTI state it consumed.
    std::vector<std::string> rerun_args_;
    struct SavedMulti {
        bool failed;
        std::vector<std::vector<std::string>> queued;
        size_t queued_bytes;
    };
    std::optional<SavedMulti> saved_multi_;
};

}  // namespace kv
