// Client lifetime value: the Pareto/NBD purchase model (Schmittlein, Morrison
// & Colombo 1987), fitted by maximum likelihood on the summaries of clv.h
// (x, t_x, T, optional weights: same conventions and checks as the BG/NBD).
//
// Purchase rates are Gamma(r, alpha) across clients; each client's lifetime
// is exponential with a rate that is Gamma(s, beta) across clients (dropout
// in continuous time, not at purchases). The likelihood of a client (Fader,
// Hardie & Lee 2005, "A note on deriving the Pareto/NBD model and related
// expressions", eq. 22 in integral form) is
//   Gamma(r + x) alpha^r beta^s / Gamma(r) * [E1 + s A0],
//   E1 = (alpha + T)^-(r + x) (beta + T)^-s,
//   A0 = integral over (t_x, T] of (alpha + u)^-(r + x) (beta + u)^-(s + 1) du,
// where A0 is the note's difference of two Gauss hypergeometric terms
// 2F1(r + s + x, q; r + s + x + 1; z) (alpha + t)^-(r + s + x) / (r + s + x)
// at t = t_x and t = T. Everything is computed in log space (no overflow for
// x in the thousands or T in the thousands of periods).
#pragma once

#include <array>
#include <cstdint>

#include "twinscore/clv.h"
#include "twinscore/common.h"

namespace twinscore {

// r, alpha (purchase rates Gamma(r, alpha)), s, beta (dropout rates
// Gamma(s, beta)), all finite and > 0.
struct ParetoNbdParams {
  double r = 1, alpha = 1, s = 1, beta = 1;
};

// How A0 is computed. kAuto: the series where it converges in a few hundred
// terms and the two terms do not cancel, else the quadrature.
// kSeries: log A0 = log(J(t_x) - J(T)), each J(t) = integral over (t, inf)
// summed as the 2F1 series in the parametrisation that keeps z in [0, 1):
// with m = max(alpha, beta), z = |alpha - beta| / (m + t); the terms are
// rescaled as they grow (log-sum scaling) and added until a geometric bound
// of the tail is below 1e-17 of the sum (at most 100,000 terms; past that,
// kAuto falls back to the quadrature and kSeries fails).
// kQuadrature: Gauss-Legendre (20 nodes) on panels of (t_x, T] no wider than
// 4 e-folding lengths of the integrand and than the distance to its nearest
// singularity (-alpha or -beta), so each panel's integrand is analytic far
// beyond it; panels stop once a bound on the rest is below 1e-17 of the sum.
enum class ParetoNbdMethod : int { kAuto = 0, kSeries = 1, kQuadrature = 2 };

// log A0 (-inf when t_x = T) and the derivatives of log A0 in (r, alpha, s,
// beta) (0 when A0 = 0); `method` reports the one used. Exposed for tests.
struct ParetoNbdIntegral {
  double log_value = 0;
  std::array<double, 4> dlog{};
  ParetoNbdMethod method = ParetoNbdMethod::kAuto;
};
absl::StatusOr<ParetoNbdIntegral> ParetoNbdLogIntegral(const ParetoNbdParams& p, double x, double t_x, double T,
                                                       ParetoNbdMethod method);

// Total log-likelihood; `gradient` (4 values: d/dr, d/dalpha, d/ds, d/dbeta)
// is written when not empty.
absl::StatusOr<double> ParetoNbdLogLikelihood(const ParetoNbdParams& p, absl::Span<const double> x,
                                              absl::Span<const double> t_x, absl::Span<const double> T,
                                              absl::Span<const double> weights, absl::Span<double> gradient);

// Maximum-likelihood fit on log r, log alpha, log(s / beta) (the mean dropout
// rate) and log s (L-BFGS with the analytic gradient; box-bounded as the
// BG/NBD fit: |log| <= 30, and |log s| <= 12). When the supremum lies at s,
// beta -> infinity with s / beta fixed (one dropout rate for all), the fit
// stops at s = e^12, within rounding of it. Sums run in fixed blocks combined in block order: bit-identical
// whatever the thread count. Fails with kFailedPrecondition when it does not
// converge.
absl::StatusOr<ParetoNbdParams> FitParetoNbd(absl::Span<const double> x, absl::Span<const double> t_x,
                                             absl::Span<const double> T, absl::Span<const double> weights,
                                             const FitOptions& options, FitReport* report);

// For each client: expected purchases in (T, T + t] and the probability of
// being alive at T (either output may be empty to skip it):
//   P(alive) = E1 / (E1 + s A0),
//   E[Y(t)] = P(alive) (r + x) (beta + T) / (alpha + T) G(s, t / (beta + T)),
//   G(s, u) = (1 - (1 + u)^-(s - 1)) / (s - 1)  (log(1 + u) at s = 1).
absl::Status ParetoNbdPredict(const ParetoNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                              absl::Span<const double> T, double t, absl::Span<double> expected,
                              absl::Span<double> p_alive);

// Expected purchases of a new client (x = 0 at time 0) in (0, t]:
// r beta / alpha G(s, t / beta).
absl::StatusOr<double> ParetoNbdExpectedNew(const ParetoNbdParams& p, double t);

// Covariance of (r, alpha, s, beta) from the observed information at the fit,
// as BgNbdCovariance (central differences of the analytic gradient in the
// fit's coordinates, mapped by the delta method; a coordinate on its box
// bound is held: rows and columns 0, flagged fixed; s held at e^12 gives
// Boundary::kScaleHeld, s fixed and beta varying with the mean rate s / beta).
absl::Status ParetoNbdCovariance(const ParetoNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                                 absl::Span<const double> T, absl::Span<const double> weights, double penalizer,
                                 Uncertainty* out);

// Per-client intervals over parameter draws (draws*4 values (r, alpha, s,
// beta), as SampleParams gives them), as BgNbdPredictIntervals: quantiles
// (1 -/+ level) / 2 of the predictions under every draw. Clients sharing an
// (x, t_x, T) pattern share their draws' predictions, computed once.
absl::Status ParetoNbdPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                       absl::Span<const double> t_x, absl::Span<const double> T, double t,
                                       double level, const IntervalOutputs& out);

// Lifetime value under every draw, as LifetimeValueIntervals with the
// Pareto/NBD expectation: value_d = margin * spend_d(x, m) * sum_j c_j
// E_d[Y(t_j)]. With one draw of each and any level, lower = upper = the
// point value.
absl::Status ParetoNbdValueIntervals(absl::Span<const double> pnbd_draws, absl::Span<const double> gg_draws,
                                     absl::Span<const double> x, absl::Span<const double> t_x,
                                     absl::Span<const double> T, absl::Span<const double> m,
                                     absl::Span<const double> horizons, absl::Span<const double> coefficients,
                                     double margin, double level, absl::Span<double> lower,
                                     absl::Span<double> upper);

}  // namespace twinscore
