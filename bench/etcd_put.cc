// etcd_put: the baseline of bench/run's etcd target (issue 17): etcd's own
// JSON gateway doing kvbench's writes directly, at the same concurrency, with
// nothing of kvstore in between.
//
// N connections, each one libcurl easy handle with one request in flight
// (HTTP/1.1, keep-alive), driven by one libcurl multi handle on one thread
// (kvbench's closed loop): POST /v3/kv/put {"key": base64, "value": base64}
// for a key drawn uniformly from K keys ("key." + zero-padded number, as
// kvbench's, under --prefix) and a value of S letters; the next put is sent
// as soon as the reply arrives. Connections are spread round-robin over the
// endpoints, or all go to the leader (--to leader, found with
// /v3/maintenance/status); the report says which.
//
// The output is kvbench's (a report, or with --json one JSON line with the
// same fields: ops_per_sec, latency_us.p50/p99, errors, ...), so bench/run
// parses both alike; the latency histogram is kvbench's own
// (bench/kvbench/histogram.cc).
//
// --batch N makes each request a transaction of N puts of distinct keys
// (POST /v3/kv/txn), the best any client batching writes through the gateway
// can do; --watchers W adds W watch streams on --prefix that read and drop
// every event, as W kvstored hosts' copies would. Both measure what etcd
// itself spends: the ceiling of kvstore's batching (bench/README.md, T10).
//
// Bounds: it stops after --duration seconds (after --warmup) or --requests
// answered puts, or when no reply at all arrived for --timeout seconds (exit
// 1); every request also times out after --timeout. Loopback endpoints only.
//
// Linked with libcurl and the C++ standard library only.
#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvbench/histogram.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kUsage = "usage: etcd_put --endpoints URL[,URL...] [OPTIONS]\n"
                               "\n"
                               "Puts random keys into etcd through its JSON gateway (POST /v3/kv/put) from N\n"
                               "concurrent keep-alive HTTP/1.1 connections, one put in flight on each, and\n"
                               "prints kvbench's report (or its JSON line with --json).\n"
                               "\n"
                               "  --endpoints LIST    http://127.0.0.1:PORT,... (required; loopback only)\n"
                               "  --to spread|leader  spread connections round-robin over the endpoints, or\n"
                               "                      send all to the current leader (spread)\n"
                               "  -c, --connections N concurrent connections, 1-4096 (64)\n"
                               "  -d, --duration S    seconds to measure (10)\n"
                               "  -w, --warmup S      seconds run and forgotten before --duration (0)\n"
                               "  -n, --requests N    instead of --duration: stop after N answered puts\n"
                               "  -k, --keys K        distinct keys, drawn uniformly (10000)\n"
                               "  --key-size B        \"key.\" + zero-padded number, 5-250 bytes (16)\n"
                               "  -s, --value-size B  value bytes, 0-1048576 (32)\n"
                               "  --prefix P          prepended to every key (/etcd_put/)\n"
                               "  --timeout S         a put's deadline, and give up when no reply came for S (10)\n"
                               "  --seed N            seed of the key generator (1)\n"
                               "  --batch N           each request a transaction of N puts of distinct keys\n"
                               "                      (POST /v3/kv/txn), 1-128; answered counts puts (1)\n"
                               "  --watchers W        W watch streams on --prefix reading every event, 0-64 (0)\n"
                               "  --json              one JSON line (kvbench's fields) instead of the report\n"
                               "\n"
                               "Exit status: 0 when the run completed with no error, 1 on errors or a stall,\n"
                               "2 on bad usage.\n";

// ---------------------------------------------------------------- options

struct Options {
    std::vector<std::string> endpoints;
    bool to_leader = false;
    unsigned connections = 64;
    double duration = 10;
    double warmup = 0;
    uint64_t requests = 0;  // 0: run for `duration`
    uint32_t keys = 10000;
    unsigned key_size = 16;
    unsigned value_size = 32;
    std::string prefix = "/etcd_put/";
    double timeout = 10;
    uint64_t seed = 1;
    unsigned batch = 1;  // puts per request; more than 1: a txn
    unsigned watchers = 0;
    bool json = false;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

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

uint64_t whole(const std::string& opt, const char* text, uint64_t lo, uint64_t hi)
{
    double v = number(opt, text, static_cast<double>(lo), static_cast<double>(hi));
    if (v != static_cast<double>(static_cast<uint64_t>(v)))
        throw UsageError(opt + " wants a whole number, not '" + text + "'");
    return static_cast<uint64_t>(v);
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

Options parse(int argc, char** argv)
{
    Options o;
    bool have_duration = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
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
        } else {
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

// ---------------------------------------------------------------- helpers

std::string base64(std::string_view in)
{
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t n = (uint32_t{static_cast<unsigned char>(in[i])} << 16)
            | (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) | static_cast<unsigned char>(in[i + 2]);
        out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], kAlphabet[n & 63]};
    }
    if (i + 1 == in.size()) {
        uint32_t n = uint32_t{static_cast<unsigned char>(in[i])} << 16;
        out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t n = (uint32_t{static_cast<unsigned char>(in[i])} << 16)
            | (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8);
        out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
    }
    return out;
}

// The value of "NAME":"..." in a flat JSON text, or "" (enough for the
// gateway's status reply, whose ids are quoted decimal strings).
std::string json_field(std::string_view body, std::string_view name)
{
    std::string needle = "\"" + std::string(name) + "\":\"";
    size_t at = body.find(needle);
    if (at == std::string_view::npos)
        return "";
    at += needle.size();
    size_t end = body.find('"', at);
    return end == std::string_view::npos ? "" : std::string(body.substr(at, end - at));
}

size_t append_body(char* data, size_t size, size_t n, void* user)
{
    auto* out = static_cast<std::string*>(user);
    // A put's reply is ~150 bytes; keep at most 64 KiB of anything else.
    if (out->size() < 65536)
        out->append(data, std::min(size * n, size_t{65536} - out->size()));
    return size * n;
}

struct CurlEasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using EasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
struct CurlMultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// The endpoint that is the leader, asking each endpoint in turn
// (/v3/maintenance/status: its member_id against the leader it names).
// Throws naming every endpoint's failure.
std::string find_leader(const Options& o)
{
    std::string why;
    for (const std::string& e : o.endpoints) {
        EasyPtr c(curl_easy_init());
        std::string body;
        std::string url = e + "/v3/maintenance/status";
        curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
        curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout * 1000));
        curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
        CURLcode rc = curl_easy_perform(c.get());
        long status = 0;
        curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
        std::string member = json_field(body, "member_id"), leader = json_field(body, "leader");
        if (rc == CURLE_OK && status == 200 && !member.empty() && member == leader)
            return e;
        why += "; " + e + ": "
            + (rc != CURLE_OK ? curl_easy_strerror(rc)
                              : "HTTP " + std::to_string(status) + (leader.empty() ? ", no leader" : ", a follower"));
    }
    throw std::runtime_error("find the leader (/v3/maintenance/status): none of the endpoints is" + why);
}

// ---------------------------------------------------------------- the run

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int)
{
    g_interrupted = 1;
}

struct Stats {
    kvbench::Histogram latency;
    uint64_t ok = 0;
    uint64_t error_replies = 0;  // an HTTP answer other than 200 with a header
    uint64_t connection_errors = 0;  // no HTTP answer (refused, reset, timed out)
    std::string first_error;
    uint64_t answered() const { return ok + error_replies; }
    uint64_t errors() const { return error_replies + connection_errors; }
};

// One connection: an easy handle with its body, reply and send time.
struct Slot {
    EasyPtr easy;
    std::string endpoint;
    std::string url;
    std::string body;
    std::string reply;
    Clock::time_point sent{};
    Clock::time_point retry_at{};  // after a failure: re-sent 10 ms later (kvbench's pace)
};

class Runner {
public:
    Runner(const Options& o, std::vector<std::string> targets) : o_(o), multi_(curl_multi_init()), rng_(o.seed)
    {
        if (!multi_)
            throw std::runtime_error("curl_multi_init failed");
        for (size_t i = 0; i < o.value_size; ++i)
            value_.push_back(static_cast<char>('a' + i % 26));
        value64_ = base64(value_);
        // One connection per slot, however many are idle between two puts.
        curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(o.connections + 16));
        headers_.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
        // No "Expect: 100-continue" round trip, whatever the body's size.
        headers_.reset(curl_slist_append(headers_.release(), "Expect:"));
        for (unsigned i = 0; i < o.connections; ++i) {
            auto s = std::make_unique<Slot>();
            s->easy.reset(curl_easy_init());
            if (!s->easy)
                throw std::runtime_error("curl_easy_init failed");
            s->endpoint = targets[i % targets.size()];
            s->url = s->endpoint + (o.batch > 1 ? "/v3/kv/txn" : "/v3/kv/put");
            CURL* c = s->easy.get();
            curl_easy_setopt(c, CURLOPT_URL, s->url.c_str());
            curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout * 1000));
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->reply);
            curl_easy_setopt(c, CURLOPT_PRIVATE, s.get());
            slots_.push_back(std::move(s));
        }
        for (unsigned i = 0; i < o.watchers; ++i)
            start_watcher(targets[i % targets.size()]);
    }

    // Runs the warm-up and the measured part; returns the measured seconds.
    double run(bool& stalled)
    {
        Clock::time_point start = Clock::now();
        Clock::time_point measure_from = start;
        bool warming = o_.warmup > 0;
        Clock::time_point end = start + to_duration(warming ? o_.warmup : o_.duration);
        last_progress_ = start;
        for (auto& s : slots_)
            send(*s, start);
        for (;;) {
            Clock::time_point now = Clock::now();
            if (warming && now >= end) {
                warming = false;
                stats_ = Stats{};
                measure_from = now;
                end = now + to_duration(o_.duration);
            }
            if (g_interrupted || (o_.requests ? stats_.answered() >= o_.requests : !warming && now >= end))
                break;
            if (now - last_progress_ >= to_duration(o_.timeout)) {
                note(stats_, "no reply for " + std::to_string(o_.timeout) + " s");
                stalled = true;
                break;
            }
            resend_due(now);
            int running = 0;
            curl_multi_perform(multi_.get(), &running);
            collect();
            int timeout_ms = waiting_.empty() ? 100 : 1;
            curl_multi_poll(multi_.get(), nullptr, 0, timeout_ms, nullptr);
        }
        return std::chrono::duration<double>(Clock::now() - measure_from).count();
    }

    const Stats& stats() const { return stats_; }

    ~Runner()
    {
        for (auto& s : slots_)
            curl_multi_remove_handle(multi_.get(), s->easy.get());
        for (auto& w : watchers_)
            curl_multi_remove_handle(multi_.get(), w->easy.get());
    }

private:
    static Clock::duration to_duration(double s)
    {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    }

    static void note(Stats& st, const std::string& what)
    {
        if (st.first_error.empty())
            st.first_error = what;
    }

    // splitmix64, as kvbench's workload: keys uniform over 0..keys-1.
    uint32_t next_key()
    {
        uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        return static_cast<uint32_t>(((z >> 32) * uint64_t{o_.keys}) >> 32);
    }

    std::string key_text(uint32_t k) const
    {
        std::string digits = std::to_string(k);
        return o_.prefix + "key." + std::string(o_.key_size - 4 - digits.size(), '0') + digits;
    }

    // One put, or a txn of o_.batch puts (etcd refuses one key twice in a txn).
    std::string request_body()
    {
        if (o_.batch == 1)
            return "{\"key\":\"" + base64(key_text(next_key())) + "\",\"value\":\"" + value64_ + "\"}";
        std::vector<uint32_t> keys;
        while (keys.size() < o_.batch) {
            uint32_t k = next_key();
            if (std::find(keys.begin(), keys.end(), k) == keys.end())
                keys.push_back(k);
        }
        std::string body = "{\"success\":[";
        for (uint32_t k : keys)
            body += std::string(body.back() == '[' ? "" : ",") + "{\"request_put\":{\"key\":\"" + base64(key_text(k))
                + "\",\"value\":\"" + value64_ + "\"}}";
        return body + "]}";
    }

    // A watch stream on --prefix whose events are read and dropped.
    struct Watcher {
        EasyPtr easy;
        std::string url, body;
        uint64_t bytes = 0;
    };
    static size_t count_bytes(char*, size_t size, size_t n, void* user)
    {
        static_cast<Watcher*>(user)->bytes += size * n;
        return size * n;
    }
    void start_watcher(const std::string& endpoint)
    {
        auto w = std::make_unique<Watcher>();
        w->easy.reset(curl_easy_init());
        if (!w->easy)
            throw std::runtime_error("curl_easy_init failed");
        w->url = endpoint + "/v3/watch";
        std::string end = o_.prefix;
        end.back() = static_cast<char>(end.back() + 1);  // the prefix's range end
        w->body = "{\"create_request\":{\"key\":\"" + base64(o_.prefix) + "\",\"range_end\":\"" + base64(end) + "\"}}";
        CURL* c = w->easy.get();
        curl_easy_setopt(c, CURLOPT_URL, w->url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(w->body.size()));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, w->body.c_str());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, count_bytes);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, w.get());
        curl_easy_setopt(c, CURLOPT_PRIVATE, nullptr);
        CURLMcode rc = curl_multi_add_handle(multi_.get(), c);
        if (rc != CURLM_OK)
            throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
        watchers_.push_back(std::move(w));
    }

    void send(Slot& s, Clock::time_point now)
    {
        s.body = request_body();
        s.reply.clear();
        curl_easy_setopt(s.easy.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(s.body.size()));
        curl_easy_setopt(s.easy.get(), CURLOPT_POSTFIELDS, s.body.c_str());
        s.sent = now;
        CURLMcode rc = curl_multi_add_handle(multi_.get(), s.easy.get());
        if (rc != CURLM_OK)
            throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    }

    void resend_due(Clock::time_point now)
    {
        while (!waiting_.empty() && waiting_.front()->retry_at <= now) {
            send(*waiting_.front(), now);
            waiting_.pop_front();
        }
    }

    // Takes every finished put: counts it, and sends the connection's next.
    void collect()
    {
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi_.get(), &left)) {
            if (m->msg != CURLMSG_DONE)
                continue;
            Clock::time_point now = Clock::now();
            Slot* s = nullptr;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(multi_.get(), m->easy_handle);
            if (s == nullptr) {  // a watch stream ended: the run goes on, as an error
                ++stats_.connection_errors;
                note(stats_, std::string("a watch stream ended: ") + curl_easy_strerror(rc));
                continue;
            }
            long status = 0;
            curl_easy_getinfo(s->easy.get(), CURLINFO_RESPONSE_CODE, &status);
            if (rc != CURLE_OK) {
                ++stats_.connection_errors;
                note(stats_, "POST " + s->url + ": " + curl_easy_strerror(rc));
                s->retry_at = now + 10ms;
                waiting_.push_back(s);
                continue;
            }
            last_progress_ = now;
            // A put's success is HTTP 200 with a response header; an etcd
            // error is a 4xx/5xx (or a 200 carrying "error").
            if (status == 200 && s->reply.find("\"header\"") != std::string::npos
                && s->reply.find("\"error\"") == std::string::npos) {
                stats_.ok += o_.batch;
                stats_.latency.record(
                    static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - s->sent).count()));
            } else {
                ++stats_.error_replies;
                note(stats_, "POST " + s->url + ": HTTP " + std::to_string(status) + " " + s->reply.substr(0, 200));
            }
            send(*s, now);
        }
    }

    const Options& o_;
    std::unique_ptr<CURLM, CurlMultiDeleter> multi_;
    std::unique_ptr<curl_slist, SlistDeleter> headers_;
    std::string value_;
    std::string value64_;
    uint64_t rng_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<std::unique_ptr<Watcher>> watchers_;
    std::deque<Slot*> waiting_;
    Stats stats_;
    Clock::time_point last_progress_{};
};

// ---------------------------------------------------------------- output

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

std::string join(const std::vector<std::string>& v)
{
    std::string out;
    for (const std::string& s : v)
        out += (out.empty() ? "" : ",") + s;
    return out;
}

void report(const Options& o, const std::string& to, const std::vector<std::string>& targets, const Stats& s,
            double seconds, const char* ending)
{
    const kvbench::Histogram& h = s.latency;
    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    double rate = seconds > 0 ? static_cast<double>(s.answered()) / seconds : 0;
    if (o.json) {
        // kvbench's fields and order (bench/kvbench/report.cc), plus "to" and
        // "endpoints".
        std::printf("{\"tool\":\"etcd_put\",\"version\":\"1\",\"protocol\":\"etcd\",\"target\":%s,\"to\":%s,"
                    "\"endpoints\":%s,\"batch\":%u,\"watchers\":%u,\"connections\":%u,\"pipeline\":1,\"reconnect\":"
                    "false,\"fill\":false,"
                    "\"warmup\":%.3f,\"ratio\":\"1:0\",\"keys\":%u,\"key_size\":%u,\"value_size\":%u,\"ttl\":0,"
                    "\"seconds\":%.3f,\"ending\":\"%s\",\"answered\":%llu,\"ops_per_sec\":%.1f,\"ok\":%llu,"
                    "\"hits\":0,\"misses\":0,\"errors\":%llu,\"error_replies\":%llu,\"connection_errors\":%llu,"
                    "\"lost\":0,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f,"
                    "\"mean\":%.1f},\"first_error\":%s}\n",
                    json_string(join(targets)).c_str(), json_string(to).c_str(), json_string(join(o.endpoints)).c_str(),
                    o.batch, o.watchers, o.connections, o.warmup, o.keys, o.key_size, o.value_size, seconds, ending,
                    static_cast<unsigned long long>(s.answered()), rate, static_cast<unsigned long long>(s.ok),
                    static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.error_replies),
                    static_cast<unsigned long long>(s.connection_errors), us(h.percentile(50)), us(h.percentile(90)),
                    us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()), h.mean() / 1e3,
                    s.first_error.empty() ? "null" : json_string(s.first_error).c_str());
        return;
    }
    std::string what = o.batch > 1 ? "POST /v3/kv/txn (" + std::to_string(o.batch) + " puts each)" : "POST /v3/kv/put";
    std::printf("etcd_put: %s to %s (%s), %u connections, %u keys of %u B under %s, values of %u B, %u watchers\n",
                what.c_str(), join(targets).c_str(), to.c_str(), o.connections, o.keys, o.key_size, o.prefix.c_str(),
                o.value_size, o.watchers);
    std::printf("  %-10s %.2f s, %s\n", "time", seconds, ending);
    std::printf("  %-10s %llu puts, %.0f per second\n", "answered", static_cast<unsigned long long>(s.answered()),
                rate);
    std::printf("  %-10s %llu (%llu error replies, %llu connection errors)\n", "errors",
                static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.error_replies),
                static_cast<unsigned long long>(s.connection_errors));
    if (!s.first_error.empty())
        std::printf("  %-10s %s\n", "first", s.first_error.c_str());
    std::printf("  %-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n", "latency",
                us(h.percentile(50)) / 1e3, us(h.percentile(90)) / 1e3, us(h.percentile(99)) / 1e3,
                us(h.percentile(99.9)) / 1e3, us(h.max()) / 1e3, h.mean() / 1e6);
}

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    try {
        o = parse(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "etcd_put: %s\n", e.what());
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::fprintf(stderr, "etcd_put: curl_global_init failed\n");
        return 1;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    int code = 0;
    try {
        std::vector<std::string> targets = o.to_leader ? std::vector<std::string>{find_leader(o)} : o.endpoints;
        bool stalled = false;
        double seconds = 0;
        Stats stats;
        {
            Runner runner(o, targets);
            seconds = runner.run(stalled);
            stats = runner.stats();
        }
        const char* ending = g_interrupted ? "interrupted" : stalled ? "stalled" : "completed";
        report(o, o.to_leader ? "leader" : "spread", targets, stats, seconds, ending);
        std::fflush(stdout);
        if (!stats.first_error.empty())
            std::fprintf(stderr, "etcd_put: %s\n", stats.first_error.c_str());
        code = g_interrupted ? 130 : (stalled || stats.errors() > 0 || stats.answered() == 0) ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "etcd_put: %s\n", e.what());
        code = 1;
    }
    curl_global_cleanup();
    return code;
}
