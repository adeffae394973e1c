#!/usr/bin/env bash
# README.md's run command: builds nodewatch if needed (installing what is
# missing, as .ci/test.sh does) and runs the main job. Until kernel detection
# lands, that is `nodewatch simulate` on the bundled scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NODEWATCH_BUILD_DIR:-build}
if [ ! -x "$build_dir/runtime/agent/nodewatch" ]; then
  {
    NODEWATCH_SKIP_TESTS=1 bash .ci/test.sh
  } >&2
fi
exec "$build_dir/runtime/agent/nodewatch" simulate docs/scenarios/demo.jsonl "$@"
