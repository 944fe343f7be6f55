// RFM: per-client recency, frequency and monetary value from a transaction log,
// quantile scores, and the client-id factorisation they need.
//
// Arrays are caller-owned and contiguous. A transaction log of n rows is given
// as client codes (int32 in [0, n_clients)), times (int64, any unit the caller
// chooses, e.g. UTC nanoseconds; the smallest int64, NumPy's NaT, marks a
// missing date and is rejected) and, optionally, amounts (double). Every
// per-client result is computed over that client's rows in log order, so it is
// bit-identical whatever the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/common.h"

namespace twinscore {

// Maps int64 client ids to dense codes 0..k-1 in order of first appearance.
// Writes n codes; returns the k distinct ids (uniques[code] = id).
absl::StatusOr<std::vector<int64_t>> FactorizeInt64(absl::Span<const int64_t> ids, absl::Span<int32_t> codes);

// Per-client aggregates, each a caller-owned span of n_clients values.
struct RfmAggregates {
  absl::Span<int64_t> first;   // earliest time
  absl::Span<int64_t> last;    // latest time
  absl::Span<int64_t> count;   // number of rows (transactions)
  absl::Span<double> total;    // sum of amounts (left untouched when no amounts)
};

// Aggregates the log (totals by compensated summation, in log order). Fails on a code outside [0, n_clients), a negative or
// non-finite amount, a missing time (NaT), a time after `now`, or a client without any row.
absl::Status AggregateRfm(absl::Span<const int32_t> codes, absl::Span<const int64_t> time,
                          absl::Span<const double> amount, int64_t n_clients, int64_t now,
                          const RfmAggregates& out);

// The same aggregates straight from int64 client ids, without a code array:
// one pass in which each task owns the ids that hash to it. Clients come out
// in order of first appearance; `total` is empty without amounts.
struct RfmGroups {
  std::vector<int64_t> id, first, last, count;
  std::vector<double> total;
};
absl::StatusOr<RfmGroups> AggregateRfmById(absl::Span<const int64_t> ids, absl::Span<const int64_t> time,
                                           absl::Span<const double> amount, int64_t now);

// Quantile scores 1..bins of n values (higher value, higher score; pass
// negated values for "lower is better").
//
// Tie rule: a value's score is 1 + floor(bins * L / n), L being the number of
// values strictly lower than it. Equal values always share a score (that of
// the lowest of their group's ordinal ranks), so a value shared by many
// clients never fails and never splits; a score is skipped only when one tie
// group spans a whole quantile. Equivalent to pandas
// 1 + floor(bins * (s.rank(method="min") - 1) / n).
absl::Status QuantileScores(absl::Span<const double> values, int bins, absl::Span<int8_t> scores);

// QuantileScores of several columns at once (R, F and M): scores[c] receives
// column c's, the columns' selections run concurrently. Each column's scores
// are those of QuantileScores; the error is that of the first failing column.
absl::Status QuantileScoresColumns(absl::Span<const absl::Span<const double>> columns, int bins,
                                   absl::Span<const absl::Span<int8_t>> scores);

}  // namespace twinscore
