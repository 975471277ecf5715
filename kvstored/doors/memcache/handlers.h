// handlers.h: what the memcached command families share (memcache_commands.h
// lists them). Internal to kvstored/doors/memcache/.
//
// execute() (server_commands.cc) picks a handler by the command's name and
// checks its token count as memcached 1.6.18's process_command_ascii does
// (a wrong count is "ERROR"); everything after that (the key's length, the
// numbers, noreply) is the handler's, in memcached's order of checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "memcache_commands.h"
#include "numbers.h"

namespace kv::memcache {

// A command's handler: appends its reply to `out`, returns the ticket of the
// last write it made (0 for none), as execute() does.
using Handler = uint64_t (*)(const Request& req, Session& session, Context& ctx, std::string& out);

// ---- storage.cc: set add replace append prepend cas (the parser has checked
// the line and read the data block: Request::storage) -----------------------
uint64_t storage_command(const Request& req, Session& session, Context& ctx, std::string& out);

// ---- retrieval.cc: get gets gat gats (and memcached's old alias bget) ------
uint64_t retrieval_command(const Request& req, Session& session, Context& ctx, std::string& out);

// ---- keys.cc ---------------------------------------------------------------
uint64_t delete_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t incr_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t decr_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t touch_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t flush_all_command(const Request& req, Session& session, Context& ctx, std::string& out);

// ---- server_commands.cc (besides execute()) --------------------------------
uint64_t version_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t verbosity_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t quit_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t stats_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t cache_memlimit_command(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t shutdown_command(const Request& req, Session& session, Context& ctx, std::string& out);

// The meta commands (meta.cc): mg ms md ma mn me.
uint64_t meta_get(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_set(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_delete(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_arithmetic(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_noop(const Request& req, Session& session, Context& ctx, std::string& out);
uint64_t meta_debug(const Request& req, Session& session, Context& ctx, std::string& out);

// ---- Shared helpers (server_commands.cc) -----------------------------------

// memcached's reply texts that more than one family sends.
inline constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
inline constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
inline constexpr std::string_view kOutOfMemory = "SERVER_ERROR out of memory storing object";
inline constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache";

// Appends `line` and "\r\n" to `out`, unless `noreply`: memcached's
// out_string drops every reply of a noreply command, errors included.
void reply_line(std::string& out, bool noreply, std::string_view line);

// memcached's set_noreply_maybe: the last token is "noreply".
bool noreply_token(const Request& req);

// True, with "SERVER_ERROR kvstore cannot write to its database: <why>"
// replied (unless noreply) and counted, while storage refuses writes.
bool write_refused(Context& ctx, std::string& out, bool noreply);

// A deadline from deadline_of() that is already past: the write deletes the
// key instead (memcached's item is gone at once).
bool expired_at_once(int64_t deadline, const Clock& clock);

// memcached's reply to a command the session's user may not run (a right
// it lacks, a key outside its patterns): docs/memcache.md, "Authentication".
inline constexpr std::string_view kPermissionDenied = "CLIENT_ERROR permission denied";

// ---- access.cc --------------------------------------------------------------

// Why `user` may not run `req` (kPermissionDenied), or "" when it may: the
// rights its command needs (reads need read, writes write, gat/gats, incr,
// decr and ma both, flush_all admin-data) on every key it names (a meta
// command's base64 key decoded). Server commands (version, stats, ...) need
// no right.
std::string_view access_refusal(const Request& req, const users::User& user);

// ---- meta.cc ----------------------------------------------------------------

// A meta command's base64 key ('b') decoded as memcached decodes it; nullopt
// where memcached fails.
std::optional<std::string> base64_decode(std::string_view in);

// A key memcached and the store accept: at most kMaxKey (250) bytes; the
// tokenizer never makes an empty one.
bool key_ok(std::string_view key);

}  // namespace kv::memcache
