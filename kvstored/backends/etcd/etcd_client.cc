// etcd_client.cc: see etcd_client.h. (Interface commit: written by the client branch.)
#include "backends/etcd/etcd_client.h"
