// door.h: a client's TCP socket handed to kvstored by its kvsvc
// (wire::Msg::Handoff), served by kvstored in one of the protocols ("doors"):
// the line protocol (line_door.h) or the Redis protocol (redis/redis_door.h).
//
// Door is what every protocol shares: it reads the socket, writes replies,
// holds replies until their writes are durable, spends a bounded amount of
// work per loop turn, enforces the idle and write-stall deadlines, and hands
// the socket back to kvsvc (wire::Msg::HandBack) with the output not yet
// written and the input not yet processed. A subclass only parses its input
// and runs what it parsed (run_step()).
//
// Never blocks: the socket is read and written with MSG_DONTWAIT (its file
// flags are shared with kvsvc and are left alone); no request runs while more
// than kMaxClientOutput (1 MiB) of replies wait for the client.
//
// With a replicated store (Database, "Replicated stores") a subclass runs
// each command through run_command() and hands its reply to finish():
// a command with a ticket is then awaited (awaited_command.h) and no further
// request runs until it settles; on Retry, rerun() runs it again from the
// owned copy the subclass kept.
//
// A client that takes none of its pending output for kWriteStallTimeout
// (command.h) is cut: kvstored hands the socket back with
// HandBackReason::OutputCut and kvsvc resets the connection, because what was
// written may end in the middle of a reply. The same happens at the kick and
// shutdown deadlines (cut()).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awaited_command.h"
#include "event_loop.h"
#include "fd.h"
#include "held_replies.h"
#include "wire.h"

namespace kv {

class Client;
class Server;

class Door : public EventLoop::Watcher {
public:
    // An idle timeout of zero means none. `format`: how a reply that cannot
    // be given reads in the protocol (HeldReplies); `failure`: the error for
    // a replicated command whose ticket Failed (Database::failure_code(),
    // failure_text()).
    Door(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout, HeldReplies::ErrorFormat format,
         HeldReplies::ErrorFormat failure);
    ~Door() override;

    // Starts serving: writes `output` (for the line protocol, the reply to a
    // connect that came with the socket), then answers `input` (what kvsvc
    // read and did not process), then watches the socket.
    void start(std::string_view output, std::string_view input);
    void on_ready(uint32_t events) override;
    void on_out_of_memory() override;
    // Sends the replies that were waiting for their writes to become durable.
    void release_durable();
    bool holds_until_durable() const { return !held_.empty() || awaited_.active(); }
    // kvstored is shutting down (or the client is kicked): answer held writes,
    // then hand back so that kvsvc can end the session.
    void shut_down();
    // The owner is going away: stop at once, close our copy of the socket.
    void drop();
    // Gives up on the client now, whatever it still has to read: logs `why`
    // and hands back with HandBackReason::OutputCut (kvsvc resets the
    // connection). Used by the write-stall, kick and shutdown deadlines.
    void cut(const std::string& why);
    // The reply to a command that waited for the owner (a password check:
    // Client::start_auth): queued after every earlier reply, then the
    // commands behind it run.
    // The line protocol's text; a door of another protocol words it its own
    // way (RedisDoor).
    virtual void answer(std::string_view text);
    // Reply bytes waiting for the client (CLIENT LIST's omem).
    size_t unsent() const { return out_.size() - out_pos_; }

protected:
    // What run_step() did.
    enum class Step {
        Ran,  // ran a request (or a page of one): call again
        Blocked,  // cannot go on until output drains (an output window is full)
        Idle,  // nothing to do until more input, a durable release or the budget's resume
    };
    // Parses and runs the next request of buffered input, spending budget_
    // (check allows_more() first, use() per request). At the end of input
    // (input_ended()) it requests the hand-back that suits the protocol.
    virtual Step run_step() = 0;
    // Buffers bytes read from the client.
    virtual void take_input(const char* data, size_t len) = 0;
    // How many more bytes may be read now (0: the protocol's input bound is
    // reached, wait until run_step() consumes).
    virtual size_t input_room() const = 0;
    // The unprocessed input to return with an idle-timeout hand-back.
    virtual std::string rest_of_input() = 0;
    // Runs the awaited command again (its ticket said Retry), from the copy
    // kept when finish() returned true, and finishes it again.
    virtual void rerun() = 0;
    // The awaited command failed: its error went out instead of its reply;
    // forget whatever of it was still to run (a retrieval's later chunks).
    virtual void drop_command() { }

    // For subclasses.
    Server& server() { return server_; }
    Client& owner() { return owner_; }
    bool input_ended() const { return input_eof_; }
    bool replies_held() const { return !held_.empty(); }
    // Queues a reply, released once the write with `ticket` is durable.
    void queue(std::string_view text, uint64_t ticket);
    // Queues the reply of a command run with run_command(). Returns true when
    // it is awaited instead (a replicated store gave it a ticket): the
    // subclass must then keep an owned copy of what rerun() needs until the
    // next command runs.
    // `versions_at`: AwaitedCommand::await's.
    bool finish(std::string_view text, uint64_t ticket, AwaitedCommand::Reply kind = AwaitedCommand::Reply::Text,
                std::vector<size_t> versions_at = {});
    // Output written straight to the socket buffer (a listing's pages, which
    // wait for held replies first).
    std::string& output() { return out_; }
    void request_hand_back(wire::HandBackReason reason, std::string input);
    void out_of_memory(const char* doing);
    TurnBudget budget_;

private:
    void step();
    void read_input();
    bool process();
    void resume();
    void write_out();
    void try_hand_back();
    void update_interest();
    bool backlogged() const;
    void arm_deadline_timer();
    void on_deadline_timer();
    void stop_watching();
    bool settle_awaited();

    Server& server_;
    Client& owner_;
    UniqueFd fd_;
    std::chrono::seconds idle_timeout_;
    bool done_ = false;  // handed back or dropped: ignore every further event
    bool watched_ = false;
    bool input_eof_ = false;
    uint32_t interest_ = 0;
    // One timer for the idle timeout and the write-stall deadline, re-armed
    // each time it fires until we are done.
    uint64_t deadline_timer_ = 0;
    std::chrono::steady_clock::time_point last_activity_;  // read or written
    // Last time the client took output, or when output last became pending.
    std::chrono::steady_clock::time_point last_write_;
    bool output_pending_ = false;  // as of the last write_out()
    std::optional<wire::HandBackReason> hand_back_;
    std::string back_input_;  // input returned with the HandBack
    std::string out_;
    size_t out_pos_ = 0;
    HeldReplies held_;
    HeldReplies::ErrorFormat format_;
    HeldReplies::ErrorFormat failure_;
    // The command whose ticket a replicated store has not settled; while
    // active() no further request runs.
    AwaitedCommand awaited_;
};

}  // namespace kv
