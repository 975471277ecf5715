// send_buffer.h: output queued for a non-blocking socket, shared by the two
// kinds of client (a kvsvc's frames, a handed-off socket's reply text).
#pragma once

#include <cstddef>
#include <string>

namespace kv {

// Sends as much of out[pos...] as the socket takes now and advances pos, then
// forgets what was sent: all of it, or a large sent prefix, so that a peer
// that reads steadily but never quite catches up cannot make `out` keep
// everything ever sent to it. Never blocks and never raises SIGPIPE. Returns
// the bytes sent, or -1 with errno set when the socket failed.
long send_buffered(int fd, std::string& out, size_t& pos);

}  // namespace kv
