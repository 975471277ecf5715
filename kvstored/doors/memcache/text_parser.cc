// text_parser.cc: memcached's text protocol, request side, as memcached
// 1.6.18's proto_text.c reads it (try_read_command_ascii, tokenize_command,
// process_update_command, process_mset_command, complete_nread_ascii,
// conn_swallow), quirks included, because clients and the differential test
// compare us with memcached byte for byte:
//  - a classic storage line with the wrong number of tokens is answered
//    "ERROR" and reads no data (the data line is then taken for a command);
//  - "noreply" counts only as the last token, and it silences the parser's
//    own errors too ("set k x 0 1 noreply" answers nothing, then the data
//    line answers "ERROR");
//  - the numbers go through memcached's safe_strtoul/safe_strtol/
//    safe_strtoull: leading blanks and a '+' pass, so does a blank after the
//    digits, flags and exptime keep their low 32 bits, a negative flags or
//    cas is refused only when strtoul's wrapped result is negative;
//  - the data block is read by its length, then its last two bytes must be
//    "\r\n", else "CLIENT_ERROR bad data chunk", and what follows the block is
//    the next command; a block too large is swallowed, its last two bytes
//    unchecked, and answered once swallowed.
#include "text_parser.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "numbers.h"

namespace kv::memcache {

namespace {

// try_read_command_ascii: past this many bytes without "\n" memcached closes
// the connection, unless the line is a get (after at most 100 spaces). Here:
// a line whose text (CR LF not counted) is longer.
constexpr size_t kMaxUnterminated = 2048;
constexpr size_t kMaxGetIndent = 100;
// process_mset_command: "ntokens > MFLAG_MAX_OPT_LENGTH" (20, with the
// tokenizer's terminal token), i.e. more than 19 tokens.
constexpr size_t kMaxMetaTokens = 19;

constexpr std::string_view kError = "ERROR\r\n";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kTooManyFlags = "CLIENT_ERROR options flags too long\r\n";
constexpr std::string_view kLineTooLong = "SERVER_ERROR command line too long\r\n";

// tokenize_command: split on ' ' only, empty tokens dropped.
void tokenize(std::string_view line, std::vector<std::string_view>& tokens)
{
    size_t i = 0;
    const size_t n = line.size();
    while (i < n) {
        while (i < n && line[i] == ' ')
            ++i;
        const size_t start = i;
        while (i < n && line[i] != ' ')
            ++i;
        if (i > start)
            tokens.push_back(line.substr(start, i - start));
    }
}

// The line try_read_command_ascii would let grow past 2048 bytes: at most
// 100 spaces, then "get " or "gets ". `head` is the line's first bytes.
bool is_get_line(std::string_view head)
{
    size_t i = 0;
    while (i < head.size() && head[i] == ' ')
        ++i;
    if (i > kMaxGetIndent)
        return false;
    head.remove_prefix(i);
    return head.starts_with("get ") || head.starts_with("gets ");
}

enum class Storage { None, Classic, Cas, Meta };

Storage storage_kind(std::string_view cmd)
{
    if (cmd == "set" || cmd == "add" || cmd == "replace" || cmd == "append" || cmd == "prepend")
        return Storage::Classic;
    if (cmd == "cas")
        return Storage::Cas;
    if (cmd == "ms")
        return Storage::Meta;
    return Storage::None;
}

void clear_request(Request& req)
{
    req.tokens.clear();
    req.storage = false;
    req.key = {};
    req.flags = 0;
    req.exptime = 0;
    req.cas_unique = 0;
    req.noreply = false;
    req.has_data = false;
    req.data = {};
    req.too_large = false;
}

}  // namespace

// Consumed bytes are dropped only here, so that the views next() handed out
// stay valid until now, and only once they are at least as many as the bytes
// kept: compaction moves no more bytes than were consumed since the last one.
// Bytes of a block being swallowed are dropped before they are buffered.
void RequestParser::append(const char* data, size_t len)
{
    if (phase_ == Phase::Closed)
        return;
    if (phase_ == Phase::Swallow) {
        drop_swallowed();
        const size_t skip = std::min(len, swallow_left_);
        swallow_left_ -= skip;
        data += skip;
        len -= skip;
    }
    if (pos_ > 0 && pos_ >= buf_.size() - pos_) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data, len);
}

bool RequestParser::wants_input() const
{
    switch (phase_) {
    case Phase::Line:
        return find_line() == 0 && !close_;
    case Phase::Data:
        return buffered() < line_len_ + block_;
    case Phase::Swallow:
        return swallow_left_ > 0;
    case Phase::Closed:
        break;
    }
    return false;
}

// Searches only the bytes not searched before, so a line arriving a byte at a
// time is scanned once. The bounds are checked as memcached checks them on
// input arriving a byte at a time, so the outcome never depends on the reads.
size_t RequestParser::find_line() const
{
    if (close_)
        return 0;
    const size_t avail = buffered();
    const char* base = buf_.data() + pos_;
    size_t len = 0;
    if (scanned_ < avail) {
        const void* lf = std::memchr(base + scanned_, '\n', avail - scanned_);
        if (lf) {
            len = static_cast<size_t>(static_cast<const char*>(lf) - base) + 1;
            scanned_ = len - 1;  // found again at once
        } else {
            scanned_ = avail;
        }
    }
    // The line's text, without its "\r\n" (or "\n"; while neither came, a
    // last "\r" may be the start of one).
    size_t body = len ? len - 1 : avail;
    if (body > 0 && base[body - 1] == '\r')
        --body;
    // The line can no longer fit in max_line (with its "\n"), or it is past
    // memcached's 2048 bytes and no get. The get test looks at the first
    // bytes only, the same whether or not the "\n" has come.
    const bool over_max = len ? len > limits_.max_line : avail > 0 && avail >= limits_.max_line;
    const bool over_unterminated = body > kMaxUnterminated;
    if (over_max || over_unterminated) {
        const size_t head = std::min({body, limits_.max_line, kMaxUnterminated + 1});
        get_like_ = is_get_line(std::string_view(base, head));
        if (over_max || !get_like_) {
            close_ = true;
            return 0;
        }
    }
    return len;
}

void RequestParser::consume(size_t n)
{
    pos_ += n;
    phase_ = Phase::Line;
    scanned_ = 0;
    line_len_ = block_ = swallow_left_ = 0;
}

RequestParser::LineVerdict RequestParser::parse_line(size_t len, Request& req, std::string& reply) const
{
    LineVerdict v;
    std::string_view line(buf_.data() + pos_, len - 1);
    if (line.size() > 1 && line.back() == '\r')
        line.remove_suffix(1);
    line = line.substr(0, line.find('\0'));
    tokenize(line, req.tokens);
    const auto& t = req.tokens;
    // process_command_ascii: no command is shorter than two bytes.
    if (t.empty() || t[0].size() < 2) {
        clear_request(req);
        reply = kError;
        v.next = Next::Reply;
        return v;
    }
    const Storage kind = storage_kind(t[0]);
    if (kind == Storage::None)
        return v;

    auto refuse = [&](std::string_view text, bool quiet) {
        clear_request(req);
        if (!quiet)
            reply = text;
        v.next = Next::Reply;
        return v;
    };
    int32_t vlen = 0;
    if (kind == Storage::Meta) {
        // process_mset_command: every error is answered, even with q.
        if (t.size() < 2)
            return refuse(kError, false);
        if (t[1].size() > kMaxKey || t.size() == 2)
            return refuse(kBadFormat, false);
        if (t.size() > kMaxMetaTokens)
            return refuse(kTooManyFlags, false);
        if (!safe_strtol(t[2], vlen) || vlen < 0 || vlen > INT_MAX - 2)
            return refuse(kBadFormat, false);
        req.key = t[1];
    } else {
        // process_command_ascii's WANT_TOKENS_OR, then process_update_command.
        const size_t want = kind == Storage::Cas ? 6 : 5;
        if (t.size() != want && t.size() != want + 1)
            return refuse(kError, false);
        const bool noreply = t.back() == "noreply";
        uint32_t flags = 0;
        int32_t exptime = 0;
        uint64_t cas = 0;
        if (t[1].size() > kMaxKey)
            return refuse(kBadFormat, noreply);
        if (!(safe_strtoul(t[2], flags) && safe_strtol(t[3], exptime) && safe_strtol(t[4], vlen)))
            return refuse(kBadFormat, noreply);
        if (kind == Storage::Cas && !safe_strtoull(t[5], cas))
            return refuse(kBadFormat, noreply);
        if (vlen < 0 || vlen > INT_MAX - 2)
            return refuse(kBadFormat, noreply);
        req.storage = true;
        req.key = t[1];
        req.flags = flags;
        req.exptime = exptime;
        req.cas_unique = cas;
        req.noreply = noreply;
        v.chunk_errors_quiet = noreply;
    }
    req.has_data = true;
    v.block = static_cast<size_t>(vlen) + 2;
    v.too_large = static_cast<size_t>(vlen) > limits_.max_value;
    req.too_large = v.too_large;
    return v;
}

// complete_nread_ascii: the block's last two bytes must be "\r\n"; either way
// the block is consumed, and what follows it is the next command.
RequestParser::Next RequestParser::finish_block(const LineVerdict& v, Request& req, std::string& reply)
{
    const char* block = buf_.data() + pos_ + line_len_;
    const size_t total = line_len_ + block_;
    if (block[block_ - 2] != '\r' || block[block_ - 1] != '\n') {
        clear_request(req);
        if (!v.chunk_errors_quiet)
            reply = kBadChunk;
        consume(total);
        return Next::Reply;
    }
    req.data = std::string_view(block, block_ - 2);
    consume(total);
    return Next::Request;
}

// conn_swallow: drops buffered bytes of the block being swallowed (those
// after the line, which stays for the request handed out at the end).
void RequestParser::drop_swallowed()
{
    const size_t after = buffered() - line_len_;
    const size_t drop = std::min(after, swallow_left_);
    buf_.erase(pos_ + line_len_, drop);
    swallow_left_ -= drop;
}

RequestParser::Next RequestParser::next(Request& req, std::string& reply)
{
    clear_request(req);
    reply.clear();
    for (;;) {
        switch (phase_) {
        case Phase::Closed:
            return Next::Close;
        case Phase::Swallow: {
            drop_swallowed();
            if (swallow_left_ > 0)
                return Next::NeedMore;
            parse_line(line_len_, req, reply);
            consume(line_len_);
            return Next::Request;
        }
        case Phase::Data:
            if (buffered() < line_len_ + block_)
                return Next::NeedMore;
            return finish_block(parse_line(line_len_, req, reply), req, reply);
        case Phase::Line: {
            const size_t len = find_line();
            if (close_) {
                phase_ = Phase::Closed;
                if (get_like_)
                    reply = kLineTooLong;
                return Next::Close;
            }
            if (len == 0)
                return Next::NeedMore;
            LineVerdict v = parse_line(len, req, reply);
            if (v.next != Next::Request || v.block == 0) {
                consume(len);
                return v.next;
            }
            line_len_ = len;
            if (v.too_large) {
                phase_ = Phase::Swallow;
                swallow_left_ = v.block;
                clear_request(req);
                break;  // part of the block may be buffered already
            }
            phase_ = Phase::Data;
            block_ = v.block;
            if (buffered() >= line_len_ + block_)
                return finish_block(v, req, reply);  // the line is parsed once
            clear_request(req);
            return Next::NeedMore;
        }
        }
    }
}

bool split_credentials(std::string_view data, std::string_view& user, std::string_view& password)
{
    data = data.substr(0, data.find('\0'));
    std::string_view* next[] = {&user, &password};
    size_t found = 0;
    while (found < 2) {
        size_t start = data.find_first_not_of(' ');
        if (start == std::string_view::npos)
            break;
        data.remove_prefix(start);
        size_t end = std::min(data.find(' '), data.size());
        *next[found++] = data.substr(0, end);
        data.remove_prefix(end);
    }
    return found == 2;
}

}  // namespace kv::memcache
