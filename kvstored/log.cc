// log.cc: see log.h.
#include "log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace kv::log {
namespace {

Level g_min_level = Level::Info;

const char* level_word(Level level)
{
    switch (level) {
    case Level::Error:
        return "error";
    case Level::Warning:
        return "warning";
    case Level::Info:
        return "info";
    case Level::Debug:
        return "debug";
    }
    return "?";
}

// "2026-12-06T19:28:05Z " when stderr is a regular file (see log.h), else "".
std::string timestamp()
{
    static const bool to_file = [] {
        struct stat st;
        return ::fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
    }();
    if (!to_file)
        return {};
    std::time_t now = std::time(nullptr);
    std::tm utc;
    char text[32];
    if (!::gmtime_r(&now, &utc) || std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ ", &utc) == 0)
        return {};
    return text;
}

}  // namespace

void set_min_level(Level level)
{
    g_min_level = level;
}

void write(Level level, const char* fmt, ...)
{
    if (static_cast<int>(level) > static_cast<int>(g_min_level))
        return;
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    // stderr is unbuffered: one fprintf is one write, so lines stay whole.
    if (journal)
        std::fprintf(stderr, "<%d>%s\n", static_cast<int>(level), msg);
    else
        std::fprintf(stderr, "%skvstored: %s: %s\n", timestamp().c_str(), level_word(level), msg);
}

std::string errno_text(const std::string& what)
{
    return what + ": " + std::strerror(errno);
}

}  // namespace kv::log
