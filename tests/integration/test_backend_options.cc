// test_backend_options.cc: `kvstored run --backend sqlite|etcd` and the
// --etcd-* options (docs/scale-out.md, "kvstored settings"), from the
// command line and from the configuration file: every contradiction exits 2
// before anything is bound, with one stderr line naming both options, and
// check-config prints the backend settings in effect. (No etcd is started:
// these are refused before kvstored would reach it.)
#include <catch2/catch.hpp>

#include <filesystem>

#include "cli.h"

using namespace kvtest;
namespace fs = std::filesystem;

namespace {

// `kvstored --config /dev/null run --socket DIR/s.sock ARGS...`: must be refused (exit 2) with
// exactly "kvstored run: <expected>\n" on stderr, nothing on stdout, and no
// socket bound.
void check_run_refused(const std::vector<std::string>& args, const std::string& expected)
{
    TempDir dir;
    // --config /dev/null: the host's /etc/kvstore/kvstored.conf must not leak in.
    std::vector<std::string> all = {"--config", "/dev/null", "run", "--socket", dir.file("s.sock")};
    all.insert(all.end(), args.begin(), args.end());
    CliResult r = run_kvstored(all, {}, 10s);
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "kvstored run: " + expected + "\n");
    CHECK_FALSE(fs::exists(dir.file("s.sock")));
}

// As above for a refusal CLI11 itself makes (a range, a choice): exit 2 and
// stderr names `option`.
void check_cli11_refused(const std::vector<std::string>& args, const std::string& option)
{
    TempDir dir;
    // --config /dev/null: the host's /etc/kvstore/kvstored.conf must not leak in.
    std::vector<std::string> all = {"--config", "/dev/null", "run", "--socket", dir.file("s.sock")};
    all.insert(all.end(), args.begin(), args.end());
    CliResult r = run_kvstored(all, {}, 10s);
    INFO(r.describe());
    CHECK(r.code == 2);
    CHECK(r.err.find(option) != std::string::npos);
    CHECK_FALSE(fs::exists(dir.file("s.sock")));
}

const std::string kEndpoint = "http://127.0.0.1:2379";

}  // namespace

TEST_CASE("kvstored run --backend etcd refuses --db, --memory and --when-full evict, naming both options",
          "[config][etcd]")
{
    const std::string see = " (docs/scale-out.md)";
    check_run_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--db", "/tmp/kvtest-never.db"},
                      "--backend etcd excludes --db: the store lives in etcd, not in a SQLite file" + see);
    CHECK_FALSE(fs::exists("/tmp/kvtest-never.db"));
    check_run_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--memory"},
                      "--backend etcd excludes --memory: the store lives in etcd" + see);
    check_run_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--when-full", "evict"},
                      "--backend etcd excludes --when-full evict: every host would have to agree on the least "
                      "recently used entry; use --when-full refuse"
                          + see);
}

TEST_CASE("kvstored run --backend etcd without --etcd-endpoints exits 2 saying what is missing", "[config][etcd]")
{
    check_run_refused({"--backend", "etcd"},
                      "--backend etcd needs --etcd-endpoints URL,URL,... (each member's http://HOST:PORT) "
                      "(docs/scale-out.md)");
}

TEST_CASE("an --etcd-* option without --backend etcd exits 2 naming it", "[config][etcd]")
{
    auto [option, value] = GENERATE(table<std::string, std::string>({{"--etcd-endpoints", "http://127.0.0.1:2379"},
                                                                     {"--etcd-prefix", "/other"},
                                                                     {"--etcd-timeout", "3000"},
                                                                     {"--etcd-check-interval", "60"}}));
    const std::string expected = option + " needs --backend etcd (the backend is sqlite) (docs/scale-out.md)";
    check_run_refused({option, value}, expected);
    check_run_refused({"--backend", "sqlite", option, value}, expected);
}

TEST_CASE("kvstored run --etcd-endpoints takes only http://HOST:PORT, comma-separated", "[config][etcd]")
{
    auto [list, why] = GENERATE(table<std::string, std::string>({
        {"127.0.0.1:2379", "127.0.0.1:2379: not http://HOST:PORT (only http:// is supported)"},
        {"https://127.0.0.1:2379", "https://127.0.0.1:2379: not http://HOST:PORT (only http:// is supported)"},
        {"http://127.0.0.1", "http://127.0.0.1: not http://HOST:PORT (no port)"},
        {"http://127.0.0.1:0", "http://127.0.0.1:0: not http://HOST:PORT (the port must be 1 to 65535)"},
        {"http://127.0.0.1:65536", "http://127.0.0.1:65536: not http://HOST:PORT (the port must be 1 to 65535)"},
        {"http://127.0.0.1:23x9", "http://127.0.0.1:23x9: not http://HOST:PORT (the port must be 1 to 65535)"},
        {"http://127.0.0.1:2379/v3", "http://127.0.0.1:2379/v3: not http://HOST:PORT (no path after the port)"},
        {"http://:2379", "http://:2379: not http://HOST:PORT (no host)"},
        {"http://user@host:2379",
         "http://user@host:2379: not http://HOST:PORT (a user part or an odd byte in the "
         "host)"},
        {"http://[::1]", "http://[::1]: not http://HOST:PORT (no port)"},
    }));
    check_run_refused({"--backend", "etcd", "--etcd-endpoints", list}, "--etcd-endpoints: " + why);
}

TEST_CASE("kvstored run --etcd-prefix starts with '/', has no trailing '/', and is printable", "[config][etcd]")
{
    auto [prefix, why] = GENERATE(table<std::string, std::string>({
        {"kvstore", "it must start with '/' and name something after it"},
        {"/", "it must start with '/' and name something after it"},
        {"/kvstore/", "no trailing '/' (kvstored adds /k/ and /m/ itself)"},
        {"/kv store", "printable ASCII only, no spaces"},
        {"/kv\tstore", "printable ASCII only, no spaces"},
        {"/" + std::string(200, 'p'), "at most 200 bytes"},
    }));
    check_run_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--etcd-prefix", prefix},
                      "--etcd-prefix " + prefix + ": " + why);
}

TEST_CASE("kvstored run --backend, --etcd-timeout and --etcd-check-interval outside their ranges exit 2",
          "[config][etcd]")
{
    check_cli11_refused({"--backend", "zookeeper"}, "--backend");
    check_cli11_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--etcd-timeout", "99"}, "--etcd-timeout");
    check_cli11_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--etcd-timeout", "600001"},
                        "--etcd-timeout");
    check_cli11_refused({"--backend", "etcd", "--etcd-endpoints", kEndpoint, "--etcd-check-interval", "0"},
                        "--etcd-check-interval");
}

TEST_CASE("check-config prints the etcd settings from the file, the defaults filled in", "[config][etcd]")
{
    TempDir dir;
    std::string socket = dir.file("svc.sock");
    std::string config = dir.file("kvstored.conf");
    const std::string head = config + ": OK\n  admin-socket  = " + dir.file("admin.sock") + "\n  socket        = "
        + socket + "\n  capacity      = 500\n  max-value     = 65536\n  when-full     = refuse\n";

    SECTION("three endpoints, the other settings defaulted")
    {
        write_file(config,
                   "[run]\nsocket = " + socket
                       + "\ncapacity = 500\nbackend = etcd\n"
                         "etcd-endpoints = http://127.0.0.1:2379,http://127.0.0.2:2379,http://[::1]:2379/\n");
        CliResult r = run_kvstored({"check-config", "--config", config});
        INFO(r.describe());
        CHECK(r.code == 0);
        CHECK(r.err.empty());
        CHECK(r.out
              == head
                  + "  backend       = etcd\n"
                    "  etcd-endpoints = http://127.0.0.1:2379,http://127.0.0.2:2379,http://[::1]:2379/\n"
                    "  etcd-prefix   = /kvstore\n"
                    "  etcd-timeout  = 2000\n"
                    "  etcd-check-interval = 30\n");
    }

    SECTION("every setting given")
    {
        write_file(config,
                   "[run]\nsocket = " + socket
                       + "\ncapacity = 500\nbackend = etcd\netcd-endpoints = http://10.0.0.1:2379\n"
                         "etcd-prefix = /shop/sessions\netcd-timeout = 750\netcd-check-interval = 5\n");
        CliResult r = run_kvstored({"check-config", "--config", config});
        INFO(r.describe());
        CHECK(r.code == 0);
        CHECK(r.out
              == head
                  + "  backend       = etcd\n"
                    "  etcd-endpoints = http://10.0.0.1:2379\n"
                    "  etcd-prefix   = /shop/sessions\n"
                    "  etcd-timeout  = 750\n"
                    "  etcd-check-interval = 5\n");
    }

    SECTION("without a backend, the sqlite settings as before")
    {
        write_file(config, "[run]\nsocket = " + socket + "\ncapacity = 500\n");
        CliResult r = run_kvstored({"check-config", "--config", config});
        INFO(r.describe());
        CHECK(r.code == 0);
        CHECK(r.out == head + "  backend       = sqlite\n  db            = (memory)\n  sync          = batch\n");
    }
}

TEST_CASE("contradictions in the configuration file exit 2 from check-config and from run", "[config][etcd]")
{
    TempDir dir;
    std::string socket = dir.file("svc.sock");
    std::string config = dir.file("kvstored.conf");
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {"backend = etcd\netcd-endpoints = http://127.0.0.1:2379\ndb = /tmp/kvtest-never.db\n",
         "--backend etcd excludes --db: the store lives in etcd, not in a SQLite file (docs/scale-out.md)"},
        {"backend = etcd\n",
         "--backend etcd needs --etcd-endpoints URL,URL,... (each member's http://HOST:PORT) (docs/scale-out.md)"},
        {"etcd-prefix = /elsewhere\n",
         "--etcd-prefix needs --backend etcd (the backend is sqlite) (docs/scale-out.md)"},
    }));
    write_file(config, "[run]\nsocket = " + socket + "\n" + text);

    CliResult check = run_kvstored({"check-config", "--config", config}, {}, 10s);
    INFO(check.describe());
    CHECK(check.code == 2);
    CHECK(check.out.empty());
    CHECK(check.err == "kvstored check-config: " + config + ": " + expected + "\n");

    CliResult run = run_kvstored({"--config", config, "run"}, {}, 10s);
    INFO(run.describe());
    CHECK(run.code == 2);
    CHECK(run.out.empty());
    CHECK(run.err == "kvstored run: " + expected + "\n");
    CHECK_FALSE(fs::exists(socket));
    CHECK_FALSE(fs::exists("/tmp/kvtest-never.db"));
}

TEST_CASE("run --help documents every backend option", "[config][etcd]")
{
    CliResult r = run_kvstored({"run", "--help"});
    INFO(r.describe());
    CHECK(r.code == 0);
    for (const char* option :
         {"--backend", "--etcd-endpoints", "--etcd-prefix", "--etcd-timeout", "--etcd-check-interval"})
        CHECK(r.out.find(option) != std::string::npos);
}
