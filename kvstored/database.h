// database.h: the store as the rest of kvstored sees it. Reads come from
// memory; a write changes memory and queues the same change for persistence
// (when enabled) in one step, so the two never disagree about order.
//
// Every write returns a ticket. With --sync always a reply to a write may be
// sent only once durability(ticket) is Durable; the other modes acknowledge at
// once. While storage is failing, writes are refused before they touch memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "persistence.h"
#include "store.h"

namespace kv {

class Database {
public:
    // Throws std::runtime_error when persistence cannot be opened or loaded.
    Database(size_t capacity, const std::optional<PersistConfig>& persist);

    const Store& store() const { return store_; }
    Persistence* persistence() { return persistence_.get(); }

    // Why writes are refused right now, or "" when they are accepted.
    std::string write_refusal() const;

    // Each returns the ticket of the change (0 when nothing needs to reach disk).
    uint64_t put(std::string_view key, std::string_view value, Store::PutResult& result);
    uint64_t erase(std::string_view key, bool& erased);
    uint64_t clear();

    // Whether the reply to the change with this ticket may go out: Durable
    // (yes), Pending (wait for a commit: --sync always, or the disk is behind,
    // see PersistConfig::max_uncommitted and max_uncommitted_bytes) or Failed
    // (its commit failed).
    enum class Durability { Durable, Pending, Failed };
    Durability durability(uint64_t ticket) const;

    // Bytes (change_weight) of uncommitted changes: of all, and of the change
    // with this ticket alone (0 when none is pending). A held reply weighs its
    // change (HeldReplies), so what a client has queued for the disk counts
    // against its output bound.
    uint64_t pending_bytes() const { return persistence_ ? persistence_->pending_bytes() : 0; }
    size_t weight(uint64_t ticket) const { return persistence_ && ticket ? persistence_->weight(ticket) : 0; }
    // The queue is at its global cap (PersistConfig::max_queue_bytes): a
    // write made now holds its client's input until its reply is released.
    bool write_backlogged() const
    {
        return persistence_ && persistence_->pending_bytes() >= persistence_->config().max_queue_bytes;
    }

private:
    Store store_;
    std::unique_ptr<Persistence> persistence_;
};

}  // namespace kv
