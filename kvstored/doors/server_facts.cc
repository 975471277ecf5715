// server_facts.cc: see server_facts.h.
#include "server_facts.h"

#include <unistd.h>

#include <chrono>
#include <fstream>

#include "server.h"

namespace kv {
namespace {

int64_t unix_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Redis's used_memory and memcached's rusage stand-in: kvstore does not
// measure its allocator (docs/redis.md).
uint64_t rss_bytes()
{
    uint64_t pages = 0, resident = 0;
    std::ifstream statm("/proc/self/statm");
    if (!(statm >> pages >> resident))
        return 0;
    return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

ServerFacts server_facts(Server& server)
{
    const ServerConfig& config = server.config();
    ServerFacts f;
    f.pid = ::getpid();
    f.uptime_seconds
        = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - server.stats().started)
              .count();
    f.capacity = config.capacity;
    f.max_value = config.max_value;
    f.when_full = config.when_full == WhenFull::Evict ? "evict" : "refuse";
    f.persistence = config.etcd ? "etcd" : config.persist ? config.persist->path : "none";
    f.sync = config.persist ? sync_mode_name(config.persist->mode) : "";
    const Persistence* p = server.db().persistence();
    f.last_save_unix = p && p->last_commit_unix() ? p->last_commit_unix() : unix_now() - f.uptime_seconds;
    f.rss_bytes = rss_bytes();
    f.connected_clients = server.attached_count();
    return f;
}

}  // namespace kv
