// store.cc: see store.h.
#include "store.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

namespace kv {
namespace {

constexpr size_t kHeader = 1 + 4;  // u8 key length, u32 value length
constexpr size_t kMinSlots = 16;

}  // namespace

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

std::string_view Store::key_of(const Block& b)
{
    return {&b[kHeader], static_cast<uint8_t>(b[0])};
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

size_t Store::home(std::string_view key) const
{
    return std::hash<std::string_view>{}(key) & (slots_.size() - 1);
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
        if (value_of(slots_[i]).size() != value.size())
            slots_[i] = make_block(key, value);
        else if (!value.empty())
            std::memcpy(value_data(slots_[i]), value.data(), value.size());
        return PutResult::Replaced;
    }
    if (full())
        return PutResult::Full;
    if ((size_ + 1) * 4 > slots_.size() * 3)
        grow();
    place(make_block(key, value));
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
    for (const Block& b : slots_)
        if (b && key_of(b).starts_with(prefix))
            out.push_back(key_of(b));
    std::sort(out.begin(), out.end());
    return out;
}

// Placeholder: scans every slot (to be replaced by an ordered index).
bool Store::keys_page(std::string_view prefix, std::string_view after, size_t limit,
                      std::vector<std::string_view>& out) const
{
    std::vector<std::string_view> all;
    for (const Block& b : slots_)
        if (b && key_of(b).starts_with(prefix) && key_of(b) > after)
            all.push_back(key_of(b));
    std::sort(all.begin(), all.end());
    bool more = all.size() > limit;
    if (more)
        all.resize(limit);
    out.insert(out.end(), all.begin(), all.end());
    return more;
}

void Store::clear()
{
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
}

}  // namespace kv
