// held_replies.h: replies that wait for their write to become durable.
//
// With --sync always a reply to a write may leave only once the transaction
// holding it has committed. Replies of one client never change order, so once
// one reply is held every later one queues behind it, writes or not. Both
// kinds of client use this: a kvsvc's (Reply frames) and a handed-off socket's
// (plain text); `emit` appends one reply text to the client's output.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "command.h"
#include "database.h"
#include "persistence.h"

namespace kv {

class HeldReplies {
public:
    explicit HeldReplies(Database& db) : db_(db) { }

    // Emits `text` now when nothing is held and its write (if any) is durable;
    // otherwise holds it.
    template <typename Emit> void add(std::string text, uint64_t ticket, Emit&& emit)
    {
        if (held_.empty() && db_.durability(ticket) == Database::Durability::Durable) {
            emit(std::string_view(text));
            return;
        }
        bytes_ += text.size();
        held_.push_back(Held{ticket, std::move(text)});
    }

    // Emits, in order, the leading replies whose writes have committed; a
    // failed commit turns its reply into ERR storage.
    template <typename Emit> void release(Emit&& emit)
    {
        while (!held_.empty()) {
            Held& h = held_.front();
            auto d = db_.durability(h.ticket);
            if (d == Database::Durability::Pending)
                return;
            bytes_ -= h.text.size();  // before the text changes below
            if (d == Database::Durability::Failed)
                h.text = error_reply("storage", "the write was not saved: " + db_.persistence()->failure());
            emit(std::string_view(h.text));
            held_.pop_front();
        }
    }

    // kvstored is going away before these writes committed: each is answered
    // as not acknowledged.
    template <typename Emit> void abandon(Emit&& emit)
    {
        for (size_t i = 0; i < held_.size(); ++i)
            emit(error_reply("unavailable", "kvstored shut down before the write was saved"));
        clear();
    }

    void clear()
    {
        held_.clear();
        bytes_ = 0;
    }
    bool empty() const { return held_.empty(); }
    size_t bytes() const { return bytes_; }

private:
    struct Held {
        uint64_t ticket;
        std::string text;
    };
    Database& db_;
    std::deque<Held> held_;
    size_t bytes_ = 0;
};

}  // namespace kv
