// etcd_load.cc: the options, keys and report etcd_put and etcd_grpc_put share
// (etcd_load.h).
#include "etcd_load.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace etcdload {

namespace {

double number(const std::string& opt, const char* text, double lo, double hi)
{
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        throw UsageError(opt + " wants a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not '"
                         + text + "'");
    return v;
}

std::vector<std::string> split(const std::string& s)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos)
            comma = s.size();
        if (comma > start)
            out.push_back(s.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

// http://127.x.x.x:PORT or http://localhost:PORT or http://[::1]:PORT, with
// an optional trailing slash (dropped): this is a benchmark for this machine.
std::string check_endpoint(std::string e)
{
    if (!e.empty() && e.back() == '/')
        e.pop_back();
    static const char* const kLoopback[] = {"http://127.", "http://localhost:", "http://[::1]:"};
    bool ok = false;
    for (const char* p : kLoopback)
        ok = ok || e.rfind(p, 0) == 0;
    if (!ok || e.find(':', 7) == std::string::npos)
        throw UsageError("--endpoints: '" + e + "' is not http://LOOPBACK-ADDRESS:PORT");
    return e;
}

std::string json_string(std::string_view s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

}  // namespace

uint64_t whole(const std::string& opt, const char* text, uint64_t lo, uint64_t hi)
{
    double v = number(opt, text, static_cast<double>(lo), static_cast<double>(hi));
    if (v != static_cast<double>(static_cast<uint64_t>(v)))
        throw UsageError(opt + " wants a whole number, not '" + text + "'");
    return static_cast<uint64_t>(v);
}

Options parse(int argc, char** argv, const char* usage, const ExtraOption& extra)
{
    Options o;
    bool have_duration = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (a == "--json") {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc)
            throw UsageError(a + ": unknown option, or it needs a value (try --help)");
        const char* v = argv[++i];
        if (a == "--endpoints") {
            o.endpoints.clear();
            for (std::string& e : split(v))
                o.endpoints.push_back(check_endpoint(std::move(e)));
        } else if (a == "--to") {
            if (std::string_view(v) != "spread" && std::string_view(v) != "leader")
                throw UsageError("--to wants spread or leader, not '" + std::string(v) + "'");
            o.to_leader = std::string_view(v) == "leader";
        } else if (a == "-c" || a == "--connections") {
            o.connections = static_cast<unsigned>(whole(a, v, 1, 4096));
        } else if (a == "-d" || a == "--duration") {
            o.duration = number(a, v, 0.1, 86400);
            have_duration = true;
        } else if (a == "-w" || a == "--warmup") {
            o.warmup = number(a, v, 0, 3600);
        } else if (a == "-n" || a == "--requests") {
            o.requests = whole(a, v, 1, uint64_t{1} << 40);
        } else if (a == "-k" || a == "--keys") {
            o.keys = static_cast<uint32_t>(whole(a, v, 1, 100000000));
        } else if (a == "--key-size") {
            o.key_size = static_cast<unsigned>(whole(a, v, 5, 250));
        } else if (a == "-s" || a == "--value-size") {
            o.value_size = static_cast<unsigned>(whole(a, v, 0, 1u << 20));
        } else if (a == "--prefix") {
            o.prefix = v;
        } else if (a == "--timeout") {
            o.timeout = number(a, v, 0.1, 3600);
        } else if (a == "--batch") {
            o.batch = static_cast<unsigned>(whole(a, v, 1, 128));
        } else if (a == "--watchers") {
            o.watchers = static_cast<unsigned>(whole(a, v, 0, 64));
        } else if (a == "--seed") {
            o.seed = whole(a, v, 0, UINT64_MAX / 2);
        } else if (!extra || !extra(a, v)) {
            throw UsageError("unknown option '" + a + "' (try --help)");
        }
    }
    if (o.endpoints.empty())
        throw UsageError("--endpoints is required");
    if (o.prefix.empty())
        throw UsageError("--prefix must not be empty");
    if (o.batch > o.keys)
        throw UsageError("--batch " + std::to_string(o.batch) + " needs at least as many --keys");
    if (o.requests && (have_duration || o.warmup > 0))
        throw UsageError("--requests excludes --duration and --warmup");
    if (o.key_size < 4 + std::to_string(o.keys - 1).size())
        throw UsageError(std::to_string(o.keys) + " keys need --key-size of at least "
                         + std::to_string(4 + std::to_string(o.keys - 1).size()));
    return o;
}

Keys::Keys(const Options& o) : o_(o), rng_(o.seed)
{
    for (size_t i = 0; i < o.value_size; ++i)
        value_.push_back(static_cast<char>('a' + i % 26));
}

uint32_t Keys::next()
{
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<uint32_t>(((z >> 32) * uint64_t{o_.keys}) >> 32);
}

std::string Keys::text(uint32_t k) const
{
    std::string digits = std::to_string(k);
    return o_.prefix + "key." + std::string(o_.key_size - 4 - digits.size(), '0') + digits;
}

std::vector<uint32_t> Keys::distinct(unsigned n)
{
    std::vector<uint32_t> keys;
    while (keys.size() < n) {
        uint32_t k = next();
        if (std::find(keys.begin(), keys.end(), k) == keys.end())
            keys.push_back(k);
    }
    return keys;
}

Clock::duration to_duration(double s)
{
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string join(const std::vector<std::string>& v)
{
    std::string out;
    for (const std::string& s : v)
        out += (out.empty() ? "" : ",") + s;
    return out;
}

void report(const ReportHeader& hd, const Options& o, const std::string& to, const std::vector<std::string>& targets,
            const Stats& s, double seconds, const char* ending)
{
    const kvbench::Histogram& h = s.latency;
    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    double rate = seconds > 0 ? static_cast<double>(s.answered()) / seconds : 0;
    std::string events = hd.counts_watch_events ? ",\"watch_events\":" + std::to_string(s.watch_events) : "";
    if (o.json) {
        std::printf("{\"tool\":\"%s\",\"version\":\"1\",\"protocol\":\"%s\",\"target\":%s,\"to\":%s,"
                    "\"endpoints\":%s,\"batch\":%u,\"watchers\":%u%s,\"connections\":%u,\"pipeline\":1,\"reconnect\":"
                    "false,\"fill\":false,"
                    "\"warmup\":%.3f,\"ratio\":\"1:0\",\"keys\":%u,\"key_size\":%u,\"value_size\":%u,\"ttl\":0,"
                    "\"seconds\":%.3f,\"ending\":\"%s\",\"answered\":%llu,\"ops_per_sec\":%.1f,\"ok\":%llu,"
                    "\"hits\":0,\"misses\":0,\"errors\":%llu,\"error_replies\":%llu,\"connection_errors\":%llu,"
                    "\"lost\":0,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f,"
                    "\"mean\":%.1f},\"first_error\":%s}\n",
                    hd.tool, hd.protocol, json_string(join(targets)).c_str(), json_string(to).c_str(),
                    json_string(join(o.endpoints)).c_str(), o.batch, o.watchers, events.c_str(), o.connections,
                    o.warmup, o.keys, o.key_size, o.value_size, seconds, ending,
                    static_cast<unsigned long long>(s.answered()), rate, static_cast<unsigned long long>(s.ok),
                    static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.error_replies),
                    static_cast<unsigned long long>(s.connection_errors), us(h.percentile(50)), us(h.percentile(90)),
                    us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()), h.mean() / 1e3,
                    s.first_error.empty() ? "null" : json_string(s.first_error).c_str());
        return;
    }
    std::printf("%s: %s to %s (%s), %u connections, %u keys of %u B under %s, values of %u B, %u watchers\n", hd.tool,
                hd.request.c_str(), join(targets).c_str(), to.c_str(), o.connections, o.keys, o.key_size,
                o.prefix.c_str(), o.value_size, o.watchers);
    std::printf("  %-10s %.2f s, %s\n", "time", seconds, ending);
    std::printf("  %-10s %llu puts, %.0f per second\n", "answered", static_cast<unsigned long long>(s.answered()),
                rate);
    std::printf("  %-10s %llu (%llu error replies, %llu connection errors)\n", "errors",
                static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.error_replies),
                static_cast<unsigned long long>(s.connection_errors));
    if (!s.first_error.empty())
        std::printf("  %-10s %s\n", "first", s.first_error.c_str());
    if (hd.counts_watch_events)
        std::printf("  %-10s %llu events read by %u watchers\n", "watched",
                    static_cast<unsigned long long>(s.watch_events), o.watchers);
    std::printf("  %-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n", "latency",
                us(h.percentile(50)) / 1e3, us(h.percentile(90)) / 1e3, us(h.percentile(99)) / 1e3,
                us(h.percentile(99.9)) / 1e3, us(h.max()) / 1e3, h.mean() / 1e6);
}

}  // namespace etcdload
