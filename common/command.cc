// command.cc: the command table, the line parser, and the line splitter.
#include "command.h"

#include <algorithm>
#include <array>

namespace kv {
namespace {

enum class Args { None, Key, OptionalPrefix, KeyValue };

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
    CommandSpec{"save", Verb::Save, Args::KeyValue, wire::Op::Save, "save <key>:<value>",
                "store value under key (value may contain spaces and ':')"},
    CommandSpec{"read", Verb::Read, Args::Key, wire::Op::Read, "read <key>", "print the value of key"},
    CommandSpec{"delete", Verb::Delete, Args::Key, wire::Op::Delete, "delete <key>", "remove key"},
    CommandSpec{"exists", Verb::Exists, Args::Key, wire::Op::Exists, "exists <key>", "YES if key is present, else NO"},
    CommandSpec{"keys", Verb::Keys, Args::OptionalPrefix, wire::Op::Keys, "keys [prefix]",
                "list keys (sorted), optionally only those starting with prefix"},
    CommandSpec{"count", Verb::Count, Args::None, wire::Op::Count, "count", "number of entries and the capacity"},
    CommandSpec{"stats", Verb::Stats, Args::None, wire::Op::Stats, "stats", "server counters"},
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

ParseResult ok(Verb verb, std::string_view key = {}, std::string_view value = {})
{
    ParseResult r;
    r.kind = ParseResult::Kind::Command;
    r.command = Command{verb, key, value};
    return r;
}

bool has_blank(std::string_view s)
{
    for (char c : s)
        if (is_blank(c))
            return true;
    return false;
}

ParseResult parse_args(const CommandSpec& spec, std::string_view args, size_t max_value)
{
    switch (spec.args) {
    case Args::None:
        return trim(args).empty() ? ok(spec.verb) : usage_error(spec);
    case Args::Key:
    case Args::OptionalPrefix: {
        std::string_view key = trim(args);
        if (key.empty())
            return spec.args == Args::Key ? usage_error(spec) : ok(spec.verb);
        if (has_blank(key))
            return usage_error(spec);
        // A prefix obeys the rules of a key (docs/protocol.md): one that no
        // key could start with is a mistake worth saying, not an empty list.
        if (auto why = key_problem(key); !why.empty())
            return error("bad-key", why);
        return ok(spec.verb, key);
    }
    case Args::KeyValue: {
        size_t colon = args.find(':');
        if (colon == std::string_view::npos)
            return usage_error(spec);
        std::string_view key = args.substr(0, colon);
        std::string_view value = args.substr(colon + 1);
        if (auto why = key_problem(key); !why.empty())
            return error("bad-key", why);
        if (value.size() > max_value)
            return error("too-long",
                         "value is " + std::to_string(value.size()) + " bytes; the limit is "
                             + std::to_string(max_value));
        return ok(spec.verb, key, value);
    }
    }
    return usage_error(spec);
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

std::string_view key_problem(std::string_view key)
{
    if (key.empty())
        return "key is empty";
    if (key.size() > kMaxKeyBytes)
        return "key is longer than 250 bytes";
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
