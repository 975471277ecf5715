// etcd_client.cc: see etcd_client.h.
//
// Calls use curl_easy_perform on the client's one easy handle, so the
// keep-alive connection to the member that last answered is reused. The
// watch drives the same easy handle through a private multi handle instead:
// curl_easy_perform wakes only once a second when no byte arrives (its poll
// timeout is 1000 ms in libcurl 7.88), which is too coarse for the 200 ms
// promised for `stop`; curl_multi_poll with a 100 ms timeout lets us look at
// `stop` and the idle clock between polls.
#include "backends/etcd/etcd_client.h"

#include "backends/etcd/etcd_wire.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>

namespace kv::etcd {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often the watch loop looks at `stop` and the idle clock (the contract
// is at least every 200 ms).
constexpr milliseconds kWatchTick{100};
// How much of an error body is quoted in a message.
constexpr size_t kQuoteMax = 200;

// curl_global_init is not thread-safe and must run once per process; the
// backend creates clients on several threads.
void global_init()
{
    static std::once_flag once;
    static CURLcode rc = CURLE_OK;
    std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (rc != CURLE_OK)
        throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(rc));
}

// "http://127.0.0.1:2379/" -> "127.0.0.1:2379", for messages.
std::string endpoint_name(const std::string& url)
{
    std::string_view s = url;
    if (s.rfind("http://", 0) == 0)
        s.remove_prefix(7);
    while (!s.empty() && s.back() == '/')
        s.remove_suffix(1);
    return std::string(s);
}

std::string join_url(const std::string& endpoint, std::string_view path)
{
    std::string url = endpoint;
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    return url + std::string(path);
}

// curl's generic text, the specific one from the error buffer when there is
// one, and the system's errno text, which libcurl 7.88 leaves out of both
// ("Couldn't connect to server (Failed to connect to 127.0.0.1 port 1 after
// 0 ms: Couldn't connect to server): Connection refused").
std::string curl_error(CURL* easy, CURLcode rc, const char* errbuf)
{
    std::string text = curl_easy_strerror(rc);
    if (errbuf[0] != '\0' && text != errbuf)
        text += std::string(" (") + errbuf + ")";
    long os_errno = 0;
    if (curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
        std::string sys = std::strerror(static_cast<int>(os_errno));
        if (text.find(sys) == std::string::npos)
            text += ": " + sys;
    }
    return text;
}

size_t append_body(char* data, size_t size, size_t nmemb, void* user)
{
    static_cast<std::string*>(user)->append(data, size * nmemb);
    return size * nmemb;
}

long remaining_ms(Clock::time_point deadline)
{
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return std::max<long>(left, 0);
}

}  // namespace

std::string endpoint_problem(const std::string& endpoint)
{
    constexpr std::string_view kScheme = "http://";
    if (endpoint.empty())
        return "an empty endpoint (two commas in a row?)";
    const std::string bad = endpoint + ": not http://HOST:PORT ";
    if (!endpoint.starts_with(kScheme))
        return bad + "(only http:// is supported)";
    std::string_view rest = std::string_view(endpoint).substr(kScheme.size());
    if (rest.ends_with('/'))
        rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos)
        return bad + "(no path after the port)";
    // An IPv6 address is bracketed ([::1]:2379): the port follows the ']'.
    size_t colon = rest.starts_with('[') ? rest.find("]:") + 1 : rest.rfind(':');
    if (colon == std::string_view::npos || (colon == 0 && rest.starts_with('[')))
        return bad + "(no port)";
    if (colon == 0)
        return bad + "(no host)";
    std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
    for (char ch : host)
        if (ch <= ' ' || ch >= 0x7f || ch == '@' || ch == '?' || ch == '#')
            return bad + "(a user part or an odd byte in the host)";
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos
        || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
        return bad + "(the port must be 1 to 65535)";
    return "";
}

void check_endpoints(const std::vector<std::string>& endpoints)
{
    if (endpoints.empty())
        throw std::invalid_argument("etcd endpoints: none given");
    for (const auto& e : endpoints)
        if (std::string why = endpoint_problem(e); !why.empty())
            throw std::invalid_argument("etcd endpoint " + why);
}

struct EtcdClient::Curl {
    CURL* easy = nullptr;
    CURLM* multi = nullptr;  // the watch's; created on the first watch
    curl_slist* headers = nullptr;
    char errbuf[CURL_ERROR_SIZE] = {};

    ~Curl()
    {
        if (easy != nullptr)
            curl_easy_cleanup(easy);
        if (multi != nullptr)
            curl_multi_cleanup(multi);
        curl_slist_free_all(headers);
    }

    // Readies the easy handle for a JSON POST of `body` (which must outlive
    // the transfer) to `url`.
    void post(const std::string& url, std::string_view body)
    {
        curl_easy_reset(easy);
        errbuf[0] = '\0';
        curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
        // Threads: no SIGALRM for DNS timeouts (there is no DNS on loopback
        // addresses anyway), and no signal handlers of libcurl's.
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
};

EtcdClient::EtcdClient(ClientConfig config) : config_(std::move(config)), curl_(std::make_unique<Curl>())
{
    check_endpoints(config_.endpoints);
    global_init();
    curl_->easy = curl_easy_init();
    if (curl_->easy == nullptr)
        throw std::runtime_error("curl_easy_init failed");
    curl_->headers = curl_slist_append(nullptr, "Content-Type: application/json");
    // Without Expect, libcurl waits up to 1 s for "100 Continue" before
    // sending a large body; the gateway never sends one.
    curl_->headers = curl_slist_append(curl_->headers, "Expect:");
    if (curl_->headers == nullptr)
        throw std::runtime_error("curl_slist_append failed");
}

EtcdClient::~EtcdClient() = default;

const std::string& EtcdClient::current_endpoint() const
{
    return config_.endpoints[current_];
}

namespace {

// A member that is shutting down cuts its gateway's calls short: gRPC's
// Canceled ("grpc: the client connection is closing"), whatever HTTP status
// the gateway gives it. kvstored never cancels a call, so another member may
// serve it (and this one may have applied it: uncertain, as after a 503).
bool shutting_down(long status, std::string_view reply)
{
    Error e;
    return status >= 400 && parse_error(reply, e) && e.code == kCodeCanceled;
}

}  // namespace

EtcdClient::Response EtcdClient::call(std::string_view path, std::string_view body, milliseconds timeout)
{
    if (timeout.count() <= 0)
        timeout = config_.timeout;
    const auto deadline = Clock::now() + timeout;
    CURL* easy = curl_->easy;
    Response response;
    std::string errors;
    auto note = [&](const std::string& endpoint, const std::string& why) {
        if (!errors.empty())
            errors += "; ";
        errors += endpoint_name(endpoint) + ": " + why;
    };

    const size_t n = config_.endpoints.size();
    for (size_t tried = 0; tried < n; ++tried) {
        const std::string& endpoint = config_.endpoints[current_];
        long left = remaining_ms(deadline);
        if (left <= 0) {
            note(endpoint, "not tried, the call's deadline (" + std::to_string(timeout.count()) + " ms) passed");
            break;
        }
        // A member that accepts but never answers (stopped, partitioned
        // after connect) must not eat the whole deadline: each attempt gets
        // an equal share of what is left among the endpoints not yet tried,
        // the last one all of it.
        long share = left / static_cast<long>(n - tried);
        std::string url = join_url(endpoint, path);
        std::string reply;
        curl_->post(url, body);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::max<long>(share, 1));
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                         std::max<long>(std::min<long>(share, config_.connect_timeout.count()), 1));
        curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
        CURLcode rc = curl_easy_perform(easy);
        if (rc == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            if (status != 503 && !shutting_down(status, reply)) {
                response.ok = true;
                response.status = status;
                response.body = std::move(reply);
                response.endpoint = endpoint;
                return response;
            }
            // The member has no leader, is shutting down (a 503, or the
            // Canceled of shutting_down()), or its proposal timed out:
            // another may serve. etcd's "request timed out" and "leader
            // changed" are 503s too, after which the txn may still commit:
            // uncertain.
            note(endpoint, "HTTP " + std::to_string(status) + " " + reply.substr(0, kQuoteMax));
            response.uncertain = true;
        } else {
            note(endpoint, curl_error(easy, rc, curl_->errbuf));
            // Bytes of the request went out: the member may have applied it.
            long sent = 0;
            curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
            if (sent > 0)
                response.uncertain = true;
        }
        current_ = (current_ + 1) % n;
    }
    response.error = errors;
    return response;
}

namespace {

// The watch's state, shared with libcurl's write callback.
struct WatchStream {
    const std::function<bool(std::string_view)>* on_message;
    std::string pending;  // bytes after the last newline: a message still arriving
    Clock::time_point last_byte;
    bool consumer_done = false;  // on_message returned false
    // What on_message threw: kept here, because an exception must not
    // unwind through libcurl's C frames, and rethrown by watch().
    std::exception_ptr thrown;
};

// The gateway writes one JSON object per line. A callback may bring part of
// a message, several messages, or both: pass on every whole line, keep the
// rest for the next callback.
size_t watch_write(char* data, size_t size, size_t nmemb, void* user)
{
    auto* w = static_cast<WatchStream*>(user);
    const size_t len = size * nmemb;
    w->last_byte = Clock::now();
    w->pending.append(data, len);
    size_t start = 0;
    for (;;) {
        size_t nl = w->pending.find('\n', start);
        if (nl == std::string::npos)
            break;
        std::string_view line(w->pending.data() + start, nl - start);
        start = nl + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty())
            continue;
        bool more = false;
        try {
            more = (*w->on_message)(line);
        } catch (...) {
            w->thrown = std::current_exception();
        }
        if (!more) {
            w->consumer_done = true;
            return 0;  // != len: libcurl aborts the transfer (CURLE_WRITE_ERROR)
        }
    }
    w->pending.erase(0, start);
    return len;
}

}  // namespace

std::string EtcdClient::watch(std::string_view create_body, const std::function<bool(std::string_view)>& on_message,
                              const std::atomic<bool>& stop, milliseconds idle_timeout)
{
    const std::string endpoint = config_.endpoints[current_];
    const std::string name = endpoint_name(endpoint);
    // Whatever happens below, a failed watch makes the next call or watch
    // start with the next endpoint.
    auto fail = [&](const std::string& why) {
        current_ = (current_ + 1) % config_.endpoints.size();
        return "watch " + name + ": " + why;
    };
    if (curl_->multi == nullptr) {
        curl_->multi = curl_multi_init();
        if (curl_->multi == nullptr)
            throw std::runtime_error("curl_multi_init failed");
    }
    CURL* easy = curl_->easy;
    CURLM* multi = curl_->multi;
    std::string url = join_url(endpoint, "/v3/watch");
    WatchStream stream{&on_message, {}, Clock::now(), false, nullptr};

    curl_->post(url, create_body);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &stream);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    // No CURLOPT_TIMEOUT: a watch lasts as long as it is fed.

    if (CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK)
        return fail(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    // Detach the easy handle on every way out, so that call() can use it.
    struct Detach {
        CURLM* multi;
        CURL* easy;
        ~Detach() { curl_multi_remove_handle(multi, easy); }
    } detach{multi, easy};

    std::string result = [&]() -> std::string {
        for (;;) {
            int running = 0;
            if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK)
                return fail(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
            int queued = 0;
            while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
                if (msg->msg != CURLMSG_DONE)
                    continue;
                CURLcode rc = msg->data.result;
                if (stream.consumer_done)
                    return "";
                if (rc != CURLE_OK)
                    return fail(curl_error(easy, rc, curl_->errbuf));
                long status = 0;
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
                if (status != 200)
                    return fail("HTTP " + std::to_string(status) + " " + stream.pending.substr(0, kQuoteMax));
                return fail("the stream ended");
            }
            // Stopped by the caller: the keeper stops a watch that stays
            // behind, and a member that holds the stream without sending
            // would take the next watch too: the next one goes elsewhere.
            if (stop.load()) {
                fail("stopped");
                return "";
            }
            if (Clock::now() - stream.last_byte >= idle_timeout)
                return fail("no byte for " + std::to_string(idle_timeout.count()) + " ms");
            if (CURLMcode mc = curl_multi_poll(multi, nullptr, 0, static_cast<int>(kWatchTick.count()), nullptr);
                mc != CURLM_OK)
                return fail(std::string("curl_multi_poll: ") + curl_multi_strerror(mc));
        }
    }();
    if (stream.thrown)
        std::rethrow_exception(stream.thrown);
    return result;
}

}  // namespace kv::etcd
