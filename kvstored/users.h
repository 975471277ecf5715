// users.h: the users file (issue 18): who may use kvstore once a users file
// is configured, with which password, which rights and over which keys.
//
// The file (docs/operations.md, "Users"), one user a line, fields separated
// by ':' as in /etc/shadow (crypt(3) strings never contain one):
//
//     # comment lines start with '#'; blank lines are fine
//     NAME:HASH:RIGHTS:PATTERNS
//     alice:$y$j9T$...$...:read,write:app1.* app1:*
//     backup:$y$j9T$...$...:read:
//     ops:$y$j9T$...$...:read,write,admin-data:*
//
//   NAME      1 to 64 bytes of A-Z a-z 0-9 _ . @ -, not starting with . @ -
//             (it travels as one word in `auth <user> <password>`).
//   HASH      a crypt(3) string of a method libcrypt supports and does not
//             call legacy: yescrypt ($y$, the default, as Debian's
//             /etc/shadow; `kvstored passwd` or `mkpasswd -m yescrypt` make
//             one), also $gy$, $7$, $2b$, $6$ (not $5$ nor $1$: Debian's
//             libcrypt calls them legacy). Checked at load for its
//             shape (crypt_checksalt(3), the bytes of crypt's alphabet, a
//             hash part after the last '$' of the method's length, so that
//             a hash cut short is caught), never by hashing.
//   RIGHTS    comma-separated: read, write, admin-data (flush, keys over
//             everything); empty means the default, read,write.
//   PATTERNS  the rest of the line (so a pattern may hold ':'): key globs
//             separated by spaces or tabs; empty means every key ('*').
//             Redis's glob syntax (kvstored/doors/redis/glob.h: * ? [a-z] \x),
//             the one Redis ACLs give `~pattern`.
// Whitespace around a field is ignored. A file is taken whole or not at all:
// load() reports every bad line ("FILE:LINE: duplicate user 'alice' (first on
// line 3)") and returns nothing usable.
//
// Threads: a Table is immutable once built, so any thread may read it. The
// daemon holds the current one in a shared_ptr (Server::users()); a reload
// builds a new one and swaps the pointer, so a password check that copied the
// shared_ptr keeps its table alive until it is done. Sessions should hold a
// user's NAME and look it up in the current table for every operation: that is
// how a user removed or stripped of a right by a reload is refused at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "doors/redis/glob.h"

namespace kv::users {

// One right, a bit of Rights.
enum class Right : uint8_t {
    Read = 1,  // get, ttl, exists, keys within the user's patterns, ...
    Write = 2,  // set, del, incr, expire, ...
    AdminData = 4,  // operations over every key whatever the patterns: flush, keys/scan of everything
};
using Rights = uint8_t;  // an OR of Right values

inline constexpr Rights kDefaultRights = static_cast<Rights>(Right::Read) | static_cast<Rights>(Right::Write);

// "read,write" for kDefaultRights; "" for none. In the file's order: read,
// write, admin-data.
std::string format_rights(Rights rights);
// Parses a RIGHTS field ("read,write"; "" gives kDefaultRights). Returns ""
// and sets `out`, or why it is refused ("unknown right 'wrte': did you mean
// write? (rights: read, write, admin-data)").
std::string parse_rights(std::string_view text, Rights& out);
// Why `name` cannot be a user name, or "".
std::string name_problem(std::string_view name);
// Why `hash` is not a crypt(3) string this file accepts, or "".
std::string hash_problem(std::string_view hash);
// Why `pattern` cannot be a key pattern (empty, whitespace or a control
// byte in it), or "".
std::string pattern_problem(std::string_view pattern);

struct User {
    std::string name;
    std::string hash;  // crypt(3) string; never logged, never printed by `kvstored users`
    Rights rights = kDefaultRights;
    std::vector<std::string> patterns;  // as written; {"*"} when the field is empty
    std::vector<redis::GlobPattern> globs;  // compiled from `patterns`, same order
    int line = 0;  // where it is in the file (0: not from a file)

    bool has(Right r) const { return (rights & static_cast<Rights>(r)) != 0; }
    // Some pattern matches every key (a '*' alone).
    bool all_keys() const;
    // The line of the file for this user: NAME:HASH:RIGHTS:PATTERNS.
    std::string to_line() const;
};

// The user may do `right` on `key`: it has the right and one of its patterns
// matches the key. The matcher is the Redis door's GlobPattern, not
// fnmatch(3): fnmatch takes C strings (a Redis or memcached key may hold a
// NUL), depends on the locale for [a-z] and [[:class:]], and backtracks
// without bound on '*'; GlobPattern is binary-safe, byte-exact, bounded in
// cost, and means what a Redis ACL's ~pattern means, which Redis users
// expect of the same pattern here. Cheap (no hashing,
// patterns compiled at load: glob.h bounds the cost), so the event loop
// thread calls it for every operation. An operation over every key (flush,
// unfiltered keys) needs has(Right::AdminData) instead; the caller decides
// which applies.
bool allows(const User& user, Right right, std::string_view key);

// The file did not load: every problem, each "FILE:LINE: what" (or
// "FILE: open: Permission denied"). what() is the first one and how many
// more there are, for a one-line log.
class Error : public std::runtime_error {
public:
    explicit Error(std::vector<std::string> problems);
    const std::vector<std::string>& problems() const { return problems_; }

private:
    std::vector<std::string> problems_;
};

// The longest hash a users file may hold (crypt(3) output is at most 384
// bytes: CRYPT_OUTPUT_SIZE).
constexpr size_t kMaxHash = 512;

// The longest password kvstored checks (and `kvstored passwd` sets): a
// longer one fails without a check.
constexpr size_t kMaxPassword = 1024;

// How a password check ended; the log may say which, the client should not
// (telling an unknown user from a wrong password helps whoever guesses).
// Unchecked: no check could run (auth_worker.h); neither a success nor a
// failure.
enum class Verdict { Ok, UnknownUser, WrongPassword, Unchecked };

// Every user of one file, immutable once built.
class Table {
public:
    Table() = default;  // no users: nobody can authenticate

    // Parses the text of a users file; `path` only names it in problems.
    // Throws Error listing every bad line.
    static Table parse(std::string_view text, const std::string& path);
    // Reads and parses `path`. Throws Error (open or read failures name the
    // path and the errno text).
    static Table load(const std::string& path);

    // nullptr when there is no such user. The pointer lives as long as this
    // Table.
    const User* find(std::string_view name) const;
    // In the file's order.
    const std::vector<User>& users() const { return users_; }
    size_t size() const { return users_.size(); }
    const std::string& path() const { return path_; }

    // Checks `password` against the user's hash with crypt_r(3) and compares
    // the result in constant time. SLOW ON PURPOSE: yescrypt costs tens of
    // milliseconds of CPU and a few MiB of memory per call (measured on the
    // 2-core test machine: 130 ms, over 300 ms under load), which is what makes
    // guessing expensive; so it must NEVER run on kvstored's event loop
    // thread (kvstored runs it in a helper process: password_checker.h,
    // with hash_for()); from another thread, hold a copy of the shared_ptr
    // to this Table. An unknown user costs one hash as well (of a
    // fixed dummy hash), so the time taken does not tell whether the user
    // exists. A password holding a NUL byte never matches. Thread-safe.
    Verdict verify(std::string_view name, std::string_view password) const;
    // The hash verify() checks a password for `name` against: the user's,
    // or the dummy one for an unknown user.
    const std::string& hash_for(std::string_view name) const;

private:
    std::string path_;
    std::vector<User> users_;
    std::map<std::string, size_t, std::less<>> by_name_;
};

// Checks `password` against one crypt(3) `hash`, as Table::verify does (slow
// on purpose: never on the event loop thread). False for any failure of
// crypt_r. Thread-safe.
bool verify_password(const std::string& hash, std::string_view password);

// A new yescrypt hash of `password` (crypt_gensalt_rn("$y$", 0, ...): a
// fresh random salt and libcrypt's default cost, as Debian's passwd), for
// `kvstored passwd`. Slow on purpose, as verify. Throws std::runtime_error
// naming the libcrypt call and the errno text.
std::string hash_password(std::string_view password);

// The text of a users file with `user`'s line replaced by user.to_line()
// (the line of the user of that name), or appended when there is none.
// Comments, blank lines and other users are kept as they were. `text` must
// parse (Table::parse); throws Error otherwise.
std::string with_user(std::string_view text, const std::string& path, const User& user);
// The text with the line of user `name` removed; `removed` tells whether
// there was one. Throws Error when `text` does not parse.
std::string without_user(std::string_view text, const std::string& path, std::string_view name, bool& removed);

}  // namespace kv::users
