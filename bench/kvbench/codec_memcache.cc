// codec_memcache.cc: memcached's text protocol: "set KEY 0 EXPTIME N" + data
// (STORED), "get KEY" (VALUE KEY FLAGS N, data, END; or END alone).
#include "codec.h"

#include <charconv>

namespace kvbench {
namespace {

bool is_error(std::string_view line)
{
    return line == "ERROR" || line == "NOT_STORED" || line.starts_with("CLIENT_ERROR")
        || line.starts_with("SERVER_ERROR");
}

class MemcacheCodec final : public Codec {
public:
    // " 0 <exptime> ": flags 0, the expiry in seconds (0: never).
    explicit MemcacheCodec(uint32_t ttl) : flags_exptime_(" 0 " + std::to_string(ttl) + " ") { }

    void append(std::string& out, Op op, std::string_view key, std::string_view value) const override
    {
        if (op == Op::Set) {
            out.append("set ").append(key).append(flags_exptime_);
            append_number(out, value.size());
            out.append("\r\n").append(value).append("\r\n");
        } else {
            out.append("get ").append(key).append("\r\n");
        }
    }

    Parsed parse(std::string_view in, Op op) const override
    {
        std::string_view line;
        size_t n = 0;
        if (!take_line(in, line, n))
            return need_more();
        if (is_error(line))
            return done(n, ReplyKind::Error);
        if (op == Op::Set)
            return line == "STORED" ? done(n, ReplyKind::Ok) : malformed();
        if (line == "END")
            return done(n, ReplyKind::Miss);
        if (!line.starts_with("VALUE "))
            return malformed();
        // The data length is the last field: VALUE <key> <flags> <bytes>.
        size_t space = line.rfind(' ');
        size_t len = 0;
        auto [end, ec] = std::from_chars(line.data() + space + 1, line.data() + line.size(), len);
        if (ec != std::errc() || end != line.data() + line.size())
            return malformed();
        constexpr std::string_view kTail = "\r\nEND\r\n";
        size_t total = n + len + kTail.size();
        if (in.size() < total)
            return need_more();
        if (in.substr(n + len, kTail.size()) != kTail)
            return malformed();
        return done(total, ReplyKind::Hit);
    }

private:
    std::string flags_exptime_;
};

}  // namespace

std::unique_ptr<Codec> make_memcache_codec(uint32_t ttl)
{
    return std::make_unique<MemcacheCodec>(ttl);
}

}  // namespace kvbench
