// resp.cc: RESP requests in, RESP replies out, as Redis 7.0.15 does it.
//
// The parser follows networking.c's processInputBuffer, processInlineBuffer and
// processMultibulkBuffer step by step, quirks included, because clients and
// tests compare us with Redis byte for byte:
//  - a request starting with '*' is a multibulk request, anything else inline;
//  - headers end at the first CR, and the byte after it is skipped unchecked
//    ("*1\rX$4\r\nPING\r\n" is PING), as are the two bytes after a bulk;
//  - Redis finds terminators with strchr(), which stops at a NUL: a NUL before
//    the CR (LF for inline) leaves the request waiting until its 64 KiB bound,
//    then refused with the "too big" error;
//  - "*0" and negative counts are skipped, as are empty inline lines;
//  - every protocol error is replied and the connection closed
//    (CLIENT_CLOSE_AFTER_REPLY).
// Redis checks the 64 KiB bounds after each read of up to 16 KiB, so whether
// an overlong line passes there depends on how the bytes arrived; here the
// outcome is the one Redis gives for input arriving a byte at a time, whatever
// the appends: refused iff the line (or header) before its terminator is over
// 64 KiB.
#include "resp.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace kv::redis {

namespace {

// Redis's string2ll (util.c): an optional '-', then "0" alone or digits not
// starting with 0, within long long, fewer than 21 bytes. No '+', no blanks.
bool string2ll(std::string_view s, long long& value)
{
    if (s.empty() || s.size() >= 21)
        return false;
    if (s == "0") {
        value = 0;
        return true;
    }
    size_t i = 0;
    bool negative = false;
    if (s[0] == '-') {
        negative = true;
        if (++i == s.size())
            return false;
    }
    if (s[i] < '1' || s[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned digit = static_cast<unsigned>(s[i] - '0');
        if (v > ULLONG_MAX / 10 || v * 10 > ULLONG_MAX - digit)
            return false;
        v = v * 10 + digit;
    }
    if (negative) {
        if (v > static_cast<unsigned long long>(LLONG_MAX) + 1)
            return false;
        value = v == static_cast<unsigned long long>(LLONG_MAX) + 1 ? LLONG_MIN : -static_cast<long long>(v);
    } else {
        if (v > static_cast<unsigned long long>(LLONG_MAX))
            return false;
        value = static_cast<long long>(v);
    }
    return true;
}

// isspace() in the C locale, as sdssplitargs uses it between arguments.
bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The character a backslash escape inside "double quotes" stands for.
char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

int hex_digit_to_int(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

template <typename Int> void append_int(std::string& out, Int n)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, end);
}

// One RESP header line: the type byte and a length or count.
template <typename Int> void header(std::string& out, char type, Int n)
{
    out.push_back(type);
    append_int(out, n);
    out.append("\r\n");
}

// Text on a simple-string or error line: CR and LF would end the line early
// and desynchronise the client, so they become spaces (Redis's sdsmapchars in
// addReplyErrorFormat).
void line_text(std::string& out, std::string_view text)
{
    size_t start = out.size();
    out.append(text);
    std::replace_if(
        out.begin() + static_cast<std::ptrdiff_t>(start), out.end(), [](char c) { return c == '\r' || c == '\n'; },
        ' ');
    out.append("\r\n");
}

}  // namespace

// Consumed bytes are dropped only here, so the views next() handed out stay
// valid until now. They are dropped only once they are at least as many as
// the unparsed bytes kept: a compaction moves no more bytes than were consumed
// since the last one, so compaction costs O(input) in all, however the input
// is cut.
void RequestParser::append(const char* data, size_t len)
{
    if (pos_ > 0 && pos_ >= buf_.size() - pos_) {
        buf_.erase(0, pos_);
        cursor_ = cursor_ >= pos_ ? cursor_ - pos_ : 0;
        scanned_ = scanned_ >= pos_ ? scanned_ - pos_ : 0;
        pos_ = 0;
    }
    buf_.append(data, len);
}

RequestParser::Next RequestParser::next(std::vector<std::string_view>& args, std::string& error)
{
    args.clear();
    error.clear();
    if (failed_)
        return Next::Error;
    for (;;) {
        if (phase_ == Phase::Start) {
            if (pos_ == buf_.size())
                return Next::NeedMore;
            phase_ = buf_[pos_] == '*' ? Phase::Count : Phase::Inline;
            cursor_ = scanned_ = pos_;
            stuck_ = false;
        }
        if (std::optional<Next> n = step(args, error))
            return *n;
    }
}

std::optional<RequestParser::Next> RequestParser::step(std::vector<std::string_view>& args, std::string& error)
{
    switch (phase_) {
    case Phase::Inline:
        return parse_inline(args, error);
    case Phase::Count:
        return parse_count(error);
    case Phase::BulkHeader:
        return parse_bulk_header(error);
    case Phase::BulkData:
        return parse_bulk_data(args, error);
    case Phase::Start:
        break;
    }
    return std::nullopt;  // next() leaves Start before stepping
}

// Decisions look only at the request's first max_request bytes (the window);
// one that needs more than that is never made, and the connection is closed
// silently once the window is full, as Redis closes a client whose query
// buffer passes its limit.
RequestParser::Next RequestParser::need_more(std::string& error)
{
    if (buffered() > limits_.max_request)
        return fail(error, {});
    return Next::NeedMore;
}

RequestParser::Next RequestParser::fail(std::string& error, std::string_view text)
{
    failed_ = true;
    error.clear();
    if (!text.empty()) {
        error.append("-ERR ");
        line_text(error, text);
    }
    return Next::Error;
}

size_t RequestParser::find_terminator(char term, size_t limit)
{
    if (stuck_ || scanned_ >= limit)
        return std::string::npos;
    const char* from = buf_.data() + scanned_;
    const size_t n = limit - scanned_;
    const void* t = std::memchr(from, term, n);
    const size_t span = t ? static_cast<size_t>(static_cast<const char*>(t) - from) : n;
    if (std::memchr(from, '\0', span)) {
        stuck_ = true;
        return std::string::npos;
    }
    scanned_ += span;  // stops on the terminator, so that it is found again
    return t ? scanned_ : std::string::npos;
}

// processInlineBuffer: one line up to LF (a CR just before the LF is dropped),
// split as sdssplitargs splits it.
std::optional<RequestParser::Next> RequestParser::parse_inline(std::vector<std::string_view>& args, std::string& error)
{
    const size_t limit = pos_ + std::min(buffered(), limits_.max_request);
    const size_t lf = find_terminator('\n', limit);
    if (lf == std::string::npos) {
        if (limit - pos_ > kInlineMax)
            return fail(error, "Protocol error: too big inline request");
        return need_more(error);
    }
    if (lf - pos_ > kInlineMax)
        return fail(error, "Protocol error: too big inline request");
    const size_t end = lf > pos_ && buf_[lf - 1] == '\r' ? lf - 1 : lf;
    if (!split_inline(pos_, end, args)) {
        args.clear();
        return fail(error, "Protocol error: unbalanced quotes in request");
    }
    pos_ = lf + 1;
    phase_ = Phase::Start;
    if (args.empty())
        return std::nullopt;  // an empty line: skipped
    return Next::Command;
}

// sdssplitargs (sds.c) over buf_[begin, end), decoding in place: an argument
// is never longer than the bytes it was read from, so the write position never
// passes the read position. The line holds no NUL (find_terminator stops at
// one), so the end of the line plays the C string's terminating NUL.
bool RequestParser::split_inline(size_t begin, size_t end, std::vector<std::string_view>& args)
{
    char* s = buf_.data();
    auto at = [&](size_t i) { return i < end ? s[i] : '\0'; };
    size_t p = begin;
    size_t w = begin;
    for (;;) {
        while (p < end && is_space(s[p]))
            ++p;
        if (p >= end)
            return true;
        const size_t start = w;
        bool inq = false;  // inside "double quotes"
        bool insq = false;  // inside 'single quotes'
        bool done = false;
        while (!done) {
            const char c = at(p);
            if (inq) {
                if (c == '\\' && at(p + 1) == 'x' && is_hex_digit(at(p + 2)) && is_hex_digit(at(p + 3))) {
                    s[w++] = static_cast<char>(hex_digit_to_int(at(p + 2)) * 16 + hex_digit_to_int(at(p + 3)));
                    p += 3;
                } else if (c == '\\' && at(p + 1) != '\0') {
                    ++p;
                    s[w++] = unescape(s[p]);
                } else if (c == '"') {
                    // The closing quote must be followed by a space or nothing.
                    if (at(p + 1) != '\0' && !is_space(at(p + 1)))
                        return false;
                    done = true;
                } else if (c == '\0') {
                    return false;  // unterminated quotes
                } else {
                    s[w++] = c;
                }
            } else if (insq) {
                if (c == '\\' && at(p + 1) == '\'') {
                    ++p;
                    s[w++] = '\'';
                } else if (c == '\'') {
                    if (at(p + 1) != '\0' && !is_space(at(p + 1)))
                        return false;
                    done = true;
                } else if (c == '\0') {
                    return false;
                } else {
                    s[w++] = c;
                }
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
                done = true;  // not isspace(): "a\vb" is one argument, as in Redis
            } else if (c == '"') {
                inq = true;
            } else if (c == '\'') {
                insq = true;
            } else {
                s[w++] = c;
            }
            if (p < end)
                ++p;
        }
        args.emplace_back(s + start, w - start);
    }
}

// processMultibulkBuffer, first part: "*N" up to its CR. N <= 0 is a request
// without arguments, skipped. N sizes nothing: arguments are counted as they
// arrive.
std::optional<RequestParser::Next> RequestParser::parse_count(std::string& error)
{
    const size_t limit = pos_ + std::min(buffered(), limits_.max_request);
    const size_t cr = find_terminator('\r', limit);
    if (cr == std::string::npos) {
        if (limit - pos_ > kInlineMax)
            return fail(error, "Protocol error: too big mbulk count string");
        return need_more(error);
    }
    if (cr - pos_ > kInlineMax)
        return fail(error, "Protocol error: too big mbulk count string");
    if (cr + 1 >= limit)
        return need_more(error);  // the byte after the CR (taken for the LF) is not here yet
    long long n = 0;
    if (!string2ll(std::string_view(buf_.data() + pos_ + 1, cr - pos_ - 1), n) || n > INT_MAX)
        return fail(error, "Protocol error: invalid multibulk length");
    cursor_ = cr + 2;
    if (n <= 0) {
        pos_ = cursor_;
        phase_ = Phase::Start;
        return std::nullopt;
    }
    count_ = bulks_left_ = n;
    phase_ = Phase::BulkHeader;
    scanned_ = cursor_;
    return std::nullopt;
}

// "$len" up to its CR, at cursor_.
std::optional<RequestParser::Next> RequestParser::parse_bulk_header(std::string& error)
{
    const size_t limit = pos_ + std::min(buffered(), limits_.max_request);
    const size_t cr = find_terminator('\r', limit);
    if (cr == std::string::npos) {
        if (limit - cursor_ > kInlineMax)
            return fail(error, "Protocol error: too big bulk count string");
        return need_more(error);
    }
    if (cr - cursor_ > kInlineMax)
        return fail(error, "Protocol error: too big bulk count string");
    if (cr + 1 >= limit)
        return need_more(error);
    if (buf_[cursor_] != '$') {
        std::string text = "Protocol error: expected '$', got '?'";
        text[text.size() - 2] = buf_[cursor_];  // a CR or LF becomes a space in fail()
        return fail(error, text);
    }
    long long len = 0;
    if (!string2ll(std::string_view(buf_.data() + cursor_ + 1, cr - cursor_ - 1), len) || len < 0
        || static_cast<unsigned long long>(len) > limits_.max_bulk)
        return fail(error, "Protocol error: invalid bulk length");
    cursor_ = cr + 2;  // cr + 1 < limit: cursor_ - pos_ <= max_request
    bulk_len_ = static_cast<size_t>(len);
    // A bulk that cannot end within the window would never be read: close now
    // instead of buffering up to max_request first.
    if (bulk_len_ > limits_.max_request || bulk_len_ + 2 > limits_.max_request - (cursor_ - pos_))
        return fail(error, {});
    phase_ = Phase::BulkData;
    return std::nullopt;
}

// The bulk at cursor_ and the two bytes after it (taken for CRLF unchecked).
std::optional<RequestParser::Next> RequestParser::parse_bulk_data(std::vector<std::string_view>& args,
                                                                  std::string& error)
{
    if (buf_.size() - cursor_ < bulk_len_ + 2)
        return need_more(error);
    cursor_ += bulk_len_ + 2;
    if (--bulks_left_ > 0) {
        phase_ = Phase::BulkHeader;
        scanned_ = cursor_;
        return std::nullopt;
    }
    collect_bulks(args);
    pos_ = cursor_;
    phase_ = Phase::Start;
    return Next::Command;
}

// The arguments of the whole multibulk request at pos_, read again now that
// every header is known to be valid: one pass, and nothing kept per argument
// while the request arrives.
void RequestParser::collect_bulks(std::vector<std::string_view>& args) const
{
    args.reserve(static_cast<size_t>(count_));
    const char* s = buf_.data();
    size_t p = static_cast<size_t>(static_cast<const char*>(std::memchr(s + pos_, '\r', cursor_ - pos_)) - s) + 2;
    for (long long i = 0; i < count_; ++i) {
        const char* cr = static_cast<const char*>(std::memchr(s + p, '\r', cursor_ - p));
        long long len = 0;
        string2ll(std::string_view(s + p + 1, static_cast<size_t>(cr - (s + p + 1))), len);
        p = static_cast<size_t>(cr - s) + 2;
        args.emplace_back(s + p, static_cast<size_t>(len));
        p += static_cast<size_t>(len) + 2;
    }
}

void ReplyWriter::simple(std::string_view text)
{
    if (overflowed())
        return;
    out_.push_back('+');
    line_text(out_, text);
}

void ReplyWriter::error(std::string_view message)
{
    if (overflowed())
        return;
    out_.push_back('-');
    line_text(out_, message);
}

void ReplyWriter::integer(long long value)
{
    if (overflowed())
        return;
    header(out_, ':', value);
}

void ReplyWriter::bulk(std::string_view bytes)
{
    if (overflowed())
        return;
    header(out_, '$', bytes.size());
    out_.append(bytes);
    out_.append("\r\n");
}

void ReplyWriter::null()
{
    if (overflowed())
        return;
    out_.append(protocol_ >= 3 ? "_\r\n" : "$-1\r\n");
}

void ReplyWriter::null_array()
{
    if (overflowed())
        return;
    out_.append(protocol_ >= 3 ? "_\r\n" : "*-1\r\n");
}

void ReplyWriter::array(size_t n)
{
    if (overflowed())
        return;
    header(out_, '*', n);
}

void ReplyWriter::map(size_t pairs)
{
    if (overflowed())
        return;
    if (protocol_ >= 3)
        header(out_, '%', pairs);
    else
        header(out_, '*', pairs * 2);
}

void ReplyWriter::set(size_t n)
{
    if (overflowed())
        return;
    header(out_, protocol_ >= 3 ? '~' : '*', n);
}

void ReplyWriter::push(size_t n)
{
    if (overflowed())
        return;
    header(out_, protocol_ >= 3 ? '>' : '*', n);
}

// addReplyDouble: "%.17g" (so NaN is "nan" or "-nan", as glibc prints it), and
// infinities spelled out explicitly as Redis does.
void ReplyWriter::double_value(double value)
{
    if (overflowed())
        return;
    char buf[64];
    const char* text = buf;
    if (std::isinf(value))
        text = value > 0 ? "inf" : "-inf";
    else
        std::snprintf(buf, sizeof buf, "%.17g", value);
    if (protocol_ >= 3) {
        out_.push_back(',');
        out_.append(text);
        out_.append("\r\n");
    } else {
        bulk(text);
    }
}

void ReplyWriter::boolean(bool value)
{
    if (overflowed())
        return;
    if (protocol_ >= 3)
        out_.append(value ? "#t\r\n" : "#f\r\n");
    else
        out_.append(value ? ":1\r\n" : ":0\r\n");
}

// addReplyVerbatim with the "txt" format: the length counts the "txt:" prefix.
void ReplyWriter::verbatim(std::string_view text)
{
    if (overflowed())
        return;
    if (protocol_ < 3) {
        bulk(text);
        return;
    }
    header(out_, '=', text.size() + 4);
    out_.append("txt:");
    out_.append(text);
    out_.append("\r\n");
}

}  // namespace kv::redis
