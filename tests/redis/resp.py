"""resp.py: raw RESP over a loopback socket, byte for byte.

The tests compare servers byte for byte, so nothing here decodes a reply into
Python values first: read_reply() returns the exact bytes of one complete
reply (RESP2 or RESP3, nested aggregates included) and parse() turns those
bytes into a small tree only where a test must look inside (shapes,
normalisations). Every read has a deadline: no call can hang.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import sockets  # noqa: E402
from sockets import Closed, Timeout  # noqa: E402,F401


def encode(args):
    """A command as a RESP multibulk request; args are bytes or str."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


# Reply types whose payload is one line, and aggregates (count = elements;
# maps and attributes count pairs).
_LINE = b"+-:_,#("
_BLOB = b"$!="
_AGGREGATE = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2, ord("|"): 2}


class Conn(sockets.BaseConn):
    """One TCP connection to 127.0.0.1:port with a read buffer."""

    def call(self, *args):
        """Sends one command, returns the raw bytes of its reply."""
        self.send(encode(args))
        return self.read_reply()

    def read_reply(self, timeout=None):
        """The exact bytes of the next complete reply."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            end = reply_end(self.buf, 0)
            if end is not None:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply
            self._fill(deadline)

    def read_until_close(self, timeout, stop_suffix=None):
        """Everything the server sends until it closes, until the buffer ends
        with stop_suffix, or until timeout. Returns (bytes, closed)."""
        deadline = time.monotonic() + timeout
        while True:
            if stop_suffix is not None and self.buf.endswith(stop_suffix):
                break
            try:
                self._fill(deadline)
            except Closed:
                break
            except Timeout:
                break
        data, self.buf = self.buf, b""
        return data, self.closed


def _line_end(buf, pos):
    i = buf.find(b"\r\n", pos)
    return None if i < 0 else i


def reply_end(buf, pos):
    """Index just past the complete reply starting at buf[pos], or None when
    more bytes are needed. Raises ValueError on bytes that are not RESP."""
    if pos >= len(buf):
        return None
    kind = buf[pos]
    eol = _line_end(buf, pos + 1)
    if eol is None:
        return None
    head = buf[pos + 1:eol]
    if kind in _LINE:
        return eol + 2
    if kind in _BLOB:
        n = int(head)
        if n < 0:
            return eol + 2
        end = eol + 2 + n + 2
        return end if len(buf) >= end else None
    if kind in _AGGREGATE:
        n = int(head)
        p = eol + 2
        if kind == ord("|"):
            # An attribute comes before the reply it annotates.
            for _ in range(2 * n):
                p = reply_end(buf, p)
                if p is None:
                    return None
            return reply_end(buf, p)
        for _ in range(max(n, 0) * _AGGREGATE[kind]):
            p = reply_end(buf, p)
            if p is None:
                return None
        return p
    raise ValueError("not RESP at byte %d: %r" % (pos, buf[pos:pos + 40]))


def parse(data):
    """(type character, value) for one complete reply: aggregates hold a list
    of parsed children (maps: flat key, value, ...), blobs their bytes, line
    types their line."""
    node, end = _parse(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after a reply: %r" % data[end:end + 40])
    return node


def _parse(buf, pos):
    kind = chr(buf[pos])
    eol = buf.index(b"\r\n", pos + 1)
    head = buf[pos + 1:eol]
    if kind in "+-:_,#(":
        return (kind, head), eol + 2
    if kind in "$!=":
        n = int(head)
        if n < 0:
            return (kind, None), eol + 2
        start = eol + 2
        return (kind, buf[start:start + n]), start + n + 2
    n = int(head)
    per = 2 if kind in "%|" else 1
    items, p = [], eol + 2
    for _ in range(max(n, 0) * per):
        item, p = _parse(buf, p)
        items.append(item)
    if kind == "|":
        inner, p = _parse(buf, p)
        return inner, p
    return (kind, items if n >= 0 else None), p


def is_error(reply):
    return reply[:1] in (b"-", b"!")
