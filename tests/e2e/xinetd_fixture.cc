// xinetd_fixture.cc: see xinetd_fixture.h.
#include "xinetd_fixture.h"

namespace kvtest {

Xinetd::Xinetd(const TempDir& dir, const std::string& kvstored_socket)
    : PrivateXinetd(dir, free_tcp_port(), kvsvc_service(kvstored_socket))
{
}

}  // namespace kvtest
