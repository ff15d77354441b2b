#!/usr/bin/env bash
# The main job: set up, build, then verify every backend on this machine's hardware against the
# float64 reference and benchmark them on real model shapes. Extra arguments go to `ropekit bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROPEKIT_BUILD_DIR:-build/release}

[[ "${ROPEKIT_SKIP_SETUP:-0}" == 1 ]] || scripts/setup.sh

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEKIT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
"$build_dir/bin/ropekit" verify
"$build_dir/bin/ropekit" bench "$@"
