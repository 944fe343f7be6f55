// The BG/BB model of discrete-time non-contractual relationships (Fader,
// Hardie & Shang 2010, "Customer-base analysis in a discrete-time
// noncontractual setting"): a client can act only at discrete opportunities
// (a weekly newsletter, an annual appeal). While alive, a client transacts at
// each opportunity with probability p ~ Beta(alpha, beta); before each
// opportunity an alive client drops out with probability theta ~
// Beta(gamma, delta), for good.
//
// Per-client summaries are spans of m doubles, all whole numbers: x =
// transactions in the n opportunities after the first (the repeat
// transactions), t_x = the opportunity of the last of them (0 when x = 0;
// x <= t_x <= n otherwise), n = opportunities observed after the first.
// Optional weights (m values >= 0, empty = all 1) pass distinct patterns with
// their counts (CompressSummaries of clv.h compresses (x, t_x, n) too).
//
// Every Beta-function ratio is a product, evaluated as prefix sums of logs
// (log B(a + x, b + y) / B(a, b) = sum_{j<x} log(a + j) + sum_{j<y} log(b + j)
// - sum_{j<x+y} log(a + b + j), summed with compensation): no difference of
// large lgamma values, so n of many thousands and parameters up to e^30 keep
// their digits. The likelihood's sum over the possible drop-out points is a
// log-sum-exp. Sums over clients combine per-block partials in block order:
// results are bit-identical whatever the thread count.
#pragma once

#include <cstdint>

#include "twinscore/clv.h"
#include "twinscore/common.h"

namespace twinscore {

struct BgBbParams {
  double alpha = 1, beta = 1, gamma = 1, delta = 1;  // all finite and > 0
};

// Total (weighted) log-likelihood; `gradient` (4 values: d/dalpha, d/dbeta,
// d/dgamma, d/ddelta) is written when not empty.
absl::StatusOr<double> BgBbLogLikelihood(const BgBbParams& p, absl::Span<const double> x,
                                         absl::Span<const double> t_x, absl::Span<const double> n,
                                         absl::Span<const double> weights, absl::Span<double> gradient);

// Maximum-likelihood fit by L-BFGS on the logs of the four parameters, box
// bounded (|log theta| <= 30, as the BG/NBD fit). Fails with
// kFailedPrecondition when it does not converge.
absl::StatusOr<BgBbParams> FitBgBb(absl::Span<const double> x, absl::Span<const double> t_x,
                                   absl::Span<const double> n, absl::Span<const double> weights,
                                   const FitOptions& options, FitReport* report);

// Asymptotic covariance of (alpha, beta, gamma, delta): the inverse observed
// information (central differences of the analytic gradient), computed in
// the coordinates (logit m, log s) of each Beta's mean m and concentration
// s (alpha + beta, gamma + delta) and mapped by the delta method. Where the
// likelihood is flat in a concentration (its supremum at s -> infinity: one
// probability for every client, where the fit stopped on the way) that s is
// held: Boundary::kScaleHeld, bit 1 (alpha + beta) or 2 (gamma + delta) of
// `held_scales` (may be null), and the pair of its Beta has a rank-one joint
// covariance (correlation -1) through the mean alone. kFailedPrecondition
// when no such hold leaves a positive definite information.
absl::Status BgBbCovariance(const BgBbParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                            absl::Span<const double> n, absl::Span<const double> weights, double penalizer,
                            Uncertainty* out, int* held_scales);

// Per-client predictions, each output m values or empty to skip it:
// - expected: E[X(n, n + horizon) | x, t_x, n], the transactions expected in
//   the next `horizon` opportunities (whole number >= 0), summed as
//   sum_{k=1..horizon} E[p (1 - theta)^(n+k) | data]: positive terms, no
//   removable singularity at gamma = 1 (the closed form's delta / (gamma - 1));
//   its cost is `horizon` steps per distinct n.
// - p_alive: P(alive at opportunity n + 1 | x, t_x, n).
// - dert: discounted expected residual transactions at `discount` per
//   opportunity (> 0 when wanted): sum_{k>=1} E[...] / (1 + discount)^k, a
//   series summed until its geometric tail bound is below 1e-16 of the sum.
// A new client (x = t_x = n = 0) has expected = the model's E[X(horizon)].
struct BgBbOutputs {
  absl::Span<double> expected, p_alive, dert;
};
absl::Status BgBbPredict(const BgBbParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                         absl::Span<const double> n, double horizon, double discount, const BgBbOutputs& out);

// P(X(n) = k) for k = 0..max_count and each of the m values of n (whole
// numbers >= 0): the distribution of the transactions of a new client in n
// opportunities (Fader, Hardie & Shang 2010, eq. 8), row-major m x
// (max_count + 1) in `out`. Every term is a log-space product; the sum over
// drop-out points has n terms.
absl::Status BgBbCountProbabilities(const BgBbParams& p, absl::Span<const double> n, int64_t max_count,
                                    absl::Span<double> out);

// Per-client intervals over parameter draws (draws*4 values (alpha, beta,
// gamma, delta), from SampleParams): the predictions under every draw and
// their (1 -/+ level) / 2 quantiles (numpy's linear interpolation). Clients of
// one (x, t_x, n) pattern share their interval, so the work grows with
// draws x distinct patterns; draws run in parallel, each on its own, so the
// result does not depend on the thread count. Outputs as IntervalOutputs
// (an empty pair is skipped).
absl::Status BgBbPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                  absl::Span<const double> t_x, absl::Span<const double> n, double horizon,
                                  double level, const IntervalOutputs& out);

}  // namespace twinscore
