// The distance kernels of k-means, compiled once per SIMD level
// (cpp/src/kernels/kmeans_kernels.cpp, twinscore/simd.h): the nearest centre
// of 1 or kKMeansRows rows (with the nearest and second-nearest distances for
// the bounds), the exact float64 squared distance, and the vector stage of the
// pruned pass's bounds (k <= 16). The baseline runs scalar loops; x86-64-v3
// and v4 run AVX2 + FMA, 16 centres per step. The levels compare float32
// approximations computed in different orders (FMA, lanes): labels agree but
// where two centres are within float32 rounding of a row, and the inertia to
// relative 1e-12 (it is summed from the float64 Dist2, which sums four lanes
// at the vector levels).
#pragma once

#include <cstddef>
#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

constexpr int kKMeansLanes = 8;  // centres handled together (one AVX2 register)
// Rows handled together by the distance kernels: with two registers of
// centres, 6 rows give 12 independent FMA chains (4 rows, 8 chains, left the
// FMA latency exposed: the brute-force pass ran ~20 % slower).
constexpr int kKMeansRows = 6;
// The outward rounding factors of the stored bounds (kmeans.cpp).
constexpr float kKMeansUp = 1.0f + 0x1.0p-20f;
constexpr float kKMeansDown = 1.0f - 0x1.0p-20f;

// The centres as the kernels read them: transposed (d x kp, kp = k rounded
// up to 8), padding centres of infinite norm.
struct KMeansCentres {
  int32_t k, kp;
  int64_t d;
  const float* ct;     // d * kp
  const float* cnorm;  // kp
};

using NearestFn = void (*)(const float* x, const KMeansCentres& p, int32_t* out);
using Nearest2Fn = void (*)(const float* const* xs, const KMeansCentres& p, int32_t* out, float* f1, float* f2);
using Dist2Fn = double (*)(const float* x, const float* c, int64_t d);
using MoveBoundsFn = size_t (*)(const float* cum_up, const float* cum_drop, const float* sep, float e2,
                                size_t begin, size_t end, const int32_t* labels, const float* upper,
                                const float* lower, uint32_t* cand, size_t* found);

// Index of the kernels for a width fixed at compile time: 8, 16, 32, or 0 (any).
constexpr int KMeansWidthIndex(int D) { return D == 8 ? 1 : D == 16 ? 2 : D == 32 ? 3 : 0; }

struct KMeansKernels {
  NearestFn nearest1[4];   // one row, per width index
  NearestFn nearest6[4];   // kKMeansRows consecutive rows
  Nearest2Fn nearest2_1[4];
  Nearest2Fn nearest2_6[4];
  Dist2Fn dist2[4];
  MoveBoundsFn move_bounds;  // null at the baseline (the scalar loop)
};

TWINSCORE_DECLARE_KERNEL_TABLES(KMeansKernels, kKMeans)

inline const KMeansKernels& KMeans(SimdLevel level) {
  return ForLevel(level, simd_v2::kKMeans, simd_v3::kKMeans, simd_v4::kKMeans);
}
inline const KMeansKernels& KMeans() { return KMeans(ActiveSimdLevel()); }

}  // namespace twinscore::kernels
