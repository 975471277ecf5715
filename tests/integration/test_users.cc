// test_users.cc: the users file (issue 18) with a real kvstored: a bad file
// stops `kvstored run`; SIGHUP re-reads it, a bad file then being refused whole
// while the old users stay and no session drops; `users =` in the
// configuration file; and `kvstored passwd` and `kvstored users` run as real
// processes: the password from stdin, the file replaced with its mode and
// owner kept and no password in it, and the running kvstored told.
#include <catch2/catch.hpp>

#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "kvstore.h"

using namespace kvtest;

namespace {

// `echo -n 'correct horse' | mkpasswd -m yescrypt --stdin`.
const std::string kHorse = "$y$j9T$jeaCc/PB66e2pVleq61RI1$Cb9qhWsSUvlSf3ZeTN01bGcsnl16b0RNU.S8QBNmzF6";

std::string users_text(const std::vector<std::string>& names)
{
    std::string text = "# test users\n";
    for (const std::string& n : names)
        text += n + ":" + kHorse + ":read:app." + n + ".*\n";
    return text;
}

// The `kvstored status --json` of the daemon whose admin socket is `admin`.
nlohmann::json status_of(const std::string& admin)
{
    CliResult r = run_kvstored({"--config", "/dev/null", "--admin-socket", admin, "status", "--json"});
    INFO(r.describe());
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out);
}

// `kvstored passwd ARGS...` with `stdin_text` as its stdin, for the daemon at
// `admin`.
CliResult passwd(const std::string& admin, std::vector<std::string> args, const std::string& stdin_text = "")
{
    args.insert(args.begin(), {"--config", "/dev/null", "--admin-socket", admin, "passwd"});
    return run_kvstored(args, stdin_text, 30s);
}

mode_t mode_of(const std::string& path)
{
    struct stat st { };
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// The line of `user` in the users file, or "".
std::string line_of(const std::string& path, const std::string& user)
{
    std::string text = read_file(path);
    size_t at = text.starts_with(user + ":") ? 0 : text.find("\n" + user + ":");
    if (at == std::string::npos)
        return "";
    if (at > 0)
        ++at;
    return text.substr(at, text.find('\n', at) - at);
}

// Whether `password` hashes to `hash` (Python's crypt module: libcrypt's
// crypt(3), independent of kvstored).
bool hash_matches(const std::string& hash, const std::string& password)
{
    CliResult r = run_program("/usr/bin/python3",
                              {"-W", "ignore", "-c",
                               "import crypt, sys; sys.exit(0 if crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2] "
                               "else 1)",
                               password, hash});
    INFO(r.describe());
    REQUIRE(r.code >= 0);
    return r.code == 0;
}

// `kvstored ARGS...` on a pseudo-terminal (its stdin, stdout and stderr):
// waits for each prompt of `prompts`, types the matching line of `lines`,
// and returns everything the terminal showed and the exit status.
struct TtyRun {
    std::string shown;
    int status = -1;
};
TtyRun run_on_tty(const std::vector<std::string>& args, const std::vector<std::string>& prompts,
                  const std::vector<std::string>& lines)
{
    std::vector<std::string> argv = {kvstored_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv)
        cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    TtyRun run;
    auto read_until = [&](const std::string& text) {
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (run.shown.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd p{master, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0)
                continue;
            char buf[512];
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0)
                return;
            run.shown.append(buf, static_cast<size_t>(n));
        }
    };
    for (size_t i = 0; i < prompts.size(); ++i) {
        read_until(prompts[i]);
        std::string line = lines[i] + "\n";
        REQUIRE(::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    }
    read_until("\x04never shown");  // until EOF (the child exited) or the deadline
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::close(master);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

}  // namespace

TEST_CASE("kvstored passwd on a terminal asks twice without echo, and two different passwords change nothing",
          "[users][passwd]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    const std::vector<std::string> args
        = {"--config", "/dev/null", "--admin-socket", dir.file("admin.sock"), "passwd", "--users", users, "alice"};
    TtyRun r = run_on_tty(args, {"New password for alice: ", "Retype it: "}, {"tty secret", "tty secret"});
    INFO(r.shown);
    CHECK(r.status == 0);
    CHECK(r.shown.find("tty secret") == std::string::npos);  // no echo
    CHECK(r.shown.find("user alice added to " + users) != std::string::npos);
    std::string line = line_of(users, "alice");
    CHECK(hash_matches(line.substr(6, line.find(":read") - 6), "tty secret"));

    const std::string before = read_file(users);
    r = run_on_tty(args, {"New password for alice: ", "Retype it: "}, {"one", "other"});
    INFO(r.shown);
    CHECK(r.status == 1);
    CHECK(r.shown.find("kvstored passwd: the passwords differ; nothing changed") != std::string::npos);
    CHECK(read_file(users) == before);
}

TEST_CASE("kvstored run refuses to start with a bad users file and names its line", "[users]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_text({"alice"}) + "bob:" + kHorse + ":read,wirte\n");
    CliResult r
        = run_kvstored({"--config", "/dev/null", "run", "--socket", dir.file("s.sock"), "--users", users}, "", 10s);
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.err.find("users file refused:\n  " + users + ":3: user 'bob': unknown right 'wirte': did you mean write?")
          != std::string::npos);
    CHECK_FALSE(wait_for_unix_listener(dir.file("s.sock"), 100ms));

    // A missing file is refused as well, with the errno text.
    r = run_kvstored({"--config", "/dev/null", "run", "--socket", dir.file("s.sock"), "--users", dir.file("none")}, "",
                     10s);
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.err.find(dir.file("none") + ": open: No such file or directory") != std::string::npos);
}

TEST_CASE("SIGHUP re-reads the users file, a bad one is refused whole, and no session drops", "[users]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, users_text({"alice"}));
    Daemon daemon(dir, {"--users", users});
    const std::string admin = dir.file("admin.sock");
    REQUIRE(wait_for_unix_listener(admin, 5s));
    CHECK(daemon.log_shows("users loaded from " + users + ": 1 users"));
    // With a users file `connect` needs auth first (test_auth.cc); ping does not.
    KvsvcSession session = spawn_kvsvc(daemon.socket_path());
    REQUIRE(session.client.read_line() == greeting());
    CHECK(session.client.ask("connect").starts_with("ERR auth-required "));
    CHECK(status_of(admin)["users_file"] == users);
    CHECK(status_of(admin)["users"] == 1);

    write_file(users, users_text({"alice", "bob"}));
    daemon.process().signal(SIGHUP);
    CHECK(daemon.log_shows("users reloaded from " + users + ": 2 users"));
    CHECK(status_of(admin)["users"] == 2);

    // One bad line refuses the whole file: the two users stay.
    write_file(users, users_text({"alice", "bob", "carol"}) + "dave\n");
    daemon.process().signal(SIGHUP);
    CHECK(daemon.log_shows("users reload refused, the 2 users loaded before stay: " + users
                           + ":5: expected NAME:HASH[:RIGHTS[:PATTERNS]], got no ':'"));
    CHECK(daemon.process().running());
    CHECK(status_of(admin)["users"] == 2);

    // A file that has vanished is refused the same way.
    REQUIRE(::unlink(users.c_str()) == 0);
    daemon.process().signal(SIGHUP);
    CHECK(daemon.log_shows(users + ": open: No such file or directory"));
    CHECK(status_of(admin)["users"] == 2);

    // The session attached before the reloads never noticed them.
    CHECK(session.client.ask("ping", 3s) == "PONG");
}

TEST_CASE("without a users file SIGHUP has nothing to reload and status says so", "[users]")
{
    TempDir dir;
    Daemon daemon(dir);
    const std::string admin = dir.file("admin.sock");
    REQUIRE(wait_for_unix_listener(admin, 5s));
    daemon.process().signal(SIGHUP);
    CHECK(daemon.log_shows("SIGHUP: nothing to reload (no users file"));
    CHECK(status_of(admin)["users_file"] == "-");
    CHECK(daemon.process().running());
}

TEST_CASE("users = in the configuration file is run's --users, and passwd's default file", "[users][config]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    const std::string config = dir.file("kvstored.conf");
    write_file(users, users_text({"alice", "bob"}));
    write_file(config, "[run]\nsocket = " + dir.file("s.sock") + "\nusers = " + users + "\n");
    CliResult r = run_kvstored({"check-config", "--config", config});
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out.find("  users         = " + users + " (2 users)\n") != std::string::npos);

    r = run_kvstored({"--config", config, "users"});
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "USER   RIGHTS  KEYS\nalice  read    app.alice.*\nbob    read    app.bob.*\n");
    CHECK(r.out.find("$y$") == std::string::npos);

    // A misspelt key is refused with the nearest known one.
    write_file(config, "[run]\nuser = " + users + "\n");
    r = run_kvstored({"check-config", "--config", config});
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.err.find(config + ":2: unknown key 'user' in [run]: did you mean users?") != std::string::npos);

    // A bad users file named there stops check-config.
    write_file(users, "alice:nohash\n");
    write_file(config, "[run]\nusers = " + users + "\n");
    r = run_kvstored({"check-config", "--config", config});
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.err.find(users + ":1: bad hash for user 'alice'") != std::string::npos);
}

TEST_CASE("kvstored passwd adds, changes and deletes users from stdin, and the running kvstored reloads",
          "[users][passwd]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    write_file(users, "# the users of the test\n");
    REQUIRE(::chmod(users.c_str(), 0600) == 0);
    Daemon daemon(dir, {"--users", users});
    const std::string admin = dir.file("admin.sock");
    REQUIRE(wait_for_unix_listener(admin, 5s));
    CHECK(daemon.log_shows("users loaded from " + users + ": 0 users"));

    // A new user: read,write on every key by default.
    CliResult r = passwd(admin, {"--users", users, "alice"}, "first pass\n");
    INFO(r.describe());
    REQUIRE(r.code == 0);
    CHECK(r.out.starts_with("user alice added to " + users + " (read,write on *)\ntold kvstored (pid "));
    CHECK(daemon.log_shows("users reloaded from " + users + ": 1 users"));
    std::string line = line_of(users, "alice");
    CHECK(line.starts_with("alice:$y$"));
    CHECK(line.ends_with(":read,write:*"));
    CHECK(read_file(users).starts_with("# the users of the test\n"));
    CHECK(read_file(users).find("first pass") == std::string::npos);
    CHECK(hash_matches(line.substr(6, line.find(":read") - 6), "first pass"));
    CHECK(mode_of(users) == 0600);

    // A new password with rights and patterns; then one more user.
    r = passwd(admin, {"--users", users, "--rights", "read", "--keys", "app1.*", "--keys", "app1:*", "alice"},
               "second pass\r\n");
    INFO(r.describe());
    REQUIRE(r.code == 0);
    line = line_of(users, "alice");
    CHECK(line.ends_with(":read:app1.* app1:*"));
    CHECK(hash_matches(line.substr(6, line.find(":read") - 6), "second pass"));
    CHECK_FALSE(hash_matches(line.substr(6, line.find(":read") - 6), "first pass"));
    r = passwd(admin, {"--users", users, "bob"}, "bobs pass");
    INFO(r.describe());
    REQUIRE(r.code == 0);
    CHECK(daemon.log_shows("users reloaded from " + users + ": 2 users"));
    // Only the password changes: alice keeps her rights and patterns.
    r = passwd(admin, {"--users", users, "alice"}, "third pass\n");
    REQUIRE(r.code == 0);
    CHECK(line_of(users, "alice").ends_with(":read:app1.* app1:*"));

    r = run_kvstored({"--config", "/dev/null", "users", "--users", users});
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out == "USER   RIGHTS      KEYS\nalice  read        app1.* app1:*\nbob    read,write  *\n");

    r = passwd(admin, {"--users", users, "--delete", "alice"});
    INFO(r.describe());
    REQUIRE(r.code == 0);
    CHECK(r.out.starts_with("user alice deleted from " + users + "\n"));
    CHECK(line_of(users, "alice").empty());
    CHECK_FALSE(line_of(users, "bob").empty());
    CHECK(daemon.log_shows("users reloaded from " + users + ": 1 users"));
    CHECK(mode_of(users) == 0600);
    CHECK(daemon.process().running());
}

TEST_CASE("kvstored passwd refuses bad usage with 2 and its errors with 1, leaving the file alone", "[users][passwd]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    const std::string admin = dir.file("admin.sock");  // nothing listens there
    write_file(users, users_text({"alice"}));
    std::string before = read_file(users);
    auto check = [&](std::vector<std::string> args, const std::string& in, int code, const std::string& err) {
        CliResult r = passwd(admin, args, in);
        INFO(r.describe());
        CHECK(r.code == code);
        CHECK(r.err.find(err) != std::string::npos);
        CHECK(read_file(users) == before);
    };
    check({"--users", users, "bad name"}, "pw\n", 2, "kvstored passwd: bad user name 'bad name'");
    check({"--users", users, "--rights", "read,admin_data", "bob"}, "pw\n", 2,
          "kvstored passwd: --rights: unknown right 'admin_data': did you mean admin-data?");
    check({"--users", users, "--delete", "--rights", "read", "alice"}, "", 2, "--delete takes neither");
    check({"--users", users, "--keys", "", "bob"}, "pw\n", 2, "--keys: empty");
    check({"--users", users}, "pw\n", 2, "USER is required");
    check({"--users", users, "--delete", "bob"}, "", 1, "kvstored passwd: no user bob in " + users);
    check({"--users", users, "bob"}, "", 1, "kvstored passwd: empty password refused; nothing changed");
    check({"--users", users, "bob"}, "\n", 1, "empty password refused");
    // A file that does not parse is not edited.
    write_file(users, "broken\n");
    before = read_file(users);
    check({"--users", dir.file("users"), "bob"}, "pw\n", 1, users + ":1: expected NAME:HASH");
}

TEST_CASE("kvstored passwd makes a new file 0640, keeps the owner of an old one, and says when no kvstored runs",
          "[users][passwd]")
{
    TempDir dir;
    const std::string users = dir.file("users");
    const std::string admin = dir.file("admin.sock");  // nothing listens there
    CliResult r = passwd(admin, {"--users", users, "alice"}, "pw\n");
    INFO(r.describe());
    REQUIRE(r.code == 0);
    CHECK(r.out
          == "user alice added to " + users + " (read,write on *)\nkvstored is not running (" + admin + "): it reads "
              + users + " when it starts, if configured to\n");
    CHECK(mode_of(users) == 0640);
    // Nothing but the file is left in the directory (no temporary file).
    size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path()))
        ++entries;
    CHECK(entries == 1);

    if (::geteuid() == 0) {
        REQUIRE(::chown(users.c_str(), 65534, 65534) == 0);
        REQUIRE(::chmod(users.c_str(), 0640) == 0);
        r = passwd(admin, {"--users", users, "bob"}, "pw\n");
        INFO(r.describe());
        REQUIRE(r.code == 0);
        struct stat st { };
        REQUIRE(::stat(users.c_str(), &st) == 0);
        CHECK(st.st_uid == 65534u);
        CHECK(st.st_gid == 65534u);
        CHECK((st.st_mode & 07777) == 0640);
    } else {
        WARN("not root: the owner of the file is not checked");
    }

    // A kvstored without a users file is not signalled, and says why.
    TempDir other;
    Daemon daemon(other);
    REQUIRE(wait_for_unix_listener(other.file("admin.sock"), 5s));
    r = passwd(other.file("admin.sock"), {"--users", users, "carol"}, "pw\n");
    INFO(r.describe());
    CHECK(r.code == 0);
    CHECK(r.out.find(") runs without a users file: start it with --users " + users) != std::string::npos);
    CHECK_FALSE(daemon.log_shows("SIGHUP", 200ms));
}
