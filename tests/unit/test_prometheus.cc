// test_prometheus.cc: kvstored/prometheus.h, the stats rows in the Prometheus
// text format (the real rows, checked by promtool: tests/integration/test_metrics.cc).
#include <catch2/catch.hpp>

#include "prometheus.h"

using kv::prometheus::exposition;

TEST_CASE("prometheus exposition, a family's HELP, TYPE and samples come together, whatever the order of the rows")
{
    std::string text = exposition({{"reads", "5"}, {"entries", "2"}, {"saves", "3"}});
    CHECK(text
          == "# HELP kvstore_info Always 1; the labels say kvstored's version, persistence, backend and when_full.\n"
             "# TYPE kvstore_info gauge\n"
             "kvstore_info 1\n"
             "# HELP kvstore_entries Entries in the store (none past its deadline).\n"
             "# TYPE kvstore_entries gauge\n"
             "kvstore_entries 2\n"
             "# HELP kvstore_operations_total Data commands by kind, every door's (a Redis GET counts as read, a "
             "memcached set as save, ...).\n"
             "# TYPE kvstore_operations_total counter\n"
             "kvstore_operations_total{op=\"read\"} 5\n"
             "kvstore_operations_total{op=\"save\"} 3\n");
}

TEST_CASE("prometheus exposition, text rows are kvstore_info's labels, escaped")
{
    std::string text = exposition({{"version", "1.0 \"x\\y\""}, {"backend", "sqlite"}, {"read_only_why", "a b"}});
    CHECK(text.find("kvstore_info{version=\"1.0 \\\"x\\\\y\\\"\",backend=\"sqlite\"} 1\n") != std::string::npos);
    CHECK(text.find("a b") == std::string::npos);
}

TEST_CASE("prometheus exposition, a row without a name is kept as untyped, milliseconds become seconds")
{
    std::string text = exposition({{"new_counter", "7"}, {"etcd_last_reload_ms", "1500"}, {"connections_total", "9"}});
    CHECK(text.find("# TYPE kvstore_new_counter untyped\nkvstore_new_counter 7\n") != std::string::npos);
    CHECK(text.find("kvstore_etcd_last_reload_seconds 1.500\n") != std::string::npos);
    // The sum of the door samples is not printed again.
    CHECK(text.find(" 9\n") == std::string::npos);
}

TEST_CASE("prometheus exposition, a latency row is a histogram with cumulative buckets, sum in seconds and count")
{
    std::string text = exposition({{"latency_memcache_flush_all", "3,1500000000,1,1,1,2,2,2,2,2,3,3,3"}});
    std::string labels = R"(door="memcache",op="flush_all")";
    std::string bucket = "kvstore_command_duration_seconds_bucket{" + labels;
    CHECK(text.find("# TYPE kvstore_command_duration_seconds histogram\n" + bucket + R"(,le="0.000005"} 1)" + "\n")
          != std::string::npos);
    CHECK(text.find(bucket + R"(,le="0.00005"} 2)" + "\n") != std::string::npos);
    CHECK(text.find(bucket + R"(,le="0.1"} 3)" + "\n") != std::string::npos);
    CHECK(text.find(bucket + R"(,le="+Inf"} 3)" + "\n") != std::string::npos);
    CHECK(text.find("kvstore_command_duration_seconds_sum{" + labels + "} 1.500000000\n") != std::string::npos);
    CHECK(text.find("kvstore_command_duration_seconds_count{" + labels + "} 3\n") != std::string::npos);
    CHECK(text.find("untyped") == std::string::npos);
}

TEST_CASE("prometheus exposition, a malformed latency row is left out")
{
    for (const char* value : {"", "3,1", "3,1,1,1,1,1,1,1,1,1,1,1,1,1", "3,1,2,1,1,1,1,1,1,1,1,1,1",
                              "3,1,1,1,1,1,1,1,1,1,1,1,4", "3,x,1,1,1,1,1,1,1,1,1,1,1"}) {
        INFO(value);
        CHECK(exposition({{"latency_line_save", value}}).find("duration") == std::string::npos);
    }
    CHECK(exposition({{"latency_nodoor", "1,1,1,1,1,1,1,1,1,1,1,1,1"}}).find("duration") == std::string::npos);
}
