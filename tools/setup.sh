#!/usr/bin/env bash
# Installs what cnnc needs from Debian 12's apt (only the packages missing),
# then configures and builds it in Release under build/. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake          # g++ 12, CMake 3.25
  llvm-19-dev llvm-19-tools      # code generation and ORC JIT; FileCheck and lit for golden tests
  libzstd-dev                    # needed by LLVM's CMake package
  libfmt-dev                     # text formatting
  nlohmann-json3-dev             # the JSON model frontend
  libgtest-dev                   # unit tests
  libcli11-dev                   # the driver's command line
  python3                        # runs lit
  python3-torch python3-numpy    # PyTorch: the peer of the agreement tests and benchmarks
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
