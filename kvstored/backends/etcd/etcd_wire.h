// etcd_wire.h: what kvstored sends to etcd and reads back, as text. Pure
// functions, no I/O: etcd_client.h moves the bytes, etcd_backend.h decides.
//
// etcd 3.4 speaks gRPC; its grpc-gateway serves the same API as JSON over
// HTTP/1.1 at /v3/... (docs/scale-out.md says why kvstored uses it). In that
// JSON every key and value is base64 (RFC 4648, with padding), and every
// 64-bit integer is a decimal string ("revision": "42"); a field at its zero
// value is left out ("count" absent means 0, "succeeded" absent means false).
// The parsers here accept both numbers and strings, and absent fields.
//
// Layout of a kvstore under prefix P in etcd (docs/scale-out.md):
//   P/k/<key bytes>      one entry: encode_value(value, deadline, flags)
//   P/m/count            the number of P/k/ keys, as count_text(n)
//   P/m/capacity         the capacity every host must be started with
//   P/m/expiry-leader    the elected expiry host, attached to its lease
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv::etcd {

// --- Keys and values --------------------------------------------------------

std::string data_prefix(std::string_view prefix);  // prefix + "/k/"
std::string meta_key(std::string_view prefix, std::string_view name);  // prefix + "/m/" + name
// The range_end that makes a range cover every key starting with `prefix`
// (etcd's rule: the prefix with its last byte below 0xff incremented and
// what follows dropped; "\0" when every byte is 0xff: to the end).
std::string prefix_end(std::string_view prefix);

// An entry's value in etcd: a 14-byte header, then the value's bytes.
//   byte 0  'K'   byte 1  1 (format)
//   bytes 2-7    the deadline, unix ms, unsigned 48-bit little-endian (0: none)
//   bytes 8-11   memcached's client flags, u32 little-endian
//   bytes 12-13  reserved, 0
std::string encode_value(std::string_view value, int64_t deadline, uint32_t flags);
// False when `stored` is not a value encode_value made (short, wrong magic or
// format, reserved bytes not 0).
bool decode_value(std::string_view stored, std::string& value, int64_t& deadline, uint32_t& flags);

// The counter's text: 20 digits, zero-padded, so that etcd's bytewise value
// comparisons order counters as numbers.
std::string count_text(uint64_t n);
std::optional<uint64_t> parse_count(std::string_view text);

std::string base64_encode(std::string_view bytes);
// nullopt on a character outside the alphabet or bad padding.
std::optional<std::string> base64_decode(std::string_view text);

// --- Requests (bodies to POST; the path is given with each) ------------------

struct Compare {
    enum class Target { Version, Create, Mod, Value };
    enum class Result { Equal, Greater, Less, NotEqual };
    std::string key;
    Target target = Target::Mod;
    Result result = Result::Equal;
    int64_t number = 0;  // Version, Create, Mod
    std::string value;  // Value
};

struct Op {
    enum class Kind { Put, Delete, DeleteRange, Range };
    Kind kind = Kind::Put;
    std::string key;
    std::string value;  // Put
    std::string range_end;  // DeleteRange, Range ("" for one key)
    int64_t lease = 0;  // Put
    // Range: at most `limit` keys (0: all), only their keys and revisions,
    // newest mod_revision first (sort_target MOD, sort_order DESCEND).
    int64_t limit = 0;
    bool keys_only = false;
    bool newest_first = false;
};

struct Txn {
    std::vector<Compare> compare;
    std::vector<Op> success;
    std::vector<Op> failure;
};

// POST /v3/kv/txn
std::string txn_body(const Txn& txn);
// POST /v3/kv/range. `revision` 0: the latest; `limit` 0: no limit;
// `serializable`: answered by the member without a quorum round.
struct RangeRequest {
    std::string key;
    std::string range_end;
    int64_t revision = 0;
    int64_t limit = 0;
    bool count_only = false;
    bool keys_only = false;
    bool serializable = false;
};
std::string range_body(const RangeRequest& request);
// POST /v3/watch: the create request; the gateway then streams one JSON
// object per message. `start_revision` 0: from now.
std::string watch_body(std::string_view key, std::string_view range_end, int64_t start_revision, bool progress_notify);
// POST /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke
std::string lease_grant_body(int64_t ttl_seconds);
std::string lease_id_body(int64_t lease_id);
// POST /v3/maintenance/status: "{}". POST /v3/kv/compaction:
std::string compaction_body(int64_t revision, bool physical);

// --- Responses --------------------------------------------------------------

struct Header {
    int64_t revision = 0;
    uint64_t member_id = 0;
    uint64_t raft_term = 0;
};

struct KeyValue {
    std::string key;  // decoded bytes
    std::string value;  // decoded bytes
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t version = 0;
    int64_t lease = 0;
};

struct RangeResult {
    Header header;
    std::vector<KeyValue> kvs;
    bool more = false;
    int64_t count = 0;
};

struct TxnResult {
    Header header;
    bool succeeded = false;
    // One per op of the branch that ran, in order; only Range ops fill theirs.
    std::vector<RangeResult> ranges;
};

struct Event {
    enum class Type { Put, Delete };
    Type type = Type::Put;
    KeyValue kv;  // for a delete: key and mod_revision (the delete's revision)
};

struct WatchMessage {
    Header header;
    int64_t watch_id = 0;
    bool created = false;
    bool canceled = false;
    // Set when the start revision was compacted: the watch is canceled and
    // the caller must reload (at a revision >= this one).
    int64_t compact_revision = 0;
    std::string cancel_reason;
    std::vector<Event> events;  // empty for a progress notification
};

struct LeaseResult {
    Header header;
    int64_t id = 0;
    int64_t ttl = 0;  // seconds; <= 0 from a keepalive: the lease is gone
};

// An error body from the gateway ({"error": "...", "code": 14, "message":
// "..."}) or a streamed {"error": {...}}: true, with `code` (gRPC's) and
// `message` set, when `body` is one.
struct Error {
    int code = 0;
    std::string message;
};
bool parse_error(std::string_view body, Error& error);

// Each returns false, with `why` set, when the body is not valid JSON of the
// expected shape (an error body included: check parse_error first).
bool parse_range(std::string_view body, RangeResult& out, std::string& why);
bool parse_txn(std::string_view body, TxnResult& out, std::string& why);
// One streamed message: {"result": {...}} (or the bare object).
bool parse_watch(std::string_view body, WatchMessage& out, std::string& why);
bool parse_lease(std::string_view body, LeaseResult& out, std::string& why);
// /v3/maintenance/status: the member's leader id and raft term, db size.
struct StatusResult {
    Header header;
    uint64_t leader = 0;
    std::string version;
};
bool parse_status(std::string_view body, StatusResult& out, std::string& why);

// gRPC codes kvstored tells apart (in Error::code).
inline constexpr int kCodeOutOfRange = 11;  // a compacted or future revision
inline constexpr int kCodeCanceled = 1;  // the gateway's own call cut short: the member is shutting down
inline constexpr int kCodeUnavailable = 14;
inline constexpr int kCodeDeadlineExceeded = 4;

}  // namespace kv::etcd
