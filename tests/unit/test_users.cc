// Unit tests for kv::users (kvstored/users.h): the users file's parser and
// every problem it names, password checks against hashes made by libcrypt and
// by Debian's mkpasswd, key patterns, and the line edits of `kvstored passwd`.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "users.h"

namespace u = kv::users;

namespace {

// `echo -n 'correct horse' | mkpasswd -m yescrypt --stdin` (Debian's whois
// 5.5.17): the hash an operator would paste into the file.
const std::string kHorse = "$y$j9T$jeaCc/PB66e2pVleq61RI1$Cb9qhWsSUvlSf3ZeTN01bGcsnl16b0RNU.S8QBNmzF6";
// `echo -n hunter2 | mkpasswd -m sha512crypt --stdin`.
const std::string kHunterSha512
    = "$6$pYaaeK7tq0MbW9RN$x/l3lAf4r0uuGt3myAgSSBEuhYEyHEacD9KPGLke7nDh.M0wYOdqEEX0wOhRAmdAOILgnjcyDF9G.vMytvnbZ.";
// `echo -n x | mkpasswd -m md5crypt --stdin`: a legacy method.
const std::string kMd5 = "$1$GbSOJ3Zp$7XobyUKb97uD0bei/G1eD.";

// The problems parse() reports for `text`, or {} when it loads.
std::vector<std::string> problems(const std::string& text)
{
    try {
        u::Table::parse(text, "users");
        return {};
    } catch (const u::Error& e) {
        return e.problems();
    }
}

// The one problem of a one-bad-line file.
std::string problem(const std::string& text)
{
    std::vector<std::string> p = problems(text);
    REQUIRE(p.size() == 1);
    return p[0];
}

}  // namespace

TEST_CASE("a users file with comments, blank lines, rights and patterns loads", "[users]")
{
    u::Table t = u::Table::parse("# the users of app1\n"
                                 "\n"
                                 "alice:"
                                     + kHorse
                                     + ":read,write:app1.* app1:*\r\n"
                                       "  backup : "
                                     + kHunterSha512
                                     + " : read :\n"
                                       "ops:"
                                     + kHorse
                                     + ":admin-data,read,write\n"
                                       "plain:"
                                     + kHorse + "\n",
                                 "users");
    REQUIRE(t.size() == 4);
    const u::User* alice = t.find("alice");
    REQUIRE(alice);
    CHECK(alice->line == 3);
    CHECK(alice->hash == kHorse);
    CHECK(alice->rights == u::kDefaultRights);
    CHECK(alice->patterns == std::vector<std::string>{"app1.*", "app1:*"});
    CHECK_FALSE(alice->all_keys());
    const u::User* backup = t.find("backup");
    REQUIRE(backup);
    CHECK(backup->hash == kHunterSha512);
    CHECK(u::format_rights(backup->rights) == "read");
    CHECK(backup->patterns == std::vector<std::string>{"*"});
    CHECK(backup->all_keys());
    CHECK(u::format_rights(t.find("ops")->rights) == "read,write,admin-data");
    // Only NAME:HASH: the defaults, read,write on every key.
    CHECK(t.find("plain")->rights == u::kDefaultRights);
    CHECK(t.find("plain")->all_keys());
    CHECK(t.find("nobody") == nullptr);
    CHECK(t.users()[1].name == "backup");  // the file's order
    CHECK(u::Table::parse("", "users").size() == 0);
    CHECK(u::Table::parse("# nothing yet\n\n", "users").size() == 0);
}

TEST_CASE("every problem of the users file names the file, the line and what is wrong", "[users]")
{
    CHECK(problem("alice\n") == "users:1: expected NAME:HASH[:RIGHTS[:PATTERNS]], got no ':'");
    CHECK(problem("\n# c\nbad name:" + kHorse + "\n")
          == "users:3: bad name 'bad name': only A-Z a-z 0-9 _ . @ - may be in a name");
    CHECK(problem(":" + kHorse + "\n") == "users:1: bad name '': empty");
    CHECK(problem("-x:" + kHorse + "\n") == "users:1: bad name '-x': a name starts with a letter, a digit or '_'");
    CHECK(problem(std::string(65, 'a') + ":" + kHorse + "\n")
          == "users:1: bad name '" + std::string(65, 'a') + "': longer than 64 bytes");
    CHECK(problem("alice:" + kHorse + ":read,wrte:\n")
          == "users:1: user 'alice': unknown right 'wrte': did you mean write? (rights: read, write, admin-data)");
    CHECK(problem("alice:" + kHorse + ":all\n").find("unknown right 'all'") != std::string::npos);
    CHECK(problem("alice:" + kHorse + ":read:app1.*\nalice:" + kHorse + "\n")
          == "users:2: duplicate user 'alice' (first on line 1)");
    CHECK(problem("alice:" + kHorse + ":read:app\x01*\n").find("bad key pattern") != std::string::npos);
}

TEST_CASE("a hash must be a crypt(3) string of a method libcrypt accepts", "[users]")
{
    const std::string make = " (make one with 'kvstored passwd' or 'mkpasswd -m yescrypt')";
    CHECK(problem("alice:\n") == "users:1: bad hash for user 'alice': empty" + make);
    CHECK(problem("alice:$y$" + std::string(510, 'a') + "\n")
          == "users:1: bad hash for user 'alice': longer than 512 characters (crypt(3) makes at most 384)" + make);
    CHECK(problem("alice:secret\n").find("bad hash for user 'alice': not a crypt(3) string") != std::string::npos);
    CHECK(problem("alice:!" + kHorse + "\n").find("not a crypt(3) string") != std::string::npos);
    CHECK(problem("alice:$y$j9T$jeaCc/PB66e2pVleq61RI1$\n")
          == "users:1: bad hash for user 'alice': no hash after the salt" + make);
    CHECK(problem("alice:$y$j9T$jeaCc/PB66e2pVleq61RI1\n")
          == "users:1: bad hash for user 'alice': no hash after the salt, or a cut one (a $y$ hash ends with 43 "
             "characters after its last '$')"
              + make);
    CHECK(problem("alice:" + kHorse.substr(0, kHorse.size() - 1) + "\n").find("a cut one") != std::string::npos);
    CHECK(problem("alice:" + kHunterSha512.substr(0, 60) + "\n").find("a $6$ hash ends with 86") != std::string::npos);
    // Debian's libcrypt calls sha256crypt legacy (crypt_checksalt).
    CHECK(u::hash_problem("$5$1OOhODbERgrTMIAy$bqG1v2W7ZhK4OtiEggWc03M20BIWYt2OTm6lebIeNo5").starts_with("a legacy"));
    // The other methods of mkpasswd load (bcrypt, scrypt, gost-yescrypt).
    for (const char* h : {"$2b$05$o6ISK6ahNN0xlWVpkAjC2uOcDj0hxuElBZjr0I7f6jskLv42fD1Um",
                          "$7$CU..../....OyEXolHWmRbTM.2YGXjHn.$moj5TBk2rq/HHQcJor02XFECDYuKiAAOxzyc/03mzH6",
                          "$gy$j9T$CVz6idZsm6ObxdUpKLC6a/$6BE/tPD.HR5ju/1w3OG.vy7CpRBLyPUuABoZHSfjPDC"})
        CHECK(u::hash_problem(h).empty());
    CHECK(problem("alice:$y$j9T$jeaCc PB66$abc\n").find("outside crypt(3)'s alphabet") != std::string::npos);
    CHECK(problem("alice:$zz$abc$def\n")
          == "users:1: bad hash for user 'alice': a method libcrypt does not know" + make);
    CHECK(problem("alice:" + kMd5 + "\n")
          == "users:1: bad hash for user 'alice': a legacy method, too weak to accept" + make);
    // Traditional DES: no '$' at all.
    CHECK(problem("alice:abJnggxhB/yWI\n").find("not a crypt(3) string") != std::string::npos);
}

TEST_CASE("a bad users file is refused whole, every bad line listed", "[users]")
{
    std::vector<std::string> p = problems("alice:" + kHorse + "\nbob\ncarol:" + kHorse + ":rw\nalice:" + kHorse + "\n");
    REQUIRE(p.size() == 3);
    CHECK(p[0].starts_with("users:2: "));
    CHECK(p[1].starts_with("users:3: "));
    CHECK(p[2].starts_with("users:4: duplicate user 'alice'"));
    try {
        u::Table::parse("bob\ncarol\n", "users");
        FAIL("parsed");
    } catch (const u::Error& e) {
        CHECK(std::string(e.what())
              == "users:1: expected NAME:HASH[:RIGHTS[:PATTERNS]], got no ':' (and 1 more problem)");
    }
}

TEST_CASE("load names the file and the errno text when it cannot be read", "[users]")
{
    try {
        u::Table::load("/nonexistent/users");
        FAIL("loaded");
    } catch (const u::Error& e) {
        CHECK(std::string(e.what()) == "/nonexistent/users: open: No such file or directory");
    }
}

TEST_CASE("verify accepts the right password of a mkpasswd hash and refuses anything else", "[users]")
{
    u::Table t = u::Table::parse("alice:" + kHorse + "\nbob:" + kHunterSha512 + "\n", "users");
    CHECK(t.verify("alice", "correct horse") == u::Verdict::Ok);
    CHECK(t.verify("alice", "correct horsf") == u::Verdict::WrongPassword);
    CHECK(t.verify("alice", "correct horse ") == u::Verdict::WrongPassword);
    CHECK(t.verify("alice", "") == u::Verdict::WrongPassword);
    // A NUL would cut the C string crypt_r sees short: never a match.
    CHECK(t.verify("alice", std::string("correct horse\0tail", 18)) == u::Verdict::WrongPassword);
    CHECK(t.verify("bob", "hunter2") == u::Verdict::Ok);
    CHECK(t.verify("bob", "correct horse") == u::Verdict::WrongPassword);
    CHECK(t.verify("carol", "correct horse") == u::Verdict::UnknownUser);
    CHECK(u::verify_password(kHorse, "correct horse"));
    CHECK_FALSE(u::verify_password("$zz$abc$def", "correct horse"));
}

TEST_CASE("hash_password makes a fresh yescrypt hash that verifies and that the parser accepts", "[users]")
{
    std::string h1 = u::hash_password("s3cret:with$odd/bytes");
    std::string h2 = u::hash_password("s3cret:with$odd/bytes");
    CHECK(h1.starts_with("$y$"));
    CHECK(h1 != h2);  // a new salt each time
    CHECK(h1.find("s3cret") == std::string::npos);
    CHECK(u::hash_problem(h1).empty());
    CHECK(u::verify_password(h1, "s3cret:with$odd/bytes"));
    CHECK_FALSE(u::verify_password(h1, "s3cret"));
    CHECK_THROWS(u::hash_password(std::string("a\0b", 3)));
}

TEST_CASE("allows needs the right and a pattern that matches the key", "[users]")
{
    u::Table t = u::Table::parse("alice:" + kHorse + ":read,write:app1.* app1:*\n" + "reader:" + kHorse + ":read\n"
                                     + "ops:" + kHorse + ":read,admin-data:cfg.[ab]?\n" + "odd:" + kHorse + "::a\\*b\n",
                                 "users");
    const u::User& alice = *t.find("alice");
    CHECK(u::allows(alice, u::Right::Read, "app1.x"));
    CHECK(u::allows(alice, u::Right::Write, "app1:user:7"));
    CHECK(u::allows(alice, u::Right::Write, "app1."));
    CHECK_FALSE(u::allows(alice, u::Right::Read, "app2.x"));
    CHECK_FALSE(u::allows(alice, u::Right::Read, "xapp1.x"));
    CHECK_FALSE(u::allows(alice, u::Right::Read, "app1"));
    CHECK_FALSE(u::allows(alice, u::Right::AdminData, "app1.x"));
    CHECK_FALSE(alice.has(u::Right::AdminData));
    // Keys are bytes: a NUL or a newline inside is matched like any byte.
    CHECK(u::allows(alice, u::Right::Read, std::string("app1.\0\n", 7)));
    const u::User& reader = *t.find("reader");
    CHECK(u::allows(reader, u::Right::Read, "anything at all"));
    CHECK_FALSE(u::allows(reader, u::Right::Write, "anything"));
    const u::User& ops = *t.find("ops");
    CHECK(u::allows(ops, u::Right::Read, "cfg.a1"));
    CHECK(u::allows(ops, u::Right::Read, "cfg.bz"));
    CHECK_FALSE(u::allows(ops, u::Right::Read, "cfg.c1"));
    CHECK_FALSE(u::allows(ops, u::Right::Read, "cfg.a"));
    CHECK(ops.has(u::Right::AdminData));
    CHECK_FALSE(u::allows(ops, u::Right::Write, "cfg.a1"));
    const u::User& odd = *t.find("odd");
    CHECK(u::allows(odd, u::Right::Read, "a*b"));
    CHECK_FALSE(u::allows(odd, u::Right::Read, "axb"));
}

TEST_CASE("rights parse and print in one order", "[users]")
{
    u::Rights r = 0;
    CHECK(u::parse_rights("write, read", r).empty());
    CHECK(u::format_rights(r) == "read,write");
    CHECK(u::parse_rights("admin-data", r).empty());
    CHECK(u::format_rights(r) == "admin-data");
    CHECK(u::parse_rights("", r).empty());
    CHECK(r == u::kDefaultRights);
    CHECK(u::parse_rights("read,,write", r).find("unknown right ''") != std::string::npos);
    CHECK(u::parse_rights("admin_data", r)
          == "unknown right 'admin_data': did you mean admin-data? (rights: read, write, admin-data)");
}

TEST_CASE("with_user and without_user edit one line and keep the rest of the file", "[users]")
{
    const std::string text = "# header\n\nalice:" + kHorse + ":read:app1.*\n# bob below\nbob:" + kHorse + "\n";
    u::User carol;
    carol.name = "carol";
    carol.hash = kHunterSha512;
    carol.rights = static_cast<u::Rights>(u::Right::Read);
    carol.patterns = {"c.*", "d:*"};
    CHECK(u::with_user(text, "users", carol) == text + "carol:" + kHunterSha512 + ":read:c.* d:*\n");
    u::User alice = *u::Table::parse(text, "users").find("alice");
    alice.hash = kHunterSha512;
    CHECK(u::with_user(text, "users", alice)
          == "# header\n\nalice:" + kHunterSha512 + ":read:app1.*\n# bob below\nbob:" + kHorse + "\n");
    // A file without a final newline gets one.
    CHECK(u::with_user("bob:" + kHorse, "users", carol)
          == "bob:" + kHorse + "\ncarol:" + kHunterSha512 + ":read:c.* d:*\n");
    bool removed = false;
    CHECK(u::without_user(text, "users", "alice", removed) == "# header\n\n# bob below\nbob:" + kHorse + "\n");
    CHECK(removed);
    CHECK(u::without_user(text, "users", "carol", removed) == text);
    CHECK_FALSE(removed);
    CHECK_THROWS_AS(u::with_user("broken\n", "users", carol), u::Error);
    // What with_user writes parses back to the same user.
    u::Table back = u::Table::parse(u::with_user(text, "users", carol), "users");
    REQUIRE(back.find("carol"));
    CHECK(back.find("carol")->patterns == carol.patterns);
    CHECK(back.find("carol")->rights == carol.rights);
}
