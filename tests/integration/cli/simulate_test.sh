#!/usr/bin/env bash
# `nodewatch simulate`: deterministic output with every CONTRACTS.md key,
# and usage errors/bad input exit 2 with a message naming the problem.
set -euo pipefail
nw=$1 demo=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib.sh"

"$nw" simulate "$demo" -o json >"$tmp/a" 2>/dev/null
"$nw" simulate "$demo" -o json >"$tmp/b" 2>/dev/null
cmp -s "$tmp/a" "$tmp/b" || fail "two runs differ"
pass "byte-identical across runs"
[ "$(wc -l <"$tmp/a")" -eq 6 ] || fail "expected 6 events, got $(wc -l <"$tmp/a")"
keys='"type":"[a-z_]*","seq":[0-9]*,"ts_ns":[0-9]*,"id":"[^"]*","name":"[^"]*","pid":[0-9]*,"runtime":"[a-z]*","mntns":[0-9]*,"mntns_id64":[0-9]*,"netns":[0-9]*,"bundle":"[^"]*","initial":(true|false),"held":(true|false),"sandbox":(true|false),"k8s":\{"namespace":"[^"]*","pod":"[^"]*","container":"[^"]*","pod_uid":"[^"]*"\}'
n=$(grep -cE "^\{$keys(,\"reason\":\"[^\"]*\")?\}$" "$tmp/a")
[ "$n" -eq 6 ] || fail "only $n of 6 lines have every key in order"
pass "every line has the contract's keys in order"
grep -q '^{"type":"added","seq":1,"ts_ns":1763932212024000000,' "$tmp/a" \
  || fail "ts_ns does not come from the scenario's virtual clock"
grep -q '"type":"added".*"name":"nginx".*"held":true,"sandbox":false,"k8s":{"namespace":"shop","pod":"web-7d9f","container":"nginx"' "$tmp/a" \
  || fail "the k8s container is not named from its annotations"
grep -q '"name":"quirky_hopper"' "$tmp/a" || fail "conmon's -n name is lost"
grep -q '"type":"detection_failed".*"reason":"pidfile: ' "$tmp/a" \
  || fail "a bad pidfile does not give detection_failed with a reason"
[ "$(grep -c '"type":"removed"' "$tmp/a")" -eq 2 ] || fail "expected 2 removals"
pass "names, k8s fields, failure and removals"

# Bad input: named line and field, exit 2, nothing printed on stdout.
head -1 "$demo" >"$tmp/bad.jsonl"
echo '{"kind": "exit", "at_ms": 1, "pid": 1, "colour": "red"}' >>"$tmp/bad.jsonl"
rc=0; "$nw" simulate "$tmp/bad.jsonl" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ $rc -eq 2 ] || fail "bad scenario: exit $rc, want 2"
grep -q "record 2, field 'colour': unknown field" "$tmp/err" || fail "error does not name the record and field: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "bad scenario printed results"
pass "bad scenario rejected with record and field"
head -c 100 "$demo" >"$tmp/truncated.jsonl"
expect_exit 2 "truncated scenario" "$nw" simulate "$tmp/truncated.jsonl"
expect_exit 2 "missing scenario file" "$nw" simulate "$tmp/nope.jsonl"
expect_exit 2 "wrong -o" "$nw" simulate "$demo" -o yaml
expect_exit 2 "unknown subcommand" "$nw" frobnicate
expect_exit 2 "unknown flag" "$nw" ps --colour
expect_exit 2 "bad selector" "$nw" ps --select 'colour=red'
expect_exit 2 "bad --node" "$nw" --node nohost ps
expect_exit 0 "--help" "$nw" --help
expect_exit 0 "agent --help" "$nw" agent --help
printf '[agent]\nhold-deadline = "soon"\n' >"$tmp/bad.conf"
expect_exit 2 "bad config value" "$nw" agent --config "$tmp/bad.conf"
expect_exit 2 "--insecure-loopback with a non-loopback --listen" "$nw" agent --insecure-loopback --listen 10.1.2.3:7415
expect_exit 2 "relative --pin-path" "$nw" agent --pin-path rel/dir --listen 127.0.0.1:0
printf '[agent]\npin-path = "rel/dir"\n' >"$tmp/pin.conf"
expect_exit 2 "relative pin-path in the config file" "$nw" agent --config "$tmp/pin.conf" --listen 127.0.0.1:0
# --record: the file is created before anything else (no root needed to
# see it refused).
rc=0; "$nw" agent --record "$tmp/no/such/dir/rec.jsonl" --listen 127.0.0.1:0 \
  >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 2 ] || fail "unwritable --record: exit $rc, want 2"
grep -q "cannot record: the --record file cannot be written.*cannot write '$tmp/no/such/dir/rec.jsonl': No such file or directory" "$tmp/err" \
  || fail "unwritable --record: unclear message: $(cat "$tmp/err")"
pass "unwritable --record (exit 2, named)"
expect_exit 2 "--record with --scenario" "$nw" agent --record "$tmp/r.jsonl" --scenario "$demo"
expect_exit 2 "--record-max-mib out of range" "$nw" agent --record "$tmp/r.jsonl" --record-max-mib 65
printf 'colour = "red"\n' >"$tmp/extra.conf"
expect_exit 2 "unknown config key" "$nw" agent --config "$tmp/extra.conf"
expect_exit 2 "--insecure-loopback with a non-loopback --node" "$nw" --insecure-loopback --node 10.1.2.3:7415 ps
# A list of nodes is asked at once (multinode_test.sh); none answering is 1.
expect_exit 1 "a list of nodes, none up" "$nw" --node 127.0.0.1:1,127.0.0.1:2 ps
