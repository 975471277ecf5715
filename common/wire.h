// wire.h: every message between kvsvc and kvstored, and how it is framed.
//
// This is the only place the wire format is declared; both programs include it.
// A connection is a stream of frames over a Unix-domain stream socket:
//
//     | u32 payload length (big-endian) | u8 message type | payload ... |
//
// Integers are big-endian; an i64 is a u64 holding the two's complement. A str16 is a u16 length then that many bytes;
// a str32 is a u32 length then the bytes. Strings are bytes, not text: any byte may occur.
//
// The conversation:
//   kvsvc    -> kvstored  Hello     (first frame, always)
//   kvstored -> kvsvc     Welcome   (or Refused, then kvstored closes; after a
//                                  Hello with kHelloHandoff, see below)
//   kvsvc    -> kvstored  Request   (any number, pipelined; may follow the Hello
//                                  at once: kvstored ignores them if it refuses)
//   kvstored -> kvsvc     Reply     (one or more chunks per Request, in request order)
//   kvstored -> kvsvc     Shutdown  (kvstored is going away; it closes after sending)
// kvsvc detaches by closing its end; kvstored answers what it already received.
//
// Socket handoff (the fast path): when every Request it sent has been answered,
// kvsvc may send Handoff with the client's socket attached as SCM_RIGHTS.
// kvstored then serves the client's line protocol on that socket itself, so no
// process and no frame sits between a request and its reply; kvsvc sends
// nothing more and sleeps until HandBack returns the session to it (close, exit,
// end of input, idle timeout, shutdown), after which the conversation is as
// before. A Shutdown notice to a handed-off kvsvc always follows a HandBack.
// After a HandBack that ends the session (end of input with no input
// returned, idle timeout, client gone, output cut) kvstored closes the
// connection itself: kvsvc has nothing more to ask, and its exit then wakes
// nobody. A HandBack carries the output not yet written, so the client's
// stream is at a reply boundary once kvsvc has written it, and kvsvc may add a
// BYE; after HandBackReason::OutputCut, or when kvstored vanishes while it
// holds the socket, it is not, and kvsvc resets the client's connection.
//
// Handoff with the Hello (the fastest path, T3 in bench/README.md): when kvsvc
// has nothing of its own to write, `connect` sends the Hello with
// kHelloHandoff and a Handoff right behind it, in one message carrying two
// descriptors: the client's socket and a claim token, an eventfd holding 1.
// kvstored answers `connect` itself ("OK connected"), serves the Handoff's
// input and then the socket, and sends no Welcome until it sends its first
// other frame (a HandBack, or Shutdown before any). Whoever reads the token
// first owns the socket, so the attach timeout stays safe: kvstored takes the
// socket only by reading the token, and kvsvc, when kvstored has not answered
// in time (or refuses, or goes away), reads it itself; if that read finds the
// token taken, kvstored is serving the client and kvsvc waits for its frames.
//
// Trust is asymmetric: kvstored drops (and logs) a peer that sends a malformed or
// oversized frame and goes on serving everyone else; kvsvc ends its session cleanly
// when kvstored does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kv::wire {

// Bump when anything in this file changes meaning or layout. The version is the
// first field of Hello and Welcome so that a mismatch is always detectable.
// 2: Handoff, HandBack; 3: Hello flags, Handoff input; 4: staged load ops, OutputCut;
// 5: Request expiry, version and delta fields, the atomic and expiry ops, Entry (ops renumbered);
// 6: kHelloRedis; Dump page lines are escaped tsv lines (any key and value bytes);
// 7: kHelloMemcache; Dump page lines and admin Entry/Load carry memcached's flags;
// 8: Op::Sync (the admin ops renumbered); 9: the session ops Auth and Connect.
inline constexpr uint32_t kVersion = 9;

inline constexpr size_t kHeaderSize = 5;
// Largest payload either side accepts. A Request holds at most one key and one
// value; replies larger than this are split into chunks (see Reply).
inline constexpr uint32_t kMaxPayload = 1u << 20;

enum class Msg : uint8_t {
    Hello = 1,  // u32 version, u32 kvsvc pid, str16 client address ("" if unknown), u8 flags
    Welcome = 2,  // u32 version, u32 max value bytes, u64 client id
    Refused = 3,  // str16 reason (human readable); the connection then closes
    Request = 4,  // u8 Op, str16 key or prefix, str32 value, u8 Expiry, i64 expiry_ms, u64 version, i64 delta
    Reply = 5,  // u8 flags, then the rest of the payload is reply text
    Shutdown = 6,  // str16 message, shown to the client as "BYE <message>"
    Handoff = 7,  // u32 idle timeout seconds (0: none), str32 input read from the client and not yet
                  // processed; the client's socket (and after a Hello, the claim token) travel as SCM_RIGHTS
    HandBack = 8,  // u8 HandBackReason, str32 output not yet written to the client, str32 input not yet processed
};

// Why kvstored returns the client's socket to kvsvc.
enum class HandBackReason : uint8_t {
    Command = 1,  // a command kvstored does not serve (close, exit): it starts the returned input
    EndOfInput = 2,  // the client closed its sending side; the input is its unterminated last line
    Shutdown = 3,  // a Shutdown notice follows
    IdleTimeout = 4,  // the client was silent for the idle timeout
    ClientGone = 5,  // reading or writing the client's socket failed
    // kvstored gave up on a client that did not take its output in time (the
    // write-stall, kick or shutdown deadline): what it wrote may end in the
    // middle of a reply, so kvsvc resets the connection instead of saying BYE.
    // Output and input are empty.
    OutputCut = 6,
};
inline constexpr uint8_t kLastHandBackReason = 6;

// What a Request asks for. For the data operations (up to kLastDataOp) the
// reply text is exactly what the client sees, as specified in
// docs/protocol.md. The admin operations are accepted on the admin socket
// only; their replies are read by the kvstored admin subcommands.
//
// Each op reads only the Request fields named here; the others are zero (the
// defaults of Request). "expiry" is the pair (Request::expiry, expiry_ms).
enum class Op : uint8_t {
    Save = 1,  // key, value, expiry (None: no deadline; After/At: this one)
    Read = 2,  // key
    Delete = 3,  // key
    Exists = 4,  // key
    Keys = 5,  // key: prefix ("" for all)
    Count = 6,
    Stats = 7,
    Add = 8,  // as Save, only if the key is absent
    Replace = 9,  // as Save, only if the key is present
    Gets = 10,  // key: "VALUE <version> <value>"
    Cas = 11,  // key, value, expiry, version: as Save, only if the entry's version is still `version`
    Incr = 12,  // key, delta (may be negative); expiry Keep
    Decr = 13,  // key, delta: subtracted (may be negative); expiry Keep
    Append = 14,  // key, value; expiry Keep
    Take = 15,  // key: read and delete
    Expire = 16,  // key, expiry (After: ms from now, <= 0 deletes now; At: unix ms)
    Persist = 17,  // key: drop the deadline
    Ttl = 18,  // key
    // "OK synced <revision>": sent once this host's copy holds every write the
    // etcd backend had committed when it ran (Database::sync); "OK synced 0"
    // at once without etcd.
    Sync = 19,
    // Admin operations.
    Status = 20,  // "STATUS <n>" then n lines "<name> <value>"
    Clients = 21,  // "CLIENTS <n>" then n lines "<id> <pid> <address> <since_unix> <commands> <idle_seconds>
                   // <line|redis|memcache>"
    Kick = 22,  // key: client id (decimal); value: message. Answered once the client is gone: "OK", or
                // "OK cut: <why>" when it was cut at the kick deadline; "NOT_FOUND" at once
    Flush = 23,  // "OK": every entry deleted
    Shutdown = 24,  // value: message for the clients. "OK", then kvstored shuts down
    // Pages "DUMP <n> more" / last "DUMP <n>", each then n lines; every page but the last is a Reply chunk with
    // kReplyMore. A line is a tsv dump line of the current dump format (kvstored/dump_format.h):
    // "<key>\t<value>\t<deadline unix ms, empty for none>", then "\t<flags>" when the entry's memcached
    // flags are not 0 (version 7), key and value escaped (\\ \t \n \r \0 \xHH for the
    // other bytes below 0x20 and 0x7f), so any bytes the store holds (keys with spaces, values with LF, written
    // through the Redis door) come through whole. (Before version 6: "<key> <deadline, 0 none> <value>".)
    Dump = 25,
    // A load, applied whole or not at all (kvstored/database.h): LoadBegin,
    // any number of LoadEntry, then LoadCommit, on one connection. An ERR
    // reply to any of them discards the load and changes nothing.
    LoadBegin = 26,  // value: "replace" (delete every entry first) or "". "OK"
    LoadEntry = 27,  // key, value, expiry (None, or At: the deadline in unix ms), delta: memcached's flags
                     // (0..UINT32_MAX; version 7). "OK"
    LoadCommit = 28,  // "LOADED <entries> <entries in the store after> <entries skipped: already expired>"
    // key (any the store holds): "ENTRY <version> <deadline ms, 0 none> <flags> <value>\n" | "NOT_FOUND"
    // (admin get; <flags>: memcached's client flags, 0 for none, since version 7). The value is every byte
    // after the fourth space up to the reply's final LF, LFs included: the reply is one message, read whole.
    Entry = 29,
    // Session operations (version 9; service socket only): what the session
    // may do, not data. kvstored answers them whether or not a users file is
    // configured (docs/protocol.md, "Authentication").
    // key: user, value: password. "OK authenticated" | "ERR auth-failed <why>"
    // (at least 1 s later; after the last allowed failure a Shutdown notice
    // follows) | "OK authenticated" at once with no users file (auth off).
    // Never logged.
    Auth = 30,
    // The line protocol's `connect` when relayed: "OK connected", or "ERR
    // auth-required ..." while a users file is configured and the session has
    // not authenticated (it stays attached and may send Auth).
    Connect = 31,
};
inline constexpr uint8_t kLastDataOp = 19;
inline constexpr uint8_t kLastAdminOp = 29;
inline constexpr uint8_t kLastOp = 31;
inline constexpr bool is_admin_op(Op op)
{
    return static_cast<uint8_t>(op) > kLastDataOp && static_cast<uint8_t>(op) <= kLastAdminOp;
}

// When an entry written by a Request expires.
enum class Expiry : uint8_t {
    None = 0,  // no deadline (a save clears the entry's deadline)
    After = 1,  // expiry_ms milliseconds from now; with Op::Expire, <= 0 deletes the key now
    At = 2,  // at expiry_ms, wall-clock milliseconds since the Unix epoch
    Keep = 3,  // the entry keeps the deadline it has (none for a new key)
};
inline constexpr uint8_t kLastExpiry = 3;

// Reply flags: kReplyMore says more chunks of the same reply follow.
inline constexpr uint8_t kReplyMore = 0x01;

// Hello flags. kHelloHandoff: a Handoff follows in the same message (above).
// kHelloRedis: the client speaks the Redis protocol (RESP, docs/redis.md).
// It comes with kHelloHandoff, always: kvstored alone parses RESP, so a kvsvc
// whose stdin and stdout are not one socket hands off one end of a
// socketpair and copies bytes between it and the client. The session's
// replies are RESP; its HandBack never asks kvsvc to run a command (only
// EndOfInput after QUIT with the +OK in its output, Shutdown, IdleTimeout,
// ClientGone, OutputCut), and kvsvc ends the session after writing the
// returned output: no BYE line, which a Redis client could not parse.
inline constexpr uint8_t kHelloHandoff = 0x01;
inline constexpr uint8_t kHelloRedis = 0x02;
// kHelloMemcache: the client speaks memcached's text protocol
// (docs/memcache.md). Everything said of kHelloRedis above holds for it too.
inline constexpr uint8_t kHelloMemcache = 0x04;

struct Hello {
    uint32_t version = kVersion;
    uint32_t pid = 0;
    std::string_view address;
    uint8_t flags = 0;
};

struct Welcome {
    uint32_t version = kVersion;
    uint32_t max_value = 0;
    uint64_t client_id = 0;
};

struct Request {
    Op op = Op::Count;
    std::string_view key;
    std::string_view value;
    Expiry expiry = Expiry::None;
    int64_t expiry_ms = 0;  // meaning set by `expiry`; 0 with None and Keep
    uint64_t version = 0;  // Cas: the version the entry must still have
    int64_t delta = 0;  // Incr, Decr
};

struct Reply {
    uint8_t flags = 0;
    std::string_view text;
};

struct Handoff {
    uint32_t idle_timeout_seconds = 0;
    std::string_view input;
};

struct HandBack {
    HandBackReason reason = HandBackReason::Command;
    std::string_view output;
    std::string_view input;
};

// A text-only message: Refused or Shutdown.
struct Notice {
    std::string_view text;
};

// Encoders append one whole frame to `out`. Strings longer than their length
// field allows are truncated; callers validate sizes before encoding.
void append(std::string& out, const Hello& m);
void append(std::string& out, const Welcome& m);
void append(std::string& out, const Request& m);
void append(std::string& out, const Reply& m);
void append(std::string& out, Msg type, const Notice& m);
void append(std::string& out, const Handoff& m);
void append(std::string& out, const HandBack& m);

// Appends `text` as one or more Reply frames of at most kMaxPayload bytes each.
void append_reply(std::string& out, std::string_view text);

// Decoders parse one payload; they return false on a short, oversized, or
// trailing-garbage payload, and on out-of-range enum values. Views point into
// the payload.
bool decode(std::string_view payload, Hello& m);
bool decode(std::string_view payload, Welcome& m);
bool decode(std::string_view payload, Request& m);
bool decode(std::string_view payload, Reply& m);
bool decode(std::string_view payload, Notice& m);
bool decode(std::string_view payload, Handoff& m);
bool decode(std::string_view payload, HandBack& m);

// Reads just the leading version field of a Hello or Welcome, so that a peer
// speaking another version gets a clear answer even if the layout changed.
bool peek_version(std::string_view payload, uint32_t& version);

// Reads the claim token of a Handoff sent with a Hello (above) from `fd`,
// never blocking whatever `fd` is: true if the caller now owns the client's
// socket, false if the other side read the token first.
bool take_claim(int fd);

struct Frame {
    Msg type;
    std::string_view payload;
};

// Reassembles frames from a byte stream. Frames returned by next() stay valid
// until the next call to append() or read_from().
class FrameBuffer {
public:
    enum class Next { Frame, NeedMore, Oversized };

    void append(const char* data, size_t len);
    // Reads once from a non-blocking fd. Returns bytes read, 0 on EOF, -1 with
    // errno set on error (EAGAIN included).
    long read_from(int fd);
    Next next(Frame& frame);
    size_t buffered() const { return buf_.size() - pos_; }

private:
    void compact();

    std::string buf_;
    size_t pos_ = 0;  // start of the first unconsumed byte
};

}  // namespace kv::wire
