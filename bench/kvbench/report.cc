// report.cc: see report.h.
#include "report.h"

#include <cstdio>
#include <string>
#include <string_view>

namespace kvbench {
namespace {

double ms(uint64_t ns)
{
    return static_cast<double>(ns) / 1e6;
}

double us(uint64_t ns)
{
    return static_cast<double>(ns) / 1e3;
}

double rate(const Stats& s, const RunResult& r)
{
    return r.seconds > 0 ? static_cast<double>(s.answered()) / r.seconds : 0.0;
}

const char* ending_name(Ending e)
{
    switch (e) {
    case Ending::Completed:
        return "completed";
    case Ending::Stalled:
        return "stalled";
    case Ending::Interrupted:
        return "interrupted";
    }
    return "?";
}

std::string json_string(std::string_view s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out + "\"";
}

// Builds one JSON object on one line, fields in the order they are added.
class JsonLine {
public:
    JsonLine& str(const char* key, std::string_view v) { return field(key, json_string(v)); }
    JsonLine& num(const char* key, uint64_t v) { return field(key, std::to_string(v)); }
    JsonLine& boolean(const char* key, bool v) { return field(key, v ? "true" : "false"); }
    JsonLine& null(const char* key) { return field(key, "null"); }
    JsonLine& real(const char* key, double v, int decimals)
    {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        return field(key, buf);
    }
    // Starts a nested object: the fields up to close() go into it.
    void open(const char* key)
    {
        field(key, "{");
        first_ = true;
    }
    void close() { out_ += '}'; }
    std::string finish() const { return out_ + '}'; }

private:
    JsonLine& field(const char* key, const std::string& value)
    {
        if (!first_)
            out_ += ',';
        first_ = false;
        out_ += json_string(key) + ":" + value;
        return *this;
    }

    std::string out_ = "{";
    bool first_ = true;  // no field yet in the innermost object
};

}  // namespace

void print_progress(Clock::duration elapsed, const Stats& stats, uint64_t last_second)
{
    std::printf("\r\033[K%6.1f s  %12llu requests  %10llu/s  errors %llu  p99 %.3f ms",
                std::chrono::duration<double>(elapsed).count(), static_cast<unsigned long long>(stats.answered()),
                static_cast<unsigned long long>(last_second), static_cast<unsigned long long>(stats.errors()),
                ms(stats.latency.percentile(99)));
    std::fflush(stdout);
}

void clear_progress()
{
    std::printf("\r\033[K");
    std::fflush(stdout);
}

void print_report(const Options& o, const Address& a, const Stats& s, const RunResult& r)
{
    const char* unit = o.reconnect ? "sessions" : "requests";
    std::string paced = o.rate > 0 ? ", offered " + std::to_string(static_cast<uint64_t>(o.rate)) + "/s" : "";
    std::printf("kvbench %s: %s at %s, %u connections, pipeline %u%s%s, SET:GET %u:%u, %u keys of %u B, "
                "values of %u B\n",
                KVBENCH_VERSION, protocol_name(o.protocol), a.text.c_str(), o.connections, o.pipeline,
                o.reconnect ? ", reconnect" : "", paced.c_str(), o.set_weight, o.get_weight, o.keys, o.key_size,
                o.value_size);
    std::printf("  %-10s %.2f s, %s\n", "time", r.seconds, ending_name(r.ending));
    std::printf("  %-10s %llu %s, %.0f per second\n", "answered", static_cast<unsigned long long>(s.answered()), unit,
                rate(s, r));
    std::printf("  %-10s %llu ok, %llu hits, %llu misses\n", "replies", static_cast<unsigned long long>(s.ok),
                static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses));
    std::printf("  %-10s %llu (%llu error replies, %llu connection errors, %llu requests lost)\n", "errors",
                static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.error_replies),
                static_cast<unsigned long long>(s.connection_errors), static_cast<unsigned long long>(s.lost));
    if (!s.first_error.empty())
        std::printf("  %-10s %s\n", "first", s.first_error.c_str());
    const Histogram& h = s.latency;
    std::printf("  %-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms%s\n", "latency",
                ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)), ms(h.percentile(99.9)), ms(h.max()),
                ms(static_cast<uint64_t>(h.mean())), o.reconnect ? " (whole session)" : "");
}

void print_json(const Options& o, const Address& a, const Stats& s, const RunResult& r)
{
    const Histogram& h = s.latency;
    JsonLine j;
    j.str("tool", "kvbench").str("version", KVBENCH_VERSION).str("protocol", protocol_name(o.protocol));
    j.str("target", a.text).num("connections", o.connections).num("pipeline", o.pipeline);
    j.real("rate", o.rate, 1);
    j.boolean("reconnect", o.reconnect).boolean("fill", o.fill).real("warmup", o.warmup, 3);
    j.str("ratio", std::to_string(o.set_weight) + ":" + std::to_string(o.get_weight));
    j.num("keys", o.keys).num("key_size", o.key_size).num("value_size", o.value_size).num("ttl", o.ttl);
    j.real("seconds", r.seconds, 3).str("ending", ending_name(r.ending));
    j.num("answered", s.answered()).real("ops_per_sec", rate(s, r), 1);
    j.num("ok", s.ok).num("hits", s.hits).num("misses", s.misses);
    j.num("errors", s.errors()).num("error_replies", s.error_replies);
    j.num("connection_errors", s.connection_errors).num("lost", s.lost);
    j.open("latency_us");
    j.real("p50", us(h.percentile(50)), 1).real("p90", us(h.percentile(90)), 1);
    j.real("p99", us(h.percentile(99)), 1).real("p99_9", us(h.percentile(99.9)), 1);
    j.real("max", us(h.max()), 1).real("mean", h.mean() / 1e3, 1);
    j.close();
    if (s.first_error.empty())
        j.null("first_error");
    else
        j.str("first_error", s.first_error);
    std::printf("%s\n", j.finish().c_str());
}

}  // namespace kvbench
