// test_units.cc: the installed systemd units, checked by systemd itself
// (systemd-analyze verify and security, offline: no systemd as PID 1 needed).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "install_fixture.h"

using namespace kvtest;

namespace {

// systemd-analyze --root=R resolves every unit, ExecStart= binary and
// dependency inside R: the staging root has our units and binaries; the
// targets they hang off (sysinit.target, sockets.target, ...) come from the
// host's systemd.
void add_host_targets(const Staging& staging)
{
    namespace fs = std::filesystem;
    fs::path host
        = fs::exists("/usr/lib/systemd/system/sysinit.target") ? "/usr/lib/systemd/system" : "/lib/systemd/system";
    fs::path dest = staging.path("/lib/systemd/system");
    for (const auto& e : fs::directory_iterator(host))
        if (e.path().extension() == ".target" && e.is_regular_file())
            fs::copy_file(e.path(), dest / e.path().filename(), fs::copy_options::skip_existing);
}

// The host programs the units name besides ours (kvstored.service's
// ExecReload=/bin/kill), copied into the staging root: verify checks that
// each command exists there.
void add_host_programs(const Staging& staging)
{
    namespace fs = std::filesystem;
    fs::create_directories(staging.path("/bin"));
    fs::copy_file(fs::canonical("/bin/kill"), staging.path("/bin/kill"), fs::copy_options::skip_existing);
}

// "→ Overall exposure level for kvstored.service: 0.5 SAFE": 0.5.
double exposure(const std::string& output)
{
    std::smatch m;
    static const std::regex re("Overall exposure level for [^:]+: ([0-9]+\\.[0-9]+)");
    if (!std::regex_search(output, m, re))
        return 99;
    return std::stod(m[1]);
}

// The lines of `output` that name one of our units or files.
std::string complaints(const std::string& output)
{
    std::string found;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
        if (line.find("kvstore") != std::string::npos || line.find("kvsvc") != std::string::npos)
            found += line + "\n";
    return found;
}

}  // namespace

TEST_CASE("systemd-analyze verify: the installed units are clean")
{
    if (::access(kSystemdAnalyze, X_OK) != 0)
        FAIL("systemd-analyze is missing: install the Debian package systemd (scripts/deps does)");
    Staging staging;
    add_host_targets(staging);
    add_host_programs(staging);
    const std::string root = "--root=" + staging.root();

    RunResult verify = run_capture(kSystemdAnalyze,
                                   {"verify", root, "kvstored.service", "kvsvc.socket", "kvsvc@.service",
                                    "kvsvc-redis.socket", "kvsvc-redis@.service", "kvsvc-memcache.socket",
                                    "kvsvc-memcache@.service", "kvstore-metrics.service", "kvstore-metrics.timer"});
    INFO(verify.describe());
    CHECK(verify.ok());
    // Unknown keys and the like are only warnings (exit status 0): none may
    // name our units.
    CHECK(complaints(verify.output) == "");

    // The check works: a unit with an unknown key is reported.
    std::string broken = read_file(staging.path("/lib/systemd/system/kvsvc.socket"));
    write_file(staging.path("/lib/systemd/system/kvbroken.socket"),
               replace_all(broken, "Accept=yes\n", "Accept=yes\nAcceptt=yes\n"));
    write_file(staging.path("/lib/systemd/system/kvbroken@.service"),
               read_file(staging.path("/lib/systemd/system/kvsvc@.service")));
    RunResult negative = run_capture(kSystemdAnalyze, {"verify", root, "kvbroken.socket"});
    INFO(negative.describe());
    CHECK(negative.output.find("Unknown key 'Acceptt'") != std::string::npos);
}

TEST_CASE("systemd-analyze security: the installed services are sandboxed")
{
    if (::access(kSystemdAnalyze, X_OK) != 0)
        FAIL("systemd-analyze is missing: install the Debian package systemd (scripts/deps does)");
    Staging staging;
    add_host_targets(staging);
    add_host_programs(staging);
    const std::string root = "--root=" + staging.root();

    // 0.0 (best) .. 10.0. kvstored: 0.5 when written; kvsvc@: 1.0 (no
    // PrivateNetwork=, see the unit). Fail on a regression past the margin.
    RunResult daemon
        = run_capture(kSystemdAnalyze, {"security", "--offline=yes", root, "--threshold=10", "kvstored.service"});
    INFO(daemon.describe());
    CHECK(daemon.ok());
    CHECK(exposure(daemon.output) <= 1.0);

    for (const char* unit : {"kvsvc@x.service", "kvsvc-redis@x.service", "kvsvc-memcache@x.service"}) {
        RunResult session = run_capture(kSystemdAnalyze, {"security", "--offline=yes", root, "--threshold=15", unit});
        INFO(session.describe());
        CHECK(session.ok());
        CHECK(exposure(session.output) <= 1.5);
    }

    // kvstore-metrics: runs as root (the textfile directory is root's), but
    // with no capability and everything else closed.
    RunResult metrics = run_capture(kSystemdAnalyze,
                                    {"security", "--offline=yes", root, "--threshold=15", "kvstore-metrics.service"});
    INFO(metrics.describe());
    CHECK(metrics.ok());
    CHECK(exposure(metrics.output) <= 1.5);
}
