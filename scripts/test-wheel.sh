#!/usr/bin/env bash
# Tests the repaired wheel in dist/ as a user gets it:
#  1. installs it with pip in a fresh venv (build/wheel-venv);
#  2. in a mount namespace where Debian's oneTBB and Abseil libraries are
#     hidden (bind-mounted over with /dev/null) and LD_LIBRARY_PATH is empty:
#     checks with ldd that the extension loads only the libraries vendored in
#     the wheel and the system's (glibc, libstdc++, libgcc), runs the smoke
#     subset of the test suite, and computes the engines' results
#     (scripts/wheel_check.py), which must match those of the source build;
#  3. with --emulated, the same results under qemu-user on a CPU without AVX2
#     (Nehalem: x86-64-v2) and one with AVX2 + FMA but no AVX-512 (qemu's
#     "max"), each reporting the SIMD level it chose.
# REF_PYTHON (default .venv/bin/python, the source build) computes the
# reference results.
set -euo pipefail
cd "$(dirname "$0")/.."
emulated=0
[ "${1:-}" = "--emulated" ] && emulated=1
REF_PYTHON=${REF_PYTHON:-.venv/bin/python}
wheel=$(ls -t dist/twinscore-*manylinux*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "no repaired wheel in dist/: run make wheel" >&2; exit 1; }
work=build/wheel-test
venv=build/wheel-venv
rm -rf "$work"
mkdir -p "$work"

echo "== fresh venv with $wheel"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --disable-pip-version-check -q "$wheel" pytest scikit-learn xgboost-cpu 2>&1 | grep -v "^WARNING: Location" || true

# Runs a command with Debian's TBB and Abseil libraries unreadable (a private
# mount namespace: nothing changes outside it) and no LD_LIBRARY_PATH.
hidden() {
  unshare --mount bash -c '
    for f in /usr/lib/x86_64-linux-gnu/libtbb*.so* /usr/lib/x86_64-linux-gnu/libabsl_*.so*; do
      [ -f "$f" ] && mount --bind /dev/null "$f"
    done
    exec env LD_LIBRARY_PATH= "$@"' hidden "$@"
}

echo "== the extension's libraries (Debian's TBB and Abseil hidden)"
ext=$(ls "$venv"/lib/python3*/site-packages/twinscore/_core*.so)
hidden ldd "$ext" > "$work/ldd.txt"
if grep -q "not found" "$work/ldd.txt"; then echo "FAIL: a library is missing" >&2; exit 1; fi
# Every library resolved must be vendored (twinscore.libs) or one of the
# system libraries every manylinux system has.
bad=$(awk '/=>/ {print $3}' "$work/ldd.txt" | grep -v "/twinscore.libs/" |
      grep -vE "/lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s)\.so" || true)
if [ -n "$bad" ]; then echo "FAIL: libraries outside the wheel: $bad" >&2; exit 1; fi
echo "ldd: $(grep -c twinscore.libs "$work/ldd.txt") vendored libraries (twinscore.libs), the rest glibc/libstdc++/libgcc"

echo "== smoke tests with the installed wheel"
# A copy of the tests, run from outside the source tree, so that the
# installed package is the one imported.
cp -r tests/python "$work/tests"
(cd "$work" && hidden "../../$venv/bin/python" -m pytest -q -p no:cacheprovider -x \
   tests/test_simd.py tests/test_linear.py::test_coefficients_match_sklearn tests/test_twins.py::test_jaccard_is_exact \
   2>&1 | tail -3)

echo "== engine results: the wheel against the source build"
"$REF_PYTHON" -c "import xgboost" 2>/dev/null || { echo "REF_PYTHON needs xgboost" >&2; exit 1; }
"$REF_PYTHON" scripts/wheel_check.py make "$work/problems" >/dev/null
"$REF_PYTHON" scripts/wheel_check.py run "$work/problems" "$work/ref.npz" >/dev/null
hidden "$venv/bin/python" scripts/wheel_check.py run "$work/problems" "$work/wheel.npz" > "$work/wheel.txt"
head -2 "$work/wheel.txt"
"$venv/bin/python" scripts/wheel_check.py compare "$work/ref.npz" "$work/wheel.npz"
TWINSCORE_SIMD=v2 hidden "$venv/bin/python" scripts/wheel_check.py run "$work/problems" "$work/wheel-v2.npz" \
  > "$work/wheel-v2.txt"
head -2 "$work/wheel-v2.txt"
"$venv/bin/python" scripts/wheel_check.py compare "$work/ref.npz" "$work/wheel-v2.npz" --level v2

if [ "$emulated" = 1 ]; then
  command -v qemu-x86_64 >/dev/null || { echo "qemu-user is needed: apt-get install qemu-user" >&2; exit 1; }
  for cpu in Nehalem:v2 max:v3; do
    name=${cpu%%:*}
    level=${cpu##*:}
    echo "== emulated CPU $name (expects level $level)"
    skip=()
    if [ "$level" != v2 ]; then
      # Debian 12's qemu (7.2) computes some AVX2 gathers wrong, which crashes
      # the tree walk: where the probe shows it, the trees are left out.
      gcc -O2 -march=x86-64-v3 scripts/qemu_gather_probe.c -o "$work/gather_probe"
      if ! qemu-x86_64 -cpu "$name" "$work/gather_probe"; then
        echo "this qemu's AVX2 gathers are wrong: the tree walk is not run on the emulated $name CPU"
        skip=(--skip-trees)
      fi
    fi
    hidden qemu-x86_64 -cpu "$name" "$venv/bin/python" scripts/wheel_check.py run "$work/problems" \
      "$work/qemu-$name.npz" "${skip[@]}" > "$work/qemu-$name.txt"
    head -2 "$work/qemu-$name.txt"
    "$venv/bin/python" scripts/wheel_check.py compare "$work/ref.npz" "$work/qemu-$name.npz" --level "$level"
  done
fi
echo "wheel tests passed"
