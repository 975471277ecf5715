// test_tls.cc: the TLS services as shipped (xinetd.d/kvstore-tls,
// kvstore-redis-tls): a real xinetd runs kvsvc-tls per connection, which does
// the TLS handshake, then serves the session on a socketpair (handed to
// kvstored, or relayed with --no-handoff). The clients are the ones
// docs/operations.md tells people to run: openssl s_client and
// redis-cli --tls, with a CA and a server certificate made by openssl for
// the test. A good certificate works; a wrong CA or a wrong host name is
// refused; plain TCP to the TLS port gets nothing useful.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include "xinetd.h"
#include "xinetd_fixture.h"

using namespace kvtest;

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kRedisCli = "/usr/bin/redis-cli";

struct Run {
    std::optional<int> status;  // nullopt: killed after the timeout
    std::string out;
    std::string err;
    std::string describe() const
    {
        return (status ? describe_status(*status) : std::string("timed out")) + "\nstdout:\n" + out + "\nstderr:\n"
            + err;
    }
};

// Runs PROGRAM ARGS with INPUT on its stdin (a file in DIR), its stdout and
// stderr kept apart; killed after `timeout`.
Run run(const TempDir& dir, const std::string& program, const std::vector<std::string>& args,
        const std::string& input = "", Millis timeout = 10s)
{
    static int serial = 0;
    const std::string base = dir.file("run" + std::to_string(++serial));
    write_file(base + ".in", input);
    int in = ::open((base + ".in").c_str(), O_RDONLY | O_CLOEXEC);
    int out = open_log(base + ".out");
    int err = open_log(base + ".err");
    Run r;
    {
        Process p(program, args, Stdio{in, out, err});
        ::close(in);
        ::close(out);
        ::close(err);
        r.status = p.wait_exit(timeout);
    }
    r.out = read_file(base + ".out");
    r.err = read_file(base + ".err");
    return r;
}

void openssl(const TempDir& dir, const std::vector<std::string>& args)
{
    Run r = run(dir, kOpenssl, args, "", 30s);
    if (!exited_with(r.status, 0))
        throw std::runtime_error("openssl failed: " + r.describe());
}

// A CA and a server certificate it signed for localhost and 127.0.0.1, in
// DIR/tls/ under the names of xinetd.d/kvstore-tls; and another CA,
// DIR/other-ca.crt, that signed nothing of the server's.
void make_certificates(const TempDir& dir)
{
    const std::string tls = dir.file("tls");
    REQUIRE(::mkdir(tls.c_str(), 0755) == 0);
    auto ec_key = std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
    auto self_signed = [&](const std::string& name, const std::string& cn) {
        std::vector<std::string> args = {"req", "-x509"};
        args.insert(args.end(), ec_key.begin(), ec_key.end());
        args.insert(
            args.end(),
            {"-days", "2", "-subj", "/CN=" + cn, "-keyout", dir.file(name + ".key"), "-out", dir.file(name + ".crt")});
        openssl(dir, args);
    };
    self_signed("ca", "kvstore test CA");
    self_signed("other-ca", "kvstore test CA");  // the same name, another key
    std::vector<std::string> request = {"req"};
    request.insert(request.end(), ec_key.begin(), ec_key.end());
    request.insert(request.end(),
                   {"-subj", "/CN=localhost", "-keyout", tls + "/server.key", "-out", dir.file("server.csr")});
    openssl(dir, request);
    write_file(dir.file("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    openssl(dir,
            {"x509", "-req", "-in", dir.file("server.csr"), "-CA", dir.file("ca.crt"), "-CAkey", dir.file("ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", dir.file("server.ext"), "-out", tls + "/server.crt"});
    REQUIRE(::chmod((tls + "/server.key").c_str(), 0600) == 0);
}

// Who kvsvc-tls runs as: the test's own user (--tls-user removed), or, as
// packaged, root becoming kvsvc.
enum class Account { own, kvsvc };

// The shipped xinetd.d/SERVICE's server_args with this test's paths: the
// certificate and key in DIR/tls, kvstored's socket; `extra` goes first.
std::string shipped_server_args(const std::string& service, const std::string& dir, const std::string& socket,
                                const std::string& extra = "", Account account = Account::own)
{
    std::smatch m;
    const std::string text = read_file(std::string(KVSTORE_SOURCE_DIR) + "/xinetd.d/" + service);
    REQUIRE(std::regex_search(text, m, std::regex("\n    server_args *= ([^\n]*)\n")));
    std::string args = m[1].str();
    REQUIRE(args.find("--tls-cert /etc/kvstore/tls/server.crt --tls-key /etc/kvstore/tls/server.key "
                      "--tls-user kvsvc ")
            != std::string::npos);
    if (account == Account::own)
        args = std::regex_replace(args, std::regex("--tls-user kvsvc "), "");
    args = std::regex_replace(args, std::regex("/etc/kvstore/tls/"), dir + "/tls/");
    args = std::regex_replace(args, std::regex("/run/kvstored/kvstored.sock"), socket);
    // "@DIR@" in `extra` stands for the test's directory.
    return extra.empty() ? args : std::regex_replace(extra, std::regex("@DIR@"), dir) + " " + args;
}

// kvstored, and xinetd running kvsvc-tls with the server_args of the shipped
// xinetd.d/SERVICE on a free port, as it does on 7443 and 7444.
struct TlsStack {
    explicit TlsStack(const std::string& service, const std::string& extra_args = "")
    {
        make_certificates(dir);
        XinetdOptions o = kvsvc_service(daemon.socket_path());
        o.server = kvsvc_tls_bin();
        o.server_args = shipped_server_args(service, dir.path(), daemon.socket_path(), extra_args);
        xinetd.emplace(dir, free_tcp_port(), o);
    }
    int port() const { return xinetd->port(); }
    std::string logs() const { return "xinetd log:\n" + xinetd->log() + "\nkvstored log:\n" + daemon.log(); }
    // openssl s_client as docs/operations.md has it: the CA, the host name
    // to check, and a failed check ends the handshake.
    Run s_client(const std::string& input, const std::string& ca, const std::string& host = "localhost")
    {
        return run(dir, kOpenssl,
                   {"s_client", "-quiet", "-verify_return_error", "-CAfile", ca, "-verify_hostname", host,
                    "-servername", host, "-connect", "127.0.0.1:" + std::to_string(port())},
                   input);
    }
    Run redis_cli(const std::string& ca, const std::vector<std::string>& command)
    {
        std::vector<std::string> args = {"--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", std::to_string(port())};
        args.insert(args.end(), command.begin(), command.end());
        return run(dir, kRedisCli, args);
    }

    TempDir dir;
    Daemon daemon{dir};
    std::optional<PrivateXinetd> xinetd;
};

}  // namespace

TEST_CASE("TLS line protocol, openssl s_client with the right CA saves and reads through xinetd and kvsvc-tls")
{
    TlsStack tls("kvstore-tls");
    INFO(tls.logs());
    Run r = tls.s_client("connect\nsave tls:over kvsvc-tls\nread tls\nexit\n", tls.dir.file("ca.crt"));
    INFO(r.describe());
    CHECK(exited_with(r.status, 0));
    CHECK(r.out == greeting() + "\nOK connected\nOK\nVALUE over kvsvc-tls\nBYE\n");
    // A second session sees the first one's key: the same kvstored.
    Run again = tls.s_client("connect\nread tls\nexit\n", tls.dir.file("ca.crt"));
    INFO(again.describe());
    CHECK(again.out == greeting() + "\nOK connected\nVALUE over kvsvc-tls\nBYE\n");
}

TEST_CASE("TLS line protocol, relayed by kvsvc-tls --no-handoff, saves and reads")
{
    TlsStack tls("kvstore-tls", "--no-handoff");
    INFO(tls.logs());
    Run r = tls.s_client("connect\nsave tls:relayed\nread tls\nexit\n", tls.dir.file("ca.crt"));
    INFO(r.describe());
    CHECK(exited_with(r.status, 0));
    CHECK(r.out == greeting() + "\nOK connected\nOK\nVALUE relayed\nBYE\n");
}

TEST_CASE("TLS line protocol, a wrong CA or a wrong host name is refused before any data")
{
    TlsStack tls("kvstore-tls");
    INFO(tls.logs());
    SECTION("a CA that did not sign the server's certificate")
    {
        Run r = tls.s_client("connect\nsave wrong:ca\nexit\n", tls.dir.file("other-ca.crt"));
        INFO(r.describe());
        CHECK_FALSE(exited_with(r.status, 0));
        CHECK(r.err.find("certificate verify failed") != std::string::npos);
        CHECK(r.out.find("HELLO") == std::string::npos);
    }
    SECTION("the right CA, but the certificate is not for the host the client asked for")
    {
        Run r = tls.s_client("connect\nsave wrong:host\nexit\n", tls.dir.file("ca.crt"), "kvstore.example.org");
        INFO(r.describe());
        CHECK_FALSE(exited_with(r.status, 0));
        CHECK(r.err.find("hostname mismatch") != std::string::npos);
        CHECK(r.out.find("HELLO") == std::string::npos);
    }
    // Nothing was saved by either.
    Run check = tls.s_client("connect\nread wrong\nexit\n", tls.dir.file("ca.crt"));
    CHECK(check.out == greeting() + "\nOK connected\nNOT_FOUND\nBYE\n");
}

TEST_CASE("TLS line protocol, plain TCP to the TLS port gets no greeting, no data, and is closed")
{
    TlsStack tls("kvstore-tls");
    INFO(tls.logs());
    LineClient c = connect_tcp(tls.port());
    // kvsvc greets at once on the plain port; kvsvc-tls waits for a
    // ClientHello and says nothing.
    CHECK(c.read_bytes(1, 1s).empty());
    CHECK_FALSE(c.eof());
    c.send("connect\nsave plain:text\nread plain\nexit\n");
    auto rest = c.read_to_eof(5s);
    REQUIRE(rest);  // closed
    CHECK(rest->find("HELLO") == std::string::npos);
    CHECK(rest->find("OK") == std::string::npos);
    CHECK(rest->find("VALUE") == std::string::npos);
    // The plaintext never reached kvstored.
    Run check = tls.s_client("connect\nread plain\nexit\n", tls.dir.file("ca.crt"));
    CHECK(check.out == greeting() + "\nOK connected\nNOT_FOUND\nBYE\n");
}

TEST_CASE("TLS line protocol, a client that connects and never does the handshake is closed at the deadline")
{
    // The shipped deadline is 10 s; 1 s here.
    TlsStack tls("kvstore-tls", "--tls-handshake-timeout 1");
    INFO(tls.logs());
    LineClient c = connect_tcp(tls.port());
    auto start = std::chrono::steady_clock::now();
    auto rest = c.read_to_eof(8s);
    REQUIRE(rest);  // closed, not left open
    CHECK(rest->empty());
    CHECK(std::chrono::steady_clock::now() - start >= 900ms);  // not before the deadline
    // The service still works.
    Run r = tls.s_client("connect\nexit\n", tls.dir.file("ca.crt"));
    CHECK(r.out == greeting() + "\nOK connected\nBYE\n");
}

TEST_CASE("TLS line protocol with --tls-ca admits a client with a certificate the CA signed, and no other")
{
    TlsStack tls("kvstore-tls", "--tls-ca @DIR@/ca.crt");
    INFO(tls.logs());
    // A client certificate signed by the same test CA.
    const TempDir& dir = tls.dir;
    openssl(dir,
            {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=client", "-keyout",
             dir.file("client.key"), "-out", dir.file("client.csr")});
    write_file(dir.file("client.ext"), "extendedKeyUsage=clientAuth\n");
    openssl(dir,
            {"x509", "-req", "-in", dir.file("client.csr"), "-CA", dir.file("ca.crt"), "-CAkey", dir.file("ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", dir.file("client.ext"), "-out", dir.file("client.crt")});
    auto s_client = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = {"s_client",
                                         "-quiet",
                                         "-verify_return_error",
                                         "-CAfile",
                                         dir.file("ca.crt"),
                                         "-connect",
                                         "127.0.0.1:" + std::to_string(tls.port())};
        args.insert(args.end(), extra.begin(), extra.end());
        return run(dir, kOpenssl, args, "connect\nsave mtls:yes\nread mtls\nexit\n");
    };
    Run with_cert = s_client({"-cert", dir.file("client.crt"), "-key", dir.file("client.key")});
    INFO(with_cert.describe());
    CHECK(with_cert.out == greeting() + "\nOK connected\nOK\nVALUE yes\nBYE\n");
    Run without = s_client({});
    INFO(without.describe());
    CHECK(without.out.find("HELLO") == std::string::npos);
    CHECK_FALSE(exited_with(without.status, 0));
}

TEST_CASE("TLS Redis door, redis-cli --tls with the right CA sets and gets, a wrong CA is refused")
{
    TlsStack tls("kvstore-redis-tls");
    INFO(tls.logs());
    Run set = tls.redis_cli(tls.dir.file("ca.crt"), {"SET", "tls", "redis over kvsvc-tls"});
    INFO(set.describe());
    CHECK(exited_with(set.status, 0));
    CHECK(set.out == "OK\n");
    Run get = tls.redis_cli(tls.dir.file("ca.crt"), {"GET", "tls"});
    INFO(get.describe());
    CHECK(get.out == "redis over kvsvc-tls\n");

    Run wrong = tls.redis_cli(tls.dir.file("other-ca.crt"), {"SET", "tls", "wrong CA"});
    INFO(wrong.describe());
    CHECK_FALSE(exited_with(wrong.status, 0));
    CHECK((wrong.out + wrong.err).find("certificate verify failed") != std::string::npos);
    Run after = tls.redis_cli(tls.dir.file("ca.crt"), {"GET", "tls"});
    CHECK(after.out == "redis over kvsvc-tls\n");

    // Plain RESP to the TLS port: no reply, and the connection is closed.
    LineClient c = connect_tcp(tls.port());
    c.send("*1\r\n$4\r\nPING\r\n");
    auto rest = c.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->find("PONG") == std::string::npos);
}

TEST_CASE("TLS services as shipped are off and run kvsvc-tls as kvsvc with the plain service's arguments and limits")
{
    const std::string src = KVSTORE_SOURCE_DIR;
    for (const auto& [name, door, port] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"kvstore-tls", "kvstore", "7443"}, {"kvstore-redis-tls", "kvstore-redis", "7444"}}) {
        INFO(name);
        const std::string text = read_file(src + "/xinetd.d/" + name);
        const std::string plain = read_file(src + "/xinetd.d/" + door);
        auto value = [](const std::string& file, const std::string& key) {
            std::smatch m;
            std::regex re("\n    " + key + " *= ([^\n]*)\n");
            return std::regex_search(file, m, re) ? m[1].str() : std::string("<none>");
        };
        CHECK(text.find("\nservice " + name + "\n{\n") != std::string::npos);
        CHECK(value(text, "port") == port);
        CHECK(value(text, "disable") == "yes");
        CHECK(value(text, "server") == "/usr/bin/kvsvc-tls");
        // The plain door's kvsvc command line, behind the TLS options.
        std::string args = value(plain, "server_args");
        std::string tls_args
            = "--tls-cert /etc/kvstore/tls/server.crt --tls-key /etc/kvstore/tls/server.key --tls-user kvsvc ";
        if (args.starts_with("--protocol redis "))
            args.insert(std::string("--protocol redis ").size(), tls_args);
        else
            args.insert(0, tls_args);
        CHECK(value(text, "server_args") == args);
        CHECK(text.find("stunnel") == std::string::npos);
        // Started as root to read the 0600 key; --tls-user makes it the plain
        // service's account before it reads from the client.
        CHECK(value(text, "user") == "root");
        CHECK(value(text, "group") == "root");
        CHECK(value(plain, "user") == "kvsvc");
        for (const char* key : {"type", "socket_type", "protocol", "wait", "instances", "per_source", "cps", "bind",
                                "only_from", "flags", "log_on_success", "log_on_failure"}) {
            INFO(key);
            CHECK(value(text, key) == value(plain, key));
        }
    }
}

namespace {

// The uid of a running process, from /proc/PID/status ("Uid: real ...").
uid_t uid_of(pid_t pid)
{
    std::smatch m;
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    REQUIRE(std::regex_search(status, m, std::regex("\nUid:\\t([0-9]+)")));
    return static_cast<uid_t>(std::stoul(m[1].str()));
}

// A datagram socket standing in for /dev/log: what a program run by
// run_with_log() sends to syslog arrives here.
struct PrivateLog {
    explicit PrivateLog(const TempDir& dir) : dev(dir.file("dev"))
    {
        REQUIRE(::mkdir(dev.c_str(), 0755) == 0);
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string path = dev + "/log";
        REQUIRE(path.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::chmod(path.c_str(), 0666) == 0);
        write_file(dev + "/null", "");
    }
    ~PrivateLog() { ::close(fd); }
    // Every message received so far (waits up to `timeout` for the first).
    std::string messages(Millis timeout)
    {
        std::string all;
        pollfd p{fd, POLLIN, 0};
        for (int i = 0; i < 100 && ::poll(&p, 1, all.empty() ? static_cast<int>(timeout.count()) : 100) > 0; ++i) {
            char buf[2048];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            all.append(buf, static_cast<size_t>(n)).append("\n");
        }
        return all;
    }
    std::string dev;
    int fd = -1;
};

// kvsvc-tls ARGS on `fd` (its stdin, stdout and stderr), in a mount
// namespace whose /dev is the PrivateLog's directory, so that its syslog
// lines reach `log`; `prefix` goes before it on the command line (setpriv).
Process kvsvc_tls_logging_to(const PrivateLog& log, int fd, const std::string& args, const std::string& prefix = "")
{
    return Process("/usr/bin/unshare",
                   {"--mount", "--propagation", "private", "/bin/sh", "-c",
                    "mount --bind " + log.dev + " /dev && exec " + prefix + kvsvc_tls_bin() + " " + args},
                   Stdio{fd, fd, fd});
}

// A TCP connection on 127.0.0.1: the client's end and the server's, as
// xinetd would give it to kvsvc-tls.
std::pair<int, int> tcp_connection()
{
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    REQUIRE(server >= 0);
    return {client, server};
}

}  // namespace

TEST_CASE("TLS kvsvc-tls logs a failed handshake with the client's address and the reason, and closes")
{
    if (::geteuid() != 0) {
        WARN("needs root: /dev/log is replaced in a private mount namespace (unshare)");
        return;
    }
    TempDir dir;
    make_certificates(dir);
    PrivateLog log(dir);
    auto [client_fd, server_fd] = tcp_connection();
    Process p = kvsvc_tls_logging_to(log, server_fd,
                                     "--tls-cert " + dir.file("tls/server.crt") + " --tls-key "
                                         + dir.file("tls/server.key") + " --socket " + dir.file("none.sock"));
    ::close(server_fd);
    LineClient c(client_fd);
    std::string expected;
    SECTION("plain text instead of a ClientHello")
    {
        c.send("connect\nsave plain:text\n");
        expected = "SSL routines";
    }
    SECTION("hung up before the handshake")
    {
        ::shutdown(client_fd, SHUT_WR);
        expected = "unexpected eof";  // OpenSSL 3: SSL_R_UNEXPECTED_EOF_WHILE_READING
    }
    auto rest = c.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->find("HELLO") == std::string::npos);
    CHECK(exited_with(p.wait_exit(5s), 0));
    std::string messages = log.messages(2s);
    INFO(messages);
    CHECK(messages.find("kvsvc") != std::string::npos);
    CHECK(messages.find("client 127.0.0.1:") != std::string::npos);
    CHECK(messages.find("TLS handshake failed") != std::string::npos);
    CHECK(messages.find(expected) != std::string::npos);
}

TEST_CASE("TLS kvsvc-tls with a missing or unreadable key logs why, names the file, and closes the connection")
{
    if (::geteuid() != 0) {
        WARN("needs root: /dev/log is replaced in a private mount namespace (unshare)");
        return;
    }
    TempDir dir;
    make_certificates(dir);
    PrivateLog log(dir);
    std::string key = dir.file("tls/server.key");
    std::string expected;
    // kvsvc-tls runs in a mount namespace whose /dev is DIR/dev (the log
    // socket and /dev/null), as nobody for the unreadable key.
    std::string setpriv;
    SECTION("missing")
    {
        key = dir.file("tls/missing.key");
        expected = "No such file or directory";
    }
    SECTION("unreadable (0600 root, kvsvc-tls running as nobody)")
    {
        REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
        REQUIRE(::chmod(dir.file("tls").c_str(), 0755) == 0);
        REQUIRE(::chmod(dir.file("tls/server.crt").c_str(), 0644) == 0);
        setpriv = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
        expected = "Permission denied";
    }
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Process p = kvsvc_tls_logging_to(log, sv[1],
                                     "--tls-cert " + dir.file("tls/server.crt") + " --tls-key " + key + " --socket "
                                         + dir.file("none.sock"),
                                     setpriv);
    ::close(sv[1]);
    LineClient c(sv[0]);
    auto rest = c.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->empty());  // nothing in clear, nothing at all
    CHECK(exited_with(p.wait_exit(5s), 1));
    std::string messages = log.messages(2s);
    INFO(messages);
    CHECK(messages.find("kvsvc") != std::string::npos);
    CHECK(messages.find("TLS setup failed") != std::string::npos);
    CHECK(messages.find("loading private key " + key) != std::string::npos);
    CHECK(messages.find(expected) != std::string::npos);
}

TEST_CASE("TLS as packaged, kvsvc-tls reads the 0600 key as root, then serves the client as kvsvc")
{
    const passwd* pw = ::getpwnam("kvsvc");
    if (::geteuid() != 0 || !pw) {
        WARN("needs root and the package's kvsvc account (scripts/demo or the packaging tests create it)");
        return;
    }
    const uid_t kvsvc_uid = pw->pw_uid;
    TempDir dir;
    Daemon daemon(dir, {"--service-group", "kvsvc"});
    make_certificates(dir);
    // kvsvc-tls, once kvsvc, must reach the socket (group kvsvc) through the
    // 0700 TempDir; the key stays 0600 root (make_certificates).
    REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
    XinetdOptions o = kvsvc_service(daemon.socket_path());
    o.server = kvsvc_tls_bin();
    o.server_args = shipped_server_args("kvstore-tls", dir.path(), daemon.socket_path(), "", Account::kvsvc);
    o.user = "root";
    PrivateXinetd xinetd(dir, free_tcp_port(), o);
    INFO(xinetd.log() + daemon.log());
    // A session held open: s_client reads its input from a pipe.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    int out = open_log(dir.file("held.out"));
    Process client(kOpenssl,
                   {"s_client", "-quiet", "-verify_return_error", "-CAfile", dir.file("ca.crt"), "-verify_hostname",
                    "localhost", "-connect", "127.0.0.1:" + std::to_string(xinetd.port())},
                   Stdio{fds[0], out, out});
    ::close(fds[0]);
    ::close(out);
    REQUIRE(::write(fds[1], "connect\n", 8) == 8);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (read_file(dir.file("held.out")).find("OK connected") == std::string::npos
           && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    CHECK(read_file(dir.file("held.out")).find(greeting() + "\nOK connected\n") != std::string::npos);

    // The session's kvsvc-tls; PrivateXinetd's readiness probe had one too,
    // which may still be exiting (slowly in the sanitizer build).
    std::vector<pid_t> kvsvcs;
    for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;) {
        kvsvcs = child_pids(xinetd.process().pid(), Zombies::exclude);
        if (kvsvcs.size() <= 1)
            break;
        std::this_thread::sleep_for(20ms);
    }
    REQUIRE(kvsvcs.size() == 1);
    CHECK(uid_of(kvsvcs[0]) == kvsvc_uid);
    CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(kvsvcs[0]) + "/exe")
          == std::filesystem::canonical(kvsvc_tls_bin()));

    REQUIRE(::write(fds[1], "read nothing\nexit\n", 18) == 18);
    ::close(fds[1]);
    CHECK(exited_with(client.wait_exit(10s), 0));
    CHECK(read_file(dir.file("held.out")).find("NOT_FOUND\nBYE\n") != std::string::npos);
}
