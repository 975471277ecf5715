/* echo_floor.c: the floor for session setup through xinetd (bench/run, T3).
 *
 * The least an xinetd service can do per connection: greet with one line,
 * read one line, send it back, exit. Built static (cc -static -O2) so that
 * exec costs as little as it can; kvsvc's session setup is compared with it.
 * No stdio, no allocation: two writes and a read or two. */
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char hello[] = "HELLO echo-floor ready\n";
    char buf[4096];
    size_t len = 0;

    if (write(STDOUT_FILENO, hello, sizeof hello - 1) < 0)
        return 1;
    while (len < sizeof buf) {
        ssize_t n = read(STDIN_FILENO, buf + len, sizeof buf - len);
        if (n <= 0)
            return 0;
        char* lf = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (lf != NULL)
            return write(STDOUT_FILENO, buf, (size_t)(lf - buf) + 1) < 0;
    }
    return write(STDOUT_FILENO, buf, len) < 0;
}
