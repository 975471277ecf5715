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

#include "etcd_load.h"

namespace {

using etcdload::Clock;
using etcdload::Options;
using etcdload::Stats;
using etcdload::to_duration;
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
    Runner(const Options& o, std::vector<std::string> targets) : o_(o), multi_(curl_multi_init()), keys_(o)
    {
        if (!multi_)
            throw std::runtime_error("curl_multi_init failed");
        value64_ = base64(keys_.value());
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
                stats_.note("no reply for " + std::to_string(o_.timeout) + " s");
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
    // One put, or a txn of o_.batch puts (etcd refuses one key twice in a txn).
    std::string request_body()
    {
        if (o_.batch == 1)
            return "{\"key\":\"" + base64(keys_.text(keys_.next())) + "\",\"value\":\"" + value64_ + "\"}";
        std::string body = "{\"success\":[";
        for (uint32_t k : keys_.distinct(o_.batch))
            body += std::string(body.back() == '[' ? "" : ",") + "{\"request_put\":{\"key\":\"" + base64(keys_.text(k))
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
                stats_.note(std::string("a watch stream ended: ") + curl_easy_strerror(rc));
                continue;
            }
            long status = 0;
            curl_easy_getinfo(s->easy.get(), CURLINFO_RESPONSE_CODE, &status);
            if (rc != CURLE_OK) {
                ++stats_.connection_errors;
                stats_.note("POST " + s->url + ": " + curl_easy_strerror(rc));
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
                stats_.note("POST " + s->url + ": HTTP " + std::to_string(status) + " " + s->reply.substr(0, 200));
            }
            send(*s, now);
        }
    }

    const Options& o_;
    std::unique_ptr<CURLM, CurlMultiDeleter> multi_;
    std::unique_ptr<curl_slist, SlistDeleter> headers_;
    etcdload::Keys keys_;
    std::string value64_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<std::unique_ptr<Watcher>> watchers_;
    std::deque<Slot*> waiting_;
    Stats stats_;
    Clock::time_point last_progress_{};
};

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    try {
        o = etcdload::parse(argc, argv, kUsage);
    } catch (const etcdload::UsageError& e) {
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
        etcdload::report(
            {"etcd_put", "etcd",
             o.batch > 1 ? "POST /v3/kv/txn (" + std::to_string(o.batch) + " puts each)" : "POST /v3/kv/put"},
            o, o.to_leader ? "leader" : "spread", targets, stats, seconds, ending);
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
