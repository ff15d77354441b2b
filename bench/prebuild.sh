#!/usr/bin/env bash
# Builds the tree that bench/device.sh runs, here (no device time spent compiling), into
# build-device/, with the CUDA runtime library beside it (build-device/runtime), for the device
# tool to carry: `carry: ["build-device", ".deps"]`. The GPU machine falls back to building itself
# when the carried programs' libraries do not resolve there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-device}
stash=$build-objects  # what only a rebuild needs, kept beside the tree (not carried)
# A .deps left half-made by a failed run (no COMPLETE marker) is made again: a tree configured
# without it points at this machine's headers, which the GPU machine lacks.
[[ -f $repo/.deps/COMPLETE ]] || "$repo/bench/prepare_deps.sh"
if [[ -d $stash ]]; then  # back in place, so this build is incremental
  (cd "$stash" && find . -type f -print0 | xargs -0 -r cp --parents -a -t "$build")
  rm -rf "$stash"
fi
cmake -S "$repo" -B "$build" -G Ninja -DROPEKIT_CUDA=ON -DROPEKIT_WERROR=ON \
  -DROPEKIT_DEPS_DIR="$repo/.deps" > /dev/null
cmake --build "$build" -j "$(nproc)"
# The commit it was built from (+ "dirty" for uncommitted changes), for the device log.
echo "$(git -C "$repo" rev-parse HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' dirty')" \
  > "$build/COMMIT"
mkdir -p "$build/runtime"
cudart=$(ldd "$build/src/libropekit.so" | awk '/libcudart/ {print $3}')
cp -L "$cudart" "$build/runtime/"
# What only a rebuild needs (objects, static archives, compiler checks) and the host-only test
# programs (CI runs them; each holds the kernels) wait in $stash: the device tool carries at most
# 64 MiB in all.
mkdir -p "$stash"
(cd "$build" && find . \( -name '*.o' -o -name '*.a' -o -path './CMakeFiles/[0-9]*' \
  -o -path './CMakeFiles/CheckCUDA*' \
  -o \( -path './tests/cpp/test_*' ! -name 'test_cuda_*' ! -name '*.cmake' \) \
  -o -path './tests/fuzz/fuzz_rotary_replay' \) \
  -type f -print0 | xargs -0 -r cp --parents -a -t "$stash")
find "$build" \( -name '*.o' -o -name '*.a' \) -delete
find "$build/tests/cpp" -maxdepth 1 -name 'test_*' ! -name 'test_cuda_*' ! -name '*.cmake' -type f -delete
rm -f "$build/tests/fuzz/fuzz_rotary_replay"
rm -rf "$build"/CMakeFiles/[0-9]* "$build"/CMakeFiles/CheckCUDA "$build"/tests/consumer-work
echo "prebuild: $(du -sh "$build" | cut -f1) in $build (the device tool carries at most 64 MiB in all)"
