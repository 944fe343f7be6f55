// Discriminating criteria: binning of numeric columns and the counts of a
// binary target (the best clients, the converted prospects) per bin,
// category or category-set member, from which weights of evidence and
// information values follow.
//
// Columns hold n values (float32 or float64 with NaN = missing; int32 codes with
// kMissingCode = missing; bitsets of `words` uint64 per row); the target is n
// bytes, 0 or 1. Counts are integers, so the results do not depend on the
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/columns.h"
#include "twinscore/common.h"

namespace twinscore {

// Bin edges of a numeric column as pandas.qcut(x, n_bins, duplicates="drop")
// (pandas 3): the linearly interpolated quantiles at 0, 1/n_bins, ..., 1 of the
// present values (the fractions as pandas rounds them), duplicates removed. A column with no present value gets no edge.
// Columns are processed in parallel; an infinite value is an error naming the
// column.
absl::StatusOr<std::vector<std::vector<double>>> QuantileEdges(const std::vector<NumericColumn>& columns,
                                                               int32_t n_bins);

// Bin of a value against edges e0 < e1 < ... < em: intervals (e_{i}, e_{i+1}]
// with the first closed on the left; values beyond the ends go to the end
// bins; NaN goes to bin max(m, 1), the "missing" bin (a constant column has
// one edge and one bin).
int32_t BinOf(double x, absl::Span<const double> edges);

// How one numeric column is binned. A value equal to one of `values` has a bin
// of its own; the other values fall in the intervals of `edges` (as BinOf).
// Bin codes, in this order (s = values.size(), m = num_intervals()):
//   [0, s)      one per value, ascending;
//   [s, s + m)  the intervals, ascending;
//   s + m       "other": a present value that is none of `values` when there
//               are no intervals (in a column binned by value, a value never
//               seen when the binning was learnt);
//   s + m + 1   missing (NaN).
struct NumericBinning {
  std::vector<double> values;  // strictly ascending, finite
  std::vector<double> edges;   // strictly ascending, finite; empty when every value has its own bin
  // Learnt on float32 data: a value is rounded to float32 before it is
  // binned, so float64 data (a scoring table read as float64) bins as the
  // float32 column it was learnt on did — 0.2 finds the bin of 0.2f.
  bool float32 = false;

  int32_t num_intervals() const {
    return static_cast<int32_t>(edges.size() >= 2 ? edges.size() - 1 : edges.size());
  }
  int32_t num_bins() const { return static_cast<int32_t>(values.size()) + num_intervals() + 2; }
  int32_t other_bin() const { return num_bins() - 2; }
  int32_t missing_bin() const { return num_bins() - 1; }
  // values and edges finite and strictly ascending; with float32, values
  // that are float32 numbers (others could never be matched).
  absl::Status Validate() const;
};

// Options of LearnNumericBins.
struct BinningOptions {
  // Quantile bins of a column (1..1000, default 10); a column with at most
  // n_bins distinct present values is binned by value instead.
  int32_t n_bins = 10;
  absl::Status Validate() const;
};

// The binning of each column, learnt on its present values (in parallel over
// the columns; an infinite value is an error naming the column and row):
// - at most n_bins distinct values (0/1 flags, booleans held as 0/1, small
//   codes): one bin per value;
// - otherwise each value held by more than 1 / n_bins of the present rows —
//   more than one quantile bin would hold, e.g. a "999 = never contacted"
//   code or a dominant 0 — gets a bin of its own, and the other values are
//   binned as pandas.qcut(rest, n_bins - (values with a bin of their own),
//   duplicates="drop"), so a column has at most n_bins bins besides missing.
//   Without such a value the edges are QuantileEdges'.
// A column with no present value gets neither values nor edges (only the
// missing bin is used).
absl::StatusOr<std::vector<NumericBinning>> LearnNumericBins(const std::vector<NumericColumn>& columns,
                                                              const BinningOptions& options);

// The bin code of x (the layout of NumericBinning).
int32_t NumericBinOf(double x, const NumericBinning& binning);

// Target counts per bin: for each column c, pos[c] and neg[c] have
// binnings[c].num_bins() entries. One parallel pass over row blocks of every
// column.
struct BinCounts {
  std::vector<std::vector<int64_t>> pos, neg;
};
absl::StatusOr<BinCounts> CountNumericBins(const std::vector<NumericColumn>& columns,
                                           const std::vector<NumericBinning>& binnings,
                                           absl::Span<const uint8_t> target);

// The bin code (NumericBinOf) of every row of each column: out[c] has
// columns[c].n entries, written in parallel over row blocks. Scoring new data
// with the bins learnt on a training table.
absl::Status AssignNumericBins(const std::vector<NumericColumn>& columns,
                               const std::vector<NumericBinning>& binnings,
                               const std::vector<absl::Span<int32_t>>& out);

// Per categorical column with n_categories[c] categories: counts for codes
// 0..n-1, then the "other" code n, then missing: n + 2 entries.
absl::StatusOr<BinCounts> CountCodes(const std::vector<absl::Span<const int32_t>>& columns,
                                     const std::vector<int32_t>& n_categories, absl::Span<const uint8_t> target);

// Per category-set column: for each of its n_categories members, how many
// rows of the target (pos) and of the rest (neg) hold it.
absl::StatusOr<BinCounts> CountSetMembers(const std::vector<absl::Span<const uint64_t>>& bits,
                                          const std::vector<int64_t>& words,
                                          const std::vector<int32_t>& n_categories,
                                          absl::Span<const uint8_t> target);

}  // namespace twinscore
