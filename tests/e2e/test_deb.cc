// test_deb.cc: the Debian package that `cpack -G DEB` makes: its files,
// relations, conffiles and maintainer scripts (dpkg-deb --info/--contents),
// and lintian's verdict when lintian is installed. It never installs the
// package: the .deb is built from a staging root, and all of it lives in a
// temporary directory.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "install_fixture.h"

using namespace kvtest;

namespace {

// `dpkg-deb --contents` lines: path (without the leading "."), mode string
// and owner.
struct TarEntry {
    std::string mode;
    std::string owner;
};

std::map<std::string, TarEntry> contents(const std::string& listing)
{
    std::map<std::string, TarEntry> entries;
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string mode, owner, size, date, time, path;
        if (!(f >> mode >> owner >> size >> date >> time >> path))
            continue;
        if (path.rfind("./", 0) == 0)
            path = path.substr(1);
        if (path.size() > 1 && path.back() == '/')
            path.pop_back();
        entries[path] = TarEntry{mode, owner};
    }
    return entries;
}

// The value of `set(NAME "VALUE")` in a CPackConfig.cmake, or "".
std::string cpack_setting(const std::string& config, const std::string& name)
{
    const std::string head = "set(" + name + " \"";
    size_t pos = config.find(head);
    if (pos == std::string::npos)
        return "";
    pos += head.size();
    return config.substr(pos, config.find('"', pos) - pos);
}

std::string field(const std::string& deb, const std::string& name)
{
    RunResult r = run_capture(kDpkgDeb, {"--field", deb, name});
    if (!r.ok())
        return "<" + r.describe() + ">";
    std::string v = r.output;
    while (!v.empty() && v.back() == '\n')
        v.pop_back();
    return v;
}

}  // namespace

TEST_CASE("deb: cpack -G DEB makes a kvstore package with its files, relations and maintainer scripts")
{
    for (const char* tool : {kDpkgDeb, "/usr/bin/dpkg-shlibdeps", "/usr/bin/file"})
        if (::access(tool, X_OK) != 0)
            FAIL(std::string(tool) + " is missing: install the Debian packages dpkg-dev and file (scripts/deps does)");

    // As `cpack -G DEB` in build/ does, from a staging install made the way
    // cpack makes its own (CPACK_SET_DESTDIR: DESTDIR, prefix
    // CPACK_INSTALL_PREFIX): build_deb().
    const std::string config = read_file(build_dir() + "/CPackConfig.cmake");
    CHECK(cpack_setting(config, "CPACK_SET_DESTDIR") == "ON");
    CHECK(cpack_setting(config, "CPACK_INSTALL_PREFIX") == "/usr");
    CHECK(cpack_setting(config, "CPACK_PACKAGING_INSTALL_PREFIX") == "/usr");
    CHECK(cpack_setting(config, "CPACK_STRIP_FILES") == "ON");
    Staging staging(cpack_setting(config, "CPACK_INSTALL_PREFIX"), cpack_setting(config, "CPACK_STRIP_FILES") == "ON");
    const std::string deb = build_deb(staging);
    const std::string arch = field(deb, "Architecture");
    CHECK(std::filesystem::path(deb).filename() == "kvstore_" + version() + "-1_" + arch + ".deb");

    {  // control fields
        RunResult info = run_capture(kDpkgDeb, {"--info", deb});
        INFO(info.describe());
        CHECK(field(deb, "Package") == "kvstore");
        CHECK(field(deb, "Version") == version() + "-1");
        CHECK(field(deb, "Recommends") == "xinetd | systemd");
        CHECK(field(deb, "Section") == "database");
        CHECK(field(deb, "Priority") == "optional");
        std::string depends = field(deb, "Depends");
        INFO("Depends: " << depends);
        // adduser for the maintainer scripts; the rest from dpkg-shlibdeps.
        for (const char* dep :
             {"adduser", "libc6 (>= ", "libsqlite3-0 (>= ", "libsystemd0", "libsodium23", "libcurl4 (>= "})
            CHECK(depends.find(dep) != std::string::npos);
        // TLS is kvsvc-tls, linked statically with OpenSSL: no stunnel4, no libssl3.
        CHECK(depends.find("libssl") == std::string::npos);
        CHECK(field(deb, "Suggests") == "sqlite3");
        CHECK(field(deb, "Maintainer").find('<') != std::string::npos);
        CHECK(field(deb, "Description").find('\n') != std::string::npos);  // synopsis and long text
    }

    {  // files, modes and owners
        RunResult listing = run_capture(kDpkgDeb, {"--contents", deb});
        INFO(listing.describe());
        REQUIRE(listing.ok());
        auto entries = contents(listing.output);
        std::map<std::string, std::string> files = {
            {"/usr/bin/kvstored", "-rwxr-xr-x"},
            {"/usr/bin/kvsvc", "-rwxr-xr-x"},
            {"/usr/bin/kvsvc-tls", "-rwxr-xr-x"},
            {"/etc/kvstore/kvstored.conf", "-rw-r--r--"},
            // Password hashes: postinst gives it the group kvstore.
            {"/etc/kvstore/users", "-rw-r-----"},
            {"/etc/xinetd.d/kvstore", "-rw-r--r--"},
            {"/etc/xinetd.d/kvstore-redis", "-rw-r--r--"},
            {"/etc/xinetd.d/kvstore-memcache", "-rw-r--r--"},
            {"/etc/xinetd.d/kvstore-tls", "-rw-r--r--"},
            {"/etc/xinetd.d/kvstore-redis-tls", "-rw-r--r--"},
            {"/lib/systemd/system/kvstored.service", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc.socket", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc@.service", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc-redis.socket", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc-redis@.service", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc-memcache.socket", "-rw-r--r--"},
            {"/lib/systemd/system/kvsvc-memcache@.service", "-rw-r--r--"},
            {"/lib/systemd/system/kvstore-metrics.service", "-rw-r--r--"},
            {"/lib/systemd/system/kvstore-metrics.timer", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/README.md", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/operations.md", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/protocol.md", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/persistence.md", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/copyright", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/changelog.Debian.gz", "-rw-r--r--"},
            // For kvstored without systemd, logging to a file (docs/operations.md).
            {"/usr/share/doc/kvstore/examples/logrotate.kvstored", "-rw-r--r--"},
            // fail2ban's filter and jail for failed password checks (docs/operations.md, Users).
            {"/usr/share/doc/kvstore/examples/fail2ban/filter.d/kvstore.conf", "-rw-r--r--"},
            {"/usr/share/doc/kvstore/examples/fail2ban/jail.d/kvstore.conf", "-rw-r--r--"},
            {"/usr/share/lintian/overrides/kvstore", "-rw-r--r--"},
            // Compressed, as Debian policy 12.1 wants (deb-extras.cmake).
            {"/usr/share/man/man8/kvstored.8.gz", "-rw-r--r--"},
            {"/usr/share/man/man8/kvsvc.8.gz", "-rw-r--r--"},
            {"/usr/share/man/man7/kvstore.7.gz", "-rw-r--r--"},
        };
#ifdef KVSTORE_HAS_KVBENCH
        files["/usr/bin/kvbench"] = "-rwxr-xr-x";
        files["/usr/share/man/man1/kvbench.1.gz"] = "-rw-r--r--";
#endif
        if (std::filesystem::exists(source_dir() + "/docs/redis.md"))
            files["/usr/share/doc/kvstore/redis.md"] = "-rw-r--r--";
        files["/usr/share/doc/kvstore/memcache.md"] = "-rw-r--r--";
        files["/usr/share/doc/kvstore/scale-out.md"] = "-rw-r--r--";
        for (const auto& [path, mode] : files) {
            INFO(path);
            REQUIRE(entries.count(path) == 1);
            CHECK(entries[path].mode == mode);
        }
        for (const auto& [path, entry] : entries) {
            INFO(path);
            CHECK(entry.owner == "root/root");
            if (entry.mode[0] == 'd')
                CHECK(entry.mode == "drwxr-xr-x");
            else
                CHECK(files.count(path) == 1);  // nothing unexpected
        }
    }

    {  // conffiles, maintainer scripts and the packaged files as in the tree
        const std::string control = staging.dir().file("control");
        const std::string data = staging.dir().file("data");
        REQUIRE(run_capture(kDpkgDeb, {"--control", deb, control}).ok());
        REQUIRE(run_capture(kDpkgDeb, {"--extract", deb, data}).ok());
        CHECK(read_file(control + "/conffiles")
              == "/etc/kvstore/kvstored.conf\n/etc/kvstore/users\n/etc/xinetd.d/kvstore\n"
                 "/etc/xinetd.d/kvstore-redis\n/etc/xinetd.d/kvstore-memcache\n/etc/xinetd.d/kvstore-tls\n"
                 "/etc/xinetd.d/kvstore-redis-tls\n");
        for (const char* script : {"postinst", "prerm", "postrm"}) {
            INFO(script);
            const std::string path = control + "/" + script;
            struct stat st { };
            REQUIRE(::stat(path.c_str(), &st) == 0);
            CHECK((st.st_mode & 0777) == 0755);
            CHECK(read_file(path) == read_file(source_dir() + "/packaging/debian/" + script));
            RunResult syntax = run_capture("/bin/sh", {"-n", path});
            INFO(syntax.describe());
            CHECK(syntax.ok());
            // Every socket and timer unit the package ships is tracked by
            // postinst, stopped by prerm and masked and purged by postrm.
            for (const char* unit :
                 {"kvsvc.socket", "kvsvc-redis.socket", "kvsvc-memcache.socket", "kvstore-metrics.timer"}) {
                INFO(unit);
                CHECK(read_file(path).find(std::string(" ") + unit) != std::string::npos);
            }
        }
        for (const auto& [packaged, source] : std::vector<std::pair<std::string, std::string>>{
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
             }) {
            INFO(packaged);
            CHECK(read_file(data + packaged) == read_file(source_dir() + "/" + source));
        }
        // The manual pages are man/'s, gzipped without a name or time stamp
        // (gzip -n: the package is reproducible).
        std::vector<std::pair<std::string, std::string>> pages = {
            {"/usr/share/man/man8/kvstored.8.gz", "man/kvstored.8"},
            {"/usr/share/man/man8/kvsvc.8.gz", "man/kvsvc.8"},
            {"/usr/share/man/man7/kvstore.7.gz", "man/kvstore.7"},
        };
#ifdef KVSTORE_HAS_KVBENCH
        pages.emplace_back("/usr/share/man/man1/kvbench.1.gz", "man/kvbench.1");
#endif
        for (const auto& [packaged, source] : pages) {
            INFO(packaged);
            RunResult gunzip = run_capture("/bin/gzip", {"-dc", data + packaged});
            INFO(gunzip.describe());
            REQUIRE(gunzip.ok());
            CHECK(gunzip.output == read_file(source_dir() + "/" + source));
            // RFC 1952 header: no FNAME flag (byte 3, bit 3), MTIME 0.
            const std::string header = read_file(data + packaged).substr(0, 10);
            REQUIRE(header.size() == 10);
            CHECK((static_cast<unsigned char>(header[3]) & 0x08) == 0);
            CHECK(header.substr(4, 4) == std::string(4, '\0'));
        }
        // Stripped (lintian: unstripped-binary-or-object is an error).
        for (const char* program : {"/usr/bin/kvstored", "/usr/bin/kvsvc", "/usr/bin/kvsvc-tls"}) {
            RunResult file = run_capture("/usr/bin/file", {"-b", data + program});
            INFO(file.describe());
            CHECK(file.output.find(", stripped") != std::string::npos);
        }
    }

    {  // lintian finds no error (when lintian is installed)
        if (::access("/usr/bin/lintian", X_OK) != 0) {
            WARN("lintian is not installed: not run (apt-get install lintian; see docs/operations.md)");
            return;
        }
        RunResult lintian = run_capture("/usr/bin/lintian", {"--fail-on", "error", deb}, 50s);
        INFO(lintian.describe());
        CHECK(lintian.ok());
        CHECK(lintian.output.find("E: ") == std::string::npos);
        // Every program has its page, and lintian finds nothing wrong with
        // the pages (no-manual-page, uncompressed-manual-page,
        // manpage-has-errors-from-man, manpage-section-mismatch, ...).
        CHECK(lintian.output.find("manual-page") == std::string::npos);
        CHECK(lintian.output.find("manpage-") == std::string::npos);
    }
}

// Regression (issue 13, point 9): the postinst called `adduser --comment`,
// which adduser knows only since 3.130, so the package failed to install on
// Debian 11 and Ubuntu 22.04 (adduser 3.118).
TEST_CASE("deb: the maintainer scripts give adduser and addgroup only options that 3.118 and 3.130+ both know")
{
    // adduser 3.118's options (its man page), less --gecos, which 3.130+
    // deprecate in favour of --comment.
    const std::set<std::string> known = {
        "--system",
        "--quiet",
        "--group",
        "--ingroup",
        "--gid",
        "--uid",
        "--home",
        "--no-create-home",
        "--shell",
        "--disabled-password",
        "--disabled-login",
        "--firstuid",
        "--lastuid",
        "--conf",
        "--add_extra_groups",
        "--force-badname",
        "--debug",
        "--only-if-empty",
    };
    int calls = 0;
    for (const char* script : {"postinst", "postrm"}) {
        // Whole commands: continuation lines joined.
        std::string text = replace_all(read_file(source_dir() + "/packaging/debian/" + script), "\\\n", " ");
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            std::vector<std::string> words = split_words(line);
            if (words.empty() || words.front().rfind('#', 0) == 0)
                continue;  // a comment
            for (size_t i = 0; i < words.size(); ++i) {
                if (words[i] != "adduser" && words[i] != "addgroup" && words[i] != "deluser" && words[i] != "delgroup")
                    continue;
                ++calls;
                for (size_t j = i + 1; j < words.size() && words[j] != "||" && words[j] != "&&" && words[j] != ";"; ++j)
                    if (words[j].rfind("--", 0) == 0) {
                        INFO(script << ": " << line);
                        CHECK(known.count(words[j]) == 1);
                    }
            }
        }
    }
    CHECK(calls >= 4);
}

// The block that finds and stops a kvstored started by hand is needed by
// prerm (removal, upgrade), postinst (an upgrade from a package whose prerm
// did not stop it) and postrm (purge); a maintainer script cannot source a
// file of the package, which may be gone, so each has a copy.
TEST_CASE("deb - prerm, postinst and postrm carry the same stop-kvstored block")
{
    auto block = [](const std::string& script) {
        const std::string text = read_file(source_dir() + "/packaging/debian/" + script);
        const size_t begin = text.find("# BEGIN stop-kvstored");
        const size_t end = text.find("# END stop-kvstored");
        INFO(script);
        REQUIRE(begin != std::string::npos);
        REQUIRE(end != std::string::npos);
        return text.substr(begin, end - begin);
    };
    const std::string prerm = block("prerm");
    CHECK(prerm.find("kvstored_stop_all()") != std::string::npos);
    CHECK(block("postinst") == prerm);
    CHECK(block("postrm") == prerm);
}
