// tls.cc: see tls.h.
#include "tls.h"

// For load_error_strings(), the one user of OpenSSL 3.0's deprecated API.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <fcntl.h>
#include <grp.h>
#include <openssl/cryptoerr_legacy.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/sslerr_legacy.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include "client_io.h"
#include "fd.h"

namespace kv {
namespace {

using Clock = std::chrono::steady_clock;

struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Set when the session reset the client's connection (client_io.h): its
// output may stop mid-reply, so the TLS stream must not end with a
// close_notify that would make the cut look like a clean end. The TCP
// connection is reset instead.
std::atomic<bool> g_session_reset{false};

void note_session_reset()
{
    g_session_reset = true;
}

// OpenSSL's error strings, loaded only when there is an error to describe:
// loading them at start (as SSL_CTX_new does unless told not to) costs every
// session about 2.5 ms of CPU (bench/README.md, "TLS"). Once
// OPENSSL_init_ssl() has been told not to load them, only these per-library
// calls can, and OpenSSL 3.0 marks them deprecated for that reason.
void load_error_strings()
{
    static bool loaded = false;
    if (std::exchange(loaded, true))
        return;
    ERR_load_ERR_strings();  // the "system library" reasons: strerror's text
    ERR_load_SSL_strings();
    ERR_load_PEM_strings();
    ERR_load_BIO_strings();
    ERR_load_X509_strings();
    ERR_load_ASN1_strings();
    ERR_load_EVP_strings();
    ERR_load_EC_strings();
    ERR_load_RSA_strings();
    ERR_load_X509V3_strings();
    ERR_load_OSSL_STORE_strings();
    ERR_load_CRYPTO_strings();
}

// OpenSSL's error queue as text.
std::string openssl_errors()
{
    load_error_strings();
    std::string text;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof buf);
        text += text.empty() ? "" : "; ";
        text += buf;
    }
    return text.empty() ? "no OpenSSL error" : text;
}

// Why an SSL_* call on the connection failed, for the log.
std::string describe_failure(int ssl_error, int ret, int saved_errno)
{
    if (ssl_error == SSL_ERROR_SSL)
        return openssl_errors();
    if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && ret == 0))
        return "the client closed the connection";
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        return std::strerror(saved_errno);
    return openssl_errors();
}

std::string load_problem(const std::string& what)
{
    return what + ": " + openssl_errors();
}

// The server's TLS context: TLS 1.2 and 1.3, no renegotiation, no session
// tickets (each connection is a new process with its own ticket key, so a
// ticket could never be used; TLS 1.3 would send two after every handshake).
CtxPtr make_context(const TlsOptions& o, std::string& problem)
{
    // OPENSSL_INIT_NO_LOAD_CONFIG: no openssl.cnf, so every session starts the
    // same whatever the system's OpenSSL configuration says, and the file is
    // not read once per connection.
    // NO_LOAD_*_STRINGS: see load_error_strings().
    constexpr uint64_t kInit
        = OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_SSL_STRINGS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
    if (OPENSSL_init_ssl(kInit, nullptr) != 1) {
        problem = load_problem("OPENSSL_init_ssl");
        return {};
    }
    CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        problem = load_problem("SSL_CTX_new");
        return {};
    }
    SSL_CTX* c = ctx.get();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1)
        problem = load_problem("loading certificate " + o.cert_file);
    else if (SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        problem = load_problem("loading private key " + o.key_file);
    else if (SSL_CTX_check_private_key(c) != 1)
        problem = load_problem("private key " + o.key_file + " does not match certificate " + o.cert_file);
    else if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(c, o.ciphers.c_str()) != 1)
        problem = load_problem("cipher list '" + o.ciphers + "'");
    else if (!o.ca_file.empty() && SSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr) != 1)
        problem = load_problem("loading client CA " + o.ca_file);
    if (!problem.empty())
        return {};
    if (!o.ca_file.empty()) {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        SSL_CTX_set_client_CA_list(c, SSL_load_client_CA_file(o.ca_file.c_str()));
    }
    return ctx;
}

// Becomes `name` from /etc/passwd (read directly, not through NSS: a static
// program cannot load NSS modules safely), with its primary group only. The
// accounts kvsvc-tls runs as are system accounts, made by the package's
// postinst in /etc/passwd.
bool become_user(const std::string& name, std::string& problem)
{
    std::unique_ptr<FILE, int (*)(FILE*)> passwd(std::fopen("/etc/passwd", "re"), std::fclose);
    if (!passwd) {
        problem = std::string("open /etc/passwd: ") + std::strerror(errno);
        return false;
    }
    const struct passwd* pw = nullptr;
    while ((pw = ::fgetpwent(passwd.get())) && name != pw->pw_name) { }
    if (!pw) {
        problem = "--tls-user: no user '" + name + "' in /etc/passwd";
        return false;
    }
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    if (::setgroups(0, nullptr) < 0 || ::setgid(gid) < 0 || ::setuid(uid) < 0) {
        problem = "becoming user " + name + ": " + std::strerror(errno);
        return false;
    }
    if (uid != 0 && ::setuid(0) == 0) {
        problem = "becoming user " + name + ": root could be regained";
        return false;
    }
    return true;
}

// Waits until `fd` has `events` or `deadline` passes: false at the deadline.
bool wait_fd(int fd, short events, Clock::time_point deadline)
{
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0)
        return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    return n > 0 || (n < 0 && errno == EINTR);
}

// The handshake, on a non-blocking socket, bounded by `deadline`. Each turn
// either makes progress or waits for the socket, so the deadline bounds it.
bool handshake(SSL* ssl, int fd, Clock::time_point deadline, long timeout_s, std::string& problem)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_accept(ssl);
        if (r == 1)
            return true;
        int saved_errno = errno;
        int e = SSL_get_error(ssl, r);
        short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (events == 0) {
            problem = describe_failure(e, r, saved_errno);
            return false;
        }
        if (!wait_fd(fd, events, deadline)) {
            problem = "no TLS handshake within " + std::to_string(timeout_s) + " s";
            return false;
        }
    }
}

// Copies between TLS on the client's TCP socket and the plaintext socketpair
// end whose peer is the session (or kvstored, after a handoff), until both
// directions have ended. One buffer per direction: while one is full, its
// source is not read, so a slow reader on either side holds the other back
// (the session's write-stall deadline then applies as without TLS).
class Pump {
public:
    Pump(SSL* ssl, int tcp, int plain) : ssl_(ssl), tcp_(tcp), plain_(plain) { }
    void run();

private:
    void client_to_session();
    void session_to_client();
    void read_tls();
    void write_tls();
    void send_close_notify();
    void tls_failed(int ret, const char* op);
    bool done() const;
    bool can_progress() const;
    int poll_timeout_ms() const;
    void wait();

    SSL* ssl_;
    int tcp_;
    int plain_;
    std::string to_plain_;  // decrypted, for the session
    std::string to_tls_;  // from the session, to encrypt
    // What the TCP socket must show before the SSL_read or SSL_write that
    // wanted it is retried (0: try now).
    short read_wants_ = 0;
    short write_wants_ = 0;
    bool plain_readable_ = true;
    bool plain_writable_ = true;
    bool client_done_ = false;  // close_notify, end of stream or error from the client
    bool session_done_ = false;  // the session closed its end
    bool plain_shut_ = false;  // the session was told the client's end of input
    bool notify_sent_ = false;
    bool broken_ = false;  // the TLS connection failed: nothing more goes to the client
    Clock::time_point grace_deadline_;
};

void Pump::run()
{
    // Every turn moves what it can without blocking, then waits for a socket;
    // done() ends it, and after our close_notify so does kFinishGrace.
    while (!done()) {
        client_to_session();
        session_to_client();
        if (done())
            break;
        if (g_session_reset && session_done_)
            break;
        if (notify_sent_ && Clock::now() >= grace_deadline_)
            break;
        wait();
    }
}

bool Pump::done() const
{
    bool client_side = client_done_ && to_plain_.empty();
    bool session_side = session_done_ && (notify_sent_ || broken_);
    return client_side && session_side;
}

void Pump::client_to_session()
{
    if (to_plain_.empty() && !client_done_ && read_wants_ == 0)
        read_tls();
    while (!to_plain_.empty() && plain_writable_) {
        ssize_t n = ::send(plain_, to_plain_.data(), to_plain_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            plain_writable_ = false;
        } else if (n < 0) {
            to_plain_.clear();  // the session is gone: nobody reads it
        } else {
            to_plain_.erase(0, static_cast<size_t>(n));
        }
    }
    if (client_done_ && to_plain_.empty() && !plain_shut_) {
        ::shutdown(plain_, SHUT_WR);  // the session sees the client's end of input
        plain_shut_ = true;
    }
}

void Pump::read_tls()
{
    char buf[16 * 1024];
    ERR_clear_error();
    int r = SSL_read(ssl_, buf, sizeof buf);
    if (r > 0) {
        to_plain_.append(buf, static_cast<size_t>(r));
        return;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ)
        read_wants_ = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        read_wants_ = POLLOUT;
    else if (e == SSL_ERROR_ZERO_RETURN)
        client_done_ = true;  // close_notify
    else
        tls_failed(r, "read");
}

void Pump::session_to_client()
{
    if (to_tls_.empty() && !session_done_ && plain_readable_) {
        char buf[16 * 1024];
        ssize_t n = ::recv(plain_, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0 && !broken_)
            to_tls_.append(buf, static_cast<size_t>(n));
        else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            session_done_ = true;
        else if (n < 0 && errno == EAGAIN)
            plain_readable_ = false;
    }
    if (!to_tls_.empty() && !broken_ && write_wants_ == 0)
        write_tls();
    if (session_done_ && to_tls_.empty() && !notify_sent_ && !broken_ && !g_session_reset && write_wants_ == 0)
        send_close_notify();
}

void Pump::write_tls()
{
    ERR_clear_error();
    int r = SSL_write(ssl_, to_tls_.data(), static_cast<int>(to_tls_.size()));
    if (r > 0) {
        to_tls_.erase(0, static_cast<size_t>(r));
        return;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_WRITE)
        write_wants_ = POLLOUT;
    else if (e == SSL_ERROR_WANT_READ)
        write_wants_ = POLLIN;
    else
        tls_failed(r, "write");
}

// Our end of the TLS stream, sent once the session has said everything: the
// client can tell a complete session from a cut one. Then the client has
// kFinishGrace to send its own and hang up.
void Pump::send_close_notify()
{
    ERR_clear_error();
    int r = SSL_shutdown(ssl_);
    if (r >= 0) {
        notify_sent_ = true;
        grace_deadline_ = Clock::now() + kFinishGrace;
        return;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
        write_wants_ = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
    else
        broken_ = true;  // the client is gone: nobody to tell
}

// The client's TLS stream failed (reset, hung up without close_notify, bad
// record): the session gets an end of input, and whatever it still says is
// dropped.
void Pump::tls_failed(int ret, const char* op)
{
    int saved_errno = errno;
    std::string why = describe_failure(SSL_get_error(ssl_, ret), ret, saved_errno);
    // An unannounced hang-up is common (clients that just close) and harmless
    // once the session has said everything; anything else is worth a line.
    if (!(session_done_ && ret == 0))
        syslog(LOG_INFO, "TLS %s: %s", op, why.c_str());
    client_done_ = broken_ = true;
    to_tls_.clear();
    read_wants_ = write_wants_ = 0;
}

// Work that needs no waiting: a read or write that is not waiting for its
// socket. (After a read that returned data, more may be buffered in OpenSSL
// or in the socket; poll() would not show the former.)
bool Pump::can_progress() const
{
    bool tls_read = !client_done_ && to_plain_.empty() && read_wants_ == 0;
    bool tls_write = !broken_ && !to_tls_.empty() && write_wants_ == 0;
    bool plain_read = !session_done_ && to_tls_.empty() && plain_readable_;
    bool plain_write = !to_plain_.empty() && plain_writable_;
    return tls_read || tls_write || plain_read || plain_write;
}

int Pump::poll_timeout_ms() const
{
    if (can_progress())
        return 0;
    if (!notify_sent_)
        return -1;  // the session bounds the session: its idle and stall deadlines
    auto left = std::chrono::ceil<std::chrono::milliseconds>(grace_deadline_ - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

void Pump::wait()
{
    short tcp_events = static_cast<short>(read_wants_ | write_wants_);
    short plain_events
        = static_cast<short>((!session_done_ && to_tls_.empty() ? POLLIN : 0) | (to_plain_.empty() ? 0 : POLLOUT));
    pollfd fds[2] = {{tcp_events ? tcp_ : -1, tcp_events, 0}, {plain_events ? plain_ : -1, plain_events, 0}};
    if (::poll(fds, 2, poll_timeout_ms()) <= 0)
        return;
    if (fds[0].revents) {
        // An error or hang-up wakes both: the retried call reports it.
        if (fds[0].revents & (read_wants_ | POLLERR | POLLHUP))
            read_wants_ = 0;
        if (fds[0].revents & (write_wants_ | POLLERR | POLLHUP))
            write_wants_ = 0;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        plain_readable_ = true;
    if (fds[1].revents & (POLLOUT | POLLHUP | POLLERR))
        plain_writable_ = true;
}

// After the handshake: the session's fds 0, 1 and 2 become one end of a
// socketpair; `tcp` keeps the client's socket.
bool swap_in_socketpair(UniqueFd& plain, std::string& problem)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        problem = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    plain.reset(sv[0]);
    UniqueFd session_end(sv[1]);
    for (int fd = 0; fd <= 2; ++fd) {
        if (::dup2(session_end.get(), fd) < 0) {
            problem = std::string("dup2: ") + std::strerror(errno);
            return false;
        }
    }
    return true;
}

// Closes the fds among 0, 1 and 2 that are still the session's socketpair end
// (the session may have closed them, and a later open may have taken one).
void close_session_end(const struct stat& session_end)
{
    for (int fd = 0; fd <= 2; ++fd) {
        struct stat st;
        if (::fstat(fd, &st) == 0 && st.st_dev == session_end.st_dev && st.st_ino == session_end.st_ino)
            ::close(fd);
    }
}

void reset_tcp(int fd)
{
    const struct linger reset_on_close = {1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
}

}  // namespace

int serve_over_tls(const TlsOptions& options, const std::string& client_address, const std::function<int()>& session)
{
    const std::string who = client_address.empty() ? std::string("local") : client_address;
    std::string problem;
    CtxPtr ctx = make_context(options, problem);
    if (ctx && !options.user.empty() && !become_user(options.user, problem))
        ctx.reset();
    if (!ctx) {
        syslog(LOG_ERR, "TLS setup failed, client %s not served: %s", who.c_str(), problem.c_str());
        return 1;
    }
    // The client's socket moves off fds 0, 1 and 2, which the session gets.
    UniqueFd tcp(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!tcp || ::fcntl(tcp.get(), F_SETFL, ::fcntl(tcp.get(), F_GETFL) | O_NONBLOCK) < 0) {
        syslog(LOG_ERR, "TLS setup failed, client %s not served: fcntl: %m", who.c_str());
        return 1;
    }
    SslPtr ssl(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), tcp.get()) != 1) {
        syslog(LOG_ERR, "TLS setup failed, client %s not served: %s", who.c_str(), openssl_errors().c_str());
        return 1;
    }
    auto deadline = Clock::now() + options.handshake_timeout;
    if (!handshake(ssl.get(), tcp.get(), deadline, static_cast<long>(options.handshake_timeout.count()), problem)) {
        syslog(LOG_WARNING, "client %s: TLS handshake failed: %s", who.c_str(), problem.c_str());
        return 0;
    }
    UniqueFd plain;
    if (!swap_in_socketpair(plain, problem)) {
        syslog(LOG_ERR, "client %s: %s", who.c_str(), problem.c_str());
        return 1;
    }
    struct stat session_end;
    ::fstat(STDIN_FILENO, &session_end);
    set_client_reset_hook(note_session_reset);
    Pump pump(ssl.get(), tcp.get(), plain.get());
    std::thread pump_thread;
    try {
        pump_thread = std::thread([&pump] { pump.run(); });
    } catch (const std::system_error& e) {
        // E.g. the account's RLIMIT_NPROC: every session here is two threads.
        syslog(LOG_ERR, "client %s: starting the TLS thread: %s", who.c_str(), e.what());
        return 1;
    }
    int status = session();
    close_session_end(session_end);
    pump_thread.join();
    if (g_session_reset)
        reset_tcp(tcp.get());
    return status;
}

}  // namespace kv
