#!/usr/bin/env bash
# Checks, on this host, which capabilities `nodewatch agent` needs, and that
# it works the way the DaemonSet runs it: with --host-root pointing at
# read-only bind mounts of the host's directories. docs/deployment.md
# ("What was verified") reports what it found.
#
#   bash docs/deploy/check-privileges.sh build/runtime/agent/nodewatch
#
# Needs root, runc, busybox-static, iproute2, nsenter and setpriv. It keeps
# to itself. The agent watches only a private copy of runc that nothing but
# this script executes, so other agents and tests on the host see no
# difference. The agent runs in a mount namespace and a network namespace
# of its own (TC touches nothing outside them). It pins under a unique
# directory. Each case runs the agent under a reduced capability bounding
# set, as systemd's CapabilityBoundingSet= does for a root service, drives
# one busybox container through the copy the way containerd's shim does
# (create, read the pidfile, start, kill, delete), and checks what the
# agent saw.
set -euo pipefail
nw=$(realpath "$1")
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root"; exit 77; }
for tool in runc busybox setpriv nsenter unshare ip tc; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: no $tool"; exit 77; }
done

work=$(mktemp -d /tmp/nw-privcheck-XXXXXX)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
  runc --root "$work/runc-state" delete -f nwpc 2>/dev/null || true
  # KEEP=1 keeps the agents' output for a look.
  if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The runtime nobody else runs, and a busybox bundle.
mkdir -p "$work/bin" "$work/bundle/rootfs/bin" "$work/runc-state"
cp "$(command -v runc)" "$work/bin/runc"
cp "$(readlink -f "$(command -v busybox)")" "$work/bundle/rootfs/bin/busybox"
for x in sh sleep; do ln -s busybox "$work/bundle/rootfs/bin/$x"; done
mkdir -p "$work/bundle/rootfs/"{proc,sys,dev,tmp,etc}
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "60"]
c["root"]["readonly"] = False
json.dump(c, open(p, "w"))
EOF

# run_case NAME CAPS: runs the agent with bounding set CAPS (setpriv
# syntax), drives the container, and leaves what happened in
# $work/NAME.{out,err,tc,tl,pin}.
run_case() {
  local name=$1 caps=$2 pin=/sys/fs/bpf/nw-privcheck-$$-$1
  rm -f "$work/bundle/pid"
  # The agent's own namespaces: a fake host root of read-only bind mounts
  # (/proc, /tmp holding the bundle, /usr/bin holding only the runc copy)
  # and a network namespace with one veth pair, one end for --tc-iface.
  unshare --mount --net --propagation private bash -c '
    set -e
    work=$1; shift
    mkdir -p "$work/host/proc" "$work/host/tmp" "$work/host/usr/bin"
    mount --rbind /proc "$work/host/proc"
    mount --bind /tmp "$work/host/tmp"
    mount -o remount,bind,ro "$work/host/tmp"
    mount --bind "$work/bin" "$work/host/usr/bin"
    mount -o remount,bind,ro "$work/host/usr/bin"
    ip link set lo up
    ip link add nwpc0 type veth peer name nwpc1
    ip link set nwpc0 up
    exec "$@"' _ "$work" \
    setpriv --bounding-set=-all,"$caps" --inh-caps=-all -- \
    "$nw" agent --host-root "$work/host" --listen 127.0.0.1:0 -o json \
      --state-root '' --pin-path "$pin" --tc-iface nwpc0 \
      >"$work/$name.out" 2>"$work/$name.err" &
  agent_pid=$!
  local t=0
  until grep -q 'node facade listening\|cannot watch' "$work/$name.err" 2>/dev/null; do
    sleep 0.1; t=$((t + 1))
    [ $t -lt 200 ] || { echo "$name: the agent did not start"; cat "$work/$name.err"; return 1; }
  done
  if grep -q 'cannot watch' "$work/$name.err"; then
    wait "$agent_pid" || true
    agent_pid=""
    return 0
  fi
  local port
  port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$work/$name.err" | head -1)
  # The shim's part: create (held until the pidfile watch is placed), read
  # the pidfile (held until the container is registered), start.
  "$work/bin/runc" --root "$work/runc-state" create --bundle "$work/bundle" \
    --pid-file "$work/bundle/pid" nwpc
  cat "$work/bundle/pid" >/dev/null
  "$work/bin/runc" --root "$work/runc-state" start nwpc
  sleep 1
  nsenter --net="/proc/$agent_pid/ns/net" tc filter show dev nwpc0 ingress >"$work/$name.tc" 2>&1 || true
  nsenter --net="/proc/$agent_pid/ns/net" "$nw" --node "127.0.0.1:$port" \
    traceloop list -o json >"$work/$name.tl" 2>&1 || true
  ls "$pin" >"$work/$name.pin" 2>&1 || true
  "$work/bin/runc" --root "$work/runc-state" kill nwpc KILL
  sleep 1.5
  "$work/bin/runc" --root "$work/runc-state" delete -f nwpc
  kill -TERM "$agent_pid"
  wait "$agent_pid" || echo "$name: agent exit $?" >>"$work/$name.err"
  agent_pid=""
  # The agent removes its pin; the 0700 directory stays.
  [ -e "$pin/containers" ] && echo "$name: pin left behind" >>"$work/$name.err"
  rmdir "$pin" || echo "$name: cannot remove $pin" >>"$work/$name.err"
  return 0
}

# report NAME: one line per feature.
report() {
  local name=$1 f=$work/$1
  printf '%-20s' "$name"
  if grep -q 'cannot watch' "$f.err"; then
    echo "agent refused to start: $(grep -o 'error="[^"]*' "$f.err" | head -1 | cut -c8-90)"
    return
  fi
  grep -q '"type":"added".*"id":"nwpc".*"held":true' "$f.out" && printf ' detect=held' || printf ' detect=NO'
  grep -q '"type":"removed".*"id":"nwpc"' "$f.out" && printf ' exit=yes' || printf ' exit=NO'
  grep -q 'nw_dispatch' "$f.tc" && printf ' tc=yes' || printf ' tc=NO'
  grep -q '"name":"nwpc"' "$f.tl" && printf ' traceloop=yes' || printf ' traceloop=NO'
  grep -q '^containers$' "$f.pin" && printf ' pin=yes' || printf ' pin=NO'
  grep -q 'agent exit\|left behind' "$f.err" && printf ' stop=BAD' || printf ' stop=clean'
  echo
  # The warnings and errors, less one that shutdown may log whatever the
  # capabilities (the edge outlives the runtime watcher by a moment).
  grep -o 'level=\(warn\|error\) msg="[^"]*"' "$f.err" | sort -u \
    | grep -v 'the runtime watcher is gone' | sed 's/^/    /' || true
}

# docs/deploy/nodewatch.service's CapabilityBoundingSet=, then without each
# of its members in turn (CAP_DAC_READ_SEARCH matters only for files of
# other users, which this check has none of).
unit=+sys_admin,+net_admin,+sys_ptrace,+dac_read_search
run_case unit-set "$unit"
run_case no-dac_read_search +sys_admin,+net_admin,+sys_ptrace
run_case no-sys_ptrace +sys_admin,+net_admin,+dac_read_search
run_case no-net_admin +sys_admin,+sys_ptrace,+dac_read_search
# CAP_BPF and CAP_PERFMON cannot stand in for CAP_SYS_ADMIN: fanotify
# permission events need it.
run_case no-sys_admin +bpf,+perfmon,+net_admin,+sys_ptrace,+dac_read_search
for c in unit-set no-dac_read_search no-sys_ptrace no-net_admin no-sys_admin; do
  report "$c"
done
