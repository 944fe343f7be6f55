// The binning kernels of the criteria engine (twinscore/criteria.h),
// compiled once per SIMD level (cpp/src/kernels/criteria_kernels.cpp,
// twinscore/simd.h): a contiguous float32 column binned by intervals only,
// 8 rows per step at x86-64-v3 and v4. The baseline has none (the engine's
// scalar loop, BinOf). The bin of a row is the same at every level: the
// number of inner edges below it, compared exactly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

struct CriteriaKernels {
  // Counts the rows [b, e) of x by bin and target, 8 rows per step, and
  // returns where it stopped (the caller bins the last rows). inner: the
  // n_inner inner edges as floats, each the largest float at or below its
  // edge (a float x lies above the edge exactly when x > inner[i]); a NaN
  // goes to bin `missing`. count: 8 * width entries, zeroed by the caller,
  // [copy (4)][target (0, 1)][bin]: four copies so that equal bins in a row
  // do not wait on each other's increments (the caller adds them).
  // Null at the baseline.
  size_t (*count_float32)(const float* x, const float* inner, int32_t n_inner, int32_t missing,
                          const uint8_t* target, size_t b, size_t e, size_t width, uint32_t* count);
  // The bin (as above) of the rows [b, e) of x, 8 rows per step, into
  // out[i]; returns where it stopped. Null at the baseline.
  size_t (*assign_float32)(const float* x, const float* inner, int32_t n_inner, int32_t missing, size_t b,
                           size_t e, int32_t* out);
};

TWINSCORE_DECLARE_KERNEL_TABLES(CriteriaKernels, kCriteria)

inline const CriteriaKernels& Criteria(SimdLevel level) {
  return ForLevel(level, simd_v2::kCriteria, simd_v3::kCriteria, simd_v4::kCriteria);
}
inline const CriteriaKernels& Criteria() { return Criteria(ActiveSimdLevel()); }

}  // namespace twinscore::kernels
