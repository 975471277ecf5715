// test_main.cc: Catch2's main for kv_integration and kv_e2e, with the process
// set up for many sessions: descriptors 0-2 open (so that no socket we create
// lands there), SIGPIPE ignored, and the soft descriptor limit at the hard one.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "process.h"

int main(int argc, char** argv)
{
    for (int fd = 0; fd < 3; ++fd)
        if (::fcntl(fd, F_GETFD) < 0)
            ::open("/dev/null", O_RDWR);
    std::signal(SIGPIPE, SIG_IGN);
    kvtest::raise_fd_limit();
    return Catch::Session().run(argc, argv);
}
