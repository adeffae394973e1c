#!/usr/bin/env bash
# Builds nodewatch's benchmarks and runs them, printing one table.
#
#   bench/run.sh [BUILD_DIR] [-- BENCH_ARGS...]
#
# BUILD_DIR defaults to `build`; a new one is configured as Release.
# BENCH_ARGS go to every program: `--rounds N`, `--policy stealing` (CAF's
# scheduler policy; the default, `sharing`, is what the agent runs);
# container_start_bench reads `--starts N`, `--warmups N`, `--detections N`,
# `--parallelism P` and `--ack-delay-ms D` instead of `--rounds`, and needs
# root, runc and busybox-static (without them it prints a note, no rows);
# manager_start_bench reads `--starts N`, `--block K`, `--detections N`,
# `--parallelism P`, `--ack-delay-ms D` and `--managers containerd,podman`,
# and needs those too, plus containerd or podman (a note per manager it
# cannot run); tc_bench reads `--rounds N` (attach rounds), `--ifaces N`,
# `--packet-rounds N` and `--packets N`, and needs root (without it, a
# note and no rows); traceloop_bench reads `--rounds N` (clean rounds
# wanted), `--budget-s S`, `--calls N`, `--slow-calls N`, `--arms LIST` and
# `--variant FILE.bpf.o`, needs root, runc and busybox-static (a note and
# no rows otherwise) and strace, perf and bpftrace for their rows, and
# runs for up to ~5 minutes; remote_bench reads `--rounds N` (warm fan-outs
# per transport), `--cold N` (first fan-outs, each from a fresh
# controller), `--stream-rounds N`, `--nodes N`, `--containers N` (per
# node), `--snapshot N` and `--live N`, runs anywhere (certificates are made
# in a temp dir) and takes ~35 s.
#
# The benchmarks are not part of `all` or of the tests: this builds the
# `bench` target, which calls back here with `--run --config=CONFIG
# PROGRAM...` to run each program and lay out their rows. Results are
# informational: the exit code is 0 whether targets PASS or FAIL, non-zero
# only if a benchmark broke.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${1:-} == --run ]]; then
  config=${2#--config=}
  shift 2
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  for prog in "$@"; do
    echo "running $(basename "$prog") ${NW_BENCH_ARGS:-}..." >&2
    "$prog" ${NW_BENCH_ARGS:-} >>"$out"
  done
  echo
  echo "nodewatch benchmarks - $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs," \
       "load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after," \
       "build type ${config:-unset}"
  case ${config} in
    Release | RelWithDebInfo | MinSizeRel) ;;
    *) echo "warning: not an optimised build; numbers are not meaningful" ;;
  esac
  sed -n 's/^note|/  /p' "$out"
  echo
  awk -F'|' '
    $1 == "row" {
      n++
      for (i = 2; i <= NF; i++) {
        cell[n, i] = $i
        if (length($i) > w[i]) w[i] = length($i)
      }
    }
    END {
      split("|BENCHMARK|CASE|MEDIAN|P10 .. P90|ROUNDS|TARGET|RESULT", h, "|")
      for (i = 2; i <= 8; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
      line = ""; rule = ""
      for (i = 2; i <= 8; i++) {
        line = line sprintf("%-" w[i] "s  ", h[i])
        r = sprintf("%" w[i] "s", ""); gsub(/ /, "-", r); rule = rule r "  "
      }
      sub(/ +$/, "", line); sub(/ +$/, "", rule)
      print line; print rule
      for (k = 1; k <= n; k++) {
        line = ""
        for (i = 2; i <= 8; i++) line = line sprintf("%-" w[i] "s  ", cell[k, i])
        sub(/ +$/, "", line)
        print line
      }
    }' "$out"
  exit 0
fi

build=build
if [[ $# -gt 0 && $1 != -- ]]; then
  build=$1
  shift
fi
if [[ ${1:-} == -- ]]; then
  shift
fi
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$here/.." -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
NW_BENCH_ARGS="$*" cmake --build "$build" --target bench
