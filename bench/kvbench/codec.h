// codec.h: how requests are written and replies recognised, per protocol.
//
// A codec is stateless: the connection owns the bytes and asks the codec to
// append one request, or to recognise the reply to a given request at the
// start of its input. Codecs never allocate per call beyond growing `out`.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "options.h"
#include "workload.h"

namespace kvbench {

enum class ReplyKind {
    Ok,  // SET stored, handshake accepted, greeting received, echo came back
    Hit,  // GET found the key
    Miss,  // GET did not
    Error,  // an error reply (ERR, -ERR, SERVER_ERROR, BYE ...): counted, the stream goes on
};

struct Parsed {
    enum class Status {
        NeedMore,  // no complete reply yet
        Done,  // one reply of `consumed` bytes, of `kind`
        Malformed,  // not a reply to this request: the connection is out of step
    };
    Status status = Status::NeedMore;
    size_t consumed = 0;
    ReplyKind kind = ReplyKind::Ok;
};

class Codec {
public:
    virtual ~Codec() = default;

    // kv and echo servers speak first; redis and memcached do not.
    virtual bool has_greeting() const { return false; }
    virtual Parsed parse_greeting(std::string_view in) const;
    // kv needs 'connect' (Op::Handshake) before data requests.
    virtual bool needs_handshake() const { return false; }

    // Appends one request. For Op::Handshake the key and value are unused.
    virtual void append(std::string& out, Op op, std::string_view key, std::string_view value) const = 0;
    // Recognises the reply to a request of `op` at the start of `in`.
    virtual Parsed parse(std::string_view in, Op op) const = 0;
};

// The codec of --protocol; SETs carry --ttl when given.
std::unique_ptr<Codec> make_codec(const Options& options);

// The four codecs (codec_*.cc), and small helpers they share (codec.cc).
// `ttl`: seconds every SET gives its key, 0 for none.
// `user` non-empty: the handshake is 'auth USER PASSWORD' then 'connect'.
std::unique_ptr<Codec> make_kv_codec(uint32_t ttl, const std::string& user = {}, const std::string& password = {});
std::unique_ptr<Codec> make_redis_codec(uint32_t ttl);
std::unique_ptr<Codec> make_memcache_codec(uint32_t ttl);
std::unique_ptr<Codec> make_echo_codec();

void append_number(std::string& out, size_t n);
// A complete line at the start of `in`: its text without the LF (and without
// a CR before it), and the bytes it takes including the LF. False if no LF yet.
bool take_line(std::string_view in, std::string_view& line, size_t& consumed);
inline Parsed done(size_t consumed, ReplyKind kind)
{
    return Parsed{Parsed::Status::Done, consumed, kind};
}
inline Parsed need_more()
{
    return Parsed{};
}
inline Parsed malformed()
{
    return Parsed{Parsed::Status::Malformed, 0, ReplyKind::Error};
}

}  // namespace kvbench
