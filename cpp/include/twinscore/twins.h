// Statistical twins: exact top-k similarity search of prospects (queries)
// against clients (the base), optionally restricted to blocks of clients that
// share exact key values with the prospect.
//
// Conventions: arrays are row-major and contiguous; an n x d matrix is a span
// of n*d values; bitsets hold `words` uint64 per row. Outputs are allocated by
// the caller: rows and scores n*k, counts n.
//
// Similarity (larger is more alike), per metric:
//   kInnerProduct    x . y
//   kCosine          x . y / (|x| |y|), 0 when either vector is zero (norms
//                    in double: rows of huge or subnormal values are not zero)
//   kSquaredL2       |x - y|^2 is reported; smaller is more alike
//   kJaccard         |A & B| / |A | B| on bitsets, 0 when both sets are empty
//   kWeightedJaccard sum of w over A & B / sum of w over A | B (w >= 0 per bit)
//                    An "other" bit (TwinOptions::bit_other, set_other) counts
//                    in a set's size (once per unseen category, see
//                    BitsetColumn::unseen) but is in no intersection.
//   kMixed           Gower-style weighted mean of parts: numeric 1 - |a-b|/range
//                    (clipped at 0; range learnt on the clients), categorical
//                    equal / not equal, category sets Jaccard. A part missing on
//                    either side (NaN, code < 0, a set flagged missing) drops
//                    out of that pair's mean; no part left gives 0.
//
// The full prospects x clients matrix is never formed: the work is split into
// (block, tile of prospects) items, each scores tiles of clients (a GEMM for
// dense metrics, popcounts for bitsets) and keeps the running top-k while the
// tile is in cache. Items write to fixed positions, so results are identical
// for any thread count. Ties rank the lower client row first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "twinscore/common.h"
#include "twinscore/twins_kernel.h"

namespace twinscore {

enum class TwinMetric { kInnerProduct, kCosine, kSquaredL2, kJaccard, kWeightedJaccard, kMixed };

// kInnerProduct and kSquaredL2 refuse a row (client or prospect) whose
// squared norm, in double, exceeds FLT_MAX / 8 (|x| > 6.5e18). Below it no
// float32 sum of the search can overflow: every partial sum of x . y is at
// most |x| |y| <= FLT_MAX / 8, |y|^2 <= FLT_MAX / 8, and |x - y|^2 <=
// (|x| + |y|)^2 <= FLT_MAX / 2 (room for rounding), so the float32 kernels
// never make an inf, nor inf - inf = NaN. Above it the answers (distances
// and products up to |x| |y|) can pass FLT_MAX and have no float32 value:
// an error that says so beats an inf or a rescaled approximation, and the hot loops keep their plain
// float32 FMAs (the check rides on the NaN/inf pass over the input).
constexpr double kMaxSquaredNorm = 3.4028234663852886e38 / 8;

// Bitsets of one category-set column: n rows of `words` words; `missing` is
// empty (none missing) or n bytes, non-zero for a missing set. `unseen` is
// empty or n counts of each row's distinct unseen categories: they share the
// "other" bit (TwinOptions::bit_other, set_other), which stands for the first
// one; each further one adds one to the set's size (kWeightedJaccard: the
// other bit's weight), as distinct items would. Read only where the column
// has an other bit.
struct BitsetColumn {
  absl::Span<const uint64_t> bits;
  int64_t words = 0;
  absl::Span<const uint8_t> missing;
  absl::Span<const int32_t> unseen;
};

// The columns of the mixed metric, each a span of n values.
struct MixedColumns {
  std::vector<absl::Span<const float>> numeric;      // NaN = missing
  std::vector<absl::Span<const int32_t>> categorical;  // < 0 = missing
  std::vector<BitsetColumn> sets;
};

// One side of a search (clients at fit, prospects at search). Only the part
// that the metric reads needs filling.
struct TwinData {
  int64_t n = 0;
  // n * dim, dense metrics; NaN and inf refused, and for kInnerProduct and
  // kSquaredL2 a row whose squared norm exceeds kMaxSquaredNorm (see there).
  absl::Span<const float> dense;
  int64_t dim = 0;
  BitsetColumn bits;  // Jaccard metrics
  MixedColumns mixed;  // kMixed
  // Blocking: empty (one block), or one span of n codes per key column. A
  // row's block is its tuple of codes: a twin has exactly the prospect's
  // codes in every key column. A row with a code < 0 (missing) or equal to
  // its column's TwinOptions::key_other code belongs to no block: such a
  // prospect finds nothing, such a client is never found.
  std::vector<absl::Span<const int32_t>> keys;
};

struct TwinOptions {
  TwinMetric metric = TwinMetric::kCosine;
  // kWeightedJaccard: one weight >= 0 per bit (words * 64), or empty for the
  // inverse document frequency among the clients, computed at fit:
  // ln((1 + n) / (1 + df)) + 1, df = clients holding the bit (rare
  // categories count more; a bit no client holds weighs ln(1 + n) + 1).
  std::vector<float> bit_weights;
  // kMixed: one weight >= 0 per numeric, categorical and set column, in that
  // order of MixedColumns; at least one must be > 0.
  std::vector<float> numeric_weights, categorical_weights, set_weights;
  // kMixed: the range of each numeric column, or empty to learn it on the
  // clients (max - min of their present values). Give the population's
  // range (the contacts the prospects come from) to score numeric parts on
  // the population's scale rather than the seed's; a range of 0 makes the
  // part 1 for equal values, 0 otherwise.
  std::vector<float> numeric_ranges;
  // kMixed: a categorical code that never matches (the "unseen" code), one per
  // categorical column; -1 for none.
  std::vector<int32_t> categorical_other;
  // Blocking: per key column, a code that belongs to no block (the schema's
  // "unseen" code: two values outside the dictionary may differ, so they
  // must not match); empty for none, else one per key column of the data.
  std::vector<int32_t> key_other;
  // kJaccard, kWeightedJaccard: the bit of the unseen categories (the
  // schema's "(other)"), or -1 for none; kMixed: one such bit per set
  // column, or empty for none. Two unseen categories may differ, so the bit
  // counts in a set's size (and union) but intersects nothing. A row's
  // unseen categories share the bit; BitsetColumn::unseen counts each one.
  int32_t bit_other = -1;
  std::vector<int32_t> set_other;
  // Tile sizes: prospects per work item, clients per scored tile. Larger tiles
  // amortise more, smaller ones keep the tile of scores in cache.
  int64_t prospect_tile = 192;
  int64_t client_tile = 1024;

  absl::Status Validate() const;
};

// Where Search writes: n*k client rows (-1 past the count), n*k scores
// (-inf past the count, +inf for kSquaredL2), n counts.
struct TwinResults {
  absl::Span<int64_t> rows;
  absl::Span<float> scores;
  absl::Span<int32_t> counts;
};

class TwinIndex {
 public:
  // Copies the clients in block order (sorted by key tuple, stable: a block
  // keeps row order) and precomputes norms, popcounts, numeric ranges and,
  // for kWeightedJaccard without bit_weights, the IDF weights.
  static absl::StatusOr<std::unique_ptr<TwinIndex>> Fit(const TwinOptions& options, const TwinData& clients);

  // The k most similar clients of each prospect, within its block; k must not
  // exceed size(). A prospect whose block holds fewer than k clients gets
  // them all, and its count says so.
  absl::Status Search(const TwinData& prospects, int k, const TwinResults& out) const;

  // kMixed: the similarity of each part for n pairs (prospect row, client
  // row), written to parts (n * PartCount(), NaN where the part dropped out)
  // and the pair's similarity to scores (n). Other metrics: scores only.
  absl::Status ScorePairs(const TwinData& prospects, absl::Span<const int64_t> prospect_rows,
                          absl::Span<const int64_t> client_rows, absl::Span<float> parts,
                          absl::Span<float> scores) const;

  int64_t size() const { return n_; }
  int64_t PartCount() const;
  int64_t BlockCount() const { return static_cast<int64_t>(block_begin_.size()); }
  // Clients in each block (in block order of first appearance after sorting by key).
  std::vector<int64_t> BlockSizes() const;
  // kMixed: the range of each numeric column (given, or learnt on the clients).
  const std::vector<float>& numeric_ranges() const { return ranges_; }
  // kWeightedJaccard: the weight of each bit used by the search (given, or
  // the IDF computed at fit); empty for the other metrics.
  const std::vector<float>& bit_weights() const { return options_.bit_weights; }
  const TwinOptions& options() const { return options_; }

  // Implementation state, public for the kernels in twins.cpp.
  struct Impl;

 private:
  TwinIndex() = default;

  absl::Status CheckSide(const TwinData& d, const char* side) const;
  void BuildBlocks(const TwinData& clients);
  // The block of row i of `d` (by its key tuple), or -1 for none.
  int32_t BlockOf(const TwinData& d, int64_t i) const;

  TwinOptions options_;
  int64_t n_ = 0;
  // Sorted position -> client row; block b holds positions [begin, end).
  std::vector<int64_t> order_;
  std::vector<int64_t> block_begin_, block_end_;
  // Blocking: the key tuple of each block (BlockCount() x key_columns_
  // codes) and a hash table from a tuple's hash to the last block of that
  // hash, earlier ones chained by same_hash_ (-1 ends a chain): a lookup
  // compares whole tuples, so a hash collision never joins two blocks.
  bool blocked_ = false;
  int64_t key_columns_ = 0;
  std::vector<int32_t> block_keys_;
  absl::flat_hash_map<uint64_t, int32_t> block_of_hash_;
  std::vector<int32_t> same_hash_;
  // Dense: n * dim in sorted order (normalised for cosine), squared norms.
  int64_t dim_ = 0;
  std::vector<float> dense_, sqnorm_;
  // The same clients in panels of 16 for the fused kernel: panel q holds
  // dim x 16 floats (feature-major), and bias_ the term added to scale * x.y
  // (-|y|^2 for kSquaredL2, 0 otherwise), padded to whole panels.
  AlignedFloats panels_, bias_;
  // Bitsets: n * words in sorted order, popcounts or bit-weight totals.
  int64_t words_ = 0;
  std::vector<uint64_t> bits_;
  std::vector<float> bit_total_;
  std::vector<int32_t> bit_count_;
  // Mixed: columns in sorted order.
  std::vector<std::vector<float>> num_;
  std::vector<float> ranges_;
  std::vector<std::vector<int32_t>> cat_;
  std::vector<std::vector<uint64_t>> set_bits_;
  std::vector<std::vector<int32_t>> set_count_;  // popcount, -1 for missing
  std::vector<int64_t> set_words_;

  friend struct Impl;
};

}  // namespace twinscore
