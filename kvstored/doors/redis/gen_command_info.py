#!/usr/bin/python3
"""Writes command_info.inc: what Redis 7.0.15 says (COMMAND INFO and COMMAND DOCS)
about every command kvstore's Redis door implements, encoded for RESP2 and RESP3.

The table in command_table.cc includes the output; COMMAND answers from it, so
kvstore describes its commands exactly as redis-server does, except that a
container command (CLIENT, COMMAND, CONFIG) lists only the subcommands kvstore
implements (docs/redis.md). Run it against a real redis-server 7.0.15:

    redis-server --port 16397 --save '' --appendonly no &
    kvstored/doors/redis/gen_command_info.py 16397 > kvstored/doors/redis/command_info.inc
"""
import socket
import sys

# Every command kvstore implements (the list), in the table's order;
# containers with the subcommands kvstore implements.
COMMANDS = [
    # strings
    "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset", "msetnx",
    "append", "strlen", "incr", "decr", "incrby", "decrby", "incrbyfloat", "getrange", "setrange", "lcs",
    # keys
    "del", "unlink", "exists", "type", "keys", "scan", "rename", "renamenx", "randomkey", "dbsize",
    "flushdb", "flushall", "expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl", "expiretime",
    "pexpiretime", "persist", "touch", "copy",
    # connection and server
    "ping", "echo", "quit", "hello", "select", "auth", "client", "info", "command", "time", "lastsave",
    "config", "shutdown",
    # transactions
    "multi", "exec", "discard", "watch", "unwatch",
]
SUBCOMMANDS = {
    "client": ["id", "getname", "setname", "info", "list", "kill"],
    "command": ["count", "info", "docs"],
    "config": ["get", "set"],
}


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def value(self):
        """A RESP3 value as (type byte, payload)."""
        line = self.line()
        t, rest = line[:1], line[1:]
        if t in (b"*", b"~", b">"):
            return (t, [self.value() for _ in range(int(rest))])
        if t == b"%":
            return (t, [(self.value(), self.value()) for _ in range(int(rest))])
        if t in (b"$", b"="):
            return (t, self.exact(int(rest)))
        return (t, rest)  # + - : _ # ,


def encode(v, proto):
    t, p = v
    if t in (b"*", b"~", b">"):
        head = t if proto == 3 else b"*"
        return head + b"%d\r\n" % len(p) + b"".join(encode(x, proto) for x in p)
    if t == b"%":
        head = b"%%%d\r\n" % len(p) if proto == 3 else b"*%d\r\n" % (2 * len(p))
        return head + b"".join(encode(k, proto) + encode(x, proto) for k, x in p)
    if t in (b"$", b"="):
        if t == b"=" and proto == 2:
            t, p = b"$", p[4:]
        return t + b"%d\r\n" % len(p) + p + b"\r\n"
    if t in (b"_", b"#", b","):
        raise SystemExit("unexpected RESP3 type %r in COMMAND output" % t)
    return t + p + b"\r\n"


def c_string(data):
    out = []
    for b in data:
        c = chr(b)
        if c == "\\" or c == '"':
            out.append("\\" + c)
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def command(sock, reader, *args):
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
    sock.sendall(req)
    return reader.value()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    sock = socket.create_connection(("127.0.0.1", port))
    reader = Reader(sock)
    hello = command(sock, reader, "HELLO", "3")
    version = dict((k[1], v[1]) for k, v in hello[1])[b"version"].decode()
    infos = command(sock, reader, "COMMAND", "INFO", *COMMANDS)[1]
    docs = dict((k[1].decode(), v) for k, v in command(sock, reader, "COMMAND", "DOCS", *COMMANDS)[1])

    rows = []

    def row(name, info, doc):
        fields = info[1]
        arity, first, last, step = (int(fields[i][1]) for i in (1, 3, 4, 5))
        flags = " ".join(f[1].decode() for f in fields[2][1])
        rows.append("{%s, %d, %d, %d, %d, %s,\n %s,\n %s,\n %s,\n %s}," % (
            c_string(name.encode()), arity, first, last, step, c_string(flags.encode()),
            c_string(encode(info, 2)), c_string(encode(info, 3)), c_string(encode(doc, 2)),
            c_string(encode(doc, 3))))

    for name, info in zip(COMMANDS, infos):
        if info[0] != b"*":
            raise SystemExit("redis-server does not know %s" % name)
        doc = docs[name]
        wanted = SUBCOMMANDS.get(name)
        if wanted:
            full = [name + "|" + s for s in wanted]
            subs = [s for s in info[1][9][1] if s[1][0][1].decode() in full]
            info = (info[0], info[1][:9] + [(info[1][9][0], subs)])
            doc = (doc[0], [(k, v) if k[1] != b"subcommands" else
                            (k, (v[0], [(n, d) for n, d in v[1] if n[1].decode() in full]))
                            for k, v in doc[1]])
            sub_docs = dict((n[1].decode(), d) for k, v in doc[1] if k[1] == b"subcommands" for n, d in v[1])
            row(name, info, doc)
            for s in subs:
                sub_name = s[1][0][1].decode()
                row(sub_name, s, sub_docs[sub_name])
        else:
            row(name, info, doc)

    print("// command_info.inc: generated by gen_command_info.py from redis-server %s; do not edit." % version)
    print("// {name, arity, first key, last key, key step, flags, COMMAND INFO entry (RESP2, RESP3),")
    print("//  COMMAND DOCS entry (RESP2, RESP3)}; subcommands are named \"container|sub\".")
    print("// clang-format off")
    for r in rows:
        print(r)
    print("// clang-format on")


main()
