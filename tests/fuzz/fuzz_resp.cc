// fuzz_resp.cc: libFuzzer target for what every Redis-door client controls,
// the RESP request parser of kvstored/doors/redis/resp.h.
//
// The input's last bytes choose the limits (max_bulk, max_request) and how the
// stream is cut into appends; the rest is the byte stream. The same stream is
// also parsed in one append: the parser promises the same commands and the
// same error whatever the cuts, so any difference is a bug. Every result is
// checked against the parser's contract (docs/redis.md): a command has at
// least one argument, none longer than its bound; views stay valid until the
// next append; the unparsed input held stays within max_request; an error is
// one of Redis's protocol errors on one line (or none: close silently), and
// after it the parser answers nothing else.
#include <fuzzer/FuzzedDataProvider.h>

#include <random>
#include <string>
#include <vector>

#include "doors/redis/resp.h"
#include "fuzz_check.h"

namespace {

using kv::redis::RequestLimits;
using kv::redis::RequestParser;
using kvfuzz::require;
using kvfuzz::require_same_outcome_whatever_the_appends;
using Next = RequestParser::Next;

struct Outcome {
    std::vector<std::vector<std::string>> commands;
    bool failed = false;
    std::string error;  // the reply due when failed ("" for none)
    bool operator==(const Outcome&) const = default;
};

bool starts_with(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

void check_error(const std::string& error)
{
    if (error.empty())
        return;
    require(starts_with(error, "-ERR Protocol error: "), "an error reply is a protocol error");
    require(error.size() >= 2 && error.substr(error.size() - 2) == "\r\n", "an error reply ends with CRLF");
    std::string_view text(error.data() + 21, error.size() - 23);
    require(text.find('\r') == std::string_view::npos && text.find('\n') == std::string_view::npos,
            "an error reply is one line");
    require(text == "invalid multibulk length" || text == "invalid bulk length" || text == "too big mbulk count string"
                || text == "too big bulk count string" || text == "too big inline request"
                || text == "unbalanced quotes in request"
                || (starts_with(text, "expected '$', got '") && text.size() == sizeof "expected '$', got 'X'" - 1
                    && text.back() == '\''),
            "an error reply is one of Redis's protocol errors");
}

void check_command(const std::vector<std::string_view>& args, const RequestLimits& limits)
{
    require(!args.empty(), "a command has at least one argument");
    size_t total = 0;
    for (std::string_view a : args) {
        require(a.size() <= std::max(limits.max_bulk, kv::redis::kInlineMax),
                "an argument is within max_bulk (multibulk) or 64 KiB (inline)");
        total += a.size();
    }
    require(total <= limits.max_request, "a command's arguments fit in max_request");
}

// Feeds `stream` in pieces of 1 to `max_piece` bytes (all at once when
// max_piece is 0), collecting what the parser yields.
Outcome run(std::string_view stream, RequestLimits limits, uint16_t seed, size_t max_piece)
{
    RequestParser parser(limits);
    std::minstd_rand rng(seed + 1u);
    Outcome out;
    std::vector<std::string_view> args;
    std::vector<std::vector<std::string_view>> views;  // this append's commands, as views
    std::string error;
    for (bool first = true; first || !stream.empty(); first = false) {
        size_t n = max_piece == 0 ? stream.size() : std::min<size_t>(stream.size(), 1 + rng() % max_piece);
        parser.append(stream.data(), n);
        stream.remove_prefix(n);
        views.clear();
        size_t from = out.commands.size();
        for (;;) {
            Next next = parser.next(args, error);
            if (next == Next::NeedMore) {
                require(error.empty() && args.empty(), "NeedMore carries nothing");
                require(parser.buffered() <= limits.max_request, "waiting for more, at most max_request is held");
                break;
            }
            if (next == Next::Error) {
                require(args.empty(), "Error carries no command");
                check_error(error);
                out.failed = true;
                out.error = error;
                std::string again = "x";
                require(parser.next(args, again) == Next::Error && again.empty() && args.empty(),
                        "after Error the parser answers Error, and nothing else");
                require(!parser.wants_input(), "after Error no more input is wanted");
                break;
            }
            require(error.empty(), "Command carries no error");
            check_command(args, limits);
            views.push_back(args);
            out.commands.emplace_back(args.begin(), args.end());
        }
        // Every view handed out since the append still reads the same bytes.
        for (size_t i = 0; i < views.size(); ++i) {
            const auto& copy = out.commands[from + i];
            require(views[i].size() == copy.size(), "views stay valid until the next append");
            for (size_t j = 0; j < copy.size(); ++j)
                require(views[i][j] == copy[j], "views stay valid until the next append");
        }
        if (out.failed)
            break;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    // Small limits, so that both are reached often.
    RequestLimits limits{in.ConsumeIntegralInRange<size_t>(0, 300), in.ConsumeIntegralInRange<size_t>(0, 5000)};
    uint16_t seed = in.ConsumeIntegral<uint16_t>();
    std::string stream = in.ConsumeRemainingBytesAsString();

    require_same_outcome_whatever_the_appends([&](size_t max_piece) { return run(stream, limits, seed, max_piece); });
    return 0;
}
