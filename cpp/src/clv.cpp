#include "twinscore/clv.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "absl/container/flat_hash_map.h"
#include "clv_internal.h"
#include "twinscore/threads.h"

namespace twinscore {

using namespace clv_internal;  // NOLINT: the shared helpers of the lifetime-value engines

double Digamma(double x) {
  // Recurrence up to x >= 10, then the asymptotic series (truncation error < 3e-14 there).
  double acc = 0.0;
  while (x < 10.0) {
    acc -= 1.0 / x;
    x += 1.0;
  }
  const double f = 1.0 / (x * x);
  const double series =
      f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132)))));
  return acc + std::log(x) - 0.5 / x + series;
}

absl::StatusOr<double> BgNbdExpectedIfAlive(double shape, double a, double b_x, double w) {
  TWINSCORE_CHECK_ARG(std::isfinite(shape) && shape > 0, "shape must be finite and > 0, got ", shape);
  TWINSCORE_CHECK_ARG(std::isfinite(a) && a >= 0, "a must be finite and >= 0, got ", a);
  TWINSCORE_CHECK_ARG(b_x > 0 && (std::isfinite(b_x) || a == 0), "b_x must be > 0 (inf only when a = 0), got ",
                      b_x);
  TWINSCORE_CHECK_ARG(std::isfinite(w) && w >= 0, "w = t / (alpha + T) must be finite and >= 0, got ", w);
  if (w == 0) return 0.0;
  const double z = w / (1.0 + w);
  // NBD(n) = p * exp(log_scale): rescaled whenever p grows large, because
  // (1 - z)^shape underflows for long horizons (shape log(1 + w) > 700)
  // while the terms near the mode are of order 1.
  double log_scale = -shape * std::log1p(w);
  double p = 1.0, sum = 0.0;
  double m = 1.0, S = 0.0;  // m = E[(1 - p)^(n - 1)] under Beta(a, b_x); S = S_n
  constexpr int64_t kMaxTerms = 100'000'000;
  for (int64_t n = 1; n <= kMaxTerms; ++n) {
    const double nd = static_cast<double>(n);
    S += m;
    if (a > 0) m *= (b_x + nd - 1) / (a + b_x + nd - 1);
    p *= z * (shape + nd - 1) / nd;
    const double term = p * S;
    sum += term;
    if (p > 1e200) {
      p *= 1e-200;
      sum *= 1e-200;
      log_scale += 200 * std::log(10.0);
    }
    // Tail bound: for k >= n the term ratio is at most
    // z max(1, (shape + k) / (k + 1)) (1 + 1 / k), because S_{k+1} / S_k <=
    // 1 + 1 / k (the m are non-increasing), and that bound falls with k.
    const double rho = z * std::max(1.0, (shape + nd) / (nd + 1)) * (1.0 + 1.0 / nd);
    if (rho < 1 && term * rho / (1 - rho) <= 1e-16 * sum) return std::exp(std::log(sum) + log_scale);
  }
  return absl::FailedPreconditionError(absl::StrCat("expected purchases did not converge in ", kMaxTerms,
                                                    " terms: the horizon t / (alpha + T) = ", w, " is too long"));
}

absl::Status FitOptions::Validate() const {
  TWINSCORE_CHECK_ARG(max_iterations >= 1, "max_iterations must be >= 1, got ", max_iterations);
  TWINSCORE_CHECK_ARG(std::isfinite(gtol) && gtol > 0, "gtol must be > 0, got ", gtol);
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  return absl::OkStatus();
}

namespace {

// ---------------------------------------------------------------- BG/NBD

// Terms that depend on x only, tabulated per evaluation (x is a small whole number).
struct BgNbdTables {
  std::vector<double> a1, a2, dr, da, db, log_bx1;  // log_bx1 = ln(b + x - 1), x >= 1
};

// B(a, b + x) / B(a, b) = prod_{j < x} (b + j) / (a + b + j) and its slopes in
// a and b, by recurrence over x: exact for every a >= 0 and b in (0, inf]
// (a = 0 or b = inf: 1, nobody drops out), and accurate for a + b up to
// e^30, where differences of lgamma values would have lost every digit.
BgNbdTables MakeTables(const BgNbdParams& p, int max_x) {
  BgNbdTables t;
  const size_t m = static_cast<size_t>(max_x) + 1;
  for (auto* v : {&t.a1, &t.a2, &t.dr, &t.da, &t.db, &t.log_bx1}) v->assign(m, 0.0);
  const double lg_r = std::lgamma(p.r), ps_r = Digamma(p.r), log_alpha = std::log(p.alpha);
  for (size_t x = 0; x < m; ++x) {
    const double xd = static_cast<double>(x);
    t.a1[x] = std::lgamma(p.r + xd) - lg_r + p.r * log_alpha;
    t.dr[x] = Digamma(p.r + xd) - ps_r + log_alpha;
    if (x == 0) continue;
    const double bj = p.b + xd - 1, abj = p.a + p.b + xd - 1;  // b + j, a + b + j with j = x - 1
    t.log_bx1[x] = std::log(bj);
    const double share = p.a == 0 ? 0.0 : p.a / abj;  // a / (a + b + j), 0 when b = inf
    t.a2[x] = t.a2[x - 1] + std::log1p(-share);
    t.da[x] = t.da[x - 1] - 1.0 / abj;
    t.db[x] = t.db[x - 1] + share / bj;  // 1 / (b + j) - 1 / (a + b + j)
  }
  return t;
}

// Log-likelihood of the summaries and its gradient in (r, alpha, a, b); a = 0
// (the no-dropout limit) included, where the A4 term vanishes but its slope
// in a stays finite.
double BgNbdSum(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                absl::Span<const double> T, absl::Span<const double> w, int max_x, std::array<double, 4>* grad) {
  const BgNbdTables tab = MakeTables(p, max_x);
  const double log_a = p.a > 0 ? std::log(p.a) : -std::numeric_limits<double>::infinity();
  return BlockSum<4>(x.size(), w, grad, [&](size_t i, std::array<double, 4>& g) {
    const size_t xi = static_cast<size_t>(x[i]);
    const double rx = p.r + x[i];
    const double log_T = std::log(p.alpha + T[i]);
    const double a3 = -rx * log_T;
    // ln(exp(A3) + [x > 0] exp(A4)) by log-sum-exp; u = share of the A4 term,
    // u_a = u / a, computed without dividing by a (finite at a = 0).
    double lse = a3, u = 0.0, u_a = 0.0, log_t = 0.0;
    if (xi > 0) {
      log_t = std::log(p.alpha + t_x[i]);
      const double a4_over_a = -tab.log_bx1[xi] - rx * log_t;  // ln(exp(A4) / a)
      if (p.a > 0) {
        const double a4 = log_a + a4_over_a;
        const double hi = std::max(a3, a4), e3 = std::exp(a3 - hi), e4 = std::exp(a4 - hi);
        lse = hi + std::log(e3 + e4);
        u = e4 / (e3 + e4);
      }
      u_a = std::exp(a4_over_a - lse);
    }
    const double v = 1.0 - u;
    g[0] = tab.dr[xi] - v * log_T - u * log_t;
    g[1] = p.r / p.alpha - v * rx / (p.alpha + T[i]) - (xi > 0 ? u * rx / (p.alpha + t_x[i]) : 0.0);
    g[2] = tab.da[xi] + u_a;
    g[3] = tab.db[xi] - (xi > 0 ? u / (p.b + x[i] - 1) : 0.0);
    return tab.a1[xi] + tab.a2[xi] + lse;
  });
}

// ---------------------------------------------------------------- Gamma-Gamma

absl::Status CheckSpend(absl::Span<const double> x, absl::Span<const double> m, absl::Span<const double> w) {
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(n > 0, "no client to fit");
  TWINSCORE_CHECK_ARG(m.size() == n, "monetary has ", m.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(w.empty() || w.size() == n, "weights has ", w.size(), " values, expected ", n);
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(x[i]) && x[i] >= 1, "frequency at position ", i,
                        " must be >= 1 (the spend model uses repeat buyers only), got ", x[i]);
    TWINSCORE_CHECK_ARG(std::isfinite(m[i]) && m[i] > 0, "monetary value at position ", i, " must be > 0, got ",
                        m[i]);
    TWINSCORE_CHECK_ARG(w.empty() || (std::isfinite(w[i]) && w[i] >= 0), "weight at position ", i,
                        " must be finite and >= 0");
  }
  return absl::OkStatus();
}

double GammaGammaSum(const GammaGammaParams& g, absl::Span<const double> x, absl::Span<const double> m,
                     absl::Span<const double> w, std::array<double, 3>* grad) {
  const double lg_q = std::lgamma(g.q), ps_q = Digamma(g.q), log_v = std::log(g.v);
  return BlockSum<3>(x.size(), w, grad, [&](size_t i, std::array<double, 3>& d) {
    const double px = g.p * x[i], log_m = std::log(m[i]), log_x = std::log(x[i]);
    const double s = x[i] * m[i] + g.v, log_s = std::log(s);
    const double ps_pxq = Digamma(px + g.q);
    d[0] = x[i] * (ps_pxq - Digamma(px) + log_m + log_x - log_s);
    d[1] = ps_pxq - ps_q + log_v - log_s;
    d[2] = g.q / g.v - (px + g.q) / s;
    return std::lgamma(px + g.q) - std::lgamma(px) - lg_q + g.q * log_v + (px - 1) * log_m + px * log_x -
           (px + g.q) * log_s;
  });
}

absl::Status CheckBgNbdParams(const BgNbdParams& p) {
  TWINSCORE_CHECK_ARG(std::isfinite(p.r) && p.r > 0 && std::isfinite(p.alpha) && p.alpha > 0,
                      "BG/NBD r and alpha must be finite and > 0, got r = ", p.r, ", alpha = ", p.alpha);
  TWINSCORE_CHECK_ARG(std::isfinite(p.a) && p.a >= 0, "BG/NBD a must be finite and >= 0, got ", p.a);
  TWINSCORE_CHECK_ARG(p.b > 0 && (std::isfinite(p.b) || p.a == 0),
                      "BG/NBD b must be > 0, and finite unless a = 0 (no dropout), got ", p.b);
  return absl::OkStatus();
}

// The fit's coordinates theta = (log r, log alpha, u, log s): the mean
// drop-out probability a / (a + b) = sin^2(u) and s = 1 / (a + b). The
// no-dropout face a = 0 is u = 0, a point where the objective is smooth, so
// an optimum there is an ordinary minimum (quadratic in u) for L-BFGS.
BgNbdParams ParamsOfTheta(const std::array<double, 4>& th) {
  const double sn = std::sin(th[2]), cs = std::cos(th[2]), s = std::exp(th[3]);
  return BgNbdParams{std::exp(th[0]), std::exp(th[1]), sn * sn / s, cs * cs / s};
}

// Penalised mean negative log-likelihood in theta, and its gradient.
struct BgNbdObjective {
  absl::Span<const double> x, t_x, T, w;
  int max_x;
  double total_weight, penalizer;

  double operator()(const std::array<double, 4>& th, std::array<double, 4>* grad) const {
    const BgNbdParams p = ParamsOfTheta(th);
    const std::array<double, 4> pv{p.r, p.alpha, p.a, p.b};
    std::array<double, 4> g;
    double ll = BgNbdSum(p, x, t_x, T, w, max_x, &g);
    for (size_t k = 0; k < 4; ++k) {
      ll -= penalizer * pv[k] * pv[k];
      g[k] -= 2 * penalizer * pv[k];
    }
    // Chain rule: da/du = sin(2u) / s = -db/du; da/dlog s = -a, db/dlog s = -b.
    const double s = std::exp(th[3]);
    const std::array<double, 4> dth{g[0] * p.r, g[1] * p.alpha, std::sin(2 * th[2]) / s * (g[2] - g[3]),
                                    -(p.a * g[2] + p.b * g[3])};
    for (size_t k = 0; k < 4; ++k) (*grad)[k] = -dth[k] / total_weight;
    return -ll / total_weight;
  }
};

// Refits r and alpha on the no-dropout face (u = 0), from theta.
absl::Status PolishNoDropout(const BgNbdObjective& f, const FitOptions& options, std::array<double, 4>* theta,
                             FitReport* report) {
  (*theta)[2] = 0.0;
  const std::array<double, 4> at = *theta;
  std::function<double(const std::array<double, 2>&, std::array<double, 2>*)> fn =
      [&](const std::array<double, 2>& th, std::array<double, 2>* grad) {
        std::array<double, 4> full = at, g;
        full[0] = th[0];
        full[1] = th[1];
        const double v = f(full, &g);
        (*grad)[0] = g[0];
        (*grad)[1] = g[1];
        return v;
      };
  std::array<double, 2> th{at[0], at[1]};
  FitReport polish;
  TWINSCORE_RETURN_IF_ERROR(MinimizeLbfgs<2>(fn, &th, options, "BG/NBD (no dropout)", &polish));
  (*theta)[0] = th[0];
  (*theta)[1] = th[1];
  report->iterations += polish.iterations;
  report->evaluations += polish.evaluations;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> BgNbdLogLikelihood(const BgNbdParams& p, absl::Span<const double> x,
                                          absl::Span<const double> t_x, absl::Span<const double> T,
                                          absl::Span<const double> weights, absl::Span<double> gradient) {
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckBgNbdParams(p));
  TWINSCORE_CHECK_ARG(gradient.empty() || gradient.size() == 4, "gradient must hold 4 values");
  std::array<double, 4> g;
  const double ll = BgNbdSum(p, x, t_x, T, weights, MaxX(x), &g);
  if (!gradient.empty()) std::copy(g.begin(), g.end(), gradient.begin());
  return ll;
}

absl::StatusOr<BgNbdParams> FitBgNbd(absl::Span<const double> x, absl::Span<const double> t_x,
                                     absl::Span<const double> T, absl::Span<const double> weights,
                                     const FitOptions& options, FitReport* report) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  const double W = TotalWeight(x.size(), weights);
  TWINSCORE_CHECK_ARG(W > 0, "the weights sum to 0");
  const int max_x = MaxX(x);
  const double mean_T = [&] {
    double s = 0;
    for (size_t i = 0; i < T.size(); ++i) s += (weights.empty() ? 1.0 : weights[i]) * T[i];
    return std::max(s / W, 1e-3);
  }();
  const BgNbdObjective objective{x, t_x, T, weights, max_x, W, options.penalizer};
  std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn = objective;
  // Start at r = 1, alpha = mean T, a = b = 1 (u = pi / 4, s = 1 / 2).
  std::array<double, 4> theta{0.0, std::log(mean_T), std::atan(1.0), std::log(0.5)};
  FitReport local;
  FitReport* rep = report ? report : &local;
  TWINSCORE_RETURN_IF_ERROR(MinimizeLbfgs<4>(fn, &theta, options, "BG/NBD", rep));
  // The optimum is on the no-dropout face when the face is no worse than the
  // point reached, up to rounding (a few units in the last place of the mean
  // log-likelihood: L-BFGS stops at u ~ 1e-8, a ~ 1e-16, where the two
  // differ by less): refit r, alpha there exactly.
  std::array<double, 4> face = theta, unused;
  face[2] = 0.0;
  const double reached = objective(theta, &unused);
  const bool no_dropout = objective(face, &unused) <= reached + 1e-14 * std::abs(reached);
  if (no_dropout) TWINSCORE_RETURN_IF_ERROR(PolishNoDropout(objective, options, &theta, rep));
  BgNbdParams p = ParamsOfTheta(theta);
  if (no_dropout) p = BgNbdParams{p.r, p.alpha, 0.0, std::numeric_limits<double>::infinity()};
  std::array<double, 4> g;
  rep->log_likelihood = BgNbdSum(p, x, t_x, T, weights, max_x, &g);
  return p;
}

namespace {

// One (x, t_x, T) summary pattern as a hash key.
struct PatternKey {
  double x, t, T;
  bool operator==(const PatternKey& o) const { return x == o.x && t == o.t && T == o.T; }
  template <typename H>
  friend H AbslHashValue(H h, const PatternKey& k) {
    return H::combine(std::move(h), k.x, k.t, k.T);
  }
};

}  // namespace

absl::StatusOr<int64_t> CompressSummaries(absl::Span<const double> x, absl::Span<const double> t_x,
                                          absl::Span<const double> T, absl::Span<const double> weights,
                                          absl::Span<double> out_x, absl::Span<double> out_t_x,
                                          absl::Span<double> out_T, absl::Span<double> out_w) {
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(t_x.size() == n && T.size() == n, "frequency, recency and T must have the same length");
  TWINSCORE_CHECK_ARG(weights.empty() || weights.size() == n, "weights has ", weights.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(out_x.size() >= n && out_t_x.size() >= n && out_T.size() >= n && out_w.size() >= n,
                      "outputs must hold n values");
  using Key = PatternKey;
  absl::flat_hash_map<Key, int64_t> index;
  int64_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    // +0.0 for -0.0, so that equal values share a key.
    const Key key{x[i] + 0.0, t_x[i] + 0.0, T[i] + 0.0};
    auto [it, inserted] = index.try_emplace(key, k);
    if (inserted) {
      out_x[k] = key.x;
      out_t_x[k] = key.t;
      out_T[k] = key.T;
      out_w[k] = 0.0;
      ++k;
    }
    out_w[it->second] += weights.empty() ? 1.0 : weights[i];
  }
  return k;
}

absl::Status BgNbdPredict(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                          absl::Span<const double> T, double t, absl::Span<double> expected,
                          absl::Span<double> p_alive) {
  TWINSCORE_RETURN_IF_ERROR(CheckBgNbdParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(t_x.size() == n && T.size() == n, "frequency, recency and T must have the same length");
  TWINSCORE_CHECK_ARG(expected.empty() || expected.size() == n, "expected must hold ", n, " values");
  TWINSCORE_CHECK_ARG(p_alive.empty() || p_alive.size() == n, "p_alive must hold ", n, " values");
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  return ParallelBlocksStatus(n, kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      const double rx = p.r + x[i];
      // 1 / P(alive) = 1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x); 1 when a = 0.
      double inv_alive = 1.0;
      if (x[i] > 0 && p.a > 0) {
        inv_alive += std::exp(std::log(p.a / (p.b + x[i] - 1)) +
                              rx * (std::log(p.alpha + T[i]) - std::log(p.alpha + t_x[i])));
      }
      if (!p_alive.empty()) p_alive[i] = 1.0 / inv_alive;
      if (expected.empty()) continue;
      absl::StatusOr<double> e = BgNbdExpectedIfAlive(rx, p.a, p.b + x[i], t / (p.alpha + T[i]));
      if (!e.ok()) return e.status();
      expected[i] = *e / inv_alive;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<double> GammaGammaLogLikelihood(const GammaGammaParams& g, absl::Span<const double> x,
                                               absl::Span<const double> m, absl::Span<const double> weights,
                                               absl::Span<double> gradient) {
  TWINSCORE_RETURN_IF_ERROR(CheckSpend(x, m, weights));
  TWINSCORE_CHECK_ARG(g.p > 0 && g.q > 0 && g.v > 0, "Gamma-Gamma parameters must all be > 0");
  TWINSCORE_CHECK_ARG(gradient.empty() || gradient.size() == 3, "gradient must hold 3 values");
  std::array<double, 3> d;
  const double ll = GammaGammaSum(g, x, m, weights, &d);
  if (!gradient.empty()) std::copy(d.begin(), d.end(), gradient.begin());
  return ll;
}

absl::StatusOr<GammaGammaParams> FitGammaGamma(absl::Span<const double> x, absl::Span<const double> m,
                                               absl::Span<const double> weights, const FitOptions& options,
                                               FitReport* report) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckSpend(x, m, weights));
  const double W = TotalWeight(x.size(), weights);
  TWINSCORE_CHECK_ARG(W > 0, "the weights sum to 0");
  double mean_m = 0;
  for (size_t i = 0; i < m.size(); ++i) mean_m += (weights.empty() ? 1.0 : weights[i]) * m[i];
  mean_m /= W;
  auto to_params = [](const std::array<double, 3>& th) {
    return GammaGammaParams{std::exp(th[0]), std::exp(th[1]), std::exp(th[2])};
  };
  const double pen = options.penalizer;
  std::function<double(const std::array<double, 3>&, std::array<double, 3>*)> fn =
      [&](const std::array<double, 3>& th, std::array<double, 3>* grad) {
        const GammaGammaParams g = to_params(th);
        const std::array<double, 3> pv{g.p, g.q, g.v};
        std::array<double, 3> d;
        double ll = GammaGammaSum(g, x, m, weights, &d);
        for (size_t k = 0; k < 3; ++k) {
          ll -= pen * pv[k] * pv[k];
          (*grad)[k] = -(d[k] - 2 * pen * pv[k]) * pv[k] / W;
        }
        return -ll / W;
      };
  // Start where the mean spend p v / (q - 1) matches the data with q = 2.
  std::array<double, 3> theta{0.0, std::log(2.0), std::log(std::max(mean_m, 1e-6))};
  FitReport local;
  FitReport* rep = report ? report : &local;
  TWINSCORE_RETURN_IF_ERROR(MinimizeLbfgs<3>(fn, &theta, options, "Gamma-Gamma", rep));
  const GammaGammaParams g = to_params(theta);
  std::array<double, 3> d;
  rep->log_likelihood = GammaGammaSum(g, x, m, weights, &d);
  return g;
}

absl::Status GammaGammaExpectedSpend(const GammaGammaParams& g, absl::Span<const double> x,
                                     absl::Span<const double> m, absl::Span<double> out) {
  TWINSCORE_CHECK_ARG(g.p > 0 && g.q > 1 && g.v > 0, "expected spend needs p > 0, q > 1, v > 0 (got q = ", g.q, ")");
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(m.size() == n && out.size() == n, "frequency, monetary and the output must have one length");
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(x[i]) && x[i] >= 0, "frequency at position ", i, " must be >= 0");
    TWINSCORE_CHECK_ARG(x[i] == 0 || (std::isfinite(m[i]) && m[i] >= 0), "monetary value at position ", i,
                        " must be finite and >= 0 when frequency > 0, got ", m[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    // (q - 1) / (p x + q - 1) * population mean + p x / (p x + q - 1) * m
    const double px = g.p * x[i];
    out[i] = (g.p * g.v + (x[i] > 0 ? px * m[i] : 0.0)) / (px + g.q - 1);
  }
  return absl::OkStatus();
}

}  // namespace twinscore

// ---------------------------------------------------------------- uncertainty

namespace twinscore {
using namespace clv_internal;  // NOLINT

absl::Status BgNbdCovariance(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                             absl::Span<const double> T, absl::Span<const double> weights, double penalizer,
                             Uncertainty* out) {
  TWINSCORE_RETURN_IF_ERROR(CheckUncertaintyOut(out, 4));
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckBgNbdParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  const bool no_dropout = p.a == 0;
  std::array<double, 4> theta{std::log(p.r), std::log(p.alpha), 0.0, 0.0};
  if (!no_dropout) {
    theta[2] = std::asin(std::sqrt(p.a / (p.a + p.b)));
    theta[3] = -std::log(p.a + p.b);
  }
  // Total (not mean) negative log-likelihood: total_weight 1.
  const BgNbdObjective objective{x, t_x, T, weights, MaxX(x), 1.0, penalizer};
  const std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn = objective;
  const Eigen::MatrixXd info = Information<4>(fn, theta);
  std::vector<bool> held(4);
  for (size_t k = 0; k < 4; ++k) held[k] = AtBound(theta[k]);
  if (no_dropout) held[2] = held[3] = true;
  Boundary boundary = no_dropout ? Boundary::kNoDropout : held[3] ? Boundary::kScaleHeld : Boundary::kInterior;
  std::optional<Eigen::MatrixXd> cov = FreeCovariance(info, held);
  // A likelihood flat in log(a + b) (its supremum at a + b -> 0 or infinity,
  // where the fit stopped on the way): the information there is rounding, or
  // bounds a + b to no better than a factor e^10. Hold a + b where it is.
  if (boundary == Boundary::kInterior && (!cov || (*cov)(3, 3) > 100.0)) {
    held[3] = true;
    boundary = Boundary::kScaleHeld;
    cov = FreeCovariance(info, held);
  }
  if (!cov) {
    return absl::FailedPreconditionError("BG/NBD: the observed information is not positive definite at the fit: "
                                         "the data do not identify the parameters (too few repeat buyers?)");
  }
  const double s = std::exp(theta[3]), d_u = std::sin(2 * theta[2]) / s;
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(4, 4);
  J(0, 0) = p.r;
  J(1, 1) = p.alpha;
  if (!no_dropout) {
    J(2, 2) = d_u;
    J(3, 2) = -d_u;
    J(2, 3) = -p.a;
    J(3, 3) = -p.b;
  }
  for (int k = 0; k < 4; ++k) {
    if (held[k]) J.col(k).setZero();
  }
  const Eigen::MatrixXd natural = J * (*cov) * J.transpose();
  return WriteUncertainty((natural + natural.transpose()) / 2, J, boundary, out);
}

absl::Status GammaGammaCovariance(const GammaGammaParams& g, absl::Span<const double> x,
                                  absl::Span<const double> m, absl::Span<const double> weights, double penalizer,
                                  Uncertainty* out) {
  TWINSCORE_RETURN_IF_ERROR(CheckUncertaintyOut(out, 3));
  TWINSCORE_RETURN_IF_ERROR(CheckSpend(x, m, weights));
  TWINSCORE_CHECK_ARG(std::isfinite(g.p) && g.p > 0 && std::isfinite(g.q) && g.q > 0 && std::isfinite(g.v) && g.v > 0,
                      "Gamma-Gamma parameters must be finite and > 0");
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  const std::array<double, 3> theta{std::log(g.p), std::log(g.q), std::log(g.v)};
  const std::function<double(const std::array<double, 3>&, std::array<double, 3>*)> fn =
      [&](const std::array<double, 3>& th, std::array<double, 3>* grad) {
        const GammaGammaParams q{std::exp(th[0]), std::exp(th[1]), std::exp(th[2])};
        const std::array<double, 3> pv{q.p, q.q, q.v};
        std::array<double, 3> d;
        double ll = GammaGammaSum(q, x, m, weights, &d);
        for (size_t k = 0; k < 3; ++k) {
          ll -= penalizer * pv[k] * pv[k];
          (*grad)[k] = -(d[k] - 2 * penalizer * pv[k]) * pv[k];
        }
        return -ll;
      };
  std::vector<bool> held(3);
  for (size_t k = 0; k < 3; ++k) held[k] = AtBound(theta[k]);
  const std::optional<Eigen::MatrixXd> cov = FreeCovariance(Information<3>(fn, theta), held);
  if (!cov) {
    return absl::FailedPreconditionError("Gamma-Gamma: the observed information is not positive definite at the "
                                         "fit: the data do not identify the parameters");
  }
  Eigen::MatrixXd J = Eigen::Vector3d(g.p, g.q, g.v).asDiagonal();
  for (int k = 0; k < 3; ++k) {
    if (held[k]) J.col(k).setZero();
  }
  const Eigen::MatrixXd natural = J * (*cov) * J.transpose();
  return WriteUncertainty((natural + natural.transpose()) / 2, J, Boundary::kInterior, out);
}

namespace {

// splitmix64: a fixed, portable stream (std::normal_distribution is not
// specified bit for bit across standard libraries).
struct SplitMix {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)
};

}  // namespace

absl::Status SampleParams(absl::Span<const double> params, absl::Span<const double> cov, int64_t draws,
                          uint64_t seed, absl::Span<double> out) {
  const size_t k = params.size();
  TWINSCORE_CHECK_ARG(k > 0 && cov.size() == k * k, "cov must hold ", k * k, " values");
  TWINSCORE_CHECK_ARG(draws >= 1, "draws must be >= 1, got ", draws);
  TWINSCORE_CHECK_ARG(out.size() == static_cast<size_t>(draws) * k, "the output must hold draws * ", k, " values");
  std::vector<int> free;
  for (size_t i = 0; i < k; ++i) {
    const double v = cov[i * k + i];
    TWINSCORE_CHECK_ARG(std::isfinite(v) && v >= 0, "the variance of parameter ", i, " must be finite and >= 0");
    if (v == 0) continue;  // fixed: copied
    TWINSCORE_CHECK_ARG(std::isfinite(params[i]) && params[i] > 0, "parameter ", i,
                        " has a variance and must be finite and > 0, got ", params[i]);
    free.push_back(static_cast<int>(i));
  }
  const Eigen::Index f = static_cast<Eigen::Index>(free.size());
  Eigen::MatrixXd log_cov(f, f);
  for (Eigen::Index i = 0; i < f; ++i) {
    for (Eigen::Index j = 0; j < f; ++j) {
      const double c = cov[free[i] * k + free[j]], c_t = cov[free[j] * k + free[i]];
      const double scale = std::sqrt(cov[free[i] * k + free[i]] * cov[free[j] * k + free[j]]);
      TWINSCORE_CHECK_ARG(std::isfinite(c) && std::abs(c - c_t) <= 1e-9 * scale, "cov must be finite and symmetric");
      log_cov(i, j) = (c + c_t) / 2 / (params[free[i]] * params[free[j]]);
    }
  }
  Eigen::MatrixXd root = Eigen::MatrixXd::Zero(f, f);
  if (f > 0) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(log_cov);
    TWINSCORE_CHECK_ARG(eig.info() == Eigen::Success, "cov could not be decomposed");
    TWINSCORE_CHECK_ARG(eig.eigenvalues().minCoeff() >= -1e-9 * std::max(1.0, eig.eigenvalues().maxCoeff()),
                        "cov is not positive semi-definite");
    root = eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
  }
  SplitMix rng{seed};
  Eigen::VectorXd z(f);
  for (int64_t d = 0; d < draws; ++d) {
    for (Eigen::Index i = 0; i < f; i += 2) {  // Box-Muller: two deviates per pair of uniforms
      const double radius = std::sqrt(-2.0 * std::log(rng.Uniform())), angle = 2 * M_PI * rng.Uniform();
      z(i) = radius * std::cos(angle);
      if (i + 1 < f) z(i + 1) = radius * std::sin(angle);
    }
    const Eigen::VectorXd shift = root * z;
    double* row = out.data() + d * k;
    for (size_t i = 0; i < k; ++i) row[i] = params[i];
    for (Eigen::Index i = 0; i < f; ++i) row[free[i]] = params[free[i]] * std::exp(shift(i));
  }
  return absl::OkStatus();
}

namespace {

// Clients grouped by their (x, T) pair: the costly part of a prediction, the
// expectation if alive (a series of ~40 (1 + w) terms), depends on x and T
// only, and summaries in days share few pairs (at most a few tens of
// thousands whatever the client count), so it is computed once per pair and
// draw. Pairs are numbered in order of first appearance; `order` lists the
// clients pair by pair (counting sort), `pair` gives each client's pair.
struct PairGroups {
  std::vector<double> x, T;
  std::vector<int64_t> start, order, pair;
};

PairGroups GroupByPair(absl::Span<const double> x, absl::Span<const double> T) {
  PairGroups g;
  const size_t n = x.size();
  absl::flat_hash_map<std::pair<double, double>, int64_t> index;
  g.pair.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = index.try_emplace(std::make_pair(x[i] + 0.0, T[i] + 0.0), g.x.size());
    if (inserted) {
      g.x.push_back(x[i] + 0.0);
      g.T.push_back(T[i] + 0.0);
    }
    g.pair[i] = it->second;
  }
  g.start.assign(g.x.size() + 1, 0);
  for (size_t i = 0; i < n; ++i) g.start[g.pair[i] + 1]++;
  std::partial_sum(g.start.begin(), g.start.end(), g.start.begin());
  g.order.resize(n);
  std::vector<int64_t> next(g.start.begin(), g.start.end() - 1);
  for (size_t i = 0; i < n; ++i) g.order[next[g.pair[i]]++] = static_cast<int64_t>(i);
  return g;
}

// Runs `row(pair, out)` (writing the pair's 2 D per-draw values: the costly
// expectation, then AliveLead) for every pair, in chunks whose table stays
// below 2^24 doubles (128 MiB), then `client(i, row, buffer)` for every
// client of the chunk. Both loops are parallel
// over fixed blocks and each item is computed on its own: results do not
// depend on the thread count.
template <class Row, class Client>
absl::Status OverPairs(const PairGroups& g, size_t D, Row&& row, Client&& client) {
  const size_t K = g.x.size();
  const size_t R = 2 * D;  // values per pair
  const size_t chunk = std::max<size_t>(1, (size_t{1} << 24) / R);
  std::vector<double> table;
  for (size_t k0 = 0; k0 < K; k0 += chunk) {
    const size_t k1 = std::min(K, k0 + chunk);
    table.assign((k1 - k0) * R, 0.0);
    TWINSCORE_RETURN_IF_ERROR(
        ParallelBlocksStatus(k1 - k0, 16, [&](size_t, size_t b, size_t e) -> absl::Status {
          for (size_t k = b; k < e; ++k) TWINSCORE_RETURN_IF_ERROR(row(k0 + k, table.data() + k * R));
          return absl::OkStatus();
        }));
    const size_t c0 = static_cast<size_t>(g.start[k0]), c1 = static_cast<size_t>(g.start[k1]);
    ParallelBlocks(c1 - c0, 1024, [&](size_t, size_t b, size_t e) {
      std::vector<double> buf(2 * D);
      for (size_t j = c0 + b; j < c0 + e; ++j) {
        const int64_t i = g.order[j];
        client(static_cast<size_t>(i), table.data() + (g.pair[i] - static_cast<int64_t>(k0)) * R, buf.data());
      }
    });
  }
  return absl::OkStatus();
}

// The part of log(1 / P(alive) - 1) that depends on the pair (x, T) only:
// log(a / (b + x - 1)) + (r + x) log(alpha + T); -inf when x = 0 or a = 0
// (P(alive) = 1). The client's part is -(r + x) log(alpha + t_x).
inline double AliveLead(const double* d, double x, double T) {
  if (x == 0 || d[2] == 0) return -std::numeric_limits<double>::infinity();
  return std::log(d[2] / (d[3] + x - 1)) + (d[0] + x) * std::log(d[1] + T);
}

// Draws split by parameter (r and alpha as arrays), for the per-client pass.
struct DrawColumns {
  Eigen::ArrayXd r, alpha;
  explicit DrawColumns(absl::Span<const double> draws) : r(draws.size() / 4), alpha(draws.size() / 4) {
    for (Eigen::Index d = 0; d < r.size(); ++d) {
      r(d) = draws[4 * d];
      alpha(d) = draws[4 * d + 1];
    }
  }
};

// 1 / P(alive) of client (x, t_x) under every draw, from its pair's leads:
// 1 + exp(lead - (r + x) log(alpha + t_x)), vectorised over the draws
// (Eigen's SIMD log and exp: within 2 ulp of std::log and std::exp).
// The result goes to an array of Eigen's own (aligned) before `out`: Eigen
// computes an unaligned destination's first elements one by one and the rest
// in SIMD lanes, which round differently, so writing into `out` directly
// would tie the bits to the buffer's address — to the thread that ran it.
inline void InverseAlive(const DrawColumns& c, const double* lead, double x, double t_x, double* out) {
  const Eigen::Index D = c.r.size();
  thread_local Eigen::ArrayXd result;
  result.resize(D);
  Eigen::Map<const Eigen::ArrayXd> l(lead, D);
  result = 1.0 + (l - (c.r + x) * (c.alpha + t_x).log()).exp();
  std::copy(result.data(), result.data() + D, out);
}

}  // namespace

absl::Status BgNbdPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                   absl::Span<const double> t_x, absl::Span<const double> T, double t, double level,
                                   const IntervalOutputs& out) {
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(draws, 4, "BG/NBD"));
  TWINSCORE_RETURN_IF_ERROR(CheckLevel(level));
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  const size_t n = x.size(), D = draws.size() / 4;
  for (auto s : {out.expected_lower, out.expected_upper, out.alive_lower, out.alive_upper}) {
    TWINSCORE_CHECK_ARG(s.empty() || s.size() == n, "interval outputs must hold ", n, " values");
  }
  for (size_t d = 0; d < D; ++d) {
    const double* p = draws.data() + 4 * d;
    TWINSCORE_RETURN_IF_ERROR(CheckBgNbdParams({p[0], p[1], p[2], p[3]}));
  }
  const bool want_e = !out.expected_lower.empty(), want_a = !out.alive_lower.empty();
  const PairGroups g = GroupByPair(x, T);
  const DrawColumns columns(draws);
  const double lo_q = (1 - level) / 2, hi_q = (1 + level) / 2;
  return OverPairs(
      g, D,
      [&](size_t k, double* row) -> absl::Status {
        for (size_t d = 0; d < D; ++d) {
          const double* p = draws.data() + 4 * d;
          row[D + d] = AliveLead(p, g.x[k], g.T[k]);
          if (!want_e) {
            row[d] = 0;
            continue;
          }
          absl::StatusOr<double> e = BgNbdExpectedIfAlive(p[0] + g.x[k], p[2], p[3] + g.x[k], t / (p[1] + g.T[k]));
          if (!e.ok()) return e.status();
          row[d] = *e;
        }
        return absl::OkStatus();
      },
      [&](size_t i, const double* row, double* buf) {
        double *e = buf, *a = buf + D;
        InverseAlive(columns, row + D, x[i], t_x[i], a);  // 1 / P(alive), then turned over
        for (size_t d = 0; d < D; ++d) {
          e[d] = row[d] / a[d];
          a[d] = 1.0 / a[d];
        }
        if (want_e) {
          out.expected_lower[i] = Quantile(e, D, lo_q);
          out.expected_upper[i] = Quantile(e, D, hi_q);
        }
        if (want_a) {
          out.alive_lower[i] = Quantile(a, D, lo_q);
          out.alive_upper[i] = Quantile(a, D, hi_q);
        }
      });
}

absl::Status LifetimeValueIntervals(absl::Span<const double> bg_draws, absl::Span<const double> gg_draws,
                                    absl::Span<const double> x, absl::Span<const double> t_x,
                                    absl::Span<const double> T, absl::Span<const double> m,
                                    absl::Span<const double> horizons, absl::Span<const double> coefficients,
                                    double margin, double level, absl::Span<double> lower, absl::Span<double> upper) {
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(bg_draws, 4, "BG/NBD"));
  TWINSCORE_RETURN_IF_ERROR(CheckDraws(gg_draws, 3, "Gamma-Gamma"));
  TWINSCORE_RETURN_IF_ERROR(CheckLevel(level));
  const size_t D = bg_draws.size() / 4, n = x.size();
  TWINSCORE_CHECK_ARG(gg_draws.size() / 3 == D, "BG/NBD and Gamma-Gamma draws differ in number: ", D, " and ",
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
  for (size_t d = 0; d < D; ++d) {
    const double* p = bg_draws.data() + 4 * d;
    TWINSCORE_RETURN_IF_ERROR(CheckBgNbdParams({p[0], p[1], p[2], p[3]}));
    const double* s = gg_draws.data() + 3 * d;
    TWINSCORE_CHECK_ARG(std::isfinite(s[0]) && s[0] > 0 && std::isfinite(s[2]) && s[2] > 0 && s[1] > 1,
                        "Gamma-Gamma draw ", d, " has q = ", s[1], " <= 1 (an infinite mean spend): the spend model's "
                        "q is too close to 1 for an interval");
  }
  const PairGroups g = GroupByPair(x, T);
  const DrawColumns columns(bg_draws);
  const double lo_q = (1 - level) / 2, hi_q = (1 + level) / 2;
  return OverPairs(
      g, D,
      [&](size_t k, double* row) -> absl::Status {
        for (size_t d = 0; d < D; ++d) {
          const double* p = bg_draws.data() + 4 * d;
          double sum = 0;
          for (size_t j = 0; j < horizons.size(); ++j) {
            absl::StatusOr<double> e =
                BgNbdExpectedIfAlive(p[0] + g.x[k], p[2], p[3] + g.x[k], horizons[j] / (p[1] + g.T[k]));
            if (!e.ok()) return e.status();
            sum += coefficients[j] * *e;
          }
          row[d] = sum;
          row[D + d] = AliveLead(p, g.x[k], g.T[k]);
        }
        return absl::OkStatus();
      },
      [&](size_t i, const double* row, double* v) {
        InverseAlive(columns, row + D, x[i], t_x[i], v + D);
        for (size_t d = 0; d < D; ++d) {
          const double* s = gg_draws.data() + 3 * d;
          const double px = s[0] * x[i];
          const double spend = (s[0] * s[2] + (x[i] > 0 ? px * m[i] : 0.0)) / (px + s[1] - 1);
          v[d] = margin * spend * row[d] / v[D + d];
        }
        lower[i] = Quantile(v, D, lo_q);
        upper[i] = Quantile(v, D, hi_q);
      });
}

}  // namespace twinscore
