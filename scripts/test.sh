#!/usr/bin/env bash
# Sets up, builds and runs every test: the C++ suite (CTest) and the Python suite (pytest).
# GPU tests skip, saying so, on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROPEKIT_BUILD_DIR:-build/test}

[[ "${ROPEKIT_SKIP_SETUP:-0}" == 1 ]] || scripts/setup.sh --python

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEKIT_WERROR=ON
cmake --build "$build_dir" -j"$(nproc)"
(cd "$build_dir" && ctest --output-on-failure -j"$(nproc)")
