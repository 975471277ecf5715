// install_fixture.cc: see install_fixture.h.
#include "install_fixture.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "line_client.h"

namespace kvtest {
namespace {

using Clock = std::chrono::steady_clock;

std::string trim(std::string_view s)
{
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return "";
    size_t e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// Everything written to `fd` (an anonymous file) so far.
std::string read_all(int fd)
{
    std::string out;
    char buf[8192];
    off_t off = 0;
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
        off += n;
    }
    return out;
}

Process spawn(const std::vector<std::string>& argv, Stdio stdio)
{
    return Process(argv.at(0), std::vector<std::string>(argv.begin() + 1, argv.end()), stdio);
}

// Makes a directory the way systemd makes RuntimeDirectory= and
// StateDirectory=: owned by the service's user and group, with the unit's mode.
void make_service_dir(const std::string& path, const Account& owner, gid_t group, const std::string& mode_text)
{
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    if (::mkdir(path.c_str(), 0700) < 0 && errno != EEXIST)
        throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
    mode_t mode = static_cast<mode_t>(std::stoul(mode_text, nullptr, 8));
    if (::chown(path.c_str(), owner.uid, group) < 0 || ::chmod(path.c_str(), mode) < 0)
        throw std::runtime_error("chown/chmod " + path + ": " + std::strerror(errno));
}

// Orphans (the kvsvc processes of a stopped xinetd) become our children, so
// that end_processes() can reap them instead of leaving zombies.
void become_subreaper()
{
    static const bool done = [] {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        return true;
    }();
    (void)done;
}

}  // namespace

std::string build_dir()
{
    return KVSTORE_BUILD_DIR;
}

std::string source_dir()
{
    return KVSTORE_SOURCE_DIR;
}

std::string cmake_command()
{
    return KVSTORE_CMAKE_COMMAND;
}

std::string cpack_command()
{
    return KVSTORE_CPACK_COMMAND;
}

bool RunResult::ok() const
{
    return exited_with(status, 0);
}

std::string RunResult::describe() const
{
    return "$ " + command + "\n(" + (status ? describe_status(*status) : std::string("timed out: killed")) + ")\n"
        + output;
}

RunResult run_capture(const std::string& program, const std::vector<std::string>& args, Millis timeout)
{
    RunResult r;
    r.command = program;
    for (const auto& a : args)
        r.command += " " + a;
    int fd = ::memfd_create("kvtest-output", MFD_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
    try {
        Process p(program, args, Stdio{-1, fd, fd});
        r.status = p.wait_exit(timeout);
        if (!r.status)
            p.stop(1s);
    } catch (...) {
        ::close(fd);
        throw;
    }
    r.output = read_all(fd);
    ::close(fd);
    return r;
}

bool is_root()
{
    return ::geteuid() == 0;
}

std::string install_tests_unavailable()
{
    if (!is_root())
        return "needs root: it runs kvstored and kvsvc as the users kvstore, kvsvc and nobody (CI runs as root)";
    if (::access(kSetpriv, X_OK) != 0)
        return std::string(kSetpriv) + " is missing (package util-linux)";
    return "";
}

Account account(const std::string& user)
{
    passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        throw std::runtime_error("no user " + user);
    return Account{pw->pw_uid, pw->pw_gid};
}

gid_t group_id(const std::string& group)
{
    struct group* gr = ::getgrnam(group.c_str());
    if (!gr)
        throw std::runtime_error("no group " + group);
    return gr->gr_gid;
}

void ensure_kvstore_accounts()
{
    // Parallel tests: one at a time. flock on /etc itself leaves no lock file
    // behind (adduser replaces /etc/passwd, so locking that would not do).
    int lock = ::open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0)
        ::flock(lock, LOCK_EX);
    struct Unlock {
        int fd;
        ~Unlock()
        {
            if (fd >= 0)
                ::close(fd);
        }
    } unlock{lock};

    // The postinst's own commands, so that these tests check them too (and
    // that they may run again on existing accounts: every test runs them).
    const std::string postinst_path = source_dir() + "/packaging/debian/postinst";
    std::string postinst = read_file(postinst_path);
    size_t begin = postinst.find("# BEGIN accounts");
    size_t end = postinst.find("# END accounts");
    if (begin == std::string::npos || end == std::string::npos || end < begin)
        throw std::runtime_error(postinst_path + " has no '# BEGIN accounts' ... '# END accounts' block");
    // dpkg runs maintainer scripts with the sbin directories in PATH.
    std::string script = "set -e\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        + postinst.substr(begin, end - begin) + "create_accounts\n";
    RunResult r = run_capture("/bin/sh", {"-c", script});
    if (!r.ok())
        throw std::runtime_error("the accounts block of " + postinst_path
                                 + " failed (is the package adduser installed?):\n" + r.describe());
}

std::vector<gid_t> service_groups(const std::string& user, gid_t gid, const std::string& extra)
{
    std::vector<gid_t> groups(64);
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(user.c_str(), gid, groups.data(), &n) < 0)
        throw std::runtime_error("getgrouplist " + user + ": more than 64 groups");
    groups.resize(static_cast<size_t>(n));
    for (const std::string& name : split_words(extra))
        groups.push_back(group_id(name));
    return groups;
}

std::vector<std::string> as_user(const std::string& user, const std::string& group, bool init_groups,
                                 const std::string& program, const std::vector<std::string>& args)
{
    std::vector<std::string> argv
        = {kSetpriv, "--reuid=" + user, "--regid=" + group, init_groups ? "--init-groups" : "--clear-groups", "--",
           program};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::vector<std::string> as_user_with_groups(const std::string& user, const std::string& group,
                                             const std::vector<gid_t>& groups, const std::string& program,
                                             const std::vector<std::string>& args)
{
    // Appended piece by piece: `"," + std::to_string(g)` makes GCC 12 -O3 warn
    // falsely (-Wrestrict).
    std::string groups_arg = groups.empty() ? "--clear-groups" : "--groups=";
    for (size_t i = 0; i < groups.size(); ++i) {
        if (i > 0)
            groups_arg += ',';
        groups_arg += std::to_string(groups[i]);
    }
    std::vector<std::string> argv = {kSetpriv, "--reuid=" + user, "--regid=" + group, groups_arg, "--", program};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::vector<std::string> unit_values(const std::string& text, const std::string& section, const std::string& key)
{
    std::vector<std::string> values;
    std::string current;
    for (const std::string& raw : lines_of(text)) {
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';')
            continue;
        if (line.front() == '[' && line.back() == ']') {
            current = line.substr(1, line.size() - 2);
            continue;
        }
        size_t eq = line.find('=');
        if (current == section && eq != std::string::npos && trim(line.substr(0, eq)) == key)
            values.push_back(trim(line.substr(eq + 1)));
    }
    return values;
}

std::string unit_value(const std::string& text, const std::string& section, const std::string& key)
{
    auto values = unit_values(text, section, key);
    if (values.size() != 1)
        throw std::runtime_error("[" + section + "] " + key + "= appears " + std::to_string(values.size())
                                 + " times, not once");
    return values.front();
}

std::vector<std::string> split_words(const std::string& line)
{
    std::vector<std::string> words;
    std::istringstream in(line);
    for (std::string w; in >> w;)
        words.push_back(w);
    return words;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to)
{
    if (from.empty())
        return text;
    for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
        text.replace(pos, from.size(), to);
    return text;
}

namespace {

bool alive(pid_t pid)
{
    if (::kill(pid, 0) != 0)
        return false;
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

void end_processes(const std::vector<pid_t>& pids, Millis grace)
{
    for (pid_t pid : pids)
        if (alive(pid))
            ::kill(pid, SIGTERM);
    auto deadline = Clock::now() + grace;
    for (;;) {
        bool any = false;
        for (pid_t pid : pids)
            any = any || alive(pid);
        if (!any || Clock::now() >= deadline)
            break;
        std::this_thread::sleep_for(10ms);
    }
    for (pid_t pid : pids) {
        if (alive(pid))
            ::kill(pid, SIGKILL);
        // Ours (directly, or as their subreaper): reap; others: no-op.
        int status = 0;
        for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(10ms);
    }
}

std::optional<uid_t> process_uid(pid_t pid)
{
    for (const std::string& line : lines_of(read_file("/proc/" + std::to_string(pid) + "/status")))
        if (line.rfind("Uid:", 0) == 0)
            return static_cast<uid_t>(std::stoul(line.substr(4)));
    return std::nullopt;
}

Staging::Staging(const std::string& prefix, bool strip) : root_(dir_.path() + "/root")
{
    if (::chmod(dir_.path().c_str(), 0755) < 0)
        throw std::runtime_error("chmod " + dir_.path() + ": " + std::strerror(errno));
    std::vector<std::string> args = {"DESTDIR=" + root_, cmake_command(), "--install", build_dir(), "--prefix", prefix};
    if (strip)
        args.push_back("--strip");
    RunResult r = run_capture(kEnv, args, 60s);
    install_output_ = r.describe();
    if (!r.ok())
        throw std::runtime_error("the staging install failed:\n" + install_output_);
}

std::string Staging::remap(std::string text) const
{
    for (const char* p : {"/usr/bin/", "/run/kvstored", "/var/lib/kvstore", "/etc/kvstore"})
        text = replace_all(text, p, root_ + p);
    return text;
}

std::string build_deb(const Staging& staging)
{
    const std::string out = staging.dir().file("pkg");
    RunResult cpack
        = run_capture(cpack_command(),
                      {"--config", build_dir() + "/CPackConfig.cmake", "-G", "DEB", "-B", out, "-D",
                       "CPACK_INSTALL_CMAKE_PROJECTS=", "-D", "CPACK_INSTALLED_DIRECTORIES=" + staging.root() + ";/"},
                      60s);
    if (!cpack.ok())
        throw std::runtime_error("cpack -G DEB failed:\n" + cpack.describe());
    std::vector<std::string> debs;
    for (const auto& e : std::filesystem::directory_iterator(out))
        if (e.path().extension() == ".deb")
            debs.push_back(e.path().string());
    if (debs.size() != 1)
        throw std::runtime_error("cpack -G DEB made " + std::to_string(debs.size()) + " .deb files in " + out
                                 + ", not one:\n" + cpack.describe());
    return debs.front();
}

bool kvstored_has_config(const Staging& staging)
{
    return run_capture(staging.path("/usr/bin/kvstored"), {"check-config", "--help"}, 10s).ok();
}

DeployedDaemon::DeployedDaemon(const Staging& staging)
    : staging_(staging), log_path_(staging.dir().file("kvstored.log")), notify_path_(staging.dir().file("notify.sock"))
{
    become_subreaper();
    std::string unit = read_file(staging.path("/lib/systemd/system/kvstored.service"));
    if (unit.empty())
        throw std::runtime_error("the staging root has no /lib/systemd/system/kvstored.service");
    std::string user = unit_value(unit, "Service", "User");
    std::string group = unit_value(unit, "Service", "Group");
    Account owner = account(user);
    gid_t gid = group_id(group);

    runtime_dir_ = staging.path("/run/" + unit_value(unit, "Service", "RuntimeDirectory"));
    make_service_dir(runtime_dir_, owner, gid, unit_value(unit, "Service", "RuntimeDirectoryMode"));
    state_dir_ = staging.path("/var/lib/" + unit_value(unit, "Service", "StateDirectory"));
    make_service_dir(state_dir_, owner, gid, unit_value(unit, "Service", "StateDirectoryMode"));

    argv_ = split_words(staging.remap(unit_value(unit, "Service", "ExecStart")));
    if (argv_.empty() || argv_[0] != staging.path("/usr/bin/kvstored"))
        throw std::runtime_error("kvstored.service: ExecStart= does not run /usr/bin/kvstored");
    // The compiled-in default, /etc/kvstore/kvstored.conf, is the host's: name
    // the staged one instead.
    if (kvstored_has_config(staging))
        argv_.insert(argv_.begin() + 1, {"--config", staging.path("/etc/kvstore/kvstored.conf")});
    for (size_t i = 0; i + 1 < argv_.size(); ++i)
        if (argv_[i] == "--socket")
            socket_ = argv_[i + 1];
    if (socket_.empty())
        throw std::runtime_error("kvstored.service: ExecStart= has no --socket");

    // NOTIFY_SOCKET, as systemd gives it to a Type=notify service.
    notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (notify_path_.size() >= sizeof addr.sun_path)
        throw std::runtime_error("path too long for a Unix socket: " + notify_path_);
    std::memcpy(addr.sun_path, notify_path_.c_str(), notify_path_.size() + 1);
    if (notify_fd_ < 0 || ::bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0
        || ::chown(notify_path_.c_str(), owner.uid, gid) < 0)
        throw std::runtime_error("notify socket " + notify_path_ + ": " + std::strerror(errno));

    std::vector<std::string> supplementary = unit_values(unit, "Service", "SupplementaryGroups");
    std::vector<gid_t> groups
        = service_groups(user, gid, supplementary.empty() ? std::string() : supplementary.front());
    std::vector<std::string> argv
        = as_user_with_groups(user, group, groups, argv_[0], {argv_.begin() + 1, argv_.end()});
    argv.insert(argv.begin(), {kEnv, "NOTIFY_SOCKET=" + notify_path_});
    int log_fd = open_log(log_path_);
    mode_t umask_value = static_cast<mode_t>(std::stoul(unit_value(unit, "Service", "UMask"), nullptr, 8));
    mode_t old_umask = ::umask(umask_value);
    try {
        process_ = spawn(argv, Stdio{-1, log_fd, log_fd});
    } catch (...) {
        ::umask(old_umask);
        ::close(log_fd);
        throw;
    }
    ::umask(old_umask);
    ::close(log_fd);

    if (!wait_notification("READY=1", 10s)) {
        std::string why = process_.running() ? "no READY=1 on NOTIFY_SOCKET within 10 s"
                                             : "it " + describe_status(*process_.wait_exit(0ms));
        throw std::runtime_error("the installed kvstored did not come up: " + why + "; its log:\n" + log());
    }
}

DeployedDaemon::~DeployedDaemon()
{
    if (process_.running()) {
        process_.signal(SIGTERM);
        if (!process_.wait_exit(10s))
            process_.stop(0ms);
    }
    if (notify_fd_ >= 0)
        ::close(notify_fd_);
}

std::string DeployedDaemon::log() const
{
    return read_file(log_path_);
}

std::vector<std::string> DeployedDaemon::notifications(Millis wait)
{
    pollfd p{notify_fd_, POLLIN, 0};
    if (wait.count() > 0)
        ::poll(&p, 1, static_cast<int>(wait.count()));
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(notify_fd_, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        received_.emplace_back(buf, static_cast<size_t>(n));
    }
    return received_;
}

bool DeployedDaemon::wait_notification(const std::string& line, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        for (const std::string& d : notifications())
            for (const std::string& l : lines_of(d))
                if (l == line)
                    return true;
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0 || !process_.running())
            return false;
        notifications(std::min(left, Millis(50)));
    }
}

namespace {

// Rewrites the staged /etc/xinetd.d/NAME for a free port, the staged kvsvc
// and `kvstored_socket` (exactly those three values, and `disable` when
// `enable`; everything else is the installed file) and returns the port.
int stage_xinetd_file(const Staging& staging, const std::string& name, const std::string& kvstored_socket, bool enable)
{
    const int port = free_tcp_port();
    const std::string service_file = staging.path("/etc/xinetd.d/" + name);
    std::string text = read_file(service_file);
    if (text.empty())
        throw std::runtime_error("the staging root has no /etc/xinetd.d/" + name);
    int ports = 0, servers = 0, sockets = 0;
    std::string rewritten;
    for (const std::string& raw : lines_of(text)) {
        std::string line = raw;
        std::string t = trim(raw);
        size_t eq = t.find('=');
        if (!t.empty() && t[0] != '#' && eq != std::string::npos) {
            std::string key = trim(t.substr(0, eq));
            std::string value = trim(t.substr(eq + 1));
            if (key == "port") {
                line = "    port            = " + std::to_string(port);
                ++ports;
            } else if (key == "server" && (value == "/usr/bin/kvsvc" || value == "/usr/bin/kvsvc-tls")) {
                line = "    server          = " + staging.path(value);
                ++servers;
            } else if (key == "server_args" && value.find("/run/kvstored/kvstored.sock") != std::string::npos) {
                line = "    server_args     = " + replace_all(value, "/run/kvstored/kvstored.sock", kvstored_socket);
                ++sockets;
            } else if (key == "disable" && enable) {
                line = "    disable         = no";
            }
        }
        rewritten += line + "\n";
    }
    if (ports != 1 || servers != 1 || sockets != 1)
        throw std::runtime_error(
            "the installed /etc/xinetd.d/" + name
            + " does not have exactly one port, one server = /usr/bin/kvsvc (or kvsvc-tls) and one "
              "server_args naming /run/kvstored/kvstored.sock");
    write_file(service_file, rewritten);
    return port;
}

// A door's file (xinetd.d/kvstore-redis or kvstore-memcache, installed
// disabled; likewise kvstore-tls and kvstore-redis-tls): its server and socket
// must be the staged ones even while it is disabled, since xinetd checks them
// anyway ("Server /usr/bin/kvsvc is not executable").
int stage_door_service(const Staging& staging, const std::string& name, const std::string& kvstored_socket, bool enable)
{
    become_subreaper();  // before xinetd starts its kvsvc processes
    return stage_xinetd_file(staging, name, kvstored_socket, enable);
}

// The private xinetd's own config: logs to files here, and the staged
// /etc/xinetd.d, as Debian's /etc/xinetd.conf includes /etc/xinetd.d.
XinetdOptions staged_options(const Staging& staging)
{
    XinetdOptions o;
    o.include_dir = staging.path("/etc/xinetd.d");
    return o;
}

}  // namespace

StagedXinetd::StagedXinetd(const Staging& staging, const std::string& kvstored_socket, StagedDoors doors)
    : redis_port_(stage_door_service(staging, "kvstore-redis", kvstored_socket, doors.redis)),
      memcache_port_(stage_door_service(staging, "kvstore-memcache", kvstored_socket, doors.memcache)),
      // The TLS services stay disabled (no certificate here); staged all the
      // same, as xinetd checks their server too.
      tls_ports_{stage_xinetd_file(staging, "kvstore-tls", kvstored_socket, false),
                 stage_xinetd_file(staging, "kvstore-redis-tls", kvstored_socket, false)},
      xinetd_(staging.dir(), stage_xinetd_file(staging, "kvstore", kvstored_socket, false), staged_options(staging))
{
}

StagedXinetd::~StagedXinetd()
{
    // xinetd does not stop the kvsvc processes it started.
    std::vector<pid_t> kids = child_pids(xinetd_.process().pid(), Zombies::exclude);
    xinetd_.process().stop(3s);
    end_processes(kids);
}

StagedSocketActivation::StagedSocketActivation(const Staging& staging, const std::string& kvstored_socket)
    : staging_(staging), port_(free_tcp_port()), log_path_(staging.dir().file("socket-activate.log"))
{
    become_subreaper();
    if (::access(kSocketActivate, X_OK) != 0)
        throw std::runtime_error(std::string(kSocketActivate)
                                 + " is missing: install the Debian package systemd (scripts/deps does)");
    std::string socket_unit = read_file(staging.path("/lib/systemd/system/kvsvc.socket"));
    std::string service = read_file(staging.path("/lib/systemd/system/kvsvc@.service"));
    if (unit_value(socket_unit, "Socket", "Accept") != "yes")
        throw std::runtime_error("kvsvc.socket: Accept= is not yes");
    // "127.0.0.1:7070": the address stays, the port becomes a free one.
    std::string listen = unit_value(socket_unit, "Socket", "ListenStream");
    size_t colon = listen.rfind(':');
    std::string host = colon == std::string::npos ? "127.0.0.1" : listen.substr(0, colon);
    std::vector<std::string> exec = split_words(staging.remap(unit_value(service, "Service", "ExecStart")));
    // kvsvc@.service must name the socket that kvstored.service creates.
    bool same_socket = false;
    for (size_t i = 0; i + 1 < exec.size(); ++i)
        same_socket = same_socket || (exec[i] == "--socket" && exec[i + 1] == kvstored_socket);
    if (!same_socket)
        throw std::runtime_error("kvsvc@.service: ExecStart= does not name kvstored.service's socket");
    std::vector<std::string> args = {"--inetd", "--accept", "--listen=" + host + ":" + std::to_string(port_), "--"};
    args.insert(args.end(), exec.begin(), exec.end());
    std::vector<std::string> argv = as_user(unit_value(service, "Service", "User"),
                                            unit_value(service, "Service", "Group"), true, kSocketActivate, args);
    int fd = open_log(log_path_);
    try {
        process_ = spawn(argv, Stdio{-1, fd, fd});
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    wait_accepting(process_, port_, "systemd-socket-activate", [this] { return log(); });
}

StagedSocketActivation::~StagedSocketActivation()
{
    std::vector<pid_t> kids = child_pids(process_.pid(), Zombies::exclude);
    process_.stop(3s);
    end_processes(kids);
}

std::string StagedSocketActivation::log() const
{
    return read_file(log_path_);
}

}  // namespace kvtest
