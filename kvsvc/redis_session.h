// redis_session.h: one Redis client (kvsvc --protocol redis). kvstored alone
// speaks RESP (docs/redis.md), so kvsvc greets nobody: it connects to kvstored
// at once and hands it the client's socket with the Hello (kHelloHandoff |
// kHelloRedis, wire.h), then sleeps until kvstored hands the session back,
// writes what the HandBack returns and exits. When stdin and stdout are not
// one socket (pipes, a terminal) or with --no-handoff, it hands off one end of
// a socketpair instead and copies bytes between the client and the other end.
//
// kvsvc never writes RESP of its own except one error, when kvstored cannot
// be reached, refuses, or does not take the socket within kAttachTimeout:
// "-ERR kvstore unavailable: <why>\r\n", then it closes.
#pragma once

#include <chrono>
#include <string>

#include "daemon_link.h"
#include "fd.h"
#include "session.h"

namespace kv {

class RedisSession {
public:
    // config.idle_timeout travels in the Handoff, and kvstored enforces it;
    // 0 means none (Redis's own default).
    explicit RedisSession(SessionConfig config);
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
