// store.h: the capped in-memory key-value map, with deadlines, versions and a
// choice of what to do when full.
//
// Invariants:
//  - stored() <= capacity() at all times, and size() <= stored(). A put of a
//    new key when stored() == capacity() first reclaims an expired entry if
//    there is one (so a store full of expired entries never refuses a key);
//    else, with WhenFull::Evict, it evicts an approximately least-recently-used
//    live entry; else it is refused (PutResult::Full) and nothing a client
//    saved disappears behind its back. Overwriting an existing key always works.
//  - An entry whose deadline is <= clock().now_ms() is expired: gone for every
//    read (get, peek, contains, keys_page, size, full). It stays in memory,
//    "stored", until something reclaims it: get or erase of its key (lazily),
//    reclaim_expired (actively, earliest deadline first), or a put that needs
//    its room. Reclaiming one counts in expired_total().
//  - Every write of an entry (put, set_deadline) gives it a new version from
//    one store-wide counter: versions only grow, across keys too, so a client
//    can tell whether an entry changed since it read it (compare-and-set).
//    The one exception is asked for by name: a set_deadline with
//    Version::Keep (memcached's touch, which keeps the cas unique).
//  - Keys (1-255 bytes here; the protocol allows 250) and values (under
//    1 GiB) are arbitrary bytes; the protocol layer validates them.
//  - Each entry carries memcached's 32-bit client flags (0 unless the
//    memcached door wrote others); a write either sets them or keeps them
//    (kKeepFlags), set_deadline keeps them.
//  - Reads never touch disk; persistence, when enabled, mirrors this map.
//  - Every entry is in the table and the key index below, an entry with a
//    deadline also in the deadline index, and nothing else is. A mutation
//    that fails (throws: allocation) leaves the store as it was: every step
//    that may throw comes before the first change.
//
// Layout, for memory (bench/README.md, T6): each entry is ONE heap block,
//     | u64 version | u32 value length, bit 31: has a deadline, bit 30: has
//     flags | u8 key length | u24 LRU stamp | [u48 deadline, only if it has
//     one] | [u32 flags, only if not 0] | key | value |
// owned by an open-addressing table of pointers to those blocks, linear
// probing, at most 3/4 full, with backward-shift deletion (so there are no
// tombstones and every empty slot ends a probe). A 16-byte key with a 32-byte
// value is a 64-byte block (70 with a deadline); glibc's malloc rounds both to
// an 80-byte chunk (64 before issue 14: the version alone needs that), so the
// deadline costs nothing in the block there. Add 8-16 bytes of table, about 10
// of key index and, with a deadline, 19-23 of deadline index. Measured
// (bench/store_layout, Rss delta over 1M entries): 106.6 bytes per entry
// without deadlines (90.6 before issue 14), 129.3 with random deadlines, 125.3
// with deadlines in insertion order; Redis 7 used_memory: 136.5 and 176.9.
// Flags (issue 16, memcached's client flags) cost an entry whose flags are 0
// nothing: no bytes, the same figures (bit 30 of the length word says they
// are there, so values must be under 1 GiB; --max-value is under 1 MiB).
// With flags the block is 4 bytes longer: 68 (the same 80-byte chunk), 74
// with a deadline (a 96-byte chunk). Measured after the change: 106.6
// without deadlines, 129.3 and 125.2 with them (unchanged), and 106.6 with
// flags on every entry (store_layout store-flags).
// Time (bench/store_ops, 1M entries, median of 5, noisy shared VM): get and
// put as before within the noise (about 0.6 and 2.6 us: cache misses), erase
// +10-20 % (about 2.7 us), reclaim_expired 2.2 us per entry, a put that
// evicts 3.7-4.3 us. A get of an entry with a deadline reads the precise
// clock (25 ns, but it waits for earlier loads): 0.9-1.2 us in that loop.
// Redis caches the time per command; a caller could pass it in if needed.
//
// Versions start at the construction time in microseconds (and
// raise_version_floor can raise them, for the versions of a database), so
// they keep growing across restarts whose clock moved on.
//
// Eviction (WhenFull::Evict): each entry carries an LRU stamp, the clock in
// units of kStampMs (100 ms) modulo 2^24, set by every get and write. It comes
// from Clock::coarse_now_ms(): a precise read per get made store_ops' get
// loop at 1M entries 1.6-1.9x slower. To make room the store samples
// kEvictionSamples (16) random occupied slots and evicts the one whose stamp
// is oldest, as Redis and memcached do: a true LRU list costs two pointers (16
// bytes) per entry and a write to the list on every read, for a choice that
// only matters statistically. The stamp wraps every 19.4 days (2^24 x 100 ms):
// an entry idle that long looks as young as its age modulo that, which only
// makes the choice less exact for such entries. A step of the clock backwards
// makes the entries stamped before it look oldest until the clock catches up.
// With WhenFull::Refuse the stamps are not kept (no clock read per get of an
// entry without a deadline).
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
//
// Deadline index (issue 14): an absl::btree_set of (deadline, block) pairs,
// one per entry that has a deadline, earliest first. It makes reclaim_expired
// exact (earliest first, O(log n) each, no sampling), size() cheap (count the
// expired prefix) and "is there an expired entry to reclaim for room" O(1).
// The pairs compare without touching the blocks (no cache misses). A block
// that moves (a replace of another size, a deadline added or dropped) is
// re-inserted under its new address: insert first (may throw), then erase.
#pragma once

#include <absl/container/btree_set.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clock.h"

namespace kv {

enum class WhenFull { Refuse, Evict };

// Deadline arguments and fields: milliseconds since the Unix epoch (clock.h),
// 1 to kMaxDeadline, or one of these.
inline constexpr int64_t kNoDeadline = 0;  // no deadline
inline constexpr int64_t kKeepDeadline = -1;  // put(): keep the entry's deadline (none for a new key)
inline constexpr int64_t kMaxDeadline = (int64_t{1} << 48) - 1;  // the year 10889
// Flags arguments: memcached's 32-bit client flags (0..UINT32_MAX; every door
// but memcached's writes 0), or kKeepFlags: keep the entry's flags (0 for a
// new key), for writes that change a value in place (append, incr, ...).
inline constexpr int64_t kKeepFlags = -1;

class Store {
public:
    enum class PutResult { Inserted, Replaced, Full };

    // A live entry. `value` is valid until the next mutation; `deadline` is
    // kNoDeadline when it has none.
    struct Entry {
        std::string_view value;
        uint64_t version;
        int64_t deadline;
        uint32_t flags = 0;  // memcached's client flags
    };

    // Draws the hash key from the system's random source (libsodium's
    // randombytes_buf); throws std::runtime_error if libsodium cannot start.
    // `clock` must outlive the store.
    explicit Store(size_t capacity, WhenFull when_full = WhenFull::Refuse, const Clock& clock = system_clock());

    // `key` must be 1 to kMaxKey bytes (the callers validate keys).
    static constexpr size_t kMaxKey = 255;

    // Sets `key` to `value` with a new version. `deadline`: kNoDeadline,
    // kKeepDeadline or 1..kMaxDeadline (else std::invalid_argument); a
    // deadline already past is allowed and makes the entry expired at once.
    // `flags`: 0..UINT32_MAX, or kKeepFlags (the live entry's flags, 0 for a
    // new key); else std::invalid_argument.
    // An expired entry of the same key counts as absent (Inserted). A new key
    // when stored() == capacity(): reclaims an expired entry if any (both
    // modes), else in Evict mode evicts an approximately-LRU live entry, else
    // Full. `displaced`, if given, receives the key of the entry removed to
    // make room (expired or evicted), else "". Throws (std::bad_alloc,
    // std::length_error for a value of 1 GiB or more) with nothing changed.
    PutResult put(std::string_view key, std::string_view value, int64_t deadline = kNoDeadline, int64_t flags = 0,
                  std::string* displaced = nullptr);
    // The live entry; nullopt when absent or expired (an expired entry is
    // reclaimed). Marks the entry used (Evict mode).
    std::optional<Entry> get(std::string_view key);
    // As get, but changes nothing.
    std::optional<Entry> peek(std::string_view key) const;
    bool contains(std::string_view key) const { return peek(key).has_value(); }
    // True iff a live entry was removed (an expired one is reclaimed: false).
    bool erase(std::string_view key);
    // Gives the live entry `key` the deadline (1..kMaxDeadline, or
    // kNoDeadline to drop it; else std::invalid_argument) and a new version
    // (Version::Keep: the version it has, as memcached's touch keeps the cas
    // unique); its flags stay.
    // False, nothing changed, if the key is absent or expired.
    enum class Version { New, Keep };
    bool set_deadline(std::string_view key, int64_t deadline, Version version = Version::New);

    // Live keys starting with `prefix`, sorted bytewise; valid until the next
    // mutation.
    std::vector<std::string_view> keys(std::string_view prefix) const;
    // One page of a sorted listing of live keys: appends to `out`, in bytewise
    // order, up to `limit` keys that start with `prefix` and sort after
    // `after` ("" for the first page). Views are valid until the next
    // mutation. Returns true when more matching keys may follow the last one
    // appended (the caller resumes with `after` = that key). Keys present for
    // a whole listing are listed exactly once; keys added, removed or expired
    // meanwhile may or may not be. O(log stored() + limit + expired entries
    // skipped).
    bool keys_page(std::string_view prefix, std::string_view after, size_t limit,
                   std::vector<std::string_view>& out) const;
    // Removes every entry (versions keep growing; the totals stay).
    void clear();

    // Live entries. O(expired entries not yet reclaimed).
    size_t size() const;
    // Entries held, expired ones not yet reclaimed included. O(1).
    size_t stored() const { return stored_; }
    size_t capacity() const { return capacity_; }
    // size() >= capacity(): no room for a new key without evicting.
    bool full() const { return size() >= capacity_; }
    WhenFull when_full() const { return when_full_; }
    const Clock& clock() const { return clock_; }

    // Active expiry: reclaims up to `budget` expired entries, earliest
    // deadline first; returns how many. O(budget log stored()).
    size_t reclaim_expired(size_t budget);
    // The earliest deadline held (expired or not), kNoDeadline if none. O(1).
    int64_t next_deadline() const;
    // Entries reclaimed past their deadline: lazily, actively, to make room,
    // or overwritten by a put.
    uint64_t expired_total() const { return expired_total_; }
    // Entries held that have a deadline, expired ones not yet reclaimed
    // included (Redis's INFO keyspace "expires" counts the same). O(1).
    size_t with_deadline() const { return deadlines_.size(); }
    // Live entries evicted to make room (Evict mode).
    uint64_t evicted_total() const { return evicted_total_; }

    // --- Mirror mode (the etcd backend, docs/scale-out.md) -----------------
    // The store mirrors etcd's copy: an entry is held exactly while its key
    // exists in etcd, expired or not. So it never reclaims an expired entry
    // by itself (get and erase skip it, reclaim_expired does nothing, a put
    // of a new key at capacity is Full: the elected host deletes expired
    // keys in etcd, and their deletion comes back through apply_erase), and
    // versions are etcd's mod_revisions, set by apply.
    void set_mirror(bool on) { mirror_ = on; }
    bool mirror() const { return mirror_; }
    // Sets `key` to exactly this entry, whatever the capacity (etcd enforces
    // it): version included. Throws as put does, with nothing changed.
    void apply(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags, uint64_t version);
    // Removes the entry of `key`, expired or not. True if there was one.
    bool apply_erase(std::string_view key);
    // The entry held for `key`, expired or not; `expired` tells which.
    std::optional<Entry> peek_any(std::string_view key, bool* expired = nullptr) const;
    // Up to `limit` expired entries, earliest deadline first: (key, version).
    std::vector<std::pair<std::string, uint64_t>> expired_entries(size_t limit) const;
    // While `log` is set, get() and peek() (and so contains()) append the key
    // they look up to it: the keys a write command's answer rests on
    // (EtcdBackend::write_command). nullptr stops it.
    void log_reads(std::vector<std::string>* log) { read_log_ = log; }

    // Every later version is > v.
    void raise_version_floor(uint64_t v);
    // The highest version handed out (or the floor, before any write): every
    // later version is greater.
    uint64_t last_version() const { return last_version_; }

    // How long lookups can get, for tests and benches (O(slots)):
    //  longest_hit   slots examined by the worst lookup of a present key
    //  longest_run   the longest run of occupied slots: what a lookup of an
    //                absent key may examine
    struct ProbeStats {
        size_t longest_hit = 0;
        size_t longest_run = 0;
    };
    ProbeStats probe_stats() const;

    // Eviction: how many slots are sampled, and the LRU stamp's unit.
    static constexpr int kEvictionSamples = 16;
    static constexpr int64_t kStampMs = 100;

private:
    using Block = std::unique_ptr<char[]>;
    using DeadlineIndex = absl::btree_set<std::pair<int64_t, const char*>>;
    static constexpr size_t kNone = SIZE_MAX;

    static Block make_block(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags,
                            uint64_t version, uint32_t stamp);
    static std::string_view key_of(const char* b);

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
    size_t find_live(std::string_view key);  // the same for a live entry; reclaims an expired one
    void grow();
    void place(Block b);  // into the first free slot from its home
    void remove(size_t slot);  // from the table and both indexes
    void reclaim(size_t slot);  // remove an expired entry, counted
    bool expired(const char* b, int64_t now) const;
    // Writes the entry in `slot` anew: value, deadline (not kKeepDeadline),
    // flags, the next version (Version::Keep: its own), stamp.
    void rewrite(size_t slot, std::string_view value, int64_t deadline, uint32_t flags, Version rule = Version::New);
    PutResult insert(std::string_view key, std::string_view value, int64_t deadline, uint32_t flags,
                     std::string* displaced);
    size_t eviction_victim();  // a slot, by sampling; the table is not empty
    uint32_t stamp_now() const;  // the LRU stamp for now (0 in Refuse mode)
    static uint32_t stamp_at(int64_t now_ms);
    uint64_t next_random();

    size_t capacity_;
    WhenFull when_full_;
    const Clock& clock_;
    size_t stored_ = 0;
    uint64_t last_version_;
    uint64_t expired_total_ = 0;
    uint64_t evicted_total_ = 0;
    uint64_t rng_state_;  // eviction sampling (splitmix64)
    std::array<unsigned char, 16> hash_key_;  // crypto_shorthash_KEYBYTES
    std::vector<Block> slots_;  // size 0 or a power of two
    absl::btree_set<const char*, KeyLess> index_;  // the blocks of slots_, by key
    DeadlineIndex deadlines_;  // (deadline, block) of the blocks that have one
    bool mirror_ = false;  // see set_mirror()
    std::vector<std::string>* read_log_ = nullptr;  // see log_reads()
    bool ignore_capacity_ = false;  // within apply()
};

}  // namespace kv
