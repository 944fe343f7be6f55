#!/usr/bin/env bash
# Installs the Debian packages twinscore builds against, skipping those already
# there (a second run is a few dpkg look-ups, no network).
set -euo pipefail
# clang and its runtime (libFuzzer) build the loaders' fuzz target only.
pkgs=(g++ make python3-venv python3-dev
      libeigen3-dev libtbb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "twinscore needs these Debian packages; install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
