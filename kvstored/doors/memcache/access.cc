// access.cc: what an authenticated memcached session's user may run (issue
// 18): the rights each command needs and the keys it names, checked against
// the user's rights and key patterns (users::allows) as the line protocol's
// permission_problem and the Redis door's refusal check theirs. execute()
// calls it before every command once a users file is configured.
#include <algorithm>

#include "handlers.h"

namespace kv::memcache {
namespace {

using users::Right;

// What a command does, and to which keys: tokens[first_key, end_key).
struct Access {
    bool reads = false;
    bool writes = false;
    bool every_key = false;  // flush_all: admin-data
    size_t first_key = 0;
    size_t end_key = 0;
    bool base64 = false;  // a meta command's 'b' flag: the key is base64
};

bool has_flag(const Request& req, char flag)
{
    return std::any_of(req.tokens.begin() + std::min<size_t>(2, req.tokens.size()), req.tokens.end(),
                       [&](std::string_view t) { return t[0] == flag; });
}

// The meta commands name one key, tokens[1], and take flags after it. mg
// writes too when it touches (T) or creates on a miss (N), as Redis counts
// GETEX a write.
Access meta_access(const Request& req)
{
    std::string_view name = req.tokens[0];
    Access a{.first_key = 1, .end_key = std::min<size_t>(2, req.tokens.size())};
    a.base64
        = std::any_of(req.tokens.begin() + a.end_key, req.tokens.end(), [](std::string_view t) { return t == "b"; });
    if (name == "mg" || name == "me") {
        a.reads = true;
        a.writes = name == "mg" && (has_flag(req, 'T') || has_flag(req, 'N'));
    } else if (name == "ma") {
        a.reads = a.writes = true;
    } else if (name == "ms" || name == "md") {
        a.writes = true;
    } else {
        a.end_key = 0;  // mn, and names memcached does not know: no key
    }
    return a;
}

Access access_of(const Request& req)
{
    std::string_view name = req.tokens[0];
    size_t n = req.tokens.size();
    if (name == "get" || name == "gets" || name == "bget")
        return {.reads = true, .first_key = 1, .end_key = n};
    if (name == "gat" || name == "gats")  // a retrieval that also changes the keys' exptime
        return {.reads = true, .writes = true, .first_key = 2, .end_key = n};
    if (req.storage || name == "delete" || name == "touch")
        return {.writes = true, .first_key = 1, .end_key = std::min<size_t>(2, n)};
    if (name == "incr" || name == "decr")
        return {.reads = true, .writes = true, .first_key = 1, .end_key = std::min<size_t>(2, n)};
    if (name == "flush_all")
        return {.every_key = true};
    if (name.size() == 2 && name[0] == 'm')
        return meta_access(req);
    return {};  // version verbosity quit stats cache_memlimit shutdown: no data
}

bool key_allowed(const users::User& user, const Access& a, std::string_view key)
{
    return (!a.reads || users::allows(user, Right::Read, key)) && (!a.writes || users::allows(user, Right::Write, key));
}

}  // namespace

std::string_view access_refusal(const Request& req, const users::User& user)
{
    Access a = access_of(req);
    if (a.every_key)
        return user.has(Right::AdminData) ? std::string_view() : kPermissionDenied;
    if ((a.reads && !user.has(Right::Read)) || (a.writes && !user.has(Right::Write)))
        return kPermissionDenied;
    for (size_t i = a.first_key; i < a.end_key; ++i) {
        std::string_view key = req.tokens[i];
        if (a.base64) {
            // A key that does not decode is refused by the command itself,
            // before it reaches the store.
            std::optional<std::string> decoded = base64_decode(key);
            if (decoded && !key_allowed(user, a, *decoded))
                return kPermissionDenied;
        } else if (!key_allowed(user, a, key)) {
            return kPermissionDenied;
        }
    }
    return {};
}

}  // namespace kv::memcache
