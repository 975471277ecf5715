#!/usr/bin/env bash
# kvbench_smoke.sh: ctest's quick check that kvbench works (label "bench").
#
# Usage: kvbench_smoke.sh KVBENCH KVSTORED KVSVC
#
# Checks, in about eight seconds: --help; refusal of a non-loopback host; a
# closed port ends in failure within --timeout; and against a real kvstored
# behind a private xinetd, 200 pipelined requests, 20 reconnecting sessions
# and a fill with --ttl are all answered without error; against a second
# kvstored with a users file, --user with the right --password-file
# authenticates steady and reconnecting sessions, and a wrong one fails the
# run. Everything it starts is stopped by PID.
set -euo pipefail

# Absolute paths: xinetd runs its servers from "/".
KVBENCH=$(realpath "$1") KVSTORED=$(realpath "$2") KVSVC=$(realpath "$3")
readonly KVBENCH KVSTORED KVSVC
readonly XINETD=/usr/sbin/xinetd
DIR=$(mktemp -d /tmp/kvbench-smoke.XXXXXX)
readonly DIR
KVSTORED_PID=""
AUTH_KVSTORED_PID=""
XINETD_PID=""

fail() {
  echo "FAIL: $*" >&2
  for f in "$DIR"/*.log; do
    [[ -s $f ]] && { echo "--- $f" >&2; tail -n 10 "$f" >&2; }
  done
  exit 1
}

cleanup() {
  local pid
  for pid in $XINETD_PID $KVSTORED_PID $AUTH_KVSTORED_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $XINETD_PID $KVSTORED_PID $AUTH_KVSTORED_PID; do
    timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

# A TCP port nobody listens on, below the ephemeral range.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    [[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && { echo "$port"; return; }
  done
}

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

# 1. The manual, and usage errors.
# Captured first: with `| grep -q`, kvbench could die of SIGPIPE (pipefail).
help=$("$KVBENCH" --help) || fail "--help exited with status $?"
[[ $help == *--reconnect* ]] || fail "--help does not describe --reconnect"
rc=0
"$KVBENCH" --port 7070 --host 192.0.2.1 --requests 1 2>/dev/null || rc=$?
((rc == 2)) || fail "a non-loopback host was not refused with status 2 (status $rc)"

# 2. Nobody listening: errors, then the stall timeout; status 1, promptly.
closed=$(free_port)
rc=0
start=$SECONDS
"$KVBENCH" --port "$closed" --requests 10 --timeout 1 --json >"$DIR/closed.out" 2>/dev/null || rc=$?
((rc == 1)) || fail "kvbench against a closed port exited with status $rc, not 1"
((SECONDS - start <= 4)) || fail "kvbench against a closed port took $((SECONDS - start)) s"
grep -q '"ending":"stalled"' "$DIR/closed.out" || fail "closed port: $(cat "$DIR/closed.out")"

# 3. The real thing: kvstored, and kvsvc started by a private xinetd.
[[ -x $XINETD ]] || fail "$XINETD not found (scripts/deps installs it)"
"$KVSTORED" --config /dev/null run --socket "$DIR/kv.sock" --capacity 1000 >"$DIR/kvstored.log" 2>&1 </dev/null &
KVSTORED_PID=$!
# The second one asks for a password: user bench, 'correct horse' (yescrypt).
# shellcheck disable=SC2016 # a crypt(3) hash, not an expansion
printf '%s\n' 'bench:$y$j9T$jeaCc/PB66e2pVleq61RI1$Cb9qhWsSUvlSf3ZeTN01bGcsnl16b0RNU.S8QBNmzF6:read,write:' \
  >"$DIR/users"
printf 'correct horse\n' >"$DIR/password"
printf 'not the password\n' >"$DIR/wrong"
# Its own directory: kvstored puts its admin socket beside its socket.
mkdir "$DIR/auth"
"$KVSTORED" --config /dev/null run --socket "$DIR/auth/kv.sock" --users "$DIR/users" >"$DIR/auth-kvstored.log" 2>&1 \
  </dev/null &
AUTH_KVSTORED_PID=$!
port=$(free_port)
auth_port=$(free_port)
# service NAME PORT SOCKET: an xinetd service running kvsvc for SOCKET.
service() {
  cat <<EOF
service $1
{
    type        = UNLISTED
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = $(id -un)
    server      = $KVSVC
    server_args = --socket $3
    port        = $2
    bind        = 127.0.0.1
    only_from   = 127.0.0.1
    instances   = 100
    per_source  = UNLIMITED
    cps         = 1000 1
    flags       = NODELAY
    disable     = no
}
EOF
}
{
  printf 'defaults\n{\n}\n'
  service kvstore "$port" "$DIR/kv.sock"
  service kvstoreauth "$auth_port" "$DIR/auth/kv.sock"
} >"$DIR/xinetd.conf"
"$XINETD" -dontfork -f "$DIR/xinetd.conf" -filelog "$DIR/xinetd.log" </dev/null &
XINETD_PID=$!
for ((i = 0; i < 50; i++)); do
  [[ -S $DIR/kv.sock && -S $DIR/auth/kv.sock ]] &&
    grep -q 'Started working: 2 available services' "$DIR/xinetd.log" 2>/dev/null && break
  sleep 0.1
done
((i < 50)) || fail "kvstored or xinetd did not start"

out=$("$KVBENCH" --port "$port" --requests 200 --connections 4 --pipeline 4 --keys 100 --timeout 3 --json) ||
  fail "steady run: $out"
[[ $(field "$out" answered) == 200 && $(field "$out" errors) == 0 ]] || fail "steady run: $out"
[[ $(field "$out" hits) -gt 0 ]] || fail "steady run: no GET found a key: $out"

out=$("$KVBENCH" --port "$port" --reconnect --requests 20 --connections 2 --keys 100 --timeout 3 --json) ||
  fail "reconnect run: $out"
[[ $(field "$out" answered) == 20 && $(field "$out" errors) == 0 ]] || fail "reconnect run: $out"

# --rate: an open loop offers that many requests a second, no more (a closed
# loop answers thousands in a second here).
out=$("$KVBENCH" --port "$port" --rate 200 --duration 1 --connections 4 --pipeline 4 --keys 100 --timeout 3 --json) ||
  fail "paced run: $out"
answered=$(field "$out" answered)
((answered >= 150 && answered <= 250)) || fail "paced run at 200/s answered $answered in 1 s: $out"
[[ $(field "$out" rate) == 200.0 && $(field "$out" errors) == 0 ]] || fail "paced run: $out"
rc=0
"$KVBENCH" --port "$port" --rate 200 --reconnect --requests 1 2>/dev/null || rc=$?
((rc == 2)) || fail "--rate with --reconnect: status $rc, not 2"

# --ttl: every save carries the expiry ('save ttl 60 KEY:VALUE'), all accepted.
out=$("$KVBENCH" --port "$port" --fill --keys 100 --ttl 60 --connections 2 --pipeline 8 --timeout 3 --json) ||
  fail "fill with --ttl: $out"
[[ $(field "$out" ok) == 100 && $(field "$out" errors) == 0 ]] || fail "fill with --ttl: $out"

# 4. --user and --password-file: 'auth' before 'connect' in every session.
out=$("$KVBENCH" --port "$auth_port" --user bench --password-file "$DIR/password" --requests 100 --connections 2 \
  --keys 100 --timeout 10 --json) || fail "authenticated run: $out"
[[ $(field "$out" answered) == 100 && $(field "$out" errors) == 0 ]] || fail "authenticated run: $out"
out=$("$KVBENCH" --port "$auth_port" --user bench --password-file "$DIR/password" --reconnect --requests 4 \
  --connections 2 --keys 100 --timeout 10 --json) || fail "authenticated reconnect run: $out"
[[ $(field "$out" answered) == 4 && $(field "$out" errors) == 0 ]] || fail "authenticated reconnect run: $out"
rc=0
# (the refusal comes after the check and a 1 s delay; kvbench then stalls out)
out=$("$KVBENCH" --port "$auth_port" --user bench --password-file "$DIR/wrong" --requests 10 --connections 1 \
  --timeout 3 --json 2>/dev/null) || rc=$?
((rc == 1)) || fail "a wrong password: status $rc, not 1: $out"
[[ $out == *"auth-failed invalid user name or password"* ]] || fail "a wrong password: $out"
[[ $out != *"not the password"* ]] || fail "kvbench printed the password: $out"
rc=0
"$KVBENCH" --port "$auth_port" --user bench --requests 1 2>/dev/null || rc=$?
((rc == 2)) || fail "--user without --password-file: status $rc, not 2"

echo "kvbench smoke test: ok"
