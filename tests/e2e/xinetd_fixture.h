// xinetd_fixture.h: a private, foreground /usr/sbin/xinetd that serves kvsvc
// on a free port of 127.0.0.1, configured as in production (see xinetd.d/).
#pragma once

#include <string>

#include "kvstore.h"
#include "xinetd.h"

namespace kvtest {

// kvsvc_service()'s limits and logging (tests/support/xinetd.h).
class Xinetd : public PrivateXinetd {
public:
    Xinetd(const TempDir& dir, const std::string& kvstored_socket);
};

// kvstored on DIR/kvstored.sock and xinetd in front of it.
struct XinetdStack {
    TempDir dir;
    Daemon daemon{dir};
    Xinetd xinetd{dir, daemon.socket_path()};
};

}  // namespace kvtest
