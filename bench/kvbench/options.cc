// options.cc: see options.h. The help text is kvbench's manual.
#include "options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

namespace kvbench {
namespace {

// Reads --key-file: one key a line, 1-250 bytes, no space or control byte
// (kv's rule; bench/flood_keys writes such files). Throws a ValidationError
// naming the file and the line.
std::vector<std::string> read_key_file(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw CLI::ValidationError("--key-file", "cannot open '" + path + "': " + std::strerror(errno));
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        bool ok = !line.empty() && line.size() <= 250;
        for (unsigned char c : line)
            ok = ok && c > ' ' && c != 0x7f;
        if (!ok)
            throw CLI::ValidationError("--key-file",
                                       path + " line " + std::to_string(keys.size() + 1)
                                           + ": a key is 1-250 bytes without spaces or control bytes");
        keys.push_back(std::move(line));
    }
    if (keys.empty())
        throw CLI::ValidationError("--key-file", path + " holds no keys");
    return keys;
}

// Reads --password-file: its first line, without the newline. The line
// protocol ends a request at a newline, so a password cannot hold one.
std::string read_password_file(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw CLI::ValidationError("--password-file", "cannot open '" + path + "': " + std::strerror(errno));
    std::string password;
    std::getline(in, password);
    if (password.empty())
        throw CLI::ValidationError("--password-file", path + " holds no password on its first line");
    return password;
}

constexpr const char* kDescription
    = "kvbench: a load generator for kvstore, Redis and memcached, in the spirit of\n"
      "redis-benchmark and memtier.\n"
      "\n"
      "One thread drives --connections non-blocking TCP connections from one epoll loop.\n"
      "Each connection keeps --pipeline requests in flight and sends the next one as soon\n"
      "as a reply arrives (a closed loop): the latencies are service times at the load the\n"
      "server sustains, not response times at a fixed offered rate.\n"
      "\n"
      "With --rate R the loop is open instead: R requests per second in all, spread\n"
      "evenly over the connections, each sent when it is due whether or not the\n"
      "earlier ones were answered (up to --pipeline in flight per connection; the\n"
      "rest wait their turn). Latency then runs from when a request was due, so a\n"
      "server that stalls is charged for every request it held back, as in wrk2:\n"
      "response times at a fixed offered load, for comparing a server at rest with\n"
      "the same server under some disturbance.\n"
      "\n"
      "The request stream is the same for every protocol, so figures are comparable:\n"
      "request i is a SET when i mod (SET+GET) < SET, else a GET; its key is \"key.\" and a\n"
      "zero-padded number drawn uniformly from 0..KEYS-1 by a generator seeded with --seed\n"
      "(e.g. key.000000004711 with the default --key-size 16); values are --value-size\n"
      "bytes of letters. Latency runs from queueing a request to parsing its reply.\n"
      "\n"
      "With --reconnect every connection instead runs one short session after another:\n"
      "TCP connect, read the greeting (kv and echo only), send one request (kv: 'connect'\n"
      "and the request, in one write), read the replies, close. Ops/s is then sessions\n"
      "per second and the latency is the whole session, connect to last reply.\n";

constexpr const char* kFooter
    = "PROTOCOLS\n"
      "  kv        kvstore's line protocol (docs/protocol.md): read the HELLO greeting,\n"
      "            send 'connect', expect 'OK connected'; then 'save KEY:VALUE' (expects\n"
      "            OK) and 'read KEY' (VALUE ... or NOT_FOUND); with --ttl S,\n"
      "            'save ttl S KEY:VALUE'. With --user, 'auth USER PASSWORD' (expects\n"
      "            'OK authenticated') goes just before 'connect', in the same write.\n"
      "  redis     RESP to redis-server: SET KEY VALUE (+OK), GET KEY ($N or $-1);\n"
      "            with --ttl S, SET KEY VALUE EX S.\n"
      "  memcache  memcached's text protocol: set KEY 0 0 N (STORED), get KEY (VALUE ... END);\n"
      "            with --ttl S, set KEY 0 S N.\n"
      "  echo      a floor for session setup: read a greeting line, then each request\n"
      "            line must come back as one line (bench/echo_floor.c does exactly that).\n"
      "\n"
      "OUTPUT\n"
      "  A report on stdout: requests, ops/s, hits and misses, errors, and latency\n"
      "  p50/p90/p99/p99.9/max from a log-linear histogram (under 1 % relative error).\n"
      "  With --json, one JSON object on one line instead. While it runs, a progress\n"
      "  line is redrawn once a second, only when stdout is a terminal.\n"
      "  An error is an error reply (ERR, -ERR, SERVER_ERROR, ...), a malformed reply,\n"
      "  or a connection that failed or closed under an open request; the first one is\n"
      "  quoted in the report. A failed connection is opened again after 10 ms.\n"
      "\n"
      "BOUNDS\n"
      "  kvbench always stops: after --duration seconds, or once --requests requests\n"
      "  (or --fill's KEYS sets) are answered, or when no reply at all arrived for\n"
      "  --timeout seconds. It talks to loopback addresses only (127.0.0.0/8, ::1)\n"
      "  unless --allow-remote is given.\n"
      "\n"
      "EXIT STATUS\n"
      "  0  the run completed with at least one answered request and no error\n"
      "  1  errors occurred, nothing was answered, or the server stalled (--timeout)\n"
      "  2  bad usage\n"
      "\n"
      "EXAMPLES\n"
      "  kvbench --port 7070                        kvstore via xinetd, 50 conns, 10 s\n"
      "  kvbench --port 6379 --protocol redis --pipeline 16\n"
      "  kvbench --port 11211 --protocol memcache --requests 100000 --json\n"
      "  kvbench --port 7070 --connections 8 --reconnect --duration 5\n"
      "  kvbench --port 7070 --fill --keys 1000000  (SET every key once, then stop)";

const std::map<std::string, Protocol> kProtocols{
    {"kv", Protocol::Kv},
    {"redis", Protocol::Redis},
    {"memcache", Protocol::Memcache},
    {"echo", Protocol::Echo},
};

// "SET:GET", two whole numbers, not both zero.
bool parse_ratio(const std::string& text, unsigned& set, unsigned& get)
{
    auto colon = text.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        return false;
    try {
        size_t used = 0;
        unsigned long s = std::stoul(text.substr(0, colon), &used);
        if (used != colon)
            return false;
        unsigned long g = std::stoul(text.substr(colon + 1), &used);
        if (used != text.size() - colon - 1 || s > 1000000 || g > 1000000 || s + g == 0)
            return false;
        set = static_cast<unsigned>(s);
        get = static_cast<unsigned>(g);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

unsigned digits(uint64_t n)
{
    unsigned d = 1;
    while (n >= 10) {
        n /= 10;
        ++d;
    }
    return d;
}

}  // namespace

const char* protocol_name(Protocol p)
{
    switch (p) {
    case Protocol::Kv:
        return "kv";
    case Protocol::Redis:
        return "redis";
    case Protocol::Memcache:
        return "memcache";
    case Protocol::Echo:
        return "echo";
    }
    return "?";
}

std::string format_seconds(double s)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s);
    return buf;
}

std::optional<Options> parse_options(int argc, char** argv, int& exit_code)
{
    Options o;
    std::string ratio = "1:1";
    CLI::App app{kDescription, "kvbench"};
    app.set_version_flag("--version", "kvbench " KVBENCH_VERSION);
    app.footer(kFooter);
    app.get_formatter()->column_width(24);

    // option_text() replaces CLI11's generated "UINT:UINT in [1 - 10000]=50"
    // with a plain placeholder; defaults and ranges are in the descriptions.
    app.add_option("--host", o.host, "Server address or name; loopback only unless --allow-remote (127.0.0.1)")
        ->option_text("HOST");
    app.add_option("-p,--port", o.port, "Server TCP port (required)")
        ->option_text("PORT")
        ->required()
        ->check(CLI::Range(1, 65535));
    app.add_option("--protocol", o.protocol, "kv, redis, memcache or echo; see PROTOCOLS (kv)")
        ->option_text("NAME")
        ->transform(CLI::CheckedTransformer(kProtocols, CLI::ignore_case));
    app.add_option("-c,--connections", o.connections, "Concurrent connections, 1-10000 (50)")
        ->option_text("N")
        ->check(CLI::Range(1u, 10000u));
    app.add_option("-P,--pipeline", o.pipeline, "Requests in flight per connection, 1-4096; 1 = no pipelining (1)")
        ->option_text("D")
        ->check(CLI::Range(1u, 4096u));
    auto* rate = app.add_option("--rate", o.rate,
                                "Open loop: offer R requests per second in all, spread over the connections "
                                "(closed loop)")
                     ->option_text("R")
                     ->check(CLI::Range(1.0, 1e8));
    auto* duration = app.add_option("-d,--duration", o.duration, "Seconds to measure (10)")
                         ->option_text("S")
                         ->check(CLI::Range(0.1, 86400.0));
    auto* requests = app.add_option("-n,--requests", o.requests,
                                    "Instead of --duration: stop once N requests are answered (N sessions with "
                                    "--reconnect)")
                         ->option_text("N")
                         ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    duration->excludes(requests);
    auto* warmup
        = app.add_option("-w,--warmup", o.warmup, "Run S seconds before the measured --duration and forget them (0)")
              ->option_text("S")
              ->check(CLI::Range(0.0, 3600.0));
    warmup->excludes(requests);
    app.add_option("-k,--keys", o.keys, "Distinct keys, drawn uniformly (10000)")
        ->option_text("K")
        ->check(CLI::Range(1u, 100000000u));
    app.add_option("--key-size", o.key_size, "Key length: \"key.\" + zero-padded number, 5-250 (16)")
        ->option_text("B")
        ->check(CLI::Range(5u, 250u));
    app.add_option("-s,--value-size", o.value_size, "Value length in bytes, 0-1048576 (32)")
        ->option_text("B")
        ->check(CLI::Range(0u, 1u << 20));
    app.add_option("-r,--ratio", ratio, "Mix of SETs to GETs, e.g. 1:1, 1:9, 0:1 (1:1)")->option_text("SET:GET");
    app.add_flag("--fill", o.fill, "SET keys 0..K-1 once each, in order, then stop (fills a server for memory tests)");
    auto* ttl = app.add_option("--ttl", o.ttl,
                               "Every SET makes its key expire S seconds later: kv 'save ttl S', redis SET ... EX S, "
                               "memcache exptime S (at most 2592000 there); 1-3153600000 (none)")
                    ->option_text("S")
                    ->check(CLI::Range(uint32_t{1}, uint32_t{3153600000u}));
    app.add_flag("--reconnect", o.reconnect, "One session per request: connect, greeting, request, close");
    app.add_flag("--json", o.json, "Print the result as one JSON line instead of the report");
    app.add_option("--timeout", o.timeout, "Give up when no reply arrived for S seconds (10)")
        ->option_text("S")
        ->check(CLI::Range(0.1, 3600.0));
    app.add_option("--seed", o.seed, "Seed of the key generator (1)")->option_text("N");
    auto* key_file = app.add_option("--key-file", o.key_file,
                                    "Use the keys in FILE, one a line, instead of generated ones (--keys is then "
                                    "their number; e.g. bench/flood_keys's crafted keys)")
                         ->option_text("FILE");
    auto* user = app.add_option("--user", o.user,
                                "kv only: 'auth USER PASSWORD' before 'connect' in every session (a kvstored with "
                                "a users file); needs --password-file")
                     ->option_text("USER");
    auto* password_file
        = app.add_option("--password-file", o.password_file, "The --user's password: the first line of FILE")
              ->option_text("FILE");
    user->needs(password_file);
    password_file->needs(user);
    app.add_flag("--allow-remote", o.allow_remote, "Allow a server that is not on a loopback address");

    try {
        app.parse(argc, argv);
        if (!parse_ratio(ratio, o.set_weight, o.get_weight))
            throw CLI::ValidationError("--ratio",
                                       "wants SET:GET as two whole numbers, e.g. 1:1 or 0:1, not '" + ratio + "'");
        if (key_file->count()) {
            o.key_list = read_key_file(o.key_file);
            o.keys = static_cast<uint32_t>(std::min<size_t>(o.key_list.size(), 100000000u));
            o.key_list.resize(o.keys);
            o.key_size = 0;
            for (const std::string& k : o.key_list)
                o.key_size = std::max(o.key_size, static_cast<unsigned>(k.size()));
        }
        unsigned needed = 4 + digits(o.keys - 1);
        if (o.key_list.empty() && o.key_size < needed)
            throw CLI::ValidationError("--key-size",
                                       std::to_string(o.keys) + " keys need keys of at least " + std::to_string(needed)
                                           + " bytes");
        if (user->count()) {
            if (o.protocol != Protocol::Kv)
                throw CLI::ValidationError("--user", "authenticates kv sessions only (--protocol kv)");
            o.password = read_password_file(o.password_file);
        }
        // memcached reads an exptime above 30 days as an absolute Unix time.
        if (ttl->count() && o.protocol == Protocol::Memcache && o.ttl > 2592000)
            throw CLI::ValidationError("--ttl", "memcache takes at most 2592000 s (30 days)");
        if (rate->count() && (o.reconnect || o.fill))
            throw CLI::ValidationError("--rate", "paces steady connections: it takes no --reconnect or --fill");
        // Checked here rather than with excludes(), which would clutter --help.
        if (o.fill && (o.reconnect || duration->count() || requests->count() || warmup->count()))
            throw CLI::ValidationError("--fill",
                                       "runs until every key is set: it takes no --duration, --requests, "
                                       "--warmup or --reconnect");
    } catch (const CLI::ParseError& e) {
        exit_code = app.exit(e) == 0 ? 0 : 2;
        return std::nullopt;
    }
    if (o.fill) {
        o.set_weight = 1;
        o.get_weight = 0;
        o.requests = o.keys;
    }
    return o;
}

}  // namespace kvbench
