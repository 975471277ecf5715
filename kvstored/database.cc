// database.cc: see database.h.
#include "database.h"


namespace kv {

Database::Database(size_t capacity, const std::optional<PersistConfig>& persist) : store_(capacity)
{
    if (persist)
        persistence_ = std::make_unique<Persistence>(*persist, store_);
}

std::string Database::write_refusal() const
{
    if (!persistence_ || !persistence_->failed())
        return "";
    return "writes are refused until the database works again: " + persistence_->failure();
}

uint64_t Database::put(std::string_view key, std::string_view value, Store::PutResult& result)
{
    result = store_.put(key, value);
    if (result == Store::PutResult::Full || !persistence_)
        return 0;
    return persistence_->put(key, value);
}

uint64_t Database::erase(std::string_view key, bool& erased)
{
    erased = store_.erase(key);
    if (!erased || !persistence_)
        return 0;
    return persistence_->erase(key);
}

uint64_t Database::clear()
{
    store_.clear();
    return persistence_ ? persistence_->clear() : 0;
}

Database::Durability Database::durability(uint64_t ticket) const
{
    if (ticket == 0 || !persistence_ || ticket <= persistence_->durable())
        return Durability::Durable;
    const PersistConfig& config = persistence_->config();
    // batch and off acknowledge at once while the disk keeps up: within
    // max_uncommitted changes and max_uncommitted_bytes of the last commit.
    if (config.mode != SyncMode::Always && ticket <= persistence_->durable() + config.max_uncommitted
        && persistence_->pending_bytes_through(ticket) <= config.max_uncommitted_bytes)
        return Durability::Durable;
    return persistence_->failed() ? Durability::Failed : Durability::Pending;
}

}  // namespace kv
