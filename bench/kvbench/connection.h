// connection.h: one client connection of the run, driven by the engine's
// epoll loop.
//
// A connection owns its socket (non-blocking, TCP_NODELAY), its input and
// output buffers and the queue of requests in flight. Steady mode: connect,
// greeting and handshake if the protocol has them, then keep `pipeline`
// requests in flight until the run ends. Reconnect mode: one session per
// request (connect, greeting, handshake and request in one write, replies,
// close), then the next session. A failure of any kind counts as one
// connection error, loses the requests in flight, and opens the connection
// again 10 ms later.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "address.h"
#include "codec.h"
#include "fd.h"
#include "stats.h"
#include "workload.h"

namespace kvbench {

// What every connection of a run shares; owned by the engine.
struct RunContext {
    const Options& options;
    const Address& address;
    const Codec& codec;
    Workload& workload;
    Stats& stats;
    int epoll_fd;
    // Steady mode: connections opened that have not sent their first request
    // yet (connecting, greeting, handshake). The engine bounds it.
    unsigned setting_up = 0;
    // --rate: the start of the shared schedule (see Connection::first_due).
    Clock::time_point epoch{};
};

class Connection {
public:
    // `index`: the connection's place among --connections, 0-based.
    Connection(RunContext& ctx, unsigned index);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Starts connecting. Failures are counted and retried (see retry_due()).
    void open(Clock::time_point now);
    // The socket is ready (epoll events).
    void on_event(uint32_t events);
    // Closed after a failure and its retry delay has passed.
    bool retry_due(Clock::time_point now) const { return state_ == State::Failed && now >= retry_at_; }
    bool failed() const { return state_ == State::Failed; }
    // Fails the connection when its set-up (steady mode) or its session
    // (reconnect mode) has taken longer than --timeout.
    void check_deadline(Clock::time_point now);
    // --rate: sends the requests that are due by `now` (as far as --pipeline
    // allows) and returns when the next one is due; time_point::max() while
    // the connection is not running.
    Clock::time_point pace(Clock::time_point now);

private:
    enum class State {
        Closed,  // not started, or between two sessions that were not opened (no requests left)
        Failed,  // waiting to be opened again at retry_at_
        Connecting,
        Greeting,  // waiting for the server to speak first
        Handshake,  // 'connect' sent, waiting for OK (steady mode)
        Running,  // requests flowing
    };
    struct InFlight {
        Op op;
        Clock::time_point sent;
    };

    void on_connected(Clock::time_point now);
    void setup_done();
    Clock::time_point first_due(Clock::time_point now) const;
    void start_session(Clock::time_point now);
    void read_input(Clock::time_point now);
    void consume_input(Clock::time_point now);
    bool take_greeting();
    bool take_reply(const InFlight& req, ReplyKind kind, std::string_view text, Clock::time_point now);
    void end_session(Clock::time_point now);
    void fill(Clock::time_point now);
    void send(Op op, uint32_t key, Clock::time_point now);
    void flush();
    void watch(uint32_t events);
    void fail(const std::string& why);
    std::string describe(const std::string& what) const;

    RunContext& ctx_;
    kv::UniqueFd fd_;
    State state_ = State::Closed;
    uint32_t watched_ = 0;  // epoll events registered; 0 when not registered
    std::string in_;
    size_t in_pos_ = 0;  // first unparsed byte of in_
    std::string out_;
    size_t out_pos_ = 0;  // first unsent byte of out_
    std::deque<InFlight> in_flight_;  // oldest first, as the replies come
    std::optional<Request> session_request_;  // reconnect mode: taken at open, sent after the greeting
    Clock::time_point session_start_{};
    Clock::time_point deadline_{};  // for set-up (steady) or the session (reconnect)
    Clock::time_point retry_at_{};
    bool setting_up_ = false;  // counted in ctx_.setting_up
    // --rate: when this connection's next request is due, and the gap between
    // two of them (connections / rate).
    Clock::time_point next_due_{};
    Clock::duration interval_{};
    Clock::duration phase_{};  // this connection's offset in the schedule
};

}  // namespace kvbench
