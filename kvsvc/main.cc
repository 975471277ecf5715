// main.cc: kvsvc, one per client connection. xinetd (or systemd's Accept=yes
// socket) starts it with the client's TCP socket on stdin, stdout and stderr.
//
// Nothing is ever written to stderr: it is the client's socket. Diagnostics go
// to syslog. kvsvc stays small (no CLI library, no iostreams) because it is
// exec'd once per connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "door_session.h"
#include "session.h"
#include "tls.h"
#include "version.h"

namespace {

constexpr const char* kUsage
    = "Usage: kvsvc [--protocol line|redis|memcache] [--socket PATH]\n"
      "             [--idle-timeout SECONDS] [--no-handoff]\n"
      "       kvsvc-tls --tls-cert FILE --tls-key FILE [--tls-ca FILE]\n"
      "             [--tls-ciphers LIST] [--tls-user NAME]\n"
      "             [--tls-handshake-timeout SECONDS] [OPTION]...\n"
      "\n"
      "Serve one kvstore client on stdin/stdout for kvstored. kvsvc is started by\n"
      "xinetd or by a systemd socket unit (Accept=yes), once per TCP connection; run\n"
      "by hand, it speaks the same protocol on the terminal.\n"
      "\n"
      "Line protocol (the default): kvsvc greets the client and answers it until\n"
      "'connect'. Then, when stdin and stdout are one socket (xinetd, systemd), it\n"
      "hands that socket to kvstored with the connect; kvstored answers the connect\n"
      "and serves the client's commands directly, and kvsvc sleeps until kvstored\n"
      "hands the session back (close, exit, end of input, idle timeout, shutdown).\n"
      "If kvstored does not take the socket within 5 s, kvsvc takes it back and\n"
      "answers 'ERR unavailable'. Otherwise (a pipe, a terminal, or --no-handoff) it\n"
      "relays each command to kvstored and back.\n"
      "\n"
      "Redis protocol (--protocol redis, docs/redis.md) and memcached's text\n"
      "protocol (--protocol memcache, docs/memcache.md): these clients send first,\n"
      "so kvsvc greets nobody. It connects to kvstored at once and hands it the\n"
      "client's socket; kvstored speaks the client's protocol on it until the\n"
      "session ends (QUIT or quit, end of input, idle timeout, shutdown), and kvsvc\n"
      "exits. With a pipe, a terminal or --no-handoff it hands kvstored one end of a\n"
      "socketpair and copies bytes between it and stdin/stdout. If kvstored cannot\n"
      "be reached, refuses, or does not take the socket within 5 s, the client gets\n"
      "one error line in its own protocol and the connection closes:\n"
      "  redis      -ERR kvstore unavailable: <why>\n"
      "  memcache   SERVER_ERROR kvstore unavailable: <why>\n"
      "\n"
      "TLS: kvsvc-tls is kvsvc linked with OpenSSL (kvsvc itself has no TLS, which\n"
      "keeps its start cheap). It does the TLS handshake first (TLS 1.2 or 1.3;\n"
      "nothing is said in clear), then serves the session as kvsvc does, copying\n"
      "between TLS on the client's socket and a socketpair whose other end is the\n"
      "session (or kvstored, once handed off). A failed handshake is logged with the\n"
      "client's address and OpenSSL's reason, and the connection closes.\n"
      "\n"
      "A client that takes none of its waiting replies for 10 s, and one whose\n"
      "kvstored dies while serving it, is reset (TCP RST), not told BYE: its last\n"
      "reply may be cut.\n"
      "\n"
      "Options:\n"
      "  --protocol line|redis|memcache\n"
      "                          the client's protocol (default line): kvstore's line\n"
      "                          protocol (docs/protocol.md), Redis's RESP2/RESP3, or\n"
      "                          memcached's text protocol (not its binary one)\n"
      "  --socket PATH           kvstored's service socket (default /run/kvstored/kvstored.sock)\n"
      "  --idle-timeout SECONDS  end the session after this long without traffic: the\n"
      "                          line protocol says 'BYE idle timeout' first, the Redis\n"
      "                          and memcached protocols just close (as redis-server's\n"
      "                          'timeout' and memcached's '-o idle_timeout' do).\n"
      "                          Default 300 for line, 0 for redis and memcache (their\n"
      "                          servers' default); 0 disables\n"
      "  --no-handoff            relay the client's bytes through kvsvc instead of handing\n"
      "                          the socket to kvstored (slower; for comparison)\n"
      "  --tls-cert FILE         (kvsvc-tls) the server's certificate, PEM, followed by\n"
      "                          any intermediate CA certificates\n"
      "  --tls-key FILE          (kvsvc-tls) its private key, PEM, without passphrase\n"
      "  --tls-ca FILE           (kvsvc-tls) require a client certificate signed by\n"
      "                          a CA in FILE (PEM); default: no client certificates\n"
      "  --tls-ciphers LIST      (kvsvc-tls) TLS 1.2 cipher list, OpenSSL's syntax\n"
      "                          (TLS 1.3 suites are OpenSSL's defaults)\n"
      "  --tls-user NAME         (kvsvc-tls) started as root: become NAME (its group,\n"
      "                          no other) once the key is read, before reading the\n"
      "                          client\n"
      "  --tls-handshake-timeout SECONDS\n"
      "                          (kvsvc-tls) close a client that has not completed the\n"
      "                          handshake after this long (default 10)\n"
      "  --help                  show this help and exit\n"
      "  --version               show the version and exit\n"
      "\n"
      "The line protocol is described in docs/protocol.md (type 'help' once\n"
      "connected), the Redis door in docs/redis.md, the memcached door in\n"
      "docs/memcache.md; installing and enabling the doors in docs/operations.md.\n"
      "Diagnostics go to syslog (facility daemon, tag kvsvc), never to stderr,\n"
      "because stderr is the client's socket. Exit status: 0, or 2 on bad usage\n"
      "(told to the client on stdout, in its protocol once --protocol is read).\n";

struct Options {
    kv::SessionConfig session;
    // The door kvstored parses (Redis, memcached), or none: the line protocol.
    std::optional<kv::Door> door;
    // Any --tls-* option given: kvsvc-tls serves the client over TLS.
    std::optional<kv::TlsOptions> tls;
};

#ifdef KVSVC_TLS
constexpr bool kHasTls = true;
#else
constexpr bool kHasTls = false;
#endif

// Set once --protocol redis or memcache is read: usage errors are then told in
// that door's protocol.
std::optional<kv::Door> g_usage_door;

// The client's address for kvstored's logs: the peer of our stdin socket, or
// what xinetd put in REMOTE_HOST, or "" (a pipe, a terminal).
std::string client_address()
{
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    if (::getpeername(STDIN_FILENO, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        if (ss.ss_family == AF_INET) {
            auto* in = reinterpret_cast<sockaddr_in*>(&ss);
            ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
        }
        if (ss.ss_family == AF_INET6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
            ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
        }
    }
    const char* remote = std::getenv("REMOTE_HOST");
    return remote ? remote : "";
}

// Bad usage is told on stdout, which is where whoever started us can see it:
// the person at the terminal, or the TCP client of a misconfigured xinetd.
[[noreturn]] void usage_error(const std::string& message)
{
    syslog(LOG_ERR, "%s", message.c_str());
    std::string line = g_usage_door ? kv::unavailable_reply(*g_usage_door, "kvsvc: " + message + " (see kvsvc --help)")
                                    : "ERR unavailable kvsvc: " + message + " (see kvsvc --help)\n";
    (void)!::write(STDOUT_FILENO, line.data(), line.size());
    std::exit(2);
}

bool parse_seconds(const char* text, long& out)
{
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 86400 * 365)
        return false;
    out = v;
    return true;
}

void parse_tls_option(std::string_view arg, const std::string& value, Options& options)
{
    if (!kHasTls)
        usage_error("option " + std::string(arg)
                    + ": this kvsvc has no TLS; kvsvc-tls, the same program linked with OpenSSL, has");
    kv::TlsOptions& tls = options.tls ? *options.tls : options.tls.emplace();
    long seconds = 0;
    if (arg == "--tls-cert")
        tls.cert_file = value;
    else if (arg == "--tls-key")
        tls.key_file = value;
    else if (arg == "--tls-ca")
        tls.ca_file = value;
    else if (arg == "--tls-ciphers")
        tls.ciphers = value;
    else if (arg == "--tls-user")
        tls.user = value;
    else if (arg == "--tls-handshake-timeout" && parse_seconds(value.c_str(), seconds) && seconds > 0)
        tls.handshake_timeout = std::chrono::seconds(seconds);
    else if (arg == "--tls-handshake-timeout")
        usage_error("--tls-handshake-timeout wants whole seconds above 0, not '" + value + "'");
    else
        usage_error("unknown option '" + std::string(arg) + "'");
}

Options parse_args(int argc, char** argv)
{
    Options options;
    kv::SessionConfig& config = options.session;
    config.socket_path = "/run/kvstored/kvstored.sock";
    long idle_seconds = -1;  // not given
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string value;
        bool has_value = false;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            value = std::string(arg.substr(eq + 1));
            arg = arg.substr(0, eq);
            has_value = true;
        }
        auto take_value = [&]() -> std::string {
            if (has_value)
                return value;
            if (i + 1 >= argc)
                usage_error("option " + std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            (void)!::write(STDOUT_FILENO, kUsage, std::strlen(kUsage));
            std::exit(0);
        } else if (arg == "--version") {
            const char* v = "kvsvc " KVSTORE_VERSION "\n";
            (void)!::write(STDOUT_FILENO, v, std::strlen(v));
            std::exit(0);
        } else if (arg == "--no-handoff") {
            config.handoff = false;
        } else if (arg == "--socket") {
            config.socket_path = take_value();
        } else if (arg == "--protocol") {
            std::string v = take_value();
            if (v == "line")
                options.door.reset();
            else if (v == "redis")
                options.door = kv::Door::Redis;
            else if (v == "memcache")
                options.door = kv::Door::Memcache;
            else
                usage_error("--protocol wants line, redis or memcache, not '" + v + "'");
            g_usage_door = options.door;
        } else if (arg.starts_with("--tls-")) {
            parse_tls_option(arg, take_value(), options);
        } else if (arg == "--idle-timeout") {
            std::string v = take_value();
            if (!parse_seconds(v.c_str(), idle_seconds))
                usage_error("--idle-timeout wants whole seconds, not '" + v + "'");
        } else {
            usage_error("unknown option '" + std::string(arg) + "'");
        }
    }
    if (kHasTls && (!options.tls || options.tls->cert_file.empty() || options.tls->key_file.empty()))
        usage_error("kvsvc-tls needs --tls-cert and --tls-key");
    if (options.door) {
        // Travels in the Handoff; kvstored enforces it, 0 meaning none.
        config.idle_timeout = std::chrono::seconds(idle_seconds < 0 ? 0 : idle_seconds);
    } else if (idle_seconds >= 0) {
        // 0 means never: a timeout longer than any session.
        config.idle_timeout = std::chrono::seconds(idle_seconds == 0 ? 86400L * 365 * 100 : idle_seconds);
    }
    return options;
}

}  // namespace

int main(int argc, char** argv)
{
    // No LOG_NDELAY: most sessions log nothing, so connect to syslog only
    // when there is something to say (fewer system calls per connection).
    ::openlog("kvsvc", LOG_PID, LOG_DAEMON);
    // The client may vanish at any moment; that must be an EPIPE, not a death.
    ::signal(SIGPIPE, SIG_IGN);
    // Not dumpable: a crash writes no core holding the client's password or
    // data, and no other process of this account (every other kvsvc: one per
    // client) may ptrace this one or read its /proc/PID/mem.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    Options options = parse_args(argc, argv);
    options.session.client_address = client_address();
    auto serve = [&options]() {
        if (options.door)
            return kv::DoorSession(*options.door, std::move(options.session)).run();
        return kv::Session(std::move(options.session)).run();
    };
#ifdef KVSVC_TLS
    return kv::serve_over_tls(*options.tls, options.session.client_address, serve);
#else
    return serve();
#endif
}
