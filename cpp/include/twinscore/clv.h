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

#include "twinscore/clv_summary.h"
#include "twinscore/common.h"

namespace twinscore {

// Calibration summaries of a transaction log: twinscore/clv_summary.h.

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

// ---------------------------------------------------------------- uncertainty
//
// Standard errors come from the observed information: the Hessian of the
// (penalised) log-likelihood at the fit, by central differences (step 1e-5)
// of the analytic gradient in the fit's coordinates (log r, log alpha, u,
// log s for the BG/NBD; log p, log q, log v for the Gamma-Gamma). The free
// block is inverted and mapped to the natural parameters with the Jacobian
// of the coordinate change (the delta method), so `cov` is the asymptotic
// covariance of (r, alpha, a, b) or (p, q, v).
//
// Boundaries, where the likelihood's maximum is not an interior point:
// - no dropout (a = 0, b = inf): the covariance is that of (r, alpha) on the
//   face; the rows and columns of a and b are 0 and both are flagged fixed.
// - a + b on its box bound (e^-30 or e^30), or a likelihood flat in a + b
//   (its supremum at a + b -> 0 or infinity): a + b is held where the fit
//   stopped and the covariance is that of (r, alpha, a / (a + b)); a and b
//   then have a rank-one joint covariance (correlation -1: a + b is fixed).
// Any other coordinate at its box bound is held too (its rows and columns 0,
// flagged fixed). A free block that is still not positive definite fails
// with kFailedPrecondition: the data do not identify the parameters.
enum class Boundary : int { kInterior = 0, kNoDropout = 1, kScaleHeld = 2 };

struct Uncertainty {
  absl::Span<double> cov;      // k*k, row-major, natural parameters
  absl::Span<uint8_t> fixed;   // k flags: 1 = held at a boundary value (variance 0)
  Boundary boundary = Boundary::kInterior;
};

absl::Status BgNbdCovariance(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                             absl::Span<const double> T, absl::Span<const double> weights, double penalizer,
                             Uncertainty* out);

absl::Status GammaGammaCovariance(const GammaGammaParams& g, absl::Span<const double> x,
                                  absl::Span<const double> m, absl::Span<const double> weights, double penalizer,
                                  Uncertainty* out);

// `draws` parameter vectors (draws*k, row-major) from the parameters'
// asymptotic distribution on the log scale: log theta ~ N(log theta_hat,
// D^-1 cov D^-1), D = diag(theta_hat), so every draw stays positive. A
// parameter with variance 0 (fixed: a = 0, b = inf) is copied. The square
// root of the covariance is taken by eigen-decomposition (negative rounding
// eigenvalues set to 0), so a rank-deficient covariance is valid. Normal
// deviates come from one sequential seeded stream (splitmix64 + Box-Muller):
// the same for any thread count and platform.
absl::Status SampleParams(absl::Span<const double> params, absl::Span<const double> cov, int64_t draws,
                          uint64_t seed, absl::Span<double> out);

// Per-client intervals over parameter draws (draws*4 values (r, alpha, a, b),
// as SampleParams gives them): for each client the predictions under every
// draw, and their quantiles (1 - level) / 2 and (1 + level) / 2 with linear
// interpolation between order statistics (numpy's default). Outputs of n
// values; an empty pair is skipped. Clients run in parallel blocks, each one
// on its own: results do not depend on the thread count.
struct IntervalOutputs {
  absl::Span<double> expected_lower, expected_upper, alive_lower, alive_upper;
};
absl::Status BgNbdPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                   absl::Span<const double> t_x, absl::Span<const double> T, double t, double level,
                                   const IntervalOutputs& out);

// Lifetime value intervals: value_d = margin * spend_d(x, m) * sum_j c_j
// E_d[Y(t_j)], with spend_d the Gamma-Gamma posterior mean spend under
// spend draw d (draws*3 values (p, q, v); a draw with q <= 1 has an
// infinite mean spend and fails) and E_d the BG/NBD expectation under
// purchase draw d. horizons t_j (in periods) and their weights c_j describe
// the discounted sum (see lifetime_value). Outputs n values each.
absl::Status LifetimeValueIntervals(absl::Span<const double> bg_draws, absl::Span<const double> gg_draws,
                                    absl::Span<const double> x, absl::Span<const double> t_x,
                                    absl::Span<const double> T, absl::Span<const double> m,
                                    absl::Span<const double> horizons, absl::Span<const double> coefficients,
                                    double margin, double level, absl::Span<double> lower, absl::Span<double> upper);

// Digamma function for x > 0, exposed for tests.
double Digamma(double x);

}  // namespace twinscore
