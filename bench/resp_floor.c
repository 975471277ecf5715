/* resp_floor.c: the floor for a Redis client's session setup through xinetd
 * (bench/run, T8 "session").
 *
 * The least an xinetd service can do for a Redis client: no greeting (Redis
 * clients send first), read one complete RESP request (a multibulk: *N, then
 * N times $LEN and LEN bytes), answer it with one 32-byte bulk (what a GET of
 * bench/run's 32-byte values gets), exit. Built static (cc -static -O2) so
 * that exec costs as little as it can; kvsvc --protocol redis is compared
 * with it. No stdio, no allocation. Any other input (inline, a request over
 * 4 KiB): answer anyway once a line feed arrives, so the client is never
 * left waiting. */
#include <string.h>
#include <unistd.h>

/* Length of the complete multibulk request at buf[0..len), or 0 if more
 * bytes are needed, or len if it is not one (answer at the next LF). */
static size_t request_end(const char* buf, size_t len)
{
    size_t pos = 0;
    long items = 0;
    if (len == 0 || buf[0] != '*')
        return memchr(buf, '\n', len) != NULL ? len : 0;
    for (pos = 1; pos < len && buf[pos] >= '0' && buf[pos] <= '9'; ++pos)
        items = items * 10 + (buf[pos] - '0');
    for (; items > 0; --items) {
        long bulk = 0;
        const char* lf = memchr(buf + pos, '\n', len - pos);
        if (lf == NULL)
            return 0;
        pos = (size_t)(lf - buf) + 1;
        if (pos >= len)
            return 0;
        if (buf[pos] != '$')
            return len;
        for (++pos; pos < len && buf[pos] >= '0' && buf[pos] <= '9'; ++pos)
            bulk = bulk * 10 + (buf[pos] - '0');
        lf = memchr(buf + pos, '\n', len - pos);
        if (lf == NULL)
            return 0;
        pos = (size_t)(lf - buf) + 1 + (size_t)bulk;
        if (pos + 2 > len)
            return 0;
        pos += 1; /* the CR; the loop's memchr finds the LF */
    }
    {
        const char* lf = memchr(buf + pos, '\n', len - pos);
        return lf != NULL ? (size_t)(lf - buf) + 1 : 0;
    }
}

int main(void)
{
    static const char reply[] = "$32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
    char buf[4096];
    size_t len = 0;

    while (len < sizeof buf) {
        ssize_t n = read(STDIN_FILENO, buf + len, sizeof buf - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        if (request_end(buf, len) != 0)
            return write(STDOUT_FILENO, reply, sizeof reply - 1) < 0;
    }
    return write(STDOUT_FILENO, reply, sizeof reply - 1) < 0;
}
