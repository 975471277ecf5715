// fuzz_line.cc: libFuzzer target for what every TCP client controls, the line
// protocol of common/command.h: kv::LineSplitter (framing) and kv::parse_line.
//
// The input's last bytes choose a line limit, a value limit and how the stream
// is cut into reads; the rest is the byte stream. The splitter is compared
// with a model (split the whole stream at LF at once), so a framing bug shows
// as a mismatch, not only as a crash. Every line is parsed and the result is
// checked against the protocol's rules (docs/protocol.md).
#include <fuzzer/FuzzedDataProvider.h>

#include <random>
#include <string>
#include <vector>

#include "command.h"
#include "fuzz_check.h"

namespace {

using kvfuzz::require;

struct Piece {
    bool too_long = false;
    std::string line;  // without its LF; empty when too_long
    bool operator==(const Piece&) const = default;
};

struct Split {
    std::vector<Piece> pieces;
    std::string rest;  // what take_rest() returns at end of input
    bool operator==(const Split&) const = default;
};

// What the splitter must yield: each LF-terminated line, or one TooLong for a
// line longer than `max_line`; a last unterminated line is the rest, or one
// TooLong (and no rest) when it is already too long.
Split model_split(std::string_view stream, size_t max_line)
{
    Split out;
    for (;;) {
        size_t lf = stream.find('\n');
        std::string_view line = stream.substr(0, lf);
        if (lf == std::string_view::npos) {
            if (line.size() > max_line)
                out.pieces.push_back({true, {}});
            else
                out.rest = line;
            return out;
        }
        out.pieces.push_back(line.size() > max_line ? Piece{true, {}} : Piece{false, std::string(line)});
        stream.remove_prefix(lf + 1);
    }
}

// The real splitter, fed in reads of pseudo-random sizes (1 to 97 bytes).
Split real_split(std::string_view stream, size_t max_line, uint16_t chunk_seed, std::vector<std::string>& lines)
{
    kv::LineSplitter splitter(max_line);
    std::minstd_rand rng(chunk_seed + 1u);
    Split out;
    while (!stream.empty()) {
        size_t n = std::min<size_t>(stream.size(), 1 + rng() % 97);
        splitter.append(stream.data(), n);
        stream.remove_prefix(n);
        std::string_view line;
        for (;;) {
            auto next = splitter.next(line);
            if (next == kv::LineSplitter::Next::NeedMore)
                break;
            bool too_long = next == kv::LineSplitter::Next::TooLong;
            if (!too_long) {
                require(line.size() <= max_line, "a line is at most max_line bytes");
                require(line.find('\n') == std::string_view::npos, "a line holds no LF");
            }
            out.pieces.push_back({too_long, too_long ? std::string() : std::string(line)});
        }
        // Waiting for more, the splitter holds at most one unfinished line.
        require(splitter.buffered() <= max_line, "buffered input stays within the line limit");
    }
    out.rest = std::string(splitter.take_rest());
    require(splitter.buffered() == 0, "take_rest() leaves nothing buffered");
    for (const Piece& p : out.pieces)
        if (!p.too_long)
            lines.push_back(p.line);
    if (!out.rest.empty())
        lines.push_back(out.rest);
    return out;
}

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

bool all_blank(std::string_view s)
{
    for (char c : s)
        if (!is_blank(c))
            return false;
    return true;
}

// An error reply is one line "ERR <code> <message>\n" of printable ASCII: what
// a client sent is never echoed raw (no control bytes, no escape sequences).
void check_error_reply(const std::string& reply)
{
    require(reply.rfind("ERR ", 0) == 0, "an error reply starts with 'ERR '");
    require(!reply.empty() && reply.back() == '\n', "an error reply ends with LF");
    for (size_t i = 0; i + 1 < reply.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(reply[i]);
        require(c >= 0x20 && c < 0x7f, "an error reply is printable ASCII");
    }
    std::string_view code = std::string_view(reply).substr(4);
    code = code.substr(0, code.find(' '));
    require(code == "syntax" || code == "unknown-command" || code == "bad-key" || code == "too-long",
            "a parse error has one of the documented codes");
}

void check_command(const kv::Command& cmd, std::string_view line, size_t max_value)
{
    require(kvfuzz::points_into(cmd.key, line) && kvfuzz::points_into(cmd.value, line),
            "key and value are views into the line");
    switch (cmd.verb) {
    case kv::Verb::Save:
        require(kv::key_problem(cmd.key).empty(), "save: the key is valid");
        require(cmd.value.size() <= max_value, "save: the value is within the limit");
        break;
    case kv::Verb::Read:
    case kv::Verb::Delete:
    case kv::Verb::Exists:
        require(kv::key_problem(cmd.key).empty(), "the key is valid");
        require(cmd.value.empty(), "no value outside save");
        break;
    case kv::Verb::Keys:
        require(cmd.key.empty() || kv::key_problem(cmd.key).empty(), "keys: the prefix is empty or a valid key");
        require(cmd.value.empty(), "no value outside save");
        break;
    default:
        require(cmd.key.empty() && cmd.value.empty(), "commands without arguments carry none");
    }
    require(kv::wire_op(cmd.verb).has_value()
                == (cmd.verb != kv::Verb::Connect && cmd.verb != kv::Verb::Ping && cmd.verb != kv::Verb::Help
                    && cmd.verb != kv::Verb::Close && cmd.verb != kv::Verb::Exit),
            "exactly the data commands go to kvstored");
}

// Upper-cases the first word: command words are case-insensitive.
std::string upcase_word(std::string_view line)
{
    std::string out(line);
    size_t i = 0;
    while (i < out.size() && is_blank(out[i]))
        ++i;
    for (; i < out.size() && !is_blank(out[i]); ++i)
        if (out[i] >= 'a' && out[i] <= 'z')
            out[i] = static_cast<char>(out[i] - 'a' + 'A');
    return out;
}

void check_parse(std::string_view line, size_t max_value)
{
    kv::ParseResult r = kv::parse_line(line, max_value);
    std::string_view body = line;
    if (!body.empty() && body.back() == '\r')
        body.remove_suffix(1);
    require((r.kind == kv::ParseResult::Kind::Empty) == all_blank(body), "a line is Empty iff it is blank");
    if (r.kind == kv::ParseResult::Kind::Error)
        check_error_reply(r.error);
    if (r.kind == kv::ParseResult::Kind::Command)
        check_command(r.command, line, max_value);

    std::string upper = upcase_word(line);
    kv::ParseResult u = kv::parse_line(upper, max_value);
    require(u.kind == r.kind, "the case of the command word does not matter");
    if (r.kind == kv::ParseResult::Kind::Command)
        require(u.command.verb == r.command.verb, "the case of the command word does not matter (verb)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    // Small limits, so that overlong lines and values are common.
    size_t max_line = in.ConsumeIntegralInRange<size_t>(0, 400);
    size_t max_value = in.ConsumeIntegralInRange<size_t>(0, 300);
    uint16_t chunk_seed = in.ConsumeIntegral<uint16_t>();
    std::string stream = in.ConsumeRemainingBytesAsString();

    std::vector<std::string> lines;
    Split real = real_split(stream, max_line, chunk_seed, lines);
    require(real == model_split(stream, max_line), "LineSplitter agrees with the model whatever the read sizes");
    for (const std::string& line : lines)
        check_parse(line, max_value);
    return 0;
}
