// secret.h: wiping a password from memory once it has been handed on.
//
// Passwords must never appear in a log, ps, a core or stats (issue 18). Logs,
// argv and stats never get them; memory is the rest: the bytes of an `auth`
// line or an AUTH command stay in an input buffer, and in the stack buffer a
// read went through, until something else overwrites them, and a core of
// kvstored (gcore, a crash) would show them. So in kvstored:
// - the door or link that hands a password to the check (Client::start_auth)
//   wipes the bytes it parsed it from, in its input buffer (wipe());
// - once that loop turn's events are handled, the loop thread wipes the stack
//   below the loop (wipe_stack_below()), which every read and parse of the
//   turn used: that costs one 256 KiB memset per turn with a password in it,
//   and nothing on the turns without one.
// A buffer that grew while the password was in it may leave a copy in freed
// heap memory; an auth command is short and comes first, so that is rare.
// kvsvc is not dumpable instead (kvsvc/main.cc).
#pragma once

#include <string.h>

#include <string_view>

namespace kv {

// Overwrites bytes the caller owns and will not read again: a view into its
// own input buffer. (A view is const only because the parsers hand out views.)
inline void wipe(std::string_view bytes)
{
    ::explicit_bzero(const_cast<char*>(bytes.data()), bytes.size());
}

// Overwrites the stack below the caller's frame, where the functions it
// called kept their locals: a read's 64 KiB buffer, a copy the C library
// made. Called from the event loop's own level (EventLoop::defer), it reaches
// every frame of the turn's handlers: the deepest, a read into a 64 KiB
// buffer a few frames down, stays well within 256 KiB.
[[gnu::noinline]] inline void wipe_stack_below()
{
    char stack[256 * 1024];
    ::explicit_bzero(stack, sizeof stack);
}

}  // namespace kv
