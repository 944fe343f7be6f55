#include "twinscore/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <type_traits>

#include "twinscore/threads.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace twinscore {
namespace {

// Rows per reduction block: partial sums are kept per block and added in block
// order, so the result does not depend on which thread ran which block.
constexpr size_t kBlock = 8192;

// Smaller blocks for small inputs (a mini-batch of a few thousand rows) so
// that they still spread over the threads; a function of n only.
size_t BlockFor(int64_t n) { return std::clamp<size_t>(static_cast<size_t>(n) / 16, 512, kBlock); }
constexpr int kLanes = 8;  // centres handled together (one AVX2 register)

// Centres laid out for the distance kernel: transposed (d x kp, kp = k rounded
// up to 8) so that one load gives one feature of 8 centres; padding centres
// have an infinite norm and are never nearest.
struct Prepared {
  int32_t k = 0, kp = 0;
  int64_t d = 0;
  std::vector<float> ct;     // d * kp
  std::vector<float> cnorm;  // kp
  absl::Span<const float> centers;
};

Prepared Prepare(absl::Span<const float> centers, int32_t k, int64_t d) {
  Prepared p;
  p.k = k;
  p.kp = (k + kLanes - 1) / kLanes * kLanes;
  p.d = d;
  p.centers = centers;
  p.ct.assign(static_cast<size_t>(d) * p.kp, 0.0f);
  p.cnorm.assign(p.kp, std::numeric_limits<float>::infinity());
  for (int32_t c = 0; c < k; ++c) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
      const float v = centers[c * d + j];
      p.ct[j * p.kp + c] = v;
      s += v * v;
    }
    p.cnorm[c] = s;
  }
  return p;
}

#if defined(__AVX2__) && defined(__FMA__)
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
inline void NearestRows(const float* x, const Prepared& p, int32_t* out) {
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
    const float* ct = p.ct.data() + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 c0 = _mm256_loadu_ps(ct + j * kp), c1 = _mm256_loadu_ps(ct + j * kp + kLanes);
      for (int r = 0; r < R; ++r) {
        const __m256 xv = _mm256_broadcast_ss(x + r * d + j);
        a0[r] = _mm256_fmadd_ps(xv, c0, a0[r]);
        a1[r] = _mm256_fmadd_ps(xv, c1, a1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      Fold(a0[r], p.cnorm.data(), q, best[r], bidx[r]);
      Fold(a1[r], p.cnorm.data(), q + kLanes, best[r], bidx[r]);
    }
  }
  if (q < kp) {  // the last 8 centres when kp is not a multiple of 16
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    const float* ct = p.ct.data() + q;
    for (int64_t j = 0; j < d; ++j) {
      const __m256 cv = _mm256_loadu_ps(ct + j * kp);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * d + j), cv, acc[r]);
    }
    for (int r = 0; r < R; ++r) Fold(acc[r], p.cnorm.data(), q, best[r], bidx[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = ArgMin8(best[r], bidx[r]);
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
  for (; j < d; ++j) {
    const double t = static_cast<double>(x[j]) - c[j];
    s += t * t;
  }
  return s;
}
#else
template <int R, int D>
inline void NearestRows(const float* x, const Prepared& p, int32_t* out) {
  std::vector<float> acc(p.kp);
  for (int r = 0; r < R; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < p.d; ++j) {
      const float xj = x[r * p.d + j];
      const float* ct = p.ct.data() + j * p.kp;
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
#endif

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

struct BlockOut {
  double inertia = 0.0;
  int64_t changed = 0;  // rows whose label differs from the one in `labels`
};

// One block of rows: nearest centres, then (kExact) the exact distance and
// (kSums) the partial sums and weights of the block. The Lloyd iterations
// need only the sums; the exact distances are for the inertia. Labels are
// compared with the previous ones as they are overwritten, so convergence
// costs no extra pass.
template <bool kSums, bool kExact, int D>
BlockOut BlockAssign(const KMeansData& data, const Prepared& p, size_t begin, size_t end, int32_t* labels,
                     float* dist2, double* sums, double* counts) {
  const int64_t d = D > 0 ? D : data.d;
  const bool weighted = !data.weights.empty();
  constexpr int R = 4;
  int32_t lab[R];
  BlockOut out;
  auto finish = [&](size_t row, int32_t c) {
    const float* x = data.X.data() + row * d;
    const double w = weighted ? data.weights[row] : 1.0;
    if (labels) {
      out.changed += labels[row] != c;
      labels[row] = c;
    }
    if constexpr (kExact) {
      const double dd = Dist2<D>(x, p.centers.data() + static_cast<size_t>(c) * d, d);
      out.inertia += w * dd;
      if (dist2) dist2[row] = static_cast<float>(dd);
    }
    if constexpr (kSums) {
      AddRow<D>(sums + static_cast<size_t>(c) * d, x, w, weighted, d);
      counts[c] += w;
    }
  };
  size_t i = begin;
  for (; i + R <= end; i += R) {
    NearestRows<R, D>(data.X.data() + i * d, p, lab);
    for (int r = 0; r < R; ++r) finish(i + r, lab[r]);
  }
  for (; i < end; ++i) {
    NearestRows<1, D>(data.X.data() + i * d, p, lab);
    finish(i, lab[0]);
  }
  return out;
}

// Labels, exact distances and/or centre sums of every row; partial sums per
// block, added in block order. Returns the inertia (when kExact) and the
// number of labels changed. The common widths get a kernel with d fixed at
// compile time (fully unrolled loops).
template <bool kSums, bool kExact>
BlockOut AssignBlocks(const KMeansData& data, absl::Span<const float> centers, int32_t k, absl::Span<int32_t> labels,
                      absl::Span<float> dist2, absl::Span<double> sums, absl::Span<double> counts) {
  const Prepared p = Prepare(centers, k, data.d);
  const size_t block = BlockFor(data.n);
  const size_t nb = NumBlocks(data.n, block);
  const size_t width = static_cast<size_t>(k) * data.d + k;  // sums then counts
  std::vector<double> partial(kSums ? nb * width : 0, 0.0);
  std::vector<BlockOut> outs(nb);
  auto run = [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    ParallelBlocks(data.n, block, [&](size_t b, size_t begin, size_t end) {
      double* s = kSums ? partial.data() + b * width : nullptr;
      outs[b] = BlockAssign<kSums, kExact, D>(data, p, begin, end, labels.empty() ? nullptr : labels.data(),
                                              dist2.empty() ? nullptr : dist2.data(), s,
                                              s ? s + static_cast<size_t>(k) * data.d : nullptr);
    });
  };
  switch (data.d) {
    case 8: run(std::integral_constant<int, 8>()); break;
    case 16: run(std::integral_constant<int, 16>()); break;
    case 32: run(std::integral_constant<int, 32>()); break;
    default: run(std::integral_constant<int, 0>()); break;
  }
  if constexpr (kSums) {
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0.0);
    for (size_t b = 0; b < nb; ++b) {  // fixed order: thread-count independent
      const double* s = partial.data() + b * width;
      for (size_t j = 0; j < sums.size(); ++j) sums[j] += s[j];
      for (int32_t c = 0; c < k; ++c) counts[c] += s[sums.size() + c];
    }
  }
  BlockOut total;
  for (const BlockOut& o : outs) total.inertia += o.inertia, total.changed += o.changed;
  return total;
}

// Mean per-feature variance of X (for the tolerance), in parallel blocks
// added in block order.
double MeanVariance(const KMeansData& data) {
  const int64_t n = data.n, d = data.d;
  const size_t nb = NumBlocks(n, kBlock);
  std::vector<double> part(nb * d, 0.0);
  ParallelBlocks(n, kBlock, [&](size_t b, size_t begin, size_t end) {
    double* s = part.data() + b * d;
    for (size_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < d; ++j) s[j] += data.X[i * d + j];
    }
  });
  std::vector<double> mean(d, 0.0);
  for (size_t b = 0; b < nb; ++b) {
    for (int64_t j = 0; j < d; ++j) mean[j] += part[b * d + j];
  }
  for (auto& m : mean) m /= n;
  std::fill(part.begin(), part.end(), 0.0);
  ParallelBlocks(n, kBlock, [&](size_t b, size_t begin, size_t end) {
    double* s = part.data() + b * d;
    for (size_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        const double t = data.X[i * d + j] - mean[j];
        s[j] += t * t;
      }
    }
  });
  double var = 0.0;
  for (double v : part) var += v;
  return var / n / d;
}

// True when no value is NaN or infinite: the exponent bits are all ones only
// for those. A branch-free OR over the bits, which the compiler vectorises.
bool AllFinite(const float* x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// Uniform double in [0, 1) from 53 random bits: the same on every platform
// (std::uniform_real_distribution is not specified bit for bit).
double Uniform(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }

double TotalWeight(const KMeansData& data) {
  if (data.weights.empty()) return static_cast<double>(data.n);
  double s = 0.0;
  for (float w : data.weights) s += w;
  return s;
}

// Empty clusters (no weight) take the rows farthest from their centres, as
// scikit-learn does; the rows' contributions move with them.
void RelocateEmpty(const KMeansData& data, int32_t k, const std::vector<float>& dist2, std::vector<double>& sums,
                   std::vector<double>& counts, const std::vector<int32_t>& labels) {
  std::vector<int32_t> empty;
  for (int32_t c = 0; c < k; ++c) {
    if (counts[c] <= 0.0) empty.push_back(c);
  }
  if (empty.empty()) return;
  const int64_t d = data.d;
  std::vector<int64_t> order(data.n);
  std::iota(order.begin(), order.end(), 0);
  const size_t m = std::min(empty.size(), order.size());
  std::partial_sort(order.begin(), order.begin() + m, order.end(), [&](int64_t a, int64_t b) {
    return dist2[a] != dist2[b] ? dist2[a] > dist2[b] : a < b;
  });
  for (size_t e = 0; e < m; ++e) {
    const int64_t row = order[e];
    const int32_t from = labels[row], to = empty[e];
    const double w = data.weights.empty() ? 1.0 : data.weights[row];
    const float* x = data.X.data() + row * d;
    for (int64_t j = 0; j < d; ++j) {
      sums[static_cast<size_t>(from) * d + j] -= w * x[j];
      sums[static_cast<size_t>(to) * d + j] = w * x[j];
    }
    counts[from] -= w;
    counts[to] = w;
  }
}

}  // namespace

absl::Status KMeansData::Validate() const {
  TWINSCORE_CHECK_ARG(n >= 1 && d >= 1, "X must have at least one row and one column, got ", n, " x ", d);
  TWINSCORE_CHECK_ARG(X.size() == static_cast<size_t>(n * d), "X holds ", X.size(), " values, expected ", n, " x ",
                      d);
  TWINSCORE_CHECK_ARG(weights.empty() || weights.size() == static_cast<size_t>(n), "sample_weight has ",
                      weights.size(), " values, expected ", n);
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(n, kBlock, [&](size_t, size_t b, size_t e) -> absl::Status {
    if (!AllFinite(X.data() + b * d, (e - b) * d)) {
      for (size_t i = b * d; i < e * d; ++i) {
        TWINSCORE_CHECK_ARG(std::isfinite(X[i]), "X holds ", std::isnan(X[i]) ? "NaN" : "an infinite value",
                            " at row ", i / d, ", column ", i % d);
      }
    }
    for (size_t i = b; i < e && !weights.empty(); ++i) {
      TWINSCORE_CHECK_ARG(std::isfinite(weights[i]) && weights[i] >= 0, "sample_weight must be finite and >= 0, got ",
                          weights[i], " at row ", i);
    }
    return absl::OkStatus();
  }));
  TWINSCORE_CHECK_ARG(TotalWeight(*this) > 0, "sample_weight is all zero");
  return absl::OkStatus();
}

absl::Status KMeansOptions::Validate(int64_t n) const {
  TWINSCORE_CHECK_ARG(k >= 1, "n_clusters must be >= 1, got ", k);
  TWINSCORE_CHECK_ARG(k <= n, "n_clusters=", k, " is larger than the number of rows, ", n);
  TWINSCORE_CHECK_ARG(max_iter >= 1, "max_iter must be >= 1, got ", max_iter);
  TWINSCORE_CHECK_ARG(std::isfinite(tol) && tol >= 0, "tol must be finite and >= 0, got ", tol);
  return absl::OkStatus();
}

double AssignAndSum(const KMeansData& data, absl::Span<const float> centers, int32_t k, absl::Span<int32_t> labels,
                    absl::Span<float> dist2, absl::Span<double> sums, absl::Span<double> counts) {
  if (sums.empty()) return AssignBlocks<false, true>(data, centers, k, labels, dist2, sums, counts).inertia;
  return AssignBlocks<true, true>(data, centers, k, labels, dist2, sums, counts).inertia;
}

absl::Status KMeansPlusPlus(const KMeansData& data, int32_t k, uint64_t seed, absl::Span<float> centers) {
  TWINSCORE_CHECK_ARG(k >= 1 && k <= data.n, "n_clusters must be in [1, ", data.n, "], got ", k);
  TWINSCORE_CHECK_ARG(centers.size() == static_cast<size_t>(k) * data.d, "centers must hold k*d values");
  const int64_t n = data.n, d = data.d;
  const bool weighted = !data.weights.empty();
  auto w = [&](int64_t i) { return weighted ? static_cast<double>(data.weights[i]) : 1.0; };
  std::mt19937_64 gen(seed);
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::vector<double> closest(n), cumsum(n), cand(static_cast<size_t>(trials) * n);
  const size_t nb = NumBlocks(n, kBlock);

  // Row drawn with probability proportional to cumsum increments.
  auto draw = [&](double total) {
    const double u = Uniform(gen) * total;
    const int64_t i = std::upper_bound(cumsum.begin(), cumsum.end(), u) - cumsum.begin();
    return std::min(i, n - 1);
  };
  auto set_center = [&](int32_t c, int64_t row) {
    std::copy_n(data.X.data() + row * d, d, centers.data() + static_cast<size_t>(c) * d);
  };
  std::partial_sum(data.weights.begin(), data.weights.end(), cumsum.begin(), [](double a, float b) { return a + b; });
  if (!weighted) std::iota(cumsum.begin(), cumsum.end(), 1.0);
  set_center(0, draw(cumsum.back()));
  ParallelBlocks(n, kBlock, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) closest[i] = Dist2<0>(data.X.data() + i * d, centers.data(), d);
  });
  for (int32_t c = 1; c < k; ++c) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) cumsum[i] = acc += w(i) * closest[i];
    std::vector<int64_t> ids(trials);
    for (auto& id : ids) id = acc > 0 ? draw(acc) : static_cast<int64_t>(gen() % n);
    // Potential of each candidate: sum of w * min(closest, dist to candidate),
    // per block then in block order.
    std::vector<double> pot(nb * trials, 0.0);
    ParallelBlocks(n, kBlock, [&](size_t blk, size_t b, size_t e) {
      for (int t = 0; t < trials; ++t) {
        const float* y = data.X.data() + ids[t] * d;
        double s = 0.0;
        for (size_t i = b; i < e; ++i) {
          const double v = std::min(closest[i], Dist2<0>(data.X.data() + i * d, y, d));
          cand[t * n + i] = v;
          s += w(i) * v;
        }
        pot[blk * trials + t] = s;
      }
    });
    int best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (int t = 0; t < trials; ++t) {
      double s = 0.0;
      for (size_t blk = 0; blk < nb; ++blk) s += pot[blk * trials + t];
      if (s < best_pot) best_pot = s, best = t;
    }
    set_center(c, ids[best]);
    std::copy_n(cand.begin() + static_cast<size_t>(best) * n, n, closest.begin());
  }
  return absl::OkStatus();
}

absl::Status KMeansRandomInit(const KMeansData& data, int32_t k, uint64_t seed, absl::Span<float> centers) {
  TWINSCORE_CHECK_ARG(k >= 1 && k <= data.n, "n_clusters must be in [1, ", data.n, "], got ", k);
  TWINSCORE_CHECK_ARG(centers.size() == static_cast<size_t>(k) * data.d, "centers must hold k*d values");
  std::mt19937_64 gen(seed);
  std::vector<int64_t> rows;
  if (static_cast<int64_t>(k) * 4 >= data.n) {  // dense: shuffle a prefix
    std::vector<int64_t> all(data.n);
    std::iota(all.begin(), all.end(), 0);
    for (int32_t c = 0; c < k; ++c) std::swap(all[c], all[c + gen() % (data.n - c)]);
    rows.assign(all.begin(), all.begin() + k);
  } else {
    while (static_cast<int32_t>(rows.size()) < k) {
      const int64_t r = static_cast<int64_t>(gen() % data.n);
      if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
    }
  }
  for (int32_t c = 0; c < k; ++c) std::copy_n(data.X.data() + rows[c] * data.d, data.d, centers.data() + c * data.d);
  return absl::OkStatus();
}

absl::StatusOr<KMeansResult> KMeansLloyd(const KMeansData& data, const KMeansOptions& opt,
                                         absl::Span<const float> init) {
  TWINSCORE_RETURN_IF_ERROR(data.Validate());
  TWINSCORE_RETURN_IF_ERROR(opt.Validate(data.n));
  const int32_t k = opt.k;
  const int64_t n = data.n, d = data.d;
  TWINSCORE_CHECK_ARG(init.size() == static_cast<size_t>(k) * d, "init holds ", init.size(), " values, expected ",
                      k, " x ", d);
  for (float v : init) TWINSCORE_CHECK_ARG(std::isfinite(v), "init holds a non-finite value");

  // scikit-learn's tolerance: tol times the mean per-feature variance (a
  // pass over X saved when tol is 0).
  const double tol = opt.tol > 0 ? opt.tol * MeanVariance(data) : 0.0;

  KMeansResult r;
  r.centers.assign(init.begin(), init.end());
  r.labels.assign(n, -1);
  std::vector<float> dist2;
  std::vector<double> sums(static_cast<size_t>(k) * d), counts(k);
  std::vector<float> next(r.centers.size());
  for (int32_t it = 0; it < opt.max_iter; ++it) {
    const int64_t changed = AssignBlocks<true, false>(data, r.centers, k, absl::MakeSpan(r.labels), {},
                                                      absl::MakeSpan(sums), absl::MakeSpan(counts))
                                .changed;
    if (std::find(counts.begin(), counts.end(), 0.0) != counts.end()) {
      // Rare: the distances are needed only to relocate an empty cluster.
      dist2.resize(n);
      AssignBlocks<false, true>(data, r.centers, k, {}, absl::MakeSpan(dist2), {}, {});
      RelocateEmpty(data, k, dist2, sums, counts, r.labels);
    }
    double shift = 0.0;
    for (int32_t c = 0; c < k; ++c) {
      for (int64_t j = 0; j < d; ++j) {
        const size_t q = static_cast<size_t>(c) * d + j;
        next[q] = counts[c] > 0 ? static_cast<float>(sums[q] / counts[c]) : r.centers[q];
        const double t = static_cast<double>(next[q]) - r.centers[q];
        shift += t * t;
      }
    }
    r.centers.swap(next);
    r.n_iter = it + 1;
    if (changed == 0) break;  // labels as in the previous iteration
    if (shift <= tol) break;
  }
  // Labels and inertia of the final centres (after strict convergence the
  // labels are unchanged; otherwise the last update moved the centres).
  r.inertia = AssignAndSum(data, r.centers, k, absl::MakeSpan(r.labels), {}, {}, {});
  return r;
}

absl::StatusOr<double> KMeansMiniBatchUpdate(const KMeansData& data, int32_t k, int64_t batch_size,
                                             absl::Span<float> centers, absl::Span<double> totals) {
  TWINSCORE_RETURN_IF_ERROR(data.Validate());
  TWINSCORE_CHECK_ARG(k >= 1, "n_clusters must be >= 1, got ", k);
  TWINSCORE_CHECK_ARG(batch_size >= 1, "batch_size must be >= 1, got ", batch_size);
  TWINSCORE_CHECK_ARG(centers.size() == static_cast<size_t>(k) * data.d, "centers hold ", centers.size(),
                      " values, expected ", k, " x ", data.d);
  TWINSCORE_CHECK_ARG(totals.size() == static_cast<size_t>(k), "totals must hold k values");
  const int64_t d = data.d;
  std::vector<double> sums(static_cast<size_t>(k) * d), counts(k);
  double inertia = 0.0;
  for (int64_t b = 0; b < data.n; b += batch_size) {
    const int64_t m = std::min(batch_size, data.n - b);
    KMeansData batch{data.X.subspan(b * d, m * d), data.weights.empty() ? data.weights : data.weights.subspan(b, m),
                     m, d};
    inertia += AssignAndSum(batch, centers, k, {}, {}, absl::MakeSpan(sums), absl::MakeSpan(counts));
    for (int32_t c = 0; c < k; ++c) {
      if (counts[c] <= 0) continue;
      const double total = totals[c] + counts[c];
      for (int64_t j = 0; j < d; ++j) {
        const size_t q = static_cast<size_t>(c) * d + j;
        centers[q] = static_cast<float>((centers[q] * totals[c] + sums[q]) / total);
      }
      totals[c] = total;
    }
  }
  return inertia;
}

absl::Status KMeansDistances(const KMeansData& data, absl::Span<const float> centers, int32_t k,
                             absl::Span<float> out) {
  TWINSCORE_RETURN_IF_ERROR(data.Validate());
  TWINSCORE_CHECK_ARG(k >= 1 && centers.size() == static_cast<size_t>(k) * data.d, "centers hold ",
                      centers.size(), " values, expected ", k, " x ", data.d);
  TWINSCORE_CHECK_ARG(out.size() == static_cast<size_t>(data.n) * k, "out must hold n*k values");
  ParallelBlocks(data.n, kBlock, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      for (int32_t c = 0; c < k; ++c) {
        out[i * k + c] = static_cast<float>(Dist2<0>(data.X.data() + i * data.d, centers.data() + c * data.d, data.d));
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace twinscore
