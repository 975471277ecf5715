// store_ops: the cost of kv::Store's operations (kvstored/store.h), linked
// with kvstored's own store.cc, measured in thread CPU time (so that other
// processes on a busy machine do not count) as the median of --reps runs.
//
//   put     insert N fresh keys ("key." + 12 digits, 32-byte values), in a
//           shuffled order, into an empty store of capacity N
//   get     look up each of the N keys once, in a shuffled order
//   miss    look up N absent keys
//   replace overwrite each key with a value of another size (a new block)
//   page    one keys_page of 100 keys after a random cursor
//   zz      keys_page("zz", "", 100): a prefix that matches nothing
//   erase   erase every key, in a shuffled order
// and, issue 14 (deadlines and eviction):
//   put-ttl   put with a deadline (random, 1-2 h ahead) into an empty store
//   get-ttl   get of entries that have a deadline (a read of the system
//             clock each)
//   reclaim   reclaim_expired of all of them once past their deadlines
//             (the clock is moved 2 h on), per entry
//   get-evict get in a WhenFull::Evict store (a clock read and a stamp)
//   put-evict put of N new keys into a full WhenFull::Evict store: each
//             samples 16 slots and evicts one
//
// usage: store_ops [ENTRIES] [REPS]    (defaults 1000000 and 5)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "store.h"

namespace {

double cpu_ns()
{
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

std::string key_of(size_t i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "key.%012zu", i);
    return buf;
}

// The system clock, moved on by `offset` ms: the real cost of a read, and
// deadlines that can be made to pass without waiting.
class OffsetClock final : public kv::Clock {
public:
    int64_t now_ms() const override { return kv::system_clock().now_ms() + offset; }
    int64_t coarse_now_ms() const override { return kv::system_clock().coarse_now_ms() + offset; }
    int64_t offset = 0;
};

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv)
{
    size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
    int reps = argc > 2 ? std::atoi(argv[2]) : 5;
    if (n == 0 || reps <= 0) {
        std::fprintf(stderr, "usage: %s [ENTRIES] [REPS]\n", argv[0]);
        return 2;
    }
    std::vector<std::string> keys, absent;
    for (size_t i = 0; i < n; ++i) {
        keys.push_back(key_of(2 * i));
        absent.push_back(key_of(2 * i + 1));
    }
    std::mt19937_64 rng(1);
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
        order[i] = i;
    const std::string value(32, 'v'), other(40, 'w');

    std::vector<double> put, get, miss, replace, page, zz, erase;
    std::vector<double> put_ttl, get_ttl, reclaim, get_evict, put_evict;
    size_t sink = 0;
    for (int r = 0; r < reps; ++r) {
        kv::Store s(n);
        std::shuffle(order.begin(), order.end(), rng);
        double t = cpu_ns();
        for (size_t i : order)
            s.put(keys[i], value);
        put.push_back((cpu_ns() - t) / static_cast<double>(n));
        std::shuffle(order.begin(), order.end(), rng);
        t = cpu_ns();
        for (size_t i : order)
            sink += s.get(keys[i])->value.size();
        get.push_back((cpu_ns() - t) / static_cast<double>(n));
        t = cpu_ns();
        for (const std::string& k : absent)
            sink += s.contains(k);
        miss.push_back((cpu_ns() - t) / static_cast<double>(n));
        const int pages = 20;
        std::vector<std::string_view> out;
        t = cpu_ns();
        for (int p = 0; p < pages; ++p) {
            out.clear();
            sink += s.keys_page("", keys[order[p]], 100, out);
        }
        page.push_back((cpu_ns() - t) / pages);
        t = cpu_ns();
        for (int p = 0; p < pages; ++p) {
            out.clear();
            sink += s.keys_page("zz", "", 100, out);
        }
        zz.push_back((cpu_ns() - t) / pages);
        t = cpu_ns();
        for (size_t i : order)
            s.put(keys[i], other);
        replace.push_back((cpu_ns() - t) / static_cast<double>(n));
        t = cpu_ns();
        for (size_t i : order)
            sink += s.erase(keys[i]);
        erase.push_back((cpu_ns() - t) / static_cast<double>(n));
    }
    const double per = static_cast<double>(n);
    for (int r = 0; r < reps; ++r) {
        OffsetClock clock;
        kv::Store s(n, kv::WhenFull::Refuse, clock);
        std::shuffle(order.begin(), order.end(), rng);
        const int64_t base = clock.now_ms() + 3'600'000;
        double t = cpu_ns();
        for (size_t i : order)
            s.put(keys[i], value, base + static_cast<int64_t>(rng() % 3'600'000));
        put_ttl.push_back((cpu_ns() - t) / per);
        std::shuffle(order.begin(), order.end(), rng);
        t = cpu_ns();
        for (size_t i : order)
            sink += s.get(keys[i])->value.size();
        get_ttl.push_back((cpu_ns() - t) / per);
        clock.offset = 2 * 3'600'000;
        t = cpu_ns();
        sink += s.reclaim_expired(n);
        reclaim.push_back((cpu_ns() - t) / per);
    }
    for (int r = 0; r < reps; ++r) {
        kv::Store s(n, kv::WhenFull::Evict);
        for (size_t i = 0; i < n; ++i)
            s.put(keys[i], value);
        std::shuffle(order.begin(), order.end(), rng);
        double t = cpu_ns();
        for (size_t i : order)
            sink += s.get(keys[i])->value.size();
        get_evict.push_back((cpu_ns() - t) / per);
        t = cpu_ns();
        for (const std::string& k : absent)
            s.put(k, value);
        put_evict.push_back((cpu_ns() - t) / per);
        sink += s.evicted_total() == n;
    }
    std::printf("%zu entries, median of %d runs (thread CPU time)\n", n, reps);
    std::printf("put %.1f ns, get %.1f ns, miss %.1f ns, replace %.1f ns, erase %.1f ns\n", median(put), median(get),
                median(miss), median(replace), median(erase));
    std::printf("keys_page of 100 after a cursor: %.1f us; keys_page(\"zz\"): %.1f us\n", median(page) / 1e3,
                median(zz) / 1e3);
    std::printf("put-ttl %.1f ns, get-ttl %.1f ns, reclaim %.1f ns per entry; Evict mode: get %.1f ns, put with "
                "eviction %.1f ns\n",
                median(put_ttl), median(get_ttl), median(reclaim), median(get_evict), median(put_evict));
    return sink == 0 ? 1 : 0;
}
