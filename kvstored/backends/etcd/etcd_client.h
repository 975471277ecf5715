// etcd_client.h: HTTP/1.1 to etcd's JSON gateway, with libcurl, for the
// etcd backend's own threads (never the event loop's: a call blocks).
//
// One EtcdClient per thread (it owns one curl easy handle, so its keep-alive
// connection is reused call after call). Calls go to the member that last
// answered (or the one prefer() names); on a connection failure, a timeout,
// a 503 or a gRPC Canceled (the member is shutting down) the client moves to
// the next endpoint of the list and tries again, until every endpoint has
// failed once or the call's deadline has passed. Each attempt gets an equal
// share of the time left among the endpoints not yet tried (the last one all
// of it), so one member that accepts but never answers costs a third of the
// deadline with three endpoints, not all of it. An answer that is an etcd
// error (HTTP 4xx/5xx with a gRPC error body, other than those) is returned
// as it is: the caller decides.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kv::etcd {

struct ClientConfig {
    // "http://127.0.0.1:2379", ...; at least one. Only http:// is supported.
    std::vector<std::string> endpoints;
    // The whole of one call, failover included.
    std::chrono::milliseconds timeout{2000};
    // Connecting to one endpoint.
    std::chrono::milliseconds connect_timeout{500};
};

// Why `endpoint` is not http://HOST:PORT[/] (an IPv6 host bracketed), or ""
// when it is: "<endpoint>: not http://HOST:PORT (<what is wrong>)". The
// command line and the client check with this one rule.
std::string endpoint_problem(const std::string& endpoint);
// Throws std::invalid_argument with endpoint_problem() for the first bad
// endpoint, or when there is none.
void check_endpoints(const std::vector<std::string>& endpoints);

class EtcdClient {
public:
    // Throws std::runtime_error when libcurl cannot start.
    explicit EtcdClient(ClientConfig config);
    ~EtcdClient();
    EtcdClient(const EtcdClient&) = delete;
    EtcdClient& operator=(const EtcdClient&) = delete;

    struct Response {
        bool ok = false;  // an HTTP answer arrived from some member (any status)
        long status = 0;  // HTTP status
        std::string body;
        // !ok: why no member answered ("127.0.0.1:2379: Connection refused;
        // ...: Timeout was reached"), naming each endpoint tried.
        std::string error;
        std::string endpoint;  // who answered
        // Some failed attempt had sent its request (it timed out, the
        // connection broke after that, or the answer was a 503, which etcd
        // also gives for "request timed out" and "leader changed", or a
        // Canceled from a member shutting down): that
        // member may have applied it, and a txn tried again elsewhere may
        // then fail its compares because of its own first application.
        // Set even when a later attempt succeeded. Connection refused
        // leaves it false.
        bool uncertain = false;
    };
    // POSTs `body` to `path` ("/v3/kv/txn"). `timeout` 0: the config's.
    Response call(std::string_view path, std::string_view body,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

    // Streams POST /v3/watch with `create_body`, calling `on_message` with
    // each whole JSON message (the gateway sends one object per line) until
    // `on_message` returns false, `stop` becomes true (checked at least every
    // 200 ms), the stream ends or breaks, or no byte arrives for
    // `idle_timeout` (progress notifications arrive every few seconds when
    // asked for, so silence means a dead member). Returns why it ended: ""
    // when on_message or stop ended it, else the error. Does not fail over
    // by itself: the caller restarts the watch, and the next call starts
    // with the next endpoint when this one failed. An exception thrown by
    // `on_message` ends the watch and leaves it (never through libcurl).
    std::string watch(std::string_view create_body, const std::function<bool(std::string_view)>& on_message,
                      const std::atomic<bool>& stop, std::chrono::milliseconds idle_timeout);

    // The endpoint calls go to first.
    const std::string& current_endpoint() const;
    // From now on, calls go first to config().endpoints[i] (the leader:
    // EtcdThreads); failover moves on from it as from any other.
    void prefer(size_t i) { current_ = i % config_.endpoints.size(); }
    const ClientConfig& config() const { return config_; }

private:
    struct Curl;
    ClientConfig config_;
    std::unique_ptr<Curl> curl_;
    size_t current_ = 0;
};

}  // namespace kv::etcd
