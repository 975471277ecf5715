// xinetd_fixture.cc: see xinetd_fixture.h.
#include "xinetd_fixture.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace kvtest {
namespace {

using Clock = std::chrono::steady_clock;

// One try, no waiting: does 127.0.0.1:port accept a connection?
bool accepts(int port)
{
    try {
        connect_tcp(port, 0ms);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

// One section of an xinetd config. (xinetd allows comments on their own lines
// only, never after a value, so there are none.)
std::string section(const std::string& header, const std::vector<std::pair<std::string, std::string>>& settings)
{
    std::string text = header + "\n{\n";
    for (const auto& [name, value] : settings)
        text += "    " + name + std::string(16 - name.size(), ' ') + "= " + value + "\n";
    return text + "}\n";
}

}  // namespace

Xinetd::Xinetd(const TempDir& dir, const std::string& kvstored_socket) : dir_(dir), port_(free_tcp_port())
{
    if (::access(kXinetd, X_OK) != 0)
        throw std::runtime_error(std::string(kXinetd)
                                 + " is not installed: the end-to-end tests need the Debian package xinetd "
                                   "(scripts/deps installs it: apt-get install xinetd)");
    write_config(kvstored_socket);
    std::string out = dir_.file("xinetd.out");
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::runtime_error("open " + out + ": " + std::strerror(errno));
    process_ = Process(kXinetd,
                       {"-dontfork", "-f", dir_.file("xinetd.conf"), "-pidfile", dir_.file("xinetd.pid"), "-filelog",
                        dir_.file("xinetd.log")},
                       Stdio{-1, fd, fd});
    ::close(fd);
    wait_until_serving();
}

void Xinetd::write_config(const std::string& kvstored_socket) const
{
    std::string defaults = section("defaults",
                                   {
                                       {"log_type", "FILE " + dir_.file("xinetd-access.log")},
                                       {"log_on_success", "PID HOST EXIT DURATION"},
                                       {"log_on_failure", "HOST"},
                                   });
    std::string service = section("service kvstore",
                                  {
                                      {"type", "UNLISTED"},
                                      {"socket_type", "stream"},
                                      {"protocol", "tcp"},
                                      {"wait", "no"},
                                      {"user", "root"},
                                      {"server", kvsvc_bin()},
                                      {"server_args", "--socket " + kvstored_socket},
                                      {"bind", "127.0.0.1"},
                                      {"port", std::to_string(port_)},
                                      {"only_from", "127.0.0.1"},
                                      {"instances", "600"},
                                      {"per_source", "UNLIMITED"},
                                      {"cps", "1000 1"},
                                      {"disable", "no"},
                                  });
    write_file(dir_.file("xinetd.conf"), defaults + "\n" + service);
}

void Xinetd::wait_until_serving()
{
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline && process_.running()) {
        if (accepts(port_))
            return;
        std::this_thread::sleep_for(10ms);
    }
    std::string why = process_.running() ? "127.0.0.1:" + std::to_string(port_) + " does not accept within 5 s"
                                         : "xinetd " + describe_status(*process_.wait_exit(0ms));
    throw std::runtime_error(why + "; xinetd's log:\n" + log());
}

std::string Xinetd::log() const
{
    return read_file(dir_.file("xinetd.log")) + read_file(dir_.file("xinetd.out"));
}

LineClient XinetdStack::client()
{
    LineClient c = connect_tcp(xinetd.port());
    REQUIRE(c.read_line() == greeting());
    return c;
}

}  // namespace kvtest
