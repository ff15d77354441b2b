#!/usr/bin/env bash
# Sets up, builds and runs every test: the C++ suite (CTest), the same suite without CUDA under
# ASan + UBSan (the asan preset, in build/asan), the C API fuzzer for a bounded time (the fuzz
# preset, in build/fuzz) and the Python suite (pytest, in a virtual environment with torch and
# transformers from PyPI, the package built by pip).
# GPU tests skip, saying so, on a machine without a GPU.
#   ROPEKIT_SKIP_SETUP=1       skip installing (Debian packages, PyPI packages)
#   ROPEKIT_SKIP_SANITIZERS=1  skip the ASan + UBSan pass and the fuzzer
#   ROPEKIT_FUZZ_SECONDS=N     how long the fuzzer runs (default 120)
#   ROPEKIT_SKIP_PYTHON=1      no Python suite
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROPEKIT_BUILD_DIR:-build/test}
skip_setup=${ROPEKIT_SKIP_SETUP:-0}

[[ $skip_setup == 1 ]] || scripts/setup.sh

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEKIT_WERROR=ON
cmake --build "$build_dir" -j"$(nproc)"
(cd "$build_dir" && ctest --output-on-failure -j"$(nproc)")

# Memory errors and undefined behaviour in the CPU and reference backends, the C API and the CLI:
# any sanitizer report fails its test (CMakePresets.json says how).
if [[ "${ROPEKIT_SKIP_SANITIZERS:-0}" != 1 ]]; then
  cmake --preset asan
  cmake --build --preset asan -j"$(nproc)"
  ctest --preset asan -j"$(nproc)"
  scripts/fuzz.sh "${ROPEKIT_FUZZ_SECONDS:-120}"
fi

[[ "${ROPEKIT_SKIP_PYTHON:-0}" == 1 ]] && exit 0
venv=${ROPEKIT_VENV:-$build_dir/venv}
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
python=$venv/bin/python
if [[ $skip_setup != 1 ]]; then
  echo "test: installing the Python test requirements (torch, transformers, ...) into $venv"
  "$python" -m pip install -q -r requirements-test.txt
fi
echo "test: building the Python package (pip install .)"
"$python" -m pip install -q --no-build-isolation --no-deps --upgrade \
  -C build-dir="$build_dir/python" .
# The parity test calls the C API of the library just built through ctypes.
export ROPEKIT_LIBRARY="$(cd "$build_dir" && pwd)/src/libropekit.so"
# Any non-zero status fails, 5 ("no tests collected") included.
"$python" -m pytest -q -rs -p no:cacheprovider tests/python
