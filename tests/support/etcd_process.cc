// etcd_process.cc: see etcd_process.h.
#include "etcd_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "kvstore.h"
#include "line_client.h"

namespace kvtest {

namespace {

using Clock = std::chrono::steady_clock;

std::string peer_url(int port)
{
    return "http://127.0.0.1:" + std::to_string(port);
}

}  // namespace

std::vector<EtcdOptions> etcd_cluster_options(int n)
{
    std::vector<EtcdOptions> all(n);
    std::string cluster;
    for (int i = 0; i < n; ++i) {
        all[i].name = "m" + std::to_string(i);
        all[i].client_port = free_tcp_port();
        all[i].peer_port = free_tcp_port();
        all[i].wait = false;
        cluster += (i > 0 ? "," : "") + all[i].name + "=" + peer_url(all[i].peer_port);
    }
    for (auto& o : all)
        o.initial_cluster = cluster;
    return all;
}

EtcdProcess::EtcdProcess() : EtcdProcess(EtcdOptions{}) { }

EtcdProcess::EtcdProcess(EtcdOptions options) : options_(std::move(options))
{
    if (options_.client_port == 0)
        options_.client_port = free_tcp_port();
    if (options_.peer_port == 0)
        options_.peer_port = free_tcp_port();
    if (options_.initial_cluster.empty())
        options_.initial_cluster = options_.name + "=" + peer_url(options_.peer_port);
    const std::string client = peer_url(options_.client_port);
    const std::string peer = peer_url(options_.peer_port);
    std::vector<std::string> args = {
        "--name=" + options_.name,
        "--data-dir=" + dir_.file("data"),
        "--listen-client-urls=" + client,
        "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer,
        "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=" + options_.initial_cluster,
        "--initial-cluster-state=new",
        "--initial-cluster-token=" + options_.initial_cluster_token,
        "--logger=zap",
        "--log-outputs=stderr",
    };
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    int log_fd = ::open(dir_.file("etcd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0)
        throw std::runtime_error("etcd log " + dir_.file("etcd.log") + ": cannot create");
    try {
        process_ = Process("/usr/bin/etcd", args, Stdio{-1, log_fd, log_fd});
    } catch (...) {
        ::close(log_fd);
        throw;
    }
    ::close(log_fd);
    if (options_.wait)
        wait_ready();
}

EtcdProcess::~EtcdProcess()
{
    // A stopped process does not act on SIGTERM: let it run to end.
    if (paused_ && process_.pid() > 0)
        process_.signal(SIGCONT);
}

std::string EtcdProcess::endpoint() const
{
    return peer_url(options_.client_port);
}

std::string EtcdProcess::log() const
{
    return read_file(dir_.file("etcd.log"));
}

bool EtcdProcess::healthy(Millis timeout)
{
    try {
        LineClient c = connect_tcp(options_.client_port, timeout);
        c.send("GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", timeout);
        auto reply = c.read_to_eof(timeout);
        return reply && reply->find("\"health\":\"true\"") != std::string::npos;
    } catch (const std::runtime_error&) {
        return false;
    }
}

void EtcdProcess::wait_ready(Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && process_.running()) {
        if (healthy(1s))
            return;
        std::this_thread::sleep_for(50ms);
    }
    std::string why = process_.running() ? "etcd " + options_.name + " on " + endpoint() + " not healthy within "
            + std::to_string(timeout.count()) + " ms"
                                         : "etcd " + options_.name + " " + describe_status(*process_.wait_exit(0ms));
    throw std::runtime_error(why + "; its log:\n" + log());
}

void EtcdProcess::stop()
{
    resume();
    process_.stop();
}

void EtcdProcess::kill()
{
    process_.signal(SIGKILL);
    process_.wait_exit(5s);
    paused_ = false;
}

// Whether every thread of `pid` is stopped ('T' in /proc/PID/task/*/stat).
static bool all_threads_stopped(pid_t pid)
{
    std::error_code ec;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    bool any = false;
    for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
        std::string stat = read_file(task.path().string() + "/stat");
        if (stat.empty())
            continue;  // a thread that just ended
        auto paren = stat.rfind(')');
        if (paren == std::string::npos || paren + 2 >= stat.size())
            return false;
        if (stat[paren + 2] != 'T')
            return false;
        any = true;
    }
    return any;
}

void EtcdProcess::pause()
{
    process_.signal(SIGSTOP);
    paused_ = true;
    // SIGSTOP reaches etcd's threads one by one: until all have stopped, one
    // may still answer a request. Wait for that, at most 2 s.
    auto deadline = Clock::now() + 2s;
    while (!all_threads_stopped(process_.pid())) {
        if (Clock::now() >= deadline)
            throw std::runtime_error("etcd " + options_.name + ": not every thread stopped within 2 s of SIGSTOP");
        std::this_thread::sleep_for(1ms);
    }
}

void EtcdProcess::resume()
{
    if (paused_)
        process_.signal(SIGCONT);
    paused_ = false;
}

}  // namespace kvtest
