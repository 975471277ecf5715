// memcache_handler_fixture.h: runs the memcached door's commands through
// execute() (no parser, no sockets) against a Database and a ManualClock,
// for test_memcache_commands.cc (and the meta commands' tests).
//
// request() builds a Request as the parser (text_parser.h) would hand it
// over for a well-formed line: tokens split on spaces, and for a storage
// command its fields and data block (too_large when the block is over
// max_value). Lines the parser itself refuses are the parser's tests.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doors/memcache/handlers.h"

namespace memcache_test {

class FakeHost final : public kv::memcache::Host {
public:
    kv::ServerFacts facts() const override { return facts_; }
    uint64_t flush_at(int64_t unix_ms) override
    {
        flushes.push_back(unix_ms);
        return 0;
    }

    const kv::users::User* user(bool& required) const override
    {
        required = users_required;
        return session_user;
    }

    kv::ServerFacts facts_;
    std::vector<int64_t> flushes;  // every flush_at() call's time
    // Authentication (access.cc): a users file is configured, and the
    // session's user (null: not authenticated).
    bool users_required = false;
    const kv::users::User* session_user = nullptr;
};

struct Fixture {
    explicit Fixture(size_t capacity = 5, kv::WhenFull when_full = kv::WhenFull::Refuse, size_t max_value = 64,
                     const std::optional<kv::PersistConfig>& persist = std::nullopt)
        : db(capacity, persist, when_full, clock), limits{max_value}
    {
        host.facts_.pid = 4242;
        host.facts_.uptime_seconds = 17;
        host.facts_.capacity = capacity;
        host.facts_.max_value = max_value;
        host.facts_.when_full = when_full == kv::WhenFull::Evict ? "evict" : "refuse";
        host.facts_.persistence = "none";
        host.facts_.connected_clients = 3;
    }

    // The Request the parser makes of `line` (without "\r\n") and, for a
    // storage command or ms, its data block. Valid until the next call.
    const kv::memcache::Request& request(std::string_view line, std::string_view data = {})
    {
        line_ = line;
        data_ = data;
        req_ = {};
        std::string_view rest = line_;
        while (!rest.empty()) {
            size_t sp = rest.find(' ');
            std::string_view tok = rest.substr(0, sp);
            if (!tok.empty())
                req_.tokens.push_back(tok);
            rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        }
        const auto& t = req_.tokens;
        if (t.empty())
            return req_;
        bool cas = t[0] == "cas";
        bool storage
            = cas || t[0] == "set" || t[0] == "add" || t[0] == "replace" || t[0] == "append" || t[0] == "prepend";
        size_t n = cas ? 6 : 5;
        if (storage && (t.size() == n || t.size() == n + 1)) {
            req_.storage = true;
            req_.key = t[1];
            req_.flags = static_cast<uint32_t>(std::strtoul(std::string(t[2]).c_str(), nullptr, 10));
            req_.exptime = std::strtol(std::string(t[3]).c_str(), nullptr, 10);
            if (cas)
                req_.cas_unique = std::strtoull(std::string(t[5]).c_str(), nullptr, 10);
            req_.noreply = t.size() == n + 1 && t.back() == "noreply";
        }
        if (storage || t[0] == "ms") {
            req_.has_data = true;
            if (data_.size() > limits.max_value)
                req_.too_large = true;
            else
                req_.data = data_;
        }
        return req_;
    }

    // One call of execute() (a retrieval may stop early: session.next_key).
    std::string run_once(std::string_view line, std::string_view data = {})
    {
        std::string out;
        ticket = kv::memcache::execute(request(line, data), session, ctx, out);
        return out;
    }

    // The whole reply, calling execute() again while a retrieval resumes.
    std::string run(std::string_view line, std::string_view data = {})
    {
        const kv::memcache::Request& req = request(line, data);
        std::string out;
        calls = 0;
        do {
            ticket = kv::memcache::execute(req, session, ctx, out);
            ++calls;
        } while (session.next_key != 0);
        return out;
    }

    // Stores through the door ("set key flags exptime n") and checks the reply.
    std::string set(std::string_view key, std::string_view value, uint32_t flags = 0, int64_t exptime = 0)
    {
        return run("set " + std::string(key) + " " + std::to_string(flags) + " " + std::to_string(exptime) + " "
                       + std::to_string(value.size()),
                   value);
    }

    // The entry's cas unique (its version), 0 when absent.
    uint64_t cas_of(std::string_view key)
    {
        std::optional<kv::Store::Entry> e = db.store().peek(key);
        return e ? e->version : 0;
    }

    int64_t now() const { return clock.now_ms(); }

    kv::ManualClock clock;
    kv::Database db;
    kv::Stats stats;
    kv::Limits limits;
    FakeHost host;
    kv::memcache::Session session;
    kv::memcache::Context ctx{db, stats, limits, host, clock};
    uint64_t ticket = 0;
    int calls = 0;  // execute() calls the last run() made

private:
    std::string line_, data_;
    kv::memcache::Request req_;
};

}  // namespace memcache_test
