// commands.h: executes one wire request against the store and returns the
// exact reply text the client will see. One handler per operation; listings
// (`keys`, and the admin `dump`) are answered in pages (Listing, below).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "database.h"
#include "stats.h"
#include "users.h"
#include "wire.h"

namespace kv {

struct Limits {
    size_t max_value;  // bytes
};

// A listing in progress, answered one page at a time (docs/protocol.md): each
// page is "<WORD> <n> more" or, for the last one, "<WORD> <n>", followed by n
// lines. A client asks for the next page only while less than
// kListingWindow bytes of its output wait to be sent, so a listing costs
// kvstored about that much per client however long it is, and the client's
// later commands wait until its last page is queued (replies never reorder).
//
// Between pages only the last key sent is kept: keys present for the whole
// listing are listed exactly once, in bytewise order; keys added or removed
// meanwhile may or may not appear.
class Listing {
public:
    enum class Kind {
        // "KEYS": one key per line, only keys the line protocol can name
        // (key_problem): the others are skipped and not counted.
        Keys,
        // "DUMP": every entry, one tsv dump line each (dump_format.h,
        // "<key>\t<value>\t<deadline ms or empty>", escaped: any bytes)
        // (admin socket only)
        Dump,
    };

    // A page holds at most kPageKeys entries, and no entry is added once it
    // has kPageBytes of text: a page is at most kPageBytes plus one entry
    // (for keys 251 bytes; for dump 4 * (250 + --max-value) + 18 bytes, as
    // escaping may make a byte four).
    static constexpr size_t kPageKeys = 1000;
    static constexpr size_t kPageBytes = 64 * 1024;

    Listing(Kind kind, std::string_view prefix) : kind_(kind), prefix_(prefix) { }

    // Appends the next page to `out`. Returns true when another page follows.
    // May throw std::bad_alloc; the listing is then unchanged.
    bool next_page(const Store& store, std::string& out);

private:
    Kind kind_;
    std::string prefix_;
    std::string after_;  // the last key sent; "" before the first page
};

// The next page of a listing waits while at least this much of the client's
// output is unsent (a listing's output bound; docs/operations.md).
inline constexpr size_t kListingWindow = 256 * 1024;

// Appends the reply to `out` and returns the ticket of the write it made (0 for
// none): the reply may be released only once that ticket is durable. Never
// fails: bad arguments and refused writes get an ERR reply. A listing (`keys`)
// appends nothing and sets `listing`: the caller sends its pages. May throw
// std::bad_alloc; the caller drops the client then.
uint64_t execute(const wire::Request& req, Database& db, Stats& stats, const Limits& limits, std::string& out,
                 std::optional<Listing>& listing);

// execute() for a client's request (through the line door or relayed by
// kvsvc; not an admin's): its time on the event loop goes into
// stats.latency under door "line" and the command's word (latency.h).
uint64_t execute_for_client(const wire::Request& req, Database& db, Stats& stats, const Limits& limits,
                            std::string& out, std::optional<Listing>& listing);

// Why `user` may not run data operation `req`, as the whole reply
// ("ERR no-permission user 'bob' may not write key 'x'\n"), or "" when it
// may (users.h, docs/protocol.md "Authentication"). Reads need Right::Read on
// the key; writes Right::Write (take, incr and decr, which also show the
// value, both); a key outside the user's patterns is refused either way.
// `keys` lists every key: it needs Read and either patterns covering every
// key or Right::AdminData. count, stats and sync need Read. Cheap: the loop
// thread calls it for every request of a session while a users file is
// configured.
std::string permission_problem(const wire::Request& req, const users::User& user);

// `sync`'s reply: "OK synced <revision>", the etcd revision this host's copy
// has applied now (0 without etcd). With etcd it is made when the sync's
// ticket is released, not when the command ran (AwaitedCommand).
std::string synced_reply(const Database& db);

}  // namespace kv
