#!/usr/bin/env bash
# docs/examples/embedding: the agent graph embedded in a host program's own
# actor system prints, through the node facade, the events `nodewatch
# simulate` prints for the same scenario (simulate's are deterministic; the
# example plays in real time, so only ts_ns may differ).
set -euo pipefail
example=$1 nw=$2 demo=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../cli/lib.sh"

strip_ts() { sed -e 's/"ts_ns":[0-9]*,//' "$1"; }

"$nw" simulate "$demo" -o json >"$tmp/simulate.json" 2>/dev/null
strip_ts "$tmp/simulate.json" >"$tmp/want"
[ "$(wc -l <"$tmp/want")" -ge 4 ] || fail "simulate printed too little: $(cat "$tmp/want")"

# Every event, sandboxes included, until the scenario has played.
rc=0
"$example" "$demo" --all --json >"$tmp/all.json" 2>"$tmp/all.err" || rc=$?
[ $rc -eq 0 ] || { cat "$tmp/all.err" >&2; fail "example --all exit $rc, want 0"; }
strip_ts "$tmp/all.json" >"$tmp/got"
diff -u "$tmp/want" "$tmp/got" >&2 || fail "example --all --json differs from simulate -o json"
grep -q '"ts_ns":0,' "$tmp/all.json" && fail "an event without ts_ns"
grep -q 'subscribed: 0 container(s)' "$tmp/all.err" || fail "subscribed before the timeline played: $(cat "$tmp/all.err")"
grep -q 'features on: .*scenario' "$tmp/all.err" || fail "status through the facade: $(cat "$tmp/all.err")"
pass "--all --json: the $(wc -l <"$tmp/want") events simulate prints, in order"

# Without --all the facade hides the sandbox.
"$example" "$demo" --json >"$tmp/nosandbox.json" 2>/dev/null
grep -v '"sandbox":true' "$tmp/want" >"$tmp/want-nosandbox"
strip_ts "$tmp/nosandbox.json" | diff -u "$tmp/want-nosandbox" - >&2 \
  || fail "example --json (no sandboxes) differs"
pass "without --all: the same minus the sandbox"

# The plain format, field by field.
"$example" "$demo" >"$tmp/plain" 2>/dev/null
grep -qx 'added seq=2 name=nginx id=c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc pid=4102' "$tmp/plain" \
  || fail "plain line for nginx: $(cat "$tmp/plain")"
grep -q '^detection_failed seq=4 .* reason="pidfile: ' "$tmp/plain" || fail "plain detection_failed: $(cat "$tmp/plain")"
pass "plain lines"

# After N events it stops, long before the scenario's end (2 s).
t0=$(date +%s%N)
"$example" "$demo" --all --json --events 2 >"$tmp/two.json" 2>/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
head -2 "$tmp/want" | diff -u - <(strip_ts "$tmp/two.json") >&2 || fail "--events 2 printed other lines"
[ $ms -lt 1500 ] || fail "--events 2 took $ms ms, the scenario's end is at 2000 ms"
pass "--events 2 stops after two events ($ms ms)"

# More events than will ever come: the deadline, exit 1.
rc=0
"$example" "$demo" --all --json --events 100 --deadline-ms 2500 >"$tmp/late.json" 2>"$tmp/late.err" || rc=$?
[ $rc -eq 1 ] || fail "deadline passed: exit $rc, want 1"
grep -q 'deadline passed' "$tmp/late.err" || fail "the deadline is not reported"
[ "$(wc -l <"$tmp/late.json")" -eq "$(wc -l <"$tmp/want")" ] || fail "deadline run printed $(wc -l <"$tmp/late.json") lines"
pass "the deadline ends a wait for events that never come (exit 1)"

expect_exit 2 "a scenario that does not exist" "$example" "$tmp/nope.jsonl"
grep -q 'cannot start the agent: .*scenario' "$tmp/stderr" || fail "no reason given: $(cat "$tmp/stderr")"
expect_exit 2 "no scenario" "$example"
