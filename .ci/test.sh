#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds, and runs the whole
# test suite. README.md's test command; .ci/run calls it. Prints how long
# each stage took.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${NODEWATCH_BUILD_DIR:-build}
packages=(
  cmake ninja-build g++ pkg-config ccache clang-format
  clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  runc libcaf-dev libssl-dev libuv1-dev libmsgpack-cxx-dev nlohmann-json3-dev
  libcli11-dev libboost-test-dev libseccomp-dev libclang-rt-14-dev
  busybox-static iproute2 procps
  containerd podman conmon crun
)

declare -a stage_names=() stage_secs=()
stage() {
  local name=$1; shift
  local t0=$SECONDS
  echo "==> $name"
  "$@"
  stage_names+=("$name"); stage_secs+=($((SECONDS - t0)))
  echo "==> $name: $((SECONDS - t0)) s"
}
summary() {
  echo "==> stage times"
  for i in "${!stage_names[@]}"; do
    printf '    %-10s %5s s\n' "${stage_names[$i]}" "${stage_secs[$i]}"
  done
}
trap summary EXIT

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "all packages present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} — run as root (or install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
}

check_format() {
  # clang-format 14 with the root .clang-format; fails on any difference.
  git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format --dry-run -Werror
}

configure() {
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug
}

build() {
  cmake --build "$build_dir" -j "$(nproc)"
}

run_tests() {
  ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
}

# The unit, actor and fuzz tests again, built with clang under AddressSanitizer
# and UndefinedBehaviorSanitizer (the fuzz targets, clang-only, run for a
# bounded 20 s each). .ci/ubsan.supp names what is CAF's, not ours;
# allocator_may_return_null lets CAF's unbounded length prefixes fail as
# bad_alloc, as they do without ASan (encoding_test feeds it garbage).
san_dir=${NODEWATCH_SAN_BUILD_DIR:-build-san}
sanitize() {
  CC=clang CXX=clang++ cmake -S . -B "$san_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize-recover=null -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  local targets
  targets=$(ctest --test-dir "$san_dir" -N -L '^(unit|actors|fuzz)$' \
              | sed -n 's/^ *Test *#[0-9]*: //p')
  cmake --build "$san_dir" -j "$(nproc)" --target $targets
  ASAN_OPTIONS=allocator_may_return_null=1 \
    UBSAN_OPTIONS="suppressions=$PWD/.ci/ubsan.supp:halt_on_error=1:print_stacktrace=1" \
    ctest --test-dir "$san_dir" --output-on-failure -j "$(nproc)" \
      -L '^(unit|actors|fuzz)$'
}

stage install install_missing
stage format check_format
stage configure configure
stage build build
if [ -z "${NODEWATCH_SKIP_TESTS:-}" ]; then
  stage test run_tests
  stage sanitize sanitize
fi
