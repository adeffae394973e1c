#!/usr/bin/env bash
# `nodewatch traceloop` and the agent's --traceloop flags, without root: the
# flags' checks (usage errors exit 2 before anything runs), the commands'
# usage errors (exit 2 before connecting), every command against an agent
# without traceloop (a scenario with --traceloop none: exit 1, said on
# stderr, nothing on stdout), and against no agent at all (exit 1). The
# rings themselves need the real kernel: tests/integration/traceloop/.
set -euo pipefail
nw=$1 demo=$2
tmp=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
make_certs

# Every refused command below would otherwise run an agent: bound them.
refused() { expect_exit 2 "$1" timeout 20 "${@:2}"; }
l=(--listen 127.0.0.1:0 --scenario "$demo")
refused "a bad --traceloop selector" "$nw" agent --traceloop 'colour=red' "${l[@]}"
refused "--traceloop without '='" "$nw" agent --traceloop 'web' "${l[@]}"
refused "an empty --traceloop" "$nw" agent --traceloop '' "${l[@]}"
refused "--traceloop-memory 0" "$nw" agent --traceloop-memory 0 "${l[@]}"
refused "--traceloop-memory -1" "$nw" agent --traceloop-memory -1 "${l[@]}"
refused "--traceloop-memory over 1 TiB" "$nw" agent --traceloop-memory 1048577 "${l[@]}"
refused "--traceloop-memory not a number" "$nw" agent --traceloop-memory lots "${l[@]}"
refused "--traceloop without a value" "$nw" agent "${l[@]}" --traceloop
printf '[agent]\ntraceloop-memory = 0\n' >"$tmp/mem.conf"
refused "traceloop-memory = 0 in the config file" "$nw" agent --config "$tmp/mem.conf" "${l[@]}"
printf '[agent]\ntraceloop = "pod=;"\n' >"$tmp/sel.conf"
refused "a bad traceloop selector in the config file" "$nw" agent --config "$tmp/sel.conf" "${l[@]}"
rc=0; timeout 20 "$nw" agent --traceloop 'colour=red' "${l[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
grep -q "bad --traceloop.*unknown key 'colour'" "$tmp/err" \
  || grep -q "bad --traceloop.*colour" "$tmp/err" \
  || fail "bad --traceloop selector: unclear message: $(cat "$tmp/err")"
rc=0; timeout 20 "$nw" agent --traceloop-memory 0 "${l[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
grep -q -- "--traceloop-memory" "$tmp/err" \
  || fail "--traceloop-memory 0: unclear message: $(cat "$tmp/err")"
pass "traceloop flag errors name the problem"

refused "traceloop without a subcommand" "$nw" traceloop
refused "traceloop with an unknown subcommand" "$nw" traceloop pause
refused "traceloop show without C" "$nw" traceloop show
refused "traceloop show with two containers" "$nw" traceloop show a b
refused "traceloop show -o yaml" "$nw" traceloop show web -o yaml
refused "traceloop list -o msgpack" "$nw" traceloop list -o msgpack
refused "traceloop delete without C" "$nw" traceloop delete
refused "traceloop start with a bad selector" "$nw" traceloop start 'colour=red'
refused "traceloop stop with an argument" "$nw" traceloop stop web
refused "traceloop list --insecure-loopback with a non-loopback --node" "$nw" --insecure-loopback --node 10.0.0.1:7415 traceloop list
rc=0; "$nw" traceloop show >"$tmp/out" 2>"$tmp/err" || rc=$?
grep -q "C is required" "$tmp/err" || fail "show without C: unclear message: $(cat "$tmp/err")"
pass "traceloop usage errors exit 2 before connecting"

"$nw" agent --help >"$tmp/help"
for words in "--traceloop all|none|SELECTOR" "--traceloop-memory MIB" \
  "on by default for every" "non-sandbox container" "post-mortem" "evicted"; do
  grep -q -- "$words" "$tmp/help" || fail "agent --help does not say '$words'"
done
"$nw" traceloop --help >"$tmp/tlhelp"
for words in list show delete start stop; do
  grep -q -- "$words" "$tmp/tlhelp" || fail "traceloop --help lacks $words"
done
"$nw" traceloop show --help | grep -q -- "msgpack" || fail "show --help lacks msgpack"
pass "--help shows the traceloop flags and commands"

# Valid flags are accepted; on a scripted kernel there is no traceloop.
printf '[agent]\ntraceloop = "namespace=shop"\ntraceloop-memory = 64\n' >"$tmp/tl.conf"
"$nw" agent --config "$tmp/tl.conf" "${l[@]}" >/dev/null 2>"$tmp/tl.err" &
agent_pid=$!
wait_for 20 "the agent with traceloop flags to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/tl.err"
kill -TERM "$agent_pid"; rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ $rc -eq 0 ] || fail "agent with traceloop flags: exit $rc: $(cat "$tmp/tl.err")"
grep -q "no traceloop on a scripted kernel" "$tmp/tl.err" \
  || fail "the agent does not say a scenario runs without traceloop: $(cat "$tmp/tl.err")"
pass "valid --traceloop and --traceloop-memory (from the config file)"

# An agent under --traceloop none: every traceloop command fails, says why.
"$nw" agent "${l[@]}" --traceloop none --traceloop-memory 1 >/dev/null 2>"$tmp/agent.err" &
agent_pid=$!
wait_for 20 "the agent to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/agent.err"
port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/agent.err" | head -1)
node="127.0.0.1:$port"
grep -q "no traceloop on a scripted kernel" "$tmp/agent.err" \
  && fail "--traceloop none still says the scenario has no traceloop"
check_refused() { # WHAT ARGS...
  local what=$1; shift
  rc=0; "$nw" --node "$node" traceloop "$@" >"$tmp/tl" 2>"$tmp/tl.err" || rc=$?
  [ $rc -eq 1 ] || fail "traceloop $* without traceloop: exit $rc, want 1: $(cat "$tmp/tl.err")"
  [ ! -s "$tmp/tl" ] || fail "traceloop $* without traceloop printed: $(cat "$tmp/tl")"
  grep -q "msg=\"traceloop $what failed\".*runs without traceloop (--traceloop none" "$tmp/tl.err" \
    || fail "traceloop $* without traceloop: unclear message: $(cat "$tmp/tl.err")"
}
check_refused show show nginx
check_refused show show nginx -o json
check_refused show show nginx -o msgpack
check_refused list list
check_refused list list -o json
check_refused delete delete nginx
check_refused start start
check_refused start start 'namespace=shop'
check_refused stop stop
# The global options may follow the subcommands too.
rc=0; "$nw" traceloop list --node "$node" >/dev/null 2>"$tmp/tl.err" || rc=$?
[ $rc -eq 1 ] && grep -q "runs without traceloop" "$tmp/tl.err" \
  || fail "traceloop list --node after the subcommand: exit $rc: $(cat "$tmp/tl.err")"
pass "traceloop commands against an agent without traceloop: exit 1, say why"
kill -TERM "$agent_pid"; rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ $rc -eq 0 ] || fail "agent exit $rc after SIGTERM"
expect_exit 1 "traceloop list with no agent" "$nw" --node "$node" traceloop list
expect_exit 1 "traceloop show with no agent" "$nw" --node "$node" traceloop show web
