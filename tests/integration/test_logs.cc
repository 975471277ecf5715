// test_logs.cc: what kvstored writes to its log (docs/operations.md, Logs):
// how much at the default level, how it names admin sessions and kicked
// clients, what the shutdown line counts, the timestamps of a log file, and
// the logrotate file of the recipe without systemd
// (packaging/logrotate/kvstored), run by the real logrotate.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

using Clock = std::chrono::steady_clock;

// A kvstored on DIR/kvstored.sock (admin socket DIR/admin.sock), its stderr
// appended to DIR/kvstored.log as `2>>` does.
struct Logged {
    TempDir dir;
    Daemon daemon;
    std::string admin_socket;

    explicit Logged(std::vector<std::string> args = {"--log-level", "debug"})
        : daemon(dir, std::move(args)), admin_socket(dir.file("admin.sock"))
    {
        REQUIRE(wait_for_unix_listener(admin_socket, 5s));
    }

    CliResult cli(std::vector<std::string> args) const
    {
        args.insert(args.begin(), {"--admin-socket", admin_socket});
        return run_kvstored(args);
    }

    // Waits (at most 3 s) for a log line matching `pattern`; returns it, or ""
    // (then the test shows the log).
    std::string wait_for_line(const std::string& pattern)
    {
        std::regex re(pattern);
        auto deadline = Clock::now() + 3s;
        for (;;) {
            std::istringstream in(daemon.log());
            for (std::string line; std::getline(in, line);)
                if (std::regex_search(line, re))
                    return line;
            if (Clock::now() >= deadline) {
                UNSCOPED_INFO("no line matching " << pattern << " in the log:\n" << daemon.log());
                return "";
            }
            std::this_thread::sleep_for(20ms);
        }
    }

    // The id `clients --json` gives the kvsvc with `pid`.
    std::string client_id(pid_t pid) const
    {
        CliResult r = cli({"clients"});
        INFO(r.describe());
        REQUIRE(r.code == 0);
        std::istringstream in(r.out);
        std::string line;
        std::getline(in, line);  // the heading
        while (std::getline(in, line)) {
            std::istringstream row(line);
            std::string id, row_pid;
            row >> id >> row_pid;
            if (row_pid == std::to_string(pid))
                return id;
        }
        FAIL("no client with pid " << pid << " in:\n" << r.out);
        return "";
    }
};

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

}  // namespace

// Issue 19: every session and every admin command (`kvstored status` from a
// monitoring check, say) cost two info lines, repeating what xinetd or
// systemd already logs per connection.
TEST_CASE("at the default level a session and an admin command leave no log line", "[logs][regression]")
{
    Logged f(std::vector<std::string>{});
    {
        KvsvcSession s = connected_session(f.daemon.socket_path());
        CHECK(s.client.ask("save a:1") == "OK");
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(3s), 0));
    }
    CliResult status = f.cli({"status"});
    INFO(status.describe());
    CHECK(status.code == 0);
    std::this_thread::sleep_for(200ms);  // the detach lines, were they written
    // What is left: warnings (as root; the fixtures' probes of both sockets,
    // which hang up before their hello) and the one info line of the start.
    for (const std::string& line : lines_of(f.daemon.log())) {
        INFO(line);
        CHECK(line.find("attached") == std::string::npos);
        CHECK(line.find("detached") == std::string::npos);
        if (line.find("kvstored: info: ") != std::string::npos)
            CHECK(line.find("kvstored: info: kvstored " + version() + " ready on ") != std::string::npos);
    }
}

// Issue 19: an admin session was logged as "admin 3 attached: ... from
// admin?pid?8539" and detached as "client 3 detached (kvsvc detached)".
TEST_CASE("an admin session is logged as the kvstored CLI with its pid, without a made-up address",
          "[logs][regression]")
{
    Logged f;
    CliResult status = f.cli({"status"});
    INFO(status.describe());
    REQUIRE(status.code == 0);
    std::string attached = f.wait_for_line(R"(admin \d+ attached)");
    CHECK(std::regex_search(attached, std::regex(R"(: admin (\d+) attached: kvstored CLI pid \d+, uid \d+$)")));
    std::string detached = f.wait_for_line(R"(admin \d+ detached)");
    CHECK(std::regex_search(detached, std::regex(R"(: admin \d+ detached \(the kvstored CLI hung up\)$)")));
    for (const std::string& line : lines_of(f.daemon.log())) {
        INFO(line);
        CHECK(line.find('?') == std::string::npos);
        CHECK(line.find("kvsvc detached") == std::string::npos);
    }
}

// Issue 19: a kicked client that left was logged as having "hung up after
// the shutdown notice", when kvstored was not shutting down.
TEST_CASE("a kick is logged with the admin who kicked, and the client's leaving as after the kick",
          "[logs][regression]")
{
    Logged f;
    KvsvcSession s = connected_session(f.daemon.socket_path());
    std::string id = f.client_id(s.process.pid());
    CliResult kick = f.cli({"kick", id, "--message", "maintenance"});
    INFO(kick.describe());
    CHECK(kick.code == 0);
    CHECK(s.client.read_line() == "BYE maintenance");
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(3s), 0));

    std::string kicked = f.wait_for_line("client " + id + " kicked");
    CHECK(std::regex_search(
        kicked,
        std::regex("kvstored: info: client " + id + R"( kicked by admin \d+ \(pid \d+, uid \d+\): maintenance$)")));
    std::string detached = f.wait_for_line("client " + id + " detached");
    CHECK(detached.find("client " + id + " detached (kvsvc hung up after the kick)") != std::string::npos);
    CHECK(f.daemon.log().find("shutdown notice") == std::string::npos);
}

// Issue 19: "shutting down: notifying 3 client(s)" with two clients: the
// admin CLI that asked for the shutdown was counted.
TEST_CASE("the shutdown line counts the clients, not the admin session that asked for it", "[logs][regression]")
{
    Logged f;
    KvsvcSession a = connected_session(f.daemon.socket_path());
    KvsvcSession b = connected_session(f.daemon.socket_path());
    CliResult shutdown = f.cli({"shutdown"});
    INFO(shutdown.describe());
    CHECK(shutdown.code == 0);
    std::string line = f.wait_for_line("shutting down: notifying");
    CHECK(line.find("shutting down: notifying 2 client(s)") != std::string::npos);
    std::string requested = f.wait_for_line("shutdown requested by admin");
    CHECK(std::regex_search(requested, std::regex(R"(shutdown requested by admin \d+ \(pid \d+, uid \d+\)$)")));
}

TEST_CASE("with its stderr a file, every log line starts with the UTC time", "[logs]")
{
    Logged f;
    CHECK(f.cli({"status"}).code == 0);
    f.wait_for_line("admin \\d+ detached");
    std::vector<std::string> lines = lines_of(f.daemon.log());
    CHECK(lines.size() >= 3);
    std::regex stamped(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ kvstored: (error|warning|info|debug): \S)");
    for (const std::string& line : lines) {
        INFO(line);
        CHECK(std::regex_search(line, stamped));
    }
}

// The recipe of docs/operations.md, Without systemd: kvstored appends to its
// log (2>>, like Daemon), logrotate copies and truncates it, and kvstored's
// next lines land at the start of the emptied file.
TEST_CASE("packaging/logrotate/kvstored rotates a kvstored log file that kvstored goes on writing", "[logs]")
{
    const std::string logrotate = "/usr/sbin/logrotate";
    INFO("logrotate is missing: scripts/deps installs it");
    REQUIRE(::access(logrotate.c_str(), X_OK) == 0);
    const std::string shipped = KVSTORE_TEST_DATA "/../../packaging/logrotate/kvstored";
    std::string config = read_file(shipped);
    REQUIRE(config.find("/var/log/kvstored.log {") != std::string::npos);

    Logged f;
    // As shipped: logrotate accepts it (-d: reads it and changes nothing).
    CliResult check = run_program(logrotate, {"-d", "-s", f.dir.file("state-d"), shipped});
    INFO(check.describe());
    CHECK(check.code == 0);
    CHECK(check.err.find("error") == std::string::npos);

    // Pointed at this kvstored's log, forced.
    std::string log = f.dir.file("kvstored.log");
    const std::string pattern = "/var/log/kvstored.log {";
    config.replace(config.find(pattern), pattern.size(), log + " {");
    std::ofstream(f.dir.file("logrotate.conf")) << config;
    REQUIRE(f.cli({"status"}).code == 0);
    REQUIRE(!f.wait_for_line("admin \\d+ detached").empty());
    std::string old = read_file(log);

    CliResult rotate = run_program(logrotate, {"-f", "-s", f.dir.file("state"), f.dir.file("logrotate.conf")});
    INFO(rotate.describe());
    CHECK(rotate.code == 0);
    CHECK(read_file(log + ".1") == old);

    REQUIRE(f.cli({"stats"}).code == 0);
    std::string fresh = f.wait_for_line("admin \\d+ detached");
    CHECK(!fresh.empty());
    std::string now = read_file(log);
    CHECK(now.find('\0') == std::string::npos);  // appended from 0, not after a hole
    CHECK(now.rfind("20", 0) == 0);
    CHECK(now.find("kvstored: debug: admin") != std::string::npos);
    CHECK(now.find(old.substr(0, 40)) == std::string::npos);
}
