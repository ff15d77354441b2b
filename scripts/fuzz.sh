#!/usr/bin/env bash
# Fuzzes the C API (tests/fuzz/fuzz_rotary.cpp) with libFuzzer under ASan + UBSan for a bounded
# time, starting from the corpus in tests/fuzz/corpus. A finding (crash, sanitizer report, failed
# assertion) fails the script and is left in build/fuzz/artifacts/ with the input to reproduce it:
#   build/fuzz/tests/fuzz/fuzz_rotary build/fuzz/artifacts/crash-...
# Usage: scripts/fuzz.sh [SECONDS]   (default 120)
#   ROPEKIT_FUZZ_MERGE=1   afterwards, merge the inputs that found new coverage into the corpus
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}

cmake --preset fuzz > /dev/null
cmake --build --preset fuzz -j"$(nproc)"

fuzzer=build/fuzz/tests/fuzz/fuzz_rotary
work=build/fuzz/work
artifacts=build/fuzz/artifacts
rm -rf "$work" && mkdir -p "$work" "$artifacts"
# New inputs go to the first folder (scratch); the checked-in corpus is only read.
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/" \
  -dict=tests/fuzz/rotary.dict "$work" tests/fuzz/corpus 2>&1 | tee build/fuzz/last_run.log |
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|fuzz_rotary|ERROR|SUMMARY'
status=${PIPESTATUS[0]}
if [[ $status != 0 ]]; then
  echo "fuzz: FINDING (status $status): see build/fuzz/last_run.log and $artifacts/" >&2
  exit 1
fi
if [[ ${ROPEKIT_FUZZ_MERGE:-0} == 1 ]]; then
  "$fuzzer" -merge=1 tests/fuzz/corpus "$work" 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new'
fi
echo "fuzz: no finding in ${seconds} s"
