"""sockets.py: the loopback connection the Python door tests (tests/redis/resp.py,
tests/memcache/mc.py) build on: one TCP connection to 127.0.0.1:port with a
read buffer, and reads with a deadline, so that no call can hang. Each
protocol's module says where a reply ends."""

import socket
import time


class Closed(Exception):
    """The server closed the connection (EOF or reset) before the reply ended."""


class Timeout(Exception):
    """No complete reply within the deadline."""


class BaseConn:
    """One TCP connection to 127.0.0.1:port with a read buffer (buf)."""

    recv_size = 65536

    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def excerpt(self):
        """The part of the buffer an error message quotes."""
        return self.buf[:200]

    def _fill(self, deadline):
        """Appends what the next recv brings to buf: Timeout at the deadline,
        Closed (and closed = True) at EOF or a reset."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("no complete reply from port %d within %.1f s (have %r)"
                          % (self.port, self.timeout, self.excerpt()))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(self.recv_size)
        except socket.timeout:
            raise Timeout("no complete reply from port %d within %.1f s (have %r)"
                          % (self.port, self.timeout, self.excerpt())) from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed("port %d closed the connection (have %r)" % (self.port, self.excerpt()))
        self.buf += chunk


def answers(conn_class, port, timeout, ask, good):
    """True when a conn_class connection to 127.0.0.1:port gets an answer
    to ask(conn) that good(answer) accepts, within timeout."""
    try:
        with conn_class(port, timeout=timeout) as c:
            return good(ask(c))
    except (OSError, Closed, Timeout, ValueError):
        return False
