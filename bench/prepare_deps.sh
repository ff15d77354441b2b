#!/usr/bin/env bash
# Copies the header-only dependencies and the GoogleTest sources from this machine's Debian
# packages into .deps/ (git-ignored), for machines that lack them (the GPU machine): the top-level
# CMakeLists.txt looks there through ROPEKIT_DEPS_DIR. Run here, then carry ".deps" to the device.
# Needs: libdlpack-dev (or dlpack headers), nlohmann-json3-dev, libcli11-dev, googletest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
deps=${1:-$repo/.deps}
rm -f "$deps/COMPLETE"
mkdir -p "$deps/include"
for header_dir in dlpack nlohmann CLI; do
  if [[ ! -d /usr/include/$header_dir ]]; then
    echo "prepare_deps: /usr/include/$header_dir is missing (install its -dev package)" >&2
    exit 1
  fi
  rm -rf "${deps:?}/include/$header_dir"
  cp -r "/usr/include/$header_dir" "$deps/include/"
done
if [[ ! -f /usr/src/googletest/CMakeLists.txt ]]; then
  echo "prepare_deps: /usr/src/googletest is missing (install googletest)" >&2
  exit 1
fi
rm -rf "${deps:?}/googletest"
cp -r /usr/src/googletest "$deps/googletest"
touch "$deps/COMPLETE"  # bench/prebuild.sh reruns this script until the marker is there
echo "prepare_deps: $(du -sh "$deps" | cut -f1) in $deps"
