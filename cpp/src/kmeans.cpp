#include "twinscore/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <type_traits>

#include "kmeans_kernels.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

// Rows per reduction block: partial sums are kept per block and added in block
// order, so the result does not depend on which thread ran which block.
constexpr size_t kBlock = 8192;

// Smaller blocks for small inputs (a mini-batch of a few thousand rows) so
// that they still spread over the threads; a function of n only.
size_t BlockFor(int64_t n) { return std::clamp<size_t>(static_cast<size_t>(n) / 16, 512, kBlock); }
constexpr int kLanes = kernels::kKMeansLanes;
constexpr int kRows = kernels::kKMeansRows;

// Centres laid out for the distance kernel: transposed (d x kp, kp = k rounded
// up to 8) so that one load gives one feature of 8 centres; padding centres
// have an infinite norm and are never nearest.
struct Prepared {
  int32_t k = 0, kp = 0;
  int64_t d = 0;
  std::vector<float> ct;     // d * kp
  std::vector<float> cnorm;  // kp
  absl::Span<const float> centers;
  kernels::KMeansCentres view;  // ct and cnorm as the kernels take them
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
  p.view = {p.k, p.kp, p.d, p.ct.data(), p.cnorm.data()};
  return p;
}

// The kernels of the SIMD level in use (kmeans_kernels.h): d fixed at
// compile time for the common widths (fully unrolled loops), any d else.
template <int D>
constexpr int kWidth = kernels::KMeansWidthIndex(D);

template <int R, int D>
inline void NearestRows(const float* x, const Prepared& p, int32_t* out) {
  static_assert(R == 1 || R == kRows);
  const auto& k = kernels::KMeans();
  (R == 1 ? k.nearest1 : k.nearest6)[kWidth<D>](x, p.view, out);
}

template <int R, int D>
inline void Nearest2Rows(const float* const* xs, const Prepared& p, int32_t* out, float* f1, float* f2) {
  static_assert(R == 1 || R == kRows);
  const auto& k = kernels::KMeans();
  (R == 1 ? k.nearest2_1 : k.nearest2_6)[kWidth<D>](xs, p.view, out, f1, f2);
}

template <int D>
inline double Dist2(const float* x, const float* c, int64_t dyn) {
  return kernels::KMeans().dist2[kWidth<D>](x, c, D > 0 ? D : dyn);
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

struct BlockOut {
  double inertia = 0.0;
  int64_t changed = 0;  // rows whose label differs from the one in `labels`
  bool finite = true;   // (kCheck) no NaN, infinity or value beyond RangeLimit in the rows
};

bool AllInRange(const float* x, size_t n, uint32_t limit_bits);
uint32_t RangeLimitBits(int64_t d);

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
  constexpr int R = kRows;
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
// compile time (fully unrolled loops). kCheck: also tells whether X is all
// finite, scanning each block just before it is assigned (from the cache:
// the pass replaces a separate read of X).
constexpr size_t kCheckRows = 40 * kRows;  // rows scanned for NaN at a time (15 KiB at d = 16)

template <bool kSums, bool kExact, bool kCheck = false>
BlockOut AssignBlocks(const KMeansData& data, absl::Span<const float> centers, int32_t k, absl::Span<int32_t> labels,
                      absl::Span<float> dist2, absl::Span<double> sums, absl::Span<double> counts) {
  const Prepared p = Prepare(centers, k, data.d);
  const uint32_t limit = kCheck ? RangeLimitBits(data.d) : 0;
  const size_t block = BlockFor(data.n);
  const size_t nb = NumBlocks(data.n, block);
  const size_t width = static_cast<size_t>(k) * data.d + k;  // sums then counts
  std::vector<double> partial(kSums ? nb * width : 0, 0.0);
  std::vector<BlockOut> outs(nb);
  auto run = [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    ParallelBlocks(data.n, block, [&](size_t b, size_t begin, size_t end) {
      double* s = kSums ? partial.data() + b * width : nullptr;
      int32_t* lab = labels.empty() ? nullptr : labels.data();
      float* dd = dist2.empty() ? nullptr : dist2.data();
      double* cnt = s ? s + static_cast<size_t>(k) * data.d : nullptr;
      if constexpr (kCheck && !kExact) {
        // Rows scanned in L1-sized chunks just before they are assigned; the
        // chunks add to the block's sums in row order, as one call would.
        BlockOut o;
        for (size_t c = begin; c < end; c += kCheckRows) {
          const size_t e = std::min(end, c + kCheckRows);
          o.finite &= AllInRange(data.X.data() + c * data.d, (e - c) * data.d, limit);
          o.changed += BlockAssign<kSums, kExact, D>(data, p, c, e, lab, dd, s, cnt).changed;
        }
        outs[b] = o;
      } else {
        outs[b] = BlockAssign<kSums, kExact, D>(data, p, begin, end, lab, dd, s, cnt);
      }
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
  for (const BlockOut& o : outs) total.inertia += o.inertia, total.changed += o.changed, total.finite &= o.finite;
  return total;
}

// ---- Hamerly's bounds (Hamerly 2010, "Making k-means even faster") ----
//
// Per row an upper bound u on the distance to its centre and a lower bound l
// on the distance to every other centre. When the centres move by delta_c,
// u grows by delta_label and l shrinks by the largest other delta; a row with
// u < max(l, sep_label - u) (sep_c: distance from c to the nearest other
// centre) cannot change its label, and its distances are not computed.
//
// The labels must stay those of the brute-force pass, which compares float32
// approximations f_c = ||c||^2 - 2 x.c; these are within E of the exact value
// (E below). A row is kept only when u^2 + 2E < lb^2: then the approximate
// distance of its centre is strictly below all others, and the brute force
// would give the same label. The bounds are stored as floats rounded outwards
// (kUp, kDown cover every float rounding of the tests), so a kept row really
// keeps its label; the tests check the pruned fit against the brute force.
constexpr float kUp = kernels::kKMeansUp;
constexpr float kDown = kernels::kKMeansDown;

// Bound on |f_c - (||x - c||^2 - ||x||^2)| per unit of ||x||^2 + ||c||^2: the
// float32 dot product and norm (gamma_d each) and the final fnmadd, with room.
double MarginFactor(int64_t d) { return static_cast<double>(4 * d + 16) * 0x1.0p-24; }

// Floats at least (at most) v: the conversion and the product round by
// 2^-24 at most, the factor moves by 2^-20. No nextafter (a libm call).
inline float RoundUp(double v) { return static_cast<float>(v) * kUp; }
inline float RoundDown(double v) { return static_cast<float>(v) * kDown; }

// The float one step above (below) the nearest float to v: at least (at
// most) v whatever its sign, and whatever the rounding of v itself (for the
// bounds stored relative to the epoch, which may be negative).
inline float StepUp(double v) { return std::nextafter(static_cast<float>(v), std::numeric_limits<float>::infinity()); }
inline float StepDown(double v) {
  return std::nextafter(static_cast<float>(v), -std::numeric_limits<float>::infinity());
}

// ||x||^2 in float64 (the vectorised Dist2 against the origin).
template <int D>
inline double Norm2(const float* x, int64_t dyn) {
  alignas(32) static constexpr float kZero[64] = {};
  const int64_t d = D > 0 ? D : dyn;
  if (d <= 64) return Dist2<D>(x, kZero, d);
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(x[j]) * x[j];
  return s;
}

// The rows of a block that the bounds do not keep (one list per thread,
// reused from pass to pass).
std::vector<uint32_t>& Candidates() {
  thread_local std::vector<uint32_t> rows;
  return rows;
}

// Asks for the cache lines of a row of d floats.
inline void Prefetch(const float* x, int64_t d) {
  for (int64_t j = 0; j < d; j += 16) __builtin_prefetch(x + j);
  __builtin_prefetch(x + d - 1);
}

// What a pass needs besides the centres: per centre its drift since the
// bounds were set (u grows by up[c]), the largest drift of the others (l
// shrinks by drop[c]), the distance to the nearest other centre (sep[c]);
// E2 = 2E for the current centres; margin/cmax to set new bounds.
//
// The bounds are stored relative to the last full pass (the epoch): a row
// holds u - U[a] and l + L[a], where U[c] and L[c] are the sums of up[c] and
// drop[c] over the passes since the epoch (its label's, when it was stored).
// A pruned pass then reads the bounds (u = stored + U[a], l = stored - L[a])
// and writes only those of the few rows it refreshes: the stream over the
// rows is read-only. The sums are kept as floats rounded up at every step, so
// that U(now) - U(then) covers every drift in between exactly.
struct Drift {
  std::vector<float> up, drop, sep;
  std::vector<float> cum_up, cum_drop;  // U and L (at least 16 entries, as up)
  float e2 = 0.0f;
  double margin = 0.0, cmax = 0.0;
};

// Per-block partials of a pass: label changes move a row's weighted values
// between centres (kd sums, then k weights, then k counts of rows of positive
// weight, which tell an emptied cluster exactly).
struct PassOut {
  int64_t changed = 0;
  double xmax = 0.0;  // largest ||x||^2 seen in a full pass
  int64_t exact = 0, searched = 0;  // rows given an exact distance, a full search
};

// New bounds of a row from the approximate distances of its nearest (f1) and
// second-nearest (f2) centres.
inline void SetBounds(double xn, float f1, float f2, double margin, double cmax, float* upper, float* lower) {
  // float square roots (correctly rounded, 2^-24) covered by the factors
  const double e = margin * (xn + cmax);
  *upper = std::sqrt(RoundUp(std::max(0.0, f1 + xn + e))) * kUp;
  *lower = std::sqrt(RoundDown(std::max(0.0, f2 + xn - e))) * kDown;
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
PassOut FullBlock(const KMeansData& data, const Prepared& p, const Drift& dr, size_t begin, size_t end,
                  int32_t* labels, float* upper, float* lower, double* part) {
  const int64_t d = D > 0 ? D : data.d;
  const bool weighted = !data.weights.empty();
  constexpr int R = kRows;
  PassOut out;
  const float* xs[R];
  int32_t lab[R];
  float f1[R], f2[R];
  auto finish = [&](size_t row, int r) {
    const float* x = xs[r];
    const double xn = Norm2<D>(x, d);
    out.xmax = std::max(out.xmax, xn);
    SetBounds(xn, f1[r], f2[r], dr.margin, dr.cmax, upper + row, lower + row);
    out.changed += labels[row] != lab[r];
    labels[row] = lab[r];
    MoveRow<D>(part, p.k, d, x, weighted ? data.weights[row] : 1.0, xn, -1, lab[r]);
  };
  size_t i = begin;
  for (; i + R <= end; i += R) {
    for (int r = 0; r < R; ++r) xs[r] = data.X.data() + (i + r) * d;
    Nearest2Rows<R, D>(xs, p, lab, f1, f2);
    for (int r = 0; r < R; ++r) finish(i + r, r);
  }
  for (; i < end; ++i) {
    xs[0] = data.X.data() + i * d;
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
PassOut PrunedBlock(const KMeansData& data, const Prepared& p, const Drift& dr, size_t begin, size_t end,
                    int32_t* labels, float* upper, float* lower, double* part) {
  const int64_t d = D > 0 ? D : data.d;
  const bool weighted = !data.weights.empty();
  const float* centers = p.centers.data();
  constexpr int R = kRows;
  PassOut out;
  size_t rows[R];
  const float* xs[R];
  int32_t lab[R];
  float f1[R], f2[R];
  int queued = 0;
  auto flush = [&](auto r_const) {
    constexpr int Q = decltype(r_const)::value;
    Nearest2Rows<Q, D>(xs, p, lab, f1, f2);
    for (int r = 0; r < Q; ++r) {
      const size_t row = rows[r];
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
        MoveRow<D>(part, p.k, d, x, weighted ? data.weights[row] : 1.0, xn, a, b);
      }
    }
  };
  auto keeps = [&](float u, float l, int32_t a) {
    const float lb = std::max(l, (dr.sep[a] - u) * kDown);
    return lb > 0.0f && u * u * kUp + dr.e2 < lb * lb * kDown;
  };
  // First the bounds of every row (a stream over labels and bounds), then
  // the rows they do not keep, whose X rows are scattered: each is fetched
  // a few rows ahead so that the cache misses overlap.
  std::vector<uint32_t>& cand = Candidates();
  cand.clear();
  size_t i = begin;
  const auto move_bounds = kernels::KMeans().move_bounds;
  if (p.k <= 16 && move_bounds != nullptr) {  // the level's vector stage (k <= 16)
    cand.resize(end - begin);
    size_t found = 0;
    i = move_bounds(dr.cum_up.data(), dr.cum_drop.data(), dr.sep.data(), dr.e2, begin, end, labels, upper, lower,
                    cand.data(), &found);
    cand.resize(found);
  }
  for (; i < end; ++i) {
    const int32_t a = labels[i];
    const float u = (upper[i] + dr.cum_up[a]) * kUp;
    const float l = (lower[i] - dr.cum_drop[a]) * kDown;
    if (!keeps(u, l, a)) cand.push_back(static_cast<uint32_t>(i - begin));
  }
  constexpr size_t kAhead = 8;
  const float* xb = data.X.data() + begin * d;
  for (size_t q = 0; q < std::min(kAhead, cand.size()); ++q) Prefetch(xb + cand[q] * d, d);
  for (size_t q = 0; q < cand.size(); ++q) {
    if (q + kAhead < cand.size()) Prefetch(xb + cand[q + kAhead] * d, d);
    const size_t i = begin + cand[q];
    const int32_t a = labels[i];
    const float* x = xb + cand[q] * d;
    ++out.exact;
    const double d2 = Dist2<D>(x, centers + static_cast<size_t>(a) * d, d);
    const float u = std::sqrt(RoundUp(d2)) * kUp;
    if (keeps(u, (lower[i] - dr.cum_drop[a]) * kDown, a)) {
      upper[i] = StepUp(static_cast<double>(u) - dr.cum_up[a]);
      continue;
    }
    ++out.searched;
    rows[queued] = i, xs[queued] = x;
    if (++queued == R) flush(std::integral_constant<int, R>()), queued = 0;
  }
  for (int r = 0; r < queued; ++r) {  // the last rows one by one
    rows[0] = rows[r], xs[0] = xs[r];
    flush(std::integral_constant<int, 1>());
  }
  return out;
}

// Runs a pass over all blocks, then adds the blocks' partials in block order
// (full: into zeroed sums; pruned: onto the running ones). acc holds k*d
// sums, then per centre the weight, the count of rows of positive weight and
// the sum of w * ||x||^2. Returns the changes and the largest ||x||^2 seen.
enum class Pass { kFull, kPruned };

PassOut RunPass(Pass kind, const KMeansData& data, absl::Span<const float> centers, int32_t k, const Drift& dr,
                std::vector<int32_t>& labels, std::vector<float>& bounds, std::vector<double>& acc) {
  const Prepared p = Prepare(centers, k, data.d);
  const size_t block = BlockFor(data.n);
  const size_t nb = NumBlocks(data.n, block);
  const size_t width = acc.size();
  std::vector<double> partial(nb * width, 0.0);
  std::vector<PassOut> outs(nb);
  float* upper = bounds.data();  // the upper bounds, then the lower ones
  float* lower = upper + data.n;
  auto run = [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    ParallelBlocks(data.n, block, [&](size_t b, size_t begin, size_t end) {
      double* part = partial.data() + b * width;
      outs[b] = kind == Pass::kFull ? FullBlock<D>(data, p, dr, begin, end, labels.data(), upper, lower, part)
                                    : PrunedBlock<D>(data, p, dr, begin, end, labels.data(), upper, lower, part);
    });
  };
  switch (data.d) {
    case 8: run(std::integral_constant<int, 8>()); break;
    case 16: run(std::integral_constant<int, 16>()); break;
    case 32: run(std::integral_constant<int, 32>()); break;
    default: run(std::integral_constant<int, 0>()); break;
  }
  if (kind == Pass::kFull) std::fill(acc.begin(), acc.end(), 0.0);
  for (size_t b = 0; b < nb; ++b) {  // fixed order: thread-count independent
    const double* s = partial.data() + b * width;
    for (size_t j = 0; j < width; ++j) acc[j] += s[j];
  }
  PassOut total;
  for (const PassOut& o : outs) {
    total.changed += o.changed, total.xmax = std::max(total.xmax, o.xmax);
    total.exact += o.exact, total.searched += o.searched;
  }
  return total;
}

// The drift of each centre from `old` to `now`, the separations of `now`,
// and the float-error margin for `now` (xmax: the largest ||x||^2).
void SetDrift(absl::Span<const float> old, absl::Span<const float> now, int32_t k, int64_t d, double xmax,
              Drift& dr) {
  std::vector<double> delta(k, 0.0), norm(k, 0.0);
  for (int32_t c = 0; c < k; ++c) {
    const float* a = old.data() + static_cast<size_t>(c) * d;
    const float* b = now.data() + static_cast<size_t>(c) * d;
    for (int64_t j = 0; j < d; ++j) {
      const double t = static_cast<double>(b[j]) - a[j];
      delta[c] += t * t;
      norm[c] += static_cast<double>(b[j]) * b[j];
    }
    delta[c] = std::sqrt(delta[c]);
  }
  // (at least 16 entries: the AVX2 pass looks up 16 by label)
  dr.up.assign(std::max(k, 16), 0.0f), dr.drop.assign(std::max(k, 16), 0.0f), dr.sep.assign(std::max(k, 16), 0.0f);
  dr.cum_up.resize(std::max(k, 16), 0.0f), dr.cum_drop.resize(std::max(k, 16), 0.0f);
  int32_t first = 0;  // the largest drift, then the largest of the others
  for (int32_t c = 1; c < k; ++c) first = delta[c] > delta[first] ? c : first;
  double second = 0.0;
  for (int32_t c = 0; c < k; ++c) second = c != first ? std::max(second, delta[c]) : second;
  for (int32_t c = 0; c < k; ++c) {
    dr.up[c] = RoundUp(delta[c] * (1 + 1e-12));
    dr.drop[c] = RoundUp((c == first ? second : delta[first]) * (1 + 1e-12));
    dr.cum_up[c] = StepUp(static_cast<double>(dr.cum_up[c]) + dr.up[c]);
    dr.cum_drop[c] = StepUp(static_cast<double>(dr.cum_drop[c]) + dr.drop[c]);
    double sep = std::numeric_limits<double>::infinity();
    for (int32_t o = 0; o < k; ++o) {
      if (o != c) sep = std::min(sep, std::sqrt(Dist2<0>(now.data() + static_cast<size_t>(c) * d,
                                                         now.data() + static_cast<size_t>(o) * d, d)));
    }
    dr.sep[c] = std::isinf(sep) ? 0.0f : RoundDown(sep * (1 - 1e-12));
  }
  dr.cmax = *std::max_element(norm.begin(), norm.end());
  dr.margin = MarginFactor(d);
  dr.e2 = RoundUp(2.0 * dr.margin * (xmax + dr.cmax) * (1 + 0x1.0p-18));
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

// The largest |x| whose squared distances cannot overflow float32: the
// engine computes |x|^2 - 2 x.c + |c|^2 in float32, and below
// sqrt(FLT_MAX / (4 d)) no term can pass FLT_MAX (above it the distances are
// infinite and the arg-min is wrong: a row lands in another row's cluster).
double RangeLimit(int64_t d) {
  return std::sqrt(static_cast<double>(std::numeric_limits<float>::max()) / (4.0 * static_cast<double>(d)));
}

// The bits of the largest float <= RangeLimit(d): for a float x, |x| >
// RangeLimit(d) (compared in double) exactly when |x|'s bits exceed these.
uint32_t RangeLimitBits(int64_t d) {
  const double limit = RangeLimit(d);
  float f = static_cast<float>(limit);
  if (static_cast<double>(f) > limit) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// True when every |x| is at most the float whose bits are `limit_bits`: the
// bits of a non-negative float order as its value, and NaN and infinity have
// the largest, so one unsigned compare refuses them too. A branch-free OR
// over the bits, which the compiler vectorises.
bool AllInRange(const float* x, size_t n, uint32_t limit_bits) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7fffffffu) > limit_bits);
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

namespace {

// Sizes and weights (>= 0, finite, some > 0): all of Validate but the scan of X.
absl::Status CheckSizesAndWeights(const KMeansData& data) {
  const int64_t n = data.n, d = data.d;
  TWINSCORE_CHECK_ARG(n >= 1 && d >= 1, "X must have at least one row and one column, got ", n, " x ", d);
  TWINSCORE_CHECK_ARG(data.X.size() == static_cast<size_t>(n * d), "X holds ", data.X.size(), " values, expected ",
                      n, " x ", d);
  TWINSCORE_CHECK_ARG(data.weights.empty() || data.weights.size() == static_cast<size_t>(n), "sample_weight has ",
                      data.weights.size(), " values, expected ", n);
  for (size_t i = 0; i < data.weights.size(); ++i) {
    const float w = data.weights[i];
    TWINSCORE_CHECK_ARG(std::isfinite(w) && w >= 0, "sample_weight must be finite and >= 0, got ", w, " at row ", i);
  }
  TWINSCORE_CHECK_ARG(TotalWeight(data) > 0, "sample_weight is all zero");
  return absl::OkStatus();
}

// The error of the first bad value of X, which a pass found: the first NaN or
// infinity in row order, else the first value beyond RangeLimit.
absl::Status FirstBadValue(const KMeansData& data) {
  const int64_t d = data.d;
  for (size_t i = 0; i < data.X.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(data.X[i]), "X holds ", std::isnan(data.X[i]) ? "NaN" : "an infinite value",
                        " at row ", i / d, ", column ", i % d);
  }
  const uint32_t limit = RangeLimitBits(d);
  for (size_t i = 0; i < data.X.size(); ++i) {
    if (AllInRange(data.X.data() + i, 1, limit)) continue;
    char text[160];  // Python's number formats (.6g, .3g), as the message had before the check moved here
    std::snprintf(text, sizeof text, "X holds %.6g at row %zu, column %zu: beyond %.3g",
                  static_cast<double>(data.X[i]), i / static_cast<size_t>(d), i % static_cast<size_t>(d),
                  RangeLimit(d));
    return absl::InvalidArgumentError(absl::StrCat(
        text, ", the squared distances k-means computes in float32 would overflow; rescale the column"));
  }
  return absl::OkStatus();
}

// X finite and within RangeLimit: one parallel pass of AllInRange (the
// cheap test); the rare failure is located in row order by FirstBadValue.
absl::Status CheckFinite(const KMeansData& data) {
  const int64_t d = data.d;
  const uint32_t limit = RangeLimitBits(d);
  std::vector<uint8_t> bad(NumBlocks(data.n, kBlock), 0);
  ParallelBlocks(data.n, kBlock, [&](size_t b, size_t begin, size_t end) {
    bad[b] = !AllInRange(data.X.data() + begin * d, (end - begin) * d, limit);
  });
  if (std::find(bad.begin(), bad.end(), uint8_t{1}) == bad.end()) return absl::OkStatus();
  return FirstBadValue(data);
}

}  // namespace

absl::Status KMeansData::Validate() const {
  TWINSCORE_RETURN_IF_ERROR(CheckSizesAndWeights(*this));
  return CheckFinite(*this);
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

// Distances computed between two progress reports of the seeding, at least:
// a report per step would cost more than the step on small tables.
constexpr int64_t kSeedReportWork = int64_t{1} << 22;

absl::Status KMeansPlusPlus(const KMeansData& data, int32_t k, uint64_t seed, absl::Span<float> centers,
                            const Progress& progress) {
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
  int64_t unreported = n;
  for (int32_t c = 1; c < k; ++c) {
    if (unreported >= kSeedReportWork) {
      TWINSCORE_REPORT(progress, "seeding", c, k);
      unreported = 0;
    }
    unreported += n * trials;
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
  TWINSCORE_REPORT(progress, "seeding", k, k);
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

namespace {

// New centres from the sums (a centre without weight stays); returns the
// summed squared shift.
double UpdateCenters(const std::vector<double>& sums, const std::vector<double>& counts, int32_t k, int64_t d,
                     const std::vector<float>& centers, std::vector<float>& next) {
  double shift = 0.0;
  for (int32_t c = 0; c < k; ++c) {
    for (int64_t j = 0; j < d; ++j) {
      const size_t q = static_cast<size_t>(c) * d + j;
      next[q] = counts[c] > 0 ? static_cast<float>(sums[q] / counts[c]) : centers[q];
      const double t = static_cast<double>(next[q]) - centers[q];
      shift += t * t;
    }
  }
  return shift;
}

// Reports an iteration done; on the last one (converged or max_iter) the
// total becomes the iterations run.
absl::Status ReportIteration(const Progress& progress, int32_t it, bool last, int32_t max_iter, int64_t changed) {
  return progress.Report(ProgressStep{"iterations", it + 1, last ? it + 1 : max_iter, "changed",
                                      static_cast<double>(changed)});
}

// The brute-force iterations: every distance at every pass.
absl::Status LloydBrute(const KMeansData& data, const KMeansOptions& opt, double tol, KMeansResult& r,
                        const Progress& progress) {
  const int32_t k = opt.k;
  const int64_t n = data.n, d = data.d;
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
    const double shift = UpdateCenters(sums, counts, k, d, r.centers, next);
    r.centers.swap(next);
    r.n_iter = it + 1;
    // changed == 0: labels as in the previous iteration
    const bool last = changed == 0 || shift <= tol || it + 1 == opt.max_iter;
    TWINSCORE_RETURN_IF_ERROR(ReportIteration(progress, it, last, opt.max_iter, changed));
    if (last) break;
  }
  r.inertia = AssignAndSum(data, r.centers, k, absl::MakeSpan(r.labels), {}, {}, {});
  return absl::OkStatus();
}

// The inertia from the per-centre sums: sum over c of
// Q_c - 2 c.S_c + W_c ||c||^2 (Q_c: sum of w ||x||^2). Exact enough unless the
// rows sit far from the origin compared with their spread; returns -1 when
// the cancellation could cost more than ~1e-10 relative.
double InertiaFromSums(const std::vector<double>& acc, const std::vector<float>& centers, int32_t k, int64_t d) {
  const size_t kd = static_cast<size_t>(k) * d;
  double total = 0.0, scale = 0.0;
  for (int32_t c = 0; c < k; ++c) {
    double cs = 0.0, cc = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      const double v = centers[c * d + j];
      cs += v * acc[c * d + j], cc += v * v;
    }
    const double q = acc[kd + 2 * k + c];
    total += q - 2.0 * cs + acc[kd + c] * cc;
    scale += q + acc[kd + c] * cc;
  }
  return total > 1e-6 * scale ? total : -1.0;
}

// The same iterations with Hamerly's bounds. While many labels change (the
// first passes) brute-force passes are cheapest; then one full pass sets
// the bounds, and pruned passes follow, carrying the sums from pass to pass
// (moved by the rows that change label). A pruned pass in which most rows
// had to search is followed by a full one.
// X is checked for NaN in the first pass (the caller has checked the rest).
//
// Brute-force passes go on while more than 1/kBruteWhile of the labels
// change. Measured on 1M x 16, K = 16: a full pass costs about two brute
// ones, and the pruned passes that follow it while the centres still move
// (1-5 % of the labels changing) search 20-30 % of the rows and cost as much
// again; switching at 1/32 (as before) cost ~12 % more than at 1/128.
constexpr int64_t kBruteWhile = 128;

absl::Status LloydPruned(const KMeansData& data, const KMeansOptions& opt, double tol, KMeansResult& r,
                         const Progress& progress) {
  const int32_t k = opt.k;
  const int64_t n = data.n, d = data.d;
  const size_t kd = static_cast<size_t>(k) * d;
  std::vector<float> dist2, bounds(2 * static_cast<size_t>(n));
  std::vector<double> acc(kd + 3 * static_cast<size_t>(k)), sums(kd), counts(k);
  std::vector<float> next(r.centers.size());
  Drift dr;
  double xmax = 0.0;
  enum class Mode { kBrute, kFull, kPruned } mode = Mode::kBrute;
  for (int32_t it = 0; it < opt.max_iter; ++it) {
    int64_t changed = 0;
    if (mode == Mode::kBrute && it == 0) {
      const BlockOut o = AssignBlocks<true, false, true>(data, r.centers, k, absl::MakeSpan(r.labels), {},
                                                         absl::MakeSpan(sums), absl::MakeSpan(counts));
      if (!o.finite) return FirstBadValue(data);
      changed = o.changed;
      mode = kBruteWhile * changed > n ? Mode::kBrute : Mode::kFull;
    } else if (mode == Mode::kBrute) {
      changed = AssignBlocks<true, false>(data, r.centers, k, absl::MakeSpan(r.labels), {}, absl::MakeSpan(sums),
                                          absl::MakeSpan(counts))
                    .changed;
      mode = kBruteWhile * changed > n ? Mode::kBrute : Mode::kFull;
    } else {
      if (mode == Mode::kFull) {  // a new epoch for the bounds
        dr.cum_up.assign(std::max(k, 16), 0.0f), dr.cum_drop.assign(std::max(k, 16), 0.0f);
      }
      const PassOut o = RunPass(mode == Mode::kFull ? Pass::kFull : Pass::kPruned, data, r.centers, k, dr, r.labels,
                                bounds, acc);
      changed = o.changed;
      xmax = std::max(xmax, o.xmax);
      mode = 2 * o.searched > n ? Mode::kFull : Mode::kPruned;
      std::copy_n(acc.begin(), kd, sums.begin());
      for (int32_t c = 0; c < k; ++c) {
        // emptied: exactly, whatever the rounding of the weights
        counts[c] = acc[kd + k + c] > 0 ? acc[kd + c] : 0.0;
      }
    }
    if (std::find(counts.begin(), counts.end(), 0.0) != counts.end()) {
      dist2.resize(n);
      AssignBlocks<false, true>(data, r.centers, k, {}, absl::MakeSpan(dist2), {}, {});
      RelocateEmpty(data, k, dist2, sums, counts, r.labels);
      mode = Mode::kBrute;  // the moved rows' labels and bounds are stale: start afresh
    }
    const double shift = UpdateCenters(sums, counts, k, d, r.centers, next);
    SetDrift(r.centers, next, k, d, xmax, dr);  // for the full pass: margin and cmax of the new centres
    r.centers.swap(next);
    r.n_iter = it + 1;
    const bool last = changed == 0 || shift <= tol || it + 1 == opt.max_iter;
    TWINSCORE_RETURN_IF_ERROR(ReportIteration(progress, it, last, opt.max_iter, changed));
    if (last) break;
  }
  // Labels of the final centres: a pruned pass when the bounds hold (it
  // moves the sums with the rows), the brute force otherwise.
  if (mode == Mode::kPruned) {
    RunPass(Pass::kPruned, data, r.centers, k, dr, r.labels, bounds, acc);
    r.inertia = InertiaFromSums(acc, r.centers, k, d);
    if (r.inertia >= 0) return absl::OkStatus();
  }
  r.inertia = AssignAndSum(data, r.centers, k, absl::MakeSpan(r.labels), {}, {}, {});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KMeansResult> KMeansLloyd(const KMeansData& data, const KMeansOptions& opt,
                                         absl::Span<const float> init, const Progress& progress) {
  // The pruned iterations scan X for NaN in their first pass.
  TWINSCORE_RETURN_IF_ERROR(opt.prune ? CheckSizesAndWeights(data) : data.Validate());
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
  if (opt.prune) {
    TWINSCORE_RETURN_IF_ERROR(LloydPruned(data, opt, tol, r, progress));
  } else {
    TWINSCORE_RETURN_IF_ERROR(LloydBrute(data, opt, tol, r, progress));
  }
  return r;
}

// Rows between two progress reports of the mini-batch update, at least.
constexpr int64_t kBatchReportRows = int64_t{1} << 16;

absl::StatusOr<double> KMeansMiniBatchUpdate(const KMeansData& data, int32_t k, int64_t batch_size,
                                             absl::Span<float> centers_out, absl::Span<double> totals_out,
                                             const Progress& progress) {
  TWINSCORE_RETURN_IF_ERROR(data.Validate());
  TWINSCORE_CHECK_ARG(k >= 1, "n_clusters must be >= 1, got ", k);
  TWINSCORE_CHECK_ARG(batch_size >= 1, "batch_size must be >= 1, got ", batch_size);
  TWINSCORE_CHECK_ARG(centers_out.size() == static_cast<size_t>(k) * data.d, "centers hold ", centers_out.size(),
                      " values, expected ", k, " x ", data.d);
  TWINSCORE_CHECK_ARG(totals_out.size() == static_cast<size_t>(k), "totals must hold k values");
  const int64_t d = data.d;
  // Updated in copies (k*d values), written back when every batch is done:
  // a call stopped by its caller leaves the model as it was.
  std::vector<float> centers(centers_out.begin(), centers_out.end());
  std::vector<double> totals(totals_out.begin(), totals_out.end());
  int64_t reported = 0;
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
    if (b + m - reported >= kBatchReportRows || b + m == data.n) {
      TWINSCORE_REPORT(progress, "batches", b + m, data.n);
      reported = b + m;
    }
  }
  std::copy(centers.begin(), centers.end(), centers_out.begin());
  std::copy(totals.begin(), totals.end(), totals_out.begin());
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
