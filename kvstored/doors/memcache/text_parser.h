// text_parser.h: the request side of memcached's text protocol
// (docs/memcache.md), as memcached 1.6's proto_text.c reads it.
//
// A request is a command line ending in "\n" (memcached takes "\r\n" or a
// bare "\n") split on spaces into tokens; the storage commands (set add
// replace append prepend cas, and the meta command ms) are followed by a data
// block of the length their line gives, ended by "\r\n". The parser knows
// just enough of each command to find the data block: it validates a storage
// line as memcached does before it reads the data (so a bad line reads no
// data, and what follows is taken for the next command, as memcached does),
// and swallows, in bounded memory, a block longer than the value limit.
// Everything else about a command (its other arguments, its reply) belongs to
// the commands (memcache_commands.h).
//
// Lines are read as memcached reads them (try_read_command_ascii): a line ends
// at "\n", one "\r" before it is dropped, the line ends at its first NUL
// (memcached handles it as a C string), and it is split on spaces only (a tab
// or a control byte is part of a token). A line without tokens, or whose
// first token is shorter than two bytes, is answered "ERROR" by the parser
// (process_command_ascii), so a Request's tokens[0] has two bytes or more.
//
// Bounds (docs/memcache.md, "Limits"): memcached closes the connection, without
// a word, once it holds more than 2048 bytes of a line without its "\n",
// unless the line starts (after at most 100 spaces) with "get " or "gets ".
// The parser does the same whatever the reads: a line whose text (its "\r\n"
// or "\n" not counted) is longer than 2048 bytes closes the connection
// silently unless it is such a get (memcached reads a longer line when its
// "\n" came in the same read); a get line is bounded by Limits::max_line
// ("\n" included) and past it is answered "SERVER_ERROR command line too
// long" before the close (memcached grows its buffer for it without bound).
// The input buffered is at most one line plus one data block (max_value + 2)
// plus one read when the caller appends only while wants_input(); a block
// longer than max_value is dropped as it arrives, never buffered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kv::memcache {

// memcached's KEY_MAX_LENGTH.
inline constexpr size_t kMaxKey = 250;

struct Limits {
    size_t max_value = 1024 * 1024;  // a data block's bytes (kvstored's --max-value)
    size_t max_line = 64 * 1024;  // a command line's bytes, "\r\n" included (docs/memcache.md)
};

// One request, valid until the next call of RequestParser::next() or
// append() (views into the parser's buffer).
struct Request {
    // The command line split on spaces (tokens[0] is the command; empty
    // tokens from repeated spaces dropped, as memcached does).
    std::vector<std::string_view> tokens;
    // A storage command's fields, parsed and checked by the parser (set add
    // replace append prepend cas; not ms, whose flags the meta commands read:
    // for ms only `key` (tokens[1], as sent: base64 not decoded) is set).
    // The numbers are memcached's safe_strto* quirks included: flags are the
    // low 32 bits of strtoul ("4294967296" is 0), exptime the low 32 bits of
    // strtol, sign-extended.
    bool storage = false;
    std::string_view key;
    uint32_t flags = 0;
    int64_t exptime = 0;  // as the client sent it (memcache_commands.h converts)
    uint64_t cas_unique = 0;  // cas only
    bool noreply = false;
    // The data block of a storage command or ms, without its "\r\n".
    bool has_data = false;
    std::string_view data;
    // The block was longer than Limits::max_value: it is swallowed (data is
    // empty, has_data is true); the command answers
    // "SERVER_ERROR object too large for cache" as memcached does (for set
    // and ms it also deletes the old value; noreply suppresses it for the
    // classic commands). As in memcached the request is handed out once the
    // block (and the two bytes after it, unchecked) has been swallowed.
    bool too_large = false;
};

class RequestParser {
public:
    explicit RequestParser(Limits limits) : limits_(limits) { }

    // Adds bytes read from the client.
    void append(const char* data, size_t len);
    // Whether more input may be read now: false while a whole line or block
    // is already buffered and waits for next() (bounds the buffer).
    bool wants_input() const;

    enum class Next {
        NeedMore,  // nothing complete yet
        Request,  // `req` holds the next request
        // The parser answers by itself (a storage line memcached refuses
        // before its data, a bad data chunk): send `reply` (may be empty: a
        // noreply command) and call next() again.
        Reply,
        // The connection must end after `reply` (may be empty: memcached
        // closes without a word): a line past its bound (see above). Every
        // later call returns Close with an empty reply.
        Close,
    };
    Next next(Request& req, std::string& reply);

    const Limits& limits() const { return limits_; }
    size_t buffered() const { return buf_.size() - pos_; }

private:
    // Line: reading the command line at pos_. Data: its line is whole and
    // valid, waiting for the data block. Swallow: the block is too large and
    // is being dropped. Closed: Close was returned.
    enum class Phase { Line, Data, Swallow, Closed };
    // What a whole command line asks for.
    struct LineVerdict {
        Next next = Next::Request;  // Request (maybe with a block), Reply or Close
        size_t block = 0;  // bytes of data block + "\r\n" (0: no block)
        bool too_large = false;
        bool chunk_errors_quiet = false;  // noreply on a classic storage command
    };

    // The length of the line at pos_ with its "\n", or 0 while it is not
    // whole; sets `close_` when the line broke a bound.
    size_t find_line() const;
    // Tokenises and checks the line at pos_ (`len` bytes with its "\n").
    LineVerdict parse_line(size_t len, Request& req, std::string& reply) const;
    Next finish_block(const LineVerdict& v, Request& req, std::string& reply);
    void drop_swallowed();
    void consume(size_t n);

    Limits limits_;
    std::string buf_;
    size_t pos_ = 0;  // start of the request being read; before it, consumed bytes
    Phase phase_ = Phase::Line;
    mutable size_t scanned_ = 0;  // Line: no "\n" in [pos_, pos_ + scanned_)
    mutable bool close_ = false;  // Line: the line at pos_ broke a bound
    mutable bool get_like_ = false;  // with close_: it is a get line (a reply is due)
    size_t line_len_ = 0;  // Data, Swallow: the line's length with its "\n"
    size_t block_ = 0;  // Data: the block's length with its "\r\n"
    size_t swallow_left_ = 0;  // Swallow: bytes still to drop
};

// memcached 1.6's text-protocol login (-Y): before a session authenticates,
// a `set` carries "user password" as its data block (its key, flags and
// exptime are ignored). The block is read as memcached 1.6.18's
// try_read_command_asciiauth reads it: a C string (it ends at its first NUL)
// split on spaces, the first token the user and the second the password;
// further tokens are ignored. False when there are fewer than two tokens
// (memcached's "CLIENT_ERROR bad authentication token format").
bool split_credentials(std::string_view data, std::string_view& user, std::string_view& password);

}  // namespace kv::memcache
