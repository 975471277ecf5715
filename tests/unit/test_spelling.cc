// Unit tests for kv::spelling: the distance between two words and the
// nearest known word, for the "did you mean" hints of kvstored's CLI.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "spelling.h"

using kv::spelling::distance;
using kv::spelling::nearest;

TEST_CASE("distance counts insertions, deletions, substitutions and swaps of neighbours as one each", "[spelling]")
{
    CHECK(distance("status", "status") == 0);
    CHECK(distance("", "kick") == 4);
    CHECK(distance("kik", "kick") == 1);  // insertion
    CHECK(distance("statss", "stats") == 1);  // deletion
    CHECK(distance("dump", "dumb") == 1);  // substitution
    CHECK(distance("stauts", "status") == 1);  // swap
    CHECK(distance("stauts", "stats") == 1);  // deletion
    CHECK(distance("abc", "ca") == 3);  // optimal string alignment: no edit of a swapped pair
    CHECK(distance("flush", "load") == distance("load", "flush"));
}

TEST_CASE("nearest suggests a likely typo only, and of equal ones the word of the typed length", "[spelling]")
{
    const std::vector<std::string> subcommands
        = {"run", "status", "stats", "clients", "kick",  "get",      "set",         "ttl",
           "del", "keys",   "dump",  "load",    "flush", "shutdown", "check-config"};
    CHECK(nearest("stauts", subcommands) == "status");
    CHECK(nearest("stat", subcommands) == "stats");
    CHECK(nearest("kik", subcommands) == "kick");
    CHECK(nearest("check-confg", subcommands) == "check-config");
    CHECK(nearest("shutdwon", subcommands) == "shutdown");
    CHECK(nearest("frobnicate", subcommands).empty());
    CHECK(nearest("x", subcommands).empty());  // one edit of one letter is no evidence
    CHECK(nearest("", subcommands).empty());
    CHECK(nearest("status", {}).empty());
}
