// Unit tests for kv::config_file: reading kvstored's INI file with line
// numbers and naming its unknown keys (issue 19: "capacty = 7" broke every
// subcommand with "INI was not able to parse run.capacty").
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config_file.h"

namespace cf = kv::config_file;

namespace {

const cf::Known kKnown = {{"", {"admin-socket"}}, {"run", {"socket", "capacity", "db", "sync", "sync-interval"}}};

std::vector<std::string> messages(const std::vector<cf::Problem>& problems)
{
    std::vector<std::string> out;
    for (const cf::Problem& p : problems)
        out.push_back(cf::describe("k.conf", p));
    return out;
}

}  // namespace

TEST_CASE("parse keeps sections, keys, values and line numbers, and skips comments", "[config_file]")
{
    cf::Parsed p = cf::parse("# comment\n"
                             "admin-socket = /a.sock\n"
                             "\n"
                             "[run]\r\n"
                             "  ; another comment\n"
                             "capacity=7\n"
                             "db = \"/var/lib/kvstore/store.db\"\n"
                             "run.sync = off");
    CHECK(p.problems.empty());
    REQUIRE(p.entries.size() == 4);
    CHECK(p.entries[0].section.empty());
    CHECK(p.entries[0].key == "admin-socket");
    CHECK(p.entries[0].value == "/a.sock");
    CHECK(p.entries[0].line == 2);
    CHECK(p.entries[1].section == "run");
    CHECK(p.entries[1].key == "capacity");
    CHECK(p.entries[1].value == "7");
    CHECK(p.entries[1].line == 6);
    CHECK(p.entries[2].value == "/var/lib/kvstore/store.db");
    // Inside [run] "run.sync" is a key of its own (unknown), as CLI11 read it.
    CHECK(p.entries[3].section == "run");
    CHECK(p.entries[3].key == "run.sync");
}

TEST_CASE("parse names the lines that are neither 'key = value' nor '[section]'", "[config_file]")
{
    cf::Parsed p = cf::parse("[run\ncapacity 7\n= 3\n[run]\nsync = off\n");
    CHECK(messages(p.problems)
          == std::vector<std::string>{"k.conf:1: a section header is '[name]'",
                                      "k.conf:2: expected 'key = value', got 'capacity 7'",
                                      "k.conf:3: expected 'key = value', got '= 3'"});
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].line == 5);
}

TEST_CASE("a dotted key above every section belongs to that section", "[config_file]")
{
    cf::Parsed p = cf::parse("run.capacity = 7\n");
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].section == "run");
    CHECK(p.entries[0].key == "capacity");
    CHECK(cf::check_keys(p.entries, kKnown).empty());
}

TEST_CASE("check_keys names each unknown key with the nearest known one", "[config_file]")
{
    cf::Parsed p = cf::parse("colour = red\n"
                             "capacity = 7\n"
                             "[run]\n"
                             "capacty = 7\n"
                             "admin-socket = /a.sock\n"
                             "bogus = 1\n"
                             "socket = /s.sock\n"
                             "[rnu]\n"
                             "db = /x.db\n"
                             "[status]\n"
                             "json = true\n");
    CHECK(messages(cf::check_keys(p.entries, kKnown))
          == std::vector<std::string>{
              "k.conf:1: unknown key 'colour' at the top of the file",
              "k.conf:2: unknown key 'capacity' at the top of the file: it belongs in [run]",
              "k.conf:4: unknown key 'capacty' in [run]: did you mean capacity?",
              "k.conf:5: unknown key 'admin-socket' in [run]: it belongs at the top of the file",
              "k.conf:6: unknown key 'bogus' in [run]",
              "k.conf:9: unknown section [rnu]: did you mean [run]?",
              "k.conf:11: unknown section [status]",
          });
}

TEST_CASE("read says why a file cannot be read, and tells a missing one apart", "[config_file]")
{
    std::string text, error;
    bool missing = false;
    CHECK_FALSE(cf::read("/nonexistent/kvstored.conf", text, error, missing));
    CHECK(missing);
    CHECK(error == "open: No such file or directory");
    CHECK_FALSE(cf::read("/", text, error, missing));  // a directory opens, then read() fails
    CHECK_FALSE(missing);
    CHECK(error == "read: Is a directory");
}
