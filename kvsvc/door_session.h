// door_session.h: one client of a door whose protocol kvstored alone parses:
// Redis (kvsvc --protocol redis, docs/redis.md) or memcached's text protocol
// (kvsvc --protocol memcache, docs/memcache.md). Both clients speak first, so
// kvsvc greets nobody: it connects to kvstored at once and hands it the
// client's socket with the Hello (kHelloHandoff plus the door's flag, wire.h),
// then sleeps until kvstored hands the session back, writes what the HandBack
// returns and exits. When stdin and stdout are not one socket (pipes, a
// terminal) or with --no-handoff, it hands off one end of a socketpair
// instead and copies bytes between the client and the other end.
//
// kvsvc never writes the door's protocol except one error line, when
// kvstored cannot be reached, refuses, or does not take the socket within
// kAttachTimeout (unavailable_reply()), then it closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "daemon_link.h"
#include "fd.h"
#include "session.h"

namespace kv {

// The doors kvstored parses, by the Hello flag that names them.
enum class Door : uint8_t { Redis, Memcache };

// The one line kvsvc writes in the door's own language when kvstored cannot
// serve the client (`problem` says why; its CR and LF become spaces):
//   Redis:     "-ERR kvstore unavailable: <problem>\r\n"
//   memcached: "SERVER_ERROR kvstore unavailable: <problem>\r\n"
std::string unavailable_reply(Door door, std::string problem);

class DoorSession {
public:
    // config.idle_timeout travels in the Handoff, and kvstored enforces it;
    // 0 means none (the default of redis-server and memcached alike).
    DoorSession(Door door, SessionConfig config);
    // Serves the client until kvstored hands it back. Returns the exit status.
    int run();

private:
    using Clock = std::chrono::steady_clock;

    std::string hand_off(bool relaying);
    void unavailable(std::string problem);
    void reset(const std::string& why);
    void attach_failed(const std::string& problem, bool timed_out);
    void read_upstream();
    void handle_frame(const wire::Frame& frame);
    void on_hand_back(const wire::HandBack& hb);
    void finish(std::string_view output);
    void relay_in();
    void relay_from_daemon();
    bool write_client();
    int poll_timeout_ms() const;

    Door door_;
    SessionConfig config_;
    DaemonLink upstream_;
    bool stdout_is_socket_ = false;
    // The claim token sent with the Hello (wire.h), until kvstored's Welcome
    // (welcome_due_) says it took the socket, or the attach timeout says
    // kvstored took it without a word yet (then it is spent).
    UniqueFd claim_;
    bool welcome_due_ = true;
    Clock::time_point attach_deadline_;

    // Relaying (relay_ open): our end of the socketpair kvstored serves.
    // to_daemon_: bytes read from stdin not yet written to relay_; to_client_:
    // bytes read from relay_ not yet written to stdout. Each holds at most
    // kRelayBuffer: the side whose output is backed up is not read.
    UniqueFd relay_;
    std::string to_daemon_;
    std::string to_client_;
    bool stdin_eof_ = false;  // the client closed its sending side
    bool relay_shut_ = false;  // ... and kvstored was told (shutdown SHUT_WR)
    bool relay_eof_ = false;  // kvstored closed its end
    // A HandBack came while relaying: its output goes to the client after
    // what kvstored wrote to relay_, once relay_ reaches its end.
    bool hand_back_pending_ = false;
    std::string hand_back_output_;

    // The session is over: write to_client_ by finish_deadline_, then exit.
    bool finishing_ = false;
    bool done_ = false;
    int status_ = 0;
    Clock::time_point finish_deadline_;
};

}  // namespace kv
