// send_buffer.cc: see send_buffer.h.
#include "send_buffer.h"

#include <sys/socket.h>

#include <cerrno>

namespace kv {

long send_buffered(int fd, std::string& out, size_t& pos)
{
    long sent = 0;
    while (pos < out.size()) {
        ssize_t n = ::send(fd, out.data() + pos, out.size() - pos, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -1;
            break;  // the peer's buffer is full
        }
        pos += static_cast<size_t>(n);
        sent += n;
    }
    if (pos == out.size()) {
        out.clear();
        pos = 0;
    } else if (pos >= 64 * 1024 && pos * 2 >= out.size()) {
        out.erase(0, pos);
        pos = 0;
    }
    return sent;
}

}  // namespace kv
