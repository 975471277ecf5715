// codec_kv.cc: kvstore's line protocol (docs/protocol.md).
#include "codec.h"

#include <string>

namespace kvbench {
namespace {

class KvCodec final : public Codec {
public:
    // "save ttl <s> " when SETs carry an expiry, else "save ".
    explicit KvCodec(uint32_t ttl) : save_(ttl ? "save ttl " + std::to_string(ttl) + " " : "save ") { }

    bool has_greeting() const override { return true; }
    bool needs_handshake() const override { return true; }

    // "HELLO kvstore <version> ready; ..."; kvsvc says "ERR unavailable ..."
    // instead when it cannot serve at all.
    Parsed parse_greeting(std::string_view in) const override
    {
        std::string_view line;
        size_t n = 0;
        if (!take_line(in, line, n))
            return need_more();
        return done(n, line.starts_with("HELLO ") ? ReplyKind::Ok : ReplyKind::Error);
    }

    void append(std::string& out, Op op, std::string_view key, std::string_view value) const override
    {
        switch (op) {
        case Op::Set:
            out.append(save_).append(key).append(1, ':').append(value).append(1, '\n');
            break;
        case Op::Get:
            out.append("read ").append(key).append(1, '\n');
            break;
        case Op::Handshake:
            out.append("connect\n");
            break;
        }
    }

    Parsed parse(std::string_view in, Op op) const override
    {
        std::string_view line;
        size_t n = 0;
        if (!take_line(in, line, n))
            return need_more();
        if (line.starts_with("ERR ") || line.starts_with("BYE"))
            return done(n, ReplyKind::Error);
        switch (op) {
        case Op::Set:
            if (line == "OK")
                return done(n, ReplyKind::Ok);
            break;
        case Op::Get:
            if (line.starts_with("VALUE "))
                return done(n, ReplyKind::Hit);
            if (line == "NOT_FOUND")
                return done(n, ReplyKind::Miss);
            break;
        case Op::Handshake:
            if (line == "OK connected")
                return done(n, ReplyKind::Ok);
            break;
        }
        return malformed();
    }

private:
    std::string save_;
};

}  // namespace

std::unique_ptr<Codec> make_kv_codec(uint32_t ttl)
{
    return std::make_unique<KvCodec>(ttl);
}

}  // namespace kvbench
