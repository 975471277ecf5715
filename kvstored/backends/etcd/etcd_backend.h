// etcd_backend.h: the store kept in etcd (docs/scale-out.md). The lead's
// file: the loop-thread side of Database's etcd mode (placeholder in the
// interface commit).
#pragma once

#include <cstdint>
#include <string>

#include "backends/etcd/etcd_config.h"

namespace kv {

class Store;

class EtcdBackend {
public:
    EtcdBackend(const EtcdConfig& config, Store& store);
    ~EtcdBackend();
};

}  // namespace kv
