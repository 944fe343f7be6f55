#include "kernel_level.h"
#include "../twins_kernels.h"

#include <algorithm>
#include <cstdint>

#include "twinscore/twins_kernel.h"

namespace twinscore::kernels::TWINSCORE_SIMD_NS {

#ifdef TWINSCORE_DENSE_KERNEL
namespace {

// R packed prospects against one panel of 16 clients (twins_kernel.h); only
// the rare scores that reach a heap leave the registers, through `offer`.
template <int R>
void DenseGroup(const float* P, const float* C, const float* bias, int64_t d, float scale, unsigned lanes,
                int64_t col0, int64_t row0, float* thr, OfferHitsFn offer, void* ctx) {
  alignas(32) float s[R * kTwinPanel];
  unsigned masks[R];
  if (!TwinTileFused<R>(P, C, bias, d, scale, thr, lanes, s, masks)) return;
  for (int r = 0; r < R; ++r) {
    if (masks[r]) thr[r] = offer(ctx, row0 + r, s + r * kTwinPanel, masks[r], col0);
  }
}

// Panels outer (4 KiB at d = 64: stays in L1), groups of 6 packed prospects
// inner (the item's prospects stay in L1/L2).
void DenseSearch(const float* packed, int64_t nr, int64_t d, const float* panels, const float* bias, int64_t cb,
                 int64_t ce, float scale, float* thr, OfferHitsFn offer, void* ctx) {
  for (int64_t panel = cb / kTwinPanel; panel * kTwinPanel < ce; ++panel) {
    const int64_t col0 = panel * kTwinPanel;
    const int lo = static_cast<int>(col0 < cb ? cb - col0 : 0);
    const int hi = static_cast<int>(ce - col0 < kTwinPanel ? ce - col0 : kTwinPanel);
    const unsigned lanes = ((1u << hi) - 1u) & ~((1u << lo) - 1u);
    const float* C = panels + panel * d * kTwinPanel;
    const float* b = bias + col0;
    int64_t i = 0;
    for (; i + kTwinRows <= nr; i += kTwinRows) {
      DenseGroup<kTwinRows>(packed + i * d, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx);
    }
    const float* P = packed + i * d;
    switch (nr - i) {
      case 5: DenseGroup<5>(P, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx); break;
      case 4: DenseGroup<4>(P, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx); break;
      case 3: DenseGroup<3>(P, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx); break;
      case 2: DenseGroup<2>(P, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx); break;
      case 1: DenseGroup<1>(P, C, b, d, scale, lanes, col0, i, thr + i, offer, ctx); break;
      default: break;
    }
  }
}

}  // namespace

const TwinsKernels kTwins = {DenseSearch};

#else  // the baseline: Eigen tiles and the top-k filter in the engine

const TwinsKernels kTwins = {nullptr};

#endif

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
