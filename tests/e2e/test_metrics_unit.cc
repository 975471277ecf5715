// test_metrics_unit.cc: the installed kvstore-metrics.service and .timer.
// The service's ExecStart line, read from the installed unit (so that this
// breaks when the unit drifts), is run once as the unit runs it (root, no
// capability, the supplementary group kvstore-admin) against the installed
// kvstored as kvstored.service starts it; the file it writes is what
// prometheus-node-exporter's textfile collector reads.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "cli.h"
#include "install_fixture.h"

using namespace kvtest;

namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";
// Debian's prometheus-node-exporter reads *.prom here (its built-in default
// for --collector.textfile.directory; the package ships it, root's, 0755).
constexpr const char* kTextfileDir = "/var/lib/prometheus/node-exporter";

// The unit's ExecStart, run as systemd runs it: root with an empty
// capability bounding set (CapabilityBoundingSet=), so only a file's owner
// and group rights count, with the supplementary `groups`.
RunResult run_as_unit(const std::vector<std::string>& exec, const std::string& groups)
{
    std::vector<std::string> args
        = {"--reuid=0", "--regid=0", groups, "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"};
    args.insert(args.end(), exec.begin(), exec.end());
    return run_capture("/usr/bin/setpriv", args);
}

size_t files_in(const std::string& dir)
{
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("installed kvstore-metrics.service's ExecStart, run once, writes kvstore.prom for node-exporter's textfile "
          "collector")
{
    if (std::string why = install_tests_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    if (::access(kPromtool, X_OK) != 0)
        FAIL("promtool is missing: install the Debian package prometheus (scripts/deps does)");
    ensure_kvstore_accounts();
    Staging staging;
    DeployedDaemon daemon(staging);
    INFO("kvstored's log:\n" << daemon.log());
    const std::string unit = read_file(staging.path("/lib/systemd/system/kvstore-metrics.service"));
    const std::string timer = read_file(staging.path("/lib/systemd/system/kvstore-metrics.timer"));

    // What the run below stands for: root without capabilities, in
    // kvstore-admin, allowed to write the textfile directory only.
    CHECK(unit_values(unit, "Service", "User").empty());
    CHECK(unit_value(unit, "Service", "CapabilityBoundingSet") == "");
    CHECK(unit_value(unit, "Service", "SupplementaryGroups") == "kvstore-admin");
    CHECK(unit_value(unit, "Service", "ReadWritePaths") == std::string("-") + kTextfileDir);
    CHECK(unit_value(unit, "Service", "Type") == "oneshot");
    CHECK(unit_value(timer, "Timer", "OnUnitActiveSec") == "15s");
    CHECK(unit_value(timer, "Install", "WantedBy") == "timers.target");

    // The ExecStart line, with the staged kvstored, and the textfile
    // directory and the admin socket moved into the test's directories.
    std::vector<std::string> exec = split_words(unit_value(unit, "Service", "ExecStart"));
    REQUIRE(exec.size() > 2);
    REQUIRE(exec[0] == "/usr/bin/kvstored");
    exec[0] = staging.path(exec[0]);
    auto output = std::find(exec.begin(), exec.end(), "--output");
    REQUIRE(output != exec.end());
    REQUIRE(output + 1 != exec.end());
    REQUIRE(output[1] == std::string(kTextfileDir) + "/kvstore.prom");
    TempDir textfile_dir;  // root's, as Debian's; 0755 as it is
    REQUIRE(::chmod(textfile_dir.path().c_str(), 0755) == 0);
    const std::string prom = textfile_dir.file("kvstore.prom");
    output[1] = prom;
    const std::string admin_socket = daemon.runtime_dir() + "/admin.sock";
    exec.insert(exec.end(), {"--config", staging.path("/etc/kvstore/kvstored.conf"), "--admin-socket", admin_socket});

    const std::string admin_group = "--groups=" + std::to_string(group_id("kvstore-admin"));
    RunResult first = run_as_unit(exec, admin_group);
    INFO(first.describe());
    REQUIRE(first.ok());
    std::string text = read_file(prom);
    CHECK(text.find("kvstore_entries 0\n") != std::string::npos);
    CliResult check = run_program(kPromtool, {"check", "metrics"}, text);
    INFO(check.describe());
    CHECK(check.code == 0);
    struct stat st;
    REQUIRE(::stat(prom.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);

    // The next run replaces the file, and leaves nothing else behind.
    RunResult set = run_capture(
        staging.path("/usr/bin/kvstored"),
        {"--config", staging.path("/etc/kvstore/kvstored.conf"), "--admin-socket", admin_socket, "set", "k", "v"});
    INFO(set.describe());
    REQUIRE(set.ok());
    RunResult second = run_as_unit(exec, admin_group);
    INFO(second.describe());
    REQUIRE(second.ok());
    CHECK(read_file(prom).find("kvstore_entries 1\n") != std::string::npos);
    CHECK(files_in(textfile_dir.path()) == 1);

    // Without kvstore-admin, root without capabilities is refused by the
    // admin socket's mode: the unit's SupplementaryGroups= is what lets it in.
    RunResult refused = run_as_unit(exec, "--clear-groups");
    INFO(refused.describe());
    CHECK_FALSE(refused.ok());
    CHECK(refused.output.find("permission denied") != std::string::npos);
}
