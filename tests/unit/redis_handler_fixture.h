// redis_handler_fixture.h: runs the Redis door's handlers directly (no
// dispatcher, no sockets) against a memory-only Database and a ManualClock,
// for test_redis_strings.cc and test_redis_keys.cc.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "doors/redis/handlers.h"

namespace redis_test {

using Handler = kv::redis::Handler;

class NoHost final : public kv::redis::Host {
public:
    std::vector<kv::redis::ClientInfo> clients() const override { return {}; }
    bool kill_client(uint64_t) override { return false; }
    kv::redis::ServerFacts facts() const override { return {}; }
};

struct Fixture {
    explicit Fixture(size_t capacity = 5, kv::WhenFull when_full = kv::WhenFull::Refuse, size_t max_value = 64)
        : db(capacity, std::nullopt, when_full, clock), limits{max_value}
    {
    }

    // The reply bytes of one command in RESP `protocol` (2 or 3).
    std::string run(Handler handler, std::initializer_list<std::string_view> args, int protocol = 2)
    {
        std::vector<std::string_view> v(args);
        std::string out;
        kv::redis::ReplyWriter writer(out, protocol);
        uint64_t ticket = 0;
        handler(v, session, ctx, writer, ticket);
        return out;
    }
    int64_t now() const { return clock.now_ms(); }

    kv::ManualClock clock;
    kv::Database db;
    kv::Stats stats;
    kv::Limits limits;
    NoHost host;
    kv::redis::Session session;
    kv::redis::Context ctx{db, stats, limits, host, clock};
};

}  // namespace redis_test
