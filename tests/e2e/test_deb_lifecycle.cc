// test_deb_lifecycle.cc: the kvstore package installed, reinstalled, upgraded
// and purged for real with dpkg, on a machine without systemd, with a
// kvstored started by hand as docs/operations.md ("Without systemd") says.
// It runs tests/e2e/deb_lifecycle.sh in a private mount and pid namespace
// with overlays over /etc, /usr and /var and a tmpfs on /run (see the top of
// that script): dpkg, adduser and the maintainer scripts change only the
// overlays' upper directories in a temporary directory, and every process
// started there ends with the namespace.
//
// Regression (issue 19): `apt install --reinstall` left the old kvstored
// running the deleted program, and `apt purge` deleted /var/lib/kvstore under
// a running kvstored, printed raw groupdel/delgroup errors and left
// /run/kvstored owned by a deleted uid.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "install_fixture.h"

using namespace kvtest;

namespace {

constexpr const char* kUnshare = "/usr/bin/unshare";
constexpr const char* kDpkg = "/usr/bin/dpkg";

const std::vector<std::string> kNamespaces = {"--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private"};

// Why the lifecycle cannot be played here ("" when it can).
std::string lifecycle_unavailable()
{
    if (!is_root())
        return "needs root: it installs the package with dpkg in a private mount namespace (CI runs as root)";
    for (const char* tool : {kUnshare, kDpkg, kSetpriv})
        if (::access(tool, X_OK) != 0)
            return std::string(tool) + " is missing (packages util-linux, dpkg)";
    if (read_file("/proc/filesystems").find("\toverlay\n") == std::string::npos)
        return "the kernel has no overlay file system (modprobe overlay)";
    std::vector<std::string> args = kNamespaces;
    args.push_back("/bin/true");
    if (RunResult probe = run_capture(kUnshare, args, 10s); !probe.ok())
        return "cannot make a private mount and pid namespace here: " + probe.describe();
    return "";
}

// What deb_lifecycle.sh left in its output directory.
struct Lifecycle {
    std::string dir;

    std::string read(const std::string& name) const { return read_file(dir + "/" + name); }
    bool has(const std::string& name) const { return ::access((dir + "/" + name).c_str(), F_OK) == 0; }
    int rc(const std::string& step) const { return std::stoi(read(step + ".rc")); }
    std::string pid(int n) const
    {
        std::string p = read("daemon" + std::to_string(n) + ".pid");
        while (!p.empty() && p.back() == '\n')
            p.pop_back();
        return p;
    }
    // The lines of after-STEP.
    std::set<std::string> after(const std::string& step) const
    {
        std::set<std::string> lines;
        std::istringstream in(read("after-" + step));
        for (std::string line; std::getline(in, line);)
            lines.insert(line);
        return lines;
    }
};

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("deb without systemd - reinstall and upgrade stop the running kvstored, purge removes it all")
{
    if (std::string why = lifecycle_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    Staging staging("/usr", true);
    const std::string deb = build_deb(staging);
    const std::string out = staging.dir().file("lifecycle");
    REQUIRE(::mkdir(out.c_str(), 0700) == 0);

    std::vector<std::string> args = kNamespaces;
    args.insert(args.end(), {"/bin/sh", source_dir() + "/tests/e2e/deb_lifecycle.sh", deb, out});
    RunResult run = run_capture(kUnshare, args, 90s);
    INFO(run.describe());
    REQUIRE(run.ok());
    const Lifecycle life{out};
    auto output = [&](const std::string& step) {
        return step + " (exit " + std::to_string(life.rc(step)) + "):\n" + life.read(step + ".out");
    };

    // 1. Installed; kvstored started by hand as user kvstore.
    INFO(output("install"));
    REQUIRE(life.rc("install") == 0);
    REQUIRE_FALSE(life.has("daemon1.failed"));
    CHECK(life.after("install").count("daemon1 running") == 1);
    // The users file: kvstored's group may read the hashes, nobody else.
    CHECK(life.after("install").count("users-file root:kvstore:640") == 1);
    CHECK(life.after("reinstall").count("users-file root:kvstore:640") == 1);

    {  // 2. Reinstalled: the old prerm stopped kvstored and said so; the
       // postinst says how to start it again.
        INFO(output("reinstall"));
        CHECK(life.rc("reinstall") == 0);
        CHECK(life.after("reinstall").count("daemon1 gone") == 1);
        const std::string text = life.read("reinstall.out");
        CHECK(contains(text, "stopped kvstored (pid " + life.pid(1) + ")"));
        CHECK(contains(text, "start it again"));
        CHECK(contains(text, "setpriv --reuid=kvstore --regid=kvstore"));
        CHECK(contains(text, "/usr/bin/kvstored run --socket /run/kvstored/kvstored.sock"));
        // It committed before it left, and the printed command starts it
        // again (the script ran it for the next step).
        INFO("daemon 2 started with: " << life.read("daemon2.command"));
        REQUIRE_FALSE(life.has("daemon2.failed"));
        CHECK(life.read("daemon2.greeting") == "hello\n");
    }

    {  // 3. From a package whose prerm left kvstored running: the new
       // postinst stops the kvstored that runs the program it replaced.
        INFO(output("upgrade-old-prerm"));
        CHECK(life.rc("upgrade-old-prerm") == 0);
        CHECK(life.after("upgrade-old-prerm").count("daemon2 gone") == 1);
        const std::string text = life.read("upgrade-old-prerm.out");
        CHECK(contains(text, "stopped kvstored (pid " + life.pid(2) + ")"));
        CHECK(contains(text, "start it again"));
        REQUIRE_FALSE(life.has("daemon3.failed"));
        CHECK(life.read("daemon3.greeting") == "hello\n");
    }

    // 4. Purged with kvstored running (prerm stops it); 5. purged again, with a
    // prerm that left it running (postrm stops it): then everything the
    // package and the recipe made is gone, with no raw tool output.
    for (const auto& [step, daemon] : {std::pair<std::string, int>{"purge", 3}, {"purge-old-prerm", 4}}) {
        INFO(output(step));
        CHECK(life.rc(step) == 0);
        const std::string text = life.read(step + ".out");
        CHECK(contains(text, "stopped kvstored (pid " + life.pid(daemon) + ")"));
        for (const char* raw : {"groupdel", "delgroup", "userdel", "deluser"})
            CHECK_FALSE(contains(text, raw));
        const std::set<std::string> left = life.after(step);
        INFO("after " << step << ":\n" << life.read("after-" + step));
        CHECK(left.count("daemon" + std::to_string(daemon) + " gone") == 1);
        for (const char* gone :
             {"exists /var/lib/kvstore", "exists /run/kvstored", "exists /etc/kvstore", "exists /usr/bin/kvstored",
              "user kvstore", "user kvsvc", "group kvstore", "group kvsvc", "group kvstore-admin"})
            CHECK(left.count(gone) == 0);
        for (const auto& line : left)
            CHECK(line.rfind("in-run ", 0) != 0);  // nothing else left in /run
    }
    CHECK(life.rc("install-again") == 0);
    REQUIRE_FALSE(life.has("daemon4.failed"));
}
