#!/usr/bin/env bash
# etcd_put_smoke.sh: ctest's quick check that etcd_put (T10's baseline) works,
# and etcd_grpc_put, the same load through etcd's gRPC API, which takes the
# same options (label "bench"; skipped, status 77, where etcd is not installed).
#
# Usage: etcd_put_smoke.sh ETCD_PUT|ETCD_GRPC_PUT
#
# Checks, in a few seconds, against a one-member etcd it starts on free
# loopback ports (stopped by PID): usage errors exit 2; 300 puts over 8
# connections are all answered without error and land under --prefix;
# --batch and --watchers work; --to leader finds the member; a dead endpoint ends in failure (exit 1,
# connection errors counted) within --timeout.
set -euo pipefail

ETCD_PUT=$(realpath "$1")
readonly ETCD_PUT
command -v etcd >/dev/null 2>&1 || { echo "SKIP: etcd is not installed (Debian: etcd-server)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
DIR=$(mktemp -d /tmp/etcd-put-smoke.XXXXXX)
readonly DIR
ETCD_PID=""

fail() {
  echo "FAIL: $*" >&2
  [[ -s $DIR/etcd.log ]] && { echo "--- etcd.log" >&2; tail -n 10 "$DIR/etcd.log" >&2; }
  exit 1
}

cleanup() {
  if [[ -n $ETCD_PID ]]; then
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    timeout 5 tail --pid="$ETCD_PID" -f /dev/null 2>/dev/null || kill -KILL "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
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

# 1. Usage errors.
for args in "" "--endpoints http://192.0.2.1:2379" "--endpoints http://127.0.0.1:1 --to nobody" \
  "--endpoints http://127.0.0.1:1 --connections 0"; do
  rc=0
  # shellcheck disable=SC2086  # word splitting wanted
  "$ETCD_PUT" $args >/dev/null 2>&1 || rc=$?
  ((rc == 2)) || fail "etcd_put $args: status $rc, not 2"
done

# 2. A one-member etcd.
client=$(free_port) peer=$(free_port)
while [[ $peer == "$client" ]]; do peer=$(free_port); done
URL=http://127.0.0.1:$client
etcd --name smoke --data-dir "$DIR/data" --logger zap --log-outputs stderr \
  --listen-client-urls "$URL" --advertise-client-urls "$URL" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "smoke=http://127.0.0.1:$peer" </dev/null >"$DIR/etcd.log" 2>&1 &
ETCD_PID=$!
for ((i = 0; i < 100; i++)); do
  curl -fsS -m 1 -X POST -d '{}' "$URL/v3/maintenance/status" 2>/dev/null | grep -q '"leader"' && break
  kill -0 "$ETCD_PID" 2>/dev/null || fail "etcd exited"
  sleep 0.1
done
((i < 100)) || fail "etcd did not answer within 10 s"

# 3. 300 puts, 8 connections: all answered, no error, the keys under --prefix.
out=$("$ETCD_PUT" --json --endpoints "$URL" --connections 8 --requests 300 --keys 100 --prefix /smoke/) ||
  fail "etcd_put --requests 300 failed: $out"
[[ $(field "$out" ok) -ge 300 && $(field "$out" errors) == 0 ]] || fail "300 puts: $out"
[[ $(field "$out" p99) != 0.0 ]] || fail "no latency recorded: $out"
range=$(curl -fsS -m 2 -X POST -d '{"key":"L3Ntb2tlLw==","range_end":"L3Ntb2tlMA==","count_only":true}' \
  "$URL/v3/kv/range") || fail "range of /smoke/ failed"
count=$(sed -n 's/.*"count":"\([0-9]*\)".*/\1/p' <<<"$range")
[[ -n $count && $count -ge 1 && $count -le 100 ]] || fail "keys under /smoke/: '$range' (want 1-100)"

# 3b. --batch 10 --watchers 2: txns of 10 puts (answered counts puts), two
# watch streams on the prefix, no error; --batch above --keys is bad usage.
out=$("$ETCD_PUT" --json --endpoints "$URL" --connections 4 --requests 200 --keys 1000 --batch 10 --watchers 2 \
  --prefix /smokeb/) || fail "etcd_put --batch 10 --watchers 2 failed: $out"
[[ $(field "$out" ok) -ge 200 && $(field "$out" errors) == 0 && $out == *'"batch":10,"watchers":2'* ]] ||
  fail "--batch 10 --watchers 2: $out"
# etcd_grpc_put counts the events its watchers read.
[[ $out != *'"watch_events":'* || $(field "$out" watch_events) -gt 0 ]] || fail "--watchers 2 read no event: $out"
range=$(curl -fsS -m 2 -X POST -d '{"key":"L3Ntb2tlYi8=","range_end":"L3Ntb2tlYjA=","count_only":true}' \
  "$URL/v3/kv/range") || fail "range of /smokeb/ failed"
count=$(sed -n 's/.*"count":"\([0-9]*\)".*/\1/p' <<<"$range")
[[ -n $count && $count -ge 10 ]] || fail "keys under /smokeb/: '$range' (want at least 10)"
rc=0
"$ETCD_PUT" --endpoints "$URL" --keys 5 --batch 6 >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "--batch 6 --keys 5: status $rc, not 2"

# 4. --to leader: the one member; the report names it.
out=$("$ETCD_PUT" --json --endpoints "http://127.0.0.1:$(free_port),$URL" --to leader --requests 50 --timeout 2) ||
  fail "etcd_put --to leader failed: $out"
[[ $out == *"\"target\":\"$URL\""* && $out == *'"to":"leader"'* ]] || fail "--to leader: $out"

# 5. A dead endpoint: failure within --timeout, counted as connection errors.
rc=0
out=$(timeout 10 "$ETCD_PUT" --json --endpoints "http://127.0.0.1:$(free_port)" --connections 2 --duration 5 \
  --timeout 1 2>/dev/null) || rc=$?
((rc == 1)) || fail "a dead endpoint: status $rc, not 1: $out"
[[ $(field "$out" connection_errors) -gt 0 ]] || fail "a dead endpoint: no connection errors counted: $out"
echo "$(basename "$ETCD_PUT") smoke: ok"
