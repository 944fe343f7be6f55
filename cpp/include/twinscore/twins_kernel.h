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

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TWINSCORE_DENSE_KERNEL 1
#endif

namespace twinscore {

// Largest group of prospects per kernel call.
constexpr int kTwinRows = 6;
// Clients per panel.
constexpr int kTwinPanel = 16;

// Storage for the client panels, aligned to a cache line: a 32-byte panel
// load that straddles two lines costs a second access, and with the 16-byte
// alignment of plain new every other one would.
template <class T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  template <class U>
  bool operator==(const CacheAligned<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheAligned<U>&) const { return false; }
};
using AlignedFloats = std::vector<float, CacheAligned<float>>;

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

// The fused kernel: scores s[r][j] = scale * (P . C)[r][j] + bias[j],
// compared with thr[r]. Returns whether any lane within `lanes` has
// s[r][j] >= thr[r]; only then (rarely, once the heaps are full) are the
// scores written to out[r * 16 + j] (R * 16 floats, 32-byte aligned) and the
// passing lanes of row r to masks[r]. The common path adds 2 FMAs, 2 compares
// and 2 ORs per row to the tile's 2d FMAs, and one test for the whole tile.
template <int R>
TWINSCORE_INLINE bool TwinTileFused(const float* P, const float* C, const float* bias, int64_t d, float scale,
                                    const float* thr, unsigned lanes, float* out, unsigned* masks) {
  TwinTile<R> tile;
  TwinTileDot<R>(P, C, d, tile);
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  // The lanes outside [lo, hi) never pass: lane j of keep0/keep1 is all ones
  // when bit j (resp. 8 + j) of `lanes` is set.
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 keep0 = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(lanes)), bit), bit));
  const __m256 keep1 = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(lanes >> 8)), bit), bit));
  __m256 v0[R], v1[R], hit0 = _mm256_setzero_ps(), hit1 = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    v0[r] = _mm256_fmadd_ps(tile.lo[r], vs, b0);
    v1[r] = _mm256_fmadd_ps(tile.hi[r], vs, b1);
    const __m256 vt = _mm256_set1_ps(thr[r]);
    hit0 = _mm256_or_ps(hit0, _mm256_cmp_ps(v0[r], vt, _CMP_GE_OQ));
    hit1 = _mm256_or_ps(hit1, _mm256_cmp_ps(v1[r], vt, _CMP_GE_OQ));
  }
  const __m256 hit = _mm256_or_ps(_mm256_and_ps(hit0, keep0), _mm256_and_ps(hit1, keep1));
  if (_mm256_testz_ps(hit, hit)) return false;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(out + r * 16, v0[r]);
    _mm256_store_ps(out + r * 16 + 8, v1[r]);
    const __m256 vt = _mm256_set1_ps(thr[r]);
    masks[r] = (static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v0[r], vt, _CMP_GE_OQ))) |
                (static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v1[r], vt, _CMP_GE_OQ))) << 8)) &
               lanes;
  }
  return true;
}

#endif  // TWINSCORE_DENSE_KERNEL

}  // namespace twinscore
