// etcd_hosts.h: two or more in-process "hosts" (Databases on the etcd
// backend) on one real etcd, driven by hand: the helpers the etcd backend's
// tests share (test_etcd_backend.cc, test_etcd_review.cc).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <initializer_list>
#include <string>
#include <vector>

#include "database.h"
#include "etcd_process.h"

namespace etcd_hosts {

using namespace std::chrono_literals;
using kv::Database;

inline kv::EtcdConfig config_for(const kvtest::EtcdProcess& etcd, const std::string& prefix)
{
    kv::EtcdConfig c;
    c.endpoints = {etcd.endpoint()};
    c.prefix = prefix;
    c.timeout = 1000ms;
    return c;
}

// Lets each database take what its threads delivered, once.
inline void pump(std::initializer_list<Database*> dbs, std::chrono::milliseconds wait = 20ms)
{
    std::vector<pollfd> fds;
    for (Database* db : dbs)
        fds.push_back({db->backend_notify_fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    for (Database* db : dbs)
        db->on_backend_notify();
}

// Pumps until `ticket` of `db` is no longer Pending (at most 10 s).
inline Database::Durability settle(Database& db, uint64_t ticket, std::initializer_list<Database*> others = {})
{
    auto until = std::chrono::steady_clock::now() + 10s;
    while (db.durability(ticket) == Database::Durability::Pending && std::chrono::steady_clock::now() < until) {
        pump({&db});
        for (Database* o : others)
            pump({o}, 0ms);
    }
    return db.durability(ticket);
}

template <typename Pred>
inline bool eventually(std::initializer_list<Database*> dbs, Pred pred, std::chrono::seconds limit = 10s)
{
    auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until)
            return false;
        pump(dbs);
    }
    return true;
}

// One command that writes `value` under `key`; returns its ticket.
inline uint64_t put(Database& db, const std::string& key, const std::string& value, kv::Store::PutResult& result,
                    int64_t deadline = kv::kNoDeadline)
{
    db.begin_command();
    db.write_command();  // as every door does before a write command
    uint64_t t = db.put(key, value, deadline, result);
    return db.end_command(t);
}

// INCR as a door runs it: read the copy, write the sum.
inline uint64_t increment(Database& db, const std::string& key)
{
    db.begin_command();
    db.write_command();
    auto e = db.store().get(key);
    long n = e ? std::stol(std::string(e->value)) : 0;
    kv::Store::PutResult r;
    uint64_t t = db.put(key, std::to_string(n + 1), kv::kKeepDeadline, r);
    return db.end_command(t);
}

inline std::string value_of(Database& db, const std::string& key)
{
    auto e = db.store().get(key);
    return e ? std::string(e->value) : "(absent)";
}

inline std::string unique_prefix(const char* name)
{
    return std::string("/kvtest-") + name + "-" + std::to_string(::getpid());
}

}  // namespace etcd_hosts
