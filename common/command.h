// command.h: the client line protocol (docs/protocol.md), parsed apart from
// execution so that it can be tested without sockets.
//
// The command table in command.cc is the single list of commands: the parser,
// `help`, and the mapping to wire requests all read it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire.h"

namespace kv {

inline constexpr size_t kMaxKeyBytes = 250;
inline constexpr size_t kDefaultMaxValueBytes = 64 * 1024;
// Room on a line for the command word, the key and separators, beyond the value.
inline constexpr size_t kLineOverhead = 512;
// Whoever serves a client's lines (kvsvc, or kvstored for a handed-off socket)
// stops taking commands while this much reply text waits for the client: a
// client that never reads costs about this much memory, plus one reply.
inline constexpr size_t kMaxClientOutput = 1u << 20;
// A client with reply text waiting that takes none of it for this long is
// disconnected (and logged), handed off or relayed: kvstored cuts a handed-off
// socket, kvsvc resets the connection. Output may have stopped mid-reply, so
// the client sees a reset, never a BYE (docs/protocol.md).
inline constexpr std::chrono::seconds kWriteStallTimeout{10};

enum class Verb {
    Connect,
    Auth,
    Save,
    Add,
    Replace,
    Cas,
    Append,
    Read,
    Gets,
    Take,
    Delete,
    Exists,
    Incr,
    Decr,
    Expire,
    Persist,
    Ttl,
    Keys,
    Count,
    Stats,
    Sync,
    Ping,
    Help,
    Close,
    Exit,
};

// The longest ttl (save, add, replace, cas) and expire, in seconds: 100 years.
inline constexpr int64_t kMaxTtlSeconds = 3'153'600'000;

// A parsed command. The fields past `value` are already in the form of the
// wire::Request that to_request() makes; each is set only by the commands
// that take it (wire.h says which op reads which field), else left at its
// default.
struct Command {
    Verb verb = Verb::Ping;
    std::string_view key{};  // key, or prefix for Keys (may be empty)
    std::string_view value{};  // save, add, replace, cas, append
    // ttl of save/add/replace/cas: After (seconds * 1000), else None; expire:
    // After (seconds * 1000, <= 0 deletes); incr, decr, append: Keep.
    wire::Expiry expiry = wire::Expiry::None;
    int64_t expiry_ms = 0;
    uint64_t version = 0;  // cas: 1 to 2^64-1
    int64_t delta = 0;  // incr, decr: as given (default 1); decr subtracts it
};

struct ParseResult {
    enum class Kind { Empty, Command, Error } kind = Kind::Empty;
    Command command;
    std::string error;  // the whole reply line, e.g. "ERR syntax usage: read <key>\n"
};

// Parses one line (without its LF; a trailing CR is ignored). Views in the
// result point into `line`.
ParseResult parse_line(std::string_view line, size_t max_value);

// The wire operation a command needs from kvstored, or nullopt when kvsvc
// answers it alone (connect, ping, help, close, exit) or sends a session
// operation of its own for it (auth: wire::Op::Auth, see auth_request()).
std::optional<wire::Op> wire_op(Verb verb);

// The command word that sends data operation `op` ("save" for Op::Save), or
// "" for an op no line command sends (the admin operations). A view of the
// command table: it lives as long as the program.
std::string_view op_word(wire::Op op);

// The Request that carries a data command (one with a wire_op) to kvstored;
// its views point where the command's do. kvsvc and kvstored build every
// Request from a Command with this, so both send the same thing.
wire::Request to_request(const Command& cmd);
// The Request for `auth <user> <password>` (wire::Op::Auth: key the user,
// value the password). Its views point where the command's do.
wire::Request auth_request(const Command& cmd);

// Strict decimal integers, as the line protocol takes them (and Redis's
// string2ll): "0", or an optional '-' then a digit 1-9 then digits, within
// the type's range. No '+', no leading zeros, no "-0", no blanks.
std::optional<int64_t> parse_int64(std::string_view text);
// The same without the '-'.
std::optional<uint64_t> parse_uint64(std::string_view text);

// "" when `key` is a valid key of the line protocol, else why not (for "ERR
// bad-key <why>"): 1 to 250 bytes, no space, ':' or control byte. The line
// parser holds every key it reads to this rule, and `keys` lists only keys
// that obey it (docs/protocol.md, "Keys and values written through other
// doors").
std::string_view key_problem(std::string_view key);

// "" when the store can hold `key`, else why not: 1 to 250 bytes of any value
// (what the Redis door may write). Everything below the doors (the Database,
// its SQLite file, the wire, admin dump and load) holds keys to this rule.
std::string_view store_key_problem(std::string_view key);

// A value the line protocol can send in a reply: one without a LF (a LF
// would end the VALUE line early). "" when it can, else why not.
std::string_view unshowable_value(std::string_view value);

// `bytes` made safe for one line of text (an error reply, a log line, for
// people): the bytes 0x00-0x1f and 0x7f as "\xHH", all else as it is, so a
// key the line protocol can show is shown unchanged.
std::string printable_bytes(std::string_view bytes);

// The full "HELP <n>" reply.
std::string help_text();

// Reply lines shared by both programs (kvsvc, and kvstored serving a handed-off
// socket). Each is a whole line ending in LF.
std::string error_reply(std::string_view code, std::string_view message);
inline constexpr std::string_view kConnectedReply = "OK connected\n";
inline constexpr std::string_view kPongReply = "PONG\n";
std::string too_long_reply(size_t max_line);

// Splits a byte stream into lines of at most `max_line` bytes. A longer line
// is reported once as too long and the rest of it, up to its LF, is dropped.
class LineSplitter {
public:
    enum class Next { Line, TooLong, NeedMore };

    explicit LineSplitter(size_t max_line) : max_line_(max_line) { }
    void set_max_line(size_t max_line) { max_line_ = max_line; }
    size_t max_line() const { return max_line_; }

    void append(const char* data, size_t len);
    // The line stays valid until the next append().
    Next next(std::string_view& line);
    size_t buffered() const { return buf_.size() - pos_; }
    // The buffered bytes, left in place.
    std::string_view buffered_bytes() const { return {buf_.data() + pos_, buffered()}; }
    // Inside an overlong line being dropped.
    bool discarding() const { return discarding_; }
    // Nothing buffered, and not inside an overlong line being dropped.
    bool at_line_start() const { return buffered() == 0 && !discarding_; }
    // A final line without LF at end of input, if any.
    std::string_view take_rest();

private:
    size_t max_line_;
    std::string buf_;
    size_t pos_ = 0;
    size_t scanned_ = 0;  // bytes after pos_ already known to hold no LF
    bool discarding_ = false;  // inside an overlong line, dropping up to its LF
};

}  // namespace kv
