#!/usr/bin/env bash
# `nodewatch agent --scenario` answers `ps -o json` and streams
# `events -o json` through its node facade on a loopback port of its own.
set -euo pipefail
nw=$1 demo=$2
tmp=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "${events_pid:-}" ] && kill "$events_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
make_certs

# The demo with its exits moved late enough for the client to be connected.
sed -e 's/"at_ms": 1500/"at_ms": 4000/; s/"at_ms": 1800/"at_ms": 4200/; s/"at_ms": 2000/"at_ms": 4500/' \
  "$demo" >"$tmp/scenario.jsonl"

# Port 0: the kernel picks a free port, so parallel tests never collide.
"$nw" agent --scenario "$tmp/scenario.jsonl" --listen 127.0.0.1:0 -o json \
  >"$tmp/agent.out" 2>"$tmp/agent.err" &
agent_pid=$!
wait_for 20 "the agent to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/agent.err"
port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/agent.err" | head -1)
node="127.0.0.1:$port"
pass "agent listens on $node"

"$nw" --node "$node" events -o json >"$tmp/events" 2>"$tmp/events.err" &
events_pid=$!
wait_for 20 "the podman container to be added" grep -q '"name":"quirky_hopper"' "$tmp/events"

"$nw" --node "$node" ps -o json >"$tmp/ps"
grep -q '"name":"nginx"' "$tmp/ps" || fail "ps does not list nginx: $(cat "$tmp/ps")"
grep -q '"type"' "$tmp/ps" && fail "ps lines must not carry type"
grep -q '"sandbox":true' "$tmp/ps" && fail "ps lists a sandbox without --all"
"$nw" --node "$node" ps --all -o json >"$tmp/ps-all"
grep -q '"sandbox":true' "$tmp/ps-all" || fail "ps --all does not list the sandbox"
NODEWATCH_NODES=$node "$nw" ps --select 'namespace=shop' >"$tmp/ps-sel"
grep -q nginx "$tmp/ps-sel" || fail "selector namespace=shop misses nginx"
grep -q quirky "$tmp/ps-sel" && fail "selector namespace=shop lets quirky_hopper through"
pass "ps: json, --all, --select, NODEWATCH_NODES"

wait_for 20 "both removals to stream" \
  bash -c "[ \$(grep -c '\"type\":\"removed\"' '$tmp/events') -eq 2 ]"
grep -q '"sandbox":true' "$tmp/events" && fail "events streams a sandbox"
# Every streamed line is an event line with seq; seqs strictly increase.
seqs=$(sed -n 's/.*"seq":\([0-9]*\),.*/\1/p' "$tmp/events" | tr '\n' ' ')
prev=0; for s in $seqs; do [ "$s" -gt "$prev" ] || fail "seq not increasing: $seqs"; prev=$s; done
pass "events: snapshot then live, in order ($seqs)"

"$nw" --node "$node" events --all -o json >"$tmp/events-all" 2>/dev/null &
all_pid=$!
wait_for 20 "events --all to stream the sandbox" grep -q '"sandbox":true' "$tmp/events-all"
pass "events --all streams sandboxes"

kill -TERM "$agent_pid"
rc=0; wait "$agent_pid" || rc=$?
agent_pid=""
[ $rc -eq 0 ] || fail "agent exit code $rc after SIGTERM: $(cat "$tmp/agent.err")"
pass "agent stops cleanly on SIGTERM"
rc=0; wait "$events_pid" || rc=$?
events_pid=""
[ $rc -eq 1 ] || fail "events client exit $rc when the agent went away, want 1"
wait "$all_pid" || true
grep -q "the agent went away" "$tmp/events.err" || fail "events client does not say the agent went away"
pass "events client reports the lost agent"
expect_exit 1 "ps with no agent" "$nw" --node "$node" ps

# A pidfile watcher still waiting for its read does not delay shutdown (its
# own timeout is 15 s).
head -1 "$demo" >"$tmp/pending.jsonl"
echo '{"kind": "exec", "at_ms": 1, "tid": 9, "mntns": 1, "argv": ["runc", "create", "--bundle", "/b", "--pid-file", "/b/pid", "pending"]}' >>"$tmp/pending.jsonl"
"$nw" agent --scenario "$tmp/pending.jsonl" --listen 127.0.0.1:0 >/dev/null 2>"$tmp/pending.err" &
agent_pid=$!
wait_for 20 "the pending scenario to play" grep -q 'scenario played to its end' "$tmp/pending.err"
kill -TERM "$agent_pid"
t0=$SECONDS
wait_for 5 "the agent to stop with a pidfile watch pending" bash -c "! kill -0 $agent_pid 2>/dev/null"
agent_pid=""
pass "shutdown with a pending pidfile watch took $((SECONDS - t0)) s"
