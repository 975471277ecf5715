// store.h: the capped in-memory key-value map.
//
// Invariants:
//  - size() <= capacity() at all times. A put of a new key when full is
//    refused (PutResult::Full); there is no eviction, so nothing a client saved
//    ever disappears behind its back. Overwriting an existing key always works.
//  - Keys and values are arbitrary bytes; the protocol layer validates them.
//  - Reads never touch disk; persistence, when enabled, mirrors this map.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kv {

class Store {
public:
    enum class PutResult { Inserted, Replaced, Full };

    explicit Store(size_t capacity) : capacity_(capacity) { }

    PutResult put(std::string_view key, std::string_view value);
    // nullptr when absent. Valid until the next mutation.
    const std::string* get(std::string_view key) const;
    bool erase(std::string_view key);
    bool contains(std::string_view key) const { return get(key) != nullptr; }
    // Keys starting with `prefix`, sorted bytewise.
    std::vector<std::string_view> keys(std::string_view prefix) const;
    void clear() { map_.clear(); }

    size_t size() const { return map_.size(); }
    size_t capacity() const { return capacity_; }
    bool full() const { return map_.size() >= capacity_; }

private:
    // Transparent hashing lets string_view look-ups skip building a std::string.
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    size_t capacity_;
    std::unordered_map<std::string, std::string, Hash, std::equal_to<>> map_;
};

}  // namespace kv
