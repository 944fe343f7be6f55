// Row kernels of the logistic fit, on float32 rows read in float64: the
// scores z = X beta and the gradient update grad += X^T r of a chunk of rows.
// Each has a portable scalar version and, where the compiler targets AVX2 +
// FMA, a vectorised one (four rows at a time, four columns per instruction);
// FitLogistic calls the fastest available. Both are deterministic; they may
// differ from each other in the last bits (FMA rounding, summation order).
#pragma once

#include <cstdint>

namespace twinscore::kernels {

// z[i] = sum_j X[i*d + j] * beta[j], rows [0, m).
void ChunkScoresScalar(const float* X, int64_t m, int64_t d, const double* beta, double* z);
// grad[j] += sum_i r[i] * X[i*d + j], rows [0, m).
void ChunkGradientScalar(const float* X, int64_t m, int64_t d, const double* r, double* grad);

// The AVX2 versions; true when compiled in (otherwise they run the scalar ones).
bool HasAvx2Kernels();
void ChunkScoresAvx2(const float* X, int64_t m, int64_t d, const double* beta, double* z);
void ChunkGradientAvx2(const float* X, int64_t m, int64_t d, const double* r, double* grad);

// Fused scoring. z[i] += w * u_i for rows [0, m) of a contiguous float32
// column, u_i its encoded value as EncodeDense writes it (clip to [lo, hi],
// subtract center, divide by scale, round to float32; fill for NaN). Returns
// the first row holding +-inf (the caller reports it), or m.
int64_t AddNumericScalar(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                         double w, double* z);
int64_t AddNumericAvx2(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                       double w, double* z);
// z[i] += table[codes[i] + 1] for codes in [-1, n_categories]: table holds
// n_categories + 2 values (0 for the missing code -1 and the "other" code n).
// Returns the first row whose code is outside that range, or m.
int64_t AddCodes(const int32_t* codes, int64_t m, const double* table, int32_t n_categories, double* z);

// dst[i] = src[i], rows [0, m), with non-temporal stores where AVX2 is
// compiled in (for output written once and not read back soon).
void StreamStore(const double* src, int64_t m, double* dst);

// The versions the fit and the scorer use.
inline void ChunkScores(const float* X, int64_t m, int64_t d, const double* beta, double* z) {
  ChunkScoresAvx2(X, m, d, beta, z);
}
inline void ChunkGradient(const float* X, int64_t m, int64_t d, const double* r, double* grad) {
  ChunkGradientAvx2(X, m, d, r, grad);
}

}  // namespace twinscore::kernels
