/* relay_floor.c: the floor for any per-connection relay (bench/run, T1/T2).
 *
 * kvstore puts a process between every client and the daemon: xinetd starts
 * kvsvc, which relays each command over a Unix socket to kvstored. This is the
 * least such a relay can do: connect to a Unix socket (argv[1]) and copy bytes
 * both ways with one poll, one read and one write per burst. No parsing, no
 * framing, no allocation; built static (cc -static -O2). bench/run launches it
 * from the same xinetd as kvsvc, in front of redis-server's own Unix socket, so
 * "xinetd + this relay + redis" is the best any relay design can reach against
 * redis itself on this machine. */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Writes all of buf; 0 on success. */
static int write_all(int fd, const char* buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char** argv)
{
    static char buf[64 * 1024];
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int up = socket(AF_UNIX, SOCK_STREAM, 0);

    if (argc != 2 || up < 0 || strlen(argv[1]) >= sizeof addr.sun_path)
        return 1;
    strcpy(addr.sun_path, argv[1]);
    if (connect(up, (struct sockaddr*)&addr, sizeof addr) < 0)
        return 1;

    struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { up, POLLIN, 0 } };
    for (;;) {
        if (poll(fds, 2, -1) < 0)
            return 1;
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents == 0)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0)
                return 0;
            if (write_all(i == 0 ? up : STDOUT_FILENO, buf, (size_t)n) < 0)
                return 1;
        }
    }
}
