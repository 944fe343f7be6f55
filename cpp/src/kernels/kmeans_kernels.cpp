#include "kernel_level.h"
#include "../kmeans_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace twinscore::kernels::TWINSCORE_SIMD_NS {
namespace {

// The level's primitives: the nearest centre of 1 or kKMeansRows rows (with
// the nearest and second-nearest distances for the bounds), the exact
// float64 squared distance, the vector stage of the pruned pass's bounds.
#if defined(__AVX2__) && defined(__FMA__)
constexpr bool kVector = true;
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
#else  // the baseline: scalar loops (the std::vector here is the baseline's own)
constexpr bool kVector = false;

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

// No vector stage at the baseline: the scalar loop of PrunedBlock moves every bound.
inline size_t MoveBounds(const float*, const float*, const float*, float, size_t begin, size_t, const int32_t*,
                         const float*, const float*, uint32_t*, size_t* found) {
  *found = 0;
  return begin;
}
#endif

// ---- Level-independent code, compiled at each level on the primitives above ----

constexpr int kRows = kKMeansRows;
constexpr float kUp = kKMeansUp;
constexpr float kDown = kKMeansDown;

// True when every |x| is at most the float whose bits are `limit_bits`: the
// bits of a non-negative float order as its value, and NaN and infinity have
// the largest, so one unsigned compare refuses them too. A branch-free OR
// over the bits, which the compiler vectorises.
inline bool AllInRange(const float* x, size_t n, uint32_t limit_bits) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7fffffffu) > limit_bits);
  }
  return bad == 0;
}

// Adds a row to its centre's float64 sums (same order as a plain loop: the
// sums are bit-identical whatever D).
template <int D>
inline void AddRow(double* s, const float* x, double w, bool weighted, int64_t dyn) {
  const int64_t d = D > 0 ? D : dyn;
  if (weighted) {
    for (int64_t j = 0; j < d; ++j) s[j] += w * x[j];
  } else {
    for (int64_t j = 0; j < d; ++j) s[j] += x[j];
  }
}

// One block of rows: nearest centres, then (kExact) the exact distance and
// (kSums) the partial sums and weights of the block. Labels are compared with
// the previous ones as they are overwritten, so convergence costs no extra
// pass.
template <bool kSums, bool kExact, int D>
KMeansAssignOut AssignRange(KMeansRows rows, const KMeansCentres& p, size_t begin, size_t end, int32_t* labels,
                            float* dist2, double* sums) {
  const int64_t d = D > 0 ? D : p.d;
  const bool weighted = rows.weights != nullptr;
  double* counts = kSums ? sums + static_cast<size_t>(p.k) * d : nullptr;
  int32_t lab[kRows];
  KMeansAssignOut out{0.0, 0, true};
  auto finish = [&](size_t row, int32_t c) {
    const float* x = rows.X + row * d;
    const double w = weighted ? rows.weights[row] : 1.0;
    if (labels) {
      out.changed += labels[row] != c;
      labels[row] = c;
    }
    if constexpr (kExact) {
      const double dd = Dist2<D>(x, p.rows + static_cast<size_t>(c) * d, d);
      out.inertia += w * dd;
      if (dist2) dist2[row] = static_cast<float>(dd);
    }
    if constexpr (kSums) {
      AddRow<D>(sums + static_cast<size_t>(c) * d, x, w, weighted, d);
      counts[c] += w;
    }
  };
  size_t i = begin;
  for (; i + kRows <= end; i += kRows) {
    NearestRows<kRows, D>(rows.X + i * d, p, lab);
    for (int r = 0; r < kRows; ++r) finish(i + r, lab[r]);
  }
  for (; i < end; ++i) {
    NearestRows<1, D>(rows.X + i * d, p, lab);
    finish(i, lab[0]);
  }
  return out;
}

constexpr size_t kCheckRows = 40 * kRows;  // rows scanned at a time (15 KiB at d = 16)

template <int Mode, int D>
KMeansAssignOut AssignBlock(KMeansRows rows, const KMeansCentres& p, size_t begin, size_t end, int32_t* labels,
                            float* dist2, double* sums) {
  constexpr bool kSums = Mode != kAssignExact;
  constexpr bool kExact = Mode == kAssignExact || Mode == kAssignSumsExact;
  if constexpr (Mode == kAssignSumsCheck) {
    // Rows scanned in L1-sized chunks just before they are assigned; the
    // chunks add to the block's sums in row order, as one call would.
    const int64_t d = D > 0 ? D : p.d;
    KMeansAssignOut o{0.0, 0, true};
    for (size_t c = begin; c < end; c += kCheckRows) {
      const size_t e = std::min(end, c + kCheckRows);
      o.finite &= AllInRange(rows.X + c * d, (e - c) * d, rows.limit_bits);
      o.changed += AssignRange<kSums, kExact, D>(rows, p, c, e, labels, dist2, sums).changed;
    }
    return o;
  } else {
    return AssignRange<kSums, kExact, D>(rows, p, begin, end, labels, dist2, sums);
  }
}

// ---- Hamerly's bounds (kmeans.cpp explains them) ----

// Floats at least (at most) v: the conversion and the product round by
// 2^-24 at most, the factor moves by 2^-20. No nextafter (a libm call).
inline float RoundUp(double v) { return static_cast<float>(v) * kUp; }
inline float RoundDown(double v) { return static_cast<float>(v) * kDown; }

// The float one step above (below) the nearest float to v: at least (at
// most) v whatever its sign (the bounds stored relative to the epoch may be
// negative). libm's nextafterf, not std::nextafter: an inline std:: function
// could be shared with the baseline code at link time (kernel_level.h).
inline float StepUp(double v) { return nextafterf(static_cast<float>(v), HUGE_VALF); }
inline float StepDown(double v) { return nextafterf(static_cast<float>(v), -HUGE_VALF); }

// ||x||^2 in float64 (the level's Dist2 against the origin).
template <int D>
inline double Norm2(const float* x, int64_t dyn) {
  alignas(32) static constexpr float kZero[64] = {};
  const int64_t d = D > 0 ? D : dyn;
  if (d <= 64) return Dist2<D>(x, kZero, d);
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(x[j]) * x[j];
  return s;
}

// Asks for the cache lines of a row of d floats.
inline void Prefetch(const float* x, int64_t d) {
  for (int64_t j = 0; j < d; j += 16) __builtin_prefetch(x + j);
  __builtin_prefetch(x + d - 1);
}

// New bounds of a row from the approximate distances of its nearest (f1) and
// second-nearest (f2) centres.
inline void SetBounds(double xn, float f1, float f2, double margin, double cmax, float* upper, float* lower) {
  // float square roots (correctly rounded, 2^-24) covered by the factors
  const double e = margin * (xn + cmax);
  const double u2 = f1 + xn + e, l2 = f2 + xn - e;
  *upper = std::sqrt(RoundUp(0.0 < u2 ? u2 : 0.0)) * kUp;  // std::max(0.0, u2), spelt out
  *lower = std::sqrt(RoundDown(0.0 < l2 ? l2 : 0.0)) * kDown;
}

// Moves row x (weight w, squared norm xn) from centre `from` (or none,
// from < 0) to `to` in a block's partials: k*d sums, then per centre the
// weight, the count of rows of positive weight (which tells an emptied
// cluster exactly) and the sum of w * ||x||^2 (for the inertia).
template <int D>
inline void MoveRow(double* part, int32_t k, int64_t dyn, const float* x, double w, double xn, int32_t from,
                    int32_t to) {
  const int64_t d = D > 0 ? D : dyn;
  double* sums = part;
  double* wts = part + static_cast<size_t>(k) * d;
  double* pos = wts + k;
  double* sq = pos + k;
  if (from >= 0) {
    double* s = sums + static_cast<size_t>(from) * d;
    for (int64_t j = 0; j < d; ++j) s[j] -= w * x[j];
    wts[from] -= w;
    pos[from] -= w > 0;
    sq[from] -= w * xn;
  }
  double* s = sums + static_cast<size_t>(to) * d;
  if (w == 1.0) {  // unit weights (the common case): no products
    for (int64_t j = 0; j < d; ++j) s[j] += x[j];
  } else {
    for (int64_t j = 0; j < d; ++j) s[j] += w * x[j];
  }
  wts[to] += w;
  pos[to] += w > 0;
  sq[to] += w * xn;
}

// A full pass over a block: every row's nearest centre (as the brute force),
// its bounds, and fresh partial sums. It starts an epoch (the caller zeroes
// the cumulative drifts): the bounds are stored as they are.
template <int D>
KMeansPassOut FullBlock(KMeansRows rows, const KMeansCentres& p, const KMeansBounds& dr, size_t begin, size_t end,
                        int32_t* labels, float* upper, float* lower, double* part, uint32_t*) {
  const int64_t d = D > 0 ? D : p.d;
  const bool weighted = rows.weights != nullptr;
  KMeansPassOut out{0, 0.0, 0, 0};
  const float* xs[kRows];
  int32_t lab[kRows];
  float f1[kRows], f2[kRows];
  auto finish = [&](size_t row, int r) {
    const float* x = xs[r];
    const double xn = Norm2<D>(x, d);
    out.xmax = out.xmax < xn ? xn : out.xmax;  // std::max, spelt out
    SetBounds(xn, f1[r], f2[r], dr.margin, dr.cmax, upper + row, lower + row);
    out.changed += labels[row] != lab[r];
    labels[row] = lab[r];
    MoveRow<D>(part, p.k, d, x, weighted ? rows.weights[row] : 1.0, xn, -1, lab[r]);
  };
  size_t i = begin;
  for (; i + kRows <= end; i += kRows) {
    for (int r = 0; r < kRows; ++r) xs[r] = rows.X + (i + r) * d;
    Nearest2Rows<kRows, D>(xs, p, lab, f1, f2);
    for (int r = 0; r < kRows; ++r) finish(i + r, r);
  }
  for (; i < end; ++i) {
    xs[0] = rows.X + i * d;
    Nearest2Rows<1, D>(xs, p, lab, f1, f2);
    finish(i, 0);
  }
  return out;
}

// A pruned pass over a block: bounds moved by the drift; rows the bounds
// keep are not touched; the others get their exact distance to their centre
// (kept if that suffices) or a full nearest-centre search, kRows at a time.
// A moved row moves its values between centres in the block's partials.
template <int D>
KMeansPassOut PrunedBlock(KMeansRows rows, const KMeansCentres& p, const KMeansBounds& dr, size_t begin, size_t end,
                          int32_t* labels, float* upper, float* lower, double* part, uint32_t* cand) {
  const int64_t d = D > 0 ? D : p.d;
  const bool weighted = rows.weights != nullptr;
  KMeansPassOut out{0, 0.0, 0, 0};
  size_t queued_rows[kRows];
  const float* xs[kRows];
  int32_t lab[kRows];
  float f1[kRows], f2[kRows];
  int queued = 0;
  auto flush = [&](auto r_const) {
    constexpr int Q = decltype(r_const)::value;
    Nearest2Rows<Q, D>(xs, p, lab, f1, f2);
    for (int r = 0; r < Q; ++r) {
      const size_t row = queued_rows[r];
      const float* x = xs[r];
      const double xn = Norm2<D>(x, d);
      const int32_t a = labels[row], b = lab[r];
      float u, l;  // stored relative to the epoch, for the new label
      SetBounds(xn, f1[r], f2[r], dr.margin, dr.cmax, &u, &l);
      upper[row] = StepUp(static_cast<double>(u) - dr.cum_up[b]);
      lower[row] = StepDown(static_cast<double>(l) + dr.cum_drop[b]);
      if (a != b) {
        ++out.changed;
        labels[row] = b;
        MoveRow<D>(part, p.k, d, x, weighted ? rows.weights[row] : 1.0, xn, a, b);
      }
    }
  };
  auto keeps = [&](float u, float l, int32_t a) {
    const float s = (dr.sep[a] - u) * kDown;
    const float lb = l < s ? s : l;  // std::max, spelt out
    return lb > 0.0f && u * u * kUp + dr.e2 < lb * lb * kDown;
  };
  // First the bounds of every row (a stream over labels and bounds), then
  // the rows they do not keep, whose X rows are scattered: each is fetched
  // a few rows ahead so that the cache misses overlap.
  size_t n_cand = 0;
  size_t i = begin;
  if (p.k <= 16) i = MoveBounds(dr.cum_up, dr.cum_drop, dr.sep, dr.e2, begin, end, labels, upper, lower, cand, &n_cand);
  for (; i < end; ++i) {
    const int32_t a = labels[i];
    const float u = (upper[i] + dr.cum_up[a]) * kUp;
    const float l = (lower[i] - dr.cum_drop[a]) * kDown;
    if (!keeps(u, l, a)) cand[n_cand++] = static_cast<uint32_t>(i - begin);
  }
  constexpr size_t kAhead = 8;
  const float* xb = rows.X + begin * d;
  const float* centers = p.rows;
  for (size_t q = 0; q < kAhead && q < n_cand; ++q) Prefetch(xb + cand[q] * d, d);
  for (size_t q = 0; q < n_cand; ++q) {
    if (q + kAhead < n_cand) Prefetch(xb + cand[q + kAhead] * d, d);
    const size_t row = begin + cand[q];
    const int32_t a = labels[row];
    const float* x = xb + cand[q] * d;
    ++out.exact;
    const double d2 = Dist2<D>(x, centers + static_cast<size_t>(a) * d, d);
    const float u = std::sqrt(RoundUp(d2)) * kUp;
    if (keeps(u, (lower[row] - dr.cum_drop[a]) * kDown, a)) {
      upper[row] = StepUp(static_cast<double>(u) - dr.cum_up[a]);
      continue;
    }
    ++out.searched;
    queued_rows[queued] = row, xs[queued] = x;
    if (++queued == kRows) flush(std::integral_constant<int, kRows>()), queued = 0;
  }
  for (int r = 0; r < queued; ++r) {  // the last rows one by one
    queued_rows[0] = queued_rows[r], xs[0] = xs[r];
    flush(std::integral_constant<int, 1>());
  }
  return out;
}

// ---- k-means++ and the distances to every centre ----

template <int D>
double SeedBlock(KMeansRows rows, int64_t dyn, const float* y, const double* closest, size_t begin, size_t end,
                 double* cand) {
  const int64_t d = D > 0 ? D : dyn;
  double s = 0.0;
  for (size_t i = begin; i < end; ++i) {
    double v = Dist2<D>(rows.X + i * d, y, d);
    if (closest != nullptr && closest[i] < v) v = closest[i];
    cand[i] = v;
    s += (rows.weights != nullptr ? static_cast<double>(rows.weights[i]) : 1.0) * v;
  }
  return s;
}

template <int D>
void DistancesBlock(const float* X, const float* centers, int32_t k, int64_t dyn, size_t begin, size_t end,
                    float* out) {
  const int64_t d = D > 0 ? D : dyn;
  for (size_t i = begin; i < end; ++i) {
    for (int32_t c = 0; c < k; ++c) {
      out[i * k + c] = static_cast<float>(Dist2<D>(X + i * d, centers + static_cast<size_t>(c) * d, d));
    }
  }
}

}  // namespace

#define TWINSCORE_KMEANS_WIDTHS(f) {f<0>, f<8>, f<16>, f<32>}
#define TWINSCORE_KMEANS_WIDTHS2(f, a) {f<a, 0>, f<a, 8>, f<a, 16>, f<a, 32>}

const KMeansKernels kKMeans = {
    TWINSCORE_KMEANS_WIDTHS2(NearestRows, 1),
    TWINSCORE_KMEANS_WIDTHS2(NearestRows, kKMeansRows),
    TWINSCORE_KMEANS_WIDTHS2(Nearest2Rows, 1),
    TWINSCORE_KMEANS_WIDTHS2(Nearest2Rows, kKMeansRows),
    TWINSCORE_KMEANS_WIDTHS(Dist2),
    {TWINSCORE_KMEANS_WIDTHS2(AssignBlock, kAssignSums), TWINSCORE_KMEANS_WIDTHS2(AssignBlock, kAssignSumsCheck),
     TWINSCORE_KMEANS_WIDTHS2(AssignBlock, kAssignExact), TWINSCORE_KMEANS_WIDTHS2(AssignBlock, kAssignSumsExact)},
    TWINSCORE_KMEANS_WIDTHS(FullBlock),
    TWINSCORE_KMEANS_WIDTHS(PrunedBlock),
    TWINSCORE_KMEANS_WIDTHS(SeedBlock),
    TWINSCORE_KMEANS_WIDTHS(DistancesBlock),
    kVector,
};

#undef TWINSCORE_KMEANS_WIDTHS
#undef TWINSCORE_KMEANS_WIDTHS2

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
