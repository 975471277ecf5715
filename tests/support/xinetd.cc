// xinetd.cc: see xinetd.h.
#include "xinetd.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "kvstore.h"

namespace kvtest {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// (xinetd allows comments on their own lines only, never after a value, so
// there are none.)
std::string xinetd_section(const std::string& header, const XinetdSettings& settings)
{
    std::string text = header + "\n{\n";
    for (const auto& [name, value] : settings)
        text += "    " + name + std::string(16 - name.size(), ' ') + "= " + value + "\n";
    return text + "}\n";
}

int open_log(const std::string& path)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    return fd;
}

bool accepts(int port)
{
    try {
        connect_tcp(port, 0ms);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

void wait_accepting(Process& process, int port, const std::string& name, const std::function<std::string()>& log)
{
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline && process.running()) {
        if (accepts(port))
            return;
        std::this_thread::sleep_for(10ms);
    }
    std::string why = process.running() ? "127.0.0.1:" + std::to_string(port) + " does not accept within 5 s"
                                        : name + " " + describe_status(*process.wait_exit(0ms));
    throw std::runtime_error(why + "; its log:\n" + log());
}

XinetdOptions kvsvc_service(const std::string& kvstored_socket)
{
    XinetdOptions o;
    o.log_on_success = "PID HOST EXIT DURATION";
    o.log_on_failure = "HOST";
    o.server = kvsvc_bin();
    o.server_args = "--socket " + kvstored_socket;
    o.instances = "600";
    o.per_source = "UNLIMITED";
    o.cps = "1000 1";
    return o;
}

PrivateXinetd::PrivateXinetd(const TempDir& dir, int port, const XinetdOptions& options) : dir_(dir), port_(port)
{
    if (::access(kXinetd, X_OK) != 0)
        throw std::runtime_error(std::string(kXinetd)
                                 + " is not installed: the tests need the Debian package xinetd "
                                   "(scripts/deps installs it: apt-get install xinetd)");
    write_config(options);
    start();
    wait_accepting(process_, port_, "xinetd", [this] { return log(); });
    // xinetd logs "Started working" just after it starts listening: wait for
    // that too (bounded), so that a test reading the log at once sees it.
    auto deadline = Clock::now() + 5s;
    while (log().find("Started working") == std::string::npos && Clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
}

void PrivateXinetd::write_config(const XinetdOptions& options) const
{
    XinetdSettings defaults = {{"log_type", "FILE " + dir_.file("xinetd-access.log")}};
    if (!options.log_on_success.empty())
        defaults.emplace_back("log_on_success", options.log_on_success);
    if (!options.log_on_failure.empty())
        defaults.emplace_back("log_on_failure", options.log_on_failure);
    std::string services
        = options.include_dir.empty() ? service_section(options) : "includedir " + options.include_dir + "\n";
    write_file(dir_.file("xinetd.conf"), xinetd_section("defaults", defaults) + "\n" + services);
}

std::string PrivateXinetd::service_section(const XinetdOptions& options) const
{
    return xinetd_section("service kvstore",
                          {
                              {"type", "UNLISTED"},
                              {"socket_type", "stream"},
                              {"protocol", "tcp"},
                              {"wait", "no"},
                              {"user", options.user},
                              {"server", options.server},
                              {"server_args", options.server_args},
                              {"bind", "127.0.0.1"},
                              {"port", std::to_string(port_)},
                              {"only_from", "127.0.0.1"},
                              {"instances", options.instances},
                              {"per_source", options.per_source},
                              {"cps", options.cps},
                              {"disable", "no"},
                          });
}

void PrivateXinetd::start()
{
    int fd = open_log(dir_.file("xinetd.out"));
    try {
        process_ = Process(kXinetd,
                           {"-dontfork", "-f", dir_.file("xinetd.conf"), "-pidfile", dir_.file("xinetd.pid"),
                            "-filelog", dir_.file("xinetd.log")},
                           Stdio{-1, fd, fd});
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

std::string PrivateXinetd::log() const
{
    return read_file(dir_.file("xinetd.log")) + read_file(dir_.file("xinetd.out"));
}

std::string PrivateXinetd::access_log() const
{
    return read_file(dir_.file("xinetd-access.log"));
}

LineClient PrivateXinetd::client()
{
    LineClient c = connect_tcp(port_);
    REQUIRE(c.read_line() == greeting());
    return c;
}

}  // namespace kvtest
