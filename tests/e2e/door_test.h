// door_test.h: what the doors' service-side tests (test_redis_door.cc,
// test_memcache_door.cc) share: kvsvc --protocol P when kvstored cannot serve
// the client (none there, or one that never takes the socket), and the
// xinetd service of a door.
#pragma once

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "piped_kvsvc.h"
#include "xinetd_fixture.h"

namespace kvtest {

// kvsvc --socket socket_path [args] prints `expected` (all of it, to the end
// of the stream) and exits with `code`, the client having said nothing.
inline void check_kvsvc_answers_and_exits(const std::string& socket_path, const std::vector<std::string>& args,
                                          const std::string& expected, int code)
{
    KvsvcSession s = spawn_kvsvc(socket_path, args);
    CHECK(s.client.read_to_eof(5s) == expected);
    CHECK(exited_with(s.process.wait_exit(5s), code));
}

// kvsvc --socket socket_path [args], sent `request` (which ends the
// session), answers `expected` up to the end of the stream and exits 0.
inline void check_kvsvc_session(const std::string& socket_path, const std::vector<std::string>& args,
                                const std::string& request, const std::string& expected)
{
    KvsvcSession s = spawn_kvsvc(socket_path, args);
    s.client.send(request);
    CHECK(s.client.read_to_eof(5s) == expected);
    CHECK(exited_with(s.process.wait_exit(5s), 0));
}

// kvsvc [args] on two pipes relays `request` (its input then ends) and
// answers `expected`, then exits 0.
inline void check_piped_kvsvc(const std::string& socket_path, const std::vector<std::string>& args,
                              const std::string& request, const std::string& expected)
{
    PipedKvsvc k(socket_path, args);
    k.write(request);
    k.close_input();
    CHECK(k.read_all() == expected);
    CHECK(exited_with(k.process.wait_exit(5s), 0));
}

// What kvsvc --help prints (it exits 0).
inline std::string kvsvc_help(const std::string& socket_path)
{
    KvsvcSession h = spawn_kvsvc(socket_path, {"--help"});
    std::string help = h.client.read_to_eof(5s).value_or("");
    CHECK(exited_with(h.process.wait_exit(5s), 0));
    return help;
}

// kvsvc with `protocol` (its --protocol arguments) and no kvstored at
// `socket_path`: no greeting, the door's one error line (`expected`, named
// `error` in the sections' names), then the end of the stream and exit 0 --
// on a socket after socket_request, through pipes (the relay) after
// pipe_request, and before the client says anything.
inline void check_door_unavailable(const std::string& socket_path, const std::vector<std::string>& protocol,
                                   const std::string& error, const std::string& expected,
                                   const std::string& socket_request, const std::string& pipe_request)
{
    SECTION("on a socket: no greeting, " + error + ", then the end of the stream")
    {
        check_kvsvc_session(socket_path, protocol, socket_request, expected);
    }
    SECTION("through pipes (the relay)")
    {
        PipedKvsvc k(socket_path, protocol);
        k.write_unless_gone(pipe_request);
        CHECK(k.read_all() == expected);
        CHECK(exited_with(k.process.wait_exit(5s), 0));
    }
    SECTION("before the client says anything")
    {
        check_kvsvc_answers_and_exits(socket_path, protocol, expected, 0);
    }
}

// A Unix socket that listens and never accepts: a connect completes (the
// backlog) and what is sent there (a Hello with the client's socket) waits,
// unread.
class NeverAcceptingListener {
public:
    explicit NeverAcceptingListener(const std::string& path)
    {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd_, 4) == 0);
    }
    ~NeverAcceptingListener()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    NeverAcceptingListener(const NeverAcceptingListener&) = delete;
    NeverAcceptingListener& operator=(const NeverAcceptingListener&) = delete;

private:
    int fd_ = -1;
};

// kvsvc with `protocol` and a kvstored that never takes the socket: after
// `request`, `expected` (the door's error line) and exit 0, 5 s after the
// start (not much later).
inline void check_door_gives_up_after_5s(const std::vector<std::string>& protocol, const std::string& request,
                                         const std::string& expected)
{
    TempDir dir;
    const std::string path = dir.file("stuck.sock");
    NeverAcceptingListener listener(path);

    auto start = std::chrono::steady_clock::now();
    KvsvcSession s = spawn_kvsvc(path, protocol);
    s.client.send(request);
    CHECK(s.client.read_to_eof(10s) == expected);
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 4900ms);
    CHECK(took < 8s);
    CHECK(exited_with(s.process.wait_exit(5s), 0));
}

// The xinetd service of a door: kvsvc_service with --protocol `protocol`.
inline XinetdOptions door_service(const std::string& kvstored_socket, const std::string& protocol)
{
    XinetdOptions o = kvsvc_service(kvstored_socket);
    o.server_args = "--protocol " + protocol + " " + o.server_args;
    return o;
}

}  // namespace kvtest
