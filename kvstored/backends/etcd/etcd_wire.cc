// etcd_wire.cc: see etcd_wire.h. (Interface commit: written by the wire branch.)
#include "backends/etcd/etcd_wire.h"
