// The dense twins search's fused kernel (twinscore/twins_kernel.h) over a
// range of client panels, compiled once per SIMD level
// (cpp/src/kernels/twins_kernels.cpp, twinscore/simd.h). The baseline has
// none (its table is empty: the engine scores tiles with Eigen and filters
// them, topk.h); x86-64-v3 and v4 run the AVX2 + FMA register tile. The two
// paths compute the dot products in different orders (and the kernel with
// FMA): scores agree to float32 rounding (relative 1e-5 in the tests), and
// the twins found are the same but where two clients' scores are that close.
#pragma once

#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

// Called for the rare scores of prospect `row` (0 .. nr) that reached its
// threshold: s holds the panel's 16 scores, `mask` those that passed, col0
// the panel's first client position. Offers them to the row's heap and
// returns the row's new threshold.
using OfferHitsFn = float (*)(void* ctx, int64_t row, const float* s, unsigned mask, int64_t col0);

struct TwinsKernels {
  // nr packed prospects (PackProspects) against the client positions
  // [cb, ce) of the panels (16 clients each, feature-major; bias per client):
  // score = scale * dot + bias, compared with thr[row] (updated in place).
  // Null at the baseline.
  void (*dense_search)(const float* packed, int64_t nr, int64_t d, const float* panels, const float* bias,
                       int64_t cb, int64_t ce, float scale, float* thr, OfferHitsFn offer, void* ctx);
};

TWINSCORE_DECLARE_KERNEL_TABLES(TwinsKernels, kTwins)

inline const TwinsKernels& Twins(SimdLevel level) {
  return ForLevel(level, simd_v2::kTwins, simd_v3::kTwins, simd_v4::kTwins);
}
inline const TwinsKernels& Twins() { return Twins(ActiveSimdLevel()); }

}  // namespace twinscore::kernels
