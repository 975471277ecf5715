// test_install.cc: kvstore as installed by `cmake --install` (the files of the
// .deb) into a staging root: the file layout, and the installed units and
// xinetd file actually serving a client as the kvstore user.
#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "install_fixture.h"

using namespace kvtest;

namespace {

struct Entry {
    const char* path;
    mode_t mode;
};

// What `cmake --install --prefix /usr` must put where, with which mode.
const std::vector<Entry> kInstalled = {
    {"/usr/bin/kvstored", 0755},
    {"/usr/bin/kvsvc", 0755},
    {"/etc/kvstore/kvstored.conf", 0644},
    {"/etc/xinetd.d/kvstore", 0644},
    {"/lib/systemd/system/kvstored.service", 0644},
    {"/lib/systemd/system/kvsvc.socket", 0644},
    {"/lib/systemd/system/kvsvc@.service", 0644},
    {"/usr/share/doc/kvstore/README.md", 0644},
    {"/usr/share/doc/kvstore/operations.md", 0644},
    {"/usr/share/doc/kvstore/protocol.md", 0644},
    {"/usr/share/doc/kvstore/persistence.md", 0644},
    {"/usr/share/doc/kvstore/copyright", 0644},
};

// Files installed unchanged (prefix /usr): staged path, source path.
const std::vector<std::pair<const char*, const char*>> kVerbatim = {
    {"/lib/systemd/system/kvstored.service", "systemd/kvstored.service"},
    {"/lib/systemd/system/kvsvc.socket", "systemd/kvsvc.socket"},
    {"/lib/systemd/system/kvsvc@.service", "systemd/kvsvc@.service"},
    {"/etc/xinetd.d/kvstore", "xinetd.d/kvstore"},
    {"/etc/kvstore/kvstored.conf", "packaging/kvstored.conf"},
};

std::optional<struct stat> stat_of(const std::string& path)
{
    struct stat st { };
    if (::lstat(path.c_str(), &st) != 0)
        return std::nullopt;
    return st;
}

std::string mode_text(mode_t mode)
{
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// The client session of README.md, with exact replies.
void nc_session(int port)
{
    LineClient c = connect_tcp(port);
    CHECK(c.read_line() == greeting());
    CHECK(c.ask("connect") == "OK connected");
    CHECK(c.ask("save greeting:hello, world") == "OK");
    CHECK(c.ask("read greeting") == "VALUE hello, world");
    CHECK(c.ask("close") == "OK closed");
    CHECK(c.ask("exit") == "BYE");
    CHECK(c.expect_eof());
}

// The kvsvc processes started under `parent` (at least one) run as `uid`.
// A child that has not exec'd kvsvc yet (xinetd forks, then sets the user
// and execs) is waited for.
void check_kvsvc_children_run_as(pid_t parent, const std::string& kvsvc, uid_t uid)
{
    using Clock = std::chrono::steady_clock;
    auto deadline = Clock::now() + 3s;
    std::vector<pid_t> sessions;
    for (;;) {
        sessions.clear();
        bool pending = false;
        for (pid_t pid : child_pids(parent, Zombies::exclude)) {
            // (Not argv[0]: xinetd passes the server's base name.)
            std::error_code ec;
            auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
            if (ec)
                continue;  // gone
            if (exe == kvsvc)
                sessions.push_back(pid);
            else
                pending = true;
        }
        if ((!pending && !sessions.empty()) || Clock::now() >= deadline)
            break;
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE_FALSE(sessions.empty());
    for (pid_t pid : sessions) {
        INFO("kvsvc pid " << pid);
        CHECK(process_uid(pid) == uid);
    }
}

// kvsvc as `user`:`group` on a socketpair, as xinetd would start it, and its
// answer to `connect`.
std::string connect_as(const Staging& staging, const std::string& socket, const std::string& user,
                       const std::string& group, bool init_groups)
{
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    LineClient client(sv[0]);
    std::vector<std::string> argv
        = as_user(user, group, init_groups, staging.path("/usr/bin/kvsvc"), {"--socket", socket});
    Process kvsvc(argv[0], {argv.begin() + 1, argv.end()}, Stdio{sv[1], sv[1], sv[1]});
    ::close(sv[1]);
    CHECK(client.read_line() == greeting());
    std::string reply = client.ask("connect");
    CHECK(client.ask("exit") == "BYE");
    client.close();
    CHECK(exited_with(kvsvc.wait_exit(5s), 0));
    return reply;
}

}  // namespace

TEST_CASE("install: cmake --install puts every file at its path, with its mode")
{
    Staging staging;
    INFO(staging.install_output());
    for (const Entry& e : kInstalled) {
        INFO(e.path);
        auto st = stat_of(staging.path(e.path));
        REQUIRE(st);
        CHECK(S_ISREG(st->st_mode));
        CHECK(mode_text(st->st_mode) == mode_text(e.mode));
    }
#ifdef KVSTORE_HAS_KVBENCH
    CHECK(stat_of(staging.path("/usr/bin/kvbench")));
#endif
    for (const auto& [staged, source] : kVerbatim) {
        INFO(staged << " is " << source << " unchanged");
        CHECK(read_file(staging.path(staged)) == read_file(source_dir() + "/" + source));
    }
    // Directories are 0755 whatever the umask.
    for (const char* d : {"/etc/kvstore", "/lib/systemd/system", "/usr/share/doc/kvstore"}) {
        INFO(d);
        auto st = stat_of(staging.path(d));
        REQUIRE(st);
        CHECK(mode_text(st->st_mode) == "0755");
    }
}

TEST_CASE("install: the default kvstored.conf carries the documented keys, all commented out")
{
    std::string conf = read_file(source_dir() + "/packaging/kvstored.conf");
    std::set<std::string> keys;
    bool run_section = false;
    std::string section;
    std::istringstream in(conf);
    for (std::string line; std::getline(in, line);) {
        if (line == "[run]") {
            run_section = true;
            section = "run";
            continue;
        }
        INFO("line: " << line);
        CHECK((line.empty() || line[0] == '#'));  // no active setting
        // "# name = value": a commented setting.
        if (line.size() > 2 && line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos
            && line.find(' ', 2) == line.find(" = ")) {
            keys.insert((section.empty() ? "" : section + ".") + line.substr(2, line.find(" = ") - 2));
        }
    }
    CHECK(run_section);
    CHECK(keys
          == std::set<std::string>{"admin-socket", "run.socket", "run.capacity", "run.db", "run.sync",
                                   "run.sync-interval", "run.service-group"});
}

TEST_CASE("install: another prefix gets units and an xinetd file that run its programs")
{
    Staging staging("/opt/kvstore");
    INFO(staging.install_output());
    CHECK(stat_of(staging.path("/opt/kvstore/bin/kvstored")));
    CHECK(stat_of(staging.path("/opt/kvstore/bin/kvsvc")));
    CHECK(stat_of(staging.path("/opt/kvstore/share/doc/kvstore/README.md")));
    // Config, units and xinetd file stay where kvstored, systemd and xinetd look.
    CHECK(stat_of(staging.path("/etc/kvstore/kvstored.conf")));
    std::string daemon = read_file(staging.path("/lib/systemd/system/kvstored.service"));
    CHECK(unit_value(daemon, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvstored run ", 0) == 0);
    std::string session = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    CHECK(unit_value(session, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvsvc ", 0) == 0);
    std::string xinetd = read_file(staging.path("/etc/xinetd.d/kvstore"));
    CHECK(xinetd.find("    server          = /opt/kvstore/bin/kvsvc\n") != std::string::npos);
    CHECK(xinetd.find("/usr/bin/kvsvc") == std::string::npos);
}

TEST_CASE("install: installing again keeps an edited config file and puts the new one next to it")
{
    Staging staging;
    const std::string conf = staging.path("/etc/kvstore/kvstored.conf");
    const std::string xinetd = staging.path("/etc/xinetd.d/kvstore");
    write_file(conf, read_file(conf) + "# edited by the administrator\n");
    write_file(xinetd, read_file(xinetd) + "# edited by the administrator\n");
    RunResult again = run_capture(
        kEnv, {"DESTDIR=" + staging.root(), cmake_command(), "--install", build_dir(), "--prefix", "/usr"}, 60s);
    INFO(again.describe());
    REQUIRE(again.ok());
    CHECK(read_file(conf).find("# edited by the administrator") != std::string::npos);
    CHECK(read_file(xinetd).find("# edited by the administrator") != std::string::npos);
    CHECK(read_file(conf + ".new") == read_file(source_dir() + "/packaging/kvstored.conf"));
    CHECK(read_file(xinetd + ".new") == read_file(source_dir() + "/xinetd.d/kvstore"));
    // The units are not configuration: always replaced.
    CHECK_FALSE(stat_of(staging.path("/lib/systemd/system/kvstored.service.new")));
}

TEST_CASE("installed: an nc session through real xinetd and the installed xinetd file, kvsvc as user kvstore")
{
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    ensure_kvstore_account();
    Account kvstore = account("kvstore");
    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored: " << daemon.argv().front() << " ...; its log:\n" << daemon.log());

    // What kvstored.service and the maintainer scripts set up, and what
    // kvstored makes of it under UMask=0077.
    auto run_dir = stat_of(daemon.runtime_dir());
    REQUIRE(run_dir);
    CHECK(mode_text(run_dir->st_mode) == "0750");
    auto sock = stat_of(daemon.socket_path());
    REQUIRE(sock);
    CHECK(S_ISSOCK(sock->st_mode));
    CHECK(mode_text(sock->st_mode) == "0660");
    CHECK(sock->st_uid == kvstore.uid);
    CHECK(sock->st_gid == group_id("kvstore"));
    if (auto admin = stat_of(daemon.runtime_dir() + "/admin.sock")) {
        CHECK(mode_text(admin->st_mode) == "0600");
        CHECK(admin->st_uid == kvstore.uid);
    }
    auto db = stat_of(daemon.state_dir() + "/store.db");
    REQUIRE(db);
    CHECK(mode_text(db->st_mode) == "0600");
    CHECK(db->st_uid == kvstore.uid);

    StagedXinetd xinetd(staging, daemon.socket_path());
    INFO("xinetd's log:\n" << xinetd.log() << "access log:\n" << xinetd.access_log());
    // The installed file parses cleanly: the service is up, no complaint.
    CHECK(xinetd.log().find("Started working: 1 available service") != std::string::npos);
    CHECK(xinetd.log().find(" ERROR: ") == std::string::npos);
    CHECK(xinetd.log().find(" WARNING: ") == std::string::npos);

    {
        LineClient c = connect_tcp(xinetd.port());
        CHECK(c.read_line() == greeting());
        CHECK(c.ask("connect") == "OK connected");
        check_kvsvc_children_run_as(xinetd.process().pid(), staging.path("/usr/bin/kvsvc"), kvstore.uid);
        CHECK(c.ask("exit") == "BYE");
        CHECK(c.expect_eof());
    }
    nc_session(xinetd.port());
    CHECK(xinetd.access_log().find("START: kvstore pid=") != std::string::npos);

    // systemctl stop: SIGTERM, STOPPING=1, exit status 0.
    daemon.process().signal(SIGTERM);
    CHECK(exited_with(daemon.process().wait_exit(10s), 0));
    CHECK(daemon.wait_notification("STOPPING=1", 1s));
}

TEST_CASE("installed: the same session through systemd-socket-activate and the installed kvsvc.socket units")
{
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    ensure_kvstore_account();
    Staging staging;
    std::string socket_unit = read_file(staging.path("/lib/systemd/system/kvsvc.socket"));
    std::string service = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    CHECK(unit_value(socket_unit, "Socket", "ListenStream") == "127.0.0.1:7070");
    CHECK(unit_value(socket_unit, "Socket", "Accept") == "yes");
    CHECK(unit_value(socket_unit, "Socket", "MaxConnections") == "1000");
    CHECK(unit_value(service, "Service", "StandardInput") == "socket");
    CHECK(unit_value(service, "Service", "StandardOutput") == "socket");
    CHECK(unit_value(service, "Service", "StandardError") == "journal");
    CHECK(unit_value(service, "Service", "User") == "kvstore");
    CHECK(unit_value(service, "Unit", "CollectMode") == "inactive-or-failed");

    DeployedDaemon daemon(staging);
    StagedSocketActivation activation(staging, daemon.socket_path());
    INFO("systemd-socket-activate's log:\n" << activation.log() << "kvstored's log:\n" << daemon.log());
    {
        LineClient c = connect_tcp(activation.port());
        CHECK(c.read_line() == greeting());
        CHECK(c.ask("connect") == "OK connected");
        check_kvsvc_children_run_as(activation.process().pid(), staging.path("/usr/bin/kvsvc"), account("kvstore").uid);
        CHECK(c.ask("exit") == "BYE");
        CHECK(c.expect_eof());
    }
    nc_session(activation.port());
}

TEST_CASE("installed: kvsvc running as a user outside the kvstore group is refused")
{
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    ensure_kvstore_account();
    Account nobody = account("nobody");
    struct group* nobody_group = ::getgrgid(nobody.gid);
    REQUIRE(nobody_group);
    const std::string nogroup = nobody_group->gr_name;

    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored's log:\n" << daemon.log());
    const std::string refused
        = "ERR unavailable cannot reach kvstored at " + daemon.socket_path() + ": Permission denied";

    SECTION("runtime directory 0750 kvstore:kvstore, as kvstored.service creates it")
    {
        CHECK(connect_as(staging, daemon.socket_path(), "nobody", nogroup, false) == refused);
    }
    SECTION("even with the directory opened to all (0755), the socket's own mode keeps others out")
    {
        REQUIRE(::chmod(daemon.runtime_dir().c_str(), 0755) == 0);
        CHECK(connect_as(staging, daemon.socket_path(), "nobody", nogroup, false) == refused);
    }
    // The users that must get in: kvstore (xinetd's user = kvstore) and root.
    CHECK(connect_as(staging, daemon.socket_path(), "kvstore", "kvstore", true) == "OK connected");
    CHECK(connect_as(staging, daemon.socket_path(), "root", "root", true) == "OK connected");
}

TEST_CASE("requires check-config: the installed kvstored.conf passes kvstored check-config")
{
    Staging staging;
    if (!kvstored_has_config(staging)) {
        WARN("skipped until `kvstored check-config --help` exits 0 (kvstored --config is not there yet)");
        return;
    }
    const std::string kvstored = staging.path("/usr/bin/kvstored");
    const std::string conf = staging.path("/etc/kvstore/kvstored.conf");
    RunResult as_shipped = run_capture(kvstored, {"--config", conf, "check-config"});
    INFO(as_shipped.describe());
    CHECK(as_shipped.ok());
    CHECK(as_shipped.output.find("OK") != std::string::npos);

    // Every key uncommented, as documented. service-group = kvstore needs the group.
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("uncommented keys not checked: " << why);
        return;
    }
    ensure_kvstore_account();
    std::string text = read_file(conf);
    std::string active;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.size() > 2 && line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos
            && line.find(' ', 2) == line.find(" = "))
            line = line.substr(2);
        active += line + "\n";
    }
    const std::string uncommented = staging.dir().file("uncommented.conf");
    write_file(uncommented, active);
    RunResult all_keys = run_capture(kvstored, {"--config", uncommented, "check-config"});
    INFO("the file:\n" << active << all_keys.describe());
    CHECK(all_keys.ok());
    CHECK(all_keys.output.find("/var/lib/kvstore/store.db") != std::string::npos);

    // check-config does read the file: an unknown key is refused.
    write_file(uncommented, active + "no-such-key = 1\n");
    RunResult bad = run_capture(kvstored, {"--config", uncommented, "check-config"});
    INFO(bad.describe());
    CHECK_FALSE(bad.ok());
}
