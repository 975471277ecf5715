// wire.cc: encoding and bounds-checked decoding of the frames in wire.h.
#include "wire.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace kv::wire {
namespace {

// Appends big-endian integers and length-prefixed strings to a frame.
class Writer {
public:
    Writer(std::string& out, Msg type) : out_(out), start_(out.size())
    {
        out_.append(4, '\0');  // length, patched by finish()
        out_.push_back(static_cast<char>(type));
    }
    ~Writer() { finish(); }

    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(uint16_t v) { be(v, 2); }
    void u32(uint32_t v) { be(v, 4); }
    void u64(uint64_t v) { be(v, 8); }
    void i64(int64_t v) { be(static_cast<uint64_t>(v), 8); }
    void str16(std::string_view s)
    {
        s = s.substr(0, UINT16_MAX);
        u16(static_cast<uint16_t>(s.size()));
        out_.append(s);
    }
    void str32(std::string_view s)
    {
        s = s.substr(0, kMaxPayload);
        u32(static_cast<uint32_t>(s.size()));
        out_.append(s);
    }
    void bytes(std::string_view s) { out_.append(s); }

private:
    void be(uint64_t v, int n)
    {
        for (int i = n - 1; i >= 0; --i)
            out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    void finish()
    {
        uint32_t len = static_cast<uint32_t>(out_.size() - start_ - kHeaderSize);
        for (int i = 0; i < 4; ++i)
            out_[start_ + i] = static_cast<char>((len >> (8 * (3 - i))) & 0xff);
    }

    std::string& out_;
    size_t start_;
};

// Reads fields from a payload; every getter fails instead of reading past the
// end, and expect_end() rejects trailing bytes.
class Cursor {
public:
    explicit Cursor(std::string_view p) : p_(p) { }

    bool u8(uint8_t& v)
    {
        uint64_t x;
        if (!be(x, 1))
            return false;
        v = static_cast<uint8_t>(x);
        return true;
    }
    bool u16(uint16_t& v)
    {
        uint64_t x;
        if (!be(x, 2))
            return false;
        v = static_cast<uint16_t>(x);
        return true;
    }
    bool u32(uint32_t& v)
    {
        uint64_t x;
        if (!be(x, 4))
            return false;
        v = static_cast<uint32_t>(x);
        return true;
    }
    bool u64(uint64_t& v) { return be(v, 8); }
    bool i64(int64_t& v)
    {
        uint64_t x;
        if (!be(x, 8))
            return false;
        v = static_cast<int64_t>(x);  // two's complement (C++20)
        return true;
    }
    bool str16(std::string_view& s)
    {
        uint16_t n;
        return u16(n) && bytes(s, n);
    }
    bool str32(std::string_view& s)
    {
        uint32_t n;
        return u32(n) && bytes(s, n);
    }
    std::string_view rest()
    {
        std::string_view r = p_;
        p_ = {};
        return r;
    }
    bool expect_end() const { return p_.empty(); }

private:
    bool be(uint64_t& v, size_t n)
    {
        if (p_.size() < n)
            return false;
        v = 0;
        for (size_t i = 0; i < n; ++i)
            v = (v << 8) | static_cast<unsigned char>(p_[i]);
        p_.remove_prefix(n);
        return true;
    }
    bool bytes(std::string_view& s, size_t n)
    {
        if (p_.size() < n)
            return false;
        s = p_.substr(0, n);
        p_.remove_prefix(n);
        return true;
    }

    std::string_view p_;
};

}  // namespace

void append(std::string& out, const Hello& m)
{
    Writer w(out, Msg::Hello);
    w.u32(m.version);
    w.u32(m.pid);
    w.str16(m.address);
    w.u8(m.flags);
}

void append(std::string& out, const Welcome& m)
{
    Writer w(out, Msg::Welcome);
    w.u32(m.version);
    w.u32(m.max_value);
    w.u64(m.client_id);
}

void append(std::string& out, const Request& m)
{
    Writer w(out, Msg::Request);
    w.u8(static_cast<uint8_t>(m.op));
    w.str16(m.key);
    w.str32(m.value);
    w.u8(static_cast<uint8_t>(m.expiry));
    w.i64(m.expiry_ms);
    w.u64(m.version);
    w.i64(m.delta);
}

void append(std::string& out, const Reply& m)
{
    Writer w(out, Msg::Reply);
    w.u8(m.flags);
    w.bytes(m.text.substr(0, kMaxPayload - 1));
}

void append(std::string& out, Msg type, const Notice& m)
{
    Writer w(out, type);
    w.str16(m.text);
}

void append(std::string& out, const Handoff& m)
{
    Writer w(out, Msg::Handoff);
    w.u32(m.idle_timeout_seconds);
    w.str32(m.input);
}

void append(std::string& out, const HandBack& m)
{
    Writer w(out, Msg::HandBack);
    w.u8(static_cast<uint8_t>(m.reason));
    w.str32(m.output);
    w.str32(m.input);
}

void append_reply(std::string& out, std::string_view text)
{
    constexpr size_t kChunk = kMaxPayload - 1;  // one byte of flags
    while (text.size() > kChunk) {
        append(out, Reply{kReplyMore, text.substr(0, kChunk)});
        text.remove_prefix(kChunk);
    }
    append(out, Reply{0, text});
}

bool decode(std::string_view payload, Hello& m)
{
    Cursor c(payload);
    if (!(c.u32(m.version) && c.u32(m.pid) && c.str16(m.address) && c.u8(m.flags) && c.expect_end()))
        return false;
    // At most one door kvstored parses, and it comes with its socket.
    uint8_t door = m.flags & (kHelloRedis | kHelloMemcache);
    return (m.flags & ~(kHelloHandoff | kHelloRedis | kHelloMemcache)) == 0
        && (door == 0 || ((m.flags & kHelloHandoff) && door != (kHelloRedis | kHelloMemcache)));
}

bool decode(std::string_view payload, Welcome& m)
{
    Cursor c(payload);
    return c.u32(m.version) && c.u32(m.max_value) && c.u64(m.client_id) && c.expect_end();
}

bool decode(std::string_view payload, Request& m)
{
    Cursor c(payload);
    uint8_t op;
    if (!c.u8(op) || op < 1 || op > kLastOp)
        return false;
    m.op = static_cast<Op>(op);
    uint8_t expiry;
    if (!c.str16(m.key) || !c.str32(m.value) || !c.u8(expiry) || expiry > kLastExpiry)
        return false;
    m.expiry = static_cast<Expiry>(expiry);
    return c.i64(m.expiry_ms) && c.u64(m.version) && c.i64(m.delta) && c.expect_end();
}

bool decode(std::string_view payload, Reply& m)
{
    Cursor c(payload);
    if (!c.u8(m.flags) || (m.flags & ~kReplyMore) != 0)
        return false;
    m.text = c.rest();
    return true;
}

bool decode(std::string_view payload, Notice& m)
{
    Cursor c(payload);
    return c.str16(m.text) && c.expect_end();
}

bool decode(std::string_view payload, Handoff& m)
{
    Cursor c(payload);
    return c.u32(m.idle_timeout_seconds) && c.str32(m.input) && c.expect_end();
}

bool decode(std::string_view payload, HandBack& m)
{
    Cursor c(payload);
    uint8_t reason;
    if (!c.u8(reason) || reason < 1 || reason > kLastHandBackReason)
        return false;
    m.reason = static_cast<HandBackReason>(reason);
    return c.str32(m.output) && c.str32(m.input) && c.expect_end();
}

bool peek_version(std::string_view payload, uint32_t& version)
{
    Cursor c(payload);
    return c.u32(version);
}

void FrameBuffer::append(const char* data, size_t len)
{
    compact();
    buf_.append(data, len);
}

bool take_claim(int fd)
{
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return false;
    uint64_t token = 0;
    return ::read(fd, &token, sizeof token) == static_cast<ssize_t>(sizeof token);
}

long FrameBuffer::read_from(int fd)
{
    char chunk[64 * 1024];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0)
        append(chunk, static_cast<size_t>(n));
    return n;
}

FrameBuffer::Next FrameBuffer::next(Frame& frame)
{
    std::string_view avail(buf_.data() + pos_, buf_.size() - pos_);
    if (avail.size() < kHeaderSize)
        return Next::NeedMore;
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
        len = (len << 8) | static_cast<unsigned char>(avail[i]);
    // Refuse before buffering: a peer claiming 4 GiB must not make us allocate it.
    if (len > kMaxPayload)
        return Next::Oversized;
    if (avail.size() < kHeaderSize + len)
        return Next::NeedMore;
    frame.type = static_cast<Msg>(static_cast<unsigned char>(avail[4]));
    frame.payload = avail.substr(kHeaderSize, len);
    pos_ += kHeaderSize + len;
    return Next::Frame;
}

void FrameBuffer::compact()
{
    // Moving the tail down is cheap when little is left, which is the common case.
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ >= 64 * 1024 || pos_ * 2 >= buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

}  // namespace kv::wire
