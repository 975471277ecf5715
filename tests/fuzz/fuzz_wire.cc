// fuzz_wire.cc: libFuzzer target for what a peer of kvstored's sockets
// controls, the wire codec of common/wire.h: kv::wire::FrameBuffer (framing)
// and every decode().
//
// The input's last two bytes choose how the stream is cut into reads; the
// rest is the byte stream. Frames are compared with a model (read the headers
// of the whole stream at once). Every frame's payload goes through every
// decoder; what decodes must encode back to the same bytes, so the codec has
// exactly one encoding per message and no decoder reads past its payload.
// The same bytes also make a Request field by field, which must survive the
// round trip (or be refused for an unknown op or expiry).
#include <fuzzer/FuzzedDataProvider.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "wire.h"

namespace {

namespace wire = kv::wire;
using kvfuzz::require;

struct Framed {
    std::vector<std::pair<uint8_t, std::string>> frames;  // type, payload
    bool oversized = false;  // the stream then stops: the peer is dropped
    bool operator==(const Framed&) const = default;
};

uint32_t be32(std::string_view p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

Framed model_frames(std::string_view stream)
{
    Framed out;
    while (stream.size() >= wire::kHeaderSize) {
        uint32_t len = be32(stream);
        if (len > wire::kMaxPayload) {
            out.oversized = true;
            break;
        }
        if (stream.size() < wire::kHeaderSize + len)
            break;
        out.frames.emplace_back(static_cast<uint8_t>(stream[4]), std::string(stream.substr(wire::kHeaderSize, len)));
        stream.remove_prefix(wire::kHeaderSize + len);
    }
    return out;
}

// The payload (without the 5-byte header) of an encoded message, after
// checking that the header's length field matches it.
std::string payload_of(const std::string& frame)
{
    require(frame.size() >= wire::kHeaderSize, "an encoded frame has a header");
    require(be32(frame) == frame.size() - wire::kHeaderSize, "the length field is the payload size");
    return frame.substr(wire::kHeaderSize);
}

template <typename Message> std::string encode(const Message& m)
{
    std::string out;
    wire::append(out, m);
    return payload_of(out);
}

std::string encode_notice(const wire::Notice& m)
{
    std::string out;
    wire::append(out, wire::Msg::Refused, m);
    return payload_of(out);
}

// Runs every decoder on `payload`: each one either rejects it or accepts
// exactly the bytes its encoder produces.
void check_decoders(std::string_view payload)
{
    wire::Hello hello;
    if (wire::decode(payload, hello)) {
        require(encode(hello) == payload, "Hello re-encodes to the same bytes");
        require(kvfuzz::points_into(hello.address, payload), "Hello.address is a view into the payload");
        uint32_t version = 0;
        require(wire::peek_version(payload, version) && version == hello.version, "peek_version agrees with Hello");
    }
    wire::Welcome welcome;
    if (wire::decode(payload, welcome))
        require(encode(welcome) == payload, "Welcome re-encodes to the same bytes");
    wire::Request request;
    if (wire::decode(payload, request)) {
        auto op = static_cast<uint8_t>(request.op);
        require(op >= 1 && op <= wire::kLastOp, "a decoded Request has a known op");
        require(static_cast<uint8_t>(request.expiry) <= wire::kLastExpiry, "a decoded Request has a known Expiry");
        require(kvfuzz::points_into(request.key, payload) && kvfuzz::points_into(request.value, payload),
                "Request key and value are views into the payload");
        require(encode(request) == payload, "Request re-encodes to the same bytes");
    }
    wire::Reply reply;
    if (wire::decode(payload, reply)) {
        require((reply.flags & ~wire::kReplyMore) == 0, "a decoded Reply has only known flags");
        require(encode(reply) == payload, "Reply re-encodes to the same bytes");
    }
    wire::Notice notice;
    if (wire::decode(payload, notice))
        require(encode_notice(notice) == payload, "Notice re-encodes to the same bytes");
    wire::Handoff handoff;
    if (wire::decode(payload, handoff))
        require(encode(handoff) == payload, "Handoff re-encodes to the same bytes");
    wire::HandBack hand_back;
    if (wire::decode(payload, hand_back)) {
        auto reason = static_cast<uint8_t>(hand_back.reason);
        require(reason >= 1 && reason <= wire::kLastHandBackReason, "a decoded HandBack has a known reason");
        require(kvfuzz::points_into(hand_back.output, payload) && kvfuzz::points_into(hand_back.input, payload),
                "HandBack output and input are views into the payload");
        require(encode(hand_back) == payload, "HandBack re-encodes to the same bytes");
    }
}

// The real FrameBuffer, fed in reads of pseudo-random sizes (1 to 257 bytes).
Framed real_frames(std::string_view stream, uint16_t chunk_seed)
{
    wire::FrameBuffer buffer;
    std::minstd_rand rng(chunk_seed + 1u);
    Framed out;
    while (!stream.empty() && !out.oversized) {
        size_t n = std::min<size_t>(stream.size(), 1 + rng() % 257);
        buffer.append(stream.data(), n);
        stream.remove_prefix(n);
        wire::Frame frame;
        for (bool more = true; more;) {
            switch (buffer.next(frame)) {
            case wire::FrameBuffer::Next::NeedMore:
                more = false;
                break;
            case wire::FrameBuffer::Next::Oversized:
                out.oversized = true;
                more = false;
                break;
            case wire::FrameBuffer::Next::Frame:
                require(frame.payload.size() <= wire::kMaxPayload, "a frame's payload is at most kMaxPayload");
                check_decoders(frame.payload);
                out.frames.emplace_back(static_cast<uint8_t>(frame.type), std::string(frame.payload));
                break;
            }
        }
    }
    return out;
}

// A reply of any text survives the trip as Reply chunks.
void check_reply_chunks(std::string_view text)
{
    std::string bytes;
    wire::append_reply(bytes, text);
    Framed framed = model_frames(bytes);
    require(!framed.oversized && !framed.frames.empty(), "append_reply produces valid frames");
    std::string joined;
    for (size_t i = 0; i < framed.frames.size(); ++i) {
        wire::Reply reply;
        require(framed.frames[i].first == static_cast<uint8_t>(wire::Msg::Reply), "append_reply sends Reply frames");
        require(wire::decode(framed.frames[i].second, reply), "append_reply's frames decode");
        bool last = i + 1 == framed.frames.size();
        require((reply.flags & wire::kReplyMore) == (last ? 0 : wire::kReplyMore), "only the last chunk lacks More");
        joined.append(reply.text);
    }
    require(joined == text, "the chunks of a reply join to its text");
}

// A Request made of fuzzer-chosen fields (any op and expiry byte, any
// integers) encodes to one frame that decodes to the same fields exactly when
// its op and expiry are known.
void check_request_round_trip(std::string_view bytes)
{
    FuzzedDataProvider in(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    uint8_t op = in.ConsumeIntegral<uint8_t>();
    uint8_t expiry = in.ConsumeIntegral<uint8_t>();
    wire::Request sent{static_cast<wire::Op>(op),
                       {},
                       {},
                       static_cast<wire::Expiry>(expiry),
                       in.ConsumeIntegral<int64_t>(),
                       in.ConsumeIntegral<uint64_t>(),
                       in.ConsumeIntegral<int64_t>()};
    std::string key = in.ConsumeRandomLengthString(300);
    std::string value = in.ConsumeRandomLengthString(1 << 16);  // within a frame
    sent.key = key;
    sent.value = value;
    std::string frame;
    wire::append(frame, sent);
    Framed framed = model_frames(frame);
    require(framed.frames.size() == 1 && framed.frames[0].first == static_cast<uint8_t>(wire::Msg::Request),
            "a Request encodes to one Request frame");
    wire::Request got;
    bool known = op >= 1 && op <= wire::kLastOp && expiry <= wire::kLastExpiry;
    require(wire::decode(framed.frames[0].second, got) == known, "a Request decodes iff its op and expiry are known");
    if (!known)
        return;
    require(got.op == sent.op && got.key == sent.key && got.value == sent.value && got.expiry == sent.expiry
                && got.expiry_ms == sent.expiry_ms && got.version == sent.version && got.delta == sent.delta,
            "a Request decodes to the fields it was made of");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    uint16_t chunk_seed = in.ConsumeIntegral<uint16_t>();
    std::string stream = in.ConsumeRemainingBytesAsString();

    require(real_frames(stream, chunk_seed) == model_frames(stream), "FrameBuffer agrees with the model");
    check_reply_chunks(stream);
    check_request_round_trip(stream);
    return 0;
}
