// stats.h: kvstored's counters. The names printed by stats_lines() are the
// names users see in the client's `stats` reply (docs/protocol.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "latency.h"

namespace kv {

struct Stats {
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    uint64_t connections_total = 0;  // kvsvc attachments accepted since start
    uint64_t connections_current = 0;  // kvsvc attachments now
    // Attachments of line-protocol clients (the Redis and memcached doors
    // count theirs below): the door="line" sample of `stats --format prometheus`.
    uint64_t line_connections_total = 0;
    uint64_t commands_total = 0;  // requests executed
    // One counter per data command (issue 14 added adds .. ttls).
    uint64_t saves = 0;
    uint64_t reads = 0;
    uint64_t deletes = 0;
    uint64_t adds = 0;
    uint64_t replaces = 0;
    uint64_t gets = 0;
    uint64_t cas = 0;
    uint64_t cas_changed = 0;  // cas refused because the version had moved on
    uint64_t incrs = 0;
    uint64_t decrs = 0;
    uint64_t appends = 0;
    uint64_t takes = 0;
    uint64_t expires = 0;
    uint64_t persists = 0;
    uint64_t ttls = 0;
    uint64_t hits = 0;  // read or exists that found its key
    uint64_t misses = 0;  // read or exists that did not
    uint64_t full_rejections = 0;  // saves of a new key refused because the store was full
    uint64_t protocol_errors = 0;  // peers dropped for malformed frames
    uint64_t storage_refusals = 0;  // writes refused because the database was failing
    // Commands run again because their etcd transaction found this host's
    // copy behind (Database::Durability::Retry; awaited_command.h). Every
    // run counts in the counters above too.
    uint64_t command_retries = 0;
    // The Redis door (INFO stats). Its commands also count in commands_total
    // and in the counters above where one fits (GET is a read, with a hit or
    // a miss; SET a save; ...): INFO's total_commands_processed is
    // commands_total, keyspace_hits and keyspace_misses are hits and misses.
    uint64_t redis_connections_total = 0;  // RESP sessions begun since start
    uint64_t error_replies = 0;  // error replies sent (total_error_replies)
    uint64_t exec_aborts = 0;  // EXECs that ran nothing: a watched key changed, or EXECABORT
    // The memcached door (its `stats`, named as memcached names them). Its
    // commands also count in commands_total and, where one fits, in the
    // counters above (get: reads with hits or misses; set: saves; ...).
    struct Memcache {
        uint64_t connections_total = 0;  // sessions begun since start
        uint64_t cmd_get = 0;  // keys asked for by get gets gat gats mg
        uint64_t cmd_set = 0;  // storage requests (set add replace append prepend cas ms)
        uint64_t cmd_flush = 0;
        uint64_t cmd_touch = 0;  // touch gat gats (and mg with T)
        uint64_t get_hits = 0;
        uint64_t get_misses = 0;
        uint64_t delete_hits = 0;
        uint64_t delete_misses = 0;
        uint64_t incr_hits = 0;
        uint64_t incr_misses = 0;
        uint64_t decr_hits = 0;
        uint64_t decr_misses = 0;
        uint64_t cas_hits = 0;
        uint64_t cas_misses = 0;
        uint64_t cas_badval = 0;
        uint64_t touch_hits = 0;
        uint64_t touch_misses = 0;
        uint64_t store_too_large = 0;
        uint64_t store_no_memory = 0;  // refused: the store is full (--when-full refuse)
        uint64_t meta_cmds = 0;
        uint64_t total_items = 0;  // values stored (STORED replies; memcached counts items linked)
    } memcache;
    // Time each client command took on the event loop, per door and command
    // (latency.h); admin requests are not in it.
    Latency latency;
};

}  // namespace kv
