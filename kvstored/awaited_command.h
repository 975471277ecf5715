// awaited_command.h: the replicated-store protocol a client's commands follow
// (Database, "Replicated stores (the etcd backend)"), shared by every place
// that runs them: the doors (doors/door.h) and the relayed and admin
// requests (client.h).
//
// run_command() brackets one command with begin_command()/end_command().
// With Database::replicated(), a command that got a ticket is then awaited
// (AwaitedCommand): its client runs nothing further until the ticket is no
// longer Pending, so that it reads its own writes. Durable: its reply goes
// out (in order: the caller queues it with ticket 0). Failed: the door's
// error for (failure_code(), failure_text()) goes out instead. Retry: the
// command's writes were refused because this copy was behind, and it has
// caught up since: the caller runs the very same command again from the
// same session state, so it keeps an owned copy of what that needs (the
// parsers reuse their buffers as input arrives). A command may be retried
// many times under contention; never in a loop without waiting, because
// Retry comes only once the copy caught up.
//
// Without replicated() none of this runs: run_command() is the bare call,
// and replies are held by HeldReplies as before (--sync always).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "database.h"
#include "held_replies.h"
#include "stats.h"

namespace kv {

// Runs `run` (which returns the ticket of the writes it made, 0 for none)
// as one command: with a replicated store between begin_command() and
// end_command(), and returns the command's ticket. If `run` throws
// (std::bad_alloc: its client is dropped) the command is still ended, so the
// Database is never left inside a command.
template <typename Run> uint64_t run_command(Database& db, Run&& run)
{
    if (!db.replicated())
        return run();
    db.begin_command();
    uint64_t ticket;
    try {
        ticket = run();
    } catch (...) {
        db.end_command(0);
        throw;
    }
    return db.end_command(ticket);
}

// Runs `rerun`, a command run again after Retry, without counting it again:
// its first run counted it (commands_total and the per-command counters).
// Only the connection gauge it may change (a client dropped for lack of
// memory while it ran) is kept.
template <typename Rerun> void run_uncounted(Stats& stats, Rerun&& rerun)
{
    Stats counted = stats;
    rerun();
    counted.connections_current = stats.connections_current;
    stats = counted;
}

// The one command a client waits for, with a replicated store.
class AwaitedCommand {
public:
    // What goes out once the ticket is Durable.
    enum class Reply {
        Text,  // the reply the command made
        Silent,  // nothing, and nothing on failure either (a memcached noreply write)
        Synced,  // `sync`'s reply, made at release (synced_reply: the revision applied then)
    };
    enum class Outcome {
        Pending,  // still waiting: run nothing else
        Send,  // send `text` (may be empty), then go on
        Failed,  // send `text` (the error, or nothing when silent): what was left of the command is dropped
        Retry,  // run the same command again
    };

    bool active() const { return ticket_ != 0; }

    // Waits for `ticket` (not 0) before `text` may go out. `versions_at`:
    // the places in `text` (ascending) where the version the commit gives
    // the written keys goes (Database::commit_version), a memcached cas
    // that etcd decides.
    void await(uint64_t ticket, std::string text, Reply kind = Reply::Text, std::vector<size_t> versions_at = {})
    {
        ticket_ = ticket;
        text_ = std::move(text);
        kind_ = kind;
        versions_at_ = std::move(versions_at);
    }

    // Where the awaited ticket stands. `failure` formats a Failed ticket's
    // error in the client's protocol. After anything but Pending nothing is
    // awaited.
    Outcome settle(const Database& db, HeldReplies::ErrorFormat failure, std::string& text)
    {
        switch (db.durability(ticket_)) {
        case Database::Durability::Pending:
            return Outcome::Pending;
        case Database::Durability::Durable:
            if (!versions_at_.empty())
                insert_at(text_, versions_at_, std::to_string(db.commit_version(ticket_)));
            text = kind_ == Reply::Synced ? synced_reply(db) : std::move(text_);
            break;
        case Database::Durability::Failed:
            text = kind_ == Reply::Silent ? std::string() : failure(db.failure_code(ticket_), db.failure_text(ticket_));
            clear();
            return Outcome::Failed;
        case Database::Durability::Retry:
            clear();
            return Outcome::Retry;
        }
        clear();
        return Outcome::Send;
    }

    // kvstored shuts down (or the client is cut) before the ticket settled:
    // the error that replaces the reply, as HeldReplies::abandon says it.
    std::string abandon(HeldReplies::ErrorFormat format)
    {
        bool silent = kind_ == Reply::Silent;
        clear();
        return silent ? std::string() : format("unavailable", "kvstored shut down before the write was saved");
    }

    void clear()
    {
        ticket_ = 0;
        text_.clear();
        kind_ = Reply::Text;
        versions_at_.clear();
    }

    // Puts `what` into `text` at each of `places` (ascending, as they were
    // before any insertion).
    static void insert_at(std::string& text, const std::vector<size_t>& places, const std::string& what)
    {
        for (auto it = places.rbegin(); it != places.rend(); ++it)
            text.insert(std::min(*it, text.size()), what);
    }

private:
    uint64_t ticket_ = 0;
    std::string text_;
    Reply kind_ = Reply::Text;
    std::vector<size_t> versions_at_;
};

}  // namespace kv
