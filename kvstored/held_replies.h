// held_replies.h: replies that wait for their write to become durable.
//
// With --sync always a reply to a write may leave only once the transaction
// holding it has committed. Replies of one client never change order, so once
// one reply is held every later one queues behind it, writes or not. Both
// kinds of client use this: a kvsvc's (Reply frames) and a handed-off socket's
// (plain text); `emit` appends one reply text to the client's output.
//
// Memory: a held reply to a write weighs its text plus its change's bytes
// (Database::weight), because the persistence queue keeps a copy of the value
// until the commit; bytes() is what each client counts against its output
// bound, so one client's writes waiting for the disk cost at most that bound
// plus one write. A write made while the queue is at its global cap
// (Database::write_backlogged) gates its client: blocks_input() holds until
// that reply is released, so that every client adds at most one write past
// the cap.
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
    // Formats the error that replaces a reply whose write failed or was
    // abandoned, in the client's protocol: error_reply (command.h) for the
    // line protocol and kvsvc.
    using ErrorFormat = std::string (*)(std::string_view code, std::string_view message);

    explicit HeldReplies(Database& db, ErrorFormat format = error_reply) : db_(db), format_(format) { }

    // Emits `text` now when nothing is held and its write (if any) is durable;
    // otherwise holds it.
    template <typename Emit> void add(std::string_view text, uint64_t ticket, Emit&& emit)
    {
        if (held_.empty() && db_.durability(ticket) == Database::Durability::Durable) {
            emit(text);
            return;
        }
        size_t weight = text.size() + db_.weight(ticket);
        bool gate = ticket != 0 && db_.write_backlogged();
        bytes_ += weight;
        gates_ += gate;
        held_.push_back(Held{ticket, std::string(text), weight, gate});
    }

    // Emits, in order, the leading replies whose writes have committed; a
    // failed commit turns its reply into ERR storage. An empty reply (a
    // memcached noreply write: the client asked not to be told) stays empty.
    template <typename Emit> void release(Emit&& emit)
    {
        while (!held_.empty()) {
            Held& h = held_.front();
            auto d = db_.durability(h.ticket);
            if (d == Database::Durability::Pending)
                return;
            bytes_ -= h.weight;
            gates_ -= h.gate;
            if (d == Database::Durability::Failed && !h.text.empty())
                h.text = format_("storage", "the write was not saved: " + db_.persistence()->failure());
            emit(std::string_view(h.text));
            held_.pop_front();
        }
    }

    // kvstored is going away before these writes committed: each is answered
    // as not acknowledged.
    template <typename Emit> void abandon(Emit&& emit)
    {
        for (const Held& h : held_)
            if (!h.text.empty())
                emit(format_("unavailable", "kvstored shut down before the write was saved"));
        clear();
    }

    void clear()
    {
        held_.clear();
        bytes_ = 0;
        gates_ = 0;
    }
    bool empty() const { return held_.empty(); }
    size_t bytes() const { return bytes_; }
    // A held write was made with the persistence queue at its cap: the
    // client takes no more commands until it is released.
    bool blocks_input() const { return gates_ > 0; }

private:
    struct Held {
        uint64_t ticket;
        std::string text;
        size_t weight;  // what it added to bytes_
        bool gate;  // see blocks_input()
    };
    Database& db_;
    ErrorFormat format_;
    std::deque<Held> held_;
    size_t bytes_ = 0;
    size_t gates_ = 0;
};

}  // namespace kv
