// test_tls.cc: the TLS services as shipped (xinetd.d/kvstore-tls,
// kvstore-redis-tls, packaging/stunnel/*.conf): a real xinetd runs stunnel4
// in inetd mode per connection, stunnel runs kvsvc, and kvsvc hands its end
// of stunnel's socketpair to kvstored. The clients are the ones
// docs/operations.md tells people to run: openssl s_client and
// redis-cli --tls, with a CA and a server certificate made by openssl for
// the test. A good certificate works; a wrong CA or a wrong host name is
// refused; plain TCP to the TLS port gets nothing useful.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "xinetd.h"
#include "xinetd_fixture.h"

using namespace kvtest;

namespace {

constexpr const char* kStunnel = "/usr/bin/stunnel4";
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
// DIR/tls/ under the names of packaging/stunnel/*.conf; and another CA,
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

// Who stunnel and kvsvc run as: the test's own user (setuid and setgid
// removed from the config), or, as packaged, root dropping to kvsvc.
enum class Account { own, kvsvc };

// packaging/stunnel/NAME as installed, with this test's paths: the
// certificate and key in DIR/tls, the built kvsvc, kvstored's socket in DIR.
// stunnel logs to DIR/stunnel.log instead of syslog.
std::string stunnel_config(const TempDir& dir, const std::string& name, const std::string& kvstored_socket,
                           Account account)
{
    std::string text = read_file(std::string(KVSTORE_SOURCE_DIR) + "/packaging/stunnel/" + name);
    REQUIRE(text.find("\ncert = /etc/kvstore/tls/server.crt\n") != std::string::npos);
    REQUIRE(text.find("\nsyslog = yes\n") != std::string::npos);
    text = std::regex_replace(text, std::regex("/etc/kvstore/tls/"), dir.file("tls") + "/");
    text = std::regex_replace(text, std::regex("/usr/bin/kvsvc"), kvsvc_bin());
    text = std::regex_replace(text, std::regex("/run/kvstored/kvstored.sock"), kvstored_socket);
    if (account == Account::own)
        text = std::regex_replace(text, std::regex("\n(setuid|setgid) = [^\n]*"), "");
    text = std::regex_replace(text, std::regex("\nsyslog = yes"), "\nsyslog = no\noutput = " + dir.file("stunnel.log"));
    const std::string path = dir.file(name);
    write_file(path, text);
    return path;
}

// kvstored, and xinetd running stunnel4 with packaging/stunnel/CONFIG on a
// free port, as xinetd.d/kvstore-tls does on 7443.
struct TlsStack {
    explicit TlsStack(const std::string& config, Account account = Account::own)
        : daemon(dir,
                 account == Account::kvsvc ? std::vector<std::string>{"--service-group", "kvsvc"}
                                           : std::vector<std::string>{})
    {
        if (::access(kStunnel, X_OK) != 0)
            throw std::runtime_error(std::string(kStunnel)
                                     + " is not installed: the TLS tests need the Debian package stunnel4 "
                                       "(scripts/deps installs it)");
        make_certificates(dir);
        XinetdOptions o = kvsvc_service(daemon.socket_path());
        o.server = kStunnel;
        o.server_args = stunnel_config(dir, config, daemon.socket_path(), account);
        if (account == Account::kvsvc) {
            // kvsvc must reach the socket (group kvsvc) through the 0700
            // TempDir, and stunnel opens its log after it became kvsvc.
            REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
            write_file(dir.file("stunnel.log"), "");
            const passwd* pw = ::getpwnam("kvsvc");
            REQUIRE(pw);
            REQUIRE(::chown(dir.file("stunnel.log").c_str(), pw->pw_uid, pw->pw_gid) == 0);
        }
        xinetd.emplace(dir, free_tcp_port(), o);
    }
    int port() const { return xinetd->port(); }
    std::string logs() const
    {
        return "stunnel log:\n" + read_file(dir.file("stunnel.log")) + "\nxinetd log:\n" + xinetd->log()
            + "\nkvstored log:\n" + daemon.log();
    }
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
    Daemon daemon;
    std::optional<PrivateXinetd> xinetd;
};

}  // namespace

TEST_CASE("TLS line protocol, openssl s_client with the right CA saves and reads through xinetd and stunnel")
{
    TlsStack tls("stunnel-kvstore.conf");
    INFO(tls.logs());
    Run r = tls.s_client("connect\nsave tls:over stunnel\nread tls\nexit\n", tls.dir.file("ca.crt"));
    INFO(r.describe());
    CHECK(exited_with(r.status, 0));
    CHECK(r.out == greeting() + "\nOK connected\nOK\nVALUE over stunnel\nBYE\n");
    // A second session sees the first one's key: the same kvstored.
    Run again = tls.s_client("connect\nread tls\nexit\n", tls.dir.file("ca.crt"));
    INFO(again.describe());
    CHECK(again.out == greeting() + "\nOK connected\nVALUE over stunnel\nBYE\n");
}

TEST_CASE("TLS line protocol, a wrong CA or a wrong host name is refused before any data")
{
    TlsStack tls("stunnel-kvstore.conf");
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
    TlsStack tls("stunnel-kvstore.conf");
    INFO(tls.logs());
    LineClient c = connect_tcp(tls.port());
    // kvsvc greets at once on the plain port; here stunnel waits for a
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

TEST_CASE("TLS Redis door, redis-cli --tls with the right CA sets and gets, a wrong CA is refused")
{
    TlsStack tls("stunnel-kvstore-redis.conf");
    INFO(tls.logs());
    Run set = tls.redis_cli(tls.dir.file("ca.crt"), {"SET", "tls", "redis over stunnel"});
    INFO(set.describe());
    CHECK(exited_with(set.status, 0));
    CHECK(set.out == "OK\n");
    Run get = tls.redis_cli(tls.dir.file("ca.crt"), {"GET", "tls"});
    INFO(get.describe());
    CHECK(get.out == "redis over stunnel\n");

    Run wrong = tls.redis_cli(tls.dir.file("other-ca.crt"), {"SET", "tls", "wrong CA"});
    INFO(wrong.describe());
    CHECK_FALSE(exited_with(wrong.status, 0));
    CHECK((wrong.out + wrong.err).find("certificate verify failed") != std::string::npos);
    Run after = tls.redis_cli(tls.dir.file("ca.crt"), {"GET", "tls"});
    CHECK(after.out == "redis over stunnel\n");

    // Plain RESP to the TLS port: no reply, and the connection is closed.
    LineClient c = connect_tcp(tls.port());
    c.send("*1\r\n$4\r\nPING\r\n");
    auto rest = c.read_to_eof(5s);
    REQUIRE(rest);
    CHECK(rest->find("PONG") == std::string::npos);
}

TEST_CASE("TLS services as shipped are off and run stunnel4 as root dropping to kvsvc, the plain service's limits")
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
        CHECK(value(text, "server") == kStunnel);
        CHECK(value(text, "server_args") == "/etc/kvstore/stunnel-" + door + ".conf");
        CHECK(value(text, "user") == "root");
        for (const char* key : {"type", "socket_type", "protocol", "wait", "instances", "per_source", "cps", "bind",
                                "only_from", "flags", "log_on_success", "log_on_failure"}) {
            INFO(key);
            CHECK(value(text, key) == value(plain, key));
        }
        // stunnel reads the key as root and becomes kvsvc before it reads
        // from the client; it runs the plain service's kvsvc command line.
        const std::string stunnel = read_file(src + "/packaging/stunnel/stunnel-" + door + ".conf");
        CHECK(stunnel.find("\nsetuid = kvsvc\nsetgid = kvsvc\n") != std::string::npos);
        CHECK(stunnel.find("\nexec = /usr/bin/kvsvc\n") != std::string::npos);
        CHECK(stunnel.find("\nexecArgs = kvsvc " + value(plain, "server_args") + "\n") != std::string::npos);
        CHECK(stunnel.find("\naccept") == std::string::npos);  // inetd mode
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

}  // namespace

TEST_CASE("TLS as packaged, stunnel reads the 0600 key as root, then it and kvsvc run as kvsvc")
{
    const passwd* pw = ::getpwnam("kvsvc");
    if (::geteuid() != 0 || !pw) {
        WARN("needs root and the package's kvsvc account (scripts/demo or the packaging tests create it)");
        return;
    }
    const uid_t kvsvc_uid = pw->pw_uid;
    TlsStack tls("stunnel-kvstore.conf", Account::kvsvc);
    INFO(tls.logs());
    // A session held open: s_client reads its input from a pipe.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    int out = open_log(tls.dir.file("held.out"));
    Process client(kOpenssl,
                   {"s_client", "-quiet", "-verify_return_error", "-CAfile", tls.dir.file("ca.crt"), "-verify_hostname",
                    "localhost", "-connect", "127.0.0.1:" + std::to_string(tls.port())},
                   Stdio{fds[0], out, out});
    ::close(fds[0]);
    ::close(out);
    REQUIRE(::write(fds[1], "connect\n", 8) == 8);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (read_file(tls.dir.file("held.out")).find("OK connected") == std::string::npos
           && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    CHECK(read_file(tls.dir.file("held.out")).find(greeting() + "\nOK connected\n") != std::string::npos);

    std::vector<pid_t> stunnels = child_pids(tls.xinetd->process().pid(), Zombies::exclude);
    REQUIRE(stunnels.size() == 1);
    CHECK(uid_of(stunnels[0]) == kvsvc_uid);
    std::vector<pid_t> kvsvcs = child_pids(stunnels[0], Zombies::exclude);
    REQUIRE(kvsvcs.size() == 1);
    CHECK(uid_of(kvsvcs[0]) == kvsvc_uid);
    CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(kvsvcs[0]) + "/exe")
          == std::filesystem::canonical(kvsvc_bin()));

    REQUIRE(::write(fds[1], "read nothing\nexit\n", 18) == 18);
    ::close(fds[1]);
    CHECK(exited_with(client.wait_exit(10s), 0));
    CHECK(read_file(tls.dir.file("held.out")).find("NOT_FOUND\nBYE\n") != std::string::npos);
}
