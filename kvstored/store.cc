// store.cc: see store.h.
#include "store.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace kv {
namespace {

// The block header (store.h, "Layout"). Fields are read and written with
// memcpy: a block is only 16-byte aligned at its start. They are in the
// host's byte order, little-endian (the u24 and u48 fields are the low bytes
// of a u32 and a u64).
static_assert(std::endian::native == std::endian::little, "store.cc: the block layout assumes little-endian");
constexpr size_t kVersionAt = 0;  // u64
constexpr size_t kValueLenAt = 8;  // u32, bit 31: has a deadline, bit 30: has flags
constexpr size_t kKeyLenAt = 12;  // u8
constexpr size_t kStampAt = 13;  // u24
constexpr size_t kHeader = 16;  // then the deadline and the flags, each if any
constexpr size_t kDeadlineBytes = 6;  // u48
constexpr size_t kFlagsBytes = 4;  // u32
constexpr uint32_t kHasDeadline = uint32_t{1} << 31;
constexpr uint32_t kHasFlags = uint32_t{1} << 30;
constexpr uint32_t kLengthMask = kHasFlags - 1;  // values are under 1 GiB
constexpr uint32_t kStampMask = (uint32_t{1} << 24) - 1;
constexpr size_t kMinSlots = 16;

static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);

// One memcpy of a constant size: a single load or store, so that a lookup
// stays a few instructions (a byte loop here made get() at 1M entries 1.7x
// slower: fewer cache misses overlapped).
uint64_t load_le(const char* p, size_t n)
{
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    return v;
}

void store_le(char* p, size_t n, uint64_t v)
{
    std::memcpy(p, &v, n);
}

uint32_t length_word(const char* b)
{
    return static_cast<uint32_t>(load_le(b + kValueLenAt, 4));
}

bool has_deadline(const char* b)
{
    return (length_word(b) & kHasDeadline) != 0;
}

bool has_flags(const char* b)
{
    return (length_word(b) & kHasFlags) != 0;
}

size_t value_len(const char* b)
{
    return length_word(b) & kLengthMask;
}

size_t key_len(const char* b)
{
    return static_cast<unsigned char>(b[kKeyLenAt]);
}

// Where the flags are, when the entry has them.
size_t flags_at(const char* b)
{
    return kHeader + (has_deadline(b) ? kDeadlineBytes : 0);
}

// Without a branch: this is on every probe of a lookup (key_of).
size_t key_at(const char* b)
{
    uint32_t w = length_word(b);
    return kHeader + (w >> 31) * kDeadlineBytes + ((w >> 30) & 1) * kFlagsBytes;
}

uint64_t version_of(const char* b)
{
    return load_le(b + kVersionAt, 8);
}

int64_t deadline_of(const char* b)
{
    return has_deadline(b) ? static_cast<int64_t>(load_le(b + kHeader, kDeadlineBytes)) : kNoDeadline;
}

uint32_t flags_of(const char* b)
{
    return has_flags(b) ? static_cast<uint32_t>(load_le(b + flags_at(b), kFlagsBytes)) : 0;
}

uint32_t stamp_of(const char* b)
{
    return static_cast<uint32_t>(load_le(b + kStampAt, 3));
}

char* value_data(char* b)
{
    return b + key_at(b) + key_len(b);
}

std::string_view value_of(const char* b)
{
    return {b + key_at(b) + key_len(b), value_len(b)};
}

// Throws std::invalid_argument naming `op` unless `deadline` is kNoDeadline,
// 1..kMaxDeadline, or (if `keep_ok`) kKeepDeadline.
void check_deadline(const char* op, int64_t deadline, bool keep_ok)
{
    if (deadline == kNoDeadline || (deadline == kKeepDeadline && keep_ok) || (deadline > 0 && deadline <= kMaxDeadline))
        return;
    throw std::invalid_argument(std::string("store ") + op + ": deadline " + std::to_string(deadline)
                                + " is out of range (1.." + std::to_string(kMaxDeadline) + " ms)");
}

// Throws std::invalid_argument naming `op` unless `flags` is 0..UINT32_MAX
// or kKeepFlags.
void check_flags(const char* op, int64_t flags)
{
    if (flags == kKeepFlags || (flags >= 0 && flags <= int64_t{UINT32_MAX}))
        return;
    throw std::invalid_argument(std::string("store ") + op + ": flags " + std::to_string(flags)
                                + " are out of range (0..4294967295)");
}

}  // namespace

Store::Store(size_t capacity, WhenFull when_full, const Clock& clock)
    : capacity_(capacity), when_full_(when_full), clock_(clock)
{
    // sodium_init is idempotent and thread-safe; randombytes_buf needs it.
    if (sodium_init() < 0)
        throw std::runtime_error("store: cannot initialise libsodium (for the hash key)");
    randombytes_buf(hash_key_.data(), hash_key_.size());
    randombytes_buf(&rng_state_, sizeof rng_state_);
    // Versions in microseconds from now: above those of earlier runs whose
    // clock was behind this one (store.h).
    int64_t now_us = clock_.now_ms() * 1000;
    last_version_ = now_us > 0 ? static_cast<uint64_t>(now_us) : 0;
}

Store::Block Store::make_block(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags,
                               uint64_t version, uint32_t stamp)
{
    bool with_deadline = deadline != kNoDeadline;
    bool with_flags = flags != 0;
    size_t flags_pos = kHeader + (with_deadline ? kDeadlineBytes : 0);
    size_t key_pos = flags_pos + (with_flags ? kFlagsBytes : 0);
    Block b = std::make_unique_for_overwrite<char[]>(key_pos + key.size() + value.size());
    store_le(&b[kVersionAt], 8, version);
    store_le(&b[kValueLenAt], 4, value.size() | (with_deadline ? kHasDeadline : 0) | (with_flags ? kHasFlags : 0));
    b[kKeyLenAt] = static_cast<char>(key.size());
    store_le(&b[kStampAt], 3, stamp);
    if (with_deadline)
        store_le(&b[kHeader], kDeadlineBytes, static_cast<uint64_t>(deadline));
    if (with_flags)
        store_le(&b[flags_pos], kFlagsBytes, flags);
    // An empty view may have a null data() (SQLite returns one for an empty
    // blob), and memcpy from null is undefined even for 0 bytes.
    if (!key.empty())
        std::memcpy(&b[key_pos], key.data(), key.size());
    if (!value.empty())
        std::memcpy(&b[key_pos + key.size()], value.data(), value.size());
    return b;
}

std::string_view Store::key_of(const char* b)
{
    return {b + key_at(b), key_len(b)};
}

// SipHash-2-4 under this store's secret key (see store.h, "Hash").
size_t Store::home(std::string_view key) const
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), hash_key_.data());
    uint64_t h;
    std::memcpy(&h, out, sizeof h);
    return static_cast<size_t>(h) & (slots_.size() - 1);
}

size_t Store::find(std::string_view key) const
{
    if (slots_.empty())
        return kNone;
    for (size_t i = home(key);; i = (i + 1) & (slots_.size() - 1)) {
        if (!slots_[i])
            return kNone;
        if (key_of(slots_[i].get()) == key)
            return i;
    }
}

void Store::place(Block b)
{
    size_t i = home(key_of(b.get()));
    while (slots_[i])
        i = (i + 1) & (slots_.size() - 1);
    slots_[i] = std::move(b);
}

void Store::grow()
{
    size_t slots = std::max(kMinSlots, slots_.size() * 2);
    std::vector<Block> old = std::exchange(slots_, std::vector<Block>(slots));
    for (Block& b : old)
        if (b)
            place(std::move(b));
}

bool Store::expired(const char* b, int64_t now) const
{
    return has_deadline(b) && deadline_of(b) <= now;
}

uint32_t Store::stamp_now() const
{
    return when_full_ == WhenFull::Evict ? stamp_at(clock_.coarse_now_ms()) : 0;
}

uint32_t Store::stamp_at(int64_t now_ms)
{
    return static_cast<uint32_t>(now_ms / kStampMs) & kStampMask;
}

// splitmix64: fast, and good enough to pick slots (no adversary can exploit
// which entry is sampled: every sampled entry is a legitimate victim).
uint64_t Store::next_random()
{
    uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
}

Store::PutResult Store::put(std::string_view key, std::string_view value, int64_t deadline, int64_t flags,
                            std::string* displaced)
{
    check_deadline("put", deadline, true);
    check_flags("put", flags);
    if (value.size() > kLengthMask)
        throw std::length_error("store put: a value must be under 1 GiB");
    if (displaced)
        displaced->clear();
    if (size_t i = find(key); i != kNone) {
        const char* b = slots_[i].get();
        // Read the clock only for an entry that may have expired.
        bool was_expired = has_deadline(b) && expired(b, clock_.now_ms());
        int64_t keep_deadline = was_expired ? kNoDeadline : deadline_of(b);
        uint32_t keep_flags = was_expired ? 0 : flags_of(b);
        rewrite(i, value, deadline == kKeepDeadline ? keep_deadline : deadline,
                flags == kKeepFlags ? keep_flags : static_cast<uint32_t>(flags));
        if (!was_expired)
            return PutResult::Replaced;
        ++expired_total_;
        return PutResult::Inserted;
    }
    return insert(key, value, deadline == kKeepDeadline ? kNoDeadline : deadline,
                  flags == kKeepFlags ? 0 : static_cast<uint32_t>(flags), displaced);
}

void Store::rewrite(size_t slot, std::string_view value, int64_t deadline, uint32_t flags, Version rule)
{
    char* old = slots_[slot].get();
    int64_t old_deadline = deadline_of(old);
    uint64_t version = rule == Version::Keep ? version_of(old) : last_version_ + 1;
    uint32_t stamp = stamp_now();
    if (value_len(old) == value.size() && has_deadline(old) == (deadline != kNoDeadline)
        && has_flags(old) == (flags != 0)) {
        // Same shape: in place. Both deadlines are set, or neither; both
        // flags, or neither.
        if (deadline != old_deadline) {
            deadlines_.insert({deadline, old});  // may throw: the first change
            deadlines_.erase({old_deadline, old});
            store_le(old + kHeader, kDeadlineBytes, static_cast<uint64_t>(deadline));
        }
        if (flags != 0)
            store_le(old + flags_at(old), kFlagsBytes, flags);
        if (!value.empty())  // memmove: set_deadline passes the entry's own value
            std::memmove(value_data(old), value.data(), value.size());
    } else {
        Block b = make_block(key_of(old), value, deadline, flags, version, stamp);
        if (deadline != kNoDeadline)
            deadlines_.insert({deadline, b.get()});  // may throw: the first change
        // Nothing below throws.
        if (old_deadline != kNoDeadline)
            deadlines_.erase({old_deadline, old});
        // Same key, so the same place in the key index: re-point the element.
        auto it = index_.find(key_of(old));
        const_cast<const char*&>(*it) = b.get();
        slots_[slot] = std::move(b);
    }
    char* b = slots_[slot].get();
    store_le(b + kVersionAt, 8, version);
    store_le(b + kStampAt, 3, stamp);
    last_version_ = std::max(last_version_, version);
}

Store::PutResult Store::insert(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags,
                               std::string* displaced)
{
    // Every step that may throw (allocations) comes before the first change
    // that would need undoing: a failed put leaves the store as it was.
    size_t victim = kNone;
    bool victim_expired = false;
    if (stored_ >= capacity_ && !ignore_capacity_) {
        if (mirror_)
            return PutResult::Full;
        if (!deadlines_.empty() && deadlines_.begin()->first <= clock_.now_ms()) {
            victim = find(key_of(deadlines_.begin()->second));
            victim_expired = true;
        } else if (when_full_ == WhenFull::Evict && stored_ > 0) {
            victim = eviction_victim();
        } else {
            return PutResult::Full;
        }
        if (displaced)  // the caller's string, not the store: may throw here
            displaced->assign(key_of(slots_[victim].get()));
    }
    uint64_t version = last_version_ + 1;
    Block b = make_block(key, value, deadline, flags, version, stamp_now());
    if (victim == kNone && (stored_ + 1) * 4 > slots_.size() * 3)
        grow();  // moves blocks, changes no entry
    if (deadline != kNoDeadline)
        deadlines_.insert({deadline, b.get()});
    try {
        index_.insert(b.get());
    } catch (...) {
        if (deadline != kNoDeadline)
            deadlines_.erase({deadline, b.get()});
        throw;
    }
    // Nothing below throws.
    if (victim != kNone) {
        remove(victim);
        ++(victim_expired ? expired_total_ : evicted_total_);
    }
    place(std::move(b));
    ++stored_;
    last_version_ = version;
    return PutResult::Inserted;
}

// Samples kEvictionSamples slots, each the first occupied one from a random
// position (the table is at least 3/8 full when full, so the walk is short
// and the bias towards entries after a gap small), and returns the one with
// the oldest stamp. Stamps are compared by age modulo 2^24 (store.h).
size_t Store::eviction_victim()
{
    uint32_t now = stamp_now();
    size_t mask = slots_.size() - 1;
    size_t best = kNone;
    uint32_t best_age = 0;
    for (int n = 0; n < kEvictionSamples; ++n) {
        size_t i = static_cast<size_t>(next_random()) & mask;
        while (!slots_[i])
            i = (i + 1) & mask;
        uint32_t age = (now - stamp_of(slots_[i].get())) & kStampMask;
        if (best == kNone || age > best_age) {
            best = i;
            best_age = age;
        }
    }
    return best;
}

// The slot of the live entry `key`; kNone when there is none, after
// reclaiming the key's entry if it had expired (the lazy half of expiry).
size_t Store::find_live(std::string_view key)
{
    size_t i = find(key);
    if (i == kNone)
        return kNone;
    const char* b = slots_[i].get();
    if (has_deadline(b) && expired(b, clock_.now_ms())) {
        if (!mirror_)
            reclaim(i);
        return kNone;
    }
    return i;
}

std::optional<Store::Entry> Store::get(std::string_view key)
{
    if (read_log_)
        read_log_->emplace_back(key);
    size_t i = find_live(key);
    if (i == kNone)
        return std::nullopt;
    char* b = slots_[i].get();
    if (when_full_ == WhenFull::Evict)
        store_le(b + kStampAt, 3, stamp_now());
    return Entry{value_of(b), version_of(b), deadline_of(b), flags_of(b)};
}

std::optional<Store::Entry> Store::peek(std::string_view key) const
{
    if (read_log_)
        read_log_->emplace_back(key);
    size_t i = find(key);
    if (i == kNone)
        return std::nullopt;
    const char* b = slots_[i].get();
    if (has_deadline(b) && expired(b, clock_.now_ms()))
        return std::nullopt;
    return Entry{value_of(b), version_of(b), deadline_of(b), flags_of(b)};
}

bool Store::erase(std::string_view key)
{
    size_t i = find_live(key);
    if (i == kNone)
        return false;
    remove(i);
    return true;
}

bool Store::set_deadline(std::string_view key, int64_t deadline, Version version)
{
    check_deadline("set_deadline", deadline, false);
    size_t i = find_live(key);
    if (i == kNone)
        return false;
    const char* b = slots_[i].get();
    rewrite(i, value_of(b), deadline, flags_of(b), version);
    return true;
}

// Backward-shift deletion: close the gap by moving back every later entry of
// the same probe run that may live at or before it, so lookups can keep
// stopping at the first empty slot.
void Store::remove(size_t gap)
{
    const char* b = slots_[gap].get();
    index_.erase(key_of(b));  // before the block goes: the index compares keys
    if (has_deadline(b))
        deadlines_.erase({deadline_of(b), b});
    slots_[gap].reset();
    size_t mask = slots_.size() - 1;
    for (size_t i = (gap + 1) & mask; slots_[i]; i = (i + 1) & mask) {
        size_t h = home(key_of(slots_[i].get()));
        // Movable when its home is not in the cyclic range (gap, i].
        bool home_after_gap = gap < i ? (h > gap && h <= i) : (h > gap || h <= i);
        if (!home_after_gap) {
            slots_[gap] = std::move(slots_[i]);
            gap = i;
        }
    }
    --stored_;
}

void Store::reclaim(size_t slot)
{
    remove(slot);
    ++expired_total_;
}

size_t Store::reclaim_expired(size_t budget)
{
    if (deadlines_.empty() || mirror_)
        return 0;
    int64_t now = clock_.now_ms();
    size_t n = 0;
    for (; n < budget && !deadlines_.empty() && deadlines_.begin()->first <= now; ++n)
        reclaim(find(key_of(deadlines_.begin()->second)));
    return n;
}

int64_t Store::next_deadline() const
{
    return deadlines_.empty() ? kNoDeadline : deadlines_.begin()->first;
}

size_t Store::size() const
{
    if (deadlines_.empty())
        return stored_;
    int64_t now = clock_.now_ms();
    size_t expired = 0;
    for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now; ++it)
        ++expired;
    return stored_ - expired;
}

void Store::apply(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags, uint64_t version)
{
    ignore_capacity_ = true;
    try {
        put(key, value, deadline, flags);
    } catch (...) {
        ignore_capacity_ = false;
        throw;
    }
    ignore_capacity_ = false;
    // The put gave it the next version; etcd's is the one every host shares.
    store_le(slots_[find(key)].get() + kVersionAt, 8, version);
    last_version_ = std::max(last_version_, version);
}

bool Store::apply_erase(std::string_view key)
{
    size_t i = find(key);
    if (i == kNone)
        return false;
    remove(i);
    return true;
}

std::optional<Store::Entry> Store::peek_any(std::string_view key, bool* is_expired) const
{
    size_t i = find(key);
    if (i == kNone)
        return std::nullopt;
    const char* b = slots_[i].get();
    if (is_expired)
        *is_expired = has_deadline(b) && expired(b, clock_.now_ms());
    return Entry{value_of(b), version_of(b), deadline_of(b), flags_of(b)};
}

std::vector<std::pair<std::string, uint64_t>> Store::expired_entries(size_t limit) const
{
    std::vector<std::pair<std::string, uint64_t>> out;
    int64_t now = clock_.now_ms();
    for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now && out.size() < limit; ++it)
        out.emplace_back(std::string(key_of(it->second)), version_of(it->second));
    return out;
}

void Store::raise_version_floor(uint64_t v)
{
    last_version_ = std::max(last_version_, v);
}

std::vector<std::string_view> Store::keys(std::string_view prefix) const
{
    std::vector<std::string_view> out;
    keys_page(prefix, "", SIZE_MAX, out);
    return out;
}

// Starts at the first key of the index past both `after` and the start of
// the prefix's range, and walks in order until the range ends or `limit`,
// skipping expired entries.
bool Store::keys_page(std::string_view prefix, std::string_view after, size_t limit,
                      std::vector<std::string_view>& out) const
{
    int64_t now = deadlines_.empty() ? 0 : clock_.now_ms();
    auto it = after < prefix ? index_.lower_bound(prefix) : index_.upper_bound(after);
    for (size_t n = 0; it != index_.end(); ++it) {
        std::string_view key = key_of(*it);
        if (!key.starts_with(prefix))
            return false;
        if (expired(*it, now))
            continue;
        if (n == limit)
            return true;
        out.push_back(key);
        ++n;
    }
    return false;
}

Store::ProbeStats Store::probe_stats() const
{
    ProbeStats st;
    size_t mask = slots_.size() - 1;
    size_t run = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i]) {
            run = 0;
            continue;
        }
        st.longest_run = std::max(st.longest_run, ++run);
        st.longest_hit = std::max(st.longest_hit, ((i - home(key_of(slots_[i].get()))) & mask) + 1);
    }
    // A run may wrap around the end of the table into its start.
    if (run != 0 && run != slots_.size())
        for (size_t i = 0; i < slots_.size() && slots_[i]; ++i)
            st.longest_run = std::max(st.longest_run, ++run);
    return st;
}

void Store::clear()
{
    deadlines_.clear();
    index_.clear();
    slots_.clear();
    slots_.shrink_to_fit();
    stored_ = 0;
}

}  // namespace kv
