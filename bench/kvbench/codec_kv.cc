// codec_kv.cc: kvstore's line protocol (docs/protocol.md).
#include "codec.h"

#include <string>

namespace kvbench {
namespace {

class KvCodec final : public Codec {
public:
    // "save ttl <s> " when SETs carry an expiry, else "save ".
    // With a user the handshake authenticates first: "auth USER PASSWORD\n".
    KvCodec(uint32_t ttl, const std::string& user, const std::string& password)
        : save_(ttl ? "save ttl " + std::to_string(ttl) + " " : "save "),
          auth_(user.empty() ? std::string() : "auth " + user + " " + password + "\n")
    {
    }

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
            out.append(auth_).append("connect\n");
            break;
        }
    }

    Parsed parse(std::string_view in, Op op) const override
    {
        if (op == Op::Handshake && !auth_.empty())
            return parse_auth(in);
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
    // "OK authenticated" then "OK connected", taken as one reply: a refused
    // auth is an error reply (the 'connect' after it is then refused too).
    Parsed parse_auth(std::string_view in) const
    {
        std::string_view line;
        size_t n = 0;
        if (!take_line(in, line, n))
            return need_more();
        if (line.starts_with("ERR ") || line.starts_with("BYE"))
            return done(n, ReplyKind::Error);
        if (line != "OK authenticated")
            return malformed();
        std::string_view second;
        size_t m = 0;
        if (!take_line(in.substr(n), second, m))
            return need_more();
        if (second.starts_with("ERR ") || second.starts_with("BYE"))
            return done(n + m, ReplyKind::Error);
        return second == "OK connected" ? done(n + m, ReplyKind::Ok) : malformed();
    }

    std::string save_;
    std::string auth_;  // "auth USER PASSWORD\n", or empty
};

}  // namespace

std::unique_ptr<Codec> make_kv_codec(uint32_t ttl, const std::string& user, const std::string& password)
{
    return std::make_unique<KvCodec>(ttl, user, password);
}

}  // namespace kvbench
