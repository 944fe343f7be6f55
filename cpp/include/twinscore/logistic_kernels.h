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

// The versions the fit uses.
inline void ChunkScores(const float* X, int64_t m, int64_t d, const double* beta, double* z) {
  ChunkScoresAvx2(X, m, d, beta, z);
}
inline void ChunkGradient(const float* X, int64_t m, int64_t d, const double* r, double* grad) {
  ChunkGradientAvx2(X, m, d, r, grad);
}

}  // namespace twinscore::kernels
