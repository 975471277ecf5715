// users_cli.cc: see users_cli.h. The password is read into a buffer that is
// wiped once hashed; it is never an argument, never printed, never logged.
#include "users_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "fd.h"
#include "users.h"

namespace kv::users_cli {
namespace {

struct Failure {
    int code;
    std::string message;
};

Failure sys_failure(const std::string& op, const std::string& path)
{
    return Failure{admin::kExitError, op + " " + path + ": " + std::strerror(errno)};
}

// Runs a subcommand body, turning failures into "kvstored <name>: <message>".
template <typename Body> int guarded(const char* name, Body body)
{
    try {
        return body();
    } catch (const Failure& f) {
        std::fprintf(stderr, "kvstored %s: %s\n", name, f.message.c_str());
        return f.code;
    } catch (const users::Error& e) {
        for (const std::string& p : e.problems())
            std::fprintf(stderr, "kvstored %s: %s\n", name, p.c_str());
        return admin::kExitError;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvstored %s: %s\n", name, e.what());
        return admin::kExitError;
    }
}

// ---- the password ----------------------------------------------------------

// The terminal's settings while echo is off, restored by the destructor and,
// if a signal ends the program at the prompt, by the handler.
termios g_saved_termios;
volatile sig_atomic_t g_echo_off = 0;

void restore_and_reraise(int sig)
{
    if (g_echo_off)
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

class EchoOff {
public:
    EchoOff()
    {
        if (::tcgetattr(STDIN_FILENO, &g_saved_termios) < 0)
            throw sys_failure("tcgetattr", "stdin");
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
            ::signal(sig, restore_and_reraise);
        termios quiet = g_saved_termios;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        g_echo_off = 1;
        if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
            throw sys_failure("tcsetattr", "stdin");
    }
    ~EchoOff()
    {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
        g_echo_off = 0;
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;
};

// A string wiped when it goes: for passwords.
struct Secret {
    std::string text;
    ~Secret() { ::explicit_bzero(text.data(), text.size()); }
};

// One line of stdin, without its "\n" (or "\r\n"); empty at end of input.
// One longer than users::kMaxPassword is refused rather than cut: a cut
// password would differ from the one the client sends.
void read_line(Secret& out)
{
    out.text.reserve(users::kMaxPassword + 2);  // no reallocation leaves a copy behind
    char ch;
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw sys_failure("read", "stdin");
        if (n == 0)
            break;
        if (ch == '\n')
            break;
        if (out.text.size() == users::kMaxPassword + 1)
            throw Failure{admin::kExitError,
                          "the password is longer than " + std::to_string(users::kMaxPassword) + " bytes"};
        out.text.push_back(ch);
        ch = 0;
    }
    if (!out.text.empty() && out.text.back() == '\r')
        out.text.pop_back();
}

void read_password(Secret& pw, const std::string& user)
{
    if (!::isatty(STDIN_FILENO)) {
        read_line(pw);
    } else {
        EchoOff quiet;
        Secret again;
        std::fprintf(stderr, "New password for %s: ", user.c_str());
        std::fflush(stderr);
        read_line(pw);
        std::fprintf(stderr, "Retype it: ");
        std::fflush(stderr);
        read_line(again);
        if (pw.text != again.text)
            throw Failure{admin::kExitError, "the passwords differ; nothing changed"};
    }
    if (pw.text.empty())
        throw Failure{admin::kExitError, "empty password refused; nothing changed"};
    if (pw.text.find('\0') != std::string::npos)
        throw Failure{admin::kExitError, "a NUL byte in the password; nothing changed"};
}

// ---- the file --------------------------------------------------------------

struct FileState {
    bool exists = false;
    std::string text;
    struct stat st { };
};

std::string read_all(int fd, const std::string& path)
{
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw sys_failure("read", path);
        if (n == 0)
            return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

// The file, locked (flock, exclusive) through `lock` until it is closed. The
// lock is on the inode: a passwd that renamed a new file over the path while
// we waited has left us the old one, so look again.
FileState lock_and_read(const std::string& path, UniqueFd& lock)
{
    for (int attempt = 0; attempt < 20; ++attempt) {
        FileState f;
        lock.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!lock) {
            if (errno == ENOENT)
                return f;
            throw sys_failure("open", path);
        }
        if (::flock(lock.get(), LOCK_EX) < 0)
            throw sys_failure("flock", path);
        struct stat now { };
        if (::fstat(lock.get(), &f.st) < 0)
            throw sys_failure("fstat", path);
        if (::stat(path.c_str(), &now) == 0 && now.st_ino == f.st.st_ino && now.st_dev == f.st.st_dev) {
            f.exists = true;
            f.text = read_all(lock.get(), path);
            return f;
        }
    }
    throw Failure{admin::kExitError, path + " keeps being replaced by another program; try again"};
}

// Writes `text` to a temporary file beside `path`, gives it the mode and
// owner of the file it replaces (a new file: 0640, our ids), fsyncs it,
// renames it over `path` and fsyncs the directory.
void replace_atomically(const std::string& path, const std::string& text, const FileState& old)
{
    std::filesystem::path p(path);
    std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
    std::string tmp = dir + "/." + p.filename().string() + ".XXXXXX";
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd)
        throw sys_failure("create a temporary file in", dir);
    auto fail = [&](const std::string& op) {
        Failure f = sys_failure(op, tmp);
        ::unlink(tmp.c_str());
        return f;
    };
    mode_t mode = old.exists ? (old.st.st_mode & 07777) : 0640;
    if (::fchmod(fd.get(), mode) < 0)
        throw fail("chmod");
    if (old.exists && (old.st.st_uid != ::geteuid() || old.st.st_gid != ::getegid())
        && ::fchown(fd.get(), old.st.st_uid, old.st.st_gid) < 0)
        throw fail("chown (to keep the owner of " + path + ")");
    for (size_t done = 0; done < text.size();) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw fail("write");
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) < 0)
        throw fail("fsync");
    if (::close(fd.release()) < 0)
        throw fail("close");
    if (::rename(tmp.c_str(), path.c_str()) < 0)
        throw fail("rename (to " + path + ")");
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d || ::fsync(d.get()) < 0)
        throw sys_failure("fsync", dir);
}

// ---- the daemon ------------------------------------------------------------

bool same_file(const std::string& a, const std::string& b)
{
    std::error_code ec1, ec2;
    return std::filesystem::weakly_canonical(a, ec1) == std::filesystem::weakly_canonical(b, ec2) && !ec1 && !ec2;
}

// Tells the kvstored at `t` to re-read `path` if that is its users file.
int notify_daemon(const std::string& path, const admin::Target& t)
{
    std::map<std::string, std::string> rows;
    std::string error;
    int code = admin::status_rows(t, rows, error);
    if (code == admin::kExitNotRunning) {
        std::printf("kvstored is not running (%s): it reads %s when it starts, if configured to\n",
                    t.admin_socket.c_str(), path.c_str());
        return admin::kExitOk;
    }
    if (code != admin::kExitOk)
        throw Failure{code,
                      "could not ask kvstored for its pid: " + error
                          + "; the file is written: run 'systemctl reload kvstored' (or kill -HUP its pid)"};
    std::string pid_text = rows["pid"];
    auto file = rows.find("users_file");
    if (file != rows.end() && file->second == "-") {
        std::printf("kvstored (pid %s) runs without a users file: start it with --users %s (or users = %s in "
                    "[run] of its configuration) for it to apply\n",
                    pid_text.c_str(), path.c_str(), path.c_str());
        return admin::kExitOk;
    }
    if (file != rows.end() && !same_file(file->second, path)) {
        std::printf("kvstored (pid %s) reads %s, not %s: not told\n", pid_text.c_str(), file->second.c_str(),
                    path.c_str());
        return admin::kExitOk;
    }
    pid_t pid = static_cast<pid_t>(std::atol(pid_text.c_str()));
    if (pid <= 0)
        throw Failure{admin::kExitError, "kvstored status gave no pid"};
    if (::kill(pid, SIGHUP) < 0)
        throw Failure{admin::kExitError,
                      "kill -HUP " + pid_text + ": " + std::strerror(errno)
                          + "; the file is written: run 'systemctl reload kvstored' as root"};
    std::printf("told kvstored (pid %s) to re-read %s\n", pid_text.c_str(), path.c_str());
    return admin::kExitOk;
}

// Refuses a bad USER, --rights or --keys, and --delete with either.
void check_usage(const PasswdOptions& o)
{
    if (std::string why = users::name_problem(o.user); !why.empty())
        throw Failure{admin::kExitUsage, "bad user name '" + o.user + "': " + why};
    if (o.remove && (o.rights || !o.keys.empty()))
        throw Failure{admin::kExitUsage, "--delete takes neither --rights nor --keys"};
    users::Rights r;
    if (o.rights)
        if (std::string why = users::parse_rights(*o.rights, r); !why.empty())
            throw Failure{admin::kExitUsage, "--rights: " + why};
    for (const std::string& k : o.keys)
        if (std::string why = users::pattern_problem(k); !why.empty())
            throw Failure{admin::kExitUsage, "--keys: " + why};
}

// The user's new line: its old rights and patterns unless given (a new
// user: read,write and '*').
users::User updated_user(const PasswdOptions& o, const users::User* old, std::string hash)
{
    users::User u;
    u.name = o.user;
    u.hash = std::move(hash);
    u.rights = old ? old->rights : users::kDefaultRights;
    u.patterns = old ? old->patterns : std::vector<std::string>{"*"};
    if (o.rights)
        users::parse_rights(*o.rights, u.rights);
    if (!o.keys.empty())
        u.patterns = o.keys;
    return u;
}

}  // namespace

int list(const std::string& path)
{
    return guarded("users", [&] {
        users::Table t = users::Table::load(path);
        if (t.size() == 0) {
            std::printf("no users in %s\n", path.c_str());
            return admin::kExitOk;
        }
        size_t name_w = 4, rights_w = 6;
        for (const users::User& u : t.users()) {
            name_w = std::max(name_w, u.name.size());
            rights_w = std::max(rights_w, users::format_rights(u.rights).size());
        }
        std::printf("%-*s  %-*s  %s\n", static_cast<int>(name_w), "USER", static_cast<int>(rights_w), "RIGHTS", "KEYS");
        for (const users::User& u : t.users()) {
            std::string keys;
            for (const std::string& p : u.patterns)
                keys += (keys.empty() ? "" : " ") + p;
            std::printf("%-*s  %-*s  %s\n", static_cast<int>(name_w), u.name.c_str(), static_cast<int>(rights_w),
                        users::format_rights(u.rights).c_str(), keys.c_str());
        }
        return admin::kExitOk;
    });
}

int passwd(const PasswdOptions& o, const admin::Target& daemon)
{
    return guarded("passwd", [&] {
        check_usage(o);
        // A bad or unreadable file stops us before the password is asked.
        {
            UniqueFd lock;
            users::Table before = users::Table::parse(lock_and_read(o.path, lock).text, o.path);
            if (o.remove && !before.find(o.user))
                throw Failure{admin::kExitError, "no user " + o.user + " in " + o.path};
        }
        std::string hash;
        if (!o.remove) {
            Secret pw;
            read_password(pw, o.user);
            hash = users::hash_password(pw.text);
        }
        // Read again under the lock: another passwd may have run meanwhile.
        UniqueFd lock;
        FileState file = lock_and_read(o.path, lock);
        users::Table now = users::Table::parse(file.text, o.path);
        std::string text, done;
        if (o.remove) {
            bool removed = false;
            text = users::without_user(file.text, o.path, o.user, removed);
            if (!removed)
                throw Failure{admin::kExitError, "no user " + o.user + " in " + o.path};
            done = "user " + o.user + " deleted from " + o.path;
        } else {
            const users::User* old = now.find(o.user);
            users::User u = updated_user(o, old, hash);
            text = users::with_user(file.text, o.path, u);
            done = (old ? "user " + o.user + " changed in " : "user " + o.user + " added to ") + o.path + " ("
                + users::format_rights(u.rights) + " on " + (u.patterns.size() == 1 ? u.patterns[0] : "its patterns")
                + ")";
        }
        replace_atomically(o.path, text, file);
        lock.reset();
        std::printf("%s\n", done.c_str());
        return notify_daemon(o.path, daemon);
    });
}

}  // namespace kv::users_cli
