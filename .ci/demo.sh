#!/usr/bin/env bash
# README.md's run command: builds nodewatch if needed (installing what is
# missing, as .ci/test.sh does), starts the agent on this node's real kernel,
# runs a few busybox containers through runc the way containerd's shim does
# (create, read the pidfile, start), and shows them appear — held before
# their entrypoint, with pids and namespaces — and disappear.
#
#   bash .ci/demo.sh             the live demo (root; needs runc, installed)
#   bash .ci/demo.sh simulate    the same agent on the bundled scenario
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NODEWATCH_BUILD_DIR:-build}
nw=$build_dir/runtime/agent/nodewatch
if [ ! -x "$nw" ] || ! command -v runc >/dev/null; then
  NODEWATCH_SKIP_TESTS=1 bash .ci/test.sh >&2
fi
if [ "${1:-}" = simulate ]; then
  shift
  exec "$nw" simulate docs/scenarios/demo.jsonl "$@"
fi
[ "$(id -u)" -eq 0 ] || { echo "the live demo needs root (fanotify, BPF)" >&2; exit 1; }

tmp=$(mktemp -d)
agent=""
cleanup() {
  for id in demo-1 demo-2 demo-3; do
    runc --root "$tmp/runc" delete --force "$id" >/dev/null 2>&1 || true
  done
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# A busybox bundle, as in docs/ and the integration tests.
mkdir -p "$tmp/bundle/rootfs/"{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$tmp/bundle/rootfs/bin/"
for t in sh echo sleep cat; do ln -s busybox "$tmp/bundle/rootfs/bin/$t"; done
(cd "$tmp/bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"readonly": true/"readonly": false/' \
       -e 's|"sh"$|"sh", "-c", "echo hello from $(hostname); sleep 2"|' \
       "$tmp/bundle/config.json"

# The demo's own CA and certificates: agent and client talk mutual TLS.
"$nw" certs init --dir "$tmp/tls" >/dev/null
echo "== starting the agent (events below: one line each)"
"$nw" agent --listen 127.0.0.1:0 --tls-dir "$tmp/tls" --poll-interval 100 >/dev/stdout 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 200); do
  grep -q 'listen=127.0.0.1:[0-9]' "$tmp/agent.log" && break
  kill -0 "$agent" 2>/dev/null || { cat "$tmp/agent.log" >&2; exit 1; }
  sleep 0.05
done
port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/agent.log" | head -1)

run_container() { # as containerd's shim drives runc
  local id=$1 pidfile=$tmp/$1.pid
  runc --root "$tmp/runc" create --bundle "$tmp/bundle" --pid-file "$pidfile" "$id" \
    >"$tmp/$id.out" 2>&1
  cat "$pidfile" >/dev/null   # this read is held until the agent has seen it
  runc --root "$tmp/runc" start "$id"
}
wait_stopped() {
  for _ in $(seq 100); do
    runc --root "$tmp/runc" state "$1" 2>/dev/null | grep -q '"status": "stopped"' && return
    sleep 0.1
  done
}

for id in demo-1 demo-2 demo-3; do run_container "$id"; done
sleep 0.5
echo "== nodewatch ps, while they run"
"$nw" --tls-dir "$tmp/tls" --node "127.0.0.1:$port" ps -o wide
for id in demo-1 demo-2 demo-3; do
  wait_stopped "$id"
  runc --root "$tmp/runc" delete "$id"
done
sleep 0.5
echo "== agent log"
cat "$tmp/agent.log"
