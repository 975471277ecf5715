// session.h: one client session. kvsvc's stdin and stdout are the client's
// TCP socket (xinetd dup2s it onto fds 0, 1 and 2); kvstored is reached over
// a Unix socket after the client says `connect`.
//
// The loop watches the client and kvstored at once, so a shutdown notice from
// kvstored reaches an idle client immediately. Replies leave in command order
// (see ReplyQueue), are written as soon as they are known, and many pipelined
// commands travel to kvstored in one write.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "command.h"
#include "daemon_link.h"
#include "reply_queue.h"

namespace kv {

struct SessionConfig {
    std::string socket_path;
    std::chrono::seconds idle_timeout{300};
    std::string client_address;  // for kvstored's logs; "" when unknown
    // At `connect`, hand the client's socket to kvstored (when stdin and
    // stdout are the same socket) instead of relaying every command.
    bool handoff = true;
};

class Session {
public:
    explicit Session(SessionConfig config);
    // Serves the client until it leaves, idles out, or kvstored shuts down.
    // Returns the exit status.
    int run();

private:
    // Connecting: Hello sent, Welcome not yet seen. Lost: kvstored vanished
    // without notice.
    enum class Link { Detached, Connecting, Attached, Lost };
    // Commands that change the session wait until earlier commands are answered.
    enum class Barrier { Connect, Close, Exit, EndOfInput };

    void read_client();
    void process_input();
    bool can_process() const;
    void handle_line(std::string_view line);
    void execute(const Command& cmd);
    void run_barrier(Barrier b);
    void forward(const Command& cmd);
    // `auth`: attach for this auth command (no handoff), else for connect.
    void do_connect(const Command* auth);
    bool can_hand_off_with_hello() const;
    wire::Handoff handoff_message(std::string_view input) const;
    void on_welcome();
    void connect_failed(const std::string& problem, bool timed_out = false);
    bool take_back_socket();
    void upstream_broken();
    std::string unlinked_reply() const;
    bool linked() const { return link_ == Link::Connecting || link_ == Link::Attached; }
    void read_upstream();
    void handle_frame(const wire::Frame& frame);
    void lose_upstream(std::string_view why);
    void run_held_barrier();
    void finish(std::string_view last_words);
    bool ready_for_handoff() const;
    static bool client_has_input();
    void try_handoff();
    void handle_hand_back(const wire::HandBack& hb);
    bool write_client();
    bool write_stalled() const;
    void reset_client(const std::string& why);
    void linger();
    int poll_timeout_ms() const;

    SessionConfig config_;
    std::string out_;  // bytes for the client not yet written
    ReplyQueue replies_{out_};
    LineSplitter lines_;
    DaemonLink upstream_;
    Link link_ = Link::Detached;
    Link link_before_connect_ = Link::Detached;  // restored when a connect fails
    std::chrono::steady_clock::time_point connect_deadline_;
    // Some chunks of a multi-chunk reply are in out_, its last one is not: a
    // reply cut here cannot be completed, only reset (lose_upstream).
    bool mid_reply_ = false;
    std::optional<Barrier> held_;  // waiting for outstanding replies
    bool input_eof_ = false;  // the client closed its sending side
    bool finished_ = false;  // no more commands; exit once out_ is written
    bool stdout_is_socket_ = false;
    // Socket handoff (wire.h). can_handoff_: stdin and stdout are one socket.
    // handoff_pending_: the Handoff waits for room in kvstored's socket.
    // handed_off_: kvstored serves the client; we neither read nor write it.
    bool can_handoff_ = false;
    bool handoff_pending_ = false;
    bool handed_off_ = false;
    // Handed off with the Hello (wire.h): claim_ is the token we may still
    // take back; welcome_due_ until kvstored's Welcome arrives.
    UniqueFd claim_;
    bool welcome_due_ = false;
    // The reply of a connect that failed after we took the socket back: the
    // data commands we had read behind it get it too, as when relaying.
    std::string failed_connect_reply_;
    bool client_gone_ = false;  // kvstored found the client's socket broken
    // The client's connection was reset (reset_client()): we are done.
    bool reset_ = false;
    // Last time the client took output, or when output last became pending
    // (the kWriteStallTimeout clock); output_pending_ as of the last write.
    std::chrono::steady_clock::time_point last_write_;
    bool output_pending_ = false;
    std::chrono::steady_clock::time_point last_activity_;
    std::chrono::steady_clock::time_point finish_deadline_;
};

}  // namespace kv
