# Shared by the CLI tests: assertions that say what failed, and waiting on a
# condition with a deadline (never a bare sleep as synchronisation).
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for: $what"
    sleep 0.05
  done
}

# expect_exit CODE DESCRIPTION COMMAND...
expect_exit() {
  local want=$1 what=$2; shift 2
  local got=0
  "$@" >/dev/null 2>"$tmp/stderr" || got=$?
  [ "$got" -eq "$want" ] || { cat "$tmp/stderr" >&2; fail "$what: exit $got, want $want"; }
  pass "$what (exit $want)"
}

# make_certs: a CA, node and client certificates of this test's own in
# $tmp/tls (`nodewatch certs init`), used from here on by every agent and
# client that is not given --tls-dir (NODEWATCH_TLS_DIR): the transport is
# mutual TLS (docs/tls.md).
make_certs() {
  "$nw" certs init --dir "$tmp/tls" >/dev/null || fail "certs init --dir $tmp/tls"
  export NODEWATCH_TLS_DIR=$tmp/tls
}
