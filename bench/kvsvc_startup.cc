// kvsvc_startup: how long kvsvc takes from exec to its greeting, and how much
// memory an idle kvsvc holds. It starts kvsvc the way xinetd does (a socket on
// stdin, stdout and stderr) RUNS times and prints the median, p90 and max
// exec->HELLO time, then the Rss and Private_Dirty of one idle kvsvc from
// /proc/PID/smaps_rollup.
//
// usage: kvsvc_startup PATH_TO_KVSVC [RUNS] [--socket PATH]
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Child {
    pid_t pid = -1;
    int fd = -1;  // our end of the client socket
};

Child spawn(const char* kvsvc, const char* socket_path)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        std::perror("socketpair");
        std::exit(1);
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        for (int fd = 0; fd < 3; ++fd)
            ::dup2(sv[1], fd);
        ::execl(kvsvc, kvsvc, "--socket", socket_path, static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(sv[1]);
    return Child{pid, sv[0]};
}

// Reads until the first LF; false on timeout or EOF.
bool read_greeting(int fd)
{
    char buf[256];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0)
            return false;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0)
            return false;
        if (std::find(buf, buf + n, '\n') != buf + n)
            return true;
    }
}

void reap(Child& c)
{
    ::close(c.fd);
    ::kill(c.pid, SIGTERM);
    ::waitpid(c.pid, nullptr, 0);
}

long smaps_kib(pid_t pid, const std::string& field)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0)
            return std::atol(line.c_str() + field.size() + 1);
    return -1;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PATH_TO_KVSVC [RUNS] [--socket PATH]\n", argv[0]);
        return 2;
    }
    const char* kvsvc = argv[1];
    int runs = argc > 2 ? std::atoi(argv[2]) : 200;
    const char* socket_path = argc > 4 ? argv[4] : "/nonexistent/kvstored.sock";
    std::vector<double> us;
    for (int i = 0; i < runs; ++i) {
        auto start = Clock::now();
        Child c = spawn(kvsvc, socket_path);
        bool ok = read_greeting(c.fd);
        auto took = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
        reap(c);
        if (!ok) {
            std::fprintf(stderr, "kvsvc gave no greeting\n");
            return 1;
        }
        us.push_back(took);
    }
    std::sort(us.begin(), us.end());
    std::printf("exec->HELLO over %d runs: median %.0f us, p90 %.0f us, max %.0f us\n", runs, us[us.size() / 2],
                us[us.size() * 9 / 10], us.back());

    Child idle = spawn(kvsvc, socket_path);
    read_greeting(idle.fd);
    ::usleep(100 * 1000);
    std::printf("idle kvsvc: Rss %ld KiB, Private_Dirty %ld KiB\n", smaps_kib(idle.pid, "Rss"),
                smaps_kib(idle.pid, "Private_Dirty"));
    reap(idle);
    return 0;
}
