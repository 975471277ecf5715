// store_layout: what 1M entries (16-byte keys, 32-byte values, T6) cost in
// resident memory, laid out two ways:
//   map   std::unordered_map<std::string, std::string>, as kvstored keeps them
//   flat  one allocation per entry (u8 key length, u32 value length, key,
//         value) behind an open-addressing table of pointers
//   store            kvstored's own kv::Store (kvstored/store.h), no deadlines
//   store-deadlines  kv::Store, every entry with a deadline: random ones
//                    within the next hour (the deadline index in random order)
//   store-deadlines-seq  the same with deadlines in insertion order (as when
//                    every key gets the same TTL)
//   store-flags      kv::Store, no deadlines, every entry with memcached
//                    flags (issue 16: 4 more bytes in the block)
// It prints bytes per entry from the growth of VmRSS, to compare with
// kvstored's Rss delta and Redis's used_memory per key (bench/README.md).
//
// usage: store_layout map|flat|store|store-deadlines|store-deadlines-seq|store-flags [ENTRIES]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store.h"

namespace {

long rss_kib()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6);
    return -1;
}

// As kvstored's Store::Hash: string_view look-ups without building a string.
struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::string key_of(size_t i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "key.%012zu", i);
    return buf;
}

void fill_map(size_t n, const std::string& value)
{
    auto* map = new std::unordered_map<std::string, std::string, Hash, std::equal_to<>>;  // kept to the end
    for (size_t i = 0; i < n; ++i)
        map->emplace(key_of(i), value);
}

void fill_flat(size_t n, const std::string& value)
{
    size_t slots = 1;
    while (slots < 2 * n)
        slots <<= 1;  // load factor 0.5 or less
    auto* table = new std::vector<char*>(slots, nullptr);  // kept to the end
    for (size_t i = 0; i < n; ++i) {
        std::string key = key_of(i);
        auto value_len = static_cast<uint32_t>(value.size());
        auto* entry = static_cast<char*>(std::malloc(1 + 4 + key.size() + value.size()));
        entry[0] = static_cast<char>(key.size());
        std::memcpy(entry + 1, &value_len, 4);
        std::memcpy(entry + 5, key.data(), key.size());
        std::memcpy(entry + 5 + key.size(), value.data(), value.size());
        size_t slot = std::hash<std::string_view>{}(key) & (slots - 1);
        while ((*table)[slot])
            slot = (slot + 1) & (slots - 1);
        (*table)[slot] = entry;
    }
}

// Deadlines 1 h to 2 h ahead: none expires while the bench runs.
void fill_store(size_t n, const std::string& value, bool deadlines, bool in_order, bool flags)
{
    auto* store = new kv::Store(n);  // kept to the end
    std::mt19937_64 rng(1);
    const int64_t base = kv::system_clock().now_ms() + 3'600'000;
    for (size_t i = 0; i < n; ++i) {
        int64_t deadline = kv::kNoDeadline;
        if (deadlines)
            deadline
                = base + (in_order ? static_cast<int64_t>(i % 3'600'000) : static_cast<int64_t>(rng() % 3'600'000));
        store->put(key_of(i), value, deadline, flags ? 42 : 0);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    std::string layout = argc > 1 ? argv[1] : "";
    size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000000;
    const bool known = layout == "map" || layout == "flat" || layout == "store" || layout == "store-deadlines"
        || layout == "store-deadlines-seq" || layout == "store-flags";
    if (!known || n == 0) {
        std::fprintf(stderr, "usage: %s map|flat|store|store-deadlines|store-deadlines-seq|store-flags [ENTRIES]\n",
                     argv[0]);
        return 2;
    }
    const std::string value(32, 'v');
    long before = rss_kib();
    if (layout == "map")
        fill_map(n, value);
    else if (layout == "flat")
        fill_flat(n, value);
    else
        fill_store(n, value, layout.starts_with("store-deadlines"), layout == "store-deadlines-seq",
                   layout == "store-flags");
    long after = rss_kib();
    std::printf("%s: %zu entries, %.1f bytes per entry (VmRSS %ld -> %ld KiB)\n", layout.c_str(), n,
                static_cast<double>(after - before) * 1024.0 / static_cast<double>(n), before, after);
    return 0;
}
