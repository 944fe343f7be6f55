// The fused dense kernel of the twins engine: R prospects against one panel of
// 16 clients, the R x 16 dot products kept in registers and compared with each
// prospect's running k-th best before anything is stored.
//
// Layouts (both packed by the caller, once):
//   prospects  a group of R rows, feature-major: P[t * R + r], t < d;
//   clients    a panel of 16 rows, feature-major: C[t * 16 + j], t < d.
// Per feature: 2 panel loads, R broadcasts, 2R FMAs. With R = 6 that is 12
// accumulators + 2 panel registers + 1 broadcast = 15 of AVX2's 16 ymm.
//
// Everything is forced inline and every loop over r is fully unrolled, so the
// accumulators never leave the registers: a loop over r that the compiler
// does not unroll makes it keep the accumulator arrays in memory and store all
// twelve at every feature, which halves the FMA rate (the cause of the
// previous kernel's third of peak).
#pragma once

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TWINSCORE_DENSE_KERNEL 1
#endif

namespace twinscore {

// Largest group of prospects per kernel call.
constexpr int kTwinRows = 6;
// Clients per panel.
constexpr int kTwinPanel = 16;

// Packs rows [0, n) of the row-major n x d matrix X into groups of at most
// kTwinRows rows, each group feature-major (see above); `out` holds n * d
// floats, group g (rows [6g, 6g + R)) starting at out + 6g * d.
inline void PackProspects(const float* X, int64_t n, int64_t d, float* out) {
  for (int64_t i0 = 0; i0 < n; i0 += kTwinRows) {
    const int64_t R = n - i0 < kTwinRows ? n - i0 : kTwinRows;
    float* g = out + i0 * d;
    for (int64_t r = 0; r < R; ++r) {
      const float* x = X + (i0 + r) * d;
      for (int64_t t = 0; t < d; ++t) g[t * R + r] = x[t];
    }
  }
}

#ifdef TWINSCORE_DENSE_KERNEL

#define TWINSCORE_INLINE inline __attribute__((always_inline))

// The R x 16 accumulators of one call.
template <int R>
struct TwinTile {
  __m256 lo[R], hi[R];
};

// tile = P . C^T over d features (no epilogue).
template <int R>
TWINSCORE_INLINE void TwinTileDot(const float* P, const float* C, int64_t d, TwinTile<R>& tile) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) tile.lo[r] = tile.hi[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t t = 0; t < d; ++t) {
    const __m256 c0 = _mm256_loadu_ps(C + t * 16), c1 = _mm256_loadu_ps(C + t * 16 + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(P + t * R + r);
      tile.lo[r] = _mm256_fmadd_ps(a, c0, tile.lo[r]);
      tile.hi[r] = _mm256_fmadd_ps(a, c1, tile.hi[r]);
    }
  }
}

// The fused kernel: scores s[r][j] = scale * (P . C)[r][j] + bias[j] are
// written to out[r * 16 + j] (R * 16 floats, 32-byte aligned), and masks[r]
// gets the bits j (within `lanes`) where s[r][j] >= thr[r]. Returns whether
// any bit is set. The caller then offers only those few scores to its heaps:
// the epilogue is 2 FMAs, 2 compares and 2 stores per row for 2d FMAs.
template <int R>
TWINSCORE_INLINE bool TwinTileFused(const float* P, const float* C, const float* bias, int64_t d, float scale,
                                    const float* thr, unsigned lanes, float* out, unsigned* masks) {
  TwinTile<R> tile;
  TwinTileDot<R>(P, C, d, tile);
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  unsigned any = 0;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m256 v0 = _mm256_fmadd_ps(tile.lo[r], vs, b0), v1 = _mm256_fmadd_ps(tile.hi[r], vs, b1);
    _mm256_store_ps(out + r * 16, v0);
    _mm256_store_ps(out + r * 16 + 8, v1);
    const __m256 vt = _mm256_set1_ps(thr[r]);
    const unsigned m = (static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v0, vt, _CMP_GE_OQ))) |
                        (static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v1, vt, _CMP_GE_OQ))) << 8)) &
                       lanes;
    masks[r] = m;
    any |= m;
  }
  return any != 0;
}

#endif  // TWINSCORE_DENSE_KERNEL

}  // namespace twinscore
