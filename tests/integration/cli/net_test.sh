#!/usr/bin/env bash
# `nodewatch net` and the TC side of the command line: the agent's --tc,
# --no-tc, --tc-iface and --tc-program checks (usage errors exit 2 before
# anything runs), `net` against an agent under --no-tc (exit 1, said on
# stderr), and `ps -o wide` there (exit 0, "-" for the counters).
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
: >"$tmp/prog.o"
: >"$tmp/prog.c"
mkdir "$tmp/dir.o"
l=(--listen 127.0.0.1:0 --scenario "$demo")
refused "--no-tc with --tc-iface" "$nw" agent --no-tc --tc-iface eth0 "${l[@]}"
refused "--no-tc with --tc-program" "$nw" agent --no-tc --tc-program "$tmp/prog.o:tc" "${l[@]}"
refused "--tc-program without ':'" "$nw" agent --tc-program "$tmp/prog.o" "${l[@]}"
refused "--tc-program without SECTION" "$nw" agent --tc-program "$tmp/prog.o:" "${l[@]}"
refused "--tc-program without FILE" "$nw" agent --tc-program ":tc" "${l[@]}"
refused "--tc-program not a .o" "$nw" agent --tc-program "$tmp/prog.c:tc" "${l[@]}"
refused "--tc-program missing file" "$nw" agent --tc-program "$tmp/nope.o:tc" "${l[@]}"
refused "--tc-program a directory" "$nw" agent --tc-program "$tmp/dir.o:tc" "${l[@]}"
refused "--tc-iface with '/'" "$nw" agent --tc-iface a/b "${l[@]}"
refused "--tc-iface of 16 characters" "$nw" agent --tc-iface 0123456789abcdef "${l[@]}"
refused "--tc-iface with a space" "$nw" agent --tc-iface "eth 0" "${l[@]}"
refused "empty --tc-iface" "$nw" agent --tc-iface "" "${l[@]}"
refused "--tc-iface without a value" "$nw" agent "${l[@]}" --tc-iface
printf '[agent]\ntc = false\ntc-iface = ["eth0"]\n' >"$tmp/notc.conf"
refused "tc = false with tc-iface in the config file" "$nw" agent --config "$tmp/notc.conf" "${l[@]}"
printf '[agent]\ntc-program = "%s"\n' "$tmp/nope.o:tc" >"$tmp/prog.conf"
refused "a missing tc-program in the config file" "$nw" agent --config "$tmp/prog.conf" "${l[@]}"
rc=0; timeout 20 "$nw" agent --tc-program "$tmp/nope.o:tc" "${l[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
grep -q "bad --tc-program.*cannot read '$tmp/nope.o': No such file or directory" "$tmp/err" \
  || fail "missing --tc-program: unclear message: $(cat "$tmp/err")"
rc=0; timeout 20 "$nw" agent --no-tc --tc-iface eth0 "${l[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
grep -q -- "--tc-iface and --tc-program need TC" "$tmp/err" \
  || fail "--no-tc with --tc-iface: unclear message: $(cat "$tmp/err")"
pass "TC flag errors name the problem"
expect_exit 2 "net -o wide" "$nw" net -o wide
expect_exit 2 "net with a bad selector" "$nw" net --select 'colour=red'
expect_exit 2 "net with an unknown flag" "$nw" net --colour
"$nw" agent --help >"$tmp/help"
for words in "--tc,--no-tc" "--tc-iface NAME" "--tc-program FILE.o:SECTION" \
  "on by default" "host-side veths" "counters program"; do
  grep -q -- "$words" "$tmp/help" || fail "agent --help does not say '$words'"
done
"$nw" net --help | grep -q -- "-o,--output" || fail "net --help lacks -o"
pass "--help shows the TC flags and net"

# Valid TC flags are accepted (a scripted kernel attaches nothing).
printf '[agent]\ntc-iface = ["eth0"]\n' >"$tmp/tc.conf"
"$nw" agent --config "$tmp/tc.conf" --tc-iface lo --tc-program "$tmp/prog.o:classifier" \
  "${l[@]}" >/dev/null 2>"$tmp/tc.err" &
agent_pid=$!
wait_for 20 "the agent with TC flags to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/tc.err"
kill -TERM "$agent_pid"; rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ $rc -eq 0 ] || fail "agent with TC flags: exit $rc: $(cat "$tmp/tc.err")"
pass "valid --tc-iface and --tc-program (and tc-iface in the config file)"

# An agent under --no-tc: `net` fails, `ps -o wide` does not.
"$nw" agent "${l[@]}" --no-tc >/dev/null 2>"$tmp/agent.err" &
agent_pid=$!
wait_for 20 "the agent to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/agent.err"
port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/agent.err" | head -1)
node="127.0.0.1:$port"
wait_for 20 "the scenario to add nginx" bash -c \
  "'$nw' --node $node ps -o json | grep -q '\"name\":\"nginx\"'"
for fmt in table json; do
  rc=0; "$nw" --node "$node" net -o $fmt >"$tmp/net" 2>"$tmp/net.err" || rc=$?
  [ $rc -eq 1 ] || fail "net -o $fmt under --no-tc: exit $rc, want 1"
  [ ! -s "$tmp/net" ] || fail "net -o $fmt under --no-tc printed: $(cat "$tmp/net")"
  grep -q 'msg="net failed".*runs without TC (--no-tc' "$tmp/net.err" \
    || fail "net under --no-tc: unclear message: $(cat "$tmp/net.err")"
done
pass "net under --no-tc: exit 1, says why"
"$nw" --node "$node" ps -o wide >"$tmp/wide" 2>"$tmp/wide.err"
[ ! -s "$tmp/wide.err" ] || fail "ps -o wide under --no-tc logged: $(cat "$tmp/wide.err")"
head -1 "$tmp/wide" | grep -qE '^ID +NAME .*NETNS +RX_PKTS +RX_BYTES +TX_PKTS +TX_BYTES +BUNDLE$' \
  || fail "ps -o wide header: $(head -1 "$tmp/wide")"
grep -qE 'nginx .* +- +- +- +- +/run/' "$tmp/wide" \
  || fail "ps -o wide under --no-tc lacks '-' counters: $(cat "$tmp/wide")"
pass "ps -o wide under --no-tc: '-' for the counters"
"$nw" --node "$node" ps -o table >"$tmp/table"
grep -q RX_ "$tmp/table" && fail "ps -o table shows counters"
kill -TERM "$agent_pid"; rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ $rc -eq 0 ] || fail "agent exit $rc after SIGTERM"
expect_exit 1 "net with no agent" "$nw" --node "$node" net
