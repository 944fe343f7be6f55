#!/usr/bin/env bash
# The kernel objects of the SIMD levels above the baseline must define no
# function the linker could share with the rest of the library: an inline
# function or template instantiated outside the level's namespace and not
# inlined away (a std:: or Eigen helper) is emitted as a weak symbol, and the
# linker keeps one copy for every caller — perhaps the AVX2 one, which the
# baseline code would then run on a CPU without AVX2.
# Usage: check_kernel_symbols.sh NM OBJECT...
set -euo pipefail
nm=$1
shift
bad=0
for obj in "$@"; do
  # Weak or unique-global definitions (W, V, u) whose names are not in a
  # level namespace (simd_v2 / simd_v3 / simd_v4); DW.ref.* are the
  # exception-handling personality pointers, data, not code.
  found=$("$nm" -C --defined-only "$obj" | awk '$2 ~ /^[WVu]$/' | grep -v 'simd_v[234]::' | grep -v ' DW\.ref\.' ||
          true)
  if [ -n "$found" ]; then
    echo "$obj defines shared (weak) symbols outside its level namespace:"
    echo "$found"
    bad=1
  fi
done
if [ "$bad" = 0 ]; then echo "kernel objects: $# checked, no shared weak symbol"; fi
exit "$bad"
