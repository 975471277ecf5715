// database.cc: see database.h.
#include "database.h"

#include "backends/etcd/etcd_backend.h"
#include "command.h"
#include "log.h"

namespace kv {

namespace {

// Entries one reclaim_expired() call may take: small enough that the time
// budget is checked often, large enough that checking it costs little.
constexpr size_t kReclaimBatch = 64;

}  // namespace

Database::Database(size_t capacity, const std::optional<PersistConfig>& persist, WhenFull when_full, const Clock& clock)
    : store_(capacity, when_full, clock)
{
    if (persist)
        persistence_ = std::make_unique<Persistence>(*persist, store_);
}

Database::Database(size_t capacity, const EtcdConfig& etcd, const Clock& clock)
    : store_(capacity, WhenFull::Refuse, clock)
{
    etcd_ = std::make_unique<EtcdBackend>(etcd, store_, watches_);
}

Database::~Database() = default;

void Database::begin_command()
{
    if (etcd_)
        etcd_->begin_command();
}

uint64_t Database::note_flush_at(int64_t unix_ms)
{
    if (etcd_)
        return etcd_->note_flush_at(unix_ms);
    return persistence_ ? persistence_->flush_at(unix_ms) : 0;
}

uint64_t Database::note_flush_done(int64_t unix_ms)
{
    if (etcd_)
        return etcd_->note_flush_done(unix_ms);
    return note_flush_at(0);
}

int64_t Database::pending_flush() const
{
    if (etcd_)
        return etcd_->flush_at();
    return persistence_ ? persistence_->pending_flush() : 0;
}

size_t Database::room() const
{
    size_t used = etcd_ ? etcd_->counted_entries() : store_.size();
    return used < store_.capacity() ? store_.capacity() - used : 0;
}

void Database::note_full()
{
    if (etcd_)
        etcd_->note_full();
}

void Database::write_command()
{
    if (etcd_)
        etcd_->write_command();
}

uint64_t Database::end_command(uint64_t ticket)
{
    return etcd_ ? etcd_->end_command() : ticket;
}

uint64_t Database::sync()
{
    return etcd_ ? etcd_->sync() : 0;
}

std::string Database::failure_code() const
{
    return etcd_ ? "unavailable" : "storage";
}

std::string Database::failure_code(uint64_t ticket) const
{
    return etcd_ ? etcd_->failure_code(ticket) : failure_code();
}

std::string Database::failure_text(uint64_t ticket) const
{
    if (etcd_)
        return etcd_->failure_text(ticket);
    return persistence_ ? "the write was not saved: " + persistence_->failure() : "the write was not saved";
}

BackendStatus Database::backend_status() const
{
    BackendStatus s;
    s.backend = etcd_ ? "etcd" : persistence_ ? "sqlite" : "memory";
    s.read_only_why = write_refusal();
    if (etcd_)
        etcd_->fill_status(s);
    return s;
}

int Database::backend_notify_fd() const
{
    return etcd_ ? etcd_->notify_fd() : persistence_ ? persistence_->notify_fd() : -1;
}

void Database::set_deferrer(std::function<void(std::function<void()>)> defer)
{
    if (etcd_)
        etcd_->set_deferrer(std::move(defer));
}

void Database::on_backend_notify()
{
    if (etcd_)
        etcd_->on_notify();
    else if (persistence_)
        persistence_->drain();
}

std::string Database::write_refusal() const
{
    if (etcd_) {
        std::string why = etcd_->refusal();
        return why.empty() ? "" : "writes are refused while etcd cannot commit them: " + why;
    }
    if (!persistence_ || !persistence_->failed())
        return "";
    return "writes are refused until the database works again: " + persistence_->failure();
}

uint64_t Database::put(std::string_view key, std::string_view value, int64_t deadline, int64_t flags,
                       Store::PutResult& result)
{
    if (etcd_)
        return etcd_->put(key, value, deadline, flags, result);
    // The database row needs the deadline and flags the entry ends up with.
    if ((deadline == kKeepDeadline || flags == kKeepFlags) && persistence_) {
        std::optional<Store::Entry> e = store_.peek(key);
        if (deadline == kKeepDeadline)
            deadline = e ? e->deadline : kNoDeadline;
        if (flags == kKeepFlags)
            flags = e ? e->flags : 0;
    }
    std::string displaced;
    uint64_t evicted_before = store_.evicted_total();
    result = store_.put(key, value, deadline, flags, &displaced);
    if (result != Store::PutResult::Full)
        watches_.touch(key);
    if (store_.evicted_total() != evicted_before) {
        watches_.touch(displaced);  // an eviction changes a key, as in Redis
        LOG_DEBUG("evicted %s to make room for %s", printable_bytes(displaced).c_str(), printable_bytes(key).c_str());
    }
    if (result == Store::PutResult::Full || !persistence_)
        return 0;
    // Deleted as an eviction is, so the database never holds more than the
    // capacity either.
    if (!displaced.empty())
        persistence_->erase(displaced);
    return persistence_->put(key, value, deadline, static_cast<uint32_t>(flags), store_.last_version());
}

void Database::touch_live_keys()
{
    if (!watches_.empty())
        watches_.touch_if([this](std::string_view key) { return store_.contains(key); });
}

uint64_t Database::erase(std::string_view key, bool& erased)
{
    if (etcd_)
        return etcd_->erase(key, erased);
    erased = store_.erase(key);
    if (erased)
        watches_.touch(key);
    if (!erased || !persistence_)
        return 0;
    return persistence_->erase(key);
}

uint64_t Database::set_deadline(std::string_view key, int64_t deadline, bool& found, Store::Version version)
{
    if (etcd_)
        return etcd_->set_deadline(key, deadline, version, found);
    found = store_.set_deadline(key, deadline, version);
    if (found)
        watches_.touch(key);
    if (!found || !persistence_)
        return 0;
    return persistence_->set_deadline(key, deadline, store_.last_version());
}

bool Database::expire_cycle(std::chrono::microseconds budget)
{
    if (etcd_) {
        etcd_->expire_cycle();
        return false;
    }
    auto start = std::chrono::steady_clock::now();
    bool more;
    do
        more = store_.reclaim_expired(kReclaimBatch) == kReclaimBatch;
    while (more && std::chrono::steady_clock::now() - start < budget);
    // Rows past their deadline, whatever reclaimed them from memory (this
    // cycle, a command that met them, a put that needed the room), go in one
    // statement.
    if (persistence_ && store_.expired_total() != expired_cleaned_) {
        persistence_->expire(store_.clock().now_ms());
        expired_cleaned_ = store_.expired_total();
    }
    return more;
}

uint64_t Database::clear()
{
    if (etcd_)
        return etcd_->clear();
    touch_live_keys();
    store_.clear();
    return persistence_ ? persistence_->clear() : 0;
}

uint64_t Database::commit_version(uint64_t ticket) const
{
    return etcd_ ? static_cast<uint64_t>(etcd_->commit_revision(ticket)) : 0;
}

Database::Durability Database::durability(uint64_t ticket) const
{
    if (etcd_ && ticket != 0) {
        switch (etcd_->state(ticket)) {
        case EtcdBackend::State::Done:
            return Durability::Durable;
        case EtcdBackend::State::Pending:
            return Durability::Pending;
        case EtcdBackend::State::Failed:
            return Durability::Failed;
        case EtcdBackend::State::Retry:
            return Durability::Retry;
        }
    }
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

std::string Database::refuse_load(const std::string& code, const std::string& why)
{
    staging_.reset();
    return error_reply(code, why + "; nothing was changed");
}

std::string Database::load_begin(uint64_t owner, bool replace)
{
    if (etcd_)
        return error_reply("unsupported",
                           "load is not supported with the etcd backend (docs/scale-out.md); "
                           "write the entries through a door");
    if (staging_ && staging_->owner != owner)
        return error_reply(
            "busy", "admin client " + std::to_string(staging_->owner) + " is loading; try again when it has finished");
    staging_.emplace();
    staging_->owner = owner;
    staging_->replace = replace;
    return "";
}

std::string Database::load_add(uint64_t owner, std::string_view key, std::string_view value, int64_t deadline,
                               int64_t flags)
{
    if (!staging_ || staging_->owner != owner)
        return error_reply("syntax", "no load was begun on this connection");
    // The admin CLI checked all of this already; a peer is trusted for nothing.
    // Keys and values are the store's, not the line protocol's: a load must
    // take back whatever a dump gave, Redis-written entries included.
    if (auto why = store_key_problem(key); !why.empty())
        return refuse_load("bad-key", std::string(why));
    if (deadline < 0 || deadline > kMaxDeadline)
        return refuse_load("syntax",
                           "the deadline of " + printable_bytes(key) + " is not a unix time in ms from 1 to "
                               + std::to_string(kMaxDeadline));
    if (flags < 0 || flags > int64_t{UINT32_MAX})
        return refuse_load("syntax", "the flags of " + printable_bytes(key) + " are not a number from 0 to 4294967295");
    Staging& s = *staging_;
    auto it = s.entries.find(key);
    if (it != s.entries.end()) {
        s.bytes -= it->second.bytes.size();
        it->second.bytes.assign(value);
        it->second.deadline = deadline;
        it->second.flags = static_cast<uint32_t>(flags);
        s.bytes += value.size();
    } else {
        // No load can hold more distinct keys than the store.
        if (s.entries.size() >= store_.capacity())
            return refuse_load("full",
                               "the load has more than " + std::to_string(store_.capacity())
                                   + " entries, the capacity of the store");
        s.entries.emplace(std::string(key), Staging::Value{std::string(value), deadline, static_cast<uint32_t>(flags)});
        s.bytes += key.size() + value.size() + kStagedEntryOverhead;
    }
    // kMaxLoadBytes: the most one load may stage (database.h).
    if (s.bytes > kMaxLoadBytes)
        return refuse_load("too-long",
                           "the load is larger than " + std::to_string(kMaxLoadBytes >> 20)
                               + " MiB (keys and values plus " + std::to_string(kStagedEntryOverhead)
                               + " bytes per entry)");
    return "";
}

std::string Database::load_commit(uint64_t owner, uint64_t& ticket, std::string& summary)
{
    ticket = 0;
    if (!staging_ || staging_->owner != owner)
        return error_reply("syntax", "no load was begun on this connection");
    Staging s = std::move(*staging_);
    staging_.reset();
    if (std::string why = write_refusal(); !why.empty())
        return refuse_load("storage", why);
    // Entries already past their deadline would be gone at once: skip them.
    int64_t now = store_.clock().now_ms();
    size_t expired = std::erase_if(s.entries, [now](const auto& entry) {
        return entry.second.deadline != kNoDeadline && entry.second.deadline <= now;
    });
    // Check first: the size after the load, counting the keys already there.
    size_t after = s.replace ? s.entries.size() : store_.size();
    if (!s.replace)
        for (const auto& [key, value] : s.entries)
            after += store_.contains(key) ? 0 : 1;
    if (after > store_.capacity())
        return refuse_load("full",
                           "the store would hold " + std::to_string(after) + " entries, more than its capacity of "
                               + std::to_string(store_.capacity()));
    // Then apply: nothing below can fail for want of room.
    size_t before = store_.size();
    if (s.replace)
        touch_live_keys();
    for (const auto& entry : s.entries)
        watches_.touch(entry.first);
    if (s.replace)
        store_.clear();
    std::vector<Persistence::Entry> entries;
    if (persistence_)
        entries.reserve(s.entries.size());
    size_t n = s.entries.size();
    for (auto it = s.entries.begin(); it != s.entries.end();) {
        store_.put(it->first, it->second.bytes, it->second.deadline, it->second.flags);
        auto node = s.entries.extract(it++);
        if (persistence_)
            entries.push_back(Persistence::Entry{std::move(node.key()), std::move(node.mapped().bytes),
                                                 node.mapped().deadline, node.mapped().flags});
    }
    if (persistence_)
        ticket = persistence_->put_all(s.replace, std::move(entries), store_.last_version());
    LOG_INFO("load by admin %llu: %zu entries%s, %zu skipped (already expired); %zu entries before, %zu after",
             static_cast<unsigned long long>(owner), n, s.replace ? " replacing all" : "", expired, before,
             store_.size());
    summary = std::to_string(n) + " " + std::to_string(store_.size()) + " " + std::to_string(expired);
    return "";
}

void Database::load_abort(uint64_t owner)
{
    if (staging_ && staging_->owner == owner)
        staging_.reset();
}

}  // namespace kv
