// client_io.h: what both client sessions of kvsvc (session.h, the line
// protocol; door_session.h, the Redis and memcached doors) do with the
// client's end: whether stdin and stdout are one socket, and the two ways to
// hang up on it.
// xinetd and systemd (Accept=yes) give kvsvc the client's TCP socket as fds 0,
// 1 and 2; a test or a person may give it pipes or a terminal.
#pragma once

#include <chrono>
#include <string>

namespace kv {

// How long kvstored has to take a socket sent with the Hello (wire.h) before
// kvsvc takes it back and tells the client kvstore is unavailable.
inline constexpr std::chrono::seconds kAttachTimeout{5};
// After the last output, how long kvsvc tries to deliver it to a client that
// does not read, and waits for it to hang up, before exiting anyway.
inline constexpr std::chrono::seconds kFinishGrace{2};

struct Stdio {
    bool stdout_is_socket = false;
    // stdin and stdout are the same socket (xinetd, systemd Accept=yes): only
    // then can one fd be handed to kvstored for both directions.
    bool one_socket = false;
};
Stdio inspect_stdio();

// A pipe on stdout gets O_NONBLOCK so that a client that stops reading cannot
// stall kvsvc. The flag belongs to the pipe, which others may share (a shell
// pipeline), so it is restored when kvsvc exits or closes stdout.
void make_stdout_nonblocking();
void restore_stdout_flags();

// A reset (TCP RST: SO_LINGER {1, 0}, then the last copy of the socket
// closed) instead of an orderly end, when the output may have stopped in the
// middle of a reply: the client must not take what it got for whole replies
// followed by a clean end of stream. On a Unix socket or a pipe there is no
// reset: the client sees the end of the stream. Closes fds 0, 1 and 2 (the
// reset goes out when the last copy closes; kvstored has closed its own
// before telling kvsvc) and logs why, naming the client.
void reset_client_connection(bool stdout_is_socket, const std::string& client_address, const std::string& why);
// Called by reset_client_connection() before it closes anything: with TLS
// (tls.h) the client's socket is not on fds 0, 1 and 2, and the thread that
// owns it must reset it too, not end the TLS stream cleanly.
void set_client_reset_hook(void (*hook)());

// Hang up in a way that lets the last output arrive: with unread input in the
// socket, close() would send a TCP reset and the client could lose its last
// reply. So half-close, then read and discard until the client hangs up or
// `deadline` passes. Nothing to do for a pipe or a terminal.
void linger_client(bool stdout_is_socket, std::chrono::steady_clock::time_point deadline);

}  // namespace kv
