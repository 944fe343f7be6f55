#include "twinscore/criteria.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "criteria_kernels.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kRowBlock = 1 << 18;

absl::Status CheckTarget(absl::Span<const uint8_t> target, size_t n, const char* what, size_t c) {
  TWINSCORE_CHECK_ARG(target.size() == n, what, " ", c, " has ", n, " rows, the target has ", target.size());
  return absl::OkStatus();
}

// Runs fn(column, begin, end, pos, neg) over every (column, row block) pair in
// parallel, each pair counting into its own buffers, then adds the buffers
// column by column (integer sums: any order gives the same result).
template <class Fn>
BinCounts CountBlocks(size_t n_cols, size_t n_rows, const std::vector<size_t>& width, Fn&& fn) {
  const size_t nb = NumBlocks(n_rows, kRowBlock);
  // All buffers allocated before the parallel region: task t of column c
  // counts into offset[c] + b * width[c].
  std::vector<size_t> offset(n_cols + 1, 0);
  for (size_t c = 0; c < n_cols; ++c) offset[c + 1] = offset[c] + nb * width[c];
  std::vector<int64_t> pos(offset[n_cols], 0), neg(offset[n_cols], 0);
  ParallelBlocks(n_cols * nb, 1, [&](size_t task, size_t, size_t) {
    const size_t c = task / nb, b = task % nb, at = offset[c] + b * width[c];
    fn(c, b * kRowBlock, std::min(n_rows, (b + 1) * kRowBlock), pos.data() + at, neg.data() + at);
  });
  BinCounts out;
  out.pos.assign(n_cols, {});
  out.neg.assign(n_cols, {});
  for (size_t c = 0; c < n_cols; ++c) {
    out.pos[c].assign(width[c], 0);
    out.neg[c].assign(width[c], 0);
    for (size_t b = 0; b < nb; ++b) {
      for (size_t j = 0; j < width[c]; ++j) {
        out.pos[c][j] += pos[offset[c] + b * width[c] + j];
        out.neg[c][j] += neg[offset[c] + b * width[c] + j];
      }
    }
  }
  return out;
}

}  // namespace

namespace {

// The order-preserving integer image of a float: sign bit flipped for
// positives, all bits flipped for negatives, so that unsigned order is float
// order (-0.0 is first made +0.0: equal values, one key).
template <class T>
using KeyOf = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

template <class T>
inline KeyOf<T> OrderedKey(T x) {
  using K = KeyOf<T>;
  constexpr K kSign = K{1} << (sizeof(K) * 8 - 1);
  x += T(0);
  K u;
  std::memcpy(&u, &x, sizeof u);
  return (u & kSign) ? ~u : (u | kSign);
}

template <class T>
inline double FromKey(KeyOf<T> k) {
  using K = KeyOf<T>;
  constexpr K kSign = K{1} << (sizeof(K) * 8 - 1);
  const K u = (k & kSign) ? (k & ~kSign) : ~k;
  T x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

constexpr int kRadixBits = 16;  // histogram of 2^16 buckets: 256 KiB, in L2

// The keys of rank ranks[i] (sorted, unique), exactly as a full sort would
// give them. `count` is the histogram of the keys' top 16 bits (float32:
// 1/128 of a binade per bucket): it tells which bucket holds each rank; only
// those buckets' keys are gathered and selected (nth_element) — a few per
// cent of the column instead of ~2 selections per quantile over what is left
// of it.
template <class K>
std::vector<K> SelectRanks(const std::vector<K>& keys, const std::vector<uint32_t>& count,
                           const std::vector<size_t>& ranks) {
  constexpr int kShift = sizeof(K) * 8 - kRadixBits;
  const size_t buckets = count.size();
  std::vector<int32_t> slot(buckets, -1);
  std::vector<size_t> bucket_start;
  std::vector<int32_t> rank_slot(ranks.size());
  size_t start = 0, bucket = 0, r = 0;
  for (; bucket < buckets && r < ranks.size(); start += count[bucket++]) {
    for (; r < ranks.size() && ranks[r] < start + count[bucket]; ++r) {
      if (slot[bucket] < 0) {
        slot[bucket] = static_cast<int32_t>(bucket_start.size());
        bucket_start.push_back(start);
      }
      rank_slot[r] = slot[bucket];
    }
  }
  std::vector<std::vector<K>> held(bucket_start.size());
  for (size_t q = 0; q < buckets; ++q) {
    if (slot[q] >= 0) held[slot[q]].reserve(count[q]);
  }
  for (K k : keys) {
    const int32_t s = slot[k >> kShift];
    if (s >= 0) held[s].push_back(k);
  }
  std::vector<K> out(ranks.size());
  std::vector<size_t> from(held.size(), 0);
  for (size_t i = 0; i < ranks.size(); ++i) {  // ascending: each selection reorders only what lies after the last
    std::vector<K>& h = held[rank_slot[i]];
    size_t& f = from[rank_slot[i]];
    const size_t local = ranks[i] - bucket_start[rank_slot[i]];
    std::nth_element(h.begin() + f, h.begin() + local, h.end());
    out[i] = h[local];
    f = local + 1;
  }
  return out;
}

// The present values of a column as ordered keys (in row order) and the
// histogram of their top kRadixBits bits.
template <class K>
struct Keys {
  std::vector<K> keys;
  std::vector<uint32_t> count = std::vector<uint32_t>(size_t{1} << kRadixBits, 0);

  void Recount() {
    constexpr int kShift = sizeof(K) * 8 - kRadixBits;
    std::fill(count.begin(), count.end(), 0);
    for (K k : keys) ++count[k >> kShift];
  }
};

// The distinct keys of a column while there are at most `limit` of them (a
// flag, a small code). Once there are more it stops: a column of continuous
// values pays one predictable branch a row.
template <class K>
class FewKeys {
 public:
  explicit FewKeys(size_t limit) : limit_(limit) {}

  void Add(K k) {
    if (many_ || (seen_ && k == last_)) return;  // runs of one value are the common case in flags
    seen_ = true;
    last_ = k;
    const auto it = std::lower_bound(keys_.begin(), keys_.end(), k);
    if (it != keys_.end() && *it == k) return;
    if (keys_.size() == limit_) {
      many_ = true;
      keys_.clear();
      return;
    }
    keys_.insert(it, k);
  }
  bool many() const { return many_; }
  const std::vector<K>& keys() const { return keys_; }  // ascending

 private:
  size_t limit_;
  std::vector<K> keys_;
  K last_{};
  bool seen_ = false, many_ = false;
};

// One pass over a column: the keys of its present values, their histogram
// and, when `few` is given, its distinct keys while they are few.
template <class T>
absl::Status ScanColumn(const std::string& name, ColumnView<T> x, Keys<KeyOf<T>>* out, FewKeys<KeyOf<T>>* few) {
  using K = KeyOf<T>;
  constexpr int kShift = sizeof(K) * 8 - kRadixBits;
  out->keys.reserve(x.n);
  for (int64_t i = 0; i < x.n; ++i) {
    const T f = x[i];
    TWINSCORE_CHECK_ARG(!std::isinf(f), "column '", name, "' holds an infinite value at row ", i);
    if (std::isnan(f)) continue;
    const K k = OrderedKey(f);
    ++out->count[k >> kShift];
    out->keys.push_back(k);
    if (few != nullptr) few->Add(k);
  }
  return absl::OkStatus();
}

// Position, among n sorted values, of pandas.qcut's i-th quantile (numpy's
// "linear": (n - 1) * fraction). pandas >= 3 takes the fractions from
// numpy.linspace(0, 1, n_bins + 1) — i * (1 / n_bins), the last exactly 1 —
// and rounds each that is not exactly i / n_bins up to the next double, so a
// value lying on an exact quantile position stays in the lower bin. The
// fractions are reproduced to the bit: a value equal to an edge changes bin
// with the last bit of the edge.
inline double QuantilePosition(size_t n, int32_t i, int32_t n_bins) {
  double fraction = i == n_bins ? 1.0 : i * (1.0 / n_bins);
  if (n_bins * fraction != i) fraction = std::nextafter(fraction, 1.0);
  return static_cast<double>(n - 1) * fraction;
}

// The keys at the ranks the quantiles 0, 1/n_bins, ..., 1 of the keys lie
// between (floor and floor + 1 of each position), ranks ascending and unique.
template <class K>
struct RankKeys {
  std::vector<size_t> ranks;
  std::vector<K> keys;  // keys[j] has rank ranks[j]: ascending too

  K at(size_t rank) const { return keys[std::lower_bound(ranks.begin(), ranks.end(), rank) - ranks.begin()]; }
};

template <class K>
RankKeys<K> QuantileRankKeys(const Keys<K>& k, int32_t n_bins) {
  const size_t n = k.keys.size();
  RankKeys<K> r;
  for (int32_t i = 0; i <= n_bins; ++i) {
    const size_t lo = static_cast<size_t>(std::floor(QuantilePosition(n, i, n_bins)));
    r.ranks.push_back(lo);
    if (lo + 1 < n) r.ranks.push_back(lo + 1);
  }
  std::sort(r.ranks.begin(), r.ranks.end());
  r.ranks.erase(std::unique(r.ranks.begin(), r.ranks.end()), r.ranks.end());
  r.keys = SelectRanks(k.keys, k.count, r.ranks);
  return r;
}

// pandas.qcut's edges from the picked keys of n values: each quantile
// interpolated as numpy does, duplicates dropped.
template <class T>
std::vector<double> EdgesOf(const RankKeys<KeyOf<T>>& r, size_t n, int32_t n_bins) {
  std::vector<double> edges;
  for (int32_t i = 0; i <= n_bins; ++i) {
    const double h = QuantilePosition(n, i, n_bins);
    const size_t lo = static_cast<size_t>(std::floor(h));
    const double t = h - lo, a = FromKey<T>(r.at(lo)), b = lo + 1 < n ? FromKey<T>(r.at(lo + 1)) : a;
    // numpy's lerp: from the nearer end, so that t = 1 gives b exactly.
    edges.push_back(t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  return edges;
}

// The keys held by more than n / n_bins of the n keys. Such a key fills a run
// of sorted ranks longer than the spacing of the quantile positions, so it is
// one of the picked keys; only the picked keys whose histogram bucket is that
// full are counted, in one pass that looks only at keys of those buckets (a
// column of continuous values usually has none and skips the pass).
template <class K>
std::vector<K> DominantKeys(const Keys<K>& k, const RankKeys<K>& picked, int32_t n_bins) {
  constexpr int kShift = sizeof(K) * 8 - kRadixBits;
  const uint64_t n = k.keys.size();
  auto dominant = [&](uint64_t held) { return held * static_cast<uint64_t>(n_bins) > n; };
  std::vector<K> candidates;
  for (K key : picked.keys) {
    if (dominant(k.count[key >> kShift])) candidates.push_back(key);
  }
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  if (candidates.empty()) return candidates;
  std::vector<uint8_t> in_bucket(k.count.size(), 0);
  for (K key : candidates) in_bucket[key >> kShift] = 1;
  std::vector<uint64_t> held(candidates.size(), 0);
  for (K key : k.keys) {
    if (!in_bucket[key >> kShift]) continue;
    const auto it = std::lower_bound(candidates.begin(), candidates.end(), key);
    if (it != candidates.end() && *it == key) ++held[it - candidates.begin()];
  }
  std::vector<K> out;
  for (size_t j = 0; j < candidates.size(); ++j) {
    if (dominant(held[j])) out.push_back(candidates[j]);
  }
  return out;
}

template <class T>
absl::StatusOr<std::vector<double>> ColumnEdges(const std::string& name, ColumnView<T> x, int32_t n_bins) {
  Keys<KeyOf<T>> k;
  TWINSCORE_RETURN_IF_ERROR(ScanColumn<T>(name, x, &k, nullptr));
  if (k.keys.empty()) return std::vector<double>{};
  return EdgesOf<T>(QuantileRankKeys(k, n_bins), k.keys.size(), n_bins);
}

template <class T>
absl::StatusOr<NumericBinning> LearnColumn(const std::string& name, ColumnView<T> x, int32_t n_bins) {
  using K = KeyOf<T>;
  NumericBinning out;
  out.float32 = std::is_same_v<T, float>;
  Keys<K> k;
  FewKeys<K> few(static_cast<size_t>(n_bins));
  TWINSCORE_RETURN_IF_ERROR(ScanColumn<T>(name, x, &k, &few));
  if (!few.many()) {  // few values (or none present): one bin each
    for (K key : few.keys()) out.values.push_back(FromKey<T>(key));
    return out;
  }
  RankKeys<K> picked = QuantileRankKeys(k, n_bins);
  const std::vector<K> own = DominantKeys(k, picked, n_bins);
  if (own.empty()) {
    out.edges = EdgesOf<T>(picked, k.keys.size(), n_bins);
    return out;
  }
  for (K key : own) out.values.push_back(FromKey<T>(key));
  // The other values share the quantile bins left. Each value with a bin of
  // its own holds more than 1 / n_bins of the rows, so at least one is left;
  // and more than n_bins distinct values with fewer than n_bins of them
  // removed leave at least two distinct values.
  k.keys.erase(std::remove_if(k.keys.begin(), k.keys.end(),
                              [&](K key) { return std::binary_search(own.begin(), own.end(), key); }),
               k.keys.end());
  k.Recount();
  const int32_t rest_bins = n_bins - static_cast<int32_t>(own.size());
  out.edges = EdgesOf<T>(QuantileRankKeys(k, rest_bins), k.keys.size(), rest_bins);
  return out;
}

absl::Status WithColumn(const std::string& name, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("column '", name, "': ", s.message()));
}

// Checks that there is one binning per column, each valid.
absl::Status CheckBinnings(const std::vector<NumericColumn>& columns, const std::vector<NumericBinning>& binnings) {
  TWINSCORE_CHECK_ARG(columns.size() == binnings.size(), "one binning per column expected: ", columns.size(),
                      " columns, ", binnings.size(), " binnings");
  for (size_t c = 0; c < columns.size(); ++c) {
    TWINSCORE_RETURN_IF_ERROR(WithColumn(columns[c].name, binnings[c].Validate()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::vector<double>>> QuantileEdges(const std::vector<NumericColumn>& columns,
                                                               int32_t n_bins) {
  TWINSCORE_CHECK_ARG(n_bins >= 1, "n_bins must be >= 1, got ", n_bins);
  std::vector<std::vector<double>> edges(columns.size());
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(columns.size(), 1, [&](size_t c, size_t, size_t) -> absl::Status {
    const NumericColumn& col = columns[c];
    auto r = col.is_float32 ? ColumnEdges(col.name, ColumnView<float>{static_cast<const float*>(col.data), col.n, col.stride}, n_bins)
                            : ColumnEdges(col.name, ColumnView<double>{static_cast<const double*>(col.data), col.n, col.stride}, n_bins);
    if (!r.ok()) return r.status();
    edges[c] = *std::move(r);
    return absl::OkStatus();
  }));
  return edges;
}

absl::Status NumericBinning::Validate() const {
  for (size_t i = 0; i < values.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(values[i]), "binning value ", i, " is not finite: ", values[i]);
    TWINSCORE_CHECK_ARG(i == 0 || values[i - 1] < values[i], "binning values must be strictly ascending, got ",
                        values[i - 1], " then ", values[i]);
    TWINSCORE_CHECK_ARG(!float32 || static_cast<double>(static_cast<float>(values[i])) == values[i],
                        "binning value ", values[i], " is not a float32 number, but the binning is float32");
  }
  for (size_t i = 0; i < edges.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(edges[i]), "binning edge ", i, " is not finite: ", edges[i]);
    TWINSCORE_CHECK_ARG(i == 0 || edges[i - 1] < edges[i], "binning edges must be strictly ascending, got ",
                        edges[i - 1], " then ", edges[i]);
  }
  return absl::OkStatus();
}

absl::Status BinningOptions::Validate() const {
  TWINSCORE_CHECK_ARG(n_bins >= 1 && n_bins <= 1000, "n_bins must be in [1, 1000], got ", n_bins);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NumericBinning>> LearnNumericBins(const std::vector<NumericColumn>& columns,
                                                              const BinningOptions& options) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  std::vector<NumericBinning> out(columns.size());
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(columns.size(), 1, [&](size_t c, size_t, size_t) -> absl::Status {
    const NumericColumn& col = columns[c];
    auto r = col.is_float32
                 ? LearnColumn(col.name, ColumnView<float>{static_cast<const float*>(col.data), col.n, col.stride},
                               options.n_bins)
                 : LearnColumn(col.name, ColumnView<double>{static_cast<const double*>(col.data), col.n, col.stride},
                               options.n_bins);
    if (!r.ok()) return r.status();
    out[c] = *std::move(r);
    return absl::OkStatus();
  }));
  return out;
}

int32_t BinOf(double x, absl::Span<const double> edges) {
  const int32_t m = static_cast<int32_t>(edges.size()) - 1;
  if (std::isnan(x)) return std::max(m, 1);
  int32_t b = 0;
  for (int32_t i = 1; i < m; ++i) b += x > edges[i];  // branch-free: few edges
  return b;
}

int32_t NumericBinOf(double x, const NumericBinning& binning) {
  if (std::isnan(x)) return binning.missing_bin();
  // A float64 value beyond the float range stays as it is (the cast would be
  // undefined): it matches no value and falls in an end interval either way.
  if (binning.float32 && std::abs(x) <= std::numeric_limits<float>::max()) x = static_cast<float>(x);
  const std::vector<double>& v = binning.values;
  const auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it != v.end() && *it == x) return static_cast<int32_t>(it - v.begin());
  if (binning.edges.empty()) return binning.other_bin();
  return static_cast<int32_t>(v.size()) + BinOf(x, binning.edges);
}

namespace {

template <class T>
void CountColumn(ColumnView<T> x, const NumericBinning& binning, absl::Span<const uint8_t> target, size_t b,
                 size_t e, int64_t* pos, int64_t* neg) {
  for (size_t i = b; i < e; ++i) (target[i] ? pos : neg)[NumericBinOf(x[i], binning)] += 1;
}

template <class T>
void AssignRows(ColumnView<T> x, const NumericBinning& binning, size_t b, size_t e, int32_t* out) {
  for (size_t i = b; i < e; ++i) out[i] = NumericBinOf(x[i], binning);
}

// The largest float at or below e: for a float x, x > e exactly when
// x > FloatAtOrBelow(e), so float32 columns compare in float32, 8 at a time.
float FloatAtOrBelow(double e) {
  constexpr float kMax = std::numeric_limits<float>::max();
  if (e >= kMax) return kMax;
  if (e < -static_cast<double>(kMax)) return -std::numeric_limits<float>::infinity();
  float f = static_cast<float>(e);
  if (static_cast<double>(f) > e) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// A contiguous float32 column binned by intervals only (no value with a bin
// of its own): the SIMD level's kernels bin it 8 rows at a time.
bool VectorBinnable(const NumericColumn& col, const NumericBinning& bins) {
  return col.is_float32 && col.stride == 1 && bins.values.empty() && !bins.edges.empty();
}

std::vector<float> InnerEdges(absl::Span<const double> edges) {
  std::vector<float> inner;
  for (size_t i = 1; i + 1 < edges.size(); ++i) inner.push_back(FloatAtOrBelow(edges[i]));
  return inner;
}

// BinOf over the rows [b, e) of a float32 column, counted by the level's
// kernel into 4 interleaved local tables (criteria_kernels.h), the last
// rows by the scalar loop.
void CountFloat32(const kernels::CriteriaKernels& k, const float* x, absl::Span<const double> edges, int32_t missing,
                  absl::Span<const uint8_t> target, size_t b, size_t e, size_t width, int64_t* pos, int64_t* neg) {
  const std::vector<float> inner = InnerEdges(edges);
  std::vector<uint32_t> count(4 * 2 * width, 0);  // [copy][target][bin]
  size_t i = k.count_float32(x, inner.data(), static_cast<int32_t>(inner.size()), missing, target.data(), b, e,
                             width, count.data());
  for (; i < e; ++i) ++count[(target[i] != 0) * width + (std::isnan(x[i]) ? missing : BinOf(x[i], edges))];
  for (int c = 0; c < 4; ++c) {
    for (size_t j = 0; j < width; ++j) {
      neg[j] += count[(c * 2) * width + j];
      pos[j] += count[(c * 2 + 1) * width + j];
    }
  }
}

}  // namespace

absl::StatusOr<BinCounts> CountNumericBins(const std::vector<NumericColumn>& columns,
                                           const std::vector<NumericBinning>& binnings,
                                           absl::Span<const uint8_t> target) {
  TWINSCORE_RETURN_IF_ERROR(CheckBinnings(columns, binnings));
  std::vector<size_t> width;
  for (size_t c = 0; c < columns.size(); ++c) {
    TWINSCORE_CHECK_ARG(columns[c].n == static_cast<int64_t>(target.size()), "column '", columns[c].name, "' has ",
                        columns[c].n, " rows, the target has ", target.size());
    width.push_back(binnings[c].num_bins());
  }
  const kernels::CriteriaKernels& kern = kernels::Criteria();
  return CountBlocks(columns.size(), target.size(), width,
                     [&](size_t c, size_t b, size_t e, int64_t* pos, int64_t* neg) {
                       // Plain calls rather than a generic lambda nested in this one: g++ 12
                       // under -fsanitize=address mis-captured the edges in that form.
                       const NumericColumn& col = columns[c];
                       const NumericBinning& bins = binnings[c];
                       if (kern.count_float32 != nullptr && VectorBinnable(col, bins)) {
                         CountFloat32(kern, static_cast<const float*>(col.data), bins.edges, bins.missing_bin(),
                                      target, b, e, width[c], pos, neg);
                         return;
                       }
                       if (col.is_float32) {
                         CountColumn(ColumnView<float>{static_cast<const float*>(col.data), col.n, col.stride}, bins,
                                     target, b, e, pos, neg);
                       } else {
                         CountColumn(ColumnView<double>{static_cast<const double*>(col.data), col.n, col.stride},
                                     bins, target, b, e, pos, neg);
                       }
                     });
}

absl::Status AssignNumericBins(const std::vector<NumericColumn>& columns, const std::vector<NumericBinning>& binnings,
                               const std::vector<absl::Span<int32_t>>& out) {
  TWINSCORE_RETURN_IF_ERROR(CheckBinnings(columns, binnings));
  TWINSCORE_CHECK_ARG(out.size() == columns.size(), "one output per column expected: ", columns.size(),
                      " columns, ", out.size(), " outputs");
  for (size_t c = 0; c < columns.size(); ++c) {
    TWINSCORE_CHECK_ARG(out[c].size() == static_cast<size_t>(columns[c].n), "column '", columns[c].name, "' has ",
                        columns[c].n, " rows, its output ", out[c].size());
  }
  const kernels::CriteriaKernels& kern = kernels::Criteria();
  for (size_t c = 0; c < columns.size(); ++c) {
    const NumericColumn& col = columns[c];
    const NumericBinning& bins = binnings[c];
    int32_t* o = out[c].data();
    const bool vector = kern.assign_float32 != nullptr && VectorBinnable(col, bins);
    const std::vector<float> inner = vector ? InnerEdges(bins.edges) : std::vector<float>();
    ParallelBlocks(static_cast<size_t>(col.n), kRowBlock, [&](size_t, size_t b, size_t e) {
      if (vector) {  // the level's kernel, 8 rows at a time; the last rows below
        b = kern.assign_float32(static_cast<const float*>(col.data), inner.data(), static_cast<int32_t>(inner.size()),
                                bins.missing_bin(), b, e, o);
      }
      if (col.is_float32) {
        AssignRows(ColumnView<float>{static_cast<const float*>(col.data), col.n, col.stride}, bins, b, e, o);
      } else {
        AssignRows(ColumnView<double>{static_cast<const double*>(col.data), col.n, col.stride}, bins, b, e, o);
      }
    });
  }
  return absl::OkStatus();
}

absl::StatusOr<BinCounts> CountCodes(const std::vector<absl::Span<const int32_t>>& columns,
                                     const std::vector<int32_t>& n_categories, absl::Span<const uint8_t> target) {
  TWINSCORE_CHECK_ARG(columns.size() == n_categories.size(), "one category count per column expected");
  std::vector<size_t> width;
  for (size_t c = 0; c < columns.size(); ++c) {
    TWINSCORE_RETURN_IF_ERROR(CheckTarget(target, columns[c].size(), "categorical column", c));
    TWINSCORE_CHECK_ARG(n_categories[c] >= 0, "n_categories must be >= 0");
    for (int32_t v : columns[c]) {
      TWINSCORE_CHECK_ARG(v >= kMissingCode && v <= n_categories[c], "categorical column ", c, " holds code ", v,
                          " outside [-1, ", n_categories[c], "]");
    }
    width.push_back(n_categories[c] + 2);
  }
  return CountBlocks(columns.size(), target.size(), width,
                     [&](size_t c, size_t b, size_t e, int64_t* pos, int64_t* neg) {
                       const int32_t missing = n_categories[c] + 1;
                       const int32_t* x = columns[c].data();
                       for (size_t i = b; i < e; ++i) {
                         const int32_t k = x[i] == kMissingCode ? missing : x[i];
                         (target[i] ? pos : neg)[k] += 1;
                       }
                     });
}

absl::StatusOr<BinCounts> CountSetMembers(const std::vector<absl::Span<const uint64_t>>& bits,
                                          const std::vector<int64_t>& words,
                                          const std::vector<int32_t>& n_categories,
                                          absl::Span<const uint8_t> target) {
  TWINSCORE_CHECK_ARG(bits.size() == words.size() && bits.size() == n_categories.size(),
                      "one word count and category count per set column expected");
  std::vector<size_t> width;
  for (size_t c = 0; c < bits.size(); ++c) {
    TWINSCORE_CHECK_ARG(words[c] >= 1 && n_categories[c] >= 0 && n_categories[c] <= words[c] * 64,
                        "set column ", c, ": ", n_categories[c], " categories do not fit ", words[c], " words");
    TWINSCORE_CHECK_ARG(bits[c].size() == target.size() * words[c], "set column ", c, " has ",
                        bits[c].size() / words[c], " rows, the target has ", target.size());
    width.push_back(n_categories[c]);
  }
  return CountBlocks(bits.size(), target.size(), width,
                     [&](size_t c, size_t b, size_t e, int64_t* pos, int64_t* neg) {
                       const int64_t w = words[c];
                       const int32_t nc = n_categories[c];
                       for (size_t i = b; i < e; ++i) {
                         int64_t* out = target[i] ? pos : neg;
                         for (int64_t q = 0; q < w; ++q) {
                           for (uint64_t m = bits[c][i * w + q]; m; m &= m - 1) {
                             const int32_t k = static_cast<int32_t>(q * 64 + __builtin_ctzll(m));
                             if (k < nc) out[k] += 1;
                           }
                         }
                       }
                     });
}

}  // namespace twinscore
