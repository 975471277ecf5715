// codec_echo.cc: the floor for session setup (bench/echo_floor.c): the server
// greets with one line, then sends each request line back.
#include "codec.h"

namespace kvbench {
namespace {

class EchoCodec final : public Codec {
public:
    bool has_greeting() const override { return true; }

    Parsed parse_greeting(std::string_view in) const override { return parse(in, Op::Get); }

    // The same bytes as kv's requests, so the two move equal traffic.
    void append(std::string& out, Op op, std::string_view key, std::string_view value) const override
    {
        if (op == Op::Set)
            out.append("save ").append(key).append(1, ':').append(value).append(1, '\n');
        else
            out.append("read ").append(key).append(1, '\n');
    }

    Parsed parse(std::string_view in, Op) const override
    {
        std::string_view line;
        size_t n = 0;
        return take_line(in, line, n) ? done(n, ReplyKind::Ok) : need_more();
    }
};

}  // namespace

std::unique_ptr<Codec> make_echo_codec()
{
    return std::make_unique<EchoCodec>();
}

}  // namespace kvbench
