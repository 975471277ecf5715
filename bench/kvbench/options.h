// options.h: kvbench's command line, parsed once into a plain struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kvbench {

enum class Protocol { Kv, Redis, Memcache, Echo };

const char* protocol_name(Protocol p);
// "10", "0.5": a seconds option as messages quote it.
std::string format_seconds(double s);

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    unsigned connections = 50;
    unsigned pipeline = 1;  // requests in flight per connection (1 = no pipelining)
    // --rate: requests per second offered in all, spread evenly over the
    // connections (open loop); 0 = closed loop. Latency then runs from when
    // each request was due, so a stall counts against every request it
    // delayed, not just the one in flight (no coordinated omission).
    double rate = 0;
    double duration = 10;  // seconds; the bound unless `requests` is set
    uint64_t requests = 0;  // total requests (sessions with --reconnect); 0 = run for `duration`
    double warmup = 0;  // seconds run, then forgotten, before the measured `duration`
    uint32_t keys = 10000;
    unsigned key_size = 16;  // bytes: "key." and the zero-padded key number
    unsigned value_size = 32;
    unsigned set_weight = 1;  // --ratio SET:GET
    unsigned get_weight = 1;
    bool fill = false;  // SET keys 0..keys-1 once each, in order, then stop
    uint32_t ttl = 0;  // seconds: every SET gives its key this expiry (0: none)
    Protocol protocol = Protocol::Kv;
    bool reconnect = false;
    bool json = false;
    bool allow_remote = false;
    double timeout = 10;  // seconds without any reply before giving up
    uint64_t seed = 1;
    // --key-file: the keys themselves, one a line (then `keys` is their number
    // and `key_size` the longest); empty: generated "key." + number keys.
    std::string key_file;
    std::vector<std::string> key_list;
    // --user and --password-file (kv only): each session sends
    // 'auth USER PASSWORD' before 'connect' (a kvstored with a users file).
    // The password comes from a file, never argv, so ps does not show it.
    std::string user;
    std::string password_file;
    std::string password;
};

// Parses the command line. Returns the options, or nothing with `exit_code`
// set when kvbench should exit at once: 0 after --help or --version (already
// printed), 2 after a usage error (already explained on stderr).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code);

}  // namespace kvbench
