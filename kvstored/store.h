// store.h: the capped in-memory key-value map.
//
// Invariants:
//  - size() <= capacity() at all times. A put of a new key when full is
//    refused (PutResult::Full); there is no eviction, so nothing a client saved
//    ever disappears behind its back. Overwriting an existing key always works.
//  - Keys (1-255 bytes here; the protocol allows 250) and values are arbitrary
//    bytes; the protocol layer validates them.
//  - Reads never touch disk; persistence, when enabled, mirrors this map.
//
// Layout, for memory (bench/README.md, T6): each entry is ONE heap block,
//     | u8 key length | u32 value length | key bytes | value bytes |
// and the index is an open-addressing table of pointers to those blocks,
// linear probing, at most 3/4 full, with backward-shift deletion (so there
// are no tombstones and every empty slot ends a probe). A 16-byte key with a
// 32-byte value costs a 64-byte allocation plus 8-16 bytes of table, against
// about 190 bytes as an unordered_map of std::string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace kv {

class Store {
public:
    enum class PutResult { Inserted, Replaced, Full };

    explicit Store(size_t capacity) : capacity_(capacity) { }

    // `key` must be 1 to kMaxKey bytes (the callers validate keys).
    static constexpr size_t kMaxKey = 255;
    PutResult put(std::string_view key, std::string_view value);
    // The value, valid until the next mutation; nullopt when absent.
    std::optional<std::string_view> get(std::string_view key) const;
    bool erase(std::string_view key);
    bool contains(std::string_view key) const { return find(key) != kNone; }
    // Keys starting with `prefix`, sorted bytewise; valid until the next mutation.
    std::vector<std::string_view> keys(std::string_view prefix) const;
    // One page of a sorted listing: appends to `out`, in bytewise order, up to
    // `limit` keys that start with `prefix` and sort after `after` ("" for the
    // first page). Views are valid until the next mutation. Returns true when
    // more matching keys may follow the last one appended (the caller resumes
    // with `after` = that key). Keys present for a whole listing are listed
    // exactly once; keys added or removed meanwhile may or may not be.
    bool keys_page(std::string_view prefix, std::string_view after, size_t limit,
                   std::vector<std::string_view>& out) const;
    void clear();

    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    bool full() const { return size_ >= capacity_; }

private:
    using Block = std::unique_ptr<char[]>;
    static constexpr size_t kNone = SIZE_MAX;

    static Block make_block(std::string_view key, std::string_view value);
    static std::string_view key_of(const Block& b);
    static std::string_view value_of(const Block& b);
    static char* value_data(const Block& b);

    size_t home(std::string_view key) const;  // the slot a key hashes to
    size_t find(std::string_view key) const;  // its slot, or kNone
    void grow();
    void place(Block b);  // into the first free slot from its home

    size_t capacity_;
    size_t size_ = 0;
    std::vector<Block> slots_;  // size 0 or a power of two
};

}  // namespace kv
