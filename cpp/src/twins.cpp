#include "twinscore/twins.h"

#include <tbb/enumerable_thread_specific.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "twins_kernels.h"
#include "twinscore/threads.h"
#include "twinscore/topk.h"
#include "twinscore/twins_kernel.h"

namespace twinscore {

namespace {

bool IsDense(TwinMetric m) {
  return m == TwinMetric::kInnerProduct || m == TwinMetric::kCosine || m == TwinMetric::kSquaredL2;
}
bool IsBits(TwinMetric m) { return m == TwinMetric::kJaccard || m == TwinMetric::kWeightedJaccard; }
const char* MetricName(TwinMetric m) { return m == TwinMetric::kSquaredL2 ? "sqeuclidean" : "inner_product"; }

// A bitset column's unseen counts: none, or one count >= 0 per row.
absl::Status CheckUnseen(const BitsetColumn& b, int64_t n, const char* side, const char* what) {
  TWINSCORE_CHECK_ARG(b.unseen.empty() || static_cast<int64_t>(b.unseen.size()) == n, "the ", side, " ", what,
                      ": ", b.unseen.size(), " unseen counts, expected ", n);
  for (size_t i = 0; i < b.unseen.size(); ++i) {
    TWINSCORE_CHECK_ARG(b.unseen[i] >= 0, "the ", side, " ", what, ": unseen count ", b.unseen[i], " at row ", i);
  }
  return absl::OkStatus();
}

absl::Status CheckWeights(const std::vector<float>& w, const char* what) {
  for (size_t i = 0; i < w.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(w[i]) && w[i] >= 0, what, "[", i, "] must be finite and >= 0, got ", w[i]);
  }
  return absl::OkStatus();
}

int32_t Popcount(const uint64_t* a, int64_t words) {
  int32_t c = 0;
  for (int64_t w = 0; w < words; ++w) c += __builtin_popcountll(a[w]);
  return c;
}

// Sum of the weights of the bits set in a & b.
float WeightOfAnd(const uint64_t* a, const uint64_t* b, int64_t words, const float* weights) {
  float s = 0;
  for (int64_t w = 0; w < words; ++w) {
    uint64_t x = a[w] & b[w];
    while (x) {
      s += weights[w * 64 + __builtin_ctzll(x)];
      x &= x - 1;
    }
  }
  return s;
}

// Jaccard of two sets from the size of their intersection and their sizes.
inline float JaccardOf(int32_t inter, int32_t na, int32_t nb) {
  const int32_t uni = na + nb - inter;
  return uni > 0 ? static_cast<float>(inter) / static_cast<float>(uni) : 0.0f;
}

// Intersection sizes of one set against rows [0, m) of `c` (words per row):
// the word count is a template parameter for the common small sizes, so the
// inner loop is unrolled.
template <int W>
void IntersectFixed(const uint64_t* a, const uint64_t* c, int64_t m, int32_t* inter) {
  uint64_t av[W];
  for (int w = 0; w < W; ++w) av[w] = a[w];
  for (int64_t j = 0; j < m; ++j) {
    const uint64_t* cj = c + j * W;
    int32_t s = 0;
    for (int w = 0; w < W; ++w) s += __builtin_popcountll(av[w] & cj[w]);
    inter[j] = s;
  }
}

void Intersect(const uint64_t* a, const uint64_t* c, int64_t words, int64_t m, int32_t* inter) {
  switch (words) {
    case 1: return IntersectFixed<1>(a, c, m, inter);
    case 2: return IntersectFixed<2>(a, c, m, inter);
    case 3: return IntersectFixed<3>(a, c, m, inter);
    case 4: return IntersectFixed<4>(a, c, m, inter);
    case 5: return IntersectFixed<5>(a, c, m, inter);
    case 6: return IntersectFixed<6>(a, c, m, inter);
    case 8: return IntersectFixed<8>(a, c, m, inter);
    default:
      for (int64_t j = 0; j < m; ++j) {
        const uint64_t* cj = c + j * words;
        int32_t s = 0;
        for (int64_t w = 0; w < words; ++w) s += __builtin_popcountll(a[w] & cj[w]);
        inter[j] = s;
      }
  }
}

// Block keys: row i's key is its tuple of codes, one per key column.

// Whether row i belongs to a block: no code missing (< 0) or unseen.
bool KeyUsable(const std::vector<absl::Span<const int32_t>>& keys, const std::vector<int32_t>& other, int64_t i) {
  for (size_t c = 0; c < keys.size(); ++c) {
    const int32_t v = keys[c][i];
    if (v < 0 || (!other.empty() && v == other[c])) return false;
  }
  return true;
}

// A 64-bit hash of row i's tuple (splitmix64's finaliser over each code).
uint64_t KeyHash(const std::vector<absl::Span<const int32_t>>& keys, int64_t i) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (const auto& col : keys) {
    h += 0x9e3779b97f4a7c15ULL + static_cast<uint32_t>(col[i]);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
  }
  return h;
}

// Lexicographic order of two rows' tuples (the first key column first).
bool KeyLess(const std::vector<absl::Span<const int32_t>>& keys, int64_t a, int64_t b) {
  for (const auto& col : keys) {
    if (col[a] != col[b]) return col[a] < col[b];
  }
  return false;
}

// Whether row i's tuple equals `tuple` (one code per key column).
bool KeyEquals(const std::vector<absl::Span<const int32_t>>& keys, int64_t i, const int32_t* tuple) {
  for (size_t c = 0; c < keys.size(); ++c) {
    if (keys[c][i] != tuple[c]) return false;
  }
  return true;
}

// Inverse document frequency of each bit among n rows of `words` words:
// ln((1 + n) / (1 + df)) + 1, in double then rounded once to float.
std::vector<float> IdfWeights(const BitsetColumn& b, int64_t n) {
  std::vector<int64_t> df(b.words * 64, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t w = 0; w < b.words; ++w) {
      for (uint64_t x = b.bits[i * b.words + w]; x; x &= x - 1) ++df[w * 64 + __builtin_ctzll(x)];
    }
  }
  std::vector<float> out(df.size());
  for (size_t j = 0; j < df.size(); ++j) {
    out[j] = static_cast<float>(std::log((1.0 + static_cast<double>(n)) / (1.0 + static_cast<double>(df[j]))) + 1.0);
  }
  return out;
}

// Copies row x (d values) to out and returns its squared norm, summed in
// double: a float32 sum overflows from |x| ~ 1.8e19 and underflows to 0 for
// subnormal values, which made such rows zero vectors for the cosine. With
// `unit`, out is x / |x| (the division in double, one rounding to float),
// and a zero row stays zero (it scores 0 against anything).
double CopyRow(const float* x, int64_t d, bool unit, float* out) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(x[j]) * x[j];
  const double inv = unit && s > 0 ? 1.0 / std::sqrt(s) : 1.0;
  for (int64_t j = 0; j < d; ++j) out[j] = unit ? static_cast<float>(x[j] * inv) : x[j];
  return s;
}

// The unseen categories of row i beyond the first, which the other bit
// `other` (-1: none) stands for: each adds one item to the set's size.
int32_t FurtherUnseen(const BitsetColumn& b, int64_t i, int32_t other) {
  if (other < 0 || b.unseen.empty()) return 0;
  return std::max(b.unseen[i] - 1, 0);
}

// Clears bit `bit` (if >= 0) in each of n rows of `words` words: the unseen
// categories' bit of the clients, so no intersection ever holds it.
void ClearBit(std::vector<uint64_t>& bits, int64_t words, int32_t bit) {
  if (bit < 0) return;
  const uint64_t keep = ~(uint64_t{1} << (bit & 63));
  for (size_t w = static_cast<size_t>(bit >> 6); w < bits.size(); w += static_cast<size_t>(words)) bits[w] &= keep;
}

template <class T>
std::vector<T> Gather(absl::Span<const T> src, const std::vector<int64_t>& order, int64_t width) {
  std::vector<T> out(order.size() * width);
  for (size_t p = 0; p < order.size(); ++p) {
    std::copy_n(src.data() + order[p] * width, width, out.data() + p * width);
  }
  return out;
}

}  // namespace

absl::Status TwinOptions::Validate() const {
  TWINSCORE_CHECK_ARG(prospect_tile >= 1 && prospect_tile <= 65536, "prospect_tile must be in [1, 65536], got ",
                      prospect_tile);
  TWINSCORE_CHECK_ARG(client_tile >= 8 && client_tile <= (1 << 20), "client_tile must be in [8, 2^20], got ",
                      client_tile);
  TWINSCORE_RETURN_IF_ERROR(CheckWeights(bit_weights, "bit_weights"));
  TWINSCORE_RETURN_IF_ERROR(CheckWeights(numeric_weights, "numeric_weights"));
  TWINSCORE_RETURN_IF_ERROR(CheckWeights(categorical_weights, "categorical_weights"));
  TWINSCORE_RETURN_IF_ERROR(CheckWeights(set_weights, "set_weights"));
  TWINSCORE_RETURN_IF_ERROR(CheckWeights(numeric_ranges, "numeric_ranges"));
  if (metric == TwinMetric::kMixed) {
    TWINSCORE_CHECK_ARG(categorical_other.size() == categorical_weights.size(),
                        "categorical_other must hold one code per categorical column");
    TWINSCORE_CHECK_ARG(set_other.empty() || set_other.size() == set_weights.size(),
                        "set_other must be empty or hold one bit per set column");
    double total = 0;
    for (float w : numeric_weights) total += w;
    for (float w : categorical_weights) total += w;
    for (float w : set_weights) total += w;
    TWINSCORE_CHECK_ARG(total > 0, "the mixed metric needs at least one column with a weight > 0");
  }
  return absl::OkStatus();
}

int64_t TwinIndex::PartCount() const {
  if (options_.metric != TwinMetric::kMixed) return 0;
  return static_cast<int64_t>(num_.size() + cat_.size() + set_bits_.size());
}

std::vector<int64_t> TwinIndex::BlockSizes() const {
  std::vector<int64_t> s(block_begin_.size());
  for (size_t b = 0; b < s.size(); ++b) s[b] = block_end_[b] - block_begin_[b];
  return s;
}

absl::Status TwinIndex::CheckSide(const TwinData& d, const char* side) const {
  const TwinMetric m = options_.metric;
  TWINSCORE_CHECK_ARG(d.n >= 1, "the ", side, " are empty (0 rows)");
  for (size_t c = 0; c < d.keys.size(); ++c) {
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(d.keys[c].size()) == d.n, "block key column ", c, " of the ", side,
                        " has ", d.keys[c].size(), " rows, expected ", d.n);
  }
  TWINSCORE_CHECK_ARG(d.keys.empty() || options_.key_other.empty() || options_.key_other.size() == d.keys.size(),
                      "key_other holds ",
                      options_.key_other.size(), " codes but the ", side, " have ", d.keys.size(),
                      " block key columns");
  if (IsDense(m)) {
    TWINSCORE_CHECK_ARG(d.dim >= 1, "the ", side, " have no feature column");
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(d.dense.size()) == d.n * d.dim, "the ", side, " features hold ",
                        d.dense.size(), " values, expected ", d.n, " x ", d.dim);
    const bool bounded = m != TwinMetric::kCosine;  // the cosine normalises in double: any finite row fits
    TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(
        static_cast<size_t>(d.n), 4096, [&](size_t, size_t begin, size_t end) -> absl::Status {
          for (size_t i = begin; i < end; ++i) {
            const float* x = d.dense.data() + i * d.dim;
            double s = 0;
            for (int64_t j = 0; j < d.dim; ++j) {
              if (!std::isfinite(x[j])) {
                return absl::InvalidArgumentError(absl::StrCat("the ", side, " features hold ",
                                                               std::isnan(x[j]) ? "NaN" : "an infinite value",
                                                               " at row ", i, ", column ", j));
              }
              s += static_cast<double>(x[j]) * x[j];
            }
            if (bounded && s > kMaxSquaredNorm) {
              const int64_t j = std::max_element(x, x + d.dim, [](float a, float b) {
                                  return std::fabs(a) < std::fabs(b);
                                }) - x;
              return absl::InvalidArgumentError(absl::StrCat(
                  "the ", side, " features at row ", i, " are too large for float32 distances: the row's norm is ",
                  std::sqrt(s), " (largest value ", x[j], " at column ", j, "), and ", MetricName(m),
                  " needs every row's norm below ", std::sqrt(kMaxSquaredNorm),
                  " so that no distance or product overflows float32; scale the features"));
            }
          }
          return absl::OkStatus();
        }));
  } else if (IsBits(m)) {
    TWINSCORE_CHECK_ARG(d.bits.words >= 1, "the ", side, " bitsets have no word");
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(d.bits.bits.size()) == d.n * d.bits.words, "the ", side,
                        " bitsets hold ", d.bits.bits.size(), " words, expected ", d.n, " x ", d.bits.words);
    TWINSCORE_CHECK_ARG(options_.bit_other < d.bits.words * 64, "bit_other = ", options_.bit_other,
                        " is past the bitsets' ", d.bits.words * 64, " bits");
    TWINSCORE_RETURN_IF_ERROR(CheckUnseen(d.bits, d.n, side, "bitsets"));
    if (m == TwinMetric::kWeightedJaccard) {  // empty at fit: the IDF is computed
      TWINSCORE_CHECK_ARG(options_.bit_weights.empty() ||
                              static_cast<int64_t>(options_.bit_weights.size()) == d.bits.words * 64,
                          "bit_weights must hold one weight per bit (", d.bits.words * 64, "), got ",
                          options_.bit_weights.size());
    }
  } else {
    const MixedColumns& c = d.mixed;
    TWINSCORE_CHECK_ARG(c.numeric.size() == options_.numeric_weights.size() &&
                            c.categorical.size() == options_.categorical_weights.size() &&
                            c.sets.size() == options_.set_weights.size(),
                        "the ", side, " have ", c.numeric.size(), " numeric, ", c.categorical.size(),
                        " categorical and ", c.sets.size(), " set columns; the weights are for ",
                        options_.numeric_weights.size(), ", ", options_.categorical_weights.size(), " and ",
                        options_.set_weights.size());
    TWINSCORE_CHECK_ARG(options_.numeric_ranges.empty() || options_.numeric_ranges.size() == c.numeric.size(),
                        "numeric_ranges holds ", options_.numeric_ranges.size(), " ranges but the ", side, " have ",
                        c.numeric.size(), " numeric columns");
    for (size_t j = 0; j < c.numeric.size(); ++j) {
      TWINSCORE_CHECK_ARG(static_cast<int64_t>(c.numeric[j].size()) == d.n, "numeric column ", j, " of the ",
                          side, " has ", c.numeric[j].size(), " rows, expected ", d.n);
      for (float v : c.numeric[j]) {
        TWINSCORE_CHECK_ARG(!std::isinf(v), "numeric column ", j, " of the ", side, " holds an infinite value");
      }
    }
    for (size_t j = 0; j < c.categorical.size(); ++j) {
      TWINSCORE_CHECK_ARG(static_cast<int64_t>(c.categorical[j].size()) == d.n, "categorical column ", j,
                          " of the ", side, " has ", c.categorical[j].size(), " rows, expected ", d.n);
    }
    for (size_t j = 0; j < c.sets.size(); ++j) {
      const BitsetColumn& s = c.sets[j];
      TWINSCORE_CHECK_ARG(s.words >= 1 && static_cast<int64_t>(s.bits.size()) == d.n * s.words, "set column ", j,
                          " of the ", side, " holds ", s.bits.size(), " words, expected ", d.n, " x ", s.words);
      TWINSCORE_CHECK_ARG(s.missing.empty() || static_cast<int64_t>(s.missing.size()) == d.n, "set column ", j,
                          " of the ", side, ": the missing mask has ", s.missing.size(), " rows, expected ", d.n);
      TWINSCORE_RETURN_IF_ERROR(CheckUnseen(s, d.n, side, "set column"));
      TWINSCORE_CHECK_ARG(options_.set_other.empty() || options_.set_other[j] < s.words * 64, "set_other[", j,
                          "] = ", options_.set_other.empty() ? -1 : options_.set_other[j], " is past the ",
                          s.words * 64, " bits of set column ", j);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TwinIndex>> TwinIndex::Fit(const TwinOptions& options, const TwinData& clients) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<TwinIndex> ix(new TwinIndex());
  ix->options_ = options;
  TWINSCORE_RETURN_IF_ERROR(ix->CheckSide(clients, "clients"));
  ix->n_ = clients.n;

  ix->BuildBlocks(clients);
  const std::vector<int64_t>& order = ix->order_;
  const int64_t m = static_cast<int64_t>(order.size());

  const TwinMetric metric = options.metric;
  if (IsDense(metric)) {
    ix->dim_ = clients.dim;
    ix->dense_ = Gather(clients.dense, order, clients.dim);
    ix->sqnorm_.resize(m);
    for (int64_t p = 0; p < m; ++p) {
      float* x = ix->dense_.data() + p * ix->dim_;
      // Finite in float for the bounded metrics (CheckSide); unused by the cosine.
      ix->sqnorm_[p] = static_cast<float>(CopyRow(x, ix->dim_, metric == TwinMetric::kCosine, x));
    }
    const int64_t np = (m + 15) / 16, d = ix->dim_;
    ix->panels_.assign(np * d * 16, 0.0f);
    ix->bias_.assign(np * 16, 0.0f);
    for (int64_t p = 0; p < m; ++p) {
      const float* x = ix->dense_.data() + p * d;
      float* panel = ix->panels_.data() + (p / 16) * d * 16 + p % 16;
      for (int64_t j = 0; j < d; ++j) panel[j * 16] = x[j];
      if (metric == TwinMetric::kSquaredL2) ix->bias_[p] = -ix->sqnorm_[p];
    }
  } else if (IsBits(metric)) {
    if (metric == TwinMetric::kWeightedJaccard && options.bit_weights.empty()) {
      ix->options_.bit_weights = IdfWeights(clients.bits, clients.n);  // over all clients, blocked or not
    }
    ix->words_ = clients.bits.words;
    ix->bits_ = Gather(clients.bits.bits, order, ix->words_);
    ix->bit_count_.resize(m);
    ix->bit_total_.resize(m);
    std::vector<uint64_t> all(ix->words_, ~uint64_t{0});
    for (int64_t p = 0; p < m; ++p) {
      const uint64_t* a = ix->bits_.data() + p * ix->words_;
      const int32_t further = FurtherUnseen(clients.bits, order[p], options.bit_other);
      ix->bit_count_[p] = Popcount(a, ix->words_) + further;
      if (metric == TwinMetric::kWeightedJaccard) {
        const float* bw = ix->options_.bit_weights.data();
        ix->bit_total_[p] = WeightOfAnd(a, all.data(), ix->words_, bw) + (further ? further * bw[options.bit_other] : 0.0f);
      }
    }
    ClearBit(ix->bits_, ix->words_, options.bit_other);  // counted above, intersects nothing below
  } else {
    const MixedColumns& c = clients.mixed;
    for (const auto& col : c.numeric) {
      std::vector<float> v(m);
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int64_t p = 0; p < m; ++p) {
        v[p] = col[order[p]];
        if (!std::isnan(v[p])) {
          lo = std::min(lo, v[p]);
          hi = std::max(hi, v[p]);
        }
      }
      const size_t j = ix->ranges_.size();
      ix->ranges_.push_back(!options.numeric_ranges.empty() ? options.numeric_ranges[j] : hi > lo ? hi - lo : 0.0f);
      ix->num_.push_back(std::move(v));
    }
    for (const auto& col : c.categorical) {
      std::vector<int32_t> v(m);
      for (int64_t p = 0; p < m; ++p) v[p] = col[order[p]];
      ix->cat_.push_back(std::move(v));
    }
    for (const auto& s : c.sets) {
      const int32_t other = options.set_other.empty() ? -1 : options.set_other[ix->set_words_.size()];
      ix->set_words_.push_back(s.words);
      ix->set_bits_.push_back(Gather(s.bits, order, s.words));
      std::vector<int32_t> cnt(m);
      for (int64_t p = 0; p < m; ++p) {
        const bool missing = !s.missing.empty() && s.missing[order[p]];
        cnt[p] = missing ? -1
                         : Popcount(ix->set_bits_.back().data() + p * s.words, s.words) +
                               FurtherUnseen(s, order[p], other);
      }
      ClearBit(ix->set_bits_.back(), s.words, other);
      ix->set_count_.push_back(std::move(cnt));
    }
  }
  return ix;
}

// Block order: clients with a usable key sorted by key tuple, stable, so a
// block keeps row order and the row tie-break is the position tie-break.
void TwinIndex::BuildBlocks(const TwinData& clients) {
  blocked_ = !clients.keys.empty();
  if (!blocked_) {
    order_.resize(clients.n);
    std::iota(order_.begin(), order_.end(), int64_t{0});
    block_begin_ = {0};
    block_end_ = {clients.n};
    return;
  }
  const auto& keys = clients.keys;
  key_columns_ = static_cast<int64_t>(keys.size());
  for (int64_t i = 0; i < clients.n; ++i) {
    if (KeyUsable(keys, options_.key_other, i)) order_.push_back(i);
  }
  std::stable_sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) { return KeyLess(keys, a, b); });
  for (size_t p = 0; p < order_.size(); ++p) {
    const int64_t row = order_[p];
    if (p == 0 || KeyLess(keys, order_[p - 1], row)) {
      const auto b = static_cast<int32_t>(block_begin_.size());
      for (const auto& col : keys) block_keys_.push_back(col[row]);
      auto [it, fresh] = block_of_hash_.try_emplace(KeyHash(keys, row), b);
      same_hash_.push_back(fresh ? -1 : it->second);
      it->second = b;
      block_begin_.push_back(static_cast<int64_t>(p));
      block_end_.push_back(static_cast<int64_t>(p));
    }
    block_end_.back() = static_cast<int64_t>(p) + 1;
  }
}

int32_t TwinIndex::BlockOf(const TwinData& d, int64_t i) const {
  if (!KeyUsable(d.keys, options_.key_other, i)) return -1;
  auto it = block_of_hash_.find(KeyHash(d.keys, i));
  if (it == block_of_hash_.end()) return -1;
  for (int32_t b = it->second; b >= 0; b = same_hash_[b]) {
    if (KeyEquals(d.keys, i, block_keys_.data() + b * key_columns_)) return b;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Scorers: each fills a rows x (ce - cb) tile of scores (larger = more alike)
// for a tile of prospects against client positions [cb, ce). Prepare() reads
// the tile's prospects once; Final() turns a ranking score into the reported one.

struct TwinIndex::Impl {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // Scores a tile and offers it to the heaps: the path of every scorer that
  // has no fused kernel.
  template <class Scorer>
  static void ScoreThenOffer(const Scorer& s, typename Scorer::Work& w, int64_t nr, int64_t cb, int64_t ce,
                             float* tile, TopK* heaps) {
    s.Score(w, nr, cb, ce, tile);
    OfferTile(tile, nr, ce - cb, ce - cb, cb, heaps);
  }

  // Offers the scores of one row of a tile whose bits are set in `mask`
  // (they passed the threshold the kernel saw); returns the heap's new k-th
  // best (kernels::OfferHitsFn, ctx: the item's heaps).
  static float OfferHits(void* ctx, int64_t row, const float* s, unsigned mask, int64_t col0) {
    TopK& h = static_cast<TopK*>(ctx)[row];
    float thr = h.threshold();
    while (mask) {
      const int b = __builtin_ctz(mask);
      mask &= mask - 1;
      if (s[b] >= thr) {
        h.Offer(s[b], col0 + b);
        thr = h.threshold();
      }
    }
    return thr;
  }

  struct DenseScorer {
    const TwinIndex& ix;
    const TwinData& q;
    struct Work {
      std::vector<float> p, pnorm;
      std::vector<float> packed;  // p in groups of kTwinRows, feature-major
      std::vector<float> thr;     // each heap's k-th best score (-inf until full)
    };
    void Prepare(const int64_t* rows, int64_t nr, Work& w) const {
      const int64_t d = ix.dim_;
      w.p.resize(nr * d);
      w.pnorm.resize(nr);
      for (int64_t i = 0; i < nr; ++i) {
        const double s = CopyRow(q.dense.data() + rows[i] * d, d, ix.options_.metric == TwinMetric::kCosine,
                                 w.p.data() + i * d);
        w.pnorm[i] = static_cast<float>(s);  // used by kSquaredL2 alone, bounded there (CheckSide)
      }
      // The heaps are empty at the start of an item: nothing to beat yet.
      w.thr.assign(nr, -std::numeric_limits<float>::infinity());
      if (kernels::Twins().dense_search != nullptr) {
        w.packed.resize(nr * d);
        PackProspects(w.p.data(), nr, d, w.packed.data());
      }
    }
    void Score(Work& w, int64_t nr, int64_t cb, int64_t ce, float* out) const {
      const int64_t d = ix.dim_, nc = ce - cb;
      Eigen::Map<const RowMat> P(w.p.data(), nr, d);
      Eigen::Map<const RowMat> C(ix.dense_.data() + cb * d, nc, d);
      Eigen::Map<RowMat> S(out, nr, nc);
      S.noalias() = P * C.transpose();
      if (ix.options_.metric == TwinMetric::kSquaredL2) {
        // Rank by 2 x.y - |y|^2 = |x|^2 - |x - y|^2: the prospect's norm is
        // added back once per kept twin, in Final().
        const float* cn = ix.sqnorm_.data() + cb;
        for (int64_t i = 0; i < nr; ++i) {
          float* s = out + i * nc;
          for (int64_t j = 0; j < nc; ++j) s[j] = 2.0f * s[j] - cn[j];
        }
      }
    }
    // The ranking score of one pair (prepared prospect i, client position
    // pos), as Score() computes it but for a lone pair: a GEMM is the wrong
    // tool for one dot product (and GCC then sees Eigen's packet stores
    // aimed at a one-float tile).
    float PairScore(const Work& w, int64_t i, int64_t pos) const {
      const int64_t d = ix.dim_;
      const float* x = w.p.data() + i * d;
      const float* y = ix.dense_.data() + pos * d;
      float dot = 0;
      for (int64_t j = 0; j < d; ++j) dot += x[j] * y[j];
      return ix.options_.metric == TwinMetric::kSquaredL2 ? 2.0f * dot - ix.sqnorm_[pos] : dot;
    }
    void Process(Work& w, int64_t nr, int64_t cb, int64_t ce, float* tile, TopK* heaps) const {
      // The fused kernel of the SIMD level, where it has one (twins_kernels.h).
      const auto search = kernels::Twins().dense_search;
      if (search == nullptr) return ScoreThenOffer(*this, w, nr, cb, ce, tile, heaps);
      const float scale = ix.options_.metric == TwinMetric::kSquaredL2 ? 2.0f : 1.0f;
      search(w.packed.data(), nr, ix.dim_, ix.panels_.data(), ix.bias_.data(), cb, ce, scale, w.thr.data(),
             &OfferHits, heaps);
    }
    float Final(const Work& w, int64_t i, float score) const {
      if (ix.options_.metric != TwinMetric::kSquaredL2) return score;
      return std::max(w.pnorm[i] - score, 0.0f);
    }
  };

  struct BitsScorer {
    const TwinIndex& ix;
    const TwinData& q;
    struct Work {
      std::vector<int32_t> inter;
      const int64_t* rows = nullptr;
    };
    void Prepare(const int64_t* rows, int64_t, Work& w) const { w.rows = rows; }
    void Score(Work& w, int64_t nr, int64_t cb, int64_t ce, float* out) const {
      const int64_t words = ix.words_, nc = ce - cb;
      const bool weighted = ix.options_.metric == TwinMetric::kWeightedJaccard;
      const float* bw = ix.options_.bit_weights.data();
      w.inter.resize(nc);
      for (int64_t i = 0; i < nr; ++i) {
        const uint64_t* a = q.bits.bits.data() + w.rows[i] * words;
        const uint64_t* c = ix.bits_.data() + cb * words;
        float* s = out + i * nc;
        const int32_t further = FurtherUnseen(q.bits, w.rows[i], ix.options_.bit_other);
        if (weighted) {
          const float wa = WeightOfAnd(a, a, words, bw) + (further ? further * bw[ix.options_.bit_other] : 0.0f);
          for (int64_t j = 0; j < nc; ++j) {
            const float wi = WeightOfAnd(a, c + j * words, words, bw);
            const float den = wa + ix.bit_total_[cb + j] - wi;
            s[j] = den > 0 ? wi / den : 0.0f;
          }
          continue;
        }
        const int32_t na = Popcount(a, words) + further;
        Intersect(a, c, words, nc, w.inter.data());
        const int32_t* cnt = ix.bit_count_.data() + cb;
        const int32_t* in = w.inter.data();
        for (int64_t j = 0; j < nc; ++j) {  // vectorised: convert, divide, select
          const int32_t uni = na + cnt[j] - in[j];
          const float f = static_cast<float>(in[j]) / static_cast<float>(uni > 0 ? uni : 1);
          s[j] = uni > 0 ? f : 0.0f;
        }
      }
    }
    float Final(const Work&, int64_t, float score) const { return score; }
    void Process(Work& w, int64_t nr, int64_t cb, int64_t ce, float* tile, TopK* heaps) const {
      ScoreThenOffer(*this, w, nr, cb, ce, tile, heaps);
    }
  };

  struct MixedScorer {
    const TwinIndex& ix;
    const TwinData& q;
    struct Work {
      std::vector<float> num, den;
      std::vector<int32_t> inter;
      const int64_t* rows = nullptr;
    };
    void Prepare(const int64_t* rows, int64_t, Work& w) const { w.rows = rows; }
    void Score(Work& w, int64_t nr, int64_t cb, int64_t ce, float* out) const {
      const int64_t nc = ce - cb;
      w.num.assign(nr * nc, 0.0f);
      w.den.assign(nr * nc, 0.0f);
      w.inter.resize(nc);
      const TwinOptions& o = ix.options_;
      for (size_t p = 0; p < ix.num_.size(); ++p) {
        const float wt = o.numeric_weights[p];
        if (wt == 0) continue;
        const float range = ix.ranges_[p];
        const float inv = range > 0 ? 1.0f / range : 0.0f;
        const float* c = ix.num_[p].data() + cb;
        for (int64_t i = 0; i < nr; ++i) {
          const float a = q.mixed.numeric[p][w.rows[i]];
          if (std::isnan(a)) continue;
          float* num = w.num.data() + i * nc;
          float* den = w.den.data() + i * nc;
          for (int64_t j = 0; j < nc; ++j) {
            const bool present = c[j] == c[j];
            const float diff = std::fabs(a - c[j]);
            const float sim = range > 0 ? std::max(0.0f, 1.0f - diff * inv) : (diff == 0 ? 1.0f : 0.0f);
            num[j] += present ? wt * sim : 0.0f;
            den[j] += present ? wt : 0.0f;
          }
        }
      }
      for (size_t p = 0; p < ix.cat_.size(); ++p) {
        const float wt = o.categorical_weights[p];
        if (wt == 0) continue;
        const int32_t other = o.categorical_other[p];
        const int32_t* c = ix.cat_[p].data() + cb;
        for (int64_t i = 0; i < nr; ++i) {
          int32_t a = q.mixed.categorical[p][w.rows[i]];
          if (a < 0) continue;
          if (a == other) a = std::numeric_limits<int32_t>::min();  // present, matches nothing
          float* num = w.num.data() + i * nc;
          float* den = w.den.data() + i * nc;
          for (int64_t j = 0; j < nc; ++j) {
            num[j] += c[j] == a ? wt : 0.0f;
            den[j] += c[j] >= 0 ? wt : 0.0f;
          }
        }
      }
      for (size_t p = 0; p < ix.set_bits_.size(); ++p) {
        const float wt = o.set_weights[p];
        if (wt == 0) continue;
        const BitsetColumn& qs = q.mixed.sets[p];
        const int64_t words = ix.set_words_[p];
        const int32_t other = o.set_other.empty() ? -1 : o.set_other[p];
        const int32_t* cnt = ix.set_count_[p].data() + cb;
        for (int64_t i = 0; i < nr; ++i) {
          const int64_t r = w.rows[i];
          if (!qs.missing.empty() && qs.missing[r]) continue;
          const uint64_t* a = qs.bits.data() + r * words;
          const int32_t na = Popcount(a, words) + FurtherUnseen(qs, r, other);
          Intersect(a, ix.set_bits_[p].data() + cb * words, words, nc, w.inter.data());
          float* num = w.num.data() + i * nc;
          float* den = w.den.data() + i * nc;
          for (int64_t j = 0; j < nc; ++j) {
            const bool present = cnt[j] >= 0;
            const float sim = JaccardOf(w.inter[j], na, present ? cnt[j] : 0);
            num[j] += present ? wt * sim : 0.0f;
            den[j] += present ? wt : 0.0f;
          }
        }
      }
      for (int64_t t = 0; t < nr * nc; ++t) out[t] = w.den[t] > 0 ? w.num[t] / w.den[t] : 0.0f;
    }
    float Final(const Work&, int64_t, float score) const { return score; }
    void Process(Work& w, int64_t nr, int64_t cb, int64_t ce, float* tile, TopK* heaps) const {
      ScoreThenOffer(*this, w, nr, cb, ce, tile, heaps);
    }
  };

  // The items of a search: prospects grouped by block, cut in tiles.
  struct Plan {
    std::vector<int64_t> prospects;  // prospect rows, grouped by block
    struct Item {
      int32_t block;
      int64_t begin, end;  // into `prospects`
    };
    std::vector<Item> items;
  };

  static Plan MakePlan(const TwinIndex& ix, const TwinData& q) {
    Plan plan;
    const int64_t tile = ix.options_.prospect_tile;
    auto cut = [&](int32_t block, int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; b += tile) plan.items.push_back({block, b, std::min(b + tile, end)});
    };
    if (!ix.blocked_) {
      plan.prospects.resize(q.n);
      std::iota(plan.prospects.begin(), plan.prospects.end(), int64_t{0});
      cut(0, 0, q.n);
      return plan;
    }
    // Each prospect's block (independent lookups, in parallel), then a
    // counting sort of the prospects by block (stable: row order within a block).
    const int64_t nb = ix.BlockCount();
    std::vector<int32_t> block(q.n);
    ParallelBlocks(static_cast<size_t>(q.n), 4096, [&](size_t, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) block[i] = ix.BlockOf(q, static_cast<int64_t>(i));
    });
    std::vector<int64_t> start(nb + 1, 0);
    for (int64_t i = 0; i < q.n; ++i) {
      if (block[i] >= 0) ++start[block[i] + 1];
    }
    for (int64_t b = 0; b < nb; ++b) start[b + 1] += start[b];
    plan.prospects.resize(start[nb]);
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < q.n; ++i) {
      if (block[i] >= 0) plan.prospects[fill[block[i]]++] = i;
    }
    for (int64_t b = 0; b < nb; ++b) cut(static_cast<int32_t>(b), start[b], start[b + 1]);
    return plan;
  }

  template <class Scorer>
  static void Run(const TwinIndex& ix, const Scorer& scorer, const Plan& plan, int k, const TwinResults& out) {
    struct Local {
      typename Scorer::Work work;
      std::vector<TopK> heaps;
      std::vector<float> tile;
    };
    tbb::enumerable_thread_specific<Local> locals;
    const int64_t ct = ix.options_.client_tile;
    ParallelBlocks(plan.items.size(), 1, [&](size_t item_index, size_t, size_t) {
      const Plan::Item& item = plan.items[item_index];
      Local& l = locals.local();
      const Scorer& s = scorer;
      const int64_t* rows = plan.prospects.data() + item.begin;
      const int64_t nr = item.end - item.begin;
      const int64_t cb0 = ix.block_begin_[item.block], ce0 = ix.block_end_[item.block];
      s.Prepare(rows, nr, l.work);
      if (static_cast<int64_t>(l.heaps.size()) < nr) l.heaps.resize(nr);
      for (int64_t i = 0; i < nr; ++i) l.heaps[i].Reset(k);
      l.tile.resize(nr * std::min(ct, ce0 - cb0));
      for (int64_t cb = cb0; cb < ce0; cb += ct) {
        const int64_t ce = std::min(cb + ct, ce0);
        s.Process(l.work, nr, cb, ce, l.tile.data(), l.heaps.data());
      }
      for (int64_t i = 0; i < nr; ++i) {
        const auto& best = l.heaps[i].Sorted();
        const int64_t p = rows[i];
        for (size_t r = 0; r < best.size(); ++r) {
          out.rows[p * k + r] = ix.order_[best[r].row];
          out.scores[p * k + r] = s.Final(l.work, i, best[r].score);
        }
        out.counts[p] = static_cast<int32_t>(best.size());
      }
    });
  }
};

absl::Status TwinIndex::Search(const TwinData& prospects, int k, const TwinResults& out) const {
  TWINSCORE_CHECK_ARG(k >= 1, "k must be >= 1, got ", k);
  TWINSCORE_CHECK_ARG(k <= n_, "k = ", k, " is larger than the ", n_, " clients of the index");
  TWINSCORE_RETURN_IF_ERROR(CheckSide(prospects, "prospects"));
  const TwinMetric m = options_.metric;
  if (IsDense(m)) {
    TWINSCORE_CHECK_ARG(prospects.dim == dim_, "the prospects have ", prospects.dim,
                        " features, the clients had ", dim_);
  } else if (IsBits(m)) {
    TWINSCORE_CHECK_ARG(prospects.bits.words == words_, "the prospects' bitsets have ", prospects.bits.words,
                        " words per row, the clients' had ", words_);
  } else {
    for (size_t j = 0; j < set_words_.size(); ++j) {
      TWINSCORE_CHECK_ARG(prospects.mixed.sets[j].words == set_words_[j], "set column ", j, " of the prospects has ",
                          prospects.mixed.sets[j].words, " words per row, the clients' had ", set_words_[j]);
    }
  }
  TWINSCORE_CHECK_ARG(prospects.keys.empty() != blocked_, blocked_ ? "the index is blocked: the prospects need block keys"
                                                                   : "the index is not blocked: the prospects must not have block keys");
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(prospects.keys.size()) == key_columns_, "the prospects have ",
                      prospects.keys.size(), " block key columns, the clients had ", key_columns_);
  const int64_t n = prospects.n;
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(out.rows.size()) == n * k && static_cast<int64_t>(out.scores.size()) == n * k &&
                          static_cast<int64_t>(out.counts.size()) == n,
                      "output spans must hold n*k, n*k and n values");

  // Slots past a prospect's count: row -1 and the worst possible score.
  const float pad = m == TwinMetric::kSquaredL2 ? std::numeric_limits<float>::infinity()
                                                 : -std::numeric_limits<float>::infinity();
  ParallelBlocks(static_cast<size_t>(n), 65536, [&](size_t, size_t begin, size_t end) {
    std::fill(out.rows.begin() + begin * k, out.rows.begin() + end * k, int64_t{-1});
    std::fill(out.scores.begin() + begin * k, out.scores.begin() + end * k, pad);
    std::fill(out.counts.begin() + begin, out.counts.begin() + end, 0);
  });
  const Impl::Plan plan = Impl::MakePlan(*this, prospects);
  if (IsDense(m)) {
    Impl::Run(*this, Impl::DenseScorer{*this, prospects}, plan, k, out);
  } else if (IsBits(m)) {
    Impl::Run(*this, Impl::BitsScorer{*this, prospects}, plan, k, out);
  } else {
    Impl::Run(*this, Impl::MixedScorer{*this, prospects}, plan, k, out);
  }
  return absl::OkStatus();
}

absl::Status TwinIndex::ScorePairs(const TwinData& prospects, absl::Span<const int64_t> prospect_rows,
                                   absl::Span<const int64_t> client_rows, absl::Span<float> parts,
                                   absl::Span<float> scores) const {
  TWINSCORE_RETURN_IF_ERROR(CheckSide(prospects, "prospects"));
  const size_t n = prospect_rows.size();
  TWINSCORE_CHECK_ARG(client_rows.size() == n && scores.size() == n &&
                          parts.size() == n * static_cast<size_t>(PartCount()),
                      "ScorePairs: spans of mismatched sizes");
  std::vector<int64_t> position(n_, -1);  // client row -> sorted position
  for (size_t p = 0; p < order_.size(); ++p) position[order_[p]] = static_cast<int64_t>(p);
  const TwinMetric m = options_.metric;
  for (size_t t = 0; t < n; ++t) {
    const int64_t pr = prospect_rows[t], cr = client_rows[t];
    TWINSCORE_CHECK_ARG(pr >= 0 && pr < prospects.n, "prospect row ", pr, " is out of range");
    TWINSCORE_CHECK_ARG(cr >= 0 && cr < n_, "client row ", cr, " is out of range");
    const int64_t pos = position[cr];
    TWINSCORE_CHECK_ARG(pos >= 0, "client ", cr, " belongs to no block");
    float tile = 0;
    if (IsDense(m)) {
      Impl::DenseScorer s{*this, prospects};
      Impl::DenseScorer::Work w;
      s.Prepare(&pr, 1, w);
      scores[t] = s.Final(w, 0, s.PairScore(w, 0, pos));
    } else if (IsBits(m)) {
      Impl::BitsScorer s{*this, prospects};
      Impl::BitsScorer::Work w;
      s.Prepare(&pr, 1, w);
      s.Score(w, 1, pos, pos + 1, &tile);
      scores[t] = tile;
    } else {
      Impl::MixedScorer s{*this, prospects};
      Impl::MixedScorer::Work w;
      s.Prepare(&pr, 1, w);
      s.Score(w, 1, pos, pos + 1, &tile);
      scores[t] = tile;
      // Each part alone: the same scorer with the other weights set to zero
      // would do, but reading the formulas once more is clearer.
      float* out = parts.data() + t * PartCount();
      int64_t j = 0;
      const float nan = std::numeric_limits<float>::quiet_NaN();
      for (size_t p = 0; p < num_.size(); ++p, ++j) {
        const float a = prospects.mixed.numeric[p][pr], c = num_[p][pos];
        if (std::isnan(a) || std::isnan(c)) {
          out[j] = nan;
          continue;
        }
        const float diff = std::fabs(a - c);
        out[j] = ranges_[p] > 0 ? std::max(0.0f, 1.0f - diff / ranges_[p]) : (diff == 0 ? 1.0f : 0.0f);
      }
      for (size_t p = 0; p < cat_.size(); ++p, ++j) {
        const int32_t a = prospects.mixed.categorical[p][pr], c = cat_[p][pos];
        out[j] = (a < 0 || c < 0) ? nan : (a == c && a != options_.categorical_other[p] ? 1.0f : 0.0f);
      }
      for (size_t p = 0; p < set_bits_.size(); ++p, ++j) {
        const BitsetColumn& qs = prospects.mixed.sets[p];
        const int32_t nc = set_count_[p][pos];
        if ((!qs.missing.empty() && qs.missing[pr]) || nc < 0) {
          out[j] = nan;
          continue;
        }
        const int64_t words = set_words_[p];
        const uint64_t* a = qs.bits.data() + pr * words;
        int32_t inter = 0;
        Intersect(a, set_bits_[p].data() + pos * words, words, 1, &inter);
        const int32_t other = options_.set_other.empty() ? -1 : options_.set_other[p];
        out[j] = JaccardOf(inter, Popcount(a, words) + FurtherUnseen(qs, pr, other), nc);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace twinscore
