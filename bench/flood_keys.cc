// flood_keys: writes keys for the hash-flooding bench (bench/README.md, "Hash
// flooding"), one a line, 16 bytes each like kvbench's ("f" + 15 digits):
//
//   std     keys whose std::hash<string_view> (the store's hash until issue
//           13) falls in the first 2^WIDTH of 2^TABLE slots: with the old
//           store they all share one probe run
//   sip0    the same against SipHash-2-4 under an all-zero key (a guessed
//           seed): what an attacker would try against a keyed hash
//   random  the first COUNT candidates, whatever their hash (the baseline)
//
// The low TABLE bits decide the slot in a table of 2^TABLE slots and the
// low bits of every smaller table too, so the keys cluster while the table
// grows. Candidates that qualify: one in 2^(TABLE - WIDTH).
//
// usage: flood_keys std|sip0|random COUNT TABLE WIDTH > FILE
//   e.g. flood_keys std 10000 14 6       (the default capacity's 16384 slots)
//        flood_keys std 150000 18 12     (150k keys: 262144 slots)
#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace {

uint64_t sip_zero(std::string_view key)
{
    static const unsigned char zero_key[crypto_shorthash_KEYBYTES] = {};
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), zero_key);
    uint64_t h;
    std::memcpy(&h, out, sizeof h);
    return h;
}

}  // namespace

int main(int argc, char** argv)
{
    std::string kind = argc == 5 ? argv[1] : "";
    unsigned long count = argc == 5 ? std::strtoul(argv[2], nullptr, 10) : 0;
    unsigned long table = argc == 5 ? std::strtoul(argv[3], nullptr, 10) : 0;
    unsigned long width = argc == 5 ? std::strtoul(argv[4], nullptr, 10) : 0;
    if ((kind != "std" && kind != "sip0" && kind != "random") || count == 0 || table > 40 || width > table) {
        std::fprintf(stderr, "usage: %s std|sip0|random COUNT TABLE WIDTH > FILE\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0) {
        std::fprintf(stderr, "flood_keys: cannot initialise libsodium\n");
        return 1;
    }
    const uint64_t mask = (uint64_t{1} << table) - 1, limit = uint64_t{1} << width;
    char buf[32];
    for (uint64_t n = 0; count > 0; ++n) {
        std::snprintf(buf, sizeof buf, "f%015llu", static_cast<unsigned long long>(n));
        std::string_view key(buf, 16);
        uint64_t h = kind == "std" ? std::hash<std::string_view>{}(key) : kind == "sip0" ? sip_zero(key) : 0;
        if ((h & mask) < limit) {
            std::printf("%s\n", buf);
            --count;
        }
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
}
