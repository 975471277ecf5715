"""mc.py: raw memcached text protocol over a loopback socket, byte for byte.

The tests compare servers byte for byte, so nothing here decodes replies into
Python values. A memcached reply has no self-describing end (a noreply command
answers nothing, a get answers any number of VALUE blocks), so the tests end
every exchange with a marker: `set MARKER_KEY 0 0 N noreply` + `get
MARKER_KEY` with a value unique to the exchange (sync_marker()); what came
before the marker's VALUE block is the reply to the exchange. Every read has
a deadline: no call can hang.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import sockets  # noqa: E402
from sockets import Closed, Timeout  # noqa: E402,F401

MARKER_KEY = b"__mc_test_sync__"


def sync_marker(n):
    """(request, reply) of the marker that ends exchange n."""
    value = b"sync-%d" % n
    request = b"set %s 0 0 %d noreply\r\n%s\r\nget %s\r\n" % (MARKER_KEY, len(value), value, MARKER_KEY)
    reply = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (MARKER_KEY, len(value), value)
    return request, reply


class Conn(sockets.BaseConn):
    """One TCP connection to 127.0.0.1:port with a read buffer."""

    recv_size = 262144

    def __init__(self, port, timeout=5.0):
        super().__init__(port, timeout)
        self.counter = 0

    def excerpt(self):
        return self.buf[-300:]

    def read_until(self, marker, timeout=None):
        """The bytes up to (without) marker; consumes both."""
        deadline = time.monotonic() + (timeout or self.timeout)
        start = 0
        while True:
            i = self.buf.find(marker, start)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(marker):]
                return out
            start = max(0, len(self.buf) - len(marker))
            self._fill(deadline)

    def exchange(self, request, timeout=None):
        """Sends request followed by a sync marker; returns every byte the
        server answered to request (possibly b"" for noreply)."""
        self.counter += 1
        mreq, mrep = sync_marker(self.counter)
        self.send(request + mreq)
        return self.read_until(mrep, timeout)

    def call(self, line, timeout=None):
        """One command line (bytes or str, without CRLF); its reply."""
        if isinstance(line, str):
            line = line.encode()
        return self.exchange(line + b"\r\n", timeout)

    def read_until_close(self, wait, stop=None):
        """Reads until the server closes or `wait` s pass (or `stop` has been
        read). Returns (bytes, closed)."""
        deadline = time.monotonic() + wait
        while True:
            if stop is not None and stop in self.buf:
                return self.buf, False
            try:
                self._fill(deadline)
            except Timeout:
                return self.buf, False
            except Closed:
                return self.buf, True
            except OSError:
                return self.buf, True


def units(reply):
    """A reply split into units: each line (with its CRLF), and a VALUE line
    together with its data block. A malformed tail is one unit."""
    out = []
    i = 0
    while i < len(reply):
        j = reply.find(b"\r\n", i)
        if j < 0:
            out.append(reply[i:])
            break
        line = reply[i:j + 2]
        i = j + 2
        if line.startswith(b"VALUE "):
            parts = line.split(b" ")
            try:
                n = int(parts[3].strip())
            except (IndexError, ValueError):
                n = -1
            if n >= 0 and i + n + 2 <= len(reply):
                line += reply[i:i + n + 2]
                i += n + 2
        out.append(line)
    return out
