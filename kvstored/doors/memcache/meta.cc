// meta.cc: memcached 1.6's meta commands (mg ms md ma mn me) over the
// Database, as memcached 1.6.18 answers them (checked byte for byte against
// the real server; docs/memcache.md lists the differences).
//
// Every meta command but mn reads its flags the same way (memcached's
// _meta_flag_preparse): single-character flags, some with a token after the
// character, each at most once, checked before anything happens. The reply
// echoes the flags that ask for something (O opaque, k key, c cas, t ttl, ...)
// in the order the request gave them.
//
// kvstore keeps no per-item access history (hit before, last access), no
// stale mark and no "win token sent" mark, so:
//  - mg h and l answer memcached's error for a flag it does not know
//    (CLIENT_ERROR invalid flag), rather than a made-up number;
//  - mg R never wins, and no reply carries X or Z;
//  - md I (invalidate) keeps the item and gives it a new cas (and T's TTL)
//    but cannot mark it stale; ms I is ignored (a lower C is an EX).
//
// Time: a TTL change keeps the entry's cas unique, as in memcached
// (Store::Version::Keep). Every command does its one write first and then
// reports the entry as that write left it: a cas a client reads from a reply
// is always the one its next C must name.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "handlers.h"

namespace kv::memcache {

namespace {

// memcached's MFLAG_MAX_OPT_LENGTH: more tokens than this (memcached counts
// one more than Request::tokens holds, its terminal token) is an error.
constexpr size_t kMaxMetaTokens = 20;
// memcached's MFLAG_MAX_OPAQUE_LENGTH, counted with the 'O'.
constexpr size_t kMaxOpaqueToken = 32;

// ---- numbers, read as memcached's safe_strto* read them --------------------

std::optional<uint64_t> parse_u64(std::string_view text)
{
    uint64_t v = 0;
    return safe_strtoull(text, v) ? std::optional<uint64_t>(v) : std::nullopt;
}

std::optional<int32_t> parse_i32(std::string_view text)
{
    int32_t v = 0;
    return safe_strtol(text, v) ? std::optional<int32_t>(v) : std::nullopt;
}

// ---- base64 keys (memcached's decoder: RFC 1341 with its own leniency) -----

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(unsigned char c)
{
    if (c == '=')
        return 0;
    size_t at = kBase64.find(static_cast<char>(c));
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

// As memcached decodes a 'b' key: bytes outside the alphabet are skipped; the
// rest must be a whole number of 4-character groups; the first group with
// padding ends the key. nullopt where memcached fails (its result 0).
std::optional<std::string> base64_decode(std::string_view in)
{
    size_t count = 0;
    for (char c : in)
        count += base64_value(static_cast<unsigned char>(c)) >= 0;
    if (count == 0 || count % 4 != 0)
        return std::nullopt;
    std::string out;
    int block[4];
    size_t n = 0;
    int pad = 0;
    for (char c : in) {
        int v = base64_value(static_cast<unsigned char>(c));
        if (v < 0)
            continue;
        pad += c == '=';
        block[n++] = v;
        if (n < 4)
            continue;
        out += static_cast<char>((block[0] << 2) | (block[1] >> 4));
        out += static_cast<char>((block[1] << 4) | (block[2] >> 2));
        out += static_cast<char>((block[2] << 6) | block[3]);
        n = 0;
        if (pad > 2)
            return std::nullopt;
        if (pad > 0) {
            out.resize(out.size() - static_cast<size_t>(pad));
            break;
        }
    }
    if (out.empty())
        return std::nullopt;
    return out;
}

namespace {

std::string base64_encode(std::string_view in)
{
    std::string out;
    size_t i = 0;
    auto byte = [&](size_t j) { return static_cast<unsigned char>(in[j]); };
    for (; in.size() - i >= 3; i += 3) {
        out += kBase64[byte(i) >> 2];
        out += kBase64[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)];
        out += kBase64[((byte(i + 1) & 0x0f) << 2) | (byte(i + 2) >> 6)];
        out += kBase64[byte(i + 2) & 0x3f];
    }
    if (i < in.size()) {
        out += kBase64[byte(i) >> 2];
        if (in.size() - i == 1) {
            out += kBase64[(byte(i) & 0x03) << 4];
            out += '=';
        } else {
            out += kBase64[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)];
            out += kBase64[(byte(i + 1) & 0x0f) << 2];
        }
        out += '=';
    }
    return out;
}

// ---- time -------------------------------------------------------------------

// What memcached's 't' shows: the whole seconds left, -1 for no deadline; a
// deadline already past (only just after a negative T) wraps as memcached's
// unsigned 32-bit arithmetic does.
std::string ttl_text(int64_t deadline, int64_t now_ms)
{
    if (deadline == kNoDeadline)
        return "-1";
    int64_t left = deadline - now_ms;
    int64_t seconds = left > 0 ? (left + 999) / 1000 : -((-left + 999) / 1000);
    return std::to_string(static_cast<uint32_t>(seconds));
}

// ---- flags ------------------------------------------------------------------

enum class Cmd { Get, Set, Delete, Arithmetic };

struct MetaFlags {
    std::string key;  // decoded when 'b'
    bool key_binary = false;
    bool value = false;  // v
    bool no_reply = false;  // q
    bool no_update = false;  // u
    bool has_cas = false;  // C
    bool new_ttl = false;  // T
    bool vivify = false;  // N
    bool set_stale = false;  // I
    char mode = 0;  // M
    int32_t exptime = 0;  // T
    int32_t autoviv_exptime = 0;  // N
    uint32_t client_flags = 0;  // F
    uint64_t cas = 0;  // C
    uint64_t delta = 1;  // D
    uint64_t initial = 0;  // J
};

// memcached's _meta_flag_preparse over tokens[first..]: "" when the flags are
// good, else the error line (without "\r\n"). An unknown or repeated flag
// ends the walk at once; a bad token is noted and the walk goes on (so a later
// bad token's message wins, and F's own has none: "bad command line format").
std::string read_flags(const Request& req, size_t first, Cmd cmd, MetaFlags& of)
{
    bool seen[127] = {};
    bool failed = false;
    std::string error(kBadFormat);
    of.key = std::string(req.tokens[1]);
    for (size_t i = first; i < req.tokens.size(); ++i) {
        std::string_view t = req.tokens[i];
        auto o = static_cast<unsigned char>(t[0]);
        if (o >= 127 || seen[o])
            return "CLIENT_ERROR duplicate flag";
        seen[o] = true;
        std::string_view arg = t.substr(1);
        auto exptime = [&](int32_t& out) {
            std::optional<int32_t> v = parse_i32(arg);
            if (!v) {
                error = "CLIENT_ERROR bad token in command line format";
                failed = true;
            } else {
                out = *v;
            }
            return v.has_value();
        };
        switch (o) {
        case 'b':
            if (std::optional<std::string> k = base64_decode(req.tokens[1])) {
                of.key = std::move(*k);
            } else {
                error = "CLIENT_ERROR error decoding key";
                failed = true;
            }
            of.key_binary = true;
            break;
        case 'N':
            of.vivify = true;
            exptime(of.autoviv_exptime);
            break;
        case 'T':
            of.new_ttl = exptime(of.exptime);
            break;
        case 'R': {
            int32_t unused;
            exptime(unused);
            break;
        }
        case 'h':
        case 'l':
            // Hit-before and last-access: kvstore does not record them, so mg
            // answers as memcached does for a flag it does not implement; the
            // other commands ignore them, as memcached does.
            if (cmd == Cmd::Get)
                return "CLIENT_ERROR invalid flag";
            break;
        case 'O':
        case 'P':
        case 'L':
        case 'k':
        case 's':
        case 't':
        case 'c':
        case 'f':
            break;
        case 'v':
            of.value = true;
            break;
        case 'u':
            of.no_update = true;
            break;
        case 'q':
            of.no_reply = true;
            break;
        case 'F':
            if (std::optional<uint64_t> v = parse_u64(arg))
                of.client_flags = static_cast<uint32_t>(*v);  // safe_strtoul keeps 32 bits
            else
                failed = true;
            break;
        case 'C':
            if (std::optional<uint64_t> v = parse_u64(arg)) {
                of.cas = *v;
                of.has_cas = true;
            } else {
                error = "CLIENT_ERROR bad token in command line format";
                failed = true;
            }
            break;
        case 'M':
            if (t.size() != 2) {
                error = "CLIENT_ERROR incorrect length for M token";
                failed = true;
            } else {
                of.mode = t[1];
            }
            break;
        case 'J':
            if (std::optional<uint64_t> v = parse_u64(arg)) {
                of.initial = *v;
            } else {
                error = "CLIENT_ERROR invalid numeric initial value";
                failed = true;
            }
            break;
        case 'D':
            if (std::optional<uint64_t> v = parse_u64(arg)) {
                of.delta = *v;
            } else {
                error = "CLIENT_ERROR invalid numeric delta value";
                failed = true;
            }
            break;
        case 'I':
            of.set_stale = true;
            break;
        default:
            return "CLIENT_ERROR invalid flag";
        }
    }
    return failed ? error : "";
}

// The checks every meta command with a key makes before its flags: memcached's
// "ERROR" for a missing key, the key's length, the number of tokens.
// `too_many` is the command's own message for the last.
bool line_ok(const Request& req, std::string_view too_many, std::string& out)
{
    if (req.tokens.size() < 2) {
        out += "ERROR\r\n";
        return false;
    }
    if (req.tokens[1].size() > kMaxKey) {
        out.append(kBadFormat).append("\r\n");
        return false;
    }
    if (req.tokens.size() + 1 > kMaxMetaTokens) {
        out.append(too_many).append("\r\n");
        return false;
    }
    return true;
}

void error_line(std::string& out, std::string_view error)
{
    out.append(error).append("\r\n");
}

// An O token longer than memcached takes, if any: its error.
bool opaque_ok(const Request& req, size_t first)
{
    for (size_t i = first; i < req.tokens.size(); ++i)
        if (req.tokens[i][0] == 'O' && req.tokens[i].size() > kMaxOpaqueToken)
            return false;
    return true;
}

constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long";

// Whether a key is shown in base64. memcached shows a key in base64 when it
// was stored with 'b' (a mark on its item); kvstore keeps no such mark, so it
// shows the key as the request named it (base64 after a 'b'), and in base64
// too when the key holds a byte a reply line cannot carry (a key written
// through another door, docs/memcache.md).
bool shown_in_base64(std::string_view key, bool requested)
{
    return requested || key.find_first_of(std::string_view(" \r\n\0", 4)) != std::string_view::npos;
}

void append_key(std::string& out, const MetaFlags& of)
{
    out += " k";
    if (shown_in_base64(of.key, of.key_binary))
        out.append(base64_encode(of.key)).append(" b");
    else
        out += of.key;
}

// The O and k flags of a reply without an item (misses, EX, NF), in order.
void append_opaque_and_key(std::string& out, const Request& req, size_t first, const MetaFlags& of)
{
    for (size_t i = first; i < req.tokens.size(); ++i) {
        std::string_view t = req.tokens[i];
        if (t[0] == 'O')
            out.append(" ").append(t);
        else if (t[0] == 'k')
            append_key(out, of);
    }
}

// A write is refused while storage fails: the reply memcache_commands.h names.
bool write_refused(Context& ctx, std::string& out)
{
    std::string why = ctx.db.write_refusal();
    if (why.empty())
        return false;
    ++ctx.stats.storage_refusals;
    out.append(ctx.db.replicated() ? "SERVER_ERROR unavailable "
                                   : "SERVER_ERROR kvstore cannot write to its database: ")
        .append(why)
        .append("\r\n");
    return true;
}

// The cas of an item this command wrote, at the end of `text`, which starts
// at `text_at` in the reply: with etcd only the commit tells it (its
// revision), so its place is kept for AwaitedCommand (Session::cas_at).
void append_written_cas(Context& ctx, Session& session, std::string& text, size_t text_at, uint64_t version)
{
    if (ctx.db.replicated())
        session.cas_at.push_back(text_at + text.size());
    else
        text += std::to_string(version);
}

// The cas of `key` right after a write of it: its version, or, when the
// write left it already expired (a past TTL), the version that write gave
// it, as memcached shows the cas of the item it just wrote.
uint64_t version_after_write(Context& ctx, std::string_view key)
{
    std::optional<Store::Entry> e = ctx.db.store().peek(key);
    return e ? e->version : ctx.db.store().last_version();
}

// md's and ma's first checks, in memcached's order: the token count, then
// the flags (one error text for any bad or repeated flag).
bool md_ma_flags(const Request& req, Cmd cmd, MetaFlags& of, std::string& out)
{
    if (!line_ok(req, "CLIENT_ERROR options flags too long", out))
        return false;
    if (!read_flags(req, 2, cmd, of).empty()) {
        error_line(out, "CLIENT_ERROR invalid or duplicate flag");
        return false;
    }
    return true;
}

// The checks before md or ma changes anything: the opaque token's length,
// then a database that refuses writes.
bool may_write(const Request& req, Context& ctx, std::string& out)
{
    if (!opaque_ok(req, 2)) {
        error_line(out, kOpaqueTooLong);
        return false;
    }
    return !write_refused(ctx, out);
}

}  // namespace

// ---- mg ---------------------------------------------------------------------

uint64_t meta_get(const Request& req, Session& session, Context& ctx, std::string& out)
{
    if (!line_ok(req, "CLIENT_ERROR options flags are too long", out))
        return 0;
    MetaFlags of;
    if (std::string error = read_flags(req, 2, Cmd::Get, of); !error.empty()) {
        error_line(out, error);
        return 0;
    }
    if (!opaque_ok(req, 2)) {
        error_line(out, kOpaqueTooLong);
        return 0;
    }
    Store& store = ctx.db.store();
    std::optional<Store::Entry> e = of.no_update ? store.peek(of.key) : store.get(of.key);
    uint64_t ticket = 0;
    bool created = false;
    bool wrote = false;  // a TTL or a stub: its c is the write's (append_written_cas)
    // The TTL before this command: 't' shows it until a T (or, for a stub
    // just made, an N) on the line changes it, as memcached applies them in
    // order.
    int64_t deadline = e ? e->deadline : kNoDeadline;
    std::string kept;  // the value shown, when a write below may hide the entry
    // A TTL change (T on a hit) or a vivified stub (N on a miss) is written
    // before the reply is built, so that its c is the entry's cas after it.
    if ((e && of.new_ttl) || (!e && of.vivify)) {
        if (write_refused(ctx, out))
            return 0;
        uint32_t flags = 0;
        if (e) {
            kept = std::string(e->value);
            flags = e->flags;
            bool found = false;
            ticket = ctx.db.set_deadline(of.key, deadline_of(of.exptime, ctx.clock), found, Store::Version::Keep);
        } else {
            // The stub's TTL: N's, or a T's that comes after it on the line.
            int64_t stub_deadline = kNoDeadline;
            for (size_t i = 2; i < req.tokens.size(); ++i) {
                if (req.tokens[i][0] == 'N')
                    stub_deadline = deadline_of(of.autoviv_exptime, ctx.clock);
                else if (req.tokens[i][0] == 'T')
                    stub_deadline = deadline_of(of.exptime, ctx.clock);
            }
            Store::PutResult result;
            ticket = ctx.db.put(of.key, "", stub_deadline, 0, result);
            created = result != Store::PutResult::Full;
            if (!created)
                ++ctx.stats.memcache.store_no_memory;  // memcached: no item made, a miss
        }
        wrote = e || created;
        if (e || created) {
            // A deadline already past hides the entry at once; memcached
            // still answers the hit it had.
            // A touch keeps the cas (Version::Keep); a new stub's is its write's.
            std::optional<Store::Entry> after = store.peek(of.key);
            uint64_t version = after ? after->version : e ? e->version : store.last_version();
            e = Store::Entry{kept, version, kNoDeadline, flags};
        }
    }
    ++ctx.stats.reads;
    if (!e) {
        ++ctx.stats.misses;
        ++ctx.stats.memcache.cmd_get;
        ++ctx.stats.memcache.get_misses;
        if (of.no_reply)
            return ticket;
        out += "EN";
        append_opaque_and_key(out, req, 2, of);
        out += "\r\n";
        return ticket;
    }
    ++ctx.stats.hits;
    if (of.new_ttl && !created) {
        ++ctx.stats.memcache.cmd_touch;
        ++ctx.stats.memcache.touch_hits;
    } else {
        ++ctx.stats.memcache.cmd_get;
        ++ctx.stats.memcache.get_hits;
    }
    int64_t now = ctx.clock.now_ms();
    bool won = false;
    std::string line = of.value ? "VA " + std::to_string(e->value.size()) : "HD";
    for (size_t i = 2; i < req.tokens.size(); ++i) {
        std::string_view t = req.tokens[i];
        switch (t[0]) {
        case 'T':
            deadline = deadline_of(of.exptime, ctx.clock);
            break;
        case 'N':
            if (created) {
                deadline = deadline_of(of.autoviv_exptime, ctx.clock);
                won = true;
            }
            break;
        case 's':
            line.append(" s").append(std::to_string(e->value.size()));
            break;
        case 't':
            line.append(" t").append(ttl_text(deadline, now));
            break;
        case 'c':
            line.append(" c");
            if (wrote)
                append_written_cas(ctx, session, line, out.size(), e->version);
            else
                line.append(std::to_string(e->version));
            break;
        case 'f':
            line.append(" f").append(std::to_string(e->flags));
            break;
        case 'O':
            line.append(" ").append(t);
            break;
        case 'k':
            append_key(line, of);
            break;
        default:
            break;
        }
    }
    if (won)
        line += " W";
    line += "\r\n";
    out += line;
    if (of.value)
        out.append(e->value).append("\r\n");
    return ticket;
}

// ---- ms ---------------------------------------------------------------------

uint64_t meta_set(const Request& req, Session& session, Context& ctx, std::string& out)
{
    if (req.tokens.size() < 2) {
        out += "ERROR\r\n";
        return 0;
    }
    if (req.tokens[1].size() > kMaxKey || req.tokens.size() == 2) {
        error_line(out, kBadFormat);
        return 0;
    }
    if (req.tokens.size() + 1 > kMaxMetaTokens) {
        error_line(out, "CLIENT_ERROR options flags too long");
        return 0;
    }
    std::optional<int32_t> vlen = parse_i32(req.tokens[2]);
    if (!vlen || *vlen < 0 || *vlen > INT_MAX - 2 || !req.has_data) {
        error_line(out, kBadFormat);
        return 0;
    }
    MetaFlags of;
    if (std::string error = read_flags(req, 3, Cmd::Set, of); !error.empty()) {
        error_line(out, error);
        return 0;
    }
    // memcached checks the mode before the opaque tokens' length.
    enum class Mode { Set, Add, Append, Prepend, Replace, Cas } mode = Mode::Set;
    switch (of.mode) {
    case 0:
    case 'S':
        break;
    case 'E':
        mode = Mode::Add;
        break;
    case 'A':
        mode = Mode::Append;
        break;
    case 'P':
        mode = Mode::Prepend;
        break;
    case 'R':
        mode = Mode::Replace;
        break;
    default:
        error_line(out, "CLIENT_ERROR invalid mode for ms M token");
        return 0;
    }
    if (!opaque_ok(req, 3)) {
        error_line(out, kOpaqueTooLong);
        return 0;
    }
    // A cas on set or replace makes it memcached's cas; add ignores it;
    // append and prepend compare it themselves.
    if (of.has_cas && (mode == Mode::Set || mode == Mode::Replace))
        mode = Mode::Cas;

    if (req.too_large || req.data.size() > ctx.limits.max_value) {
        // memcached drops the key's old value too, whatever the mode.
        ++ctx.stats.memcache.store_too_large;
        error_line(out, "SERVER_ERROR object too large for cache");
        if (!ctx.db.write_refusal().empty() || !ctx.db.store().contains(of.key))
            return 0;
        bool erased = false;
        return ctx.db.erase(of.key, erased);
    }
    if (write_refused(ctx, out))
        return 0;

    ++ctx.stats.memcache.cmd_set;
    std::optional<Store::Entry> e = ctx.db.store().get(of.key);
    std::string_view code;
    std::string joined;
    std::string_view value = req.data;
    int64_t deadline = deadline_of(of.exptime, ctx.clock);
    int64_t flags = of.client_flags;
    bool store_it = false;
    switch (mode) {
    case Mode::Set:
        ++ctx.stats.saves;
        store_it = true;
        break;
    case Mode::Add:
        ++ctx.stats.adds;
        store_it = !e;
        break;
    case Mode::Replace:
        ++ctx.stats.replaces;
        store_it = e.has_value();
        break;
    case Mode::Append:
    case Mode::Prepend:
        ++ctx.stats.appends;
        if (!e)
            break;
        // memcached's do_store_item checks an append's cas only when it is
        // not 0 (C0 appends).
        if (of.has_cas && of.cas != 0 && of.cas != e->version) {
            code = "EX";
            break;
        }
        if (e->value.size() + req.data.size() > ctx.limits.max_value)
            break;  // memcached cannot make the longer item: NS
        joined = mode == Mode::Append ? std::string(e->value) + std::string(req.data)
                                      : std::string(req.data) + std::string(e->value);
        value = joined;
        deadline = e->deadline;  // in place: the entry keeps its TTL and flags
        flags = kKeepFlags;
        store_it = true;
        break;
    case Mode::Cas:
        ++ctx.stats.cas;
        if (!e) {
            ++ctx.stats.memcache.cas_misses;
            code = "NF";
        } else if (e->version != of.cas) {
            ++ctx.stats.memcache.cas_badval;
            ++ctx.stats.cas_changed;
            code = "EX";
        } else {
            ++ctx.stats.memcache.cas_hits;
            store_it = true;
        }
        break;
    }
    uint64_t ticket = 0;
    uint64_t cas = 0;
    if (store_it) {
        Store::PutResult result;
        ticket = ctx.db.put(of.key, value, deadline, flags, result);
        // A value already expired (a negative T) needs no room: memcached
        // stores it and it is gone at once; a full store changes nothing.
        bool expired = deadline != kNoDeadline && deadline <= ctx.clock.now_ms();
        if (result == Store::PutResult::Full && !expired) {
            ++ctx.stats.full_rejections;
            ++ctx.stats.memcache.store_no_memory;
            error_line(out, "SERVER_ERROR out of memory storing object");
            return ticket;
        }
        code = "HD";
        cas = version_after_write(ctx, of.key);
    } else if (code.empty()) {
        code = "NS";
    }
    if (code == "HD" && of.no_reply)
        return ticket;
    out += code;
    for (size_t i = 3; i < req.tokens.size(); ++i) {
        std::string_view t = req.tokens[i];
        if (t[0] == 'O')
            out.append(" ").append(t);
        else if (t[0] == 'k')
            append_key(out, of);
        else if (t[0] == 'c' && code == "HD")
            append_written_cas(ctx, session, out.append(" c"), 0, cas);
        else if (t[0] == 'c')
            out.append(" c").append(std::to_string(cas));
    }
    out += "\r\n";
    return ticket;
}

// ---- md ---------------------------------------------------------------------

uint64_t meta_delete(const Request& req, Session&, Context& ctx, std::string& out)
{
    MetaFlags of;
    if (!md_ma_flags(req, Cmd::Delete, of, out) || !may_write(req, ctx, out))
        return 0;
    ++ctx.stats.deletes;
    std::optional<Store::Entry> e = ctx.db.store().peek(of.key);
    std::string_view code;
    uint64_t ticket = 0;
    if (!e) {
        ++ctx.stats.memcache.delete_misses;
        code = "NF";
    } else if (of.has_cas && e->version != of.cas) {
        ++ctx.stats.memcache.delete_misses;
        code = "EX";
    } else if (of.set_stale) {
        // Invalidate: memcached keeps the item, marks it stale and gives it a
        // new cas (and T's TTL). kvstore has no stale mark: the new cas and
        // TTL are all it can do.
        int64_t deadline = of.new_ttl ? deadline_of(of.exptime, ctx.clock) : e->deadline;
        Store::PutResult result;
        ticket = ctx.db.put(of.key, std::string(e->value), deadline, kKeepFlags, result);
        code = "HD";
    } else {
        ++ctx.stats.memcache.delete_hits;
        bool erased = false;
        ticket = ctx.db.erase(of.key, erased);
        code = "HD";
    }
    if (code == "HD" && of.no_reply)
        return ticket;
    out += code;
    append_opaque_and_key(out, req, 2, of);
    out += "\r\n";
    return ticket;
}

// ---- ma ---------------------------------------------------------------------

uint64_t meta_arithmetic(const Request& req, Session& session, Context& ctx, std::string& out)
{
    MetaFlags of;
    if (!md_ma_flags(req, Cmd::Arithmetic, of, out))
        return 0;
    bool incr = true;
    switch (of.mode) {
    case 0:
    case 'I':
    case '+':
        break;
    case 'D':
    case '-':
        incr = false;
        break;
    default:
        error_line(out, "CLIENT_ERROR invalid mode for ma M token");
        return 0;
    }
    if (!may_write(req, ctx, out))
        return 0;
    ++(incr ? ctx.stats.incrs : ctx.stats.decrs);

    std::optional<Store::Entry> e = ctx.db.store().get(of.key);
    std::string number;  // the reply's value: the new number, unpadded
    std::string_view code;
    bool created = false;
    uint64_t ticket = 0;
    // The TTL the item ends with: T (and, for a new item, N) in line order.
    auto final_deadline = [&](int64_t start) {
        int64_t d = start;
        for (size_t i = 2; i < req.tokens.size(); ++i) {
            if (req.tokens[i][0] == 'T')
                d = deadline_of(of.exptime, ctx.clock);
            else if (req.tokens[i][0] == 'N' && created)
                d = deadline_of(of.autoviv_exptime, ctx.clock);
        }
        return d;
    };
    int64_t start_deadline = kNoDeadline;
    if (e) {
        // memcached refuses an empty value before it compares the cas, and
        // reads the number as safe_strtoull does (leading white space, a
        // padding of spaces after it from an earlier decr).
        if (e->value.empty()) {
            error_line(out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
            return 0;
        }
        if (of.has_cas && of.cas != 0 && of.cas != e->version) {
            code = "EX";
        } else if (std::optional<uint64_t> value = parse_u64(e->value); !value) {
            error_line(out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
            return 0;
        } else {
            uint64_t v = incr ? *value + of.delta : (of.delta > *value ? 0 : *value - of.delta);
            number = std::to_string(v);
            std::string stored = number;
            // A shorter number keeps the value's length, padded with spaces
            // (memcached changes it in place).
            if (stored.size() < e->value.size())
                stored.resize(e->value.size(), ' ');
            start_deadline = e->deadline;
            Store::PutResult result;
            ticket = ctx.db.put(of.key, stored, final_deadline(start_deadline), kKeepFlags, result);
            ++(incr ? ctx.stats.memcache.incr_hits : ctx.stats.memcache.decr_hits);
        }
    } else if (of.vivify) {
        number = std::to_string(of.initial);
        created = true;
        Store::PutResult result;
        ticket = ctx.db.put(of.key, number, final_deadline(kNoDeadline), 0, result);
        if (result == Store::PutResult::Full) {
            ++ctx.stats.full_rejections;
            ++ctx.stats.memcache.store_no_memory;
            error_line(out, "SERVER_ERROR Out of memory allocating new item");
            return ticket;
        }
    } else {
        ++(incr ? ctx.stats.memcache.incr_misses : ctx.stats.memcache.decr_misses);
        code = "NF";
    }

    if (!code.empty()) {  // no item: NF or EX, with O and k only
        out += code;
        append_opaque_and_key(out, req, 2, of);
        out += "\r\n";
        return ticket;
    }
    // Success: q hides it, but not the reply of an item just created
    // (memcached's noreply covers its OK path only).
    if (of.no_reply && !created)
        return ticket;
    uint64_t version = version_after_write(ctx, of.key);
    int64_t now = ctx.clock.now_ms();
    int64_t deadline = created ? kNoDeadline : start_deadline;
    std::string line = of.value ? "VA " + std::to_string(number.size()) : "HD";
    for (size_t i = 2; i < req.tokens.size(); ++i) {
        std::string_view t = req.tokens[i];
        switch (t[0]) {
        case 'c':
            append_written_cas(ctx, session, line.append(" c"), out.size(), version);
            break;
        case 't':
            line.append(" t").append(ttl_text(deadline, now));
            break;
        case 'T':
            deadline = deadline_of(of.exptime, ctx.clock);
            break;
        case 'N':
            if (created)
                deadline = deadline_of(of.autoviv_exptime, ctx.clock);
            break;
        case 'O':
            line.append(" ").append(t);
            break;
        case 'k':
            append_key(line, of);
            break;
        default:
            break;
        }
    }
    out += line;
    out += "\r\n";
    if (of.value)
        out.append(number).append("\r\n");
    return ticket;
}

// ---- mn, me -----------------------------------------------------------------

uint64_t meta_noop(const Request&, Session&, Context&, std::string& out)
{
    out += "MN\r\n";
    return 0;
}

// me: memcached's human-readable dump of an item's metadata. kvstore shows
// what it keeps: exp (memcached's own arithmetic: minus the seconds left, -1
// for none), cas, and size (the value's bytes); it has no last-access time,
// fetched bit or slab class to show (docs/memcache.md).
uint64_t meta_debug(const Request& req, Session&, Context& ctx, std::string& out)
{
    if (req.tokens.size() < 2 || req.tokens[1].size() > kMaxKey) {
        error_line(out, kBadFormat);
        return 0;
    }
    std::string key(req.tokens[1]);
    bool binary = req.tokens.size() >= 3 && req.tokens[2] == "b";
    if (binary) {
        std::optional<std::string> k = base64_decode(key);
        if (!k) {
            error_line(out, kBadFormat);
            return 0;
        }
        key = std::move(*k);
    }
    ++ctx.stats.memcache.meta_cmds;
    std::optional<Store::Entry> e = ctx.db.store().peek(key);
    if (!e) {
        out += "EN\r\n";
        return 0;
    }
    int64_t exp = -1;
    if (e->deadline != kNoDeadline) {
        int64_t left = e->deadline - ctx.clock.now_ms();
        exp = -((left + 999) / 1000);
    }
    out.append("ME ").append(shown_in_base64(key, binary) ? base64_encode(key) : key);
    out.append(" exp=").append(std::to_string(exp));
    out.append(" cas=").append(std::to_string(e->version));
    out.append(" size=").append(std::to_string(e->value.size()));
    out += "\r\n";
    return 0;
}

}  // namespace kv::memcache
