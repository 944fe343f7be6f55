// Discriminating criteria: quantile binning of numeric columns and the counts
// of a binary target (the best clients, the converted prospects) per bin,
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

// Target counts per bin: for each column c, pos[c] and neg[c] have
// (edges[c].size() - 1) + 1 entries (the bins, then missing). One parallel
// pass over row blocks of every column.
struct BinCounts {
  std::vector<std::vector<int64_t>> pos, neg;
};
absl::StatusOr<BinCounts> CountNumericBins(const std::vector<NumericColumn>& columns,
                                           const std::vector<std::vector<double>>& edges,
                                           absl::Span<const uint8_t> target);

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
