// test_latency.cc: kvstored/latency.h, the per-command latency histograms
// behind the stats rows latency_<door>_<op>.
#include <catch2/catch.hpp>

#include "latency.h"

using kv::Latency;
using kv::LatencyHistogram;

TEST_CASE("latency histogram, a bound belongs to its own bucket and one ns more to the next")
{
    LatencyHistogram h;
    h.observe(5'000);  // le 0.000005
    h.observe(5'001);  // le 0.00001
    h.observe(10'000);  // le 0.00001
    h.observe(100'000'000);  // le 0.1, the last bound
    h.observe(100'000'001);  // only +Inf
    CHECK(h.count() == 5);
    CHECK(h.sum_ns() == 5'000 + 5'001 + 10'000 + 100'000'000 + 100'000'001);
    CHECK(h.at_most(0) == 1);
    CHECK(h.at_most(1) == 3);
    CHECK(h.at_most(9) == 3);
    CHECK(h.at_most(10) == 4);
}

TEST_CASE("latency histogram, the row is count, sum and cumulative buckets")
{
    LatencyHistogram h;
    CHECK(h.row_value() == "0,0,0,0,0,0,0,0,0,0,0,0,0");
    h.observe(0);
    h.observe(30'000);  // le 0.00005
    h.observe(2'000'000);  // le 0.0025
    CHECK(h.row_value() == "3,2030000,1,1,1,2,2,2,2,2,3,3,3");
}

TEST_CASE("latency rows, only the commands that ran, by door then by index")
{
    Latency l;
    std::vector<std::pair<std::string, std::string>> rows;
    l.append_rows(rows);
    CHECK(rows.empty());
    l.record(Latency::Door::Memcache, 0, "get", 1'000);
    l.record(Latency::Door::Line, 2, "read", 20'000);
    l.record(Latency::Door::Line, 1, "save", 7'000);
    l.record(Latency::Door::Line, 1, "save", 7'000);
    l.record(Latency::Door::Redis, Latency::kMaxOps, "past-the-table", 1);  // not recorded
    l.append_rows(rows);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] == std::pair<std::string, std::string>{"latency_line_save", "2,14000,0,2,2,2,2,2,2,2,2,2,2"});
    CHECK(rows[1].first == "latency_line_read");
    CHECK(rows[2] == std::pair<std::string, std::string>{"latency_memcache_get", "1,1000,1,1,1,1,1,1,1,1,1,1,1"});
    REQUIRE(l.find(Latency::Door::Line, "save"));
    CHECK(l.find(Latency::Door::Line, "save")->count() == 2);
    CHECK(l.find(Latency::Door::Redis, "get") == nullptr);
}

TEST_CASE("latency timer, records a named command once and an unnamed one never")
{
    Latency l;
    {
        kv::LatencyTimer t(l, Latency::Door::Redis);
    }
    {
        kv::LatencyTimer t(l, Latency::Door::Redis);
        t.name(3, "get");
    }
    std::vector<std::pair<std::string, std::string>> rows;
    l.append_rows(rows);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].first == "latency_redis_get");
    CHECK(rows[0].second.rfind("1,", 0) == 0);
}
