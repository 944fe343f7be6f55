// Measures of a score: ROC AUC (ties counted half, as scikit-learn's
// roc_auc_score), the KS statistic, decile (or any n-tile) gains and lift
// tables, and per-band counts for conversion by score band and calibration.
//
// scores: n finite values (higher = more likely to convert); labels: n values
// in {0, 1}; weights: n values >= 0, or empty for ones.
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/common.h"

namespace twinscore {

struct RocSummary {
  double auc = 0.0;
  double ks = 0.0;            // max over thresholds of TPR - FPR
  double ks_threshold = 0.0;  // the score at which it is reached (predict 1 when score >= it)
  double positives = 0.0;     // weighted counts
  double negatives = 0.0;
};

// Fails (InvalidArgument) on non-finite scores, labels other than 0/1, bad
// weights; (FailedPrecondition) when a class is absent.
absl::StatusOr<RocSummary> Roc(absl::Span<const double> scores, absl::Span<const double> labels,
                               absl::Span<const double> weights);

// Rows ordered by decreasing score, ties by increasing row index (the same
// order for any thread count). order: n values.
absl::Status RankDescending(absl::Span<const double> scores, absl::Span<int64_t> order);

// Gains table: the rows ranked by decreasing score are cut into n_bins groups
// of (nearly) equal size, bin b holding ranks [b*n/n_bins, (b+1)*n/n_bins).
// Per bin: rows, weighted count, weighted positives, min and max score.
// Outputs: n_bins values each.
struct BinTable {
  absl::Span<int64_t> rows;
  absl::Span<double> weight;
  absl::Span<double> positives;
  absl::Span<double> score_sum;
  absl::Span<double> min_score;
  absl::Span<double> max_score;
};
absl::Status GainsTable(absl::Span<const double> scores, absl::Span<const double> labels,
                        absl::Span<const double> weights, int64_t n_bins, const BinTable& out);

// Per band, for bands given by increasing edges e_0 < ... < e_m: band b holds
// e_b <= score < e_{b+1}, the last one includes its right edge; scores
// outside [e_0, e_m] are refused. Outputs: m values each.
absl::Status BandTable(absl::Span<const double> scores, absl::Span<const double> labels,
                       absl::Span<const double> weights, absl::Span<const double> edges, const BinTable& out);

}  // namespace twinscore
