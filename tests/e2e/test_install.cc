// test_install.cc: kvstore as installed by `cmake --install` (the files of the
// .deb) into a staging root: the file layout, and the installed units and
// xinetd file actually serving a client as the kvsvc user, which can reach
// nothing of kvstored's but the service socket.
#include <catch2/catch.hpp>

#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
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
    {"/usr/bin/kvsvc-tls", 0755},
    {"/etc/kvstore/kvstored.conf", 0644},
    {"/etc/kvstore/users", 0640},
    {"/etc/xinetd.d/kvstore", 0644},
    {"/etc/xinetd.d/kvstore-redis", 0644},
    {"/etc/xinetd.d/kvstore-memcache", 0644},
    {"/etc/xinetd.d/kvstore-tls", 0644},
    {"/etc/xinetd.d/kvstore-redis-tls", 0644},
    {"/lib/systemd/system/kvstored.service", 0644},
    {"/lib/systemd/system/kvsvc.socket", 0644},
    {"/lib/systemd/system/kvsvc@.service", 0644},
    {"/lib/systemd/system/kvsvc-redis.socket", 0644},
    {"/lib/systemd/system/kvsvc-redis@.service", 0644},
    {"/lib/systemd/system/kvsvc-memcache.socket", 0644},
    {"/lib/systemd/system/kvsvc-memcache@.service", 0644},
    {"/lib/systemd/system/kvstore-metrics.service", 0644},
    {"/lib/systemd/system/kvstore-metrics.timer", 0644},
    {"/usr/share/doc/kvstore/README.md", 0644},
    {"/usr/share/doc/kvstore/operations.md", 0644},
    {"/usr/share/doc/kvstore/protocol.md", 0644},
    {"/usr/share/doc/kvstore/persistence.md", 0644},
    {"/usr/share/doc/kvstore/scale-out.md", 0644},
    {"/usr/share/doc/kvstore/copyright", 0644},
    {"/usr/share/doc/kvstore/examples/logrotate.kvstored", 0644},
    {"/usr/share/doc/kvstore/examples/fail2ban/filter.d/kvstore.conf", 0644},
    {"/usr/share/doc/kvstore/examples/fail2ban/jail.d/kvstore.conf", 0644},
    {"/usr/share/man/man8/kvstored.8", 0644},
    {"/usr/share/man/man8/kvsvc.8", 0644},
    {"/usr/share/man/man7/kvstore.7", 0644},
};

// Files installed unchanged (prefix /usr): staged path, source path.
const std::vector<std::pair<const char*, const char*>> kVerbatim = {
    {"/lib/systemd/system/kvstored.service", "systemd/kvstored.service"},
    {"/lib/systemd/system/kvsvc.socket", "systemd/kvsvc.socket"},
    {"/lib/systemd/system/kvsvc@.service", "systemd/kvsvc@.service"},
    {"/lib/systemd/system/kvsvc-redis.socket", "systemd/kvsvc-redis.socket"},
    {"/lib/systemd/system/kvsvc-redis@.service", "systemd/kvsvc-redis@.service"},
    {"/lib/systemd/system/kvsvc-memcache.socket", "systemd/kvsvc-memcache.socket"},
    {"/lib/systemd/system/kvsvc-memcache@.service", "systemd/kvsvc-memcache@.service"},
    {"/lib/systemd/system/kvstore-metrics.service", "systemd/kvstore-metrics.service"},
    {"/lib/systemd/system/kvstore-metrics.timer", "systemd/kvstore-metrics.timer"},
    {"/etc/xinetd.d/kvstore", "xinetd.d/kvstore"},
    {"/etc/xinetd.d/kvstore-redis", "xinetd.d/kvstore-redis"},
    {"/etc/xinetd.d/kvstore-memcache", "xinetd.d/kvstore-memcache"},
    {"/etc/xinetd.d/kvstore-tls", "xinetd.d/kvstore-tls"},
    {"/etc/xinetd.d/kvstore-redis-tls", "xinetd.d/kvstore-redis-tls"},
    {"/etc/kvstore/kvstored.conf", "packaging/kvstored.conf"},
    {"/etc/kvstore/users", "packaging/users"},
    {"/usr/share/man/man8/kvstored.8", "man/kvstored.8"},
    {"/usr/share/man/man8/kvsvc.8", "man/kvsvc.8"},
    {"/usr/share/man/man7/kvstore.7", "man/kvstore.7"},
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

// True when the tests of an installed kvstore can run here, the package's
// accounts made; otherwise WARNs why ("skipped: ...") and false: the test
// returns.
bool installed_tests_can_run()
{
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return false;
    }
    ensure_kvstore_accounts();
    return true;
}

// The installed xinetd files parse cleanly: `started` ("Started working: N
// available services") in xinetd's log, no ERROR, no WARNING.
void check_xinetd_started_cleanly(StagedXinetd& xinetd, const std::string& started)
{
    CHECK(xinetd.log().find(started) != std::string::npos);
    CHECK(xinetd.log().find(" ERROR: ") == std::string::npos);
    CHECK(xinetd.log().find(" WARNING: ") == std::string::npos);
}

// The line protocol's door on `port` sees the same store: `read door`
// answers `expected`.
void check_line_door_reads(int port, const std::string& expected)
{
    LineClient line = connect_tcp(port);
    CHECK(line.read_line() == greeting());
    CHECK(line.ask("connect") == "OK connected");
    CHECK(line.ask("read door") == expected);
}

// `argv` (the program first) with its stdin, stdout and stderr on a
// socketpair; the session's client is the other end.
KvsvcSession spawn_on_socketpair(const std::vector<std::string>& argv)
{
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    LineClient client(sv[0]);
    Process process(argv[0], {argv.begin() + 1, argv.end()}, Stdio{sv[1], sv[1], sv[1]});
    ::close(sv[1]);
    return KvsvcSession{std::move(process), std::move(client)};
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
    KvsvcSession s
        = spawn_on_socketpair(as_user(user, group, init_groups, staging.path("/usr/bin/kvsvc"), {"--socket", socket}));
    CHECK(s.client.read_line() == greeting());
    std::string reply = s.client.ask("connect");
    CHECK(s.client.ask("exit") == "BYE");
    s.client.close();
    CHECK(exited_with(s.process.wait_exit(5s), 0));
    return reply;
}

// The value of `name` in the xinetd service file `text` ("    user = kvsvc").
std::string xinetd_value(const std::string& text, const std::string& name)
{
    std::istringstream in(text);
    std::string found;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key, eq, value;
        if (words >> key >> eq >> value && key == name && eq == "=") {
            REQUIRE(found.empty());  // once
            found = value;
        }
    }
    REQUIRE_FALSE(found.empty());
    return found;
}

// What a process gets when it tries kvstored's private resources: each field
// is 0 when the attempt succeeded, else its errno.
struct Reach {
    int admin_connect = 0;  // connect() to the admin socket
    int admin_admitted = 0;  // 0: connected and not sent away within 2 s; EACCES: kvstored refused it
    int db_read = 0;  // open(store.db, O_RDONLY)
    int db_write = 0;  // open(store.db, O_WRONLY)
    int signal = 0;  // kill(kvstored, 0)
};

// connect() to `path`, then whether kvstored keeps the connection (admitted)
// or sends a Refused notice and closes it (EACCES).
// (Runs in the probe child, which exits right after: the descriptor is not
// closed.)
void try_admin(const std::string& path, Reach& r)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), std::min(path.size(), sizeof addr.sun_path - 1));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        r.admin_connect = r.admin_admitted = errno;
        return;
    }
    // A refused peer gets a Refused frame, then EOF; an admitted one, nothing
    // until it says Hello.
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    for (int i = 0; i < 20 && ::poll(&p, 1, 100) >= 0; ++i)
        if ((p.revents & (POLLIN | POLLHUP)) && ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0) {
            r.admin_admitted = EACCES;
            return;
        }
}

// Reach of a process with exactly these credentials, as xinetd or systemd
// gives them to kvsvc (a forked child: setgroups, setgid, setuid).
Reach reach_as(uid_t uid, gid_t gid, const std::vector<gid_t>& groups, const std::string& admin_socket,
               const std::string& db, pid_t kvstored)
{
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        Reach r;
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0
            || ::setresuid(uid, uid, uid) != 0)
            ::_exit(2);
        try_admin(admin_socket, r);
        int fd = ::open(db.c_str(), O_RDONLY | O_CLOEXEC);
        r.db_read = fd >= 0 ? 0 : errno;
        fd = ::open(db.c_str(), O_WRONLY | O_CLOEXEC);
        r.db_write = fd >= 0 ? 0 : errno;
        r.signal = ::kill(kvstored, 0) == 0 ? 0 : errno;
        ::_exit(::write(fds[1], &r, sizeof r) == sizeof r ? 0 : 3);
    }
    ::close(fds[1]);
    Reach r;
    ssize_t n = ::read(fds[0], &r, sizeof r);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(exited_with(status, 0));
    REQUIRE(n == static_cast<ssize_t>(sizeof r));
    return r;
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
    CHECK(read_file(staging.path("/usr/share/man/man1/kvbench.1")) == read_file(source_dir() + "/man/kvbench.1"));
#endif
    // Named by kvsvc-redis.socket's and kvsvc-memcache.socket's
    // Documentation=; installed once written.
    if (stat_of(source_dir() + "/docs/redis.md"))
        CHECK(stat_of(staging.path("/usr/share/doc/kvstore/redis.md")));
    CHECK(stat_of(staging.path("/usr/share/doc/kvstore/memcache.md")));
    for (const auto& [staged, source] : kVerbatim) {
        INFO(staged << " is " << source << " unchanged");
        CHECK(read_file(staging.path(staged)) == read_file(source_dir() + "/" + source));
    }
    // Directories are 0755 whatever the umask.
    for (const char* d :
         {"/etc/kvstore", "/etc/kvstore/tls", "/lib/systemd/system", "/usr/share/doc/kvstore", "/usr/share/man/man8"}) {
        INFO(d);
        auto st = stat_of(staging.path(d));
        REQUIRE(st);
        CHECK(mode_text(st->st_mode) == "0755");
    }
}

// Regression (issue 13, point 9): kvsvc, the program that parses the
// network's bytes, was linked -static without PIE, so it sat at the same
// address in every process (no ASLR).
TEST_CASE("install: the installed kvsvc is a static PIE, loaded at a random address")
{
    Staging staging;
    const std::string kvsvc = staging.path("/usr/bin/kvsvc");
    std::string image = read_file(kvsvc);
    REQUIRE(image.size() >= sizeof(Elf64_Ehdr));
    Elf64_Ehdr header;
    std::memcpy(&header, image.data(), sizeof header);
    REQUIRE(std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0);
    REQUIRE(header.e_ident[EI_CLASS] == ELFCLASS64);
    // ET_DYN: position-independent (ET_EXEC is loaded at its fixed address).
    CHECK(header.e_type == ET_DYN);
    // Static: no program interpreter (no dynamic loader at exec), no DT_NEEDED.
    bool interp = false, dynamic = false;
    for (size_t i = 0; i < header.e_phnum; ++i) {
        size_t at = header.e_phoff + i * header.e_phentsize;
        REQUIRE(at + sizeof(Elf64_Phdr) <= image.size());
        Elf64_Phdr ph;
        std::memcpy(&ph, image.data() + at, sizeof ph);
        interp = interp || ph.p_type == PT_INTERP;
        if (ph.p_type == PT_DYNAMIC) {
            dynamic = true;
            for (size_t off = ph.p_offset; off + sizeof(Elf64_Dyn) <= ph.p_offset + ph.p_filesz;
                 off += sizeof(Elf64_Dyn)) {
                Elf64_Dyn d;
                std::memcpy(&d, image.data() + off, sizeof d);
                CHECK(d.d_tag != DT_NEEDED);
            }
        }
    }
    CHECK_FALSE(interp);
    CHECK(dynamic);  // a static PIE relocates itself from its own dynamic section

    // And the kernel puts it somewhere else each time (ASLR, unless switched off).
    if (read_file("/proc/sys/kernel/randomize_va_space").rfind('0', 0) == 0) {
        WARN("ASLR is off on this machine (kernel.randomize_va_space = 0): load addresses not compared");
        return;
    }
    std::set<std::string> bases;
    for (int i = 0; i < 3; ++i) {
        KvsvcSession s = spawn_on_socketpair({kvsvc, "--socket", staging.dir().file("none.sock")});
        CHECK(s.client.read_line() == greeting());  // running, its image mapped
        std::string maps = read_file("/proc/" + std::to_string(s.process.pid()) + "/maps");
        bases.insert(maps.substr(0, maps.find('-')));
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    INFO("first mappings at: " << [&] {
        std::string all;
        for (const auto& b : bases)
            all += b + " ";
        return all;
    }());
    CHECK(bases.size() > 1);
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
          == std::set<std::string>{"admin-socket", "run.socket", "run.capacity", "run.when-full", "run.db", "run.sync",
                                   "run.sync-interval", "run.service-group", "run.admin-group", "run.backend",
                                   "run.etcd-endpoints", "run.etcd-prefix", "run.etcd-timeout",
                                   "run.etcd-check-interval", "run.users", "run.auth-failures-per-address"});
}

TEST_CASE("install: another prefix gets units and an xinetd file that run its programs")
{
    Staging staging("/opt/kvstore");
    INFO(staging.install_output());
    CHECK(stat_of(staging.path("/opt/kvstore/bin/kvstored")));
    CHECK(stat_of(staging.path("/opt/kvstore/bin/kvsvc")));
    CHECK(stat_of(staging.path("/opt/kvstore/share/doc/kvstore/README.md")));
    CHECK(stat_of(staging.path("/opt/kvstore/share/man/man8/kvstored.8")));
    // Config, units and xinetd file stay where kvstored, systemd and xinetd look.
    CHECK(stat_of(staging.path("/etc/kvstore/kvstored.conf")));
    std::string daemon = read_file(staging.path("/lib/systemd/system/kvstored.service"));
    CHECK(unit_value(daemon, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvstored run ", 0) == 0);
    std::string session = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    CHECK(unit_value(session, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvsvc ", 0) == 0);
    std::string redis_session = read_file(staging.path("/lib/systemd/system/kvsvc-redis@.service"));
    CHECK(unit_value(redis_session, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvsvc --protocol redis ", 0) == 0);
    std::string memcache_session = read_file(staging.path("/lib/systemd/system/kvsvc-memcache@.service"));
    CHECK(unit_value(memcache_session, "Service", "ExecStart").rfind("/opt/kvstore/bin/kvsvc --protocol memcache ", 0)
          == 0);
    for (const auto& [file, program] :
         std::vector<std::pair<std::string, std::string>>{{"/etc/xinetd.d/kvstore", "kvsvc"},
                                                          {"/etc/xinetd.d/kvstore-redis", "kvsvc"},
                                                          {"/etc/xinetd.d/kvstore-memcache", "kvsvc"},
                                                          {"/etc/xinetd.d/kvstore-tls", "kvsvc-tls"},
                                                          {"/etc/xinetd.d/kvstore-redis-tls", "kvsvc-tls"}}) {
        INFO(file);
        std::string xinetd = read_file(staging.path(file));
        CHECK(xinetd.find("    server          = /opt/kvstore/bin/" + program + "\n") != std::string::npos);
        CHECK(xinetd.find("/usr/bin/kvsvc") == std::string::npos);
    }
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

TEST_CASE("installed: an nc session through real xinetd and the installed xinetd file, kvsvc as user kvsvc")
{
    if (!installed_tests_can_run())
        return;
    Account kvstore = account("kvstore");
    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored: " << daemon.argv().front() << " ...; its log:\n" << daemon.log());

    // What kvstored.service and the maintainer scripts set up, and what
    // kvstored makes of it under UMask=0077.
    auto run_dir = stat_of(daemon.runtime_dir());
    REQUIRE(run_dir);
    CHECK(mode_text(run_dir->st_mode) == "0755");
    auto sock = stat_of(daemon.socket_path());
    REQUIRE(sock);
    CHECK(S_ISSOCK(sock->st_mode));
    CHECK(mode_text(sock->st_mode) == "0660");
    CHECK(sock->st_uid == kvstore.uid);
    CHECK(sock->st_gid == group_id("kvsvc"));
    auto admin = stat_of(daemon.runtime_dir() + "/admin.sock");
    REQUIRE(admin);
    CHECK(mode_text(admin->st_mode) == "0660");
    CHECK(admin->st_uid == kvstore.uid);
    CHECK(admin->st_gid == group_id("kvstore-admin"));
    auto state_dir = stat_of(daemon.state_dir());
    REQUIRE(state_dir);
    CHECK(mode_text(state_dir->st_mode) == "0750");
    CHECK(state_dir->st_uid == kvstore.uid);
    auto db = stat_of(daemon.state_dir() + "/store.db");
    REQUIRE(db);
    CHECK(mode_text(db->st_mode) == "0600");
    CHECK(db->st_uid == kvstore.uid);

    StagedXinetd xinetd(staging, daemon.socket_path());
    INFO("xinetd's log:\n" << xinetd.log() << "access log:\n" << xinetd.access_log());
    // The installed file parses cleanly: the service is up, no complaint.
    check_xinetd_started_cleanly(xinetd, "Started working: 1 available service");

    {
        LineClient c = connect_tcp(xinetd.port());
        CHECK(c.read_line() == greeting());
        CHECK(c.ask("connect") == "OK connected");
        check_kvsvc_children_run_as(xinetd.process().pid(), staging.path("/usr/bin/kvsvc"), account("kvsvc").uid);
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
    if (!installed_tests_can_run())
        return;
    Staging staging;
    std::string socket_unit = read_file(staging.path("/lib/systemd/system/kvsvc.socket"));
    std::string service = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    CHECK(unit_value(socket_unit, "Socket", "ListenStream") == "127.0.0.1:7070");
    CHECK(unit_value(socket_unit, "Socket", "Accept") == "yes");
    CHECK(unit_value(socket_unit, "Socket", "MaxConnections") == "1000");
    CHECK(unit_value(service, "Service", "StandardInput") == "socket");
    CHECK(unit_value(service, "Service", "StandardOutput") == "socket");
    CHECK(unit_value(service, "Service", "StandardError") == "journal");
    CHECK(unit_value(service, "Service", "User") == "kvsvc");
    CHECK(unit_value(service, "Service", "Group") == "kvsvc");
    CHECK(unit_value(service, "Unit", "CollectMode") == "inactive-or-failed");

    DeployedDaemon daemon(staging);
    StagedSocketActivation activation(staging, daemon.socket_path());
    INFO("systemd-socket-activate's log:\n" << activation.log() << "kvstored's log:\n" << daemon.log());
    {
        LineClient c = connect_tcp(activation.port());
        CHECK(c.read_line() == greeting());
        CHECK(c.ask("connect") == "OK connected");
        check_kvsvc_children_run_as(activation.process().pid(), staging.path("/usr/bin/kvsvc"), account("kvsvc").uid);
        CHECK(c.ask("exit") == "BYE");
        CHECK(c.expect_eof());
    }
    nc_session(activation.port());
}

namespace {

// A door's xinetd file and units (Redis, memcached): the line protocol's
// hardening value for value, only the port, the service name and kvsvc's
// --protocol differ, and the door is off until the administrator turns it on.
void check_door_files(const Staging& staging, const std::string& door, const std::string& port)
{
    const std::string protocol = door == "redis" ? "redis" : "memcache";
    const std::string line_xinetd = read_file(staging.path("/etc/xinetd.d/kvstore"));
    const std::string xinetd = read_file(staging.path("/etc/xinetd.d/kvstore-" + door));
    CHECK(xinetd.find("\nservice kvstore-" + door + "\n{\n") != std::string::npos);
    CHECK(xinetd_value(xinetd, "port") == port);
    CHECK(xinetd_value(xinetd, "disable") == "yes");
    CHECK(xinetd_value(xinetd, "server") == "/usr/bin/kvsvc");
    CHECK(xinetd.find("    server_args     = --protocol " + protocol + " --socket /run/kvstored/kvstored.sock\n")
          != std::string::npos);
    // The line protocol's hardening, value for value.
    for (const char* name : {"type", "socket_type", "protocol", "wait", "user", "group", "instances", "per_source",
                             "cps", "bind", "only_from", "flags", "log_on_success", "log_on_failure"}) {
        INFO(name);
        CHECK(xinetd_value(xinetd, name) == xinetd_value(line_xinetd, name));
    }

    const std::string line_socket = read_file(staging.path("/lib/systemd/system/kvsvc.socket"));
    const std::string socket_unit = read_file(staging.path("/lib/systemd/system/kvsvc-" + door + ".socket"));
    CHECK(unit_value(socket_unit, "Socket", "ListenStream") == "127.0.0.1:" + port);
    for (const char* key : {"Accept", "MaxConnections", "MaxConnectionsPerSource", "TriggerLimitIntervalSec",
                            "TriggerLimitBurst", "IPAddressAllow", "IPAddressDeny", "NoDelay", "KeepAlive"}) {
        INFO(key);
        CHECK(unit_value(socket_unit, "Socket", key) == unit_value(line_socket, "Socket", key));
    }
    // The same session unit but for the door's --protocol.
    const std::string line_service = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    const std::string service = read_file(staging.path("/lib/systemd/system/kvsvc-" + door + "@.service"));
    CHECK(unit_value(service, "Service", "ExecStart")
          == "/usr/bin/kvsvc --protocol " + protocol + " --socket /run/kvstored/kvstored.sock");
    CHECK(unit_value(line_service, "Service", "ExecStart") == "/usr/bin/kvsvc --socket /run/kvstored/kvstored.sock");
    for (const char* key : {"User", "Group", "StandardInput", "StandardOutput", "StandardError", "NoNewPrivileges",
                            "RestrictAddressFamilies", "ProtectSystem", "UMask"}) {
        INFO(key);
        CHECK(unit_value(service, "Service", key) == unit_value(line_service, "Service", key));
    }
    CHECK(unit_values(service, "Service", "SystemCallFilter")
          == unit_values(line_service, "Service", "SystemCallFilter"));
    CHECK(unit_value(service, "Unit", "CollectMode") == "inactive-or-failed");
}

}  // namespace

TEST_CASE("install: the Redis door's xinetd file and units: port 6379, off by default, kvsvc --protocol redis")
{
    Staging staging;
    check_door_files(staging, "redis", "6379");
}

TEST_CASE("install: the memcached door's xinetd file and units: port 11211, off by default, kvsvc --protocol "
          "memcache")
{
    Staging staging;
    check_door_files(staging, "memcache", "11211");
}

// Through kvstored's RedisDoor (docs/redis.md).
TEST_CASE("installed: a Redis client through real xinetd and the installed kvstore-redis, once enabled")
{
    if (!installed_tests_can_run())
        return;
    Staging staging;
    DeployedDaemon daemon(staging);
    StagedXinetd xinetd(staging, daemon.socket_path(), {.redis = true});
    INFO("xinetd's log:\n"
         << xinetd.log() << "access log:\n"
         << xinetd.access_log() << "kvstored's log:\n"
         << daemon.log());
    check_xinetd_started_cleanly(xinetd, "Started working: 2 available services");

    LineClient c = connect_tcp(xinetd.redis_port());
    c.send("*1\r\n$4\r\nPING\r\n");
    CHECK(c.read_bytes(7) == "+PONG\r\n");
    check_kvsvc_children_run_as(xinetd.process().pid(), staging.path("/usr/bin/kvsvc"), account("kvsvc").uid);
    c.send("*3\r\n$3\r\nSET\r\n$4\r\ndoor\r\n$5\r\nredis\r\n*1\r\n$4\r\nQUIT\r\n");
    CHECK(c.read_to_eof(5s) == "+OK\r\n+OK\r\n");
    // The line protocol's door, same xinetd, same store.
    check_line_door_reads(xinetd.port(), "VALUE redis");
    CHECK(xinetd.access_log().find("START: kvstore-redis pid=") != std::string::npos);
}

// Through kvstored's memcached door (docs/memcache.md), beside the Redis door.
TEST_CASE("installed: a memcached client through real xinetd and the installed kvstore-memcache, once enabled")
{
    if (!installed_tests_can_run())
        return;
    Staging staging;
    DeployedDaemon daemon(staging);
    StagedXinetd xinetd(staging, daemon.socket_path(), {.redis = true, .memcache = true});
    INFO("xinetd's log:\n"
         << xinetd.log() << "access log:\n"
         << xinetd.access_log() << "kvstored's log:\n"
         << daemon.log());
    check_xinetd_started_cleanly(xinetd, "Started working: 3 available services");

    LineClient c = connect_tcp(xinetd.memcache_port());
    c.send("set door 0 0 8\r\nmemcache\r\n");
    CHECK(c.read_bytes(8) == "STORED\r\n");
    check_kvsvc_children_run_as(xinetd.process().pid(), staging.path("/usr/bin/kvsvc"), account("kvsvc").uid);
    c.send("get door\r\nquit\r\n");
    CHECK(c.read_to_eof(5s) == "VALUE door 0 8\r\nmemcache\r\nEND\r\n");
    // The other doors, same xinetd, same store.
    check_line_door_reads(xinetd.port(), "VALUE memcache");
    LineClient redis = connect_tcp(xinetd.redis_port());
    redis.send("*2\r\n$3\r\nGET\r\n$4\r\ndoor\r\n");
    CHECK(redis.read_bytes(14) == "$8\r\nmemcache\r\n");
    CHECK(xinetd.access_log().find("START: kvstore-memcache pid=") != std::string::npos);
}

TEST_CASE("installed: kvsvc running as a user outside the service group is refused")
{
    if (!installed_tests_can_run())
        return;
    Account nobody = account("nobody");
    struct group* nobody_group = ::getgrgid(nobody.gid);
    REQUIRE(nobody_group);
    const std::string nogroup = nobody_group->gr_name;

    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored's log:\n" << daemon.log());

    SECTION("the socket's own mode (0660 kvstore:kvsvc) keeps others out")
    {
        CHECK(connect_as(staging, daemon.socket_path(), "nobody", nogroup, false)
              == "ERR unavailable cannot reach kvstored at " + daemon.socket_path() + ": Permission denied");
    }
    SECTION("even with the socket opened to all (0666), kvstored's peer check refuses them")
    {
        REQUIRE(::chmod(daemon.socket_path().c_str(), 0666) == 0);
        std::string reply = connect_as(staging, daemon.socket_path(), "nobody", nogroup, false);
        CHECK(reply.rfind("ERR unavailable kvstored refused: permission denied: uid " + std::to_string(nobody.uid), 0)
              == 0);
    }
    // The users that must get in: kvsvc as xinetd starts it (user = group =
    // kvsvc, no supplementary groups), as systemd does, and root.
    CHECK(connect_as(staging, daemon.socket_path(), "kvsvc", "kvsvc", false) == "OK connected");
    CHECK(connect_as(staging, daemon.socket_path(), "kvsvc", "kvsvc", true) == "OK connected");
    CHECK(connect_as(staging, daemon.socket_path(), "root", "root", true) == "OK connected");
}

// Regression (issue 13, point 3): kvsvc ran as kvstored's own user, so every
// kvsvc (the process that parses the network's bytes) could use the admin
// socket, read and write store.db, and signal kvstored.
TEST_CASE("installed: kvsvc's account reaches the service socket and nothing else of kvstored's")
{
    if (!installed_tests_can_run())
        return;
    Staging staging;
    // kvsvc's account as the installed front ends give it: xinetd's user and
    // group, no supplementary groups; kvsvc@.service's User= and Group=, with
    // the user's groups (initgroups). Both name the same account.
    const std::string xinetd = read_file(staging.path("/etc/xinetd.d/kvstore"));
    const std::string service = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    const std::string user = xinetd_value(xinetd, "user");
    const std::string group = xinetd_value(xinetd, "group");
    CHECK(unit_value(service, "Service", "User") == user);
    CHECK(unit_value(service, "Service", "Group") == group);
    const Account kvsvc{account(user).uid, group_id(group)};

    DeployedDaemon daemon(staging);
    INFO("kvsvc runs as " << user << ":" << group << "; kvstored's log:\n" << daemon.log());
    const std::string admin_socket = daemon.runtime_dir() + "/admin.sock";
    const std::string db = daemon.state_dir() + "/store.db";
    REQUIRE(stat_of(admin_socket));
    REQUIRE(stat_of(db));
    const pid_t kvstored = daemon.process().pid();
    REQUIRE(process_uid(kvstored) == account("kvstore").uid);

    // The service socket works for that account: a whole session.
    {
        KvsvcSession s = spawn_on_socketpair(
            as_user(user, group, false, staging.path("/usr/bin/kvsvc"), {"--socket", daemon.socket_path()}));
        CHECK(s.client.read_line() == greeting());
        CHECK(s.client.ask("connect") == "OK connected");
        CHECK(s.client.ask("save owner:kvsvc") == "OK");
        CHECK(s.client.ask("read owner") == "VALUE kvsvc");
        CHECK(s.client.ask("exit") == "BYE");
        s.client.close();
        CHECK(exited_with(s.process.wait_exit(5s), 0));
    }
    // kvsvc itself, pointed at the admin socket, cannot attach there.
    {
        std::string reply = connect_as(staging, admin_socket, user, group, false);
        INFO("kvsvc --socket " << admin_socket << ": " << reply);
        CHECK(reply.rfind("ERR unavailable ", 0) == 0);
    }
    // Nor can any code running with its credentials (what an attacker who
    // took over a kvsvc would have), under xinetd or under systemd.
    for (bool init_groups : {false, true}) {
        std::vector<gid_t> groups = init_groups ? service_groups(user, kvsvc.gid, "") : std::vector<gid_t>{};
        INFO((init_groups ? "as kvsvc@.service starts it" : "as xinetd starts it")
             << ", " << groups.size() << " supplementary group(s)");
        Reach r = reach_as(kvsvc.uid, kvsvc.gid, groups, admin_socket, db, kvstored);
        CHECK(r.admin_admitted != 0);  // the socket's mode (EACCES), or kvstored's peer check
        CHECK(r.db_read == EACCES);
        CHECK(r.db_write == EACCES);
        CHECK(r.signal == EPERM);
    }
    // Root (and so the administrator's kvstored CLI) still gets everything.
    Reach root = reach_as(0, 0, {}, admin_socket, db, kvstored);
    CHECK(root.admin_admitted == 0);
    CHECK(root.db_read == 0);
    CHECK(root.signal == 0);
    CHECK(daemon.process().running());
}

TEST_CASE("installed: the admin socket admits root and kvstore-admin's members, not kvstored's own user")
{
    if (!installed_tests_can_run())
        return;
    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored's log:\n" << daemon.log());
    const std::string kvstored = staging.path("/usr/bin/kvstored");
    const std::string conf = staging.path("/etc/kvstore/kvstored.conf");
    const std::vector<std::string> status
        = {"--config", conf, "status", "--admin-socket", daemon.runtime_dir() + "/admin.sock"};
    auto status_as = [&](const std::string& user, const std::string& group, const std::vector<gid_t>& groups) {
        std::vector<std::string> argv = as_user_with_groups(user, group, groups, kvstored, status);
        return run_capture(argv[0], {argv.begin() + 1, argv.end()});
    };
    Account nobody = account("nobody");
    const std::string nogroup = ::getgrgid(nobody.gid)->gr_name;

    RunResult root = status_as("root", "root", {});
    INFO(root.describe());
    CHECK(root.ok());
    // A member of kvstore-admin by a supplementary group, as after
    // `adduser alice kvstore-admin`.
    RunResult member = status_as("nobody", nogroup, {group_id("kvstore-admin")});
    INFO(member.describe());
    CHECK(member.ok());
    // kvstored's own user, without that group: the socket's mode lets it
    // connect (it owns the socket), kvstored's peer check does not.
    RunResult owner = status_as("kvstore", "kvstore", {});
    INFO(owner.describe());
    CHECK_FALSE(owner.ok());
    CHECK(owner.output.find("kvstored refused: permission denied: uid " + std::to_string(account("kvstore").uid))
          != std::string::npos);
    // Nor with the groups /etc/group gives kvstore (a kvsvc started as kvstore
    // by a unit drop-in gets those): only kvstored.service adds kvstore-admin.
    RunResult owner_groups = status_as("kvstore", "kvstore", service_groups("kvstore", group_id("kvstore"), ""));
    INFO(owner_groups.describe());
    CHECK_FALSE(owner_groups.ok());
    // Anyone else: the socket's mode.
    RunResult other = status_as("nobody", nogroup, {});
    INFO(other.describe());
    CHECK_FALSE(other.ok());
    CHECK(other.output.find("run as root or as a member of the group kvstore-admin") != std::string::npos);

    // One group for both sockets would let every kvsvc administer: refused.
    RunResult same = run_capture(kvstored,
                                 {"--config", conf, "run", "--socket", staging.dir().file("same.sock"),
                                  "--service-group", "kvsvc", "--admin-group", "kvsvc"});
    INFO(same.describe());
    CHECK_FALSE(same.ok());
    CHECK(same.output.find("--admin-group kvsvc is also the service group") != std::string::npos);
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

    // Every key uncommented, as documented. service-group = kvsvc and
    // admin-group = kvstore-admin need the groups.
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("uncommented keys not checked: " << why);
        return;
    }
    ensure_kvstore_accounts();
    std::string text = read_file(conf);
    // The file with the "# key = value" lines that `keep` accepts uncommented.
    auto uncomment = [&](const std::function<bool(const std::string&)>& keep) {
        std::string active;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            if (line.size() > 2 && line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos
                && line.find(' ', 2) == line.find(" = ") && keep(line.substr(2, line.find(" = ") - 2)))
                line = line.substr(2);
            active += line + "\n";
        }
        return active;
    };
    // The SQLite keys and the etcd keys exclude each other (backend = etcd
    // refuses db): each set is checked on its own.
    auto is_etcd = [](const std::string& key) { return key.rfind("etcd-", 0) == 0; };
    std::string active = uncomment([&](const std::string& key) { return !is_etcd(key); });
    // check-config refuses a db whose directory does not exist, and the
    // package's /var/lib/kvstore is not there before it is installed: the
    // db line points into a directory that is.
    const std::string lib = staging.dir().file("var-lib-kvstore");
    std::filesystem::create_directory(lib);
    REQUIRE(active.find("db = /var/lib/kvstore/store.db") != std::string::npos);
    active.replace(active.find("db = /var/lib/kvstore/store.db"), std::string("db = /var/lib/kvstore/store.db").size(),
                   "db = " + lib + "/store.db");
    // users = names the host's /etc/kvstore/users: the staged one instead,
    // which must load (the package ships it empty).
    const std::string users_line = "users = /etc/kvstore/users";
    const std::string staged_users = "users = " + staging.path("/etc/kvstore/users");
    REQUIRE(active.find(users_line) != std::string::npos);
    active.replace(active.find(users_line), users_line.size(), staged_users);
    const std::string uncommented = staging.dir().file("uncommented.conf");
    write_file(uncommented, active);
    RunResult all_keys = run_capture(kvstored, {"--config", uncommented, "check-config"});
    INFO("the file:\n" << active << all_keys.describe());
    CHECK(all_keys.ok());
    CHECK(all_keys.output.find(lib + "/store.db") != std::string::npos);
    CHECK(all_keys.output.find("  users         = " + staging.path("/etc/kvstore/users") + " (0 users)\n")
          != std::string::npos);
    std::string etcd = uncomment([&](const std::string& key) {
        return is_etcd(key)
            || (key != "db" && key != "backend" && key != "memory" && key != "sync" && key != "sync-interval");
    });
    REQUIRE(etcd.find(users_line) != std::string::npos);
    etcd.replace(etcd.find(users_line), users_line.size(), staged_users);
    const std::string with_etcd = staging.dir().file("etcd.conf");
    write_file(with_etcd, etcd + "[run]\nbackend = etcd\n");
    RunResult etcd_keys = run_capture(kvstored, {"--config", with_etcd, "check-config"});
    INFO("the etcd file:\n" << etcd << etcd_keys.describe());
    CHECK(etcd_keys.ok());
    CHECK(etcd_keys.output.find("http://10.0.0.1:2379") != std::string::npos);

    // check-config does read the file: an unknown key is refused.
    write_file(uncommented, active + "no-such-key = 1\n");
    RunResult bad = run_capture(kvstored, {"--config", uncommented, "check-config"});
    INFO(bad.describe());
    CHECK_FALSE(bad.ok());
}
