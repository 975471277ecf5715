// store.cc: see store.h.
#include "store.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace kv {
namespace {

constexpr size_t kHeader = 1 + 4;  // u8 key length, u32 value length
constexpr size_t kMinSlots = 16;

static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);

}  // namespace

Store::Store(size_t capacity) : capacity_(capacity)
{
    // sodium_init is idempotent and thread-safe; randombytes_buf needs it.
    if (sodium_init() < 0)
        throw std::runtime_error("store: cannot initialise libsodium (for the hash key)");
    randombytes_buf(hash_key_.data(), hash_key_.size());
}

Store::Block Store::make_block(std::string_view key, std::string_view value)
{
    auto key_len = static_cast<uint8_t>(key.size());
    auto value_len = static_cast<uint32_t>(value.size());
    Block b = std::make_unique_for_overwrite<char[]>(kHeader + key.size() + value.size());
    b[0] = static_cast<char>(key_len);
    std::memcpy(&b[1], &value_len, 4);
    // An empty view may have a null data() (SQLite returns one for an empty
    // blob), and memcpy from null is undefined even for 0 bytes.
    if (!key.empty())
        std::memcpy(&b[kHeader], key.data(), key.size());
    if (!value.empty())
        std::memcpy(&b[kHeader + key.size()], value.data(), value.size());
    return b;
}

std::string_view Store::key_of(const char* b)
{
    return {b + kHeader, static_cast<uint8_t>(b[0])};
}

std::string_view Store::value_of(const Block& b)
{
    uint32_t value_len;
    std::memcpy(&value_len, &b[1], 4);
    return {value_data(b), value_len};
}

char* Store::value_data(const Block& b)
{
    return &b[kHeader + static_cast<uint8_t>(b[0])];
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
        if (key_of(slots_[i]) == key)
            return i;
    }
}

void Store::place(Block b)
{
    size_t i = home(key_of(b));
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

Store::PutResult Store::put(std::string_view key, std::string_view value)
{
    if (size_t i = find(key); i != kNone) {
        if (value_of(slots_[i]).size() != value.size()) {
            Block b = make_block(key, value);
            // Same key, so the same place in the index: re-point the element
            // there (no allocation, nothing can fail half-way).
            auto it = index_.find(key);
            const_cast<const char*&>(*it) = b.get();
            slots_[i] = std::move(b);
        } else if (!value.empty()) {
            std::memcpy(value_data(slots_[i]), value.data(), value.size());
        }
        return PutResult::Replaced;
    }
    if (full())
        return PutResult::Full;
    // Every step that may throw (allocations) comes before the first change
    // that would need undoing: a failed put leaves the store as it was.
    Block b = make_block(key, value);
    if ((size_ + 1) * 4 > slots_.size() * 3)
        grow();
    index_.insert(b.get());
    place(std::move(b));
    ++size_;
    return PutResult::Inserted;
}

std::optional<std::string_view> Store::get(std::string_view key) const
{
    size_t i = find(key);
    if (i == kNone)
        return std::nullopt;
    return value_of(slots_[i]);
}

// Backward-shift deletion: close the gap by moving back every later entry of
// the same probe run that may live at or before it, so lookups can keep
// stopping at the first empty slot.
bool Store::erase(std::string_view key)
{
    size_t gap = find(key);
    if (gap == kNone)
        return false;
    index_.erase(key);  // before the block goes: the index compares keys
    slots_[gap].reset();
    size_t mask = slots_.size() - 1;
    for (size_t i = (gap + 1) & mask; slots_[i]; i = (i + 1) & mask) {
        size_t h = home(key_of(slots_[i]));
        // Movable when its home is not in the cyclic range (gap, i].
        bool home_after_gap = gap < i ? (h > gap && h <= i) : (h > gap || h <= i);
        if (!home_after_gap) {
            slots_[gap] = std::move(slots_[i]);
            gap = i;
        }
    }
    --size_;
    return true;
}

std::vector<std::string_view> Store::keys(std::string_view prefix) const
{
    std::vector<std::string_view> out;
    keys_page(prefix, "", SIZE_MAX, out);
    return out;
}

// Starts at the first key of the index past both `after` and the start of
// the prefix's range, and walks in order until the range ends or `limit`.
bool Store::keys_page(std::string_view prefix, std::string_view after, size_t limit,
                      std::vector<std::string_view>& out) const
{
    auto it = after < prefix ? index_.lower_bound(prefix) : index_.upper_bound(after);
    for (size_t n = 0; it != index_.end(); ++it, ++n) {
        std::string_view key = key_of(*it);
        if (!key.starts_with(prefix))
            return false;
        if (n == limit)
            return true;
        out.push_back(key);
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
        st.longest_hit = std::max(st.longest_hit, ((i - home(key_of(slots_[i]))) & mask) + 1);
    }
    // A run may wrap around the end of the table into its start.
    if (run != 0 && run != slots_.size())
        for (size_t i = 0; i < slots_.size() && slots_[i]; ++i)
            st.longest_run = std::max(st.longest_run, ++run);
    return st;
}

void Store::clear()
{
    index_.clear();
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
}

}  // namespace kv
