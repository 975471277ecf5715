// users.cc: see users.h.
#include "users.h"

#include <crypt.h>
#include <sodium.h>
#include <string.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config_file.h"
#include "spelling.h"

namespace kv::users {
namespace {

// A yescrypt hash at libcrypt's default cost (of 32 random bytes, thrown away),
// hashed against for an unknown user so that the answer takes as long as for
// a known one.
const std::string kDummyHash = "$y$j9T$aUAxOmUkS/KXJmfykyRST.$O51o/v9mCU7lNCUk40ohPZJjyBXfyYL8bIAjId6uG12";

constexpr std::string_view kBlanks = " \t\r";

// The characters after the last '$' of a whole hash, by method (libxcrypt's
// crypt(5)); hash_problem() refuses other lengths.
struct MethodShape {
    const char* prefix;
    size_t hash_chars;
};
constexpr MethodShape kShapes[]
    = {{"$y$", 43}, {"$gy$", 43}, {"$7$", 43}, {"$5$", 43}, {"$6$", 86}, {"$2b$", 53}, {"$2y$", 53}, {"$2a$", 53}};

struct RightName {
    Right right;
    const char* name;
};
constexpr RightName kRights[] = {{Right::Read, "read"}, {Right::Write, "write"}, {Right::AdminData, "admin-data"}};

std::string_view trim(std::string_view s)
{
    size_t b = s.find_first_not_of(kBlanks);
    if (b == std::string_view::npos)
        return {};
    return s.substr(b, s.find_last_not_of(kBlanks) - b + 1);
}

// The text's lines, without their '\n'.
std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines)
{
    std::string out;
    for (const std::string& l : lines)
        out += l + "\n";
    return out;
}

bool is_comment_or_blank(std::string_view line)
{
    std::string_view t = trim(line);
    return t.empty() || t.front() == '#';
}

// Splits a PATTERNS field on blanks; {"*"} when there are none.
std::vector<std::string> split_patterns(std::string_view field)
{
    std::vector<std::string> out;
    size_t i = 0;
    while (i < field.size()) {
        size_t b = field.find_first_not_of(kBlanks, i);
        if (b == std::string_view::npos)
            break;
        size_t e = field.find_first_of(kBlanks, b);
        out.emplace_back(field.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
        i = e == std::string_view::npos ? field.size() : e;
    }
    if (out.empty())
        out.emplace_back("*");
    return out;
}

// One user line into `user`; "" or the problem (without FILE:LINE).
std::string parse_line(std::string_view line, User& user)
{
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos)
        return "expected NAME:HASH[:RIGHTS[:PATTERNS]], got no ':'";
    size_t c2 = line.find(':', c1 + 1);
    size_t c3 = c2 == std::string_view::npos ? c2 : line.find(':', c2 + 1);
    std::string_view name = trim(line.substr(0, c1));
    std::string_view hash = trim(line.substr(c1 + 1, c2 == std::string_view::npos ? c2 : c2 - c1 - 1));
    std::string_view rights, patterns;
    if (c2 != std::string_view::npos)
        rights = trim(line.substr(c2 + 1, c3 == std::string_view::npos ? c3 : c3 - c2 - 1));
    if (c3 != std::string_view::npos)
        patterns = line.substr(c3 + 1);
    if (std::string why = name_problem(name); !why.empty())
        return "bad name '" + std::string(name) + "': " + why;
    if (std::string why = hash_problem(hash); !why.empty())
        return "bad hash for user '" + std::string(name) + "': " + why;
    user.name = std::string(name);
    user.hash = std::string(hash);
    if (std::string why = parse_rights(rights, user.rights); !why.empty())
        return "user '" + user.name + "': " + why;
    user.patterns = split_patterns(patterns);
    for (const std::string& p : user.patterns) {
        if (std::string why = pattern_problem(p); !why.empty())
            return "user '" + user.name + "': bad key pattern: " + why;
        user.globs.emplace_back(p);
    }
    return "";
}

std::string error_text(const std::vector<std::string>& problems)
{
    if (problems.empty())
        return "bad users file";
    std::string s = problems.front();
    if (problems.size() > 1)
        s += " (and " + std::to_string(problems.size() - 1) + " more problem" + (problems.size() > 2 ? "s" : "") + ")";
    return s;
}

// Equal strings, in time that depends on their lengths only (a crypt(3)
// string's length is no secret: it follows from its method).
bool same_hash(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && ::sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string format_rights(Rights rights)
{
    std::string out;
    for (const RightName& r : kRights)
        if (rights & static_cast<Rights>(r.right))
            out += (out.empty() ? "" : ",") + std::string(r.name);
    return out;
}

std::string parse_rights(std::string_view text, Rights& out)
{
    text = trim(text);
    if (text.empty()) {
        out = kDefaultRights;
        return "";
    }
    Rights rights = 0;
    std::vector<std::string> names;
    for (const RightName& r : kRights)
        names.emplace_back(r.name);
    for (std::string_view rest = text; !rest.empty();) {
        size_t comma = rest.find(',');
        std::string word(trim(rest.substr(0, comma)));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        bool known = false;
        for (const RightName& r : kRights)
            if (word == r.name) {
                rights |= static_cast<Rights>(r.right);
                known = true;
            }
        if (known)
            continue;
        std::string guess = spelling::nearest(word, names);
        return "unknown right '" + word + "'" + (guess.empty() ? "" : ": did you mean " + guess + "?")
            + " (rights: read, write, admin-data)";
    }
    out = rights;
    return "";
}

std::string name_problem(std::string_view name)
{
    if (name.empty())
        return "empty";
    if (name.size() > 64)
        return "longer than 64 bytes";
    for (char ch : name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'
            || ch == '.' || ch == '@' || ch == '-';
        if (!ok)
            return "only A-Z a-z 0-9 _ . @ - may be in a name";
    }
    if (name.front() == '.' || name.front() == '@' || name.front() == '-')
        return "a name starts with a letter, a digit or '_'";
    return "";
}

std::string hash_problem(std::string_view hash)
{
    const char* make = " (make one with 'kvstored passwd' or 'mkpasswd -m yescrypt')";
    if (hash.empty())
        return std::string("empty") + make;
    if (hash.front() != '$')
        return std::string("not a crypt(3) string: it starts with '$' (a locked '!' or '*' is not accepted: delete "
                           "the line instead)")
            + make;
    if (hash.size() > kMaxHash)
        return "longer than " + std::to_string(kMaxHash) + " characters (crypt(3) makes at most 384)" + make;
    for (char ch : hash) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.'
            || ch == '/' || ch == '$' || ch == '=' || ch == ',';
        if (!ok)
            return std::string("a byte outside crypt(3)'s alphabet") + make;
    }
    // crypt_checksalt reads only the setting (method, cost, salt): a hash cut
    // after its salt would pass it and then never match any password.
    size_t last = hash.rfind('$');
    size_t chars = hash.size() - last - 1;
    if (std::count(hash.begin(), hash.end(), '$') < 3 || chars == 0)
        return std::string("no hash after the salt") + make;
    for (const MethodShape& m : kShapes)
        if (hash.starts_with(m.prefix) && chars != m.hash_chars)
            return std::string("no hash after the salt, or a cut one (a ") + m.prefix + " hash ends with "
                + std::to_string(m.hash_chars) + " characters after its last '$')" + make;
    std::string h(hash);
    switch (::crypt_checksalt(h.c_str())) {
    case CRYPT_SALT_OK:
    case CRYPT_SALT_TOO_CHEAP:
        return "";
    case CRYPT_SALT_METHOD_LEGACY:
        return std::string("a legacy method, too weak to accept") + make;
    case CRYPT_SALT_METHOD_DISABLED:
        return std::string("a method this libcrypt has disabled") + make;
    default:
        return std::string("a method libcrypt does not know") + make;
    }
}

std::string pattern_problem(std::string_view pattern)
{
    if (pattern.empty())
        return "empty";
    for (unsigned char ch : pattern)
        if (ch <= ' ' || ch == 0x7f)
            return "'" + std::string(pattern) + "' holds a space or a control byte";
    return "";
}

bool User::all_keys() const
{
    for (const redis::GlobPattern& g : globs)
        if (g.matches_everything())
            return true;
    return false;
}

std::string User::to_line() const
{
    std::string pats;
    for (const std::string& p : patterns)
        pats += (pats.empty() ? "" : " ") + p;
    return name + ":" + hash + ":" + format_rights(rights) + ":" + pats;
}

bool allows(const User& user, Right right, std::string_view key)
{
    if (!user.has(right))
        return false;
    for (const redis::GlobPattern& g : user.globs)
        if (g.matches(key))
            return true;
    return false;
}

Error::Error(std::vector<std::string> problems)
    : std::runtime_error(error_text(problems)), problems_(std::move(problems))
{
}

Table Table::parse(std::string_view text, const std::string& path)
{
    Table t;
    t.path_ = path;
    std::vector<std::string> problems;
    int line_no = 0;
    for (std::string_view line : split_lines(text)) {
        ++line_no;
        if (is_comment_or_blank(line))
            continue;
        User u;
        u.line = line_no;
        std::string where = path + ":" + std::to_string(line_no) + ": ";
        if (std::string why = parse_line(line, u); !why.empty()) {
            problems.push_back(where + why);
            continue;
        }
        if (const User* first = t.find(u.name)) {
            problems.push_back(where + "duplicate user '" + u.name + "' (first on line " + std::to_string(first->line)
                               + ")");
            continue;
        }
        t.by_name_.emplace(u.name, t.users_.size());
        t.users_.push_back(std::move(u));
    }
    if (!problems.empty())
        throw Error(std::move(problems));
    return t;
}

Table Table::load(const std::string& path)
{
    std::string text, error;
    bool missing = false;
    if (!config_file::read(path, text, error, missing))
        throw Error({path + ": " + error});
    return parse(text, path);
}

const User* Table::find(std::string_view name) const
{
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &users_[it->second];
}

const std::string& Table::hash_for(std::string_view name) const
{
    const User* u = find(name);
    return u ? u->hash : kDummyHash;
}

Verdict Table::verify(std::string_view name, std::string_view password) const
{
    bool match = verify_password(hash_for(name), password);  // an unknown user's costs the same
    return !find(name) ? Verdict::UnknownUser : match ? Verdict::Ok : Verdict::WrongPassword;
}

bool verify_password(const std::string& hash, std::string_view password)
{
    // crypt_r takes a C string: a NUL inside would cut the password short.
    bool has_nul = password.find('\0') != std::string_view::npos;
    std::string pw(password);
    // About 32 KiB: on the heap, not the caller's stack.
    auto data = std::make_unique<crypt_data>();
    const char* out = ::crypt_r(pw.c_str(), hash.c_str(), data.get());
    // A failure gives NULL or a string starting with '*' (never a valid hash).
    bool ok = out != nullptr && out[0] != '*' && same_hash(out, hash) && !has_nul;
    ::explicit_bzero(pw.data(), pw.size());
    ::explicit_bzero(data.get(), sizeof *data);
    return ok;
}

std::string hash_password(std::string_view password)
{
    if (password.find('\0') != std::string_view::npos)
        throw std::runtime_error("hash password: it holds a NUL byte");
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    // No random bytes given: libcrypt takes them from the kernel (getrandom).
    if (!::crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt))
        throw std::runtime_error(std::string("crypt_gensalt_rn $y$: ") + std::strerror(errno));
    std::string pw(password);
    auto data = std::make_unique<crypt_data>();
    errno = 0;
    const char* out = ::crypt_r(pw.c_str(), salt, data.get());
    std::string hash = out && out[0] != '*' ? out : "";
    int err = errno;
    ::explicit_bzero(pw.data(), pw.size());
    ::explicit_bzero(data.get(), sizeof *data);
    if (hash.empty())
        throw std::runtime_error(std::string("crypt_r: ") + std::strerror(err ? err : EINVAL));
    return hash;
}

std::string with_user(std::string_view text, const std::string& path, const User& user)
{
    Table t = Table::parse(text, path);
    std::vector<std::string> lines;
    for (std::string_view l : split_lines(text))
        lines.emplace_back(l);
    if (const User* old = t.find(user.name))
        lines[static_cast<size_t>(old->line - 1)] = user.to_line();
    else
        lines.push_back(user.to_line());
    return join_lines(lines);
}

std::string without_user(std::string_view text, const std::string& path, std::string_view name, bool& removed)
{
    Table t = Table::parse(text, path);
    const User* old = t.find(name);
    removed = old != nullptr;
    std::vector<std::string> lines;
    int line_no = 0;
    for (std::string_view l : split_lines(text))
        if (++line_no != (old ? old->line : 0))
            lines.emplace_back(l);
    return join_lines(lines);
}

}  // namespace kv::users
