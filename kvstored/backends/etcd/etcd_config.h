// etcd_config.h: how kvstored reaches its etcd cluster (`kvstored run
// --backend etcd`, docs/scale-out.md).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace kv {

struct EtcdConfig {
    // --etcd-endpoints: http://HOST:PORT of each member, failed over in order.
    std::vector<std::string> endpoints;
    // --etcd-prefix: every key kvstored writes starts with it (several stores
    // can share one cluster). No trailing slash.
    std::string prefix = "/kvstore";
    // --etcd-timeout: a write etcd has not committed in this time is answered
    // `ERR unavailable` (it may still commit: docs/scale-out.md), and every
    // other etcd call gives up after it.
    std::chrono::milliseconds timeout{2000};
    // --etcd-check-interval: how often the local copy's entry count is
    // compared with etcd's at the same revision (a mismatch reloads).
    std::chrono::seconds check_interval{30};
};

}  // namespace kv
