// Tests for kvstored's database lock (kvstored/database_lock.h): one holder at
// a time, the refusal naming the database and the holder's pid, release when
// the holder goes, and one lock for two spellings of one database.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "database_lock.h"
#include "fd.h"

using kv::DatabaseLock;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/kvstore-unit-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        path = fs::canonical(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string file(const char* name) const { return (path / name).string(); }
};

std::string contents(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// What taking the lock on `db` says, or "" when it is taken.
std::string lock_error(const std::string& db)
{
    try {
        DatabaseLock lock(db);
        return "";
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

}  // namespace

TEST_CASE("the database lock is <db>.lock and holds the holder's pid", "[database_lock]")
{
    TempDir dir;
    DatabaseLock lock(dir.file("store.db"));
    CHECK(lock.path() == dir.file("store.db.lock"));
    CHECK(contents(lock.path()) == std::to_string(::getpid()) + "\n");
    // The database itself is left to SQLite.
    CHECK_FALSE(fs::exists(dir.file("store.db")));
}

TEST_CASE("a second lock on a held database is refused, naming the database and the holder's pid", "[database_lock]")
{
    TempDir dir;
    DatabaseLock first(dir.file("store.db"));
    // OFD locks conflict between descriptors even within one process.
    std::string err = lock_error(dir.file("store.db"));
    CHECK(err
          == "lock " + dir.file("store.db.lock") + ": database " + dir.file("store.db") + " is in use by kvstored pid "
              + std::to_string(::getpid()) + " (stop that kvstored first, or give this one another --db)");
    CHECK(contents(first.path()) == std::to_string(::getpid()) + "\n");
}

TEST_CASE("the lock is released with its holder, and a left-over lock file is no lock", "[database_lock]")
{
    TempDir dir;
    std::optional<DatabaseLock> first(dir.file("store.db"));
    first.reset();
    CHECK(fs::exists(dir.file("store.db.lock")));
    std::ofstream(dir.file("store.db.lock")) << "999999999\n";
    CHECK(lock_error(dir.file("store.db")).empty());
}

TEST_CASE("two spellings of one database share its lock", "[database_lock]")
{
    TempDir dir;
    fs::create_directory(dir.path / "real");
    fs::create_directory_symlink(dir.path / "real", dir.path / "link");
    DatabaseLock lock(dir.file("real/store.db"));
    std::string err = lock_error(dir.file("link/./store.db"));
    CHECK_THAT(err, Catch::Contains("database " + dir.file("link/./store.db") + " is in use by kvstored pid"));
    CHECK_THAT(err, Catch::StartsWith("lock " + dir.file("real/store.db.lock") + ":"));
}

TEST_CASE("a holder that wrote no pid is named as another process", "[database_lock]")
{
    TempDir dir;
    kv::UniqueFd fd(::open(dir.file("store.db.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(fd);
    struct flock fl { };
    fl.l_type = F_WRLCK;
    REQUIRE(::fcntl(fd.get(), F_OFD_SETLK, &fl) == 0);
    CHECK_THAT(lock_error(dir.file("store.db")), Catch::Contains("is in use by another process (its pid is unknown)"));
}

TEST_CASE("a lock file that cannot be created is refused with the path and the reason", "[database_lock]")
{
    TempDir dir;
    CHECK(lock_error(dir.file("missing/store.db"))
          == "open lock file " + dir.file("missing/store.db.lock") + ": No such file or directory");
}
