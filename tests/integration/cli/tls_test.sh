#!/usr/bin/env bash
# The agent's transport from the command line (issue 8; CONTRACTS.md "Remote
# access"; docs/tls.md), without root, on real loopback sockets:
# - `certs init`: files and modes, the refusal without --force, --force;
# - an agent without certificates runs, publishes nothing and says to run
#   `nodewatch certs init`; a client then gets a clear error;
# - mutual TLS end to end with the files of `certs init`: status (table and
#   json: exactly the four keys, registry_* and edge_* counters) and ps;
# - refusals, each with a clear client-side error while the agent keeps
#   serving a good client: a client certificate from another CA, a client
#   with --insecure-loopback, plain TCP bytes on the TLS port, a client with
#   no usable TLS directory;
# - --insecure-loopback: both sides work; only on loopback (exit 2); an
#   mTLS client against it is refused clearly; --help states the risk;
# - the transport options from the config file ([agent] and top level).
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
# No test may fall back to a real /var/lib/nodewatch/tls.
export NODEWATCH_TLS_DIR=$tmp/unset-tls-dir

# start_agent NAME ARGS...: an agent on the demo scenario, port 0; sets
# $port once it listens (or, with no facade, once it says so).
start_agent() {
  local name=$1; shift
  "$nw" agent --scenario "$demo" --listen 127.0.0.1:0 -o json "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  agent_pid=$!
}
wait_listening() {
  wait_for 20 "agent $1 to listen" grep -q 'listen=127.0.0.1:[0-9]' "$tmp/$1.err"
  port=$(sed -n 's/.*listen=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$1.err" | head -1)
}

# -- certs init ---------------------------------------------------------------
"$nw" certs init --dir "$tmp/tls" >"$tmp/init.out" 2>"$tmp/init.err" \
  || fail "certs init: $(cat "$tmp/init.err")"
for f in ca.crt ca.key node.crt node.key client.crt client.key; do
  grep -q "$tmp/tls/$f" "$tmp/init.out" || fail "certs init does not list $f: $(cat "$tmp/init.out")"
done
grep -q "copy .*ca.crt.*node.crt.*node.key.*client.crt.*client.key.* to every node and controller" "$tmp/init.out" \
  || fail "certs init does not say what to copy: $(cat "$tmp/init.out")"
grep -q "keep $tmp/tls/ca.key only here" "$tmp/init.out" \
  || fail "certs init does not say to keep ca.key: $(cat "$tmp/init.out")"
[ "$(stat -c %a "$tmp/tls")" = 700 ] || fail "tls dir mode $(stat -c %a "$tmp/tls")"
for f in ca.key node.key client.key; do
  [ "$(stat -c %a "$tmp/tls/$f")" = 600 ] || fail "$f mode $(stat -c %a "$tmp/tls/$f")"
done
pass "certs init writes the six files (dir 0700, keys 0600) and says what to copy"

cp "$tmp/tls/ca.crt" "$tmp/ca-before"
rc=0; "$nw" certs init --dir "$tmp/tls" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] || fail "certs init over existing files: exit $rc, want 1"
grep -q "refusing to overwrite $tmp/tls/ca.crt" "$tmp/err" || fail "unclear refusal: $(cat "$tmp/err")"
cmp -s "$tmp/ca-before" "$tmp/tls/ca.crt" || fail "a refused certs init changed ca.crt"
pass "certs init refuses to overwrite (exit 1, names the files, changes nothing)"

"$nw" certs init --dir "$tmp/forced" >/dev/null
cp "$tmp/forced/ca.crt" "$tmp/forced-before"
"$nw" certs init --dir "$tmp/forced" --force >"$tmp/out" || fail "certs init --force"
grep -q "new CA" "$tmp/out" || fail "certs init --force does not say it made a new CA"
cmp -s "$tmp/forced-before" "$tmp/forced/ca.crt" && fail "certs init --force kept the old CA"
pass "certs init --force replaces them with a new CA"

mkdir -m 755 "$tmp/open"
rc=0; "$nw" certs init --dir "$tmp/open" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "chmod 700" "$tmp/err" || fail "group-readable dir: exit $rc: $(cat "$tmp/err")"
pass "certs init refuses a group/other-accessible directory (exit 1, says chmod 700)"
expect_exit 2 "certs without a subcommand" "$nw" certs
expect_exit 2 "certs init with an argument" "$nw" certs init extra
expect_exit 2 "certs init --dir without a value" "$nw" certs init --dir

# Default directory: NODEWATCH_TLS_DIR.
NODEWATCH_TLS_DIR=$tmp/by-env "$nw" certs init >/dev/null || fail "certs init into NODEWATCH_TLS_DIR"
[ -f "$tmp/by-env/node.crt" ] || fail "certs init without --dir ignored NODEWATCH_TLS_DIR"
pass "certs init without --dir writes to \$NODEWATCH_TLS_DIR"

# -- an agent without certificates -------------------------------------------
start_agent nocerts --tls-dir "$tmp/empty"
wait_for 20 "the agent without certificates to say so" \
  grep -q 'no usable TLS certificates' "$tmp/nocerts.err"
grep -q 'NOT published' "$tmp/nocerts.err" && grep -q 'nodewatch certs init' "$tmp/nocerts.err" \
  && grep -q "tls_dir=$tmp/empty" "$tmp/nocerts.err" \
  || fail "the agent's log does not say what is wrong and what to run: $(cat "$tmp/nocerts.err")"
grep -q 'listen=' "$tmp/nocerts.err" && fail "the agent without certificates listens: $(cat "$tmp/nocerts.err")"
# It runs all the same: the scenario's containers come out on stdout.
wait_for 20 "the agent without certificates to report containers" \
  grep -q '"type":"added"' "$tmp/nocerts.out"
kill -0 "$agent_pid" || fail "the agent without certificates exited"
# A client finds nothing there.
rc=0; "$nw" --tls-dir "$tmp/tls" --node 127.0.0.1:1 ps >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "cannot reach the agent.*an agent without certificates publishes nothing" "$tmp/err" \
  || fail "client of an agent without certificates: exit $rc: $(cat "$tmp/err")"
kill "$agent_pid"; wait "$agent_pid" || fail "the agent without certificates did not stop cleanly"
pass "an agent without certificates runs, publishes nothing, says to run certs init"

# -- mutual TLS end to end -----------------------------------------------------
start_agent mtls --tls-dir "$tmp/tls"
mtls_pid=$agent_pid
wait_listening mtls
node=127.0.0.1:$port
grep -q 'transport="mutual TLS"' "$tmp/mtls.err" || fail "agent does not log its transport: $(cat "$tmp/mtls.err")"
good() { "$nw" --tls-dir "$tmp/tls" --node "$node" "$@"; }
wait_for 20 "ps over mutual TLS to list nginx" \
  bash -c "'$nw' --tls-dir '$tmp/tls' --node $node ps -o json | grep -q '\"name\":\"nginx\"'"
good status -o json >"$tmp/status.json" 2>"$tmp/err" || fail "status -o json: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/status.json")" -eq 1 ] || fail "status -o json is not one line: $(cat "$tmp/status.json")"
grep -Eq '^\{"version":"[^"]+","kernel":"[^"]*","features":\{[^{}]*\},"counters":\{[^{}]*\}\}$' "$tmp/status.json" \
  || fail "status -o json is not exactly {version, kernel, features, counters}: $(cat "$tmp/status.json")"
grep -Eq '"registry_added":[0-9]+' "$tmp/status.json" && grep -Eq '"edge_[a-z_]+":[0-9]+' "$tmp/status.json" \
  && grep -q '"scenario":true' "$tmp/status.json" \
  || fail "status -o json lacks registry_*/edge_* counters or features: $(cat "$tmp/status.json")"
good status >"$tmp/status.txt" || fail "status"
head -4 "$tmp/status.txt" | grep -q '^VERSION ' && grep -q '^KERNEL ' "$tmp/status.txt" \
  && grep -Eq '^FEATURES .*scenario=on' "$tmp/status.txt" && grep -Eq '^registry_added +[0-9]+$' "$tmp/status.txt" \
  || fail "status table: $(cat "$tmp/status.txt")"
sed -n '/^COUNTER /,$p' "$tmp/status.txt" | tail -n +2 | awk '{print $1}' >"$tmp/names"
sort -c "$tmp/names" || fail "status counters are not sorted: $(cat "$tmp/status.txt")"
expect_exit 2 "status -o wide" "$nw" --tls-dir "$tmp/tls" --node "$node" status -o wide
pass "mutual TLS: status (table, json with exactly four keys) and ps"

# Refusals, each clear on the client's side; the agent keeps serving.
"$nw" certs init --dir "$tmp/other" >/dev/null
rc=0; "$nw" --tls-dir "$tmp/other" --node "$node" ps >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "TLS handshake failed: check that both sides use certificates from the same CA, or both --insecure-loopback" "$tmp/err" \
  || fail "client from another CA: exit $rc: $(cat "$tmp/err")"
pass "a client certificate from another CA is refused (TLS handshake failed)"
rc=0; "$nw" --insecure-loopback --node "$node" status >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "TLS handshake failed" "$tmp/err" \
  || fail "--insecure-loopback client against mutual TLS: exit $rc: $(cat "$tmp/err")"
pass "an --insecure-loopback client against a mutual-TLS agent is refused (TLS handshake failed)"
rc=0; "$nw" --tls-dir "$tmp/empty" --node "$node" ps >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "no usable client certificate in $tmp/empty.*nodewatch certs init" "$tmp/err" \
  || fail "client without certificates: exit $rc: $(cat "$tmp/err")"
pass "a client without a TLS directory says what is missing and to run certs init"
# Plain TCP on the TLS port: bytes that are no TLS handshake, and one that
# stops half way.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3 # half a ClientHello
good ps -o json >/dev/null 2>"$tmp/err" || fail "ps while a half handshake is open: $(cat "$tmp/err")"
exec 3>&-
kill -0 "$mtls_pid" || fail "the agent died of plain TCP bytes"
good status -o json >/dev/null 2>"$tmp/err" || fail "status after the refusals: $(cat "$tmp/err")"
pass "plain TCP and a half handshake on the TLS port: the agent stays up and serves"

# -- --insecure-loopback -------------------------------------------------------
expect_exit 2 "agent --insecure-loopback with a non-loopback --listen" \
  timeout 20 "$nw" agent --insecure-loopback --listen 10.1.2.3:7415 --scenario "$demo"
expect_exit 2 "agent --insecure-loopback on 0.0.0.0" \
  timeout 20 "$nw" --insecure-loopback agent --listen 0.0.0.0:0 --scenario "$demo"
rc=0; "$nw" agent --insecure-loopback --listen 192.0.2.1:7415 --scenario "$demo" >/dev/null 2>"$tmp/err" || rc=$?
grep -q "loopback address only" "$tmp/err" || fail "unclear non-loopback refusal: $(cat "$tmp/err")"
expect_exit 2 "client --insecure-loopback to a non-loopback node" \
  "$nw" --insecure-loopback --node 192.0.2.1:7415 ps
start_agent anon --insecure-loopback
anon_pid=$agent_pid
wait_listening anon
grep -q 'transport="anonymous TLS' "$tmp/anon.err" && grep -q 'any local user can connect' "$tmp/anon.err" \
  || fail "the --insecure-loopback agent does not warn: $(cat "$tmp/anon.err")"
wait_for 20 "ps over anonymous TLS to list nginx" \
  bash -c "'$nw' --insecure-loopback --node 127.0.0.1:$port ps -o json | grep -q '\"name\":\"nginx\"'"
rc=0; "$nw" --tls-dir "$tmp/tls" --node "127.0.0.1:$port" ps >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "TLS handshake failed" "$tmp/err" \
  || fail "mutual-TLS client against --insecure-loopback: exit $rc: $(cat "$tmp/err")"
kill -0 "$anon_pid" || fail "the --insecure-loopback agent died"
kill "$anon_pid"
pass "--insecure-loopback: anonymous TLS on loopback only; an mTLS client is refused clearly"

for cmd in "" agent; do
  "$nw" $cmd --help >"$tmp/help"
  for words in "--insecure-loopback" "UNAUTHENTICATED" "any local user can connect" \
    "frame of" "any size" "--tls-dir"; do
    grep -qi -- "$words" "$tmp/help" || fail "nodewatch $cmd --help does not say '$words'"
  done
done
pass "--help states --insecure-loopback's risk"

# -- the config file -------------------------------------------------------------
printf '[agent]\ntls-dir = "%s"\n' "$tmp/tls" >"$tmp/agent.conf"
start_agent conf --config "$tmp/agent.conf"
conf_pid=$agent_pid
wait_listening conf
grep -q 'transport="mutual TLS"' "$tmp/conf.err" || fail "[agent] tls-dir: $(cat "$tmp/conf.err")"
printf 'tls-dir = "%s"\n' "$tmp/tls" >"$tmp/client.conf"
"$nw" --config "$tmp/client.conf" --node "127.0.0.1:$port" status >/dev/null 2>"$tmp/err" \
  || fail "tls-dir at the top of the config file: $(cat "$tmp/err")"
kill "$conf_pid"
printf '[agent]\ninsecure-loopback = true\nlisten = "10.1.2.3:7415"\n' >"$tmp/anon.conf"
expect_exit 2 "[agent] insecure-loopback with a non-loopback listen" \
  timeout 20 "$nw" agent --config "$tmp/anon.conf" --scenario "$demo"
pass "tls-dir and insecure-loopback from the config file ([agent] and top level)"
