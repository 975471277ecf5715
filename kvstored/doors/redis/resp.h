// resp.h: the Redis protocol's framing (RESP2 and RESP3), both ways. The
// parser reads requests exactly as Redis 7.0's networking.c does
// (processMultibulkBuffer, processInlineBuffer): the same errors for the same
// malformed input, and the same decision to close the connection after one.
// The writer encodes replies for the protocol version the session chose with
// HELLO (2 until then), as Redis 7.0's reply functions do.
//
// Commands live in redis_commands.h; nothing here knows what a command means.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv::redis {

// Bounds on one request (docs/redis.md, "Limits"). A bulk string longer than
// max_bulk is refused as Redis refuses one longer than proto-max-bulk-len
// ("Protocol error: invalid bulk length"); a whole request longer than
// max_request (all its bulks and headers) closes the connection without a
// reply, as Redis closes a client past client-query-buffer-limit.
struct RequestLimits {
    size_t max_bulk;
    size_t max_request;
};

// Redis's PROTO_INLINE_MAX_SIZE: the longest inline request, and the longest
// multibulk or bulk header ("*N", "$N") Redis waits for before refusing it.
inline constexpr size_t kInlineMax = 64 * 1024;

// Splits a byte stream into requests. The decision on a request depends only on
// its first max_request bytes, never on how the stream was cut into appends.
//
// Memory: the buffer holds the unparsed input plus consumed bytes not yet
// compacted away, which are fewer than the unparsed ones, so a caller that
// appends only while wants_input() holds keeps it under 2 * max_request plus
// one read. Nothing is allocated from a count the client declares (a
// "*2147483647" header costs nothing until its bulks arrive). Input arriving a
// byte at a time is scanned once: each header is searched from where the last
// search stopped, and a multibulk request's arguments are collected in one pass
// when its last bulk has arrived.
class RequestParser {
public:
    enum class Next {
        Command,  // `args` holds one whole command (at least one argument)
        NeedMore,  // no whole command buffered yet
        Error,  // `error` holds the whole reply ("-ERR Protocol error: ...\r\n"), or
                // is empty when none is due (max_request); close after writing it
    };

    explicit RequestParser(RequestLimits limits) : limits_(limits) { }

    void append(const char* data, size_t len);
    // Views in `args` stay valid until the next append(). Empty inline lines
    // are skipped, as Redis skips them. After Error, call nothing but
    // buffered().
    Next next(std::vector<std::string_view>& args, std::string& error);
    size_t buffered() const { return buf_.size() - pos_; }
    // True while reading more input can help: false once a whole request's
    // bound is buffered (the caller stops reading until next() consumes).
    bool wants_input() const { return !failed_ && buffered() <= limits_.max_request; }
    const RequestLimits& limits() const { return limits_; }

private:
    // Where the request at pos_ stands. Inline: looking for its LF. Count: for
    // the CR ending "*N". BulkHeader: for the CR ending "$len" at cursor_.
    // BulkData: waiting for bulk_len_ + 2 bytes at cursor_.
    enum class Phase { Start, Inline, Count, BulkHeader, BulkData };

    // One parsing step of the request at pos_: a result for next(), or
    // nullopt to take the next step (the request went on, or carried no
    // command and was skipped).
    std::optional<Next> step(std::vector<std::string_view>& args, std::string& error);
    std::optional<Next> parse_inline(std::vector<std::string_view>& args, std::string& error);
    std::optional<Next> parse_count(std::string& error);
    std::optional<Next> parse_bulk_header(std::string& error);
    std::optional<Next> parse_bulk_data(std::vector<std::string_view>& args, std::string& error);
    Next need_more(std::string& error);
    Next fail(std::string& error, std::string_view text);
    // The first `term` or NUL at or after scanned_ and before `limit`, or npos;
    // scanned_ moves past what was searched. A NUL ends the search for good
    // (stuck_), as Redis's strchr() stops at one.
    size_t find_terminator(char term, size_t limit);
    bool split_inline(size_t begin, size_t end, std::vector<std::string_view>& args);
    void collect_bulks(std::vector<std::string_view>& args) const;

    RequestLimits limits_;
    std::string buf_;
    size_t pos_ = 0;  // start of the request being parsed; before it, consumed bytes
    Phase phase_ = Phase::Start;
    size_t cursor_ = 0;  // multibulk: start of the next header or bulk (>= pos_)
    size_t scanned_ = 0;  // the terminator searched for is not in [pos_ or cursor_, scanned_)
    bool stuck_ = false;  // a NUL came before the terminator: Redis waits for its 64 KiB bound
    long long count_ = 0;  // multibulk: its "*N"
    long long bulks_left_ = 0;  // multibulk: bulks still to come
    size_t bulk_len_ = 0;  // BulkData: the bulk's declared length
    bool failed_ = false;  // an Error was returned
};

// The bounds on one request for a kvstored whose --max-value is `max_value`
// (docs/redis.md, "Limits"): a bulk string may hold max_value bytes (Redis's
// proto-max-bulk-len), a whole request 1 MiB plus two of those. A MULTI
// queue is held to the same bound as one request.
inline RequestLimits request_limits_for(size_t max_value)
{
    return RequestLimits{max_value, (size_t{1} << 20) + 2 * max_value};
}

// The longest reply one command may produce (docs/redis.md, "Limits"): a
// small request must not make kvstored build gigabytes (MGET of one large
// value 100,000 times, KEYS over a huge store). Past it the command's reply
// is replaced by an error.
inline constexpr size_t kMaxReplyBytes = 4u << 20;

// Appends RESP replies to a string. Which encoding a type gets depends on the
// session's protocol version (2 or 3), exactly as Redis 7.0 sends it.
//
// With a `limit`, once more than that many bytes have been appended since
// construction every further call appends nothing and overflowed() is true:
// the caller discards the reply (memory stays within the limit plus one
// element).
class ReplyWriter {
public:
    ReplyWriter(std::string& out, int protocol, size_t limit = SIZE_MAX)
        : out_(out), protocol_(protocol), start_(out.size()), limit_(limit)
    {
    }

    int protocol() const { return protocol_; }
    std::string& buffer() { return out_; }
    bool overflowed() const { return out_.size() - start_ > limit_; }

    void simple(std::string_view text);  // +text
    // `message` is the whole error line without '-' and CRLF, code included:
    // "ERR wrong number of arguments for 'get' command", "WRONGTYPE ...".
    // CR and LF in it become spaces, as Redis does.
    void error(std::string_view message);
    void integer(long long value);  // :n
    void bulk(std::string_view bytes);  // $n
    void null();  // RESP2 $-1, RESP3 _
    void null_array();  // RESP2 *-1, RESP3 _
    void array(size_t n);  // *n, then n replies
    void map(size_t pairs);  // RESP2 *2n, RESP3 %n, then 2n replies
    void set(size_t n);  // RESP2 *n, RESP3 ~n
    void push(size_t n);  // RESP3 >n (RESP2: *n)
    // RESP2: a bulk string; RESP3: ,x. Formatted as Redis's addReplyDouble
    // (%.17g, inf, -inf).
    void double_value(double value);
    void boolean(bool value);  // RESP2 :1/:0, RESP3 #t/#f
    // RESP3 =len\r\ntxt:text (CLIENT INFO, INFO); RESP2 a bulk string.
    void verbatim(std::string_view text);
    void ok() { simple("OK"); }

private:
    std::string& out_;
    int protocol_;
    size_t start_;
    size_t limit_;
};

}  // namespace kv::redis
