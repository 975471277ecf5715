// line_client.h: the client side of the kvstore line protocol over any
// connected stream socket (a socketpair end or a TCP socket), with every wait
// bounded in time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "process.h"

namespace kvtest {

// A `keys` reply read whole: its pages ("KEYS <n> more" headers, then a last
// "KEYS <n>", docs/protocol.md) joined.
struct Listing {
    std::vector<std::string> keys;
    size_t pages = 0;
    bool complete = false;  // the last page arrived
    std::string error;  // what came instead of a page header, if anything
};

class LineClient {
public:
    LineClient() = default;
    explicit LineClient(int fd);  // takes ownership and makes it non-blocking
    ~LineClient();
    LineClient(LineClient&& other) noexcept;
    LineClient& operator=(LineClient&& other) noexcept;
    LineClient(const LineClient&) = delete;
    LineClient& operator=(const LineClient&) = delete;

    int fd() const { return fd_; }
    // Writes all of `data`. Throws std::runtime_error on error or timeout.
    void send(std::string_view data, Millis timeout = 5s);
    // The next line without its LF; nullopt on timeout or at EOF (see eof()).
    std::optional<std::string> read_line(Millis timeout = 5s);
    // One reply: a single line, or for "KEYS n", "STATS n" and "HELP n" the
    // header and n more lines (for "KEYS n more", one page of a listing).
    // Shorter than that on timeout or EOF.
    std::vector<std::string> read_reply_block(Millis timeout = 5s);
    // A whole `keys` listing, every page of it (for a long one the timeout
    // applies to the whole).
    Listing read_listing(Millis timeout = 5s);
    // The next `n` lines; fewer on timeout or EOF.
    std::vector<std::string> read_lines(size_t n, Millis timeout = 5s);
    // Sends `line` + LF and returns the reply line, or "<timeout>" / "<eof>".
    std::string ask(std::string_view line, Millis timeout = 5s);
    // The next `n` bytes, line ends or not; fewer on timeout or EOF.
    std::string read_bytes(size_t n, Millis timeout = 5s);
    // Everything until EOF; nullopt when EOF does not come within `timeout`.
    std::optional<std::string> read_to_eof(Millis timeout = 5s);
    // True when the peer closes within `timeout` without sending anything more.
    bool expect_eof(Millis timeout = 5s);
    bool eof() const { return eof_; }
    void shutdown_write();
    void close();

    // For callers that poll() many clients: reads what is there now. Returns
    // false once at EOF.
    bool pump();
    // A complete line already received, if any.
    std::optional<std::string> buffered_line();

private:
    bool wait_readable(Millis timeout);

    int fd_ = -1;
    std::string in_;
    bool eof_ = false;
};

// "<timeout>" or "<eof>": what ask() returns when no reply came.
std::string no_reply(const LineClient& c);

// A client connected to 127.0.0.1:port (bounded by `timeout`), or throws.
LineClient connect_tcp(int port, Millis timeout = 5s);
// A raw connected Unix socket fd (blocking), or -1 with errno set.
int connect_unix(const std::string& path);

// Drives many clients at once from one thread with poll(): sends each its
// bytes, then reads until each has received exactly its expected lines (and
// EOF after them when `then_eof`). Returns one message per client that got
// something else or nothing in time; empty when all went as expected.
struct Exchange {
    LineClient* client = nullptr;
    std::string send;
    std::vector<std::string> expect;
    bool then_eof = false;
};
std::vector<std::string> run_exchanges(std::vector<Exchange>& exchanges, Millis timeout);

}  // namespace kvtest
