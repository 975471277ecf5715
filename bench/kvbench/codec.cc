// codec.cc: the codec factory and the helpers every codec uses.
#include "codec.h"

#include <charconv>

namespace kvbench {

Parsed Codec::parse_greeting(std::string_view) const
{
    return malformed();
}

std::unique_ptr<Codec> make_codec(const Options& options)
{
    switch (options.protocol) {
    case Protocol::Kv:
        return make_kv_codec(options.ttl, options.user, options.password);
    case Protocol::Redis:
        return make_redis_codec(options.ttl);
    case Protocol::Memcache:
        return make_memcache_codec(options.ttl);
    case Protocol::Echo:
        return make_echo_codec();
    }
    return nullptr;
}

void append_number(std::string& out, size_t n)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, end);
}

bool take_line(std::string_view in, std::string_view& line, size_t& consumed)
{
    size_t lf = in.find('\n');
    if (lf == std::string_view::npos)
        return false;
    consumed = lf + 1;
    line = in.substr(0, lf > 0 && in[lf - 1] == '\r' ? lf - 1 : lf);
    return true;
}

}  // namespace kvbench
