#!/usr/bin/env bash
# Builds the library of another commit into .baseline/libropekit.so, for bench/device.sh's A/B
# step (gpu_bench --baseline-library): only the library target, from `git archive` in a temporary
# folder (no worktree, nothing in .git changes).
#   bench/build_baseline.sh COMMIT      then carry ".baseline" with the build tree
# CUDA_ARCHS (default 90-real: the H200) keeps the library small: the device tool carries at most
# 64 MiB in all, and the build tree takes most of it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:?usage: bench/build_baseline.sh COMMIT}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
git -C "$repo" archive "$commit" | tar -x -C "$work/src"
# This checkout's dependencies (bench/prepare_deps.sh) where the system lacks them.
cmake -S "$work/src" -B "$work/build" -G Ninja -DROPEKIT_CUDA=ON -DROPEKIT_DEPS_DIR="$repo/.deps" \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90-real}" -DROPEKIT_BUILD_TESTS=OFF \
  -DROPEKIT_BUILD_TOOLS=OFF -DROPEKIT_BUILD_BENCH=OFF > /dev/null
cmake --build "$work/build" --target ropekit -j "${JOBS:-$(nproc)}"
mkdir -p "$repo/.baseline"
cp -L "$work/build/src/libropekit.so" "$repo/.baseline/libropekit.so"
git -C "$repo" rev-parse "$commit" > "$repo/.baseline/COMMIT"
echo "baseline: $(cat "$repo/.baseline/COMMIT") in $repo/.baseline/libropekit.so" \
  "($(du -h "$repo/.baseline/libropekit.so" | cut -f1))"
