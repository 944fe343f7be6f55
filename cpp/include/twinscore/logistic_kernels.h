// Row kernels of the logistic fit, on float32 rows read in float64: the
// scores z = X beta and the gradient update grad += X^T r of a chunk of rows;
// and the fused scorer's column kernels. Compiled once per SIMD level
// (cpp/src/kernels/logistic_kernels.cpp, twinscore/simd.h): the baseline
// runs portable scalar loops, x86-64-v3 and v4 vectorised ones (four rows at
// a time, four columns per instruction, FMA). All are deterministic. Between
// levels, add_numeric, add_codes and stream_store give identical bits;
// chunk_scores and chunk_gradient differ in the last bits (FMA rounding and
// the vector kernels' summation order: relative 1e-12 on the tests' data).
#pragma once

#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

struct LogisticKernels {
  // z[i] = sum_j X[i*d + j] * beta[j], rows [0, m).
  void (*chunk_scores)(const float* X, int64_t m, int64_t d, const double* beta, double* z);
  // grad[j] += sum_i r[i] * X[i*d + j], rows [0, m).
  void (*chunk_gradient)(const float* X, int64_t m, int64_t d, const double* r, double* grad);
  // Fused scoring. z[i] += w * u_i for rows [0, m) of a contiguous float32
  // column, u_i its encoded value as EncodeDense writes it (clip to [lo, hi],
  // subtract center, divide by scale, round to float32; fill for NaN).
  // Returns the first row holding +-inf (the caller reports it), or m.
  int64_t (*add_numeric)(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                         double w, double* z);
  // z[i] += table[codes[i] + 1] for codes in [-1, n_categories]: table holds
  // n_categories + 2 values (0 for the missing code -1 and the "other" code
  // n). Returns the first row whose code is outside that range, or m.
  int64_t (*add_codes)(const int32_t* codes, int64_t m, const double* table, int32_t n_categories, double* z);
  // dst[i] = src[i], rows [0, m), with non-temporal stores where the level
  // has AVX2 (for output written once and not read back soon).
  void (*stream_store)(const double* src, int64_t m, double* dst);
  // Whether this level's kernels are the vector ones.
  bool vector;
};

TWINSCORE_DECLARE_KERNEL_TABLES(LogisticKernels, kLogistic)

// The kernels of one level (tests compare them).
inline const LogisticKernels& Logistic(SimdLevel level) {
  return ForLevel(level, simd_v2::kLogistic, simd_v3::kLogistic, simd_v4::kLogistic);
}

// The kernels of the level in use (ActiveSimdLevel()).
const LogisticKernels& Logistic();

}  // namespace twinscore::kernels
