// users_cli.h: `kvstored users` and `kvstored passwd`, which manage the users
// file (users.h) on disk. They work on the file, not through the daemon;
// passwd then tells a running kvstored that reads that file to re-read it
// (SIGHUP to the pid `kvstored status` gives). Each returns the process exit
// status (admin_cli.h's kExit* values).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "admin_cli.h"

namespace kv::users_cli {

// The users file when neither --users nor `users =` names one.
inline constexpr const char* kDefaultUsersFile = "/etc/kvstore/users";

// Prints one row per user: name, rights, key patterns (never the hash).
// Exit 1 when the file cannot be read or does not parse (every problem on
// stderr).
int list(const std::string& path);

struct PasswdOptions {
    std::string path;  // the users file
    std::string user;
    std::optional<std::string> rights;  // --rights LIST; unset: kept (a new user: read,write)
    std::vector<std::string> keys;  // --keys PATTERN...; empty: kept (a new user: '*')
    bool remove = false;  // --delete
};

// Adds USER or changes its password (and, when given, its rights and key
// patterns), or deletes it. The password comes from the terminal, twice and
// without echo, or, when stdin is not a terminal, as one line of stdin
// (without its '\n'); never from the command line. The file is replaced
// atomically (a temporary file in its directory, fsync, rename; the mode
// and owner of the old file are kept, a new file gets 0640 and the caller's
// ids), under an flock(2) on the old file so that two passwd runs cannot
// lose each other's change. Then a running kvstored at `daemon` whose
// users file is `path` gets SIGHUP; none running is not an error.
// Exit: 0 done; 1 error (file, no such user to delete, passwords differ,
// signal refused); 2 bad usage (bad name, rights or pattern).
int passwd(const PasswdOptions& o, const admin::Target& daemon);

}  // namespace kv::users_cli
