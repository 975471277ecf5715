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
// Bounds (docs/memcache.md, "Limits"): a command line is at most
// Limits::max_line bytes; the input buffered is at most one line plus one
// data block (max_value + 2) plus one read.
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
    // replace append prepend cas; not ms, whose flags the meta commands read).
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
    // "SERVER_ERROR object too large for cache" as memcached does.
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
        // closes without a word), e.g. a line longer than Limits::max_line.
        Close,
    };
    Next next(Request& req, std::string& reply);

    const Limits& limits() const { return limits_; }
    size_t buffered() const { return buf_.size() - pos_; }

private:
    Limits limits_;
    std::string buf_;
    size_t pos_ = 0;
    // Whatever state the implementation needs (helper A).
};

}  // namespace kv::memcache
