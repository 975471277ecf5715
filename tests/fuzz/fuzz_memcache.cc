// fuzz_memcache.cc: libFuzzer target for what every memcached-door client
// controls, the text-protocol request parser of
// kvstored/doors/memcache/text_parser.h.
//
// The input's last bytes choose the limits (max_value, max_line) and how the
// stream is cut into appends; the rest is the byte stream. The same stream is
// also parsed in one append and a byte at a time: the parser promises the same
// requests, replies and close whatever the cuts, so any difference is a bug.
// Every result is checked against the parser's contract: a request has a
// command of two bytes or more and tokens without spaces; a data block is
// never longer than max_value (a longer one is swallowed: too_large, no data);
// a storage command's key is its second token and at most 250 bytes; views
// stay valid until the next append; while the parser waits for input it holds
// at most one line and one block; every request or reply consumed input; a
// reply is one of memcached's few texts; after Close nothing else comes. A
// set's block is also read as the login it is before a session authenticates
// (split_credentials, memcached -Y's "user password").
#include <fuzzer/FuzzedDataProvider.h>

#include <random>
#include <string>
#include <vector>

#include "doors/memcache/text_parser.h"
#include "fuzz_check.h"

namespace {

using kv::memcache::Limits;
using kv::memcache::Request;
using kv::memcache::RequestParser;
using kvfuzz::require;
using kvfuzz::require_same_outcome_whatever_the_appends;
using Next = RequestParser::Next;

struct Outcome {
    std::vector<std::string> events;
    bool closed = false;
    std::string close_reply;
    bool operator==(const Outcome&) const = default;
};

// A request as one string (tokens, then the parsed fields and the data), so
// that outcomes compare whole.
std::string describe(const Request& req)
{
    std::string s;
    for (std::string_view t : req.tokens)
        s.append(t).push_back('\x01');
    s += std::to_string(req.storage) + ' ' + std::string(req.key) + ' ' + std::to_string(req.flags) + ' '
        + std::to_string(req.exptime) + ' ' + std::to_string(req.cas_unique) + ' ' + std::to_string(req.noreply) + ' '
        + std::to_string(req.has_data) + ' ' + std::to_string(req.too_large) + ' ';
    s.append(req.data);
    return s;
}

void check_request(const Request& req, const Limits& limits)
{
    require(!req.tokens.empty() && req.tokens[0].size() >= 2, "a request has a command of two bytes or more");
    for (std::string_view t : req.tokens)
        require(!t.empty() && t.find(' ') == std::string_view::npos && t.find('\n') == std::string_view::npos
                    && t.find('\0') == std::string_view::npos,
                "tokens are split on spaces, end at the line's end and at its first NUL");
    const bool storage_name = req.tokens[0] == "set" || req.tokens[0] == "add" || req.tokens[0] == "replace"
        || req.tokens[0] == "append" || req.tokens[0] == "prepend" || req.tokens[0] == "cas";
    require(req.storage == storage_name, "the storage commands, and only they, carry storage fields");
    require(req.has_data == (storage_name || req.tokens[0] == "ms"), "the storage commands and ms carry a block");
    if (req.has_data) {
        require(req.tokens.size() >= 3 && req.key == req.tokens[1] && req.key.size() <= kv::memcache::kMaxKey,
                "a block's command has its key, at most 250 bytes");
        require(req.data.size() <= limits.max_value, "a block is never longer than max_value");
        require(!req.too_large || req.data.empty(), "a swallowed block carries no data");
    } else {
        require(req.key.empty() && req.data.empty() && !req.too_large, "no block, no block fields");
    }
    if (req.storage) {
        const size_t want = req.tokens[0] == "cas" ? 6 : 5;
        require(req.tokens.size() == want || req.tokens.size() == want + 1,
                "a storage line has 5 or 6 tokens (cas 6, 7)");
        require(req.noreply == (req.tokens.back() == "noreply"), "noreply is the last token");
        require(req.tokens[0] == "cas" || req.cas_unique == 0, "only cas has a cas unique");
    }
}

// The login a `set` carries before a session has authenticated (memcached
// -Y, split_credentials): two tokens without spaces or NUL, inside the block
// and in its order; none when the block holds fewer than two tokens.
void check_credentials(const Request& req)
{
    std::string_view user, password;
    bool found = kv::memcache::split_credentials(req.data, user, password);
    std::string_view text = req.data.substr(0, req.data.find('\0'));
    size_t tokens = 0;
    for (size_t i = 0; i < text.size(); ++i)
        tokens += text[i] != ' ' && (i == 0 || text[i - 1] == ' ');
    require(found == (tokens >= 2), "a login is found when the block has two tokens or more");
    if (!found)
        return;
    for (std::string_view t : {user, password})
        require(!t.empty() && t.find(' ') == std::string_view::npos && t.find('\0') == std::string_view::npos
                    && t.data() >= req.data.data() && t.data() + t.size() <= req.data.data() + req.data.size(),
                "user and password are tokens of the block");
    require(user.data() + user.size() < password.data(), "the user comes before the password");
}

void check_reply(const std::string& reply)
{
    require(reply.empty() || reply == "ERROR\r\n" || reply == "CLIENT_ERROR bad command line format\r\n"
                || reply == "CLIENT_ERROR bad data chunk\r\n" || reply == "CLIENT_ERROR options flags too long\r\n",
            "the parser's reply is one of memcached's");
}

// Feeds `stream` in pieces of 1 to `max_piece` bytes (all at once when
// max_piece is 0), collecting what the parser yields.
Outcome run(std::string_view stream, Limits limits, uint16_t seed, size_t max_piece)
{
    RequestParser parser(limits);
    std::minstd_rand rng(seed + 1u);
    Outcome out;
    Request req;
    std::string reply;
    std::vector<std::string_view> views;  // this append's data and tokens
    std::vector<std::string> copies;
    size_t appended = 0;
    for (bool first = true; first || !stream.empty(); first = false) {
        size_t n = stream.size();
        if (max_piece > 0)
            n = std::min(n, std::uniform_int_distribution<size_t>(1, max_piece)(rng));
        parser.append(stream.data(), n);
        stream.remove_prefix(n);
        appended += n;
        views.clear();
        copies.clear();
        for (;;) {
            Next next = parser.next(req, reply);
            if (next == Next::NeedMore) {
                require(req.tokens.empty() && reply.empty(), "NeedMore carries nothing");
                require(parser.wants_input(), "NeedMore wants input");
                require(parser.buffered() <= limits.max_line + limits.max_value + 1,
                        "waiting, the parser holds at most one line and one block");
                break;
            }
            if (next == Next::Close) {
                require(req.tokens.empty(), "Close carries no request");
                require(reply.empty() || reply == "SERVER_ERROR command line too long\r\n",
                        "Close is silent, or says the line is too long");
                require(!parser.wants_input(), "after Close no input is wanted");
                out.closed = true;
                out.close_reply = reply;
                std::string again = "x";
                require(parser.next(req, again) == Next::Close && again.empty() && req.tokens.empty(),
                        "after Close the parser answers Close, and nothing else");
                break;
            }
            require(out.events.size() < appended, "every request and reply consumes at least one byte");
            if (next == Next::Reply) {
                require(req.tokens.empty() && !req.has_data, "Reply carries no request");
                check_reply(reply);
                out.events.push_back("reply " + reply);
                continue;
            }
            require(reply.empty(), "Request carries no reply");
            check_request(req, limits);
            if (req.tokens[0] == "set")
                check_credentials(req);
            for (std::string_view t : req.tokens) {
                views.push_back(t);
                copies.emplace_back(t);
            }
            views.push_back(req.data);
            copies.emplace_back(req.data);
            out.events.push_back(describe(req));
        }
        // Every view handed out since the append still reads the same bytes.
        for (size_t i = 0; i < views.size(); ++i)
            require(views[i] == copies[i], "views stay valid until the next append");
        if (out.closed)
            break;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    // Small limits, so that both are reached often; max_line reaches past
    // memcached's 2048 bytes, so that both line bounds are met.
    Limits limits;
    limits.max_value = in.ConsumeIntegralInRange<size_t>(0, 300);
    limits.max_line = in.ConsumeIntegralInRange<size_t>(1, 3000);
    uint16_t seed = in.ConsumeIntegral<uint16_t>();
    std::string stream = in.ConsumeRemainingBytesAsString();

    require_same_outcome_whatever_the_appends([&](size_t max_piece) { return run(stream, limits, seed, max_piece); });
    return 0;
}
