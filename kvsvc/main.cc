// main.cc: kvsvc, one per client connection. xinetd (or systemd's Accept=yes
// socket) starts it with the client's TCP socket on stdin, stdout and stderr.
//
// Nothing is ever written to stderr: it is the client's socket. Diagnostics go
// to syslog. kvsvc stays small (no CLI library, no iostreams) because it is
// exec'd once per connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "session.h"
#include "version.h"

namespace {

constexpr const char* kUsage
    = "Usage: kvsvc [--socket PATH] [--idle-timeout SECONDS] [--no-handoff]\n"
      "\n"
      "Serve one kvstore client on stdin/stdout for kvstored. kvsvc is started by\n"
      "xinetd or by a systemd socket unit (Accept=yes), once per TCP connection; run\n"
      "by hand, it speaks the same protocol on the terminal.\n"
      "\n"
      "kvsvc greets the client and answers it until 'connect'. Then, when stdin and\n"
      "stdout are one socket (xinetd, systemd), it hands that socket to kvstored with\n"
      "the connect; kvstored answers the connect and serves the client's commands\n"
      "directly, and kvsvc sleeps until kvstored hands the session back (close, exit,\n"
      "end of input, idle timeout, shutdown). If kvstored does not take the socket\n"
      "within 5 s, kvsvc takes it back and answers 'ERR unavailable'. Otherwise (a\n"
      "pipe, a terminal, or --no-handoff) it relays each command to kvstored and back.\n"
      "\n"
      "A client that takes none of its waiting replies for 10 s, and one whose\n"
      "kvstored dies while serving it, is reset (TCP RST), not told BYE: its last\n"
      "reply may be cut.\n"
      "\n"
      "Options:\n"
      "  --socket PATH           kvstored's service socket (default /run/kvstored/kvstored.sock)\n"
      "  --idle-timeout SECONDS  say 'BYE idle timeout' and close after this long without\n"
      "                          traffic (default 300; 0 disables)\n"
      "  --no-handoff            relay every command through kvsvc instead of handing\n"
      "                          the socket to kvstored (slower; for comparison)\n"
      "  --help                  show this help and exit\n"
      "  --version               show the version and exit\n"
      "\n"
      "The protocol is described in docs/protocol.md; type 'help' once connected.\n"
      "Diagnostics go to syslog (facility daemon, tag kvsvc), never to stderr,\n"
      "because stderr is the client's socket. Exit status: 0, or 2 on bad usage.\n";

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
    std::string line = "ERR unavailable kvsvc: " + message + " (see kvsvc --help)\n";
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

kv::SessionConfig parse_args(int argc, char** argv)
{
    kv::SessionConfig config;
    config.socket_path = "/run/kvstored/kvstored.sock";
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
        } else if (arg == "--idle-timeout") {
            std::string v = take_value();
            long seconds = 0;
            if (!parse_seconds(v.c_str(), seconds))
                usage_error("--idle-timeout wants whole seconds, not '" + v + "'");
            // 0 means never: a timeout longer than any session.
            config.idle_timeout = std::chrono::seconds(seconds == 0 ? 86400L * 365 * 100 : seconds);
        } else {
            usage_error("unknown option '" + std::string(arg) + "'");
        }
    }
    return config;
}

}  // namespace

int main(int argc, char** argv)
{
    // No LOG_NDELAY: most sessions log nothing, so connect to syslog only
    // when there is something to say (fewer system calls per connection).
    ::openlog("kvsvc", LOG_PID, LOG_DAEMON);
    // The client may vanish at any moment; that must be an EPIPE, not a death.
    ::signal(SIGPIPE, SIG_IGN);
    kv::SessionConfig config = parse_args(argc, argv);
    config.client_address = client_address();
    return kv::Session(std::move(config)).run();
}
