// etcd_backend.cc: see etcd_backend.h.
#include "backends/etcd/etcd_backend.h"

#include <stdexcept>

namespace kv {

EtcdBackend::EtcdBackend(const EtcdConfig&, Store&)
{
    throw std::runtime_error("the etcd backend is not built yet");
}

EtcdBackend::~EtcdBackend() = default;

}  // namespace kv
