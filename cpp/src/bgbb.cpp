#include "twinscore/bgbb.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <Eigen/Dense>

#include "absl/container/flat_hash_map.h"
#include "clv_internal.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

using clv_internal::kBlock;

// Largest n accepted: a daily opportunity for 2,700 years. The tables of an
// evaluation hold about 10 (n + 2) doubles.
constexpr double kMaxN = 1e6;

// ---------------------------------------------------------------- tables

// Prefix sums over j < k of log(v + j) (and of 1 / (v + j) when `slope` is
// not null), k = 0..m-1, with Neumaier's compensation: the entries equal
// log Gamma(v + k) - log Gamma(v) to a few ulps of the sum, for any v > 0,
// where the difference of two lgamma values would lose log10(v) digits.
void PrefixLogs(double v, size_t m, std::vector<double>* log_sum, std::vector<double>* slope) {
  log_sum->assign(m, 0.0);
  if (slope) slope->assign(m, 0.0);
  double s = 0, c = 0, d = 0, dc = 0;
  for (size_t k = 1; k < m; ++k) {
    const double term = std::log(v + static_cast<double>(k - 1));
    const double t = s + term;
    c += std::abs(s) >= std::abs(term) ? (s - t) + term : (term - t) + s;
    s = t;
    (*log_sum)[k] = s + c;
    if (slope) {
      const double inv = 1.0 / (v + static_cast<double>(k - 1));
      const double u = d + inv;
      dc += (d - u) + inv;  // d >= inv > 0 after the first term
      d = u;
      (*slope)[k] = d + dc;
    }
  }
}

// The prefix sums of one parameter set: A over alpha, B over beta, AB over
// alpha + beta, D over delta, GD over gamma + delta; d* are their slopes.
struct Tables {
  std::vector<double> A, B, AB, D, GD;
  std::vector<double> dA, dB, dAB, dD, dGD;
  double log_gamma = 0;
};

// Sizes: x + 1 for A (predictions need alpha + x + 1), n + 2 for the others.
Tables MakeTables(const BgBbParams& p, size_t max_x, size_t max_n, bool slopes) {
  Tables t;
  const size_t mx = max_x + 2, mn = max_n + 2;
  PrefixLogs(p.alpha, mx, &t.A, slopes ? &t.dA : nullptr);
  PrefixLogs(p.beta, mn, &t.B, slopes ? &t.dB : nullptr);
  PrefixLogs(p.alpha + p.beta, mn, &t.AB, slopes ? &t.dAB : nullptr);
  PrefixLogs(p.delta, mn, &t.D, slopes ? &t.dD : nullptr);
  PrefixLogs(p.gamma + p.delta, mn, &t.GD, slopes ? &t.dGD : nullptr);
  t.log_gamma = std::log(p.gamma);
  return t;
}

// ---------------------------------------------------------------- input checks

absl::Status CheckWhole(double v, const char* what, size_t i) {
  TWINSCORE_CHECK_ARG(std::isfinite(v) && v >= 0 && v == std::floor(v) && v <= kMaxN, what, " at position ", i,
                      " must be a whole number in [0, 1e6], got ", v);
  return absl::OkStatus();
}

absl::Status CheckPatterns(absl::Span<const double> x, absl::Span<const double> t_x, absl::Span<const double> n,
                           absl::Span<const double> w) {
  const size_t m = x.size();
  TWINSCORE_CHECK_ARG(m > 0, "no client");
  TWINSCORE_CHECK_ARG(t_x.size() == m, "recency (t_x) has ", t_x.size(), " values, expected ", m);
  TWINSCORE_CHECK_ARG(n.size() == m, "n_periods has ", n.size(), " values, expected ", m);
  TWINSCORE_CHECK_ARG(w.empty() || w.size() == m, "weights has ", w.size(), " values, expected ", m);
  for (size_t i = 0; i < m; ++i) {
    TWINSCORE_RETURN_IF_ERROR(CheckWhole(x[i], "frequency", i));
    TWINSCORE_RETURN_IF_ERROR(CheckWhole(t_x[i], "recency", i));
    TWINSCORE_RETURN_IF_ERROR(CheckWhole(n[i], "n_periods", i));
    TWINSCORE_CHECK_ARG(t_x[i] <= n[i], "recency at position ", i, " must be <= n_periods, got ", t_x[i], " > ",
                        n[i]);
    TWINSCORE_CHECK_ARG(x[i] == 0 ? t_x[i] == 0 : x[i] <= t_x[i], "at position ", i, ": frequency ", x[i],
                        " and recency ", t_x[i], " are impossible (recency is 0 when frequency is 0, else >= it)");
    TWINSCORE_CHECK_ARG(w.empty() || (std::isfinite(w[i]) && w[i] >= 0), "weight at position ", i,
                        " must be finite and >= 0");
  }
  return absl::OkStatus();
}

absl::Status CheckParams(const BgBbParams& p) {
  for (double v : {p.alpha, p.beta, p.gamma, p.delta}) {
    TWINSCORE_CHECK_ARG(std::isfinite(v) && v > 0, "BG/BB parameters must be finite and > 0, got alpha = ", p.alpha,
                        ", beta = ", p.beta, ", gamma = ", p.gamma, ", delta = ", p.delta);
  }
  return absl::OkStatus();
}

size_t MaxOf(absl::Span<const double> v) { return static_cast<size_t>(*std::max_element(v.begin(), v.end())); }

// ---------------------------------------------------------------- likelihood

// log L(x, t_x, n) = A[x] + log(sum of the drop-out terms), and, when `grad`
// is not null, its gradient in (alpha, beta, gamma, delta). The terms: alive
// through n, f_n = B[n-x] - AB[n] + D[n] - GD[n]; last alive at t in
// [t_x, n), then gone, f_t = B[t-x] - AB[t] + log gamma + D[t] - GD[t+1].
double PatternLogLik(const Tables& tb, size_t x, size_t t_x, size_t n, std::vector<double>* buf,
                     std::array<double, 4>* grad) {
  const size_t k = n - t_x;  // drop-out terms; the last slot holds f_n
  buf->resize(k + 1);
  double* f = buf->data();
  for (size_t t = t_x; t < n; ++t) f[t - t_x] = tb.B[t - x] - tb.AB[t] + tb.log_gamma + tb.D[t] - tb.GD[t + 1];
  f[k] = tb.B[n - x] - tb.AB[n] + tb.D[n] - tb.GD[n];
  const double hi = *std::max_element(f, f + k + 1);
  double sum = 0;
  for (size_t j = 0; j <= k; ++j) {
    f[j] = std::exp(f[j] - hi);  // kept: the gradient weighs each term by its share of the sum
    sum += f[j];
  }
  const double lse = hi + std::log(sum);
  if (grad) {
    std::array<double, 4>& g = *grad;
    g = {tb.dA[x], 0.0, 0.0, 0.0};
    const double inv_gamma = std::exp(-tb.log_gamma), inv_sum = 1.0 / sum;
    for (size_t t = t_x; t <= n; ++t) {
      const double wt = f[t - t_x] * inv_sum;  // the term's share of the sum
      const bool last = t == n;
      const size_t gd = last ? n : t + 1;
      g[0] -= wt * tb.dAB[t];
      g[1] += wt * (tb.dB[t - x] - tb.dAB[t]);
      g[2] += wt * ((last ? 0.0 : inv_gamma) - tb.dGD[gd]);
      g[3] += wt * (tb.dD[t] - tb.dGD[gd]);
    }
  }
  return tb.A[x] + lse;
}

double Sum(const BgBbParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
           absl::Span<const double> n, absl::Span<const double> w, size_t max_x, size_t max_n,
           std::array<double, 4>* grad) {
  const Tables tb = MakeTables(p, max_x, max_n, true);
  return clv_internal::BlockSum<4>(x.size(), w, grad, [&](size_t i, std::array<double, 4>& g) {
    thread_local std::vector<double> buf;
    return PatternLogLik(tb, static_cast<size_t>(x[i]), static_cast<size_t>(t_x[i]), static_cast<size_t>(n[i]),
                         &buf, &g);
  });
}

// Penalised mean negative log-likelihood in theta = log(params), and its gradient.
struct Objective {
  absl::Span<const double> x, t_x, n, w;
  size_t max_x, max_n;
  double total_weight, penalizer;

  static BgBbParams Params(const std::array<double, 4>& th) {
    return {std::exp(th[0]), std::exp(th[1]), std::exp(th[2]), std::exp(th[3])};
  }

  double operator()(const std::array<double, 4>& th, std::array<double, 4>* grad) const {
    const BgBbParams p = Params(th);
    const std::array<double, 4> pv{p.alpha, p.beta, p.gamma, p.delta};
    std::array<double, 4> g;
    double ll = Sum(p, x, t_x, n, w, max_x, max_n, &g);
    for (size_t k = 0; k < 4; ++k) {
      ll -= penalizer * pv[k] * pv[k];
      (*grad)[k] = -(g[k] - 2 * penalizer * pv[k]) * pv[k] / total_weight;
    }
    return -ll / total_weight;
  }
};

}  // namespace

absl::StatusOr<double> BgBbLogLikelihood(const BgBbParams& p, absl::Span<const double> x,
                                         absl::Span<const double> t_x, absl::Span<const double> n,
                                         absl::Span<const double> weights, absl::Span<double> gradient) {
  TWINSCORE_RETURN_IF_ERROR(CheckPatterns(x, t_x, n, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(gradient.empty() || gradient.size() == 4, "gradient must hold 4 values");
  std::array<double, 4> g;
  const double ll = Sum(p, x, t_x, n, weights, MaxOf(x), MaxOf(n), &g);
  if (!gradient.empty()) std::copy(g.begin(), g.end(), gradient.begin());
  return ll;
}

absl::StatusOr<BgBbParams> FitBgBb(absl::Span<const double> x, absl::Span<const double> t_x,
                                   absl::Span<const double> n, absl::Span<const double> weights,
                                   const FitOptions& options, FitReport* report) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckPatterns(x, t_x, n, weights));
  const double W = clv_internal::TotalWeight(x.size(), weights);
  TWINSCORE_CHECK_ARG(W > 0, "the weights sum to 0");
  const Objective objective{x, t_x, n, weights, MaxOf(x), MaxOf(n), W, options.penalizer};
  std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn = objective;
  std::array<double, 4> theta{0.0, 0.0, 0.0, 0.0};  // alpha = beta = gamma = delta = 1: uniform p and theta
  FitReport local;
  FitReport* rep = report ? report : &local;
  TWINSCORE_RETURN_IF_ERROR(clv_internal::MinimizeLbfgs<4>(fn, &theta, options, "BG/BB", rep));
  const BgBbParams p = Objective::Params(theta);
  std::array<double, 4> g;
  rep->log_likelihood = Sum(p, x, t_x, n, weights, objective.max_x, objective.max_n, &g);
  return p;
}

namespace {

// The covariance's coordinates phi = (logit m1, log s1, logit m2, log s2)
// with m1 = alpha / (alpha + beta), s1 = alpha + beta, m2 = gamma / (gamma +
// delta), s2 = gamma + delta: a mean and a concentration per Beta. Where the
// likelihood's supremum lies at s -> infinity (one transaction or drop-out
// probability for every client), the fit stops on the way and the
// information in log s is rounding; in these coordinates that scale can be
// held while the mean keeps its standard error.
BgBbParams ParamsOfPhi(const std::array<double, 4>& phi) {
  const double m1 = 1 / (1 + std::exp(-phi[0])), s1 = std::exp(phi[1]);
  const double m2 = 1 / (1 + std::exp(-phi[2])), s2 = std::exp(phi[3]);
  return {m1 * s1, (1 - m1) * s1, m2 * s2, (1 - m2) * s2};
}

// d(alpha, beta, gamma, delta) / d phi (row: natural parameter, column: phi).
Eigen::Matrix4d JacobianOfPhi(const BgBbParams& p) {
  const double s1 = p.alpha + p.beta, s2 = p.gamma + p.delta;
  const double v1 = p.alpha * p.beta / s1, v2 = p.gamma * p.delta / s2;  // s m (1 - m)
  Eigen::Matrix4d J = Eigen::Matrix4d::Zero();
  J(0, 0) = v1, J(1, 0) = -v1, J(0, 1) = p.alpha, J(1, 1) = p.beta;
  J(2, 2) = v2, J(3, 2) = -v2, J(2, 3) = p.gamma, J(3, 3) = p.delta;
  return J;
}

// Held scales tried in turn when the information is not positive definite
// or bounds a scale to no better than a factor e^10: none, s2, s1, both.
constexpr std::array<std::array<bool, 2>, 4> kHolds{{{false, false}, {false, true}, {true, false}, {true, true}}};

}  // namespace

absl::Status BgBbCovariance(const BgBbParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                            absl::Span<const double> n, absl::Span<const double> weights, double penalizer,
                            Uncertainty* out, int* held_scales) {
  TWINSCORE_RETURN_IF_ERROR(clv_internal::CheckUncertaintyOut(out, 4));
  TWINSCORE_RETURN_IF_ERROR(CheckPatterns(x, t_x, n, weights));
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  const double s1 = p.alpha + p.beta, s2 = p.gamma + p.delta;
  const std::array<double, 4> phi{std::log(p.alpha / p.beta), std::log(s1), std::log(p.gamma / p.delta),
                                  std::log(s2)};
  // Total (not mean) penalised negative log-likelihood in phi, by the chain rule from theta = log(params).
  const Objective objective{x, t_x, n, weights, MaxOf(x), MaxOf(n), 1.0, penalizer};
  const std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn =
      [&](const std::array<double, 4>& ph, std::array<double, 4>* grad) {
        const BgBbParams q = ParamsOfPhi(ph);
        const std::array<double, 4> th{std::log(q.alpha), std::log(q.beta), std::log(q.gamma), std::log(q.delta)};
        std::array<double, 4> g_th;  // d f / d log(param) = d f / d param * param
        const double f = objective(th, &g_th);
        const Eigen::Vector4d g_nat(g_th[0] / q.alpha, g_th[1] / q.beta, g_th[2] / q.gamma, g_th[3] / q.delta);
        const Eigen::Vector4d g_phi = JacobianOfPhi(q).transpose() * g_nat;
        for (int k = 0; k < 4; ++k) (*grad)[k] = g_phi(k);
        return f;
      };
  const Eigen::MatrixXd info = clv_internal::Information<4>(fn, phi);
  std::optional<Eigen::MatrixXd> cov;
  std::vector<bool> held(4);
  for (const auto& hold : kHolds) {
    held = {false, hold[0], false, hold[1]};
    cov = clv_internal::FreeCovariance(info, held);
    if (cov && (*cov)(1, 1) <= 100.0 && (*cov)(3, 3) <= 100.0) break;
    cov.reset();
  }
  if (!cov) {
    return absl::FailedPreconditionError("BG/BB: the observed information is not positive definite at the fit: "
                                         "the data do not identify the parameters");
  }
  Eigen::MatrixXd J = JacobianOfPhi(p);
  for (int k = 0; k < 4; ++k) {
    if (held[k]) J.col(k).setZero();
  }
  if (held_scales) *held_scales = (held[1] ? 1 : 0) | (held[3] ? 2 : 0);
  const Eigen::MatrixXd natural = J * (*cov) * J.transpose();
  return clv_internal::WriteUncertainty((natural + natural.transpose()) / 2, J,
                                   held[1] || held[3] ? Boundary::kScaleHeld : Boundary::kInterior, out);
}

namespace {

// Sum over k = 1..horizon of E[(1 - theta)^(n+k)] / E[(1 - theta)^n], each
// term the last times (delta + n + k - 1) / (gamma + delta + n + k - 1), and
// with `discount` > 0 each divided by (1 + discount)^k; horizon < 0 means an
// infinite horizon (then discount > 0: a geometric tail bound stops it).
absl::StatusOr<double> SurvivalSum(double gamma, double delta, double n, double horizon, double discount) {
  const double rho = 1.0 / (1.0 + discount);
  double term = 1.0, sum = 0.0;
  constexpr double kMaxTerms = 1e8;
  const double last = horizon < 0 ? kMaxTerms : horizon;
  for (double k = 1; k <= last; ++k) {
    term *= (delta + n + k - 1) / (gamma + delta + n + k - 1) * rho;
    sum += term;
    // The term ratio is below rho, so the tail is below term rho / (1 - rho).
    if (horizon < 0 && term * rho / (1 - rho) <= 1e-16 * sum) return sum;
    if (term == 0) return sum;
  }
  if (horizon < 0) {
    return absl::FailedPreconditionError(absl::StrCat("the discounted expected residual transactions did not "
                                                      "converge in 1e8 terms: the discount ", discount,
                                                      " is too small"));
  }
  return sum;
}

// One client's predictions from the tables (nullptr outputs skipped).
// The survival sums are per n (`surv`, `surv_d`: indexed by n).
void PredictOne(const Tables& tb, size_t x, size_t t_x, size_t n, const double* surv, const double* surv_d,
                std::vector<double>* buf, double* expected, double* alive, double* dert) {
  const double ll = PatternLogLik(tb, x, t_x, n, buf, nullptr);
  // log E[p^(x+1) (1-p)^(n-x) (1-theta)^n] - log L: the client is alive
  // through n and transacts at the next opportunity, given its history.
  const double lead = tb.A[x + 1] + tb.B[n - x] - tb.AB[n + 1] + tb.D[n] - tb.GD[n] - ll;
  if (alive) *alive = std::exp(tb.A[x] + tb.B[n - x] - tb.AB[n] + tb.D[n + 1] - tb.GD[n + 1] - ll);
  if (expected) *expected = std::exp(lead) * surv[n];
  if (dert) *dert = std::exp(lead) * surv_d[n];
}

// The survival sums of every n present (NaN elsewhere), computed in parallel.
absl::StatusOr<std::vector<double>> SurvivalSums(const BgBbParams& p, const std::vector<uint8_t>& present,
                                                 double horizon, double discount) {
  std::vector<double> out(present.size(), std::nan(""));
  TWINSCORE_RETURN_IF_ERROR(
      ParallelBlocksStatus(present.size(), 64, [&](size_t, size_t b, size_t e) -> absl::Status {
        for (size_t k = b; k < e; ++k) {
          if (!present[k]) continue;
          absl::StatusOr<double> s = SurvivalSum(p.gamma, p.delta, static_cast<double>(k), horizon, discount);
          if (!s.ok()) return s.status();
          out[k] = *s;
        }
        return absl::OkStatus();
      }));
  return out;
}

// Distinct (x, t_x, n) patterns: `pattern[i]` numbers client i's, the
// patterns' values in order of first appearance.
struct Patterns {
  std::vector<double> x, t_x, n;
  std::vector<int64_t> of_client;
};

Patterns GroupPatterns(absl::Span<const double> x, absl::Span<const double> t_x, absl::Span<const double> n) {
  Patterns g;
  absl::flat_hash_map<std::array<double, 3>, int64_t> index;
  g.of_client.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const std::array<double, 3> key{x[i] + 0.0, t_x[i] + 0.0, n[i] + 0.0};
    auto [it, inserted] = index.try_emplace(key, static_cast<int64_t>(g.x.size()));
    if (inserted) {
      g.x.push_back(key[0]);
      g.t_x.push_back(key[1]);
      g.n.push_back(key[2]);
    }
    g.of_client[i] = it->second;
  }
  return g;
}

absl::Status CheckHorizon(double horizon) {
  TWINSCORE_CHECK_ARG(std::isfinite(horizon) && horizon >= 0 && horizon == std::floor(horizon) && horizon <= 1e8,
                      "the horizon must be a whole number of opportunities in [0, 1e8], got ", horizon);
  return absl::OkStatus();
}

}  // namespace

absl::Status BgBbPredict(const BgBbParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                         absl::Span<const double> n, double horizon, double discount, const BgBbOutputs& out) {
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_RETURN_IF_ERROR(CheckPatterns(x, t_x, n, {}));
  TWINSCORE_RETURN_IF_ERROR(CheckHorizon(horizon));
  const size_t m = x.size();
  for (auto s : {out.expected, out.p_alive, out.dert}) {
    TWINSCORE_CHECK_ARG(s.empty() || s.size() == m, "prediction outputs must hold ", m, " values");
  }
  const bool want_dert = !out.dert.empty();
  TWINSCORE_CHECK_ARG(!want_dert || (std::isfinite(discount) && discount > 0),
                      "the discount rate must be finite and > 0 for the residual transactions, got ", discount);
  const size_t max_n = MaxOf(n);
  std::vector<uint8_t> present(max_n + 1, 0);
  for (double v : n) present[static_cast<size_t>(v)] = 1;
  std::vector<double> surv(max_n + 1, 0.0), surv_d(max_n + 1, 0.0);
  if (!out.expected.empty()) {
    absl::StatusOr<std::vector<double>> s = SurvivalSums(p, present, horizon, 0.0);
    if (!s.ok()) return s.status();
    surv = *std::move(s);
  }
  if (want_dert) {
    absl::StatusOr<std::vector<double>> s = SurvivalSums(p, present, -1.0, discount);
    if (!s.ok()) return s.status();
    surv_d = *std::move(s);
  }
  // Clients of one (x, t_x, n) pattern share their predictions: computed once per pattern, then copied.
  const Patterns g = GroupPatterns(x, t_x, n);
  const size_t K = g.x.size();
  std::vector<double> e(out.expected.empty() ? 0 : K), a(out.p_alive.empty() ? 0 : K), r(want_dert ? K : 0);
  const Tables tb = MakeTables(p, MaxOf(x), max_n, false);
  ParallelBlocks(K, 256, [&](size_t, size_t b, size_t end) {
    std::vector<double> buf;
    for (size_t k = b; k < end; ++k) {
      PredictOne(tb, static_cast<size_t>(g.x[k]), static_cast<size_t>(g.t_x[k]), static_cast<size_t>(g.n[k]),
                 surv.data(), surv_d.data(), &buf, e.empty() ? nullptr : &e[k], a.empty() ? nullptr : &a[k],
                 want_dert ? &r[k] : nullptr);
    }
  });
  ParallelBlocks(m, kBlock, [&](size_t, size_t b, size_t end) {
    for (size_t i = b; i < end; ++i) {
      const size_t k = static_cast<size_t>(g.of_client[i]);
      if (!e.empty()) out.expected[i] = e[k];
      if (!a.empty()) out.p_alive[i] = a[k];
      if (want_dert) out.dert[i] = r[k];
    }
  });
  return absl::OkStatus();
}

absl::Status BgBbCountProbabilities(const BgBbParams& p, absl::Span<const double> n, int64_t max_count,
                                    absl::Span<double> out) {
  TWINSCORE_RETURN_IF_ERROR(CheckParams(p));
  TWINSCORE_CHECK_ARG(!n.empty(), "no n given");
  TWINSCORE_CHECK_ARG(max_count >= 0 && max_count <= kMaxN, "max_count must be in [0, 1e6], got ", max_count);
  for (size_t i = 0; i < n.size(); ++i) TWINSCORE_RETURN_IF_ERROR(CheckWhole(n[i], "n_periods", i));
  const size_t K = static_cast<size_t>(max_count) + 1;
  TWINSCORE_CHECK_ARG(out.size() == n.size() * K, "the output must hold ", n.size() * K, " values");
  const size_t max_n = MaxOf(n);
  const Tables tb = MakeTables(p, std::max(max_n, K), max_n, false);
  std::vector<double> log_fact;  // log k!
  PrefixLogs(1.0, max_n + 2, &log_fact, nullptr);
  ParallelBlocks(n.size(), 16, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const size_t ni = static_cast<size_t>(n[i]);
      for (size_t x = 0; x < K; ++x) {
        double prob = 0;
        if (x <= ni) {
          // log C(i, x) B(alpha + x, beta + i - x) / B(alpha, beta)
          auto binom = [&](size_t i_) {
            return log_fact[i_] - log_fact[x] - log_fact[i_ - x] + tb.A[x] + tb.B[i_ - x] - tb.AB[i_];
          };
          prob = std::exp(binom(ni) + tb.D[ni] - tb.GD[ni]);  // alive through n
          for (size_t j = x; j < ni; ++j) prob += std::exp(binom(j) + tb.log_gamma + tb.D[j] - tb.GD[j + 1]);
        }
        out[i * K + x] = prob;
      }
    }
  });
  return absl::OkStatus();
}

absl::Status BgBbPredictIntervals(absl::Span<const double> draws, absl::Span<const double> x,
                                  absl::Span<const double> t_x, absl::Span<const double> n, double horizon,
                                  double level, const IntervalOutputs& out) {
  TWINSCORE_RETURN_IF_ERROR(clv_internal::CheckDraws(draws, 4, "BG/BB"));
  TWINSCORE_RETURN_IF_ERROR(clv_internal::CheckLevel(level));
  TWINSCORE_RETURN_IF_ERROR(CheckHorizon(horizon));
  TWINSCORE_RETURN_IF_ERROR(CheckPatterns(x, t_x, n, {}));
  const size_t m = x.size(), D = draws.size() / 4;
  for (auto s : {out.expected_lower, out.expected_upper, out.alive_lower, out.alive_upper}) {
    TWINSCORE_CHECK_ARG(s.empty() || s.size() == m, "interval outputs must hold ", m, " values");
  }
  for (size_t d = 0; d < D; ++d) {
    const double* q = draws.data() + 4 * d;
    TWINSCORE_RETURN_IF_ERROR(CheckParams({q[0], q[1], q[2], q[3]}));
  }
  const bool want_e = !out.expected_lower.empty(), want_a = !out.alive_lower.empty();
  const Patterns g = GroupPatterns(x, t_x, n);
  const size_t K = g.x.size();
  const size_t max_x = MaxOf(x), max_n = MaxOf(n);
  std::vector<uint8_t> present(max_n + 1, 0);
  for (double v : g.n) present[static_cast<size_t>(v)] = 1;
  const double lo_q = (1 - level) / 2, hi_q = (1 + level) / 2;
  // Patterns in chunks whose draw table (2 values per pattern and draw) stays below 2^24 doubles.
  const size_t chunk = std::max<size_t>(1, (size_t{1} << 23) / D);
  std::vector<double> e_lo(K), e_hi(K), a_lo(K), a_hi(K);
  for (size_t k0 = 0; k0 < K; k0 += chunk) {
    const size_t k1 = std::min(K, k0 + chunk), c = k1 - k0;
    std::vector<double> table(2 * c * D);  // [pattern][draw]: expected, then alive
    TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(D, 1, [&](size_t, size_t b, size_t e) -> absl::Status {
      std::vector<double> buf, none(max_n + 1, 0.0);
      for (size_t d = b; d < e; ++d) {
        const double* q = draws.data() + 4 * d;
        const BgBbParams p{q[0], q[1], q[2], q[3]};
        // Serial inside a draw: the draws already fill the threads.
        std::vector<double> surv(max_n + 1, 0.0);
        if (want_e) {
          for (size_t v = 0; v <= max_n; ++v) {
            if (!present[v]) continue;
            absl::StatusOr<double> s = SurvivalSum(p.gamma, p.delta, static_cast<double>(v), horizon, 0.0);
            if (!s.ok()) return s.status();
            surv[v] = *s;
          }
        }
        const Tables tb = MakeTables(p, max_x, max_n, false);
        for (size_t k = k0; k < k1; ++k) {
          double* row = table.data() + 2 * (k - k0) * D;
          PredictOne(tb, static_cast<size_t>(g.x[k]), static_cast<size_t>(g.t_x[k]), static_cast<size_t>(g.n[k]),
                     surv.data(), none.data(), &buf, &row[d], &row[D + d], nullptr);
        }
      }
      return absl::OkStatus();
    }));
    ParallelBlocks(c, 256, [&](size_t, size_t b, size_t e) {
      for (size_t k = b; k < e; ++k) {
        double* row = table.data() + 2 * k * D;
        if (want_e) {
          e_lo[k0 + k] = clv_internal::Quantile(row, D, lo_q);
          e_hi[k0 + k] = clv_internal::Quantile(row, D, hi_q);
        }
        if (want_a) {
          a_lo[k0 + k] = clv_internal::Quantile(row + D, D, lo_q);
          a_hi[k0 + k] = clv_internal::Quantile(row + D, D, hi_q);
        }
      }
    });
  }
  ParallelBlocks(m, kBlock, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const size_t k = static_cast<size_t>(g.of_client[i]);
      if (want_e) {
        out.expected_lower[i] = e_lo[k];
        out.expected_upper[i] = e_hi[k];
      }
      if (want_a) {
        out.alive_lower[i] = a_lo[k];
        out.alive_upper[i] = a_hi[k];
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace twinscore
