// log.h: kvstored's log. Lines go to stderr, which systemd sends to the journal;
// under journald (JOURNAL_STREAM set) each line carries a "<N>" syslog priority
// prefix so that `journalctl -p warning` works, elsewhere a plain word. When
// stderr is a regular file (`2>>/var/log/kvstored.log`, docs/operations.md,
// Without systemd) each line starts with the UTC time, as nothing else would
// stamp it; the journal, a terminal, or a pipe to logger(1) or svlogd need none.
#pragma once

#include <string>

namespace kv::log {

enum class Level { Error = 3, Warning = 4, Info = 6, Debug = 7 };

void set_min_level(Level level);
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// "<what>: <strerror(errno)>", the OpenBSD way of naming the failed operation.
std::string errno_text(const std::string& what);

}  // namespace kv::log

#define LOG_ERR(...) ::kv::log::write(::kv::log::Level::Error, __VA_ARGS__)
#define LOG_WARN(...) ::kv::log::write(::kv::log::Level::Warning, __VA_ARGS__)
#define LOG_INFO(...) ::kv::log::write(::kv::log::Level::Info, __VA_ARGS__)
#define LOG_DEBUG(...) ::kv::log::write(::kv::log::Level::Debug, __VA_ARGS__)
