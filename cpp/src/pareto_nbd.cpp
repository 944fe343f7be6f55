#include "twinscore/pareto_nbd.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "absl/container/flat_hash_map.h"
#include "clv_internal.h"
#include "twinscore/threads.h"

namespace twinscore {
using namespace clv_internal;  // NOLINT: the shared helpers of the lifetime-value engines

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

absl::Status CheckParams(const ParetoNbdParams& p) {
  for (double v : {p.r, p.alpha, p.s, p.beta}) {
    TWINSCORE_CHECK_ARG(std::isfinite(v) && v > 0, "Pareto/NBD parameters must be finite and > 0, got r = ", p.r,
                        ", alpha = ", p.alpha, ", s = ", p.s, ", beta = ", p.beta);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- the series

// J(t) = integral over (t, inf) of (u + tau)^-p (v + tau)^-q, u >= v, as
//   (u + t)^-a sum_n (q)_n / n! z^n / (a + n),  a = p + q - 1, z = (u - v) / (u + t),
// i.e. (u + t)^-a / a 2F1(a, q; a + 1; z). With the slopes of log J in
// (p, q, u, v), from sums of positive terms computed in the same pass:
//   Sp = sum c_n / (a + n)^2, Sq = sum c_n H_n / (a + n) (H_n = sum_{k<n} 1 / (q + k)),
//   Sz = sum n c_n / z / (a + n).
struct LogJ {
  double log_value;  // log of the sum, without the factor (u + t)^-a
  std::array<double, 4> d;  // d log J / d(p, q, u, v)
};

constexpr int kMaxSeriesTerms = 100'000;

// False when the series needs more than kMaxSeriesTerms terms.
bool SeriesJ(double p, double q, double u, double v, double t, LogJ* out) {
  const double a = p + q - 1, ut = u + t, z = (u - v) / ut;
  double c = 1.0;   // (q)_n / n! z^n, rescaled
  double cz = 0.0;  // n (q)_n / n! z^(n-1), on the same scale
  double h = 0.0;   // H_n
  double s0 = 0, sp = 0, sq = 0, sz = 0, log_scale = 0;
  for (int n = 0; n <= kMaxSeriesTerms; ++n) {
    const double nd = n, inv = 1.0 / (a + nd);
    s0 += c * inv;
    sp += c * inv * inv;
    sq += c * h * inv;
    sz += cz * inv;
    // Next term: c_{n+1} = c_n z (q + n) / (n + 1); cz_{n+1} = c_n (q + n) (the
    // derivative of z^(n+1) is (n + 1) z^n); H_{n+1} = H_n + 1 / (q + n).
    cz = c * (q + nd);
    c *= z * (q + nd) / (nd + 1);
    h += 1.0 / (q + nd);
    if (c > 1e200 || cz > 1e200) {
      for (double* w : {&c, &cz, &s0, &sp, &sq, &sz}) *w *= 1e-200;
      log_scale += 200 * std::log(10.0);
    }
    if (n < 1) continue;
    // Every term ratio from here on is at most rho: the c ratio
    // z (q + k) / (k + 1) is bounded by z max(1, (q + n) / (n + 1)), and H
    // and the factor n of Sz grow by at most (1 + 1 / n) a step; 1 / (a + n) falls.
    const double rho = z * std::max(1.0, (q + nd + 1) / (nd + 2)) * (1.0 + 1.0 / (nd + 1));
    if (rho >= 1) continue;
    // The rest of each sum is at most its next term / (1 - rho).
    const double tf = 1.0 / (1 - rho), eps = 1e-17, inv1 = 1.0 / (a + nd + 1);
    if (c * inv1 * tf <= eps * s0 && c * inv1 * inv1 * tf <= eps * sp && c * h * inv1 * tf <= eps * sq &&
        cz * inv1 * tf <= eps * sz) {
      out->log_value = log_scale + std::log(s0);  // without the factor (u + t)^-a
      const double lu = std::log(ut);
      out->d[0] = -lu - sp / s0;
      out->d[1] = -lu + (sq - sp) / s0;
      out->d[2] = -a / ut + sz / s0 * (v + t) / (ut * ut);
      out->d[3] = -sz / s0 / ut;
      return true;
    }
  }
  return false;
}

// Estimated number of series terms: the terms peak near n = (q z - 1) / (1 - z)
// and then fall by about z a step.
double SeriesCost(double q, double z) { return (q * z + 40.0) / (1.0 - z); }

// log(beta^s J) in the parametrisation with u = max(alpha, beta), its slopes
// (of log J) mapped to (r, alpha, s, beta). The factor beta^s (the
// likelihood's) is folded into (u + t)^-(r + s + x) as a ratio, so that s log
// beta and -s log(beta + t), both huge when s and beta are (the fit's edge
// where every client has nearly the same dropout rate), never cancel.
bool SeriesJNatural(const ParetoNbdParams& p, double x, double t, std::array<double, 4>* d, double* log_value) {
  LogJ j;
  const double rx = p.r + x, s1 = p.s + 1;
  if (p.alpha >= p.beta) {
    if (!SeriesJ(rx, s1, p.alpha, p.beta, t, &j)) return false;
    *d = {j.d[0], j.d[2], j.d[1], j.d[3]};
    *log_value = j.log_value - rx * std::log(p.alpha + t) - p.s * std::log((p.alpha + t) / p.beta);
  } else {
    if (!SeriesJ(s1, rx, p.beta, p.alpha, t, &j)) return false;
    *d = {j.d[1], j.d[3], j.d[0], j.d[2]};
    *log_value = j.log_value - rx * std::log(p.beta + t) - p.s * std::log1p(t / p.beta);
  }
  return true;
}

// ---------------------------------------------------------------- the quadrature

struct GaussLegendre {
  static constexpr int kN = 20;
  std::array<double, kN> node, weight;  // on [-1, 1]
  GaussLegendre() {
    for (int i = 0; i < kN; ++i) {
      double xi = std::cos(M_PI * (i + 0.75) / (kN + 0.5));  // Newton on P_n from the usual guess
      double dp = 0;
      for (int it = 0; it < 100; ++it) {
        double p0 = 1, p1 = xi;
        for (int k = 2; k <= kN; ++k) {
          const double p2 = ((2 * k - 1) * xi * p1 - (k - 1) * p0) / k;
          p0 = p1;
          p1 = p2;
        }
        dp = kN * (xi * p1 - p0) / (xi * xi - 1);
        const double step = p1 / dp;
        xi -= step;
        if (std::abs(step) < 1e-16) break;
      }
      node[i] = xi;
      weight[i] = 2 / ((1 - xi * xi) * dp * dp);
    }
  }
};

const GaussLegendre& Nodes() {
  static const GaussLegendre gl;
  return gl;
}

ParetoNbdIntegral QuadratureA0(const ParetoNbdParams& p, double x, double t_x, double T) {
  const double rx = p.r + x, s1 = p.s + 1;
  auto log_f = [&](double tau) { return -rx * std::log(p.alpha + tau) - s1 * std::log(p.beta + tau); };
  const double f0 = log_f(t_x), lo = std::min(p.alpha, p.beta), hi = std::max(p.alpha, p.beta);
  const GaussLegendre& gl = Nodes();
  std::array<double, 5> q{};  // integrals of g, g log(alpha + u), g / (alpha + u), g log(beta + u), g / (beta + u)
  double tau0 = t_x;
  for (int panel = 0; panel < 100'000 && tau0 < T; ++panel) {
    const double fold = 1.0 / (rx / (p.alpha + tau0) + s1 / (p.beta + tau0));
    const double width = std::min({4 * fold, lo + tau0, T - tau0});
    const double mid = tau0 + width / 2, half = width / 2;
    for (int i = 0; i < GaussLegendre::kN; ++i) {
      const double u = mid + half * gl.node[i];
      const double la = std::log(p.alpha + u), lb = std::log(p.beta + u);
      const double g = gl.weight[i] * half * std::exp(-rx * la - s1 * lb - f0);
      q[0] += g;
      q[1] += g * la;
      q[2] += g / (p.alpha + u);
      q[3] += g * lb;
      q[4] += g / (p.beta + u);
    }
    tau0 += width;
    if (tau0 >= T) break;
    // The integrand is at most g(tau0) (1 + (u - tau0) / (hi + tau0))^-(r + x + s + 1)
    // beyond tau0: the rest is below g(tau0) min(T - tau0, (hi + tau0) / (r + x + s)).
    const double rest = std::exp(log_f(tau0) - f0) * std::min(T - tau0, (hi + tau0) / (rx + p.s));
    if (rest <= 1e-17 * q[0]) break;
  }
  ParetoNbdIntegral out;
  out.method = ParetoNbdMethod::kQuadrature;
  // log(beta^s A0): f0 + s log beta without the cancellation of s log beta and -s log(beta + t_x).
  out.log_value = -rx * std::log(p.alpha + t_x) - std::log(p.beta + t_x) - p.s * std::log1p(t_x / p.beta) +
                  std::log(q[0]);
  out.dlog = {-q[1] / q[0], -rx * q[2] / q[0], -q[3] / q[0], -s1 * q[4] / q[0]};
  return out;
}

// log(beta^s A0) and the slopes of log A0; A0 = 0 when t_x = T.
absl::StatusOr<ParetoNbdIntegral> LogA0(const ParetoNbdParams& p, double x, double t_x, double T,
                                        ParetoNbdMethod method) {
  ParetoNbdIntegral out;
  if (!(t_x < T)) {
    out.log_value = kNegInf;
    return out;
  }
  const bool automatic = method == ParetoNbdMethod::kAuto;
  if (automatic) {
    const double hi = std::max(p.alpha, p.beta), z = std::abs(p.alpha - p.beta) / (hi + t_x);
    const double q = p.alpha >= p.beta ? p.s + 1 : p.r + x;
    method = SeriesCost(q, z) <= 400 ? ParetoNbdMethod::kSeries : ParetoNbdMethod::kQuadrature;
  }
  if (method == ParetoNbdMethod::kQuadrature) return QuadratureA0(p, x, t_x, T);
  std::array<double, 4> d1, d2;
  double l1, l2;
  if (!SeriesJNatural(p, x, t_x, &d1, &l1) || !SeriesJNatural(p, x, T, &d2, &l2)) {
    if (!automatic) {
      return absl::FailedPreconditionError("Pareto/NBD: the 2F1 series did not converge in 100,000 terms");
    }
    return QuadratureA0(p, x, t_x, T);
  }
  // A0 = J(t_x) - J(T) = J(t_x) (1 - ratio). When the two are close, the
  // difference loses digits (a relative error of ~eps / (1 - ratio)): the
  // quadrature over the short interval does not.
  const double ratio = std::exp(l2 - l1);
  if (ratio > 0.9 && automatic) return QuadratureA0(p, x, t_x, T);
  out.method = ParetoNbdMethod::kSeries;
  out.log_value = l1 + std::log1p(-ratio);
  for (int k = 0; k < 4; ++k) out.dlog[k] = (d1[k] - ratio * d2[k]) / (1 - ratio);
  return out;
}

// ---------------------------------------------------------------- one client

// log-likelihood of one summary, its gradient (may be null) and P(alive).
struct ClientTerm {
  double log_likelihood;
  double p_alive;
};

absl::StatusOr<ClientTerm> Client(const ParetoNbdParams& p, double x, double t_x, double T,
                                  std::array<double, 4>* grad) {
  const double rx = p.r + x;
  const double la_T = std::log(p.alpha + T);
  // E1 and s A0 times beta^s (see SeriesJNatural).
  const double log_e1 = -rx * la_T - p.s * std::log1p(T / p.beta);
  absl::StatusOr<ParetoNbdIntegral> a0 = LogA0(p, x, t_x, T, ParetoNbdMethod::kAuto);
  if (!a0.ok()) return a0.status();
  const double log_b = std::log(p.s) + a0->log_value;
  const double top = std::max(log_e1, log_b);
  const double e1 = std::exp(log_e1 - top), b = std::exp(log_b - top), sum = e1 + b;
  const double pa = e1 / sum, pb = b / sum;
  const double ll = std::lgamma(rx) - std::lgamma(p.r) + p.r * std::log(p.alpha) + top + std::log(sum);
  if (grad) {
    const std::array<double, 4>& d = a0->dlog;
    (*grad)[0] = Digamma(rx) - Digamma(p.r) + std::log(p.alpha) - pa * la_T + pb * d[0];
    (*grad)[1] = p.r / p.alpha - pa * rx / (p.alpha + T) + pb * d[1];
    (*grad)[2] = -pa * std::log1p(T / p.beta) + pb * (1.0 / p.s + d[2] + std::log(p.beta));
    (*grad)[3] = p.s / p.beta - pa * p.s / (p.beta + T) + pb * d[3];
  }
  return ClientTerm{ll, pa};
}

// (1 - (1 + u)^-(s - 1)) / (s - 1), and its limit log(1 + u) at s = 1.
double Growth(double s, double u) {
  const double l = std::log1p(u), e = s - 1;
  if (std::abs(e * l) < 1e-8) return l * (1 - e * l / 2);
  return -std::expm1(-e * l) / e;
}

// E[Y(t)] of a client alive at T.
double ExpectedIfAlive(const ParetoNbdParams& p, double x, double T, double t) {
  return (p.r + x) * (p.beta + T) / (p.alpha + T) * Growth(p.s, t / (p.beta + T));
}

// Sum over blocks of the log-likelihood and its gradient; the first error
// (in block order) is returned.
absl::StatusOr<double> Sum(const ParetoNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                           absl::Span<const double> T, absl::Span<const double> w, std::array<double, 4>* grad) {
  std::vector<absl::Status> errors(NumBlocks(x.size(), kBlock));
  const double total = BlockSum<4>(x.size(), w, grad, [&](size_t i, std::array<double, 4>& g) {
    absl::StatusOr<ClientTerm> c = Client(p, x[i], t_x[i], T[i], &g);
    if (c.ok()) return c->log_likelihood;
    errors[i / kBlock] = c.status();
    g.fill(0.0);
    return 0.0;
  });
  for (const absl::Status& e : errors) TWINSCORE_RETURN_IF_ERROR(e);
  return total;
}

// The fit's coordinates theta = (log r, log alpha, log(s / beta), log(s) /
// kShapeScale). The likelihood's supremum can lie at s, beta -> infinity with
// s / beta fixed (every client drops out at one rate: the Pareto/NBD's edge
// that BG/NBD fits reach as a + b -> infinity); along that ridge only the
// last coordinate moves, and its box bound (|theta| <= 30) stops it at
// s = e^12 (dropout rates with a coefficient of variation of 0.25 %), where
// double precision still resolves the likelihood's slope.
constexpr double kShapeScale = 0.4;

ParetoNbdParams ParamsOfTheta(const std::array<double, 4>& th) {
  const double log_s = kShapeScale * th[3];
  return {std::exp(th[0]), std::exp(th[1]), std::exp(log_s), std::exp(log_s - th[2])};
}

std::array<double, 4> ThetaOfParams(const ParetoNbdParams& p) {
  return {std::log(p.r), std::log(p.alpha), std::log(p.s / p.beta), std::log(p.s) / kShapeScale};
}

// Penalised mean negative log-likelihood in theta. A failed evaluation is
// +inf (the line search backtracks).
struct Objective {
  absl::Span<const double> x, t_x, T, w;
  double total_weight, penalizer;

  double operator()(const std::array<double, 4>& th, std::array<double, 4>* grad) const {
    const ParetoNbdParams p = ParamsOfTheta(th);
    const std::array<double, 4> pv{p.r, p.alpha, p.s, p.beta};
    std::array<double, 4> g;
    absl::StatusOr<double> ll = Sum(p, x, t_x, T, w, &g);
    if (!ll.ok()) {
      grad->fill(0.0);
      return std::numeric_limits<double>::infinity();
    }
    double v = *ll;
    for (size_t k = 0; k < 4; ++k) {
      v -= penalizer * pv[k] * pv[k];
      g[k] = (g[k] - 2 * penalizer * pv[k]) * pv[k];  // d / d log(parameter)
    }
    // Chain rule: d beta / d theta_2 = -beta; d log s / d theta_3 = kShapeScale, and beta moves with s.
    const std::array<double, 4> dth{g[0], g[1], -g[3], kShapeScale * (g[2] + g[3])};
    for (size_t k = 0; k < 4; ++k) (*grad)[k] = -dth[k] / total_weight;
    return -v / total_weight;
  }
};

}  // namespace

absl::StatusOr<ParetoNbdIntegral> ParetoNbdLogIntegral(const ParetoNbdParams& p, double x, double t_x, double T,
                                                       ParetoNbdMethod method) {
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  const double xs[1] = {x}, ts[1] = {t_x}, Ts[1] = {T};
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(xs, ts, Ts, {}));
  absl::StatusOr<ParetoNbdIntegral> r = LogA0(p, x, t_x, T, method);
  if (r.ok()) r->log_value -= p.s * std::log(p.beta);
  return r;
}

absl::StatusOr<double> ParetoNbdLogLikelihood(const ParetoNbdParams& p, absl::Span<const double> x,
                                              absl::Span<const double> t_x, absl::Span<const double> T,
                                              absl::Span<const double> weights, absl::Span<double> gradient) {
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(gradient.empty() || gradient.size() == 4, "gradient must hold 4 values");
  std::array<double, 4> g;
  absl::StatusOr<double> ll = Sum(p, x, t_x, T, weights, &g);
  if (ll.ok() && !gradient.empty()) std::copy(g.begin(), g.end(), gradient.begin());
  return ll;
}

absl::StatusOr<ParetoNbdParams> FitParetoNbd(absl::Span<const double> x, absl::Span<const double> t_x,
                                             absl::Span<const double> T, absl::Span<const double> weights,
                                             const FitOptions& options, FitReport* report) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  const double W = TotalWeight(x.size(), weights);
  TWINSCORE_CHECK_ARG(W > 0, "the weights sum to 0");
  double mean_T = 0, mean_x = 0;
  for (size_t i = 0; i < T.size(); ++i) {
    const double wi = weights.empty() ? 1.0 : weights[i];
    mean_T += wi * T[i];
    mean_x += wi * x[i];
  }
  mean_T = std::max(mean_T / W, 1e-3);
  mean_x /= W;
  const Objective objective{x, t_x, T, weights, W, options.penalizer};
  std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn = objective;
  // Start at r = s = 1, alpha with the mean rate r / alpha = the observed
  // mean rate (at least 1 purchase per 100 mean T), beta = mean T.
  const double rate = std::max(mean_x, 0.01) / mean_T;
  std::array<double, 4> theta = ThetaOfParams({1.0, 1.0 / rate, 1.0, mean_T});
  FitReport local;
  FitReport* rep = report ? report : &local;
  TWINSCORE_RETURN_IF_ERROR(MinimizeLbfgs<4>(fn, &theta, options, "Pareto/NBD", rep));
  const ParetoNbdParams p = ParamsOfTheta(theta);
  std::array<double, 4> g;
  absl::StatusOr<double> ll = Sum(p, x, t_x, T, weights, &g);
  if (!ll.ok()) return ll.status();
  rep->log_likelihood = *ll;
  return p;
}

absl::Status ParetoNbdPredict(const ParetoNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                              absl::Span<const double> T, double t, absl::Span<double> expected,
                              absl::Span<double> p_alive) {
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(t_x.size() == n && T.size() == n, "frequency, recency and T must have the same length");
  TWINSCORE_CHECK_ARG(expected.empty() || expected.size() == n, "expected must hold ", n, " values");
  TWINSCORE_CHECK_ARG(p_alive.empty() || p_alive.size() == n, "p_alive must hold ", n, " values");
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  return ParallelBlocksStatus(n, kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      absl::StatusOr<ClientTerm> c = Client(p, x[i], t_x[i], T[i], nullptr);
      if (!c.ok()) return c.status();
      if (!p_alive.empty()) p_alive[i] = c->p_alive;
      if (!expected.empty()) expected[i] = c->p_alive * ExpectedIfAlive(p, x[i], T[i], t);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<double> ParetoNbdExpectedNew(const ParetoNbdParams& p, double t) {
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  return p.r * p.beta / p.alpha * Growth(p.s, t / p.beta);
}

absl::Status ParetoNbdCovariance(const ParetoNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                                 absl::Span<const double> T, absl::Span<const double> weights, double penalizer,
                                 Uncertainty* out) {
  TWINSCORE_RETURN_IF_ERROR(CheckUncertaintyOut(out, 4));
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  const std::array<double, 4> theta = ThetaOfParams(p);
  const Objective objective{x, t_x, T, weights, 1.0, penalizer};  // total, not mean
  const std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn = objective;
  const Eigen::MatrixXd info = Information<4>(fn, theta);
  std::vector<bool> held(4);
  for (size_t k = 0; k < 4; ++k) held[k] = AtBound(theta[k]);
  const std::optional<Eigen::MatrixXd> cov = FreeCovariance(info, held);
  if (!cov) {
    return absl::FailedPreconditionError("Pareto/NBD: the observed information is not positive definite at the "
                                         "fit: the data do not identify the parameters (too few repeat buyers?)");
  }
  // d(r, alpha, s, beta) / d theta.
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(4, 4);
  J(0, 0) = p.r;
  J(1, 1) = p.alpha;
  J(3, 2) = -p.beta;
  J(2, 3) = kShapeScale * p.s;
  J(3, 3) = kShapeScale * p.beta;
  for (int k = 0; k < 4; ++k) {
    if (held[k]) J.col(k).setZero();
  }
  const Eigen::MatrixXd natural = J * (*cov) * J.transpose();
  // The shape s held at its bound: the dropout rates are (nearly) one rate s / beta for all.
  return WriteUncertainty((natural + natural.transpose()) / 2, J, held[3] ? Boundary::kScaleHeld : Boundary::kInterior,
                          out);
}

namespace {

// Clients grouped by their (x, t_x, T) pattern: everything a Pareto/NBD
// prediction needs of a client. `pattern[i]` numbers client i's pattern (in
// order of first appearance); x, t_x, T hold one value per pattern.
struct Patterns {
  std::vector<double> x, t_x, T;
  std::vector<int64_t> pattern;
};

Patterns GroupPatterns(absl::Span<const double> x, absl::Span<const double> t_x, absl::Span<const double> T) {
  Patterns g;
  absl::flat_hash_map<std::array<double, 3>, int64_t> index;
  g.pattern.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const std::array<double, 3> key{x[i] + 0.0, t_x[i] + 0.0, T[i] + 0.0};  // +0.0: -0.0 shares 0's key
    auto [it, inserted] = index.try_emplace(key, static_cast<int64_t>(g.x.size()));
    if (inserted) {
      g.x.push_back(key[0]);
      g.t_x.push_back(key[1]);
      g.T.push_back(key[2]);
    }
    g.pattern[i] = it->second;
  }
  return g;
}

absl::Status CheckDrawParams(absl::Span<const double> draws) {
  for (size_t d = 0; d < draws.size() / 4; ++d) {
    const double* q = draws.data() + 4 * d;
    TWINSCORE_RETURN_IF_ERROR(CheckParams({q[0], q[1], q[2], q[3]}));
  }
  return absl::OkStatus();
}

// fill(k, row) writes the D per-draw values of pattern k, for patterns in
// chunks whose table stays below 2^24 doubles; then client(i, row) for the
// clients of the chunk. Each pattern and client is computed on its own in
// fixed blocks: results do not depend on the thread count.
template <class Fill, class ClientFn>
absl::Status OverPatterns(const Patterns& g, size_t D, Fill&& fill, ClientFn&& client) {
  const size_t K = g.x.size(), chunk = std::max<size_t>(1, (size_t{1} << 24) / D);
  std::vector<double> table;
  for (size_t k0 = 0; k0 < K; k0 += chunk) {
    const size_t k1 = std::min(K, k0 + chunk);
    table.assign((k1 - k0) * D, 0.0);
    TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(k1 - k0, 16, [&](size_t, size_t b, size_t e) -> absl::Status {
      for (size_t k = b; k < e; ++k) TWINSCORE_RETURN_IF_ERROR(fill(k0 + k, table.data() + k * D));
      return absl::OkStatus();
    }));
    ParallelBlocks(g.pattern.size(), 4096, [&](size_t, size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        const int64_t k = g.pattern[i];
        if (k >= static_cast<int64_t>(k0) && k < static_cast<int64_t>(k1)) {
          client(i, table.data() + (k - static_cast<int64_t>(k0)) * D);
        }
      }
    });
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParetoNbdPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                       absl::Span<const double> t_x, absl::Span<const double> T, double t,
                                       double level, const IntervalOutputs& out) {
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(draws, 4, "Pareto/NBD"));
  TWINSCORE_RETURN_IF_ERROR(CheckLevel(level));
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  TWINSCORE_RETURN_IF_ERROR(CheckDrawParams(draws));
  const size_t n = x.size(), D = draws.size() / 4;
  for (auto s : {out.expected_lower, out.expected_upper, out.alive_lower, out.alive_upper}) {
    TWINSCORE_CHECK_ARG(s.empty() || s.size() == n, "interval outputs must hold ", n, " values");
  }
  const bool want_e = !out.expected_lower.empty(), want_a = !out.alive_lower.empty();
  const Patterns g = GroupPatterns(x, t_x, T);
  // Per pattern: the quantiles of the expected purchases and of P(alive).
  const size_t K = g.x.size();
  std::vector<double> lo_e(K), hi_e(K), lo_a(K), hi_a(K);
  const double lo_q = (1 - level) / 2, hi_q = (1 + level) / 2;
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(K, 16, [&](size_t, size_t b, size_t e) -> absl::Status {
    std::vector<double> ev(D), av(D);
    for (size_t k = b; k < e; ++k) {
      for (size_t d = 0; d < D; ++d) {
        const double* q = draws.data() + 4 * d;
        const ParetoNbdParams p{q[0], q[1], q[2], q[3]};
        absl::StatusOr<ClientTerm> c = Client(p, g.x[k], g.t_x[k], g.T[k], nullptr);
        if (!c.ok()) return c.status();
        av[d] = c->p_alive;
        ev[d] = want_e ? c->p_alive * ExpectedIfAlive(p, g.x[k], g.T[k], t) : 0.0;
      }
      if (want_e) {
        lo_e[k] = Quantile(ev.data(), D, lo_q);
        hi_e[k] = Quantile(ev.data(), D, hi_q);
      }
      if (want_a) {
        lo_a[k] = Quantile(av.data(), D, lo_q);
        hi_a[k] = Quantile(av.data(), D, hi_q);
      }
    }
    return absl::OkStatus();
  }));
  ParallelBlocks(n, kBlock, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const int64_t k = g.pattern[i];
      if (want_e) {
        out.expected_lower[i] = lo_e[k];
        out.expected_upper[i] = hi_e[k];
      }
      if (want_a) {
        out.alive_lower[i] = lo_a[k];
        out.alive_upper[i] = hi_a[k];
      }
    }
  });
  return absl::OkStatus();
}

absl::Status ParetoNbdValueIntervals(absl::Span<const double> pnbd_draws, absl::Span<const double> gg_draws,
                                     absl::Span<const double> x, absl::Span<const double> t_x,
                                     absl::Span<const double> T, absl::Span<const double> m,
                                     absl::Span<const double> horizons, absl::Span<const double> coefficients,
                                     double margin, double level, absl::Span<double> lower,
                                     absl::Span<double> upper) {
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(pnbd_draws, 4, "Pareto/NBD"));
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(gg_draws, 3, "Gamma-Gamma"));
  TWINSCORE_RETURN_IF_ERROR(CheckLevel(level));
  const size_t D = pnbd_draws.size() / 4, n = x.size();
  TWINSCORE_CHECK_ARG(gg_draws.size() / 3 == D, "Pareto/NBD and Gamma-Gamma draws differ in number: ", D, " and ",
                      gg_draws.size() / 3);
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  TWINSCORE_CHECK_ARG(m.size() == n && lower.size() == n && upper.size() == n,
                      "monetary and the outputs must hold ", n, " values");
  TWINSCORE_CHECK_ARG(!horizons.empty() && horizons.size() == coefficients.size(),
                      "horizons and coefficients must be non-empty and of one length");
  for (size_t j = 0; j < horizons.size(); ++j) {
    TWINSCORE_CHECK_ARG(std::isfinite(horizons[j]) && horizons[j] >= 0 && std::isfinite(coefficients[j]),
                        "horizons must be finite and >= 0, coefficients finite");
  }
  TWINSCORE_CHECK_ARG(std::isfinite(margin) && margin >= 0, "margin must be finite and >= 0, got ", margin);
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(x[i] == 0 || (std::isfinite(m[i]) && m[i] >= 0), "monetary value at position ", i,
                        " must be finite and >= 0 when frequency > 0, got ", m[i]);
  }
  TWINSCORE_RETURN_IF_ERROR(CheckDrawParams(pnbd_draws));
  for (size_t d = 0; d < D; ++d) {
    const double* s = gg_draws.data() + 3 * d;
    TWINSCORE_CHECK_ARG(std::isfinite(s[0]) && s[0] > 0 && std::isfinite(s[2]) && s[2] > 0 && s[1] > 1,
                        "Gamma-Gamma draw ", d, " has q = ", s[1], " <= 1 (an infinite mean spend): the spend model's "
                        "q is too close to 1 for an interval");
  }
  const Patterns g = GroupPatterns(x, t_x, T);
  const double lo_q = (1 - level) / 2, hi_q = (1 + level) / 2;
  return OverPatterns(
      g, D,
      [&](size_t k, double* row) -> absl::Status {
        for (size_t d = 0; d < D; ++d) {
          const double* q = pnbd_draws.data() + 4 * d;
          const ParetoNbdParams p{q[0], q[1], q[2], q[3]};
          absl::StatusOr<ClientTerm> c = Client(p, g.x[k], g.t_x[k], g.T[k], nullptr);
          if (!c.ok()) return c.status();
          double sum = 0;
          for (size_t j = 0; j < horizons.size(); ++j) {
            sum += coefficients[j] * ExpectedIfAlive(p, g.x[k], g.T[k], horizons[j]);
          }
          row[d] = c->p_alive * sum;
        }
        return absl::OkStatus();
      },
      [&](size_t i, const double* row) {
        thread_local std::vector<double> v;
        v.resize(D);
        for (size_t d = 0; d < D; ++d) {
          const double* s = gg_draws.data() + 3 * d;
          const double px = s[0] * x[i];
          const double spend = (s[0] * s[2] + (x[i] > 0 ? px * m[i] : 0.0)) / (px + s[1] - 1);
          v[d] = margin * spend * row[d];
        }
        lower[i] = Quantile(v.data(), D, lo_q);
        upper[i] = Quantile(v.data(), D, hi_q);
      });
}

}  // namespace twinscore
