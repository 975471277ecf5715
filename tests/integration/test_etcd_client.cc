// test_etcd_client.cc: kv::etcd::EtcdClient (libcurl to etcd's JSON gateway)
// against a real etcd member on private ports (tests/support/etcd_process.h),
// and against a fake gateway that cuts its stream at chosen bytes. Bodies are
// written by hand with nlohmann::json, so these tests do not depend on
// etcd_wire.cc.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "backends/etcd/etcd_client.h"
#include "etcd_process.h"
#include "kvstore.h"

using namespace kvtest;
using Json = nlohmann::json;
using kv::etcd::ClientConfig;
using kv::etcd::EtcdClient;

namespace {

using Clock = std::chrono::steady_clock;

Millis since(Clock::time_point t)
{
    return std::chrono::duration_cast<Millis>(Clock::now() - t);
}

std::string b64(std::string_view in)
{
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8 | uint8_t(in[i + 2]);
        out += {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += {abc[v >> 18], abc[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8;
        out += {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], '='};
    }
    return out;
}

std::string dead_endpoint()
{
    return "http://127.0.0.1:" + std::to_string(free_tcp_port());
}

ClientConfig config(std::vector<std::string> endpoints, Millis timeout = 2000ms)
{
    ClientConfig c;
    c.endpoints = std::move(endpoints);
    c.timeout = timeout;
    return c;
}

EtcdClient::Response put(EtcdClient& client, const std::string& key, const std::string& value)
{
    return client.call("/v3/kv/put", Json{{"key", b64(key)}, {"value", b64(value)}}.dump());
}

// A watch of every key starting with `prefix` (the range end is the prefix
// with its last byte incremented; the tests' prefixes end in '/').
std::string watch_body(const std::string& prefix)
{
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    return Json{{"create_request", {{"key", b64(prefix)}, {"range_end", b64(end)}}}}.dump();
}

// A one-connection HTTP server on a free loopback port: it reads the request
// (headers and a Content-Length body), then answers `status` and writes
// `pieces` one by one with a pause between, so that the client receives them
// in separate reads, and closes. Runs on its own thread until done.
class FakeGateway {
public:
    FakeGateway(std::vector<std::string> pieces, Millis pause, std::string status = "200 OK")
        : status_(std::move(status))
    {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        REQUIRE(::listen(listen_fd_, 1) == 0);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this, pieces = std::move(pieces), pause] { serve(pieces, pause); });
    }
    ~FakeGateway()
    {
        ::shutdown(listen_fd_, SHUT_RDWR);
        thread_.join();
        ::close(listen_fd_);
    }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    void serve(const std::vector<std::string>& pieces, Millis pause)
    {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::string request;
        char buf[4096];
        size_t need = std::string::npos;
        while (request.size() < need) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0)
                break;
            request.append(buf, static_cast<size_t>(n));
            auto end = request.find("\r\n\r\n");
            if (end != std::string::npos && need == std::string::npos) {
                auto cl = request.find("Content-Length: ");
                size_t body = cl == std::string::npos ? 0 : std::stoul(request.substr(cl + 16));
                need = end + 4 + body;
            }
        }
        std::string head = "HTTP/1.1 " + status_ + "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        (void)!::write(fd, head.data(), head.size());
        for (const auto& p : pieces) {
            std::this_thread::sleep_for(pause);  // separate reads at the client, not synchronisation
            (void)!::write(fd, p.data(), p.size());
        }
        ::close(fd);
    }

    std::string status_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace

TEST_CASE("etcd client: put, range and txn reach the member", "[etcd]")
{
    EtcdProcess etcd;
    EtcdClient client(config({etcd.endpoint()}));

    auto r = put(client, "a", "1");
    INFO(r.error << r.body);
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.endpoint == etcd.endpoint());
    auto revision = std::stoll(Json::parse(r.body)["header"]["revision"].get<std::string>());
    CHECK(revision >= 2);

    r = client.call("/v3/kv/range", Json{{"key", b64("a")}}.dump());
    REQUIRE(r.ok);
    auto range = Json::parse(r.body);
    REQUIRE(range["kvs"].size() == 1);
    CHECK(range["kvs"][0]["value"] == b64("1"));

    // A txn whose compare holds, then one whose compare fails.
    Json txn = {{"compare", {{{"key", b64("a")}, {"target", "VALUE"}, {"result", "EQUAL"}, {"value", b64("1")}}}},
                {"success", {{{"request_put", {{"key", b64("b")}, {"value", b64("2")}}}}}}};
    r = client.call("/v3/kv/txn", txn.dump());
    REQUIRE(r.ok);
    CHECK(Json::parse(r.body).value("succeeded", false));
    txn["compare"][0]["value"] = b64("9");
    r = client.call("/v3/kv/txn", txn.dump());
    REQUIRE(r.ok);
    CHECK_FALSE(Json::parse(r.body).value("succeeded", false));

    // An etcd error is an answer, returned as it is (here: a body that is not JSON).
    r = client.call("/v3/kv/range", "{not json");
    REQUIRE(r.ok);
    CHECK(r.status >= 400);
}

TEST_CASE("etcd client: a dead first endpoint fails over to the next, which stays current", "[etcd]")
{
    EtcdProcess etcd;
    std::string dead = dead_endpoint();
    EtcdClient client(config({dead, etcd.endpoint()}));
    CHECK(client.current_endpoint() == dead);

    auto r = put(client, "k", "v");
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.endpoint == etcd.endpoint());
    CHECK_FALSE(r.uncertain);  // refused: the dead one never saw the request
    CHECK(client.current_endpoint() == etcd.endpoint());
    r = put(client, "k", "w");
    REQUIRE(r.ok);
    CHECK(r.endpoint == etcd.endpoint());
}

TEST_CASE("etcd client: a member shutting down (gRPC Canceled) fails over to the next, uncertain", "[etcd]")
{
    // What a member's gateway answers while it shuts down (seen in
    // etcd/fault-compaction's rolling restart).
    FakeGateway closing({"{\"error\":\"grpc: the client connection is closing\",\"message\":\"grpc: the client "
                         "connection is closing\",\"code\":1}"},
                        0ms, "408 Request Timeout");
    EtcdProcess etcd;
    EtcdClient client(config({closing.endpoint(), etcd.endpoint()}));
    auto r = put(client, "k", "v");
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.endpoint == etcd.endpoint());
    CHECK(r.uncertain);  // the closing member may have applied it
}

TEST_CASE("etcd client: when every endpoint is dead the error names each with curl's text", "[etcd]")
{
    std::string a = dead_endpoint(), b = dead_endpoint();
    EtcdClient client(config({a, b}));
    auto start = Clock::now();
    auto r = put(client, "k", "v");
    CHECK(since(start) < 1000ms);
    CHECK_FALSE(r.ok);
    INFO(r.error);
    CHECK(r.error.find(a.substr(7) + ": ") != std::string::npos);
    CHECK(r.error.find(b.substr(7) + ": ") != std::string::npos);
    CHECK(r.error.find("Couldn't connect to server") != std::string::npos);
    CHECK(r.error.find("Connection refused") != std::string::npos);
}

TEST_CASE("etcd client: endpoints that are not http://HOST:PORT are refused", "[etcd]")
{
    using kv::etcd::check_endpoints;
    CHECK_NOTHROW(check_endpoints({"http://127.0.0.1:2379", "http://etcd-1:2379/"}));
    CHECK_THROWS_AS(check_endpoints({}), std::invalid_argument);
    for (const char* bad : {"https://127.0.0.1:2379", "127.0.0.1:2379", "http://127.0.0.1", "http://h:0",
                            "http://h:65536", "http://h:12x", "http://h:1/v3"}) {
        INFO(bad);
        CHECK_THROWS_WITH(check_endpoints({bad}), Catch::Contains(bad));
    }
}

TEST_CASE("etcd client: a stopped member costs the call its deadline, not more", "[etcd]")
{
    EtcdProcess etcd;
    EtcdClient client(config({etcd.endpoint()}, 600ms));
    REQUIRE(put(client, "k", "v").ok);  // the keep-alive connection is open
    etcd.pause();

    auto start = Clock::now();
    auto r = put(client, "k", "w");
    auto took = since(start);
    CHECK_FALSE(r.ok);
    CHECK(r.uncertain);  // the request was sent before the member went quiet
    INFO(r.error);
    CHECK(r.error.find(etcd.endpoint().substr(7) + ": Timeout was reached") != std::string::npos);
    CHECK(took >= 550ms);
    CHECK(took < 600ms + 300ms);

    // A per-call timeout overrides the config's.
    start = Clock::now();
    r = client.call("/v3/kv/range", Json{{"key", b64("k")}}.dump(), 200ms);
    CHECK_FALSE(r.ok);
    CHECK(since(start) < 200ms + 300ms);

    etcd.resume();
    r = put(client, "k", "x");
    INFO(r.error);
    CHECK(r.ok);
}

TEST_CASE("etcd client: a stopped first member leaves the live one time to answer", "[etcd]")
{
    EtcdProcess stopped, live;
    stopped.pause();
    EtcdClient client(config({stopped.endpoint(), live.endpoint()}, 1500ms));
    auto start = Clock::now();
    auto r = put(client, "k", "v");
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.endpoint == live.endpoint());
    CHECK(since(start) < 1500ms);
}

TEST_CASE("etcd client: a watch receives put events as whole messages", "[etcd]")
{
    EtcdProcess etcd;
    EtcdClient watcher(config({etcd.endpoint()}));
    EtcdClient writer(config({etcd.endpoint()}));
    std::atomic<bool> stop{false};
    std::atomic<bool> created{false};
    std::vector<Json> events;

    auto done = std::async(std::launch::async, [&] {
        return watcher.watch(
            watch_body("w/"),
            [&](std::string_view message) {
                auto m = Json::parse(message);  // throws (and fails the test) on a partial message
                auto& result = m.at("result");
                if (result.value("created", false))
                    created = true;
                for (auto& e : result.value("events", Json::array()))
                    events.push_back(e);
                return events.size() < 3;
            },
            stop, 5000ms);
    });
    auto deadline = Clock::now() + 5s;
    while (!created && Clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    REQUIRE(created);
    REQUIRE(put(writer, "w/1", "one").ok);
    REQUIRE(put(writer, "other", "x").ok);  // outside the watched range
    REQUIRE(put(writer, "w/2", std::string(100000, 'z')).ok);  // many reads at the client
    REQUIRE(put(writer, "w/3", "three").ok);

    if (done.wait_for(5s) != std::future_status::ready) {
        stop = true;
        FAIL("the watch did not end within 5 s of the puts");
    }
    CHECK(done.get() == "");
    REQUIRE(events.size() == 3);
    CHECK(events[0]["kv"]["key"] == b64("w/1"));
    CHECK(events[1]["kv"]["value"] == b64(std::string(100000, 'z')));
    CHECK(events[2]["kv"]["value"] == b64("three"));

    // The handle serves calls again after the watch.
    CHECK(put(watcher, "w/4", "four").ok);
}

TEST_CASE("etcd client: a watch splits its stream into messages wherever the reads cut it", "[etcd]")
{
    FakeGateway gateway({"{\"n\":1}\n{\"n\"", ":2}\n", "{\"n\":3}\r\n{\"n\":4}\n\n{", "\"n\":", "5}\n{\"n\":6"}, 50ms);
    EtcdClient client(config({gateway.endpoint()}));
    std::atomic<bool> stop{false};
    std::vector<std::string> messages;
    auto why = client.watch(
        "{}",
        [&](std::string_view m) {
            messages.emplace_back(m);
            return true;
        },
        stop, 2000ms);
    CHECK(messages == std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}", "{\"n\":5}"});
    INFO(why);
    // The stream ended (with a partial message): an error naming the endpoint.
    CHECK(why.find("watch " + gateway.endpoint().substr(7) + ": ") == 0);
}

TEST_CASE("etcd client: the stop flag ends a quiet watch within about 200 ms", "[etcd]")
{
    EtcdProcess etcd;
    EtcdClient client(config({etcd.endpoint()}));
    std::atomic<bool> stop{false};
    std::atomic<bool> created{false};
    auto done = std::async(std::launch::async, [&] {
        return client.watch(
            watch_body("s/"),
            [&](std::string_view) {
                created = true;
                return true;
            },
            stop, 10000ms);
    });
    auto deadline = Clock::now() + 5s;
    while (!created && Clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    REQUIRE(created);
    auto start = Clock::now();
    stop = true;
    REQUIRE(done.wait_for(2s) == std::future_status::ready);
    CHECK(since(start) < 300ms);
    CHECK(done.get() == "");
}

TEST_CASE("etcd client: a watch on a stopped member ends after the idle timeout", "[etcd]")
{
    EtcdProcess etcd;
    EtcdClient client(config({etcd.endpoint()}));
    std::atomic<bool> stop{false};
    std::atomic<bool> created{false};
    auto done = std::async(std::launch::async, [&] {
        return client.watch(
            watch_body("i/"),
            [&](std::string_view) {
                created = true;
                return true;
            },
            stop, 700ms);
    });
    auto deadline = Clock::now() + 5s;
    while (!created && Clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    REQUIRE(created);
    auto start = Clock::now();
    etcd.pause();
    if (done.wait_for(3s) != std::future_status::ready) {
        stop = true;
        FAIL("the watch outlived its idle timeout by seconds");
    }
    auto took = since(start);
    CHECK(took < 700ms + 300ms);
    auto why = done.get();
    INFO(why);
    CHECK(why == "watch " + etcd.endpoint().substr(7) + ": no byte for 700 ms");
    // The next call starts with the next endpoint (here the same one).
    CHECK(client.current_endpoint() == etcd.endpoint());
}

TEST_CASE("etcd client: a three-member cluster serves on when the member in use is killed", "[etcd]")
{
    std::vector<std::unique_ptr<EtcdProcess>> members;
    for (auto& options : etcd_cluster_options(3))
        members.push_back(std::make_unique<EtcdProcess>(options));
    std::vector<std::string> endpoints;
    for (auto& m : members) {
        m->wait_ready(20s);
        endpoints.push_back(m->endpoint());
    }
    EtcdClient client(config(endpoints));
    auto r = put(client, "c", "1");
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.endpoint == endpoints[0]);

    // Another member has it: one cluster, not three single members.
    EtcdClient other(config({endpoints[2]}));
    r = other.call("/v3/kv/range", Json{{"key", b64("c")}, {"serializable", false}}.dump());
    REQUIRE(r.ok);
    CHECK(Json::parse(r.body)["kvs"][0]["value"] == b64("1"));

    members[0]->kill();
    auto deadline = Clock::now() + 10s;  // a new leader if m0 led
    do {
        r = put(client, "c", "2");
    } while (!r.ok && Clock::now() < deadline);
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.endpoint != endpoints[0]);
}

TEST_CASE("etcd client: an exception from on_message ends the watch and leaves it", "[etcd]")
{
    FakeGateway gateway({"{\"n\":1}\n{\"n\":2}\n"}, 10ms);
    EtcdClient client(config({gateway.endpoint()}));
    std::atomic<bool> stop{false};
    int seen = 0;
    auto throwing = [&](std::string_view) -> bool {
        ++seen;
        throw std::runtime_error("consumer refused");
    };
    CHECK_THROWS_WITH(client.watch("{}", throwing, stop, 2000ms), "consumer refused");
    CHECK(seen == 1);
}
