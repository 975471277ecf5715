// reply_queue.h: keeps replies in the order the client sent its commands.
//
// kvsvc answers some commands itself (help, ping, errors) and forwards others
// to kvstored. A local answer must not overtake a forwarded command that came
// before it, so each command takes a slot; forwarded slots are filled as
// kvstored's replies arrive (kvstored answers in request order).
//
// Invariant: the front slot, if any, is still waiting for kvstored; every ready
// reply before it has already been moved to the output buffer.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace kv {

class ReplyQueue {
public:
    explicit ReplyQueue(std::string& out) : out_(out) { }

    // A reply known now.
    void local(std::string_view text)
    {
        if (slots_.empty()) {
            out_.append(text);
        } else {
            slots_.push_back(Slot{std::string(text), true});
            queued_bytes_ += text.size();
        }
    }

    // A slot for a reply kvstored will send.
    void expect_remote()
    {
        slots_.push_back(Slot{{}, false});
        ++outstanding_;
    }

    // Fills the oldest waiting slot. Returns false when nothing was waiting
    // (kvstored sent a reply nobody asked for).
    bool remote(std::string_view text)
    {
        if (outstanding_ == 0)
            return false;
        out_.append(text);
        slots_.pop_front();
        --outstanding_;
        drain();
        return true;
    }

    // A chunk of the oldest waiting reply, with more to follow: written at
    // once (every reply before it already is, by the invariant above), so that
    // kvsvc never holds a whole multi-chunk reply such as a long listing.
    // Returns false when nothing was waiting.
    bool remote_part(std::string_view text)
    {
        if (outstanding_ == 0)
            return false;
        out_.append(text);
        return true;
    }

    // Answers every waiting slot with `text` (kvstored went away).
    void fail_all(std::string_view text)
    {
        while (outstanding_ > 0)
            remote(text);
    }

    // Forgets every slot not yet written, kvstored's and ours behind them
    // (kvstored is shutting down: commands it did not answer were not carried
    // out and get no reply, as on a handed-off socket).
    void drop_waiting()
    {
        slots_.clear();
        outstanding_ = 0;
        queued_bytes_ = 0;
    }

    size_t outstanding() const { return outstanding_; }
    // Bytes of ready replies waiting behind one from kvstored.
    size_t queued_bytes() const { return queued_bytes_; }

private:
    struct Slot {
        std::string text;
        bool ready;
    };

    void drain()
    {
        while (!slots_.empty() && slots_.front().ready) {
            queued_bytes_ -= slots_.front().text.size();
            out_.append(slots_.front().text);
            slots_.pop_front();
        }
    }

    std::string& out_;
    std::deque<Slot> slots_;
    size_t outstanding_ = 0;
    size_t queued_bytes_ = 0;
};

}  // namespace kv
