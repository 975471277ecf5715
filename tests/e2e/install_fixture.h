// install_fixture.h: kvstore as INSTALLED, not as built. A Staging is
// `DESTDIR=<tmp>/root cmake --install build --prefix /usr`, i.e. the files of
// the .deb in a private root; DeployedDaemon runs the installed kvstored the
// way the installed kvstored.service says (ExecStart=, User=, Group=,
// SupplementaryGroups=, UMask=, RuntimeDirectory=, StateDirectory=,
// Type=notify), with every absolute path
// of the real system moved under that root.
//
// These tests run as root (CI is root in a throwaway Debian 12 container):
// they start programs as the kvstore, kvsvc and nobody users with setpriv, and
// they create the package's accounts (kvstore, kvsvc, kvstore-admin) when
// missing, by running the accounts block of the package's postinst. The
// accounts are left in place afterwards (other tests running in parallel may
// be using them); every file and process is cleaned up.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvstore.h"
#include "process.h"
#include "xinetd.h"

namespace kvtest {

inline constexpr const char* kSetpriv = "/usr/bin/setpriv";
inline constexpr const char* kEnv = "/usr/bin/env";
inline constexpr const char* kSystemdAnalyze = "/usr/bin/systemd-analyze";
inline constexpr const char* kSocketActivate = "/usr/bin/systemd-socket-activate";
inline constexpr const char* kDpkgDeb = "/usr/bin/dpkg-deb";

// The build tree and the tools that made it (compile definitions).
std::string build_dir();
std::string source_dir();
std::string cmake_command();
std::string cpack_command();

// A program run to completion, stdout and stderr captured together.
struct RunResult {
    std::optional<int> status;  // wait status; nullopt when it timed out (it was killed)
    std::string output;
    std::string command;
    bool ok() const;  // exited 0
    std::string describe() const;  // command, how it ended, output: for INFO()
};
// Runs `program args...` with stdin /dev/null; kills it after `timeout`.
RunResult run_capture(const std::string& program, const std::vector<std::string>& args, Millis timeout = 30s);

bool is_root();
// Why the install tests cannot run here ("" when they can): not root, or a
// tool missing. Tests WARN with it and return.
std::string install_tests_unavailable();

struct Account {
    uid_t uid;
    gid_t gid;  // the primary group
};
// getpwnam; throws when the user does not exist.
Account account(const std::string& user);
// gid of a group; throws when it does not exist.
gid_t group_id(const std::string& group);
// Creates the package's accounts when missing: runs the block between
// "# BEGIN accounts" and "# END accounts" of packaging/debian/postinst, then
// its create_accounts, with /bin/sh (serialized between parallel tests by a
// lock). Throws, quoting the output, when that fails.
void ensure_kvstore_accounts();

// The groups a service gets from systemd with User=`user` and
// SupplementaryGroups=`extra` (space-separated names): the user's groups from
// /etc/group (initgroups) plus those. The primary group `gid` first.
std::vector<gid_t> service_groups(const std::string& user, gid_t gid, const std::string& extra);

// `program args` run as `user`:`group` (setpriv; supplementary groups those of
// the user with init_groups, none otherwise): the argv to give Process. setpriv
// execs in place, so the pid is the program's own.
std::vector<std::string> as_user(const std::string& user, const std::string& group, bool init_groups,
                                 const std::string& program, const std::vector<std::string>& args);
// The same with exactly the supplementary `groups`.
std::vector<std::string> as_user_with_groups(const std::string& user, const std::string& group,
                                             const std::vector<gid_t>& groups, const std::string& program,
                                             const std::vector<std::string>& args);

// Every value of `key` in `[section]` of a systemd unit or INI text, in order.
std::vector<std::string> unit_values(const std::string& text, const std::string& section, const std::string& key);
// The single value of `key`; throws when it is missing or repeated.
std::string unit_value(const std::string& text, const std::string& section, const std::string& key);
// A command line split at blanks (the units and the xinetd file use no quoting).
std::vector<std::string> split_words(const std::string& line);
std::string replace_all(std::string text, std::string_view from, std::string_view to);

// SIGTERM to each of `pids` still running, up to `grace` for them to go, then
// SIGKILL; reaps those that are our children.
void end_processes(const std::vector<pid_t>& pids, Millis grace = 2s);
// The real uid of a running process (from /proc), or nullopt.
std::optional<uid_t> process_uid(pid_t pid);

// `DESTDIR=<dir>/root cmake --install <build> --prefix PREFIX [--strip]`.
// The TempDir is made 0755 so that the kvstore and nobody users reach the
// files under it.
class Staging {
public:
    explicit Staging(const std::string& prefix = "/usr", bool strip = false);

    const TempDir& dir() const { return dir_; }
    const std::string& root() const { return root_; }
    // The staged copy of an absolute path of the installed system.
    std::string path(std::string_view absolute) const { return root_ + std::string(absolute); }
    // `text` with the installed system's paths (/usr/bin/, /run/kvstored,
    // /var/lib/kvstore, /etc/kvstore) moved under root().
    std::string remap(std::string text) const;
    const std::string& install_output() const { return install_output_; }

private:
    TempDir dir_;
    std::string root_;
    std::string install_output_;
};

// The .deb that `cpack -G DEB` in build/ makes, from this staging root
// instead of cpack's own install (which first runs `make preinstall` in
// build/: not something to do from a test while the tree may be building).
// Same CPackConfig.cmake: same control fields, scripts and pre-build script.
// Stage with the CPackConfig's prefix and strip setting (/usr, stripped), as
// cpack does. Writes it under dir()/pkg and returns its path; throws, quoting
// cpack's output, when cpack fails or makes no single .deb.
std::string build_deb(const Staging& staging);

// Does the staged kvstored read a config file (`kvstored check-config --help`
// exits 0)? Until then it is started without --config.
bool kvstored_has_config(const Staging& staging);

// The staged kvstored, started from the staged kvstored.service as systemd
// would start it (see the top of this file). The constructor returns once
// kvstored has sent READY=1 on NOTIFY_SOCKET (at most 10 s), and throws,
// quoting its log, otherwise.
class DeployedDaemon {
public:
    explicit DeployedDaemon(const Staging& staging);
    ~DeployedDaemon();
    DeployedDaemon(const DeployedDaemon&) = delete;
    DeployedDaemon& operator=(const DeployedDaemon&) = delete;

    const std::string& socket_path() const { return socket_; }  // staged /run/kvstored/kvstored.sock
    const std::string& runtime_dir() const { return runtime_dir_; }
    const std::string& state_dir() const { return state_dir_; }
    const std::vector<std::string>& argv() const { return argv_; }
    Process& process() { return process_; }
    std::string log() const;
    // Datagrams received on NOTIFY_SOCKET so far, each as sent ("READY=1\n...").
    std::vector<std::string> notifications(Millis wait = 0ms);
    // Waits up to `timeout` for a datagram containing the line `line`.
    bool wait_notification(const std::string& line, Millis timeout);

private:
    const Staging& staging_;
    std::string socket_;
    std::string runtime_dir_;
    std::string state_dir_;
    std::string log_path_;
    std::string notify_path_;
    int notify_fd_ = -1;
    std::vector<std::string> argv_;
    std::vector<std::string> received_;
    Process process_;
};

// The doors a StagedXinetd serves beside the line protocol (their files are
// installed disabled).
struct StagedDoors {
    bool redis = false;
    bool memcache = false;
};

// A private foreground xinetd whose config includes the STAGED
// /etc/xinetd.d/kvstore, kvstore-redis and kvstore-memcache, rewritten only
// for the port (a free one each), the server (the staged kvsvc) and the
// kvstored socket (the DeployedDaemon's), and for the doors in `doors`,
// `disable`. Returns once the line protocol's port accepts connections;
// throws, quoting xinetd's log, otherwise.
class StagedXinetd {
public:
    StagedXinetd(const Staging& staging, const std::string& kvstored_socket, StagedDoors doors = {});
    ~StagedXinetd();
    StagedXinetd(const StagedXinetd&) = delete;
    StagedXinetd& operator=(const StagedXinetd&) = delete;

    int port() const { return xinetd_.port(); }
    int redis_port() const { return redis_port_; }  // served only with doors.redis
    int memcache_port() const { return memcache_port_; }  // served only with doors.memcache
    int tls_port() const { return tls_ports_[0]; }  // disabled: never served
    int redis_tls_port() const { return tls_ports_[1]; }  // likewise
    Process& process() { return xinetd_.process(); }
    std::string log() const { return xinetd_.log(); }  // xinetd's own messages
    std::string access_log() const { return xinetd_.access_log(); }  // START / EXIT / FAIL lines

private:
    int redis_port_;
    int memcache_port_;
    int tls_ports_[2];  // kvstore-tls, kvstore-redis-tls: disabled
    PrivateXinetd xinetd_;
};

// systemd-socket-activate in inetd mode (one child per connection, the
// connection on its stdin and stdout) running the STAGED kvsvc@.service's
// ExecStart= as its User= and Group=, listening where the staged kvsvc.socket
// says but on a free port. Returns once the port accepts connections.
class StagedSocketActivation {
public:
    StagedSocketActivation(const Staging& staging, const std::string& kvstored_socket);
    ~StagedSocketActivation();
    StagedSocketActivation(const StagedSocketActivation&) = delete;
    StagedSocketActivation& operator=(const StagedSocketActivation&) = delete;

    int port() const { return port_; }
    Process& process() { return process_; }
    std::string log() const;

private:
    const Staging& staging_;
    int port_;
    std::string log_path_;
    Process process_;
};

}  // namespace kvtest
