// command.cc: the command table, the line parser, and the line splitter.
#include "command.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace kv {
namespace {

// What follows the command word. Options (`ttl <seconds>`) come before the
// key: a key never contains a space, so the part of a line before its first
// ':' can carry them without ambiguity.
enum class Args {
    None,
    Key,  // <key>
    OptionalPrefix,  // [prefix]
    KeyValue,  // <key>:<value>
    TtlKeyValue,  // [ttl <seconds>] <key>:<value>
    VersionTtlKeyValue,  // <version> [ttl <seconds>] <key>:<value>
    KeyDelta,  // <key> [<delta>]
    KeySeconds,  // <key> <seconds>
    UserPassword,  // <user> <password>: the password is the rest of the line
};

struct CommandSpec {
    std::string_view name;
    Verb verb;
    Args args;
    std::optional<wire::Op> op;  // nullopt: answered by kvsvc itself
    std::string_view usage;
    std::string_view summary;
};

// The one list of commands. Order is the order `help` shows.
constexpr std::array kCommands{
    CommandSpec{"connect", Verb::Connect, Args::None, std::nullopt, "connect",
                "attach to kvstored (needed before data commands)"},
    CommandSpec{"auth", Verb::Auth, Args::UserPassword, std::nullopt, "auth <user> <password>",
                "prove who you are (when kvstored has a users file)"},
    CommandSpec{"save", Verb::Save, Args::TtlKeyValue, wire::Op::Save, "save [ttl <seconds>] <key>:<value>",
                "store value under key (value may hold spaces and ':'), for ttl seconds"},
    CommandSpec{"add", Verb::Add, Args::TtlKeyValue, wire::Op::Add, "add [ttl <seconds>] <key>:<value>",
                "save only if key is absent, else EXISTS"},
    CommandSpec{"replace", Verb::Replace, Args::TtlKeyValue, wire::Op::Replace, "replace [ttl <seconds>] <key>:<value>",
                "save only if key is present, else NOT_FOUND"},
    CommandSpec{"cas", Verb::Cas, Args::VersionTtlKeyValue, wire::Op::Cas,
                "cas <version> [ttl <seconds>] <key>:<value>",
                "save only if key still has this version (gets), else CHANGED"},
    CommandSpec{"append", Verb::Append, Args::KeyValue, wire::Op::Append, "append <key>:<value>",
                "add value to the end of key's value (creates key)"},
    CommandSpec{"read", Verb::Read, Args::Key, wire::Op::Read, "read <key>", "print the value of key"},
    CommandSpec{"gets", Verb::Gets, Args::Key, wire::Op::Gets, "gets <key>", "print the version and value of key"},
    CommandSpec{"take", Verb::Take, Args::Key, wire::Op::Take, "take <key>", "print the value of key and delete it"},
    CommandSpec{"delete", Verb::Delete, Args::Key, wire::Op::Delete, "delete <key>", "remove key"},
    CommandSpec{"exists", Verb::Exists, Args::Key, wire::Op::Exists, "exists <key>", "YES if key is present, else NO"},
    CommandSpec{"incr", Verb::Incr, Args::KeyDelta, wire::Op::Incr, "incr <key> [<delta>]",
                "add delta (default 1) to key's integer (missing key: 0)"},
    CommandSpec{"decr", Verb::Decr, Args::KeyDelta, wire::Op::Decr, "decr <key> [<delta>]",
                "subtract delta (default 1) from key's integer (missing key: 0)"},
    CommandSpec{"expire", Verb::Expire, Args::KeySeconds, wire::Op::Expire, "expire <key> <seconds>",
                "delete key after seconds (0 or less: now)"},
    CommandSpec{"persist", Verb::Persist, Args::Key, wire::Op::Persist, "persist <key>", "keep key with no deadline"},
    CommandSpec{"ttl", Verb::Ttl, Args::Key, wire::Op::Ttl, "ttl <key>", "seconds until key expires, or none"},
    CommandSpec{"keys", Verb::Keys, Args::OptionalPrefix, wire::Op::Keys, "keys [prefix]",
                "list keys (sorted), optionally only those starting with prefix"},
    CommandSpec{"count", Verb::Count, Args::None, wire::Op::Count, "count", "number of entries and the capacity"},
    CommandSpec{"stats", Verb::Stats, Args::None, wire::Op::Stats, "stats", "server counters"},
    CommandSpec{"sync", Verb::Sync, Args::None, wire::Op::Sync, "sync",
                "wait until later reads see every write committed before it (OK synced <revision>)"},
    CommandSpec{"ping", Verb::Ping, Args::None, std::nullopt, "ping", "answer PONG"},
    CommandSpec{"help", Verb::Help, Args::None, std::nullopt, "help", "this list"},
    CommandSpec{"close", Verb::Close, Args::None, std::nullopt, "close",
                "detach from kvstored; the connection stays open"},
    CommandSpec{"exit", Verb::Exit, Args::None, std::nullopt, "exit", "say BYE and close the connection"},
    CommandSpec{"quit", Verb::Exit, Args::None, std::nullopt, "quit", "same as exit"},
};

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back()))
        s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        if (x != b[i])
            return false;
    }
    return true;
}

const CommandSpec* find_command(std::string_view word)
{
    for (const auto& spec : kCommands)
        if (iequals(word, spec.name))
            return &spec;
    return nullptr;
}

// A word from the client, made safe to echo: printable ASCII only, at most
// kMaxEcho bytes (docs/protocol.md), a cut word ending in "...".
std::string printable(std::string_view word)
{
    constexpr size_t kMaxEcho = 40;
    constexpr std::string_view kCut = "...";
    size_t keep = word.size() > kMaxEcho ? kMaxEcho - kCut.size() : word.size();
    std::string out;
    for (size_t i = 0; i < keep; ++i) {
        unsigned char c = static_cast<unsigned char>(word[i]);
        out.push_back(c > 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    if (keep < word.size())
        out += kCut;
    return out;
}

ParseResult error(std::string_view code, std::string_view message)
{
    ParseResult r;
    r.kind = ParseResult::Kind::Error;
    r.error = error_reply(code, message);
    return r;
}

ParseResult usage_error(const CommandSpec& spec)
{
    return error("syntax", "usage: " + std::string(spec.usage));
}

ParseResult ok(const Command& command)
{
    ParseResult r;
    r.kind = ParseResult::Kind::Command;
    r.command = command;
    return r;
}

bool has_blank(std::string_view s)
{
    for (char c : s)
        if (is_blank(c))
            return true;
    return false;
}

// Removes and returns the first word of `s` (blanks before it skipped) and
// the blanks after it.
std::string_view take_word(std::string_view& s)
{
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    size_t end = 0;
    while (end < s.size() && !is_blank(s[end]))
        ++end;
    std::string_view word = s.substr(0, end);
    s.remove_prefix(end);
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    return word;
}

// Integer arguments: each names itself and its range in its error.
struct IntArg {
    std::string_view name;
    int64_t min;
    int64_t max;
};
constexpr IntArg kTtlArg{"ttl", 1, kMaxTtlSeconds};
constexpr IntArg kSecondsArg{"seconds", -kMaxTtlSeconds, kMaxTtlSeconds};
constexpr IntArg kDeltaArg{"delta", INT64_MIN, INT64_MAX};

ParseResult int_error(const IntArg& arg)
{
    return error("syntax",
                 std::string(arg.name) + " must be an integer from " + std::to_string(arg.min) + " to "
                     + std::to_string(arg.max));
}

ParseResult version_error()
{
    return error("syntax", "version must be an integer from 1 to " + std::to_string(UINT64_MAX));
}

std::optional<int64_t> parse_in(std::string_view text, const IntArg& arg)
{
    std::optional<int64_t> n = parse_int64(text);
    if (n && (*n < arg.min || *n > arg.max))
        return std::nullopt;
    return n;
}

// A key (and, for a key:value command, its value) checked against the limits.
std::optional<ParseResult> key_value_problem(std::string_view key, std::string_view value, size_t max_value)
{
    if (auto why = key_problem(key); !why.empty())
        return error("bad-key", why);
    if (value.size() > max_value)
        return error("too-long",
                     "value is " + std::to_string(value.size()) + " bytes; the limit is " + std::to_string(max_value));
    return std::nullopt;
}

// True when `head` starts with the option word `name` and more words follow
// it: only then is the word an option (a key may be called "ttl").
bool starts_with_option(std::string_view head, std::string_view name)
{
    return iequals(take_word(head), name) && !head.empty();
}

// Takes `ttl <seconds>` off the front of `head`, when there, into `cmd`. An
// error is returned for a bad number, a missing key, or a second ttl.
std::optional<ParseResult> take_ttl(const CommandSpec& spec, std::string_view& head, Command& cmd)
{
    if (!starts_with_option(head, "ttl"))
        return std::nullopt;
    std::string_view rest = head;
    take_word(rest);
    std::string_view seconds = take_word(rest);
    if (rest.empty() || starts_with_option(rest, "ttl"))
        return usage_error(spec);
    std::optional<int64_t> ttl = parse_in(seconds, kTtlArg);
    if (!ttl)
        return int_error(kTtlArg);
    cmd.expiry = wire::Expiry::After;
    cmd.expiry_ms = *ttl * 1000;
    head = rest;
    return std::nullopt;
}

// `[<version>] [ttl <seconds>] <key>:<value>`, as `spec.args` says. `head` is
// the part before the first ':'. Option words are recognised only when a key
// follows them; a head that does not start with one is the key, so that
// `save two words:v` stays a bad key (a space), as it always was.
ParseResult parse_key_value(const CommandSpec& spec, std::string_view head, std::string_view value, size_t max_value)
{
    Command cmd{.verb = spec.verb};
    cmd.value = value;
    if (spec.args == Args::KeyValue)
        cmd.expiry = wire::Expiry::Keep;  // append keeps the deadline
    if (spec.args == Args::VersionTtlKeyValue) {
        std::string_view word = take_word(head);
        if (head.empty())
            return usage_error(spec);
        std::optional<uint64_t> version = parse_uint64(word);
        if (!version || *version == 0)
            return version_error();
        cmd.version = *version;
    }
    if (spec.args != Args::KeyValue) {  // append takes no options
        if (auto problem = take_ttl(spec, head, cmd))
            return *problem;
    }
    cmd.key = head;
    if (auto problem = key_value_problem(cmd.key, value, max_value))
        return *problem;
    return ok(cmd);
}

// `<key> [<delta>]` (incr, decr) and `<key> <seconds>` (expire).
ParseResult parse_key_number(const CommandSpec& spec, std::string_view args)
{
    std::string_view key = take_word(args);
    std::string_view number = take_word(args);
    bool optional = spec.args == Args::KeyDelta;
    if (key.empty() || !args.empty() || (number.empty() && !optional))
        return usage_error(spec);
    if (auto why = key_problem(key); !why.empty())
        return error("bad-key", why);
    Command cmd{.verb = spec.verb, .key = key};
    if (optional) {
        cmd.expiry = wire::Expiry::Keep;
        cmd.delta = 1;
        if (!number.empty()) {
            std::optional<int64_t> delta = parse_in(number, kDeltaArg);
            if (!delta)
                return int_error(kDeltaArg);
            cmd.delta = *delta;
        }
    } else {
        std::optional<int64_t> seconds = parse_in(number, kSecondsArg);
        if (!seconds)
            return int_error(kSecondsArg);
        cmd.expiry = wire::Expiry::After;
        cmd.expiry_ms = *seconds * 1000;
    }
    return ok(cmd);
}

ParseResult parse_args(const CommandSpec& spec, std::string_view args, size_t max_value)
{
    switch (spec.args) {
    case Args::None:
        return trim(args).empty() ? ok(Command{.verb = spec.verb}) : usage_error(spec);
    case Args::Key:
    case Args::OptionalPrefix: {
        std::string_view key = trim(args);
        if (key.empty())
            return spec.args == Args::Key ? usage_error(spec) : ok(Command{.verb = spec.verb});
        if (has_blank(key))
            return usage_error(spec);
        // A prefix obeys the rules of a key (docs/protocol.md): one that no
        // key could start with is a mistake worth saying, not an empty list.
        if (auto why = key_problem(key); !why.empty())
            return error("bad-key", why);
        return ok(Command{.verb = spec.verb, .key = key});
    }
    case Args::KeyValue:
    case Args::TtlKeyValue:
    case Args::VersionTtlKeyValue: {
        size_t colon = args.find(':');
        if (colon == std::string_view::npos)
            return usage_error(spec);
        return parse_key_value(spec, args.substr(0, colon), args.substr(colon + 1), max_value);
    }
    case Args::KeyDelta:
    case Args::KeySeconds:
        return parse_key_number(spec, trim(args));
    case Args::UserPassword: {
        // Never echoed: the password must not reach any reply or log.
        std::string_view rest = args;
        std::string_view user = take_word(rest);
        std::string_view password = trim(rest);
        if (user.empty() || password.empty() || user.size() > 64 || password.size() > 1024)
            return usage_error(spec);
        return ok(Command{.verb = spec.verb, .key = user, .value = password});
    }
    }
    return usage_error(spec);
}

// The magnitude of a strict decimal (no sign), or nullopt when `digits` is
// not one or past 2^64-1.
std::optional<uint64_t> parse_magnitude(std::string_view digits)
{
    if (digits.empty() || (digits[0] == '0' && digits.size() > 1))
        return std::nullopt;
    uint64_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return std::nullopt;
        unsigned d = static_cast<unsigned>(c - '0');
        if (n > (UINT64_MAX - d) / 10)
            return std::nullopt;
        n = n * 10 + d;
    }
    return n;
}

}  // namespace

std::string too_long_reply(size_t max_line)
{
    return error_reply("too-long", "line exceeds " + std::to_string(max_line) + " bytes; the rest of it was discarded");
}

std::string error_reply(std::string_view code, std::string_view message)
{
    std::string line = "ERR ";
    line.append(code).append(" ").append(message).append("\n");
    return line;
}

std::string_view store_key_problem(std::string_view key)
{
    if (key.empty())
        return "key is empty";
    if (key.size() > kMaxKeyBytes)
        return "key is longer than 250 bytes";
    return {};
}

std::string_view key_problem(std::string_view key)
{
    if (auto why = store_key_problem(key); !why.empty())
        return why;
    for (char ch : key) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c == ' ')
            return "key contains a space";
        if (c == ':')
            return "key contains ':'";
        if (c < 0x20 || c == 0x7f)
            return "key contains a control byte";
    }
    return {};
}

std::string_view unshowable_value(std::string_view value)
{
    if (value.find('\n') != std::string_view::npos)
        return "the value contains a line feed";
    return {};
}

std::string printable_bytes(std::string_view bytes)
{
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size());
    for (char ch : bytes) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out.append("\\x").push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

ParseResult parse_line(std::string_view line, size_t max_value)
{
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    while (!line.empty() && is_blank(line.front()))
        line.remove_prefix(1);
    if (trim(line).empty())
        return {};

    size_t end = 0;
    while (end < line.size() && !is_blank(line[end]))
        ++end;
    std::string_view word = line.substr(0, end);
    std::string_view args = line.substr(end);
    // The key starts after the blanks that follow the command word.
    while (!args.empty() && is_blank(args.front()))
        args.remove_prefix(1);

    const CommandSpec* spec = find_command(word);
    if (!spec)
        return error("unknown-command", printable(word) + " (type 'help')");
    return parse_args(*spec, args, max_value);
}

std::optional<wire::Op> wire_op(Verb verb)
{
    for (const auto& spec : kCommands)
        if (spec.verb == verb)
            return spec.op;
    return std::nullopt;
}

std::string_view op_word(wire::Op op)
{
    // Built once, at compile time: this runs for every command kvstored times.
    static constexpr auto kWords = [] {
        std::array<std::string_view, wire::kLastDataOp + 1> words{};
        for (const auto& spec : kCommands)
            if (spec.op && words[static_cast<size_t>(*spec.op)].empty())
                words[static_cast<size_t>(*spec.op)] = spec.name;
        return words;
    }();
    auto i = static_cast<size_t>(op);
    return i < kWords.size() ? kWords[i] : std::string_view{};
}

wire::Request to_request(const Command& cmd)
{
    return wire::Request{
        wire_op(cmd.verb).value(), cmd.key, cmd.value, cmd.expiry, cmd.expiry_ms, cmd.version, cmd.delta};
}

wire::Request auth_request(const Command& cmd)
{
    wire::Request req;
    req.op = wire::Op::Auth;
    req.key = cmd.key;
    req.value = cmd.value;
    return req;
}

std::optional<int64_t> parse_int64(std::string_view text)
{
    bool negative = !text.empty() && text.front() == '-';
    if (negative)
        text.remove_prefix(1);
    std::optional<uint64_t> magnitude = parse_magnitude(text);
    if (!magnitude)
        return std::nullopt;
    constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;  // of INT64_MIN
    if (negative) {
        if (*magnitude == 0 || *magnitude > kMaxMagnitude)
            return std::nullopt;  // "-0" is not a strict decimal
        return static_cast<int64_t>(0 - *magnitude);  // two's complement: INT64_MIN included
    }
    if (*magnitude >= kMaxMagnitude)
        return std::nullopt;
    return static_cast<int64_t>(*magnitude);
}

std::optional<uint64_t> parse_uint64(std::string_view text)
{
    return parse_magnitude(text);
}

std::string help_text()
{
    size_t width = 0;
    for (const auto& spec : kCommands)
        width = std::max(width, spec.usage.size());
    std::string out = "HELP " + std::to_string(kCommands.size()) + "\n";
    for (const auto& spec : kCommands) {
        out.append(spec.usage);
        out.append(width + 2 - spec.usage.size(), ' ');
        out.append(spec.summary).append("\n");
    }
    return out;
}

void LineSplitter::append(const char* data, size_t len)
{
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = scanned_ = 0;
    } else if (pos_ >= 64 * 1024 || pos_ * 2 >= buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data, len);
}

LineSplitter::Next LineSplitter::next(std::string_view& line)
{
    for (;;) {
        std::string_view avail(buf_.data() + pos_, buf_.size() - pos_);
        size_t lf = avail.find('\n', scanned_);
        if (discarding_) {
            if (lf == std::string_view::npos) {
                pos_ = buf_.size();  // drop what we have of the overlong line
                scanned_ = 0;
                return Next::NeedMore;
            }
            pos_ += lf + 1;
            scanned_ = 0;
            discarding_ = false;
            continue;
        }
        if (lf == std::string_view::npos) {
            if (avail.size() > max_line_) {
                discarding_ = true;
                pos_ = buf_.size();
                scanned_ = 0;
                return Next::TooLong;
            }
            scanned_ = avail.size();
            return Next::NeedMore;
        }
        scanned_ = 0;
        pos_ += lf + 1;
        if (lf > max_line_) {
            return Next::TooLong;
        }
        line = avail.substr(0, lf);
        return Next::Line;
    }
}

std::string_view LineSplitter::take_rest()
{
    if (discarding_)
        return {};
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    pos_ = buf_.size();
    scanned_ = 0;
    return rest;
}

}  // namespace kv
