// server_facts.h: facts about the running server that the doors' own status
// commands report (Redis's INFO, CONFIG GET, LASTSAVE, HELLO; memcached's
// stats), gathered in one place so that every door tells the same story.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kv {

class Server;

struct ServerFacts {
    int64_t pid = 0;
    int64_t uptime_seconds = 0;
    size_t capacity = 0;  // entries
    size_t max_value = 0;  // bytes
    std::string when_full;  // "refuse" | "evict"
    std::string persistence;  // "none" | the database path | "etcd" (the rest: backend_report.h)
    std::string sync;  // the --sync mode, "" when memory only
    int64_t last_save_unix = 0;  // last successful commit (start time if none)
    uint64_t rss_bytes = 0;  // resident set size now
    size_t connected_clients = 0;
};

ServerFacts server_facts(Server& server);

}  // namespace kv
