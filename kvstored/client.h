// client.h: one attached kvsvc, seen from kvstored.
//
// A Client owns its socket and its buffers. Role code above it sees whole
// frames only; end-of-file, a write error and a malformed frame each end in
// close(), which unregisters the client from the Server (freed after the
// current event batch).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "awaited_command.h"
#include "commands.h"
#include "event_loop.h"
#include "fd.h"
#include "held_replies.h"
#include "wire.h"

namespace kv {

class Server;
class Door;

class Client : public EventLoop::Watcher {
public:
    // Service: a kvsvc, data operations only. Admin: the kvstored admin
    // subcommands, every operation.
    enum class Role { Service, Admin };

    Client(Server& server, UniqueFd fd, uint64_t id, const ucred& peer, Role role);
    ~Client() override;

    void on_ready(uint32_t events) override;
    void on_out_of_memory() override;

    // Sends the Shutdown notice after any replies already queued, then waits
    // for kvsvc to hang up (the Server enforces a deadline).
    void notify_shutdown(std::string_view message);
    // Drops the connection at once.
    void close(const char* why);
    // Gives up on the client at a deadline (kick, shutdown): a handed-off
    // socket is returned with HandBackReason::OutputCut so that kvsvc resets
    // it; a relaying kvsvc is disconnected. Logs `why`.
    void cut(const std::string& why);
    // Admin sessions: the reply to the request being executed comes later,
    // through deliver_deferred_reply(); later requests wait for it.
    void defer_reply() { reply_deferred_ = true; }
    void deliver_deferred_reply(const std::string& text);
    // Sends the replies that were waiting for their writes to become durable.
    void release_durable();
    // Holds or awaits such replies, itself or its door (Server::durable_waiters_).
    bool holds_until_durable() const;

    // Called by our Door while it serves the handed-off socket.
    void note_command() { ++commands_; }
    // A command run again (Retry) is not a new command: see run_uncounted (stats.h).
    void set_commands(uint64_t n) { commands_ = n; }
    // The client sent something at `when` (read once per batch of commands:
    // a clock read per command costs a few percent at pipeline depth 16).
    void note_active(std::chrono::steady_clock::time_point when) { last_active_ = when; }
    // Queues the HandBack frame and forgets the Door (freed after the
    // current batch).
    void on_hand_back(const wire::HandBack& hb);

    uint64_t id() const { return id_; }
    Role role() const { return role_; }
    bool attached() const { return state_ == State::Attached; }
    const std::string& address() const { return address_; }
    pid_t pid() const { return peer_.pid; }
    uid_t uid() const { return peer_.uid; }
    // "client" (a kvsvc) or "admin" (the kvstored CLI), as the log names them.
    const char* role_word() const;
    int64_t attached_since_unix() const { return attached_since_unix_; }
    uint64_t commands() const { return commands_; }
    std::chrono::steady_clock::time_point last_active() const { return last_active_; }
    // The door serving the client's socket, or null while kvsvc relays.
    const Door* door() const { return door_.get(); }
    // The protocol kvsvc said the client speaks (its Hello's flags).
    enum class Protocol { Line, Redis, Memcache };
    // "line", "redis" or "memcache" (kvstored clients, CLIENT LIST).
    const char* protocol() const;
    Protocol protocol_kind() const { return protocol_; }

    // Authentication (issue 18; docs/protocol.md, "Authentication"). The
    // session holds its user's NAME only and looks it up in the table in
    // force for every operation, so a reload that removes the user or a
    // right refuses its next operation (the session stays).
    //
    // The reply to a data request `req` when this session may not run it
    // ("ERR auth-required ..." / "ERR no-permission ..."), "" when it may or
    // when no users file is configured.
    std::string refusal(const wire::Request& req) const;
    // For the Redis and memcached doors, which word their own refusals:
    // `required` false when no users file is configured; else the user in
    // force, or null while not authenticated (or the user was removed).
    const users::User* session_user(bool& required) const;
    // The reply to `connect`: "OK connected", or "ERR auth-required ..." while
    // a users file is configured and the session has not authenticated.
    std::string connect_reply() const;
    // Starts checking a password in the server's password checker process
    // (auth_worker.h; never on the loop). Returns the reply to give at once
    // ("ERR auth-failed busy", auth off, ...) or "" when the check is under
    // way: the reply comes
    // later, through deliver_deferred_reply() when relayed (`from_door`
    // false: later requests wait for it) or Door::answer() for our door,
    // whose later lines wait while auth_pending().
    std::string start_auth(std::string_view user, std::string_view password, bool from_door);
    bool auth_pending() const { return auth_.pending; }
    // The worker's verdict for our check (Server, on the loop thread).
    void on_auth_result(users::Verdict verdict);
    // The authenticated user's name, "" for none.
    const std::string& user() const { return user_; }

private:
    enum class State { AwaitingHello, Attached, Draining, Closed };

    void read_input();
    void discard_input();
    bool process_frames();
    void send_shutdown_notice();
    bool handle_frame(const wire::Frame& frame);
    bool on_hello(std::string_view payload);
    bool on_request(std::string_view payload);
    void send_page();
    void resume();
    void out_of_memory(const char* doing);
    size_t unsent() const { return out_.size() - out_pos_; }
    bool on_handoff(std::string_view payload);
    void send_welcome();
    const char* hung_up_reason() const;
    long receive();
    void refuse_out_of_descriptors();
    void flush();
    void write_out();
    void update_interest();
    bool backlogged() const;
    void queue_reply(std::string text, uint64_t ticket);
    void answer_auth(const std::string& text);
    std::string auth_source() const;
    // `why` goes to the log line fail2ban reads, `reply` (a literal) to the
    // client after the failure's delay.
    void auth_failed(const char* why, const char* reply);
    bool settle_awaited();

    Server& server_;
    UniqueFd fd_;
    uint64_t id_;
    ucred peer_;
    Role role_;
    int64_t attached_since_unix_ = 0;
    uint64_t commands_ = 0;
    std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
    std::string address_;  // the TCP client's address, as kvsvc reported it
    State state_ = State::AwaitingHello;
    bool peer_eof_ = false;  // kvsvc closed its end: answer what we have, then close
    // Close once everything queued is written: why, for the log (refused, or
    // a HandBack that ended the session); nullptr while not due.
    const char* close_when_flushed_ = nullptr;
    uint64_t hello_timer_ = 0;
    uint32_t interest_ = 0;
    wire::FrameBuffer in_;
    std::string out_;
    size_t out_pos_ = 0;  // bytes of out_ already written
    // Replies held until their write is durable (--sync always). Once one is
    // held, every later reply queues behind it: replies never change order.
    HeldReplies held_;
    // With a replicated store, the request whose ticket has not settled
    // (awaited_command.h): no later request runs until it has. Its payload is
    // kept for a re-run.
    AwaitedCommand awaited_;
    std::string rerun_payload_;
    // Work per loop turn (event_loop.h); when it is spent with requests left,
    // it calls resume() on a later turn.
    TurnBudget budget_;
    // The listing (keys, dump) being sent page by page; later requests wait.
    std::optional<Listing> listing_;

    // Socket handoff (wire.h). One read takes up to kFdSlots descriptors.
    static constexpr size_t kFdSlots = 4;
    std::vector<UniqueFd> received_fds_;  // SCM_RIGHTS fds not yet claimed by a Handoff
    bool fds_truncated_ = false;
    std::unique_ptr<Door> door_;  // set while we serve the client's socket
    bool starting_door_ = false;  // inside on_handoff: the caller flushes
    Protocol protocol_ = Protocol::Line;
    // After a Hello with kHelloHandoff: its Handoff is the next frame, and the
    // Welcome waits for the first other frame we send (wire.h).
    bool handoff_follows_ = false;
    bool welcome_due_ = false;
    bool reply_deferred_ = false;  // see defer_reply()
    bool shutdown_pending_ = false;  // send Shutdown after the HandBack (or, relayed, the awaited request)
    std::string shutdown_message_;
    // Authentication: the user name once a password was right ("" before).
    std::string user_;
    struct AuthState {
        bool pending = false;  // a check or a failure's delay is under way
        bool from_door = false;  // the reply goes to door_, else a deferred Reply
        std::string user;  // whom the pending check is for
        unsigned failures = 0;  // failed attempts in this session
        uint64_t timer = 0;  // the failure delay's
    } auth_;
};

}  // namespace kv
