// piped_kvsvc.h: kvsvc with its stdin and stdout on two pipes, as a test or a
// shell runs it, for the doors' tests (test_redis_door.cc,
// test_memcache_door.cc): it cannot hand pipes to kvstored, so it relays
// through a socketpair.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "xinetd_fixture.h"

namespace kvtest {

struct PipedKvsvc {
    Process process;
    int to_kvsvc = -1;  // write end of its stdin
    int from_kvsvc = -1;  // read end of its stdout

    PipedKvsvc(const std::string& socket_path, const std::vector<std::string>& extra)
    {
        int in[2], out[2];
        REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        std::vector<std::string> args = {"--socket", socket_path};
        args.insert(args.end(), extra.begin(), extra.end());
        process = Process(kvsvc_bin(), args, Stdio{in[0], out[1], out[1]});
        ::close(in[0]);
        ::close(out[1]);
        to_kvsvc = in[1];
        from_kvsvc = out[0];
    }
    ~PipedKvsvc()
    {
        close_input();
        ::close(from_kvsvc);
    }
    PipedKvsvc(const PipedKvsvc&) = delete;
    PipedKvsvc& operator=(const PipedKvsvc&) = delete;

    void write(const std::string& data)
    {
        REQUIRE(::write(to_kvsvc, data.data(), data.size()) == ssize_t(data.size()));
    }
    // For a kvsvc that may have answered and exited already (kvstored
    // unavailable): its stdin is then closed, and the write fails with EPIPE.
    void write_unless_gone(const std::string& data)
    {
        ssize_t n = ::write(to_kvsvc, data.data(), data.size());
        if (n < 0)
            REQUIRE(errno == EPIPE);
        else
            REQUIRE(n == ssize_t(data.size()));
    }
    void close_input()
    {
        if (to_kvsvc >= 0)
            ::close(std::exchange(to_kvsvc, -1));
    }
    // Everything kvsvc writes until it closes its stdout (at most `timeout`).
    std::string read_all(Millis timeout = 8s)
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string got;
        for (;;) {
            auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
            pollfd p{from_kvsvc, POLLIN, 0};
            if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
                return got + "<timeout>";
            char buf[4096];
            ssize_t n = ::read(from_kvsvc, buf, sizeof buf);
            if (n <= 0)
                return got;
            got.append(buf, static_cast<size_t>(n));
        }
    }
};

}  // namespace kvtest
