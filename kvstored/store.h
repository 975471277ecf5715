// store.h: the capped in-memory key-value map.
//
// Invariants:
//  - size() <= capacity() at all times. A put of a new key when full is
//    refused (PutResult::Full); there is no eviction, so nothing a client saved
//    ever disappears behind its back. Overwriting an existing key always works.
//  - Keys (1-255 bytes here; the protocol allows 250) and values are arbitrary
//    bytes; the protocol layer validates them.
//  - Reads never touch disk; persistence, when enabled, mirrors this map.
//  - Every entry is in both structures below, and nothing else is.
//
// Layout, for memory (bench/README.md, T6): each entry is ONE heap block,
//     | u8 key length | u32 value length | key bytes | value bytes |
// owned by an open-addressing table of pointers to those blocks, linear
// probing, at most 3/4 full, with backward-shift deletion (so there are no
// tombstones and every empty slot ends a probe). A 16-byte key with a 32-byte
// value costs a 64-byte allocation plus 8-16 bytes of table.
//
// Hash (issue 13, hash flooding): a slot is chosen by SipHash-2-4 (libsodium's
// crypto_shorthash) under a 128-bit key drawn from the system's random source
// for each Store. With a fixed hash (std::hash) anyone could compute offline a
// set of keys that share one probe run, making every lookup, insert and the
// start-up load linear in their number (quadratic in total); with a secret
// seed the slots of any key set a client can choose are uniformly random, and
// probe runs stay short (probe_stats() lets tests check it). Cost, measured
// (bench/README.md, "Hash flooding"): 23 ns per hash of a 16-byte key against
// 5.6 ns for std::hash and 11 ns for a hand-written SipHash-1-3; a lookup in a
// 10k-entry store 40-60 ns against 38 (1-3: 34-56). That is 1 % of the ~4 us
// kvstored spends per request, and libsodium's implementation is the
// maintained, reviewed one Debian ships, so we do not carry our own.
//
// Ordered index (issue 13, point 5): an absl::btree_set of the same block
// pointers, ordered bytewise by key, serves sorted listings: keys_page costs
// O(log n + page) instead of a scan of every slot and a sort. It owns nothing;
// put, erase and clear keep it in step (a replace that needs a bigger or
// smaller block re-points the element in place: the key, so its position, is
// unchanged). Cost, measured (bench/README.md, "Ordered index"): about 10
// bytes per entry (pointers in 256-byte nodes; T6), and one search of the tree
// per insert, erase or size-changing replace: +0.1-0.25 us at 10k entries,
// about +2 us at 1M (each comparison reads a key from a block: cache misses).
// A page of 100 keys at 1M entries: 4 us instead of 240 ms.
#pragma once

#include <absl/container/btree_set.h>

#include <array>
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

    // Draws the hash key from the system's random source (libsodium's
    // randombytes_buf); throws std::runtime_error if libsodium cannot start.
    explicit Store(size_t capacity);

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
    // O(log size() + limit).
    bool keys_page(std::string_view prefix, std::string_view after, size_t limit,
                   std::vector<std::string_view>& out) const;
    void clear();

    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    bool full() const { return size_ >= capacity_; }

    // How long lookups can get, for tests and benches (O(slots)):
    //  longest_hit   slots examined by the worst lookup of a present key
    //  longest_run   the longest run of occupied slots: what a lookup of an
    //                absent key may examine
    struct ProbeStats {
        size_t longest_hit = 0;
        size_t longest_run = 0;
    };
    ProbeStats probe_stats() const;

private:
    using Block = std::unique_ptr<char[]>;
    static constexpr size_t kNone = SIZE_MAX;

    static Block make_block(std::string_view key, std::string_view value);
    static std::string_view key_of(const char* b);
    static std::string_view key_of(const Block& b) { return key_of(b.get()); }
    static std::string_view value_of(const Block& b);
    static char* value_data(const Block& b);

    // Orders block pointers by their keys; also compares with plain keys,
    // so the index can be searched with a string_view.
    struct KeyLess {
        using is_transparent = void;
        static std::string_view as_key(const char* b) { return key_of(b); }
        static std::string_view as_key(std::string_view k) { return k; }
        template <class A, class B> bool operator()(const A& a, const B& b) const
        {
            return as_key(a) < as_key(b);  // char_traits<char>: bytewise, unsigned
        }
    };

    size_t home(std::string_view key) const;  // the slot a key hashes to
    size_t find(std::string_view key) const;  // its slot, or kNone
    void grow();
    void place(Block b);  // into the first free slot from its home

    size_t capacity_;
    size_t size_ = 0;
    std::array<unsigned char, 16> hash_key_;  // crypto_shorthash_KEYBYTES
    std::vector<Block> slots_;  // size 0 or a power of two
    absl::btree_set<const char*, KeyLess> index_;  // the blocks of slots_, by key
};

}  // namespace kv
