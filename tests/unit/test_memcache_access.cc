// Unit tests for the memcached door's authentication pieces (issue 18):
// split_credentials (text_parser.h: the login's "user password" as memcached
// 1.6.18 reads it) and the rights and key patterns execute() checks for an
// authenticated session (access.cc), with the door's wording.
#include <catch2/catch.hpp>

#include <string>

#include "doors/memcache/text_parser.h"
#include "memcache_handler_fixture.h"
#include "users.h"

using memcache_test::Fixture;

namespace {

struct Split {
    bool found;
    std::string user;
    std::string password;
    bool operator==(const Split&) const = default;
};

Split split(std::string_view data)
{
    std::string_view user, password;
    bool found = kv::memcache::split_credentials(data, user, password);
    return {found, found ? std::string(user) : "", found ? std::string(password) : ""};
}

// A users table as kvstored loads it (the hashes are never checked here).
const std::string kHash = "$y$j9T$JYFxRwPzXg06N6whxCdNu1$i0BQowVSZX23q5TO8CRzCopxcxUFPj0bhMtcGcTTdz4";

kv::users::Table table()
{
    return kv::users::Table::parse("alice:" + kHash + ":read,write:app1.*\n" + "reader:" + kHash + ":read:\n"
                                       + "ops:" + kHash + ":read,write,admin-data:\n",
                                   "users");
}

const std::string kDenied = "CLIENT_ERROR permission denied\r\n";

}  // namespace

TEST_CASE("memcache login data is split on spaces into user and password as memcached 1.6.18 does", "[memcache][auth]")
{
    CHECK(split("alice secret") == Split{true, "alice", "secret"});
    CHECK(split("  alice   secret  ") == Split{true, "alice", "secret"});
    CHECK(split("alice secret more words") == Split{true, "alice", "secret"});
    CHECK(split("alice") == Split{false, "", ""});
    CHECK(split("alice ") == Split{false, "", ""});
    CHECK(split("") == Split{false, "", ""});
    CHECK(split("   ") == Split{false, "", ""});
    // A C string: it ends at its first NUL. A tab is part of a token.
    CHECK(split(std::string_view("alice\0 secret", 13)) == Split{false, "", ""});
    CHECK(split(std::string_view("alice se\0cret", 13)) == Split{true, "alice", "se"});
    CHECK(split("alice\tsecret") == Split{false, "", ""});
}

TEST_CASE("memcache commands are checked against the session's rights and key patterns", "[memcache][auth]")
{
    kv::users::Table users = table();
    Fixture f;
    f.host.users_required = true;

    SECTION("not authenticated: every command is refused")
    {
        CHECK(f.run("get app1.k") == "CLIENT_ERROR unauthenticated\r\n");
        CHECK(f.run("version") == "CLIENT_ERROR unauthenticated\r\n");
    }
    SECTION("read and write within the key patterns")
    {
        f.host.session_user = users.find("alice");
        CHECK(f.set("app1.k", "v") == "STORED\r\n");
        CHECK(f.run("get app1.k") == "VALUE app1.k 0 1\r\nv\r\nEND\r\n");
        CHECK(f.set("other", "v") == kDenied);
        CHECK(f.run("get app1.k other") == kDenied);
        CHECK(f.run("gat 10 other") == kDenied);
        CHECK(f.run("delete other") == kDenied);
        CHECK(f.run("incr other 1") == kDenied);
        CHECK(f.run("touch other 1") == kDenied);
        CHECK(f.run("append other 0 0 1", "x") == kDenied);
        CHECK(f.run("flush_all") == kDenied);
        CHECK(f.run("mg other v") == kDenied);
        CHECK(f.run("mg b3RoZXI= b v") == kDenied);  // "other"
        CHECK(f.run("ms other 1", "x") == kDenied);
        CHECK(f.run("md other q") == kDenied);
        CHECK(f.run("ma other") == kDenied);
        CHECK(f.run("me other") == kDenied);
        CHECK(f.run("mg YXBwMS5r b v").starts_with("VA 1"));  // "app1.k"
        CHECK(f.run("version").starts_with("VERSION "));
        CHECK(f.run("mn") == "MN\r\n");
        // noreply silences the refusal of a classic command, not a meta one.
        CHECK(f.run("set other 0 0 1 noreply", "x").empty());
        CHECK(f.run("ms other 1 q", "x") == kDenied);
        CHECK_FALSE(f.db.store().peek("other"));
    }
    SECTION("read only")
    {
        f.host.session_user = users.find("reader");
        CHECK(f.run("get k") == "END\r\n");
        CHECK(f.run("mg k v") == "EN\r\n");
        CHECK(f.set("k", "v") == kDenied);
        CHECK(f.run("incr k 1") == kDenied);
        CHECK(f.run("gats 10 k") == kDenied);
        CHECK(f.run("mg k v T10") == kDenied);  // touches
        CHECK(f.run("mg k v N10") == kDenied);  // creates on a miss
        CHECK(f.run("flush_all") == kDenied);
    }
    SECTION("admin-data: flush_all")
    {
        f.host.session_user = users.find("ops");
        CHECK(f.run("flush_all") == "OK\r\n");
    }
}
