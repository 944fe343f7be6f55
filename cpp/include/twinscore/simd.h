// Run-time SIMD dispatch.
//
// The hot kernels live in cpp/src/kernels/ and are compiled once per level —
// x86-64-v2 (SSE4.2, the baseline every x86-64 CPU of the last 15 years has),
// x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512) — each copy in its own
// namespace (simd_v2, simd_v3, simd_v4), exporting a table of function
// pointers per engine. The rest of the library is compiled once, for the
// baseline, and calls the kernels through the table of the level chosen here,
// once per process: the highest the CPU and the OS support, or lower when the
// TWINSCORE_SIMD environment variable (v2, v3 or v4) asks for it. A wheel
// built anywhere thus runs on any x86-64-v2 CPU at that CPU's full speed.
//
// Levels give the same results where their kernels do the same operations in
// the same order (the code is compiled without floating-point contraction, so
// a * b + c is never fused behind the source's back); where a vector kernel
// uses FMA or another summation order, the header of its engine says so and
// the tests state the tolerance.
#pragma once

#include <string>
#include <vector>

namespace twinscore {

enum class SimdLevel : int { kV2 = 2, kV3 = 3, kV4 = 4 };

// The highest level this CPU and OS can run (the OS must save the YMM / ZMM
// registers for AVX / AVX-512). Detected once.
SimdLevel CpuSimdLevel();

// Whether the CPU has at least x86-64-v2: a module compiled for the baseline
// must not run below it (the Python package refuses to import).
bool CpuHasBaseline();

// The level the kernels use: CpuSimdLevel(), lowered by TWINSCORE_SIMD.
// Chosen at the first call and fixed for the process (but for the tests'
// override below).
SimdLevel ActiveSimdLevel();

// Tests only: run the engines' kernels at `level` (2, 3 or 4; 0 restores the
// chosen one), so one process can compare every level the CPU runs. Not for
// production: it changes the level of every call in flight. Returns false,
// changing nothing, for a level this CPU cannot run.
bool OverrideSimdLevelForTesting(int level);

// TWINSCORE_SIMD as read at the first ActiveSimdLevel(): empty when unset.
// When it asks for more than the CPU has, the CPU's level is used.
std::string RequestedSimdLevel();

// Not empty when TWINSCORE_SIMD is set to something else than v2/v3/v4 (the
// Python package raises it as a ValueError at import; C++ callers use the
// CPU's level).
std::string SimdEnvironmentError();

// "v2", "v3", "v4".
const char* SimdLevelName(SimdLevel level);

// The CPU's features the levels are made of (sse4.2, avx2, fma, avx512f...),
// those present, in a fixed order.
std::vector<std::string> CpuFeatures();

// The levels this process can run, lowest first (v2 .. CpuSimdLevel()).
std::vector<SimdLevel> SupportedSimdLevels();

// One engine's kernel tables, one per level, and the one in use:
//   const MyKernels& k = ForLevel(ActiveSimdLevel(), simd_v2::kMy, simd_v3::kMy, simd_v4::kMy);
template <class Table>
const Table& ForLevel(SimdLevel level, const Table& v2, const Table& v3, const Table& v4) {
  switch (level) {
    case SimdLevel::kV4:
      return v4;
    case SimdLevel::kV3:
      return v3;
    default:
      return v2;
  }
}

}  // namespace twinscore

// Declares an engine's table `name` of type `Type` in each level's namespace
// (the kernel sources define them, cpp/src/kernels/).
#define TWINSCORE_DECLARE_KERNEL_TABLES(Type, name) \
  namespace simd_v2 {                                \
  extern const Type name;                            \
  }                                                  \
  namespace simd_v3 {                                \
  extern const Type name;                            \
  }                                                  \
  namespace simd_v4 {                                \
  extern const Type name;                            \
  }
