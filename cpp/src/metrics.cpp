#include "twinscore/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include <tbb/parallel_sort.h>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kBlock = 1 << 16;

absl::Status CheckInputs(absl::Span<const double> scores, absl::Span<const double> labels,
                         absl::Span<const double> weights, double* pos, double* neg) {
  const size_t n = scores.size();
  TWINSCORE_CHECK_ARG(n > 0, "scores is empty");
  TWINSCORE_CHECK_ARG(labels.size() == n, "y_true has ", labels.size(), " values, scores has ", n);
  TWINSCORE_CHECK_ARG(weights.empty() || weights.size() == n, "sample_weight has ", weights.size(),
                      " values, expected ", n);
  std::vector<double> p(NumBlocks(n, kBlock)), q(p.size());
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(n, kBlock, [&](size_t b, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(std::isfinite(scores[i]), "scores holds a non-finite value at position ", i);
      TWINSCORE_CHECK_ARG(labels[i] == 0.0 || labels[i] == 1.0, "y_true must hold 0/1 labels, got ", labels[i],
                          " at position ", i);
      const double w = weights.empty() ? 1.0 : weights[i];
      TWINSCORE_CHECK_ARG(std::isfinite(w) && w >= 0, "sample_weight must be finite and >= 0, got ", w,
                          " at position ", i);
      (labels[i] == 1.0 ? p[b] : q[b]) += w;
    }
    return absl::OkStatus();
  }));
  *pos = *neg = 0;
  for (size_t b = 0; b < p.size(); ++b) *pos += p[b], *neg += q[b];
  return absl::OkStatus();
}

// Sort key of a finite double, as an unsigned integer increasing with the score.
inline uint64_t Key(double s) {
  if (s == 0.0) s = 0.0;  // -0 and +0 are the same score
  uint64_t u;
  std::memcpy(&u, &s, sizeof u);
  return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

// (key, row) pairs sorted by decreasing score then increasing row.
std::vector<std::pair<uint64_t, int64_t>> Ranked(absl::Span<const double> scores) {
  std::vector<std::pair<uint64_t, int64_t>> r(scores.size());
  ParallelBlocks(scores.size(), kBlock, [&](size_t, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) r[i] = {~Key(scores[i]), static_cast<int64_t>(i)};
  });
  // Keys are distinct pairs, so the result does not depend on the sort's
  // scheduling. The parallel sort runs in the call's arena, on its threads.
  if (NumThreads() == 1) {
    std::sort(r.begin(), r.end());
  } else {
    InCallArena([&] { tbb::parallel_sort(r.begin(), r.end()); });
  }
  return r;
}

absl::Status CheckBins(const BinTable& out, size_t m) {
  TWINSCORE_CHECK_ARG(out.rows.size() == m && out.weight.size() == m && out.positives.size() == m &&
                          out.score_sum.size() == m && out.min_score.size() == m && out.max_score.size() == m,
                      "bin outputs must hold ", m, " values each");
  std::fill(out.rows.begin(), out.rows.end(), 0);
  std::fill(out.weight.begin(), out.weight.end(), 0.0);
  std::fill(out.positives.begin(), out.positives.end(), 0.0);
  std::fill(out.score_sum.begin(), out.score_sum.end(), 0.0);
  std::fill(out.min_score.begin(), out.min_score.end(), std::numeric_limits<double>::quiet_NaN());
  std::fill(out.max_score.begin(), out.max_score.end(), std::numeric_limits<double>::quiet_NaN());
  return absl::OkStatus();
}

void AddToBin(const BinTable& out, size_t b, double score, double label, double w) {
  ++out.rows[b];
  out.weight[b] += w;
  out.positives[b] += w * label;
  out.score_sum[b] += w * score;
  if (!(out.min_score[b] <= score)) out.min_score[b] = score;
  if (!(out.max_score[b] >= score)) out.max_score[b] = score;
}

}  // namespace

absl::StatusOr<RocSummary> Roc(absl::Span<const double> scores, absl::Span<const double> labels,
                               absl::Span<const double> weights) {
  RocSummary r;
  TWINSCORE_RETURN_IF_ERROR(CheckInputs(scores, labels, weights, &r.positives, &r.negatives));
  if (!(r.positives > 0 && r.negatives > 0)) {
    return absl::FailedPreconditionError("y_true has a single class: AUC and KS need positives and negatives");
  }
  const auto ranked = Ranked(scores);
  // Sweep the thresholds from the top; a group of tied scores moves the ROC
  // curve diagonally, and the trapezoid under that step counts ties as 1/2.
  double tp = 0, fp = 0, area = 0;
  r.ks = 0;
  r.ks_threshold = scores[ranked[0].second];
  for (size_t i = 0; i < ranked.size();) {
    double gp = 0, gn = 0;
    size_t j = i;
    for (; j < ranked.size() && ranked[j].first == ranked[i].first; ++j) {
      const int64_t row = ranked[j].second;
      const double w = weights.empty() ? 1.0 : weights[row];
      (labels[row] == 1.0 ? gp : gn) += w;
    }
    area += gn * (tp + 0.5 * gp);
    tp += gp, fp += gn;
    const double gap = tp / r.positives - fp / r.negatives;
    if (gap > r.ks) r.ks = gap, r.ks_threshold = scores[ranked[i].second];
    i = j;
  }
  r.auc = area / (r.positives * r.negatives);
  return r;
}

absl::Status RankDescending(absl::Span<const double> scores, absl::Span<int64_t> order) {
  TWINSCORE_CHECK_ARG(order.size() == scores.size(), "order must hold ", scores.size(), " values");
  for (size_t i = 0; i < scores.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(scores[i]), "scores holds a non-finite value at position ", i);
  }
  const auto ranked = Ranked(scores);
  for (size_t i = 0; i < ranked.size(); ++i) order[i] = ranked[i].second;
  return absl::OkStatus();
}

absl::Status GainsTable(absl::Span<const double> scores, absl::Span<const double> labels,
                        absl::Span<const double> weights, int64_t n_bins, const BinTable& out) {
  double pos, neg;
  TWINSCORE_RETURN_IF_ERROR(CheckInputs(scores, labels, weights, &pos, &neg));
  const size_t n = scores.size();
  TWINSCORE_CHECK_ARG(n_bins >= 1 && static_cast<size_t>(n_bins) <= n, "n_bins must be in [1, ", n, "], got ", n_bins);
  TWINSCORE_RETURN_IF_ERROR(CheckBins(out, n_bins));
  const auto ranked = Ranked(scores);
  for (size_t k = 0; k < n; ++k) {
    const size_t b = static_cast<size_t>((static_cast<unsigned __int128>(k) * n_bins) / n);
    const int64_t row = ranked[k].second;
    AddToBin(out, b, scores[row], labels[row], weights.empty() ? 1.0 : weights[row]);
  }
  return absl::OkStatus();
}

absl::Status BandTable(absl::Span<const double> scores, absl::Span<const double> labels,
                       absl::Span<const double> weights, absl::Span<const double> edges, const BinTable& out) {
  double pos, neg;
  TWINSCORE_RETURN_IF_ERROR(CheckInputs(scores, labels, weights, &pos, &neg));
  TWINSCORE_CHECK_ARG(edges.size() >= 2, "bins need at least 2 edges, got ", edges.size());
  for (size_t e = 0; e < edges.size(); ++e) {
    TWINSCORE_CHECK_ARG(std::isfinite(edges[e]) && (e == 0 || edges[e] > edges[e - 1]),
                        "bin edges must be finite and strictly increasing");
  }
  const size_t m = edges.size() - 1;
  TWINSCORE_RETURN_IF_ERROR(CheckBins(out, m));
  // Bands are few: a sequential pass in row order keeps the sums reproducible.
  for (size_t i = 0; i < scores.size(); ++i) {
    const double s = scores[i];
    TWINSCORE_CHECK_ARG(s >= edges.front() && s <= edges.back(), "scores: value ", s, " at position ", i,
                        " is outside the bins [", edges.front(), ", ", edges.back(), "]");
    size_t b = std::upper_bound(edges.begin(), edges.end(), s) - edges.begin() - 1;
    if (b >= m) b = m - 1;
    AddToBin(out, b, s, labels[i], weights.empty() ? 1.0 : weights[i]);
  }
  return absl::OkStatus();
}

}  // namespace twinscore
