#include "kernel_level.h"
#include "../kmeans_kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace twinscore::kernels::TWINSCORE_SIMD_NS {
namespace {

#if defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = kKMeansLanes;  // the vector paths' only (clang: unused at the baseline)

// The lowest index among the lanes holding the minimum, without leaving the
// registers (a scalar loop here costs branch mispredictions on every row).
inline int32_t ArgMin8(__m256 best, __m256i bidx) {
  __m256 m = _mm256_min_ps(best, _mm256_permute2f128_ps(best, best, 1));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m256 eq = _mm256_cmp_ps(best, m, _CMP_EQ_OQ);
  const __m256i big = _mm256_set1_epi32(std::numeric_limits<int32_t>::max());
  __m256i id = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(big), _mm256_castsi256_ps(bidx), eq));
  id = _mm256_min_epi32(id, _mm256_permute2x128_si256(id, id, 1));
  id = _mm256_min_epi32(id, _mm256_shuffle_epi32(id, _MM_SHUFFLE(1, 0, 3, 2)));
  id = _mm256_min_epi32(id, _mm256_shuffle_epi32(id, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm256_cvtsi256_si32(id);
}

// One group of 8 centres folded into the running minimum of a row: the
// distance up to ||x||^2 is ||c||^2 - 2 x.c; strict < keeps the lowest index
// on ties (groups come in increasing order).
inline void Fold(__m256 acc, const float* cnorm, int32_t q, __m256& best, __m256i& bidx) {
  const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(q));
  const __m256 dist = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), acc, _mm256_loadu_ps(cnorm + q));
  const __m256 lt = _mm256_cmp_ps(dist, best, _CMP_LT_OQ);
  best = _mm256_blendv_ps(best, dist, lt);
  bidx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bidx), _mm256_castsi256_ps(idx), lt));
}

// Nearest centre of R consecutive rows (D = d when known at compile time, 0
// otherwise). Centres are taken 16 at a time (two registers) where possible:
// each broadcast row value then feeds two FMAs, and the 2R accumulators are
// independent chains, enough to hide the FMA latency; the centre loads are
// shared by the R rows. The results are those of one group at a time.
template <int R, int D>
inline void NearestRows(const float* x, const KMeansCentres& p, int32_t* out) {
  const int64_t d = D > 0 ? D : p.d;
  const int32_t kp = p.kp;
  __m256 best[R];
  __m256i bidx[R];
  for (int r = 0; r < R; ++r) {
    best[r] = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    bidx[r] = _mm256_setzero_si256();
  }
  int32_t q = 0;
  for (; q + 2 * kLanes <= kp; q += 2 * kLanes) {
    __m256 a0[R], a1[R];
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
    const float* ct = p.ct + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 c0 = _mm256_loadu_ps(ct + j * kp), c1 = _mm256_loadu_ps(ct + j * kp + kLanes);
      for (int r = 0; r < R; ++r) {
        const __m256 xv = _mm256_broadcast_ss(x + r * d + j);
        a0[r] = _mm256_fmadd_ps(xv, c0, a0[r]);
        a1[r] = _mm256_fmadd_ps(xv, c1, a1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      Fold(a0[r], p.cnorm, q, best[r], bidx[r]);
      Fold(a1[r], p.cnorm, q + kLanes, best[r], bidx[r]);
    }
  }
  if (q < kp) {  // the last 8 centres when kp is not a multiple of 16
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    const float* ct = p.ct + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 cv = _mm256_loadu_ps(ct + j * kp);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * d + j), cv, acc[r]);
    }
    for (int r = 0; r < R; ++r) Fold(acc[r], p.cnorm, q, best[r], bidx[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = ArgMin8(best[r], bidx[r]);
}

// As NearestRows for R rows given by pointers (the rows a pruned pass could
// not keep), also returning the approximate distances (up to ||x||^2) of the
// nearest and of the second-nearest centre, for the Hamerly bounds. The
// distances are computed by the same operations in the same order as in
// NearestRows, so the labels are the same bit for bit.
template <int R, int D>
inline void Nearest2Rows(const float* const* xs, const KMeansCentres& p, int32_t* out, float* f1, float* f2) {
  const int64_t d = D > 0 ? D : p.d;
  const int32_t kp = p.kp;
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 best[R], second[R];
  __m256i bidx[R];
  for (int r = 0; r < R; ++r) best[r] = second[r] = inf, bidx[r] = _mm256_setzero_si256();
  // Per lane: the second smallest is the smaller of the old second and the
  // larger of (old best, new distance).
  auto fold2 = [&](__m256 acc, int32_t q, int r) {
    const __m256 dist = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), acc, _mm256_loadu_ps(p.cnorm + q));
    second[r] = _mm256_min_ps(second[r], _mm256_max_ps(best[r], dist));
    Fold(acc, p.cnorm, q, best[r], bidx[r]);
  };
  int32_t q = 0;
  for (; q + 2 * kLanes <= kp; q += 2 * kLanes) {
    __m256 a0[R], a1[R];
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
    const float* ct = p.ct + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 c0 = _mm256_loadu_ps(ct + j * kp), c1 = _mm256_loadu_ps(ct + j * kp + kLanes);
      for (int r = 0; r < R; ++r) {
        const __m256 xv = _mm256_broadcast_ss(xs[r] + j);
        a0[r] = _mm256_fmadd_ps(xv, c0, a0[r]);
        a1[r] = _mm256_fmadd_ps(xv, c1, a1[r]);
      }
    }
    for (int r = 0; r < R; ++r) fold2(a0[r], q, r), fold2(a1[r], q + kLanes, r);
  }
  if (q < kp) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    const float* ct = p.ct + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 cv = _mm256_loadu_ps(ct + j * kp);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(xs[r] + j), cv, acc[r]);
    }
    for (int r = 0; r < R; ++r) fold2(acc[r], q, r);
  }
  for (int r = 0; r < R; ++r) {
    out[r] = ArgMin8(best[r], bidx[r]);
    // The winner's lane offers its second; every other lane its best.
    const __m256 win = _mm256_castsi256_ps(_mm256_cmpeq_epi32(bidx[r], _mm256_set1_epi32(out[r])));
    __m256 v = _mm256_blendv_ps(best[r], second[r], win);
    v = _mm256_min_ps(v, _mm256_permute2f128_ps(v, v, 1));
    v = _mm256_min_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm256_min_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    f2[r] = _mm256_cvtss_f32(v);
    alignas(32) float lanes[kLanes];  // the winner's distance: its lane of best
    _mm256_store_ps(lanes, best[r]);
    f1[r] = lanes[out[r] % kLanes];
  }
}

// Exact squared distance in float64, four features per register (the
// inertia is summed from these, not from the expanded form, which loses
// digits when ||x|| is large).
template <int D>
inline double Dist2(const float* x, const float* c, int64_t dyn) {
  const int64_t d = D > 0 ? D : dyn;
  int64_t j = 0;
  __m256d acc = _mm256_setzero_pd();
  for (; j + 4 <= d; j += 4) {
    const __m256d t = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), _mm256_cvtps_pd(_mm_loadu_ps(c + j)));
    acc = _mm256_fmadd_pd(t, t, acc);
  }
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
  double s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  if constexpr (D <= 0 || D % 4 != 0) {  // no tail for the fixed widths (8, 16, 32)
    for (; j < d; ++j) {
      const double t = static_cast<double>(x[j]) - c[j];
      s += t * t;
    }
  }
  return s;
}
// dr's table (16 entries) at 8 labels < 16: two in-register permutes.
inline __m256 Lookup16(const float* table, __m256i a) {
  const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), a);
  const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), a);
  return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, _mm256_set1_epi32(7))));
}

// The bounds stage of PrunedBlock for k <= 16, 8 rows per step: the same
// moves and test as the scalar loop, without a branch per row. Appends the
// rows not kept to cand (*found of them); returns where it stopped.
size_t MoveBounds(const float* cum_up, const float* cum_drop, const float* sep, float drift_e2, size_t begin,
                  size_t end, const int32_t* labels, const float* upper, const float* lower, uint32_t* cand,
                  size_t* found) {
  const __m256 up = _mm256_set1_ps(kKMeansUp), down = _mm256_set1_ps(kKMeansDown), e2 = _mm256_set1_ps(drift_e2);
  size_t n = 0;
  size_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(labels + i));
    const __m256 u = _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(upper + i), Lookup16(cum_up, a)), up);
    const __m256 l = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(lower + i), Lookup16(cum_drop, a)), down);
    const __m256 lb = _mm256_max_ps(l, _mm256_mul_ps(_mm256_sub_ps(Lookup16(sep, a), u), down));
    const __m256 lhs = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(u, u), up), e2);
    const __m256 rhs = _mm256_mul_ps(_mm256_mul_ps(lb, lb), down);
    const __m256 keep = _mm256_and_ps(_mm256_cmp_ps(lb, _mm256_setzero_ps(), _CMP_GT_OQ),
                                      _mm256_cmp_ps(lhs, rhs, _CMP_LT_OQ));
    unsigned drop = ~static_cast<unsigned>(_mm256_movemask_ps(keep)) & 0xffu;
    for (; drop; drop &= drop - 1) cand[n++] = static_cast<uint32_t>(i - begin + __builtin_ctz(drop));
  }
  *found = n;
  return i;
}
}  // namespace

const KMeansKernels kKMeans = {
    {NearestRows<1, 0>, NearestRows<1, 8>, NearestRows<1, 16>, NearestRows<1, 32>},
    {NearestRows<kKMeansRows, 0>, NearestRows<kKMeansRows, 8>, NearestRows<kKMeansRows, 16>,
     NearestRows<kKMeansRows, 32>},
    {Nearest2Rows<1, 0>, Nearest2Rows<1, 8>, Nearest2Rows<1, 16>, Nearest2Rows<1, 32>},
    {Nearest2Rows<kKMeansRows, 0>, Nearest2Rows<kKMeansRows, 8>, Nearest2Rows<kKMeansRows, 16>,
     Nearest2Rows<kKMeansRows, 32>},
    {Dist2<0>, Dist2<8>, Dist2<16>, Dist2<32>},
    MoveBounds,
};

#else  // the baseline: scalar loops (the std::vector here is the baseline's own)
template <int R, int D>
inline void NearestRows(const float* x, const KMeansCentres& p, int32_t* out) {
  std::vector<float> acc(p.kp);
  for (int r = 0; r < R; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < p.d; ++j) {
      const float xj = x[r * p.d + j];
      const float* ct = p.ct + j * p.kp;
      for (int32_t c = 0; c < p.kp; ++c) acc[c] += xj * ct[c];
    }
    int32_t b = 0;
    float bv = std::numeric_limits<float>::infinity();
    for (int32_t c = 0; c < p.k; ++c) {
      const float v = p.cnorm[c] - 2.0f * acc[c];
      if (v < bv) bv = v, b = c;
    }
    out[r] = b;
  }
}

// Scalar twin of the AVX2 Nearest2Rows: the same values as this file's
// scalar NearestRows, plus the nearest and second-nearest distances.
template <int R, int D>
inline void Nearest2Rows(const float* const* xs, const KMeansCentres& p, int32_t* out, float* f1, float* f2) {
  std::vector<float> acc(p.kp);
  for (int r = 0; r < R; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < p.d; ++j) {
      const float xj = xs[r][j];
      const float* ct = p.ct + j * p.kp;
      for (int32_t c = 0; c < p.kp; ++c) acc[c] += xj * ct[c];
    }
    int32_t b = 0;
    float bv = std::numeric_limits<float>::infinity(), sv = bv;
    for (int32_t c = 0; c < p.k; ++c) {
      const float v = p.cnorm[c] - 2.0f * acc[c];
      if (v < bv) {
        sv = bv, bv = v, b = c;
      } else if (v < sv) {
        sv = v;
      }
    }
    out[r] = b, f1[r] = bv, f2[r] = sv;
  }
}

template <int D>
inline double Dist2(const float* x, const float* c, int64_t dyn) {
  const int64_t d = D > 0 ? D : dyn;
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double t = static_cast<double>(x[j]) - c[j];
    s += t * t;
  }
  return s;
}
}  // namespace

const KMeansKernels kKMeans = {
    {NearestRows<1, 0>, NearestRows<1, 8>, NearestRows<1, 16>, NearestRows<1, 32>},
    {NearestRows<kKMeansRows, 0>, NearestRows<kKMeansRows, 8>, NearestRows<kKMeansRows, 16>,
     NearestRows<kKMeansRows, 32>},
    {Nearest2Rows<1, 0>, Nearest2Rows<1, 8>, Nearest2Rows<1, 16>, Nearest2Rows<1, 32>},
    {Nearest2Rows<kKMeansRows, 0>, Nearest2Rows<kKMeansRows, 8>, Nearest2Rows<kKMeansRows, 16>,
     Nearest2Rows<kKMeansRows, 32>},
    {Dist2<0>, Dist2<8>, Dist2<16>, Dist2<32>},
    nullptr,
};

#endif

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
