// handlers.h: the command handlers of the Redis door, for the command table
// (command_table.cc), and the few helpers the handler files share. Every
// handler has one signature: `args` is the whole command (args[0] its name,
// arity already checked by the dispatcher), the reply goes to `reply`, and
// `ticket` receives the ticket of the last write made (left alone when none).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "redis_commands.h"
#include "resp.h"

namespace kv::redis {

#define KV_REDIS_HANDLER(name)                                                                                         \
    void name(std::span<const std::string_view> args, Session& session, Context& ctx, ReplyWriter& reply,              \
              uint64_t& ticket)

// strings.cc
KV_REDIS_HANDLER(get_command);
KV_REDIS_HANDLER(set_command);
KV_REDIS_HANDLER(setnx_command);
KV_REDIS_HANDLER(setex_command);
KV_REDIS_HANDLER(psetex_command);
KV_REDIS_HANDLER(getset_command);
KV_REDIS_HANDLER(getdel_command);
KV_REDIS_HANDLER(getex_command);
KV_REDIS_HANDLER(mget_command);
KV_REDIS_HANDLER(mset_command);
KV_REDIS_HANDLER(msetnx_command);
KV_REDIS_HANDLER(append_command);
KV_REDIS_HANDLER(strlen_command);
KV_REDIS_HANDLER(incr_command);
KV_REDIS_HANDLER(decr_command);
KV_REDIS_HANDLER(incrby_command);
KV_REDIS_HANDLER(decrby_command);
KV_REDIS_HANDLER(incrbyfloat_command);
KV_REDIS_HANDLER(getrange_command);
KV_REDIS_HANDLER(setrange_command);
KV_REDIS_HANDLER(lcs_command);

// keys.cc
KV_REDIS_HANDLER(del_command);  // DEL and UNLINK
KV_REDIS_HANDLER(exists_command);
KV_REDIS_HANDLER(type_command);
KV_REDIS_HANDLER(keys_command);
KV_REDIS_HANDLER(scan_command);
KV_REDIS_HANDLER(rename_command);
KV_REDIS_HANDLER(renamenx_command);
KV_REDIS_HANDLER(randomkey_command);
KV_REDIS_HANDLER(dbsize_command);
KV_REDIS_HANDLER(flushdb_command);  // FLUSHDB and FLUSHALL
KV_REDIS_HANDLER(expire_command);
KV_REDIS_HANDLER(pexpire_command);
KV_REDIS_HANDLER(expireat_command);
KV_REDIS_HANDLER(pexpireat_command);
KV_REDIS_HANDLER(ttl_command);
KV_REDIS_HANDLER(pttl_command);
KV_REDIS_HANDLER(expiretime_command);
KV_REDIS_HANDLER(pexpiretime_command);
KV_REDIS_HANDLER(persist_command);
KV_REDIS_HANDLER(touch_command);
KV_REDIS_HANDLER(copy_command);

#undef KV_REDIS_HANDLER

// Helpers shared by the handler files (defined in keys.cc).

// False, with "ERR kvstore keys are 1 to 250 bytes" replied, unless `key` is
// a key the store can hold (docs/redis.md: a documented difference).
bool key_ok(std::string_view key, ReplyWriter& reply);
// The same for args[first], args[first + step], ... to the end.
bool keys_ok(std::span<const std::string_view> args, size_t first, size_t step, ReplyWriter& reply);
// True, with the MISCONF reply sent and counted, while storage refuses writes.
bool write_refused(Context& ctx, ReplyWriter& reply);
// The OOM reply for a put the store refused (PutResult::Full), counted.
void reply_full(Context& ctx, ReplyWriter& reply);
// ASCII case-insensitive equality, as Redis's strcasecmp on option names.
bool equals_ci(std::string_view a, std::string_view b);
// A strict integer (Redis's string2ll), or nullopt with "ERR value is not an
// integer or out of range" replied.
std::optional<int64_t> integer_arg(std::string_view text, ReplyWriter& reply);

}  // namespace kv::redis
