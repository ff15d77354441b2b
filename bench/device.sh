#!/usr/bin/env bash
# The one GPU script, run on the GPU machine from the repository root:
#   build -> GPU tests (and the rest of ctest) -> compute-sanitizer memcheck over the GPU tests ->
#   GPU benchmark (incl. MRoPE vs plain) -> PyTorch benchmark through the C API ->
#   Python package built there (pip, no network) -> Python tests on CUDA -> host overhead and
#   torch.ops benchmarks, then a short table last. Logs go to $OUT (or ./device-out).
# Usage: bench/device.sh [all|cpp|kernel|bench|python]   (cpp: up to the PyTorch benchmark;
# python: the rest; two calls keep each under the device tool's 10-minute limit; kernel: cpp
# without the PyTorch benchmark, for iterating on the kernel; bench: a carried tree's GPU tests
# and the GPU benchmark only)
# Dependencies missing there come from ROPEKIT_DEPS_DIR (default ./.deps, see bench/prepare_deps.sh).
# A build tree made elsewhere and carried along (bench/prebuild.sh) is used as it is when its
# programs' libraries resolve there; otherwise the tree is built there.
# A/B: when a baseline build's library is present (BASELINE_LIB, default ./.baseline/libropekit.so,
# made by bench/build_baseline.sh COMMIT and carried), the GPU benchmark also times it, interleaved
# with the current one, and the summary shows its A/B table and verdict.
# Steps keep going after a failure; the exit status is non-zero if any step failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/device-out}
build=${BUILD_DIR:-$repo/build-device}
deps=${ROPEKIT_DEPS_DIR:-$repo/.deps}
part=${1:-all}
baseline=${BASELINE_LIB:-$repo/.baseline/libropekit.so}
gpu_bench_args=(${GPU_BENCH_ARGS:-})
gpu_bench_step=gpu-bench
if [[ -f $baseline ]]; then
  gpu_bench_args+=(--baseline-library "$baseline")
  gpu_bench_step=gpu-bench-ab
elif [[ -n ${BASELINE_LIB:-} ]]; then
  echo "BASELINE_LIB=$BASELINE_LIB does not exist" >&2
  exit 2
fi
run_cpp=1 run_python=1 run_torch_bench=1 run_bench_only=0
case $part in
  all) ;;
  cpp) run_python=0 ;;
  kernel) run_python=0 run_torch_bench=0 ;;
  bench) run_cpp=0 run_python=0 run_bench_only=1 ;;
  python) run_cpp=0 ;;
  *) echo "usage: $0 [all|cpp|kernel|bench|python]" >&2; exit 2 ;;
esac
mkdir -p "$out"
declare -a summary

# At most 8 files come back from the GPU machine: steps that share a log append to it.
step() {  # step NAME LOG COMMAND...: runs COMMAND, appends to $out/LOG, records the status
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  echo "=== $name: $*"
  "$@" > >(tee -a "$out/$log") 2>&1
  local status=$?
  summary+=("$(printf '%-28s %-6s %4ss  %s' "$name" "$([[ $status == 0 ]] && echo ok || echo FAIL:$status)" $((SECONDS - start)) "$log")")
  return $status
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  nvcc --version | tail -1
  # The commit a carried tree was built from (bench/prebuild.sh), else the checkout's.
  cat "$build/COMMIT" 2>/dev/null || git -C "$repo" rev-parse HEAD 2>/dev/null
  date -u +%FT%TZ
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt"

# A carried build tree keeps the absolute paths of the checkout it was configured in (ctest files,
# RPATHs): that path is linked to this checkout when it does not exist here.
prebuilt=0
if [[ -f $build/CMakeCache.txt && -x $build/bin/ropekit_gpu_bench ]]; then
  configured_in=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ -n $configured_in && $configured_in != "$repo" && ! -e $configured_in ]]; then
    mkdir -p "$(dirname "$configured_in")" && ln -s "$repo" "$configured_in"
  fi
  # The CLI tests run through the cmake that configured the tree (its path in the ctest files).
  configured_cmake=$(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ -n $configured_cmake && ! -e $configured_cmake ]] && command -v cmake > /dev/null; then
    mkdir -p "$(dirname "$configured_cmake")" && ln -s "$(command -v cmake)" "$configured_cmake"
  fi
  [[ -d $build/runtime ]] && export LD_LIBRARY_PATH=$build/runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if ! ldd "$build/bin/ropekit_gpu_bench" "$build/tests/cpp/test_cuda_backend" | grep -q 'not found'; then
    prebuilt=1
    echo "=== using the carried build tree $build (configured in $configured_in)"
  else
    ldd "$build/bin/ropekit_gpu_bench" | grep 'not found'
    echo "=== the carried build tree's libraries do not resolve here: building"
    rm -rf "$build"
  fi
fi

if ((run_cpp)); then
# Warnings are errors in CI (its compiler); the GPU machine's newer GCC warns about more, so they
# stay warnings here (see build.log), and -k 0 builds every target that can be built.
if ((!prebuilt)); then
  step configure configure.log cmake -S "$repo" -B "$build" -G Ninja -DROPEKIT_CUDA=ON \
    -DROPEKIT_WERROR="${ROPEKIT_WERROR:-OFF}" -DROPEKIT_DEPS_DIR="$deps" \
    -DROPEKIT_BUILD_TOOLS="${ROPEKIT_BUILD_TOOLS:-ON}" &&
    step build build.log cmake --build "$build" -j "$(nproc)" -- -k 0
fi

# Registers and stack (spills) of every kernel variant: what the compiler made of them.
cuobjdump --dump-resource-usage "$build/src/libropekit.so" >> "$out/environment.txt" 2>&1

tests=$build/tests/cpp/test_cuda_backend
# The GPU tests and the CLI's (the host-only tests run in CI; a carried tree leaves them out).
step ctest-gpu ctest.log ctest --test-dir "$build" -j 8 --timeout 300 --output-on-failure \
  -R '^(Cuda|cli\.)'

# memcheck over every GPU test program (the backend's only over its sweep and bounds tests).
for gpu_test in "$build"/tests/cpp/test_cuda_*; do
  [[ -x $gpu_test && $(basename "$gpu_test") != *.* ]] || continue  # not gtest's .cmake lists
  filter=()
  [[ $gpu_test == "$tests" ]] &&
    filter=(--gtest_filter='CudaBackend.RandomSweep:CudaBackend.OutOfRange*:CudaBackend.NamedShapes')
  step "memcheck-$(basename "$gpu_test" | sed 's/^test_cuda_//')" memcheck.log \
    compute-sanitizer --tool memcheck --error-exitcode 9 "$gpu_test" "${filter[@]}"
done
# The README's main job on this hardware: the CLI's default verification and benchmark.
step cli-verify cli.log timeout 300 "$build/bin/ropekit" verify
step cli-bench cli.log timeout 300 "$build/bin/ropekit" bench
step "$gpu_bench_step" gpu_bench.log timeout "${GPU_BENCH_TIMEOUT:-400}" \
  "$build/bin/ropekit_gpu_bench" "${gpu_bench_args[@]}"
((run_torch_bench)) &&
  step torch-bench torch_bench.log env PYTHONUNBUFFERED=1 python3 "$repo/bench/gpu/torch_bench.py" \
    --library "$build/src/libropekit.so"
fi

if ((run_bench_only)); then
  for gpu_test in "$build"/tests/cpp/test_cuda_*; do
    [[ -x $gpu_test && $(basename "$gpu_test") != *.* ]] || continue  # not gtest's .cmake lists
    step "$(basename "$gpu_test")" ctest.log timeout 240 "$gpu_test"  # a hang costs device time
  done
  step "$gpu_bench_step" gpu_bench.log timeout "${GPU_BENCH_TIMEOUT:-400}" \
    "$build/bin/ropekit_gpu_bench" "${gpu_bench_args[@]}"
fi

if ((run_python)); then
  # The package as `pip install .` builds it, against this machine's torch (no index: nothing
  # can be fetched there; nanobind and scikit-build-core are installed).
  site=${PY_SITE:-/tmp/ropekit-site}
  step py-install py_install.log python3 -m pip install --no-build-isolation --no-deps --no-index \
    --target "$site" --upgrade -C cmake.define.ROPEKIT_DEPS_DIR="$deps" \
    -C build-dir="$build-py" "$repo"
  export PYTHONPATH=$site PYTHONUNBUFFERED=1
  # The transformers parity test runs in CI against the pinned transformers; this machine's
  # transformers is another version.
  step py-tests py_tests.log python3 -m pytest -q -rs -p no:cacheprovider "$repo/tests/python" \
    --ignore="$repo/tests/python/test_transformers_parity.py"
  step host-overhead host_overhead.log python3 "$repo/bench/python/host_overhead.py"
  step torch-ops-bench torch_ops_bench.log python3 "$repo/bench/python/torch_ops_bench.py"
fi

echo
if ((run_cpp || run_bench_only)); then
echo "=== GPU benchmark (ropekit vs naive vs copy of the same bytes)"
sed -n '/^plain RoPE/,/^$/p' "$out/gpu_bench.log" 2>/dev/null
echo "=== MRoPE vs plain"
sed -n '/^multimodal RoPE/,/^$/p' "$out/gpu_bench.log" 2>/dev/null
grep -E 'MISMATCH|DIFFER|^gpu_bench:' "$out/gpu_bench.log" 2>/dev/null
grep -E '^(PASS|FAIL)' "$out/gpu_bench.log" 2>/dev/null
echo "=== eager calls (host cost)"
sed -n '/^eager calls/,/^$/p' "$out/gpu_bench.log" 2>/dev/null
if [[ -f $baseline ]]; then
  echo "=== A/B against $baseline"
  sed -n '/^A\/B: /,/^AB /p' "$out/gpu_bench.log" 2>/dev/null
fi
echo "=== PyTorch benchmark"
sed -n '/^shape /,$p' "$out/torch_bench.log" 2>/dev/null | head -40
grep -E 'tests? (passed|failed)|Skipped|CudaBackend.*(SKIPPED|FAILED)' "$out/ctest.log" 2>/dev/null | tail -5
grep -h 'ERROR SUMMARY' "$out"/memcheck*.log 2>/dev/null
grep -E '^(verify|PASS|FAIL)|cases' "$out/cli.log" 2>/dev/null | tail -3
fi
if ((run_python)); then
  echo "=== Python"
  tail -3 "$out/py_tests.log" 2>/dev/null
  tail -8 "$out/host_overhead.log" 2>/dev/null
fi
echo "=== steps"
printf '%s\n' "${summary[@]}"
for line in "${summary[@]}"; do [[ $line == *FAIL* ]] && exit 1; done
exit 0
