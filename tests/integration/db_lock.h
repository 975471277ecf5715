// db_lock.h: another process's write lock on a kvstored database, as
// `sqlite3 store.db 'BEGIN EXCLUSIVE'` holds it: commits wait (busy timeout)
// and then fail, so replies held for durability stay held.
#pragma once

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>

namespace kvtest {

class DbLock {
public:
    explicit DbLock(const std::string& path)
    {
        REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
        sqlite3_busy_timeout(db_, 5000);
        REQUIRE(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    }
    ~DbLock() { release(); }
    DbLock(const DbLock&) = delete;
    DbLock& operator=(const DbLock&) = delete;

    // Lets kvstored commit again.
    void release()
    {
        if (!db_)
            return;
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(db_);
        db_ = nullptr;
    }

private:
    sqlite3* db_ = nullptr;
};

}  // namespace kvtest
