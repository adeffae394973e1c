#!/usr/bin/env bash
# Several nodes at once (--node A,B): two agents on the demo scenario over
# mutual TLS; ps, net, status and traceloop list merged with a NODE column
# or a `node` field; a node that is down is reported and the others still
# answer (exit 1); events merged from both, and a node killed mid-stream is
# reported while the other's events go on; traceloop show refuses several
# nodes; a bad node list is a usage error.
set -euo pipefail
nw=$1 demo=$2
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
make_certs

# The demo's exits late, so the containers are there while we ask.
sed -e 's/"at_ms": 1500/"at_ms": 60000/; s/"at_ms": 1800/"at_ms": 60200/; s/"at_ms": 2000/"at_ms": 60500/' \
  "$demo" >"$tmp/scenario.jsonl"

start() { # NAME: an agent on port 0; sets port_NAME and pid_NAME
  "$nw" agent --scenario "$tmp/scenario.jsonl" --listen 127.0.0.1:0 -o json \
    >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pids+=($!)
  eval "pid_$1=$!"
  wait_for 20 "agent $1 to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/$1.err"
  eval "port_$1=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$1.err" | head -1)"
}
start a
start b
A=127.0.0.1:$port_a B=127.0.0.1:$port_b
wait_for 20 "agent a's containers" grep -q '"name":"nginx"' "$tmp/a.out"
wait_for 20 "agent b's containers" grep -q '"name":"nginx"' "$tmp/b.out"

# ps merged: JSON lines tagged with their node, both nodes there.
"$nw" --node "$A,$B" ps -o json >"$tmp/ps.json"
grep -q "^{\"node\":\"$A\".*\"name\":\"nginx\"" "$tmp/ps.json" || fail "ps misses a's nginx: $(cat "$tmp/ps.json")"
grep -q "^{\"node\":\"$B\".*\"name\":\"nginx\"" "$tmp/ps.json" || fail "ps misses b's nginx: $(cat "$tmp/ps.json")"
pass "ps -o json over two nodes, tagged"
"$nw" --node "$A,$B" ps >"$tmp/ps.txt"
head -1 "$tmp/ps.txt" | grep -q '^NODE ' || fail "ps table without a NODE column: $(cat "$tmp/ps.txt")"
[ "$(grep -c nginx "$tmp/ps.txt")" -eq 2 ] || fail "ps table: want nginx twice: $(cat "$tmp/ps.txt")"
pass "ps table over two nodes, with a NODE column"
# One node alone: the output as before (no node field).
"$nw" --node "$A" ps -o json | grep -q '"node"' && fail "one node's ps carries a node field"
pass "one node: no node field"

# A node that is down: reported, the others answer, exit 1.
rc=0; "$nw" --node "$A,127.0.0.1:1,$B" ps -o json >"$tmp/ps3" 2>"$tmp/ps3.err" || rc=$?
[ $rc -eq 1 ] || fail "a down node: exit $rc, want 1"
grep -q '127.0.0.1:1' "$tmp/ps3.err" || fail "the down node is not named: $(cat "$tmp/ps3.err")"
[ "$(grep -c nginx "$tmp/ps3")" -eq 2 ] || fail "the nodes up did not answer: $(cat "$tmp/ps3")"
pass "a down node is reported, the others answer"

"$nw" --node "$A,$B" status -o json >"$tmp/status"
[ "$(grep -c '"version"' "$tmp/status")" -eq 2 ] || fail "status: want two objects: $(cat "$tmp/status")"
grep -q "^{\"node\":\"$B\"" "$tmp/status" || fail "status lines without node"
pass "status over two nodes"
rc=0; "$nw" --node "$A,$B" net -o json >/dev/null 2>"$tmp/net.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'without TC' "$tmp/net.err" || fail "net over scenario agents: exit $rc: $(cat "$tmp/net.err")"
pass "net over two nodes says why each cannot answer"

expect_exit 2 "traceloop show over several nodes" "$nw" --node "$A,$B" traceloop show x
expect_exit 2 "a node twice" "$nw" --node "$A,$A" ps
expect_exit 2 "an empty entry" "$nw" --node "$A,,$B" ps
expect_exit 2 "a trailing comma" "$nw" --node "$A," ps

# events merged; b killed mid-stream: reported, a's stream goes on.
"$nw" --node "$A,$B" events -o json >"$tmp/events" 2>"$tmp/events.err" &
ev=$!; pids+=($ev)
wait_for 20 "a's snapshot" grep -q "^{\"node\":\"$A\".*\"type\":\"added\"" "$tmp/events"
wait_for 20 "b's snapshot" grep -q "^{\"node\":\"$B\".*\"type\":\"added\"" "$tmp/events"
# Other controllers coming and going over mutual TLS cut no one's stream
# (caf::openssl 0.17.6 dropped them: runtime/agent/openssl_error_queue.cpp).
for i in 1 2 3; do "$nw" --node "$A" ps >/dev/null; done
"$nw" --node "$A" status -o json >/dev/null
grep -q "went away" "$tmp/events.err" && fail "another controller leaving cut the stream: $(cat "$tmp/events.err")"
pass "other controllers come and go, the stream stays"
kill "$pid_b"
wait_for 20 "b reported gone" grep -q "$B went away" "$tmp/events.err"
kill -0 "$ev" || fail "events exited when one node went away"
pass "events merged; a lost node is reported and the stream goes on"
