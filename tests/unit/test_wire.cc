// Unit tests for the wire codec (common/wire.h): round trips, and rejection of
// short, oversized, trailing-garbage and out-of-range frames.
#include <catch2/catch.hpp>

#include "wire.h"

using namespace kv::wire;

namespace {

// Encodes with `encode`, then pulls exactly one frame back out.
template <typename Encode> Frame one_frame(FrameBuffer& fb, Encode encode)
{
    std::string bytes;
    encode(bytes);
    fb.append(bytes.data(), bytes.size());
    Frame f{};
    REQUIRE(fb.next(f) == FrameBuffer::Next::Frame);
    return f;
}

}  // namespace

TEST_CASE("every message round-trips", "[wire]")
{
    FrameBuffer fb;
    Frame f = one_frame(fb, [](std::string& out) { append(out, Hello{kVersion, 4242, "127.0.0.1:5555", 0}); });
    Hello h;
    REQUIRE(f.type == Msg::Hello);
    REQUIRE(decode(f.payload, h));
    CHECK(h.version == kVersion);
    CHECK(h.pid == 4242);
    CHECK(h.address == "127.0.0.1:5555");
    CHECK(h.flags == 0);

    f = one_frame(fb, [](std::string& out) { append(out, Hello{kVersion, 7, "", kHelloHandoff}); });
    REQUIRE(decode(f.payload, h));
    CHECK(h.flags == kHelloHandoff);
    // An unknown flag is refused, not ignored; so is a door kvstored parses
    // (Redis, memcached) without kHelloHandoff (it must get the socket), and
    // both doors at once.
    std::string flags(f.payload);
    flags.back() = static_cast<char>(0x08);
    CHECK_FALSE(decode(flags, h));
    for (uint8_t door : {kHelloRedis, kHelloMemcache}) {
        flags.back() = static_cast<char>(door);
        CHECK_FALSE(decode(flags, h));
        flags.back() = static_cast<char>(door | kHelloHandoff);
        REQUIRE(decode(flags, h));
        CHECK(h.flags == (door | kHelloHandoff));
    }
    flags.back() = static_cast<char>(kHelloRedis | kHelloMemcache | kHelloHandoff);
    CHECK_FALSE(decode(flags, h));

    f = one_frame(fb, [](std::string& out) { append(out, Welcome{kVersion, 65536, 1ull << 40}); });
    Welcome w;
    REQUIRE(decode(f.payload, w));
    CHECK(w.max_value == 65536);
    CHECK(w.client_id == 1ull << 40);

    std::string value("a\0b\xff\n", 5);
    f = one_frame(fb, [&](std::string& out) { append(out, Request{Op::Save, "key", value}); });
    Request r;
    REQUIRE(decode(f.payload, r));
    CHECK(r.op == Op::Save);
    CHECK(r.key == "key");
    CHECK(r.value == value);
    CHECK(r.expiry == Expiry::None);
    CHECK(r.expiry_ms == 0);
    CHECK(r.version == 0);
    CHECK(r.delta == 0);

    f = one_frame(fb, [](std::string& out) { append(out, Msg::Shutdown, Notice{"bye now"}); });
    Notice n;
    REQUIRE(f.type == Msg::Shutdown);
    REQUIRE(decode(f.payload, n));
    CHECK(n.text == "bye now");
}

TEST_CASE("Handoff and HandBack round-trip with any bytes, and a bad reason is refused", "[wire]")
{
    FrameBuffer fb;
    std::string input("save k:v\nread k\nhalf a li\0ne\xff", 29);
    Frame f = one_frame(fb, [&](std::string& out) { append(out, Handoff{300, input}); });
    Handoff h;
    REQUIRE(f.type == Msg::Handoff);
    REQUIRE(decode(f.payload, h));
    CHECK(h.idle_timeout_seconds == 300);
    CHECK(h.input == input);

    f = one_frame(fb, [&](std::string& out) { append(out, HandBack{HandBackReason::Command, "OK\n", input}); });
    HandBack b;
    REQUIRE(f.type == Msg::HandBack);
    REQUIRE(decode(f.payload, b));
    CHECK(b.reason == HandBackReason::Command);
    CHECK(b.output == "OK\n");
    CHECK(b.input == input);

    // OutputCut (protocol 4) carries nothing: kvsvc resets the client.
    f = one_frame(fb, [&](std::string& out) { append(out, HandBack{HandBackReason::OutputCut, {}, {}}); });
    REQUIRE(decode(f.payload, b));
    CHECK(b.reason == HandBackReason::OutputCut);
    CHECK(b.output.empty());
    CHECK(b.input.empty());

    f = one_frame(fb, [&](std::string& out) { append(out, HandBack{HandBackReason::Command, "OK\n", input}); });
    std::string payload(f.payload);
    for (uint8_t reason : {uint8_t{0}, uint8_t{kLastHandBackReason + 1}, uint8_t{0xff}}) {
        payload[0] = static_cast<char>(reason);
        CHECK_FALSE(decode(payload, b));
    }
    CHECK_FALSE(decode(std::string(f.payload) + "x", b));  // trailing garbage
    CHECK_FALSE(decode(std::string(f.payload).substr(0, f.payload.size() - 1), b));  // short
}

TEST_CASE("frames arrive whole even when fed byte by byte", "[wire]")
{
    std::string bytes;
    append(bytes, Request{Op::Read, "k", ""});
    append(bytes, Request{Op::Count, "", ""});
    FrameBuffer fb;
    Frame f{};
    int frames = 0;
    for (char c : bytes) {
        fb.append(&c, 1);
        while (fb.next(f) == FrameBuffer::Next::Frame)
            ++frames;
    }
    CHECK(frames == 2);
    CHECK(fb.buffered() == 0);
}

TEST_CASE("a frame claiming more than the limit is refused before it is buffered", "[wire]")
{
    FrameBuffer fb;
    const char huge[] = {'\xff', '\xff', '\xff', '\xff', static_cast<char>(Msg::Request)};
    fb.append(huge, sizeof huge);
    Frame f{};
    CHECK(fb.next(f) == FrameBuffer::Next::Oversized);
}

TEST_CASE("decoders reject short, trailing and out-of-range payloads", "[wire]")
{
    std::string bytes;
    append(bytes, Request{Op::Read, "key", ""});
    std::string_view payload = std::string_view(bytes).substr(kHeaderSize);
    Request r;
    REQUIRE(decode(payload, r));
    for (size_t cut = 0; cut < payload.size(); ++cut)
        CHECK_FALSE(decode(payload.substr(0, cut), r));
    CHECK_FALSE(decode(std::string(payload) + "x", r));

    std::string bad_op(payload);
    bad_op[0] = 0;
    CHECK_FALSE(decode(bad_op, r));
    bad_op[0] = static_cast<char>(kLastOp + 1);
    CHECK_FALSE(decode(bad_op, r));

    bad_op[0] = static_cast<char>(0xff);
    CHECK_FALSE(decode(bad_op, r));

    // The Expiry byte follows the key and the value: here at 1 + 2 + 3 + 4.
    std::string bad_expiry(payload);
    for (uint8_t expiry : {uint8_t{kLastExpiry + 1}, uint8_t{0x80}, uint8_t{0xff}}) {
        bad_expiry[10] = static_cast<char>(expiry);
        CHECK_FALSE(decode(bad_expiry, r));
    }
    bad_expiry[10] = static_cast<char>(kLastExpiry);
    CHECK(decode(bad_expiry, r));
    CHECK(r.expiry == Expiry::Keep);

    Reply reply;
    CHECK_FALSE(decode(std::string_view("\x02text", 5), reply));  // unknown flag
    CHECK_FALSE(decode(std::string_view(), reply));
}

TEST_CASE("a Request carries expiry, version and delta at their extremes", "[wire]")
{
    FrameBuffer fb;
    const Request cases[] = {
        {Op::Cas, "k", "v", Expiry::After, 3'153'600'000'000, UINT64_MAX, 0},
        {Op::Incr, "n", "", Expiry::Keep, 0, 0, INT64_MIN},
        {Op::Decr, "n", "", Expiry::Keep, 0, 0, INT64_MAX},
        {Op::Expire, "k", "", Expiry::After, -3'153'600'000'000, 0, 0},
        {Op::Expire, "k", "", Expiry::At, INT64_MIN, 0, -1},
        {Op::LoadEntry, "k", "v", Expiry::At, 1'800'000'000'000, 1, 1},
        {Op::Entry, "k", "", Expiry::None, 0, 0, 0},
    };
    for (const Request& in : cases) {
        Frame f = one_frame(fb, [&](std::string& out) { append(out, in); });
        REQUIRE(f.type == Msg::Request);
        Request r;
        REQUIRE(decode(f.payload, r));
        CHECK(r.op == in.op);
        CHECK(r.key == in.key);
        CHECK(r.value == in.value);
        CHECK(r.expiry == in.expiry);
        CHECK(r.expiry_ms == in.expiry_ms);
        CHECK(r.version == in.version);
        CHECK(r.delta == in.delta);
    }
}

TEST_CASE("the Request layout is exactly as wire.h declares it", "[wire]")
{
    // u8 Op, str16 key, str32 value, u8 Expiry, i64 expiry_ms, u64 version, i64 delta; big-endian.
    std::string bytes;
    append(bytes, Request{Op::Cas, "ab", "xyz", Expiry::At, -2, 0x0102030405060708, 258});
    const std::string expected("\x00\x00\x00\x25\x04"  // length 37, Msg::Request
                               "\x0b"  // Op::Cas
                               "\x00\x02"
                               "ab"
                               "\x00\x00\x00\x03"
                               "xyz"
                               "\x02"  // Expiry::At
                               "\xff\xff\xff\xff\xff\xff\xff\xfe"  // -2
                               "\x01\x02\x03\x04\x05\x06\x07\x08"
                               "\x00\x00\x00\x00\x00\x00\x01\x02",
                               42);
    CHECK(bytes == expected);
    CHECK(kVersion == 9);
}

TEST_CASE("every op up to kLastOp decodes, the data ops come first", "[wire]")
{
    CHECK(static_cast<uint8_t>(Op::Sync) == kLastDataOp);
    CHECK(static_cast<uint8_t>(Op::Status) == kLastDataOp + 1);
    CHECK(static_cast<uint8_t>(Op::Entry) == kLastAdminOp);
    CHECK(static_cast<uint8_t>(Op::Connect) == kLastOp);
    CHECK(!is_admin_op(Op::Auth));
    CHECK(!is_admin_op(Op::Sync));
    CHECK(is_admin_op(Op::Status));
    for (unsigned op = 1; op <= kLastOp; ++op) {
        std::string bytes;
        append(bytes, Request{static_cast<Op>(op), "k", ""});
        Request r;
        REQUIRE(decode(std::string_view(bytes).substr(kHeaderSize), r));
        CHECK(static_cast<unsigned>(r.op) == op);
    }
}

TEST_CASE("a large reply is split into chunks under the frame limit", "[wire]")
{
    std::string text(kMaxPayload * 2 + 10, 'r');
    std::string bytes;
    append_reply(bytes, text);
    FrameBuffer fb;
    fb.append(bytes.data(), bytes.size());
    Frame f{};
    std::string joined;
    int chunks = 0;
    bool last = false;
    while (fb.next(f) == FrameBuffer::Next::Frame) {
        Reply r;
        REQUIRE(decode(f.payload, r));
        REQUIRE(f.payload.size() <= kMaxPayload);
        joined.append(r.text);
        ++chunks;
        last = !(r.flags & kReplyMore);
    }
    CHECK(chunks == 3);
    CHECK(last);
    CHECK(joined == text);
}

TEST_CASE("the version can be read even when the rest of a hello is unknown", "[wire]")
{
    std::string future("\x00\x00\x00\x09whatever", 12);
    uint32_t v = 0;
    REQUIRE(peek_version(future, v));
    CHECK(v == 9);
    Hello h;
    CHECK_FALSE(decode(future, h));
}
