// text_client.h: a client's TCP socket handed to kvstored by its kvsvc
// (wire::Msg::Handoff). kvstored reads the client's lines, parses them with the
// same parse_line as kvsvc, executes data commands with the same execute() that
// answers Requests, and writes the reply text straight to the socket, so kvsvc
// is off the per-request path.
//
// kvstored serves everything except `close` and `exit`/`quit`; for those, for
// the end of the client's input, for the idle timeout, for shutdown and when
// the socket breaks, it hands the socket back (wire::Msg::HandBack) with the
// output not yet written and the input not yet processed, and kvsvc carries on.
//
// Never blocks: the socket is read and written with MSG_DONTWAIT (its file
// flags are shared with kvsvc and are left alone); reading stops while more
// than 1 MiB of replies wait for the client (kvsvc's bound).
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

#include "command.h"
#include "commands.h"
#include "event_loop.h"
#include "fd.h"
#include "held_replies.h"
#include "wire.h"

namespace kv {

class Client;
class Server;

class TextClient : public EventLoop::Watcher {
public:
    // An idle timeout of zero means none.
    TextClient(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout);
    ~TextClient() override;

    // Starts serving: writes `output` (the reply to a connect that came with
    // the socket), then answers `input` (what kvsvc read and did not
    // process), then watches the socket.
    void start(std::string_view output, std::string_view input);
    void on_ready(uint32_t events) override;
    void on_out_of_memory() override;
    // Sends the replies that were waiting for their writes to become durable.
    void release_durable();
    // kvstored is shutting down (or the client is kicked): answer held writes,
    // then hand back so that kvsvc can say BYE.
    void shut_down();
    // The owner is going away: stop at once, close our copy of the socket.
    void drop();
    // Gives up on the client now, whatever it still has to read: logs `why`
    // and hands back with HandBackReason::OutputCut (kvsvc resets the
    // connection). Used by the write-stall, kick and shutdown deadlines.
    void cut(const std::string& why);

private:
    void step();
    void read_input();
    bool process();
    void handle_line(std::string_view line);
    void queue(std::string text, uint64_t ticket);
    void send_page();
    void resume();
    void out_of_memory(const char* doing);
    size_t unsent() const { return out_.size() - out_pos_; }
    void write_out();
    void request_hand_back(wire::HandBackReason reason, std::string input);
    void try_hand_back();
    void update_interest();
    bool backlogged() const;
    void arm_deadline_timer();
    void on_deadline_timer();
    void stop_watching();

    Server& server_;
    Client& owner_;
    UniqueFd fd_;
    std::chrono::seconds idle_timeout_;
    LineSplitter lines_;
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
    // Work per loop turn (event_loop.h); when it is spent with lines left,
    // it calls resume() on a later turn.
    TurnBudget budget_;
    // The listing (keys) being sent page by page; later lines wait.
    std::optional<Listing> listing_;
};

}  // namespace kv
