// etcd_process.h: a real etcd member for the tests of the etcd backend, on
// free loopback ports with its data in a TempDir, owned RAII-style and ended
// by PID (never by name: a system etcd on this host, if Debian's etcd-server
// started one, keeps its port 2379 and is never touched).
#pragma once

#include <string>
#include <vector>

#include "process.h"

namespace kvtest {

struct EtcdOptions {
    std::string name = "m0";
    int client_port = 0;  // 0: a free port is chosen
    int peer_port = 0;  // 0: a free port is chosen
    // "m0=http://127.0.0.1:P0,m1=...": the whole cluster's peer URLs. Empty:
    // a cluster of this member alone.
    std::string initial_cluster;
    std::string initial_cluster_token = "kvtest";
    // More flags for etcd ("--experimental-watch-progress-notify-interval=1s").
    std::vector<std::string> extra_args;
    // Whether the constructor waits until the member answers /health (a
    // member of a cluster cannot until a quorum runs: start them all, then
    // call wait_ready on each).
    bool wait = true;
};

// Options for an n-member cluster on free ports: names m0..m<n-1>, each with
// the same initial_cluster. Start one EtcdProcess per element with wait =
// false, then wait_ready() on each.
std::vector<EtcdOptions> etcd_cluster_options(int n);

class EtcdProcess {
public:
    // Starts a single member on free ports and waits until it answers.
    EtcdProcess();
    // Throws std::runtime_error (with etcd's log) when it cannot start or,
    // with options.wait, does not answer /health within 10 s.
    explicit EtcdProcess(EtcdOptions options);
    // Resumes a paused member, then stops it (SIGTERM, SIGKILL after 3 s).
    ~EtcdProcess();
    EtcdProcess(const EtcdProcess&) = delete;
    EtcdProcess& operator=(const EtcdProcess&) = delete;

    // "http://127.0.0.1:<client port>"
    std::string endpoint() const;
    int client_port() const { return options_.client_port; }
    int peer_port() const { return options_.peer_port; }
    const std::string& name() const { return options_.name; }
    pid_t pid() const { return process_.pid(); }
    std::string log() const;

    // Polls GET /health until it says healthy, at most `timeout`. Throws
    // std::runtime_error with the log otherwise.
    void wait_ready(Millis timeout = 10s);
    // One try: does GET /health answer "health":"true" within `timeout`?
    bool healthy(Millis timeout = 1s);

    void stop();  // SIGTERM, then SIGKILL after 3 s
    void kill();  // SIGKILL
    // SIGSTOP, then waits until every thread has stopped: the member holds
    // its sockets but answers nothing.
    void pause();
    void resume();  // SIGCONT
    bool running() { return process_.running(); }

private:
    EtcdOptions options_;
    TempDir dir_;
    Process process_;  // declared after dir_: ends before its data is removed
    bool paused_ = false;
};

}  // namespace kvtest
