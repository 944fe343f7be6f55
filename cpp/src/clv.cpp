#include "twinscore/clv.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "twinscore/threads.h"

namespace twinscore {

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

absl::StatusOr<double> Hyp2F1(double a, double b, double c, double z) {
  TWINSCORE_CHECK_ARG(z >= 0.0 && z < 1.0, "hypergeometric series needs 0 <= z < 1, got z = ", z);
  TWINSCORE_CHECK_ARG(c > 0.0, "hypergeometric series needs c > 0, got c = ", c);
  double term = 1.0, sum = 1.0;
  constexpr int kMaxTerms = 10'000'000;
  for (int k = 0; k < kMaxTerms; ++k) {
    term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
    sum += term;
    // Terms shrink geometrically (ratio -> z) once k exceeds a, b, c.
    if (std::abs(term) <= 1e-16 * std::abs(sum) && k > a + b) return sum;
  }
  return absl::FailedPreconditionError(absl::StrCat("hypergeometric series 2F1(", a, ", ", b, "; ", c, "; ", z,
                                                    ") did not converge"));
}

absl::Status FitOptions::Validate() const {
  TWINSCORE_CHECK_ARG(max_iterations >= 1, "max_iterations must be >= 1, got ", max_iterations);
  TWINSCORE_CHECK_ARG(std::isfinite(gtol) && gtol > 0, "gtol must be > 0, got ", gtol);
  TWINSCORE_CHECK_ARG(std::isfinite(penalizer) && penalizer >= 0, "penalizer must be >= 0, got ", penalizer);
  return absl::OkStatus();
}

namespace {

constexpr size_t kBlock = 4096;

// ---------------------------------------------------------------- summaries

absl::Status CheckLog(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                      absl::Span<const double> amount, int64_t n_clients, int64_t observation_end) {
  return ParallelBlocksStatus(codes.size(), 1 << 16, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(codes[i] >= 0 && codes[i] < n_clients, "client code ", codes[i], " at row ", i,
                          " is outside [0, ", n_clients, ")");
      TWINSCORE_CHECK_ARG(day[i] <= observation_end, "date at row ", i, " is after the observation end");
      if (!amount.empty()) {
        TWINSCORE_CHECK_ARG(std::isfinite(amount[i]) && amount[i] >= 0.0, "amount at row ", i,
                            " must be finite and >= 0, got ", amount[i]);
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status SummarizeCalibration(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                  absl::Span<const double> amount, int64_t n_clients, int64_t calibration_end,
                                  int64_t observation_end, double period_days, const CalibrationSummary& out) {
  const size_t n = codes.size();
  TWINSCORE_CHECK_ARG(n > 0, "the transaction log is empty");
  TWINSCORE_CHECK_ARG(day.size() == n, "date has ", day.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(amount.empty() || amount.size() == n, "amount has ", amount.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(n_clients > 0, "n_clients must be > 0, got ", n_clients);
  TWINSCORE_CHECK_ARG(std::isfinite(period_days) && period_days > 0, "period_days must be > 0, got ", period_days);
  TWINSCORE_CHECK_ARG(observation_end >= calibration_end, "observation end is before the calibration end");
  const size_t k = static_cast<size_t>(n_clients);
  for (auto s : {out.x, out.t_x, out.T, out.monetary, out.holdout}) {
    TWINSCORE_CHECK_ARG(s.size() == k, "output spans must hold n_clients = ", n_clients, " values");
  }
  TWINSCORE_CHECK_ARG(out.has_calibration.size() == k, "output spans must hold n_clients values");
  TWINSCORE_RETURN_IF_ERROR(CheckLog(codes, day, amount, n_clients, observation_end));

  // Rows grouped by client with a stable counting sort (log order kept inside a client).
  std::vector<int64_t> start(k + 1, 0);
  for (size_t i = 0; i < n; ++i) start[codes[i] + 1]++;
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<int64_t> rows(n);
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) rows[next[codes[i]]++] = static_cast<int64_t>(i);
  }
  ParallelBlocks(k, kBlock, [&](size_t, size_t lo, size_t hi) {
    std::vector<std::pair<int64_t, double>> days;  // (day, amount) of one client
    for (size_t c = lo; c < hi; ++c) {
      days.clear();
      for (int64_t j = start[c]; j < start[c + 1]; ++j) {
        const int64_t i = rows[j];
        days.emplace_back(day[i], amount.empty() ? 0.0 : amount[i]);
      }
      // Stable: same-day amounts are added in log order.
      std::stable_sort(days.begin(), days.end(), [](const auto& u, const auto& v) { return u.first < v.first; });
      double repeats = 0, repeat_spend = 0, holdout = 0;
      int64_t last = 0;
      double day_spend = 0;
      const bool calibrated = !days.empty() && days.front().first <= calibration_end;
      const int64_t first = calibrated ? days.front().first : 0;
      for (size_t j = 0; j < days.size(); ++j) {
        day_spend += days[j].second;
        const bool day_ends = j + 1 == days.size() || days[j + 1].first != days[j].first;
        if (!day_ends) continue;
        const int64_t d = days[j].first;
        if (d > calibration_end) {
          holdout += 1;
        } else if (d != first) {
          repeats += 1;
          repeat_spend += day_spend;
          last = d;
        }
        day_spend = 0;
      }
      out.has_calibration[c] = calibrated ? 1 : 0;
      out.x[c] = repeats;
      out.t_x[c] = repeats > 0 ? static_cast<double>(last - first) / period_days : 0.0;
      out.T[c] = calibrated ? static_cast<double>(calibration_end - first) / period_days : 0.0;
      out.monetary[c] = repeats > 0 ? repeat_spend / repeats : 0.0;
      // A client first seen after the calibration end is a new client, not
      // a holdout repeat buyer.
      out.holdout[c] = calibrated ? holdout : 0.0;
    }
  });
  const bool any = std::any_of(out.has_calibration.begin(), out.has_calibration.end(), [](uint8_t v) { return v; });
  TWINSCORE_CHECK_ARG(any, "no purchase on or before the calibration end: the calibration end is before the first "
                           "purchase");
  return absl::OkStatus();
}

namespace {

// ---------------------------------------------------------------- input checks

absl::Status CheckSummaries(absl::Span<const double> x, absl::Span<const double> t_x, absl::Span<const double> T,
                            absl::Span<const double> w) {
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(n > 0, "no client to fit");
  TWINSCORE_CHECK_ARG(t_x.size() == n, "recency (t_x) has ", t_x.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(T.size() == n, "T has ", T.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(w.empty() || w.size() == n, "weights has ", w.size(), " values, expected ", n);
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(x[i]) && x[i] >= 0 && x[i] == std::floor(x[i]) && x[i] <= 1e7,
                        "frequency at position ", i, " must be a whole number >= 0, got ", x[i]);
    TWINSCORE_CHECK_ARG(std::isfinite(T[i]) && T[i] >= 0, "T at position ", i, " must be finite and >= 0, got ",
                        T[i]);
    TWINSCORE_CHECK_ARG(std::isfinite(t_x[i]) && t_x[i] >= 0 && t_x[i] <= T[i], "recency at position ", i,
                        " must be in [0, T], got ", t_x[i], " with T = ", T[i]);
    TWINSCORE_CHECK_ARG(x[i] > 0 || t_x[i] == 0, "recency at position ", i, " must be 0 when frequency is 0");
    TWINSCORE_CHECK_ARG(w.empty() || (std::isfinite(w[i]) && w[i] >= 0), "weight at position ", i,
                        " must be finite and >= 0");
  }
  return absl::OkStatus();
}

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

// ---------------------------------------------------------------- BG/NBD

// Terms that depend on x only, tabulated per evaluation (x is a small whole number).
struct BgNbdTables {
  std::vector<double> a1, a2, dr, da, db, log_bx1;  // log_bx1 = ln(b + x - 1), x >= 1
};

BgNbdTables MakeTables(const BgNbdParams& p, int max_x) {
  BgNbdTables t;
  const size_t m = static_cast<size_t>(max_x) + 1;
  for (auto* v : {&t.a1, &t.a2, &t.dr, &t.da, &t.db, &t.log_bx1}) v->resize(m);
  const double lg_r = std::lgamma(p.r), lg_b = std::lgamma(p.b), lg_ab = std::lgamma(p.a + p.b);
  const double ps_r = Digamma(p.r), ps_b = Digamma(p.b), ps_ab = Digamma(p.a + p.b);
  for (size_t x = 0; x < m; ++x) {
    const double xd = static_cast<double>(x);
    t.a1[x] = std::lgamma(p.r + xd) - lg_r + p.r * std::log(p.alpha);
    t.a2[x] = lg_ab + std::lgamma(p.b + xd) - lg_b - std::lgamma(p.a + p.b + xd);
    t.dr[x] = Digamma(p.r + xd) - ps_r + std::log(p.alpha);
    const double ps_abx = Digamma(p.a + p.b + xd);
    t.da[x] = ps_ab - ps_abx;
    t.db[x] = ps_ab + Digamma(p.b + xd) - ps_b - ps_abx;
    t.log_bx1[x] = x > 0 ? std::log(p.b + xd - 1) : 0.0;
  }
  return t;
}

double BgNbdSum(const BgNbdParams& p, absl::Span<const double> x, absl::Span<const double> t_x,
                absl::Span<const double> T, absl::Span<const double> w, int max_x, std::array<double, 4>* grad) {
  const BgNbdTables tab = MakeTables(p, max_x);
  const double log_a = std::log(p.a);
  return BlockSum<4>(x.size(), w, grad, [&](size_t i, std::array<double, 4>& g) {
    const size_t xi = static_cast<size_t>(x[i]);
    const double rx = p.r + x[i];
    const double log_T = std::log(p.alpha + T[i]);
    const double a3 = -rx * log_T;
    // ln(exp(A3) + [x > 0] exp(A4)) by log-sum-exp; u = share of the A4 term.
    double lse = a3, u = 0.0, log_t = 0.0;
    if (xi > 0) {
      log_t = std::log(p.alpha + t_x[i]);
      const double a4 = log_a - tab.log_bx1[xi] - rx * log_t;
      const double hi = std::max(a3, a4), e3 = std::exp(a3 - hi), e4 = std::exp(a4 - hi);
      lse = hi + std::log(e3 + e4);
      u = e4 / (e3 + e4);
    }
    const double v = 1.0 - u;
    g[0] = tab.dr[xi] - v * log_T - u * log_t;
    g[1] = p.r / p.alpha - v * rx / (p.alpha + T[i]) - (xi > 0 ? u * rx / (p.alpha + t_x[i]) : 0.0);
    g[2] = tab.da[xi] + (xi > 0 ? u / p.a : 0.0);
    g[3] = tab.db[xi] - (xi > 0 ? u / (p.b + x[i] - 1) : 0.0);
    return tab.a1[xi] + tab.a2[xi] + lse;
  });
}

int MaxX(absl::Span<const double> x) { return static_cast<int>(*std::max_element(x.begin(), x.end())); }

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

// ---------------------------------------------------------------- L-BFGS

// Minimises f over theta (log-parameters). fn(theta, grad) returns f and writes
// its gradient; a non-finite f means "outside the domain" and is backtracked.
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
  std::vector<Vec> S, Y;
  Vec g;
  double f = fn(*theta, &g);
  int evals = 1;
  TWINSCORE_CHECK_ARG(std::isfinite(f), model, ": the log-likelihood is not finite at the starting point");
  for (int it = 0; it < opt.max_iterations; ++it) {
    if (inf_norm(g) < opt.gtol) {
      report->iterations = it;
      report->evaluations = evals;
      return absl::OkStatus();
    }
    // Two-loop recursion: d = -H g.
    Vec q = g;
    std::vector<double> alpha(S.size());
    for (int j = static_cast<int>(S.size()) - 1; j >= 0; --j) {
      alpha[j] = dot(S[j], q) / dot(S[j], Y[j]);
      for (size_t k = 0; k < P; ++k) q[k] -= alpha[j] * Y[j][k];
    }
    double gamma = S.empty() ? 1.0 / std::max(1.0, inf_norm(g)) : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (auto& v : q) v *= gamma;
    for (size_t j = 0; j < S.size(); ++j) {
      const double beta = dot(Y[j], q) / dot(S[j], Y[j]);
      for (size_t k = 0; k < P; ++k) q[k] += S[j][k] * (alpha[j] - beta);
    }
    Vec d;
    for (size_t k = 0; k < P; ++k) d[k] = -q[k];
    double slope = dot(g, d);
    if (!(slope < 0)) {  // not a descent direction: restart from steepest descent
      S.clear();
      Y.clear();
      for (size_t k = 0; k < P; ++k) d[k] = -g[k] / std::max(1.0, inf_norm(g));
      slope = dot(g, d);
    }
    // Backtracking (Armijo) line search; steps are capped so that no
    // log-parameter moves by more than 5 (a factor e^5) at once.
    double step = std::min(1.0, 5.0 / std::max(1e-300, inf_norm(d)));
    Vec t_new, g_new;
    double f_new = f;
    bool accepted = false;
    for (int ls = 0; ls < 60; ++ls, step *= 0.5) {
      for (size_t k = 0; k < P; ++k) t_new[k] = (*theta)[k] + step * d[k];
      f_new = fn(t_new, &g_new);
      ++evals;
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * step * slope) {
        // f_new == f: the decrease is below double precision, no progress.
        accepted = f_new < f;
        break;
      }
    }
    if (!accepted) {
      // No decrease is representable any more: accept when the gradient is
      // already tiny (the optimum to double precision), else report.
      if (inf_norm(g) < std::max(1e3 * opt.gtol, 1e-7)) {
        report->iterations = it;
        report->evaluations = evals;
        return absl::OkStatus();
      }
      return absl::FailedPreconditionError(absl::StrCat(model, " fit did not converge: the line search failed at "
                                                               "iteration ", it, " with gradient norm ", inf_norm(g)));
    }
    Vec s, y;
    for (size_t k = 0; k < P; ++k) {
      s[k] = t_new[k] - (*theta)[k];
      y[k] = g_new[k] - g[k];
    }
    if (dot(s, y) > 1e-16 * dot(y, y)) {
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
  if (inf_norm(g) < std::max(1e3 * opt.gtol, 1e-7)) {
    report->iterations = opt.max_iterations;
    report->evaluations = evals;
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(model, " fit did not converge in ", opt.max_iterations,
                                                    " iterations (gradient norm ", inf_norm(g),
                                                    "); raise max_iter or add a penalizer"));
}

double TotalWeight(size_t n, absl::Span<const double> w) {
  return w.empty() ? static_cast<double>(n) : std::accumulate(w.begin(), w.end(), 0.0);
}

}  // namespace

absl::StatusOr<double> BgNbdLogLikelihood(const BgNbdParams& p, absl::Span<const double> x,
                                          absl::Span<const double> t_x, absl::Span<const double> T,
                                          absl::Span<const double> weights, absl::Span<double> gradient) {
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, weights));
  TWINSCORE_CHECK_ARG(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0, "BG/NBD parameters must all be > 0");
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
  auto to_params = [](const std::array<double, 4>& th) {
    return BgNbdParams{std::exp(th[0]), std::exp(th[1]), std::exp(th[2]), std::exp(th[3])};
  };
  const double pen = options.penalizer;
  std::function<double(const std::array<double, 4>&, std::array<double, 4>*)> fn =
      [&](const std::array<double, 4>& th, std::array<double, 4>* grad) {
        for (double v : th) {
          if (!(std::abs(v) < 30)) return std::numeric_limits<double>::infinity();
        }
        const BgNbdParams p = to_params(th);
        const std::array<double, 4> pv{p.r, p.alpha, p.a, p.b};
        std::array<double, 4> g;
        double ll = BgNbdSum(p, x, t_x, T, weights, max_x, &g);
        for (size_t k = 0; k < 4; ++k) {
          ll -= pen * pv[k] * pv[k];
          (*grad)[k] = -(g[k] - 2 * pen * pv[k]) * pv[k] / W;  // chain rule through p = exp(theta)
        }
        return -ll / W;
      };
  std::array<double, 4> theta{0.0, std::log(mean_T), 0.0, 0.0};
  FitReport local;
  FitReport* rep = report ? report : &local;
  TWINSCORE_RETURN_IF_ERROR(MinimizeLbfgs<4>(fn, &theta, options, "BG/NBD", rep));
  const BgNbdParams p = to_params(theta);
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
  TWINSCORE_CHECK_ARG(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0, "BG/NBD parameters must all be > 0");
  TWINSCORE_CHECK_ARG(std::isfinite(t) && t >= 0, "t must be finite and >= 0, got ", t);
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(t_x.size() == n && T.size() == n, "frequency, recency and T must have the same length");
  TWINSCORE_CHECK_ARG(expected.empty() || expected.size() == n, "expected must hold ", n, " values");
  TWINSCORE_CHECK_ARG(p_alive.empty() || p_alive.size() == n, "p_alive must hold ", n, " values");
  TWINSCORE_CHECK_ARG(expected.empty() || std::abs(p.a - 1.0) > 1e-9, "expected purchases need a != 1");
  TWINSCORE_RETURN_IF_ERROR(CheckSummaries(x, t_x, T, {}));
  return ParallelBlocksStatus(n, kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      const double rx = p.r + x[i];
      // 1 / P(alive) = 1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)
      double inv_alive = 1.0;
      if (x[i] > 0) {
        inv_alive += std::exp(std::log(p.a / (p.b + x[i] - 1)) +
                              rx * (std::log(p.alpha + T[i]) - std::log(p.alpha + t_x[i])));
      }
      if (!p_alive.empty()) p_alive[i] = 1.0 / inv_alive;
      if (expected.empty()) continue;
      const double z = t / (p.alpha + T[i] + t);
      absl::StatusOr<double> h = Hyp2F1(rx, p.b + x[i], p.a + p.b + x[i] - 1, z);
      if (!h.ok()) return h.status();
      const double lead = (p.a + p.b + x[i] - 1) / (p.a - 1);
      const double decay = std::exp(rx * std::log((p.alpha + T[i]) / (p.alpha + T[i] + t)));
      expected[i] = lead * (1.0 - decay * *h) / inv_alive;
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
        for (double v : th) {
          if (!(std::abs(v) < 30)) return std::numeric_limits<double>::infinity();
        }
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
    TWINSCORE_CHECK_ARG(x[i] == 0 || (std::isfinite(m[i]) && m[i] > 0), "monetary value at position ", i,
                        " must be > 0 when frequency > 0, got ", m[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    // (q - 1) / (p x + q - 1) * population mean + p x / (p x + q - 1) * m
    const double px = g.p * x[i];
    out[i] = (g.p * g.v + (x[i] > 0 ? px * m[i] : 0.0)) / (px + g.q - 1);
  }
  return absl::OkStatus();
}

}  // namespace twinscore
