"""lineconn.py: a client of kvstore's line protocol (docs/protocol.md) over
TCP, for the Python system tests (tests/etcd): the greeting, `connect`, one
command at a time with a deadline, and the multi-line replies (`KEYS n`,
`STATS n`, `HELP n`).

Every call either returns the reply or raises sockets.Closed / sockets.Timeout
/ OSError: the tests count those as operations whose outcome is unknown
(docs/protocol.md, "kvstored vanishes without notice").
"""

import time

import sockets

MULTI = (b"KEYS", b"STATS", b"HELP")


class Conn(sockets.BaseConn):
    """One session: greeted and (with connect=True) attached to kvstored."""

    def __init__(self, port, timeout=5.0, connect=True):
        super().__init__(port, timeout)
        hello = self.line()
        if not hello.startswith("HELLO kvstore"):
            raise sockets.Closed("port %d greeted %r" % (port, hello))
        if connect:
            reply = self.call("connect")
            if reply != "OK connected":
                self.close()
                raise ConnectError("connect on port %d: %s" % (port, reply))

    def line(self, timeout=None):
        """The next reply line (without its LF), as text."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def call(self, command, timeout=None):
        """Sends one command line; its reply (first line; see lines())."""
        self.send(command.encode() + b"\n")
        return self.line(timeout)

    def lines(self, command, timeout=None):
        """Sends a command whose reply may have several lines (`keys`,
        `stats`); the list of lines (the first one included). A paged `keys`
        (`KEYS n more`) is followed to its last page."""
        self.send(command.encode() + b"\n")
        out = []
        while True:
            first = self.line(timeout)
            out.append(first)
            words = first.split()
            if not words or words[0].encode() not in MULTI:
                return out
            for _ in range(int(words[1])):
                out.append(self.line(timeout))
            if not (len(words) > 2 and words[2] == "more"):
                return out

    def stats(self):
        """`stats` as a dict name -> value (text)."""
        lines = self.lines("stats")
        if not lines[0].startswith("STATS "):
            raise ValueError("stats: %r" % lines[0])
        return dict((ln.split(" ", 1) + [""])[:2] for ln in lines[1:])

    def keys(self, prefix=""):
        lines = self.lines(("keys " + prefix).strip())
        if not lines[0].startswith("KEYS "):
            raise ValueError("keys %s: %r" % (prefix, lines[0]))
        return [ln for ln in lines[1:] if not ln.startswith("KEYS ")]


class ConnectError(Exception):
    """`connect` was answered with something other than `OK connected`
    (`ERR unavailable ...`: kvstored is down or starting)."""


def value_of(reply):
    """The value of a `VALUE v` reply, None for NOT_FOUND, else ValueError."""
    if reply.startswith("VALUE "):
        return reply[6:]
    if reply == "NOT_FOUND":
        return None
    raise ValueError("unexpected reply %r" % reply)
