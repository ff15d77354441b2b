#!/usr/bin/env bash
# Installs what ropekit needs to build and test, from Debian and PyPI. Idempotent: installs only
# what is missing. Usage: scripts/setup.sh [--python]   (--python: also the Python test deps)
set -euo pipefail

debian_packages=(
  build-essential cmake ninja-build pkg-config
  googletest libgtest-dev libbenchmark-dev   # tests and CPU benchmarks
  libdlpack-dev                              # DLTensor, the C API's tensor type
  nlohmann-json3-dev                         # Hugging Face config.json parsing
  libcli11-dev                               # the ropekit CLI
  clang libclang-rt-dev libomp-dev           # the C API fuzzer (libFuzzer, the fuzz preset)
)

missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == "--python" ]]; then
  python3 -m pip install -q -r "$(dirname "$0")/../requirements-test.txt"
fi
echo "setup: done"
