// fuzz_line.cc: libFuzzer target for what every TCP client controls, the line
// protocol of common/command.h: kv::LineSplitter (framing) and kv::parse_line.
//
// The input's last bytes choose a line limit, a value limit and how the stream
// is cut into reads; the rest is the byte stream. The splitter is compared
// with a model (split the whole stream at LF at once), so a framing bug shows
// as a mismatch, not only as a crash. Every line is parsed and the result is
// checked against the protocol's rules (docs/protocol.md), and every word of
// it goes through the strict integer parsers, compared with a model.
#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
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

// True when `word` occurs in `line` as a whole blank-delimited word (or, for
// the last word before a key:value's colon, ends at that colon's key).
bool has_word(std::string_view line, std::string_view word)
{
    for (size_t at = line.find(word); at != std::string_view::npos; at = line.find(word, at + 1)) {
        bool starts = at == 0 || is_blank(line[at - 1]);
        size_t end = at + word.size();
        bool ends = end == line.size() || is_blank(line[end]) || line[end] == '\r';
        if (starts && ends)
            return true;
    }
    return false;
}

// A strict decimal (command.h) is exactly how std::to_string prints its value.
template <typename Int> std::optional<Int> model_parse(std::string_view text)
{
    Int n{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || std::to_string(n) != text)
        return std::nullopt;
    return n;
}

// Every blank-separated word of the line through the integer parsers, against the model.
void check_integers(std::string_view line)
{
    size_t words = 0;
    while (!line.empty() && words++ < 16) {
        size_t start = 0;
        while (start < line.size() && is_blank(line[start]))
            ++start;
        size_t end = start;
        while (end < line.size() && !is_blank(line[end]))
            ++end;
        std::string_view word = line.substr(start, end - start);
        require(kv::parse_int64(word) == model_parse<int64_t>(word), "parse_int64 agrees with the model");
        require(kv::parse_uint64(word) == model_parse<uint64_t>(word), "parse_uint64 agrees with the model");
        line.remove_prefix(end);
    }
}

// The ttl option of save, add, replace and cas: none, or 1 s to kMaxTtlSeconds,
// written as a strict decimal on the line.
void check_ttl(const kv::Command& cmd, std::string_view line)
{
    if (cmd.expiry == kv::wire::Expiry::None) {
        require(cmd.expiry_ms == 0, "no ttl: expiry_ms 0");
        return;
    }
    require(cmd.expiry == kv::wire::Expiry::After, "a ttl is Expiry::After");
    require(cmd.expiry_ms % 1000 == 0 && cmd.expiry_ms >= 1000 && cmd.expiry_ms / 1000 <= kv::kMaxTtlSeconds,
            "a ttl is 1 to kMaxTtlSeconds whole seconds");
    require(has_word(line, std::to_string(cmd.expiry_ms / 1000)), "the ttl is written as a strict decimal");
}

void check_command(const kv::Command& cmd, std::string_view line, size_t max_value)
{
    require(kvfuzz::points_into(cmd.key, line) && kvfuzz::points_into(cmd.value, line),
            "key and value are views into the line");
    using kv::Verb;
    using kv::wire::Expiry;
    const bool key_value = cmd.verb == Verb::Save || cmd.verb == Verb::Add || cmd.verb == Verb::Replace
        || cmd.verb == Verb::Cas || cmd.verb == Verb::Append;
    const bool counter = cmd.verb == Verb::Incr || cmd.verb == Verb::Decr;
    if (key_value) {
        require(kv::key_problem(cmd.key).empty(), "key:value: the key is valid");
        require(cmd.value.size() <= max_value, "key:value: the value is within the limit");
    } else {
        require(cmd.value.empty(), "no value outside the key:value commands");
    }
    if (cmd.verb != Verb::Cas)
        require(cmd.version == 0, "only cas carries a version");
    if (!counter)
        require(cmd.delta == 0, "only incr and decr carry a delta");
    switch (cmd.verb) {
    case Verb::Save:
    case Verb::Add:
    case Verb::Replace:
        check_ttl(cmd, line);
        break;
    case Verb::Cas:
        require(cmd.version >= 1, "cas: the version is at least 1");
        require(has_word(line, std::to_string(cmd.version)), "cas: the version is written as a strict decimal");
        check_ttl(cmd, line);
        break;
    case Verb::Append:
        require(cmd.expiry == Expiry::Keep && cmd.expiry_ms == 0, "append keeps the deadline");
        break;
    case Verb::Incr:
    case Verb::Decr:
        require(kv::key_problem(cmd.key).empty(), "incr/decr: the key is valid");
        require(cmd.expiry == Expiry::Keep && cmd.expiry_ms == 0, "incr/decr keep the deadline");
        require(cmd.delta == 1 || has_word(line, std::to_string(cmd.delta)),
                "incr/decr: the delta is 1 or written as a strict decimal");
        break;
    case Verb::Expire:
        require(kv::key_problem(cmd.key).empty(), "expire: the key is valid");
        require(cmd.expiry == Expiry::After && cmd.expiry_ms % 1000 == 0, "expire: whole seconds from now");
        require(cmd.expiry_ms / 1000 >= -kv::kMaxTtlSeconds && cmd.expiry_ms / 1000 <= kv::kMaxTtlSeconds,
                "expire: within +-kMaxTtlSeconds");
        require(has_word(line, std::to_string(cmd.expiry_ms / 1000)), "expire: seconds written as a strict decimal");
        break;
    case Verb::Read:
    case Verb::Gets:
    case Verb::Take:
    case Verb::Delete:
    case Verb::Exists:
    case Verb::Persist:
    case Verb::Ttl:
        require(kv::key_problem(cmd.key).empty(), "the key is valid");
        require(cmd.expiry == Expiry::None && cmd.expiry_ms == 0, "no expiry");
        break;
    case Verb::Keys:
        require(cmd.key.empty() || kv::key_problem(cmd.key).empty(), "keys: the prefix is empty or a valid key");
        require(cmd.expiry == Expiry::None && cmd.expiry_ms == 0, "no expiry");
        break;
    default:
        require(cmd.key.empty() && cmd.expiry == Expiry::None && cmd.expiry_ms == 0,
                "commands without arguments carry none");
    }
    const bool local = cmd.verb == Verb::Connect || cmd.verb == Verb::Ping || cmd.verb == Verb::Help
        || cmd.verb == Verb::Close || cmd.verb == Verb::Exit;
    require(kv::wire_op(cmd.verb).has_value() == !local, "exactly the data commands go to kvstored");
    if (local)
        return;
    require(static_cast<uint8_t>(*kv::wire_op(cmd.verb)) <= kv::wire::kLastDataOp, "a command is never an admin op");
    kv::wire::Request req = kv::to_request(cmd);
    require(req.op == *kv::wire_op(cmd.verb) && req.key == cmd.key && req.value == cmd.value && req.expiry == cmd.expiry
                && req.expiry_ms == cmd.expiry_ms && req.version == cmd.version && req.delta == cmd.delta,
            "to_request carries every field");
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
    // The same error, but for the echo of an unknown word.
    if (r.kind == kv::ParseResult::Kind::Error && r.error.rfind("ERR unknown-command ", 0) != 0)
        require(u.error == r.error, "the case of the command word does not matter (error)");
    check_integers(line);
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
