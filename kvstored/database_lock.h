// database_lock.h: one database, one daemon. kvstored run --db takes this
// lock before it loads anything and holds it for its life, so a second
// kvstored given the same database (on another socket, say) refuses to start
// instead of both serving, and each deleting what the other lists, and the
// file ending up holding a third version of the store.
//
// The lock is an exclusive open-file-description lock (F_OFD_SETLK) on a
// companion file, <database>.lock, that holds the holder's pid as text:
//   - Not on the database file itself: SQLite takes POSIX record locks on byte
//     ranges of it (and of its -shm file in WAL mode). An OFD lock of ours on
//     the same file would conflict with SQLite's own locks in this very
//     process (OFD and POSIX locks conflict even within one process); a
//     classic POSIX lock would be dropped the moment any descriptor of the
//     file in this process closes, and closing ours would drop SQLite's.
//     flock() does not mix with fcntl locks on a local file system, but NFS
//     emulates it with fcntl locks, so it would collide there. A file that
//     nothing else opens has none of these problems, and can carry the pid.
//   - OFD rather than a classic fcntl lock: it belongs to our descriptor, not
//     to the process, so no other open and close of the file can drop it; it
//     ends exactly when the descriptor closes (the destructor) or the process
//     dies, kill -9 included, so there is never a stale lock to clean up.
//     Its F_OFD_GETLK reports no pid (l_pid is -1), hence the pid in the file.
//   - The file is never deleted: its existence means nothing, only the kernel
//     lock does. Unlinking it at exit would let a starting daemon lock the
//     unlinked file while a third creates and locks a new one.
// The lock is advisory: the sqlite3 shell, a backup or a restore ignore it
// (docs/persistence.md, "One database, one daemon").
#pragma once

#include <string>

#include "fd.h"

namespace kv {

class DatabaseLock {
public:
    // Creates (if need be) and locks the lock file of the database at
    // `db_path`, then writes this process's pid into it. Throws
    // std::runtime_error when the file cannot be opened or locked; when
    // another process holds the lock, the message names the database, the
    // holder's pid (if the file tells it) and what to do.
    explicit DatabaseLock(const std::string& db_path);

    const std::string& path() const { return path_; }

    // The lock file of the database at `db_path`: beside the file the path
    // resolves to (symbolic links followed, as SQLite follows them for its
    // -wal and -shm files), so two spellings of one database share one lock.
    static std::string path_for(const std::string& db_path);

private:
    std::string path_;
    UniqueFd fd_;  // holds the lock; closing it releases the lock
};

}  // namespace kv
