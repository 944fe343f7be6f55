#!/usr/bin/env bash
# Installs the Debian packages twinscore builds against, skipping those already
# there (a second run is a few dpkg look-ups, no network).
set -euo pipefail
# clang and its runtime (libFuzzer) build the loaders' fuzz target only;
# qemu-user runs the wheel on emulated CPUs (make test-wheel-emulated).
pkgs=(g++ make python3-venv python3-dev
      libeigen3-dev libtbb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev qemu-user)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  if [ "$(id -u)" != 0 ]; then
    echo "twinscore needs these Debian packages; install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Headless Chromium opens the campaign report in its test (about 110 MB of
# packages). Optional: where it cannot be installed the rest still builds,
# and that one test is skipped with the reason.
if ! installed chromium && [ "$(id -u)" = 0 ]; then
  echo "installing Debian package: chromium (the report's browser test)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
      >/dev/null; } || echo "chromium could not be installed: the report's browser test will be skipped" >&2
fi
