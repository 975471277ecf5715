// codec_redis.cc: RESP, as redis-server speaks it: SET (with EX for --ttl)
// and GET as arrays of bulk strings; replies +OK, -ERR ..., $<len> <bytes> or
// $-1.
#include "codec.h"

#include <charconv>

namespace kvbench {
namespace {

void append_bulk(std::string& out, std::string_view s)
{
    out.append(1, '$');
    append_number(out, s.size());
    out.append("\r\n").append(s).append("\r\n");
}

class RedisCodec final : public Codec {
public:
    explicit RedisCodec(uint32_t ttl) : ttl_(ttl ? std::to_string(ttl) : "") { }

    void append(std::string& out, Op op, std::string_view key, std::string_view value) const override
    {
        if (op == Op::Set) {
            out.append(ttl_.empty() ? "*3\r\n$3\r\nSET\r\n" : "*5\r\n$3\r\nSET\r\n");
            append_bulk(out, key);
            append_bulk(out, value);
            if (!ttl_.empty()) {
                out.append("$2\r\nEX\r\n");
                append_bulk(out, ttl_);
            }
        } else {
            out.append("*2\r\n$3\r\nGET\r\n");
            append_bulk(out, key);
        }
    }

    Parsed parse(std::string_view in, Op op) const override
    {
        std::string_view line;
        size_t n = 0;
        if (!take_line(in, line, n))
            return need_more();
        if (line.starts_with('-'))
            return done(n, ReplyKind::Error);
        if (op == Op::Set)
            return line == "+OK" ? done(n, ReplyKind::Ok) : malformed();
        if (!line.starts_with('$'))
            return malformed();
        if (line == "$-1")
            return done(n, ReplyKind::Miss);
        size_t len = 0;
        auto [end, ec] = std::from_chars(line.data() + 1, line.data() + line.size(), len);
        if (ec != std::errc() || end != line.data() + line.size())
            return malformed();
        size_t total = n + len + 2;
        if (in.size() < total)
            return need_more();
        if (in.substr(n + len, 2) != "\r\n")
            return malformed();
        return done(total, ReplyKind::Hit);
    }

private:
    std::string ttl_;  // decimal seconds for EX, or empty
};

}  // namespace

std::unique_ptr<Codec> make_redis_codec(uint32_t ttl)
{
    return std::make_unique<RedisCodec>(ttl);
}

}  // namespace kvbench
