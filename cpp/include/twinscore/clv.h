// Client lifetime value: the BG/NBD purchase model (Fader, Hardie & Lee 2005,
// "Counting your customers the easy way") and the Gamma-Gamma spend model
// (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted by maximum likelihood.
//
// Per-client summaries are spans of n doubles: x = repeat purchases (whole
// number >= 0), t_x = time of the last purchase since the first, T = time from
// the first purchase to the end of the calibration period (0 <= t_x <= T; x = 0
// implies t_x = 0), all in the caller's period (e.g. weeks). Optional weights
// (n values >= 0, empty = all 1) let the caller pass distinct patterns with
// their counts. Fits run on log-parameters with analytic gradients (L-BFGS);
// likelihood sums combine per-block partials in block order, so a fit is
// bit-identical whatever the thread count.
#pragma once

#include <cstdint>

#include "twinscore/common.h"

namespace twinscore {

// Per-client calibration summaries from a transaction log: one transaction
// per client-day (rows of a client on one day are merged and their amounts
// added). Inputs: n client codes in [0, n_clients), n day numbers (days since
// any epoch), optionally n amounts (finite, >= 0). Rows after `calibration_end`
// (a day number) are counted in `holdout` (repeat days in (calibration_end,
// observation_end]) and ignored otherwise. Outputs, n_clients values each:
// x, t_x, T in units of `period_days`, monetary = mean amount of the repeat
// days in calibration (0 when x = 0), holdout, and has_calibration = 1 when
// the client bought on or before calibration_end (else x = t_x = T = 0).
struct CalibrationSummary {
  absl::Span<double> x, t_x, T, monetary, holdout;
  absl::Span<uint8_t> has_calibration;
};
absl::Status SummarizeCalibration(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                  absl::Span<const double> amount, int64_t n_clients, int64_t calibration_end,
                                  int64_t observation_end, double period_days, const CalibrationSummary& out);

// Optimiser settings, shared by both fits.
struct FitOptions {
  int max_iterations = 500;  // L-BFGS iterations before the fit is declared non-converged
  double gtol = 1e-9;        // stop when the largest gradient entry of the mean log-likelihood is below this
  double penalizer = 0.0;    // L2 penalty on the parameters (not their logs), >= 0; 0 = plain maximum likelihood
  absl::Status Validate() const;
};

struct FitReport {
  double log_likelihood = 0;  // total (weighted) log-likelihood at the optimum, without the penalty
  int iterations = 0;
  int evaluations = 0;
};

// Purchase rates are Gamma(r, alpha) across clients, drop-out probabilities
// Beta(a, b). a = 0 is the no-dropout limit (every drop-out probability is 0:
// the model is the NBD with r, alpha); b is then irrelevant and may be any
// value > 0 or inf (the convention FitBgNbd reports). Otherwise a, b are finite
// and > 0; r, alpha always are.
struct BgNbdParams {
  double r = 1, alpha = 1, a = 1, b = 1;
};

// Total log-likelihood; `gradient` (4 values: d/dr, d/dalpha, d/da, d/db) is
// written when not empty.
absl::StatusOr<double> BgNbdLogLikelihood(const BgNbdParams& p, absl::Span<const double> x,
                                          absl::Span<const double> t_x, absl::Span<const double> T,
                                          absl::Span<const double> weights, absl::Span<double> gradient);

// Maximum-likelihood fit over the closed parameter set, the no-dropout
// limit a = 0 included. The optimiser runs on log r, log alpha, the mean
// drop-out probability a / (a + b) = sin^2(u) and log(1 / (a + b)), so that
// a = 0 is an ordinary point (u = 0) rather than one at infinity. When the
// likelihood is no larger inside than on that face, r and alpha are refitted
// there and the result is {r, alpha, a = 0, b = inf}. The coordinates are
// box-bounded (|theta| <= 30): a supremum at a + b -> infinity (one drop-out
// probability for all) or a + b -> 0 ends once the slope left is below
// gtol, on the bound a + b = e^+-30 at the latest.
// Fails with kFailedPrecondition when it does not converge.
absl::StatusOr<BgNbdParams> FitBgNbd(absl::Span<const double> x, absl::Span<const double> t_x,
                                     absl::Span<const double> T, absl::Span<const double> weights,
                                     const FitOptions& options, FitReport* report);

// Distinct (x, t_x, T) patterns, in order of first appearance, with their
// total weight (weights empty = 1 each): many clients share a pattern, and
// the likelihood over the patterns weighted by counts is the same. Outputs
// hold n values; returns the number k written.
absl::StatusOr<int64_t> CompressSummaries(absl::Span<const double> x, absl::Span<const double> t_x,
                                          absl::Span<const double> T, absl::Span<const double> weights,
                                          absl::Span<double> out_x, absl::Span<double> out_t_x,
                                          absl::Span<double> out_T, absl::Span<double> out_w);

// For each client: expected purchases in the next `t` periods and the
// probability of being alive at T (either output may be empty to skip it).
// Valid for every parameter set BgNbdParams allows (a + b < 1, a = 1 and the
// no-dropout limit a = 0 included).
absl::Status BgNbdPredict(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                          absl::Span<const double> T, double t, absl::Span<double> expected,
                          absl::Span<double> p_alive);

struct GammaGammaParams {
  double p = 1, q = 1, v = 1;  // v is the scale often written gamma
};

// Spend model on clients with x >= 1 repeat purchases and mean repeat spend m > 0.
absl::StatusOr<double> GammaGammaLogLikelihood(const GammaGammaParams& g, absl::Span<const double> x,
                                               absl::Span<const double> m, absl::Span<const double> weights,
                                               absl::Span<double> gradient);

absl::StatusOr<GammaGammaParams> FitGammaGamma(absl::Span<const double> x, absl::Span<const double> m,
                                               absl::Span<const double> weights, const FitOptions& options,
                                               FitReport* report);

// Expected mean spend per transaction given x and m: the posterior mean
// (p v + p x m) / (p x + q - 1) (x = 0: the population mean p v / (q - 1)).
// m = 0 with x >= 1 (repeat orders of no value, left out of the fit: the
// spend density is 0 there) is valid: the likelihood of the scale given a
// total spend of 0 is proper, and the value is the formula's limit as m -> 0.
// Needs q > 1 (else the mean spend is infinite); m must be finite and >= 0.
absl::Status GammaGammaExpectedSpend(const GammaGammaParams& g, absl::Span<const double> x,
                                     absl::Span<const double> m, absl::Span<double> out);

// Expected purchases in the next t periods of a client alive now, whose
// purchase rate has the (posterior) distribution Gamma(shape, scale_time) and
// drop-out probability Beta(a, b_x); w = t / scale_time. For the BG/NBD
// client: shape = r + x, scale_time = alpha + T, b_x = b + x. In closed form
// (Fader, Hardie & Lee 2005, eq. 10 without P(alive)), with z = w / (1 + w),
//   (a + b_x - 1) / (a - 1) * [1 - (1 - z)^shape 2F1(shape, b_x; a + b_x - 1; z)],
// which has removable singularities at a = 1 and a + b_x - 1 = 0, -1, ...
// It is evaluated instead as sum_{n >= 1} NBD(n) S_n, a sum of positive terms:
// NBD(n) = P(n purchases in t if nobody dropped out) = (shape)_n / n! (1 - z)^shape z^n and
// S_n = sum_{i < n} E[(1 - p)^i] = expected purchases among those n before
// dropping out. Valid for every a >= 0 (a = 0: S_n = n, the NBD's shape * w),
// b_x > 0 (inf when a = 0), w >= 0; terms are added until the tail is below
// 1e-16 of the sum (about 40 (1 + w) terms), and at most 1e8.
absl::StatusOr<double> BgNbdExpectedIfAlive(double shape, double a, double b_x, double w);

// Digamma function for x > 0, exposed for tests.
double Digamma(double x);

}  // namespace twinscore
