// Shared machinery of the lifetime-value fits (BG/NBD, Gamma-Gamma, BG/BB):
// deterministic block sums of a likelihood and its gradient, the box-bounded
// L-BFGS, the observed information and its inverse, and the quantiles of
// per-client draws. Internal: included by the engines' sources only.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include <Eigen/Dense>

#include "twinscore/clv.h"
#include "twinscore/threads.h"

namespace twinscore::clv_internal {

// Clients per block of a likelihood sum.
inline constexpr size_t kBlock = 4096;

// Weighted sum over blocks of per-item (value, gradient) terms, combined in
// block order. Term(i, g) returns the value and adds the item's gradient to g.
template <size_t P, class Term>
double BlockSum(size_t n, absl::Span<const double> w, std::array<double, P>* grad, Term&& term) {
  const size_t nb = NumBlocks(n, kBlock);
  std::vector<std::array<double, P + 1>> part(nb);
  ParallelBlocks(n, kBlock, [&](size_t b, size_t begin, size_t end) {
    std::array<double, P + 1> acc{};
    for (size_t i = begin; i < end; ++i) {
      const double wi = w.empty() ? 1.0 : w[i];
      if (wi == 0) continue;
      std::array<double, P> g{};
      acc[0] += wi * term(i, g);
      for (size_t j = 0; j < P; ++j) acc[j + 1] += wi * g[j];
    }
    part[b] = acc;
  });
  double total = 0;
  grad->fill(0.0);
  for (const auto& a : part) {
    total += a[0];
    for (size_t j = 0; j < P; ++j) (*grad)[j] += a[j + 1];
  }
  return total;
}

// Box bound of every fit coordinate: |theta_k| <= kBound. The likelihood's
// supremum can lie at infinity in a coordinate (a + b -> 0 or -> infinity:
// a two-point or a single drop-out probability); the fit then stops on the
// bound (a + b = e^-30 or e^30), where what is left to gain is below rounding.
inline constexpr double kBound = 30.0;

// The gradient with the components that push out of the box at a bound set
// to 0 (those coordinates are held there: the bound's active set).
template <size_t P>
std::array<double, P> ProjectedGradient(const std::array<double, P>& theta, const std::array<double, P>& g) {
  std::array<double, P> pg = g;
  for (size_t k = 0; k < P; ++k) {
    if ((theta[k] <= -kBound && g[k] > 0) || (theta[k] >= kBound && g[k] < 0)) pg[k] = 0.0;
  }
  return pg;
}

// Minimises f over theta in the box [-kBound, kBound]^P (projected L-BFGS
// with an active set: coordinates held at a bound are left out of the
// direction). fn(theta, grad) returns f and writes its gradient; a non-finite
// f means "outside the domain" and is backtracked.
template <size_t P>
absl::Status MinimizeLbfgs(const std::function<double(const std::array<double, P>&, std::array<double, P>*)>& fn,
                           std::array<double, P>* theta, const FitOptions& opt, const char* model,
                           FitReport* report) {
  using Vec = std::array<double, P>;
  constexpr int kMemory = 8;
  auto dot = [](const Vec& u, const Vec& v) {
    double s = 0;
    for (size_t j = 0; j < P; ++j) s += u[j] * v[j];
    return s;
  };
  auto inf_norm = [](const Vec& u) {
    double s = 0;
    for (double v : u) s = std::max(s, std::abs(v));
    return s;
  };
  auto done = [&](int it, int evals) {
    report->iterations = it;
    report->evaluations = evals;
    return absl::OkStatus();
  };
  for (double& v : *theta) v = std::clamp(v, -kBound, kBound);
  std::vector<Vec> S, Y;
  Vec g;
  double f = fn(*theta, &g);
  int evals = 1;
  TWINSCORE_CHECK_ARG(std::isfinite(f), model, ": the log-likelihood is not finite at the starting point");
  for (int it = 0; it < opt.max_iterations; ++it) {
    const Vec pg = ProjectedGradient(*theta, g);
    if (inf_norm(pg) < opt.gtol) return done(it, evals);
    // Two-loop recursion on the free coordinates: d = -H pg.
    Vec q = pg;
    std::vector<double> alpha(S.size());
    for (int j = static_cast<int>(S.size()) - 1; j >= 0; --j) {
      alpha[j] = dot(S[j], q) / dot(S[j], Y[j]);
      for (size_t k = 0; k < P; ++k) q[k] -= alpha[j] * Y[j][k];
    }
    double gamma = S.empty() ? 1.0 / std::max(1.0, inf_norm(pg)) : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (auto& v : q) v *= gamma;
    for (size_t j = 0; j < S.size(); ++j) {
      const double beta = dot(Y[j], q) / dot(S[j], Y[j]);
      for (size_t k = 0; k < P; ++k) q[k] += S[j][k] * (alpha[j] - beta);
    }
    Vec d;
    for (size_t k = 0; k < P; ++k) d[k] = pg[k] == 0.0 && g[k] != 0.0 ? 0.0 : -q[k];
    double slope = dot(g, d);
    if (!(slope < 0)) {  // not a descent direction: restart from steepest descent
      S.clear();
      Y.clear();
      for (size_t k = 0; k < P; ++k) d[k] = -pg[k] / std::max(1.0, inf_norm(pg));
      slope = dot(g, d);
    }
    // Backtracking (Armijo) line search along the projected path; steps are
    // capped so that no coordinate moves by more than 5 (a factor e^5) at once.
    double step = std::min(1.0, 5.0 / std::max(1e-300, inf_norm(d)));
    Vec t_new, g_new;
    double f_new = f;
    bool accepted = false;
    // Halving stops once the decrease the step promises is below the
    // rounding of f: no shorter step can show a representable decrease, and
    // near the optimum each further evaluation (a pass over every client)
    // would be wasted.
    const double f_ulp = 4 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(f));
    for (int ls = 0; ls < 60 && (ls == 0 || -step * slope > f_ulp); ++ls, step *= 0.5) {
      for (size_t k = 0; k < P; ++k) t_new[k] = std::clamp((*theta)[k] + step * d[k], -kBound, kBound);
      Vec moved;
      for (size_t k = 0; k < P; ++k) moved[k] = t_new[k] - (*theta)[k];
      f_new = fn(t_new, &g_new);
      ++evals;
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * dot(g, moved)) {
        // f_new == f: the decrease is below double precision, no progress.
        accepted = f_new < f;
        break;
      }
    }
    if (!accepted) {
      // Stale curvature pairs can give a poor direction: retry once from
      // steepest descent before judging.
      if (!S.empty()) {
        S.clear();
        Y.clear();
        continue;
      }
      // No decrease is representable even along steepest descent: accept when
      // the gradient is already tiny, or when the first-order decrease left
      // is below 1e-12 of f (ill-conditioned near a bound, as a + b -> 0: a
      // gradient of 1e-6 there moves the log-likelihood by less than that).
      if (inf_norm(pg) < std::max(1e3 * opt.gtol, 1e-7) || -slope <= 1e-12 * std::max(1.0, std::abs(f))) {
        return done(it, evals);
      }
      return absl::FailedPreconditionError(absl::StrCat(model, " fit did not converge: the line search failed at "
                                                               "iteration ", it, " with gradient norm ", inf_norm(pg)));
    }
    Vec s, y;
    for (size_t k = 0; k < P; ++k) {
      s[k] = t_new[k] - (*theta)[k];
      y[k] = g_new[k] - g[k];
    }
    // A coordinate that reached a bound changes the problem: forget the curvature pairs.
    bool hit_bound = false;
    for (size_t k = 0; k < P; ++k) hit_bound |= std::abs(t_new[k]) >= kBound && std::abs((*theta)[k]) < kBound;
    if (hit_bound) {
      S.clear();
      Y.clear();
    } else if (dot(s, y) > 1e-16 * dot(y, y)) {
      if (S.size() == kMemory) {
        S.erase(S.begin());
        Y.erase(Y.begin());
      }
      S.push_back(s);
      Y.push_back(y);
    }
    *theta = t_new;
    f = f_new;
    g = g_new;
  }
  if (inf_norm(ProjectedGradient(*theta, g)) < std::max(1e3 * opt.gtol, 1e-7)) return done(opt.max_iterations, evals);
  return absl::FailedPreconditionError(absl::StrCat(model, " fit did not converge in ", opt.max_iterations,
                                                    " iterations (gradient norm ", inf_norm(ProjectedGradient(*theta, g)),
                                                    "); raise max_iter or add a penalizer"));
}

inline double TotalWeight(size_t n, absl::Span<const double> w) {
  return w.empty() ? static_cast<double>(n) : std::accumulate(w.begin(), w.end(), 0.0);
}

// Observed information (Hessian of the negative log-likelihood) in the fit
// coordinates, by central differences of the analytic gradient. The step
// 1e-5 in coordinates that are logs (or an angle) is a relative step of
// 1e-5: truncation error ~1e-10 and rounding error ~1e-16 n / 1e-5 against
// entries of order n, both far below what a standard error needs.
template <size_t P>
Eigen::MatrixXd Information(const std::function<double(const std::array<double, P>&, std::array<double, P>*)>& fn,
                            const std::array<double, P>& theta) {
  constexpr double h = 1e-5;
  Eigen::MatrixXd info(P, P);
  for (size_t k = 0; k < P; ++k) {
    std::array<double, P> up = theta, down = theta, gu, gd;
    up[k] += h;
    down[k] -= h;
    fn(up, &gu);
    fn(down, &gd);
    for (size_t j = 0; j < P; ++j) info(j, k) = (gu[j] - gd[j]) / (2 * h);
  }
  return (info + info.transpose()) / 2;
}

// Covariance of the free coordinates (held ones: rows and columns 0), or
// nullopt when the free block of the information is not positive definite.
inline std::optional<Eigen::MatrixXd> FreeCovariance(const Eigen::MatrixXd& info, const std::vector<bool>& held) {
  std::vector<int> free;
  for (int k = 0; k < static_cast<int>(held.size()); ++k) {
    if (!held[k]) free.push_back(k);
  }
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(info.rows(), info.cols());
  if (free.empty()) return cov;
  Eigen::MatrixXd sub(free.size(), free.size());
  for (size_t i = 0; i < free.size(); ++i) {
    for (size_t j = 0; j < free.size(); ++j) sub(i, j) = info(free[i], free[j]);
  }
  if (!sub.allFinite()) return std::nullopt;
  Eigen::LLT<Eigen::MatrixXd> llt(sub);
  if (llt.info() != Eigen::Success) return std::nullopt;
  const Eigen::MatrixXd inv = llt.solve(Eigen::MatrixXd::Identity(free.size(), free.size()));
  if (!inv.allFinite() || (inv.diagonal().array() <= 0).any()) return std::nullopt;
  for (size_t i = 0; i < free.size(); ++i) {
    for (size_t j = 0; j < free.size(); ++j) cov(free[i], free[j]) = inv(i, j);
  }
  return cov;
}

inline absl::Status WriteUncertainty(const Eigen::MatrixXd& natural, const Eigen::MatrixXd& jacobian,
                                     Boundary boundary, Uncertainty* out) {
  const Eigen::Index k = natural.rows();
  TWINSCORE_CHECK_ARG(natural.allFinite(), "the covariance of the parameters is not finite (the parameters are too "
                                           "large or too small for the data to bound them)");
  for (Eigen::Index i = 0; i < k; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) out->cov[i * k + j] = natural(i, j);
    out->fixed[i] = jacobian.row(i).isZero(0.0) ? 1 : 0;
  }
  out->boundary = boundary;
  return absl::OkStatus();
}

inline absl::Status CheckUncertaintyOut(const Uncertainty* out, size_t k) {
  TWINSCORE_CHECK_ARG(out != nullptr && out->cov.size() == k * k && out->fixed.size() == k, "the covariance output must "
                      "hold ", k * k, " values and the fixed flags ", k);
  return absl::OkStatus();
}

// Held at the box bound (to rounding).
inline bool AtBound(double v) { return std::abs(v) >= kBound - 1e-9; }

// Quantile q of v (size d) with linear interpolation between order
// statistics (numpy's default); reorders v.
inline double Quantile(double* v, size_t d, double q) {
  const double h = (static_cast<double>(d) - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  std::nth_element(v, v + lo, v + d);
  const double a = v[lo];
  if (lo + 1 >= d) return a;
  const double b = *std::min_element(v + lo + 1, v + d);
  return a + (h - static_cast<double>(lo)) * (b - a);
}

inline absl::Status CheckDraws(absl::Span<const double> draws, size_t k, const char* what) {
  TWINSCORE_CHECK_ARG(!draws.empty() && draws.size() % k == 0, what, " draws must hold a multiple of ", k,
                      " values, got ", draws.size());
  return absl::OkStatus();
}

inline absl::Status CheckLevel(double level) {
  TWINSCORE_CHECK_ARG(std::isfinite(level) && level > 0 && level < 1, "interval level must be in (0, 1), got ", level);
  return absl::OkStatus();
}

}  // namespace twinscore::clv_internal
