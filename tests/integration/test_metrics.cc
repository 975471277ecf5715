// test_metrics.cc: `kvstored stats --format prometheus` (kvstored/prometheus.h)
// on a real kvstored after traffic through each door, checked by promtool
// (Debian package prometheus), and `--output`, which replaces the file
// atomically for prometheus-node-exporter's textfile collector.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

struct Metrics {
    TempDir dir;
    Daemon daemon;
    std::string admin_socket;

    Metrics() : daemon(dir, {"--db", dir.file("store.db")}), admin_socket(dir.file("admin.sock"))
    {
        REQUIRE(wait_for_unix_listener(admin_socket, 5s));
    }

    CliResult cli(std::vector<std::string> args) const
    {
        args.insert(args.begin(), {"--admin-socket", admin_socket});
        return run_kvstored(args);
    }

    std::string prometheus() const
    {
        CliResult r = cli({"stats", "--format", "prometheus"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        CHECK(r.err.empty());
        return r.out;
    }
};

// promtool's verdict on an exposition: "" when it finds nothing wrong (it
// also lints: a counter without _total, a metric without HELP, ...).
std::string promtool_problems(const std::string& text)
{
    if (::access(kPromtool, X_OK) != 0)
        FAIL("promtool is missing: install the Debian package prometheus (scripts/deps does)");
    CliResult r = run_program(kPromtool, {"check", "metrics"}, text);
    return r.code == 0 ? "" : r.describe();
}

// The value of the sample `name` (with its labels, as printed), or "".
std::string sample(const std::string& text, const std::string& name)
{
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0)
            return line.substr(name.size() + 1);
    return "";
}

// A save, a hit and a miss through each door.
void traffic(const std::string& socket)
{
    KvsvcSession line = connected_session(socket);
    REQUIRE(line.client.ask("save l:1") == "OK");
    REQUIRE(line.client.ask("read l") == "VALUE 1");
    REQUIRE(line.client.ask("read nope") == "NOT_FOUND");

    KvsvcSession redis = spawn_kvsvc(socket, {"--protocol", "redis"});
    redis.client.send("*3\r\n$3\r\nSET\r\n$1\r\nr\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\nr\r\n"
                      "*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n*1\r\n$4\r\nNOPE\r\n");
    REQUIRE(redis.client.read_bytes(5 + 7 + 5) == "+OK\r\n$1\r\n1\r\n$-1\r\n");
    REQUIRE(redis.client.read_line().value_or("").rfind("-ERR", 0) == 0);

    KvsvcSession memcache = spawn_kvsvc(socket, {"--protocol", "memcache"});
    memcache.client.send("set m 0 0 1\r\nx\r\nget m\r\nget nope\r\n");
    REQUIRE(memcache.client.read_bytes(8 + 21 + 5) == "STORED\r\nVALUE m 0 1\r\nx\r\nEND\r\nEND\r\n");
}

// The bucket values of each series of kvstore_command_duration_seconds, by
// its door and op labels ("door=\"line\",op=\"save\""), in the order
// printed: the le labels' order, +Inf last.
std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> duration_buckets(const std::string& text)
{
    static const std::regex bucket(R"re(kvstore_command_duration_seconds_bucket\{(.*),le="([^"]+)"\} ([0-9]+))re");
    std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> series;
    std::istringstream in(text);
    std::smatch m;
    for (std::string line; std::getline(in, line);)
        if (std::regex_match(line, m, bucket))
            series[m[1]].emplace_back(m[2], std::stoull(m[3]));
    return series;
}

// Each latency series: its buckets cumulative in le order, the last +Inf
// and equal to _count.
void check_duration_series(const std::string& text)
{
    for (const auto& [labels, buckets] : duration_buckets(text)) {
        INFO(labels);
        REQUIRE(buckets.size() == 12);
        CHECK(buckets.back().first == "+Inf");
        for (size_t i = 1; i < buckets.size(); ++i) {
            CHECK(std::stod(buckets[i - 1].first) < (buckets[i].first == "+Inf" ? 1e300 : std::stod(buckets[i].first)));
            CHECK(buckets[i - 1].second <= buckets[i].second);
        }
        CHECK(sample(text, "kvstore_command_duration_seconds_count{" + labels + "}")
              == std::to_string(buckets.back().second));
        CHECK(!sample(text, "kvstore_command_duration_seconds_sum{" + labels + "}").empty());
    }
}

}  // namespace

TEST_CASE("stats --format prometheus after traffic through each door passes promtool check metrics", "[metrics]")
{
    Metrics f;
    traffic(f.daemon.socket_path());
    std::string text = f.prometheus();
    INFO(text);
    CHECK(promtool_problems(text) == "");
    // Every numeric stats row has a Prometheus name (prometheus.cc's table).
    CHECK(text.find("untyped") == std::string::npos);

    CHECK(sample(text, "kvstore_entries") == "3");
    CHECK(sample(text, "kvstore_capacity") == "10000");
    CHECK(sample(text, R"(kvstore_connections_total{door="line"})") == "1");
    CHECK(sample(text, R"(kvstore_connections_total{door="redis"})") == "1");
    CHECK(sample(text, R"(kvstore_connections_total{door="memcache"})") == "1");
    CHECK(sample(text, R"(kvstore_operations_total{op="save"})") == "3");
    CHECK(sample(text, R"(kvstore_operations_total{op="read"})") == "6");
    CHECK(sample(text, R"(kvstore_lookups_total{result="hit"})") == "3");
    CHECK(sample(text, R"(kvstore_lookups_total{result="miss"})") == "3");
    CHECK(sample(text, "kvstore_redis_error_replies_total") == "1");
    CHECK(sample(text, R"(kvstore_memcache_results_total{op="get",result="hit"})") == "1");
    CHECK(sample(text, R"(kvstore_memcache_results_total{op="get",result="miss"})") == "1");
    CHECK(sample(text, R"(kvstore_memcache_commands_total{cmd="set"})") == "1");
    CHECK(sample(text,
                 R"(kvstore_info{version=")" + version()
                     + R"(",persistence="batch",backend="sqlite",when_full="refuse"})")
          == "1");
    // A family's HELP and TYPE come once, before its samples.
    CHECK(text.find("# TYPE kvstore_operations_total counter\nkvstore_operations_total{op=\"save\"}")
          != std::string::npos);

    // Per-command latency: a series for each command each door ran (NOPE is
    // not Redis's: none), counting its runs; none for the admin's stats.
    CHECK(text.find("# TYPE kvstore_command_duration_seconds histogram\n") != std::string::npos);
    std::map<std::string, std::string> runs = {
        {R"(door="line",op="save")", "1"}, {R"(door="line",op="read")", "2"},    {R"(door="redis",op="set")", "1"},
        {R"(door="redis",op="get")", "2"}, {R"(door="memcache",op="set")", "1"}, {R"(door="memcache",op="get")", "2"},
    };
    auto series = duration_buckets(text);
    CHECK(series.size() == runs.size());
    for (const auto& [labels, count] : runs) {
        INFO(labels);
        CHECK(series.count(labels) == 1);
        CHECK(sample(text, "kvstore_command_duration_seconds_count{" + labels + "}") == count);
    }
    check_duration_series(text);

    // The check can fail: promtool refuses a counter without _total.
    CHECK(promtool_problems("# HELP kvstore_x x\n# TYPE kvstore_x counter\nkvstore_x 1\n") != "");
}

TEST_CASE("stats --json is --format json, and the two together are bad usage", "[metrics]")
{
    Metrics f;
    CliResult json = f.cli({"stats", "--json"});
    CliResult format = f.cli({"stats", "--format", "json"});
    INFO(json.describe() << format.describe());
    REQUIRE(json.code == 0);
    REQUIRE(format.code == 0);
    // Only the uptime and the stats request itself may differ between the two.
    std::regex moving(R"re("(uptime_seconds|commands_total)":[0-9]+)re");
    CHECK(std::regex_replace(json.out, moving, "") == std::regex_replace(format.out, moving, ""));

    CliResult both = f.cli({"stats", "--json", "--format", "text"});
    INFO(both.describe());
    CHECK(both.code == 2);
    CliResult bad = f.cli({"stats", "--format", "xml"});
    INFO(bad.describe());
    CHECK(bad.code == 2);
}

TEST_CASE("stats --output replaces the file with mode 0644 and leaves no temporary file", "[metrics]")
{
    namespace fs = std::filesystem;
    Metrics f;
    TempDir out;
    std::string path = out.file("kvstore.prom");
    write_file(path, "old\n");
    ::umask(077);  // the file must be readable by node-exporter's user whatever the umask
    CliResult r = f.cli({"stats", "--format", "prometheus", "--output", path});
    ::umask(022);
    INFO(r.describe());
    REQUIRE(r.code == 0);
    CHECK(r.out.empty());
    std::string text = read_file(path);
    CHECK(promtool_problems(text) == "");
    CHECK(sample(text, "kvstore_entries") == "0");
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(out.path()))
        ++files;
    CHECK(files == 1);

    // A directory that does not exist: the error names the file and the cause.
    CliResult missing = f.cli({"stats", "--output", out.file("no/such/kvstore.prom")});
    INFO(missing.describe());
    CHECK(missing.code == 1);
    CHECK(missing.err.find("kvstored stats: create " + out.file("no/such/kvstore.prom.")) == 0);
    CHECK(missing.err.find(": No such file or directory") != std::string::npos);
}
