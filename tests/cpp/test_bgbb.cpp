#include "twinscore/bgbb.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

// The 1995 donor cohort of Fader, Hardie & Shang (2010): (x, t_x) patterns over n = 6 annual opportunities
// and their counts (11,104 donors), as lifetimes ships it (datasets/donations.csv).
struct Donations {
  std::vector<double> x, t_x, n, w;
  Donations() {
    const double rows[][3] = {{0, 0, 3464}, {1, 1, 1091}, {1, 2, 277}, {1, 3, 129}, {1, 4, 78},  {1, 5, 119},
                              {1, 6, 129},  {2, 2, 613},  {2, 3, 255}, {2, 4, 155}, {2, 5, 173}, {2, 6, 234},
                              {3, 3, 322},  {3, 4, 181},  {3, 5, 225}, {3, 6, 357}, {4, 4, 240}, {4, 5, 284},
                              {4, 6, 512},  {5, 5, 335},  {5, 6, 728}, {6, 6, 1203}};
    for (const auto& r : rows) {
      x.push_back(r[0]);
      t_x.push_back(r[1]);
      n.push_back(6);
      w.push_back(r[2]);
    }
  }
};

double LogBeta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// The paper's likelihood (eq. 5) with lgamma, term by term: the oracle.
double ReferenceLogLik(const BgBbParams& p, double x, double t_x, double n) {
  const double bab = LogBeta(p.alpha, p.beta), bgd = LogBeta(p.gamma, p.delta);
  double sum = std::exp(LogBeta(p.alpha + x, p.beta + n - x) - bab + LogBeta(p.gamma, p.delta + n) - bgd);
  for (double i = 0; i <= n - t_x - 1; ++i) {
    sum += std::exp(LogBeta(p.alpha + x, p.beta + t_x - x + i) - bab + LogBeta(p.gamma + 1, p.delta + t_x + i) - bgd);
  }
  return std::log(sum);
}

TEST(BgBb, LogLikelihoodEqualsThePapersFormulaAndGradientItsSlope) {
  const Donations d;
  const BgBbParams p{1.3, 0.8, 0.6, 2.5};
  double want = 0;
  for (size_t i = 0; i < d.x.size(); ++i) want += d.w[i] * ReferenceLogLik(p, d.x[i], d.t_x[i], d.n[i]);
  std::vector<double> g(4);
  const double got = *BgBbLogLikelihood(p, d.x, d.t_x, d.n, d.w, absl::MakeSpan(g));
  EXPECT_NEAR(got, want, 1e-9 * std::abs(want));
  const double h = 1e-6;
  for (int k = 0; k < 4; ++k) {
    BgBbParams up = p, down = p;
    double* u = &up.alpha + k;
    double* dn = &down.alpha + k;
    *u += h;
    *dn -= h;
    const double slope = (*BgBbLogLikelihood(up, d.x, d.t_x, d.n, d.w, {}) -
                          *BgBbLogLikelihood(down, d.x, d.t_x, d.n, d.w, {})) / (2 * h);
    EXPECT_NEAR(g[k], slope, 1e-5 * std::max(1.0, std::abs(slope))) << k;
  }
}

TEST(BgBb, FitReproducesThePublishedDonationEstimates) {
  const Donations d;
  FitReport rep;
  const BgBbParams p = *FitBgBb(d.x, d.t_x, d.n, d.w, FitOptions{}, &rep);
  // Fader, Hardie & Shang (2010): alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783, LL = -33,225.6.
  EXPECT_NEAR(p.alpha, 1.204, 5e-4);
  EXPECT_NEAR(p.beta, 0.750, 5e-4);
  EXPECT_NEAR(p.gamma, 0.657, 5e-4);
  EXPECT_NEAR(p.delta, 2.783, 5e-4);
  EXPECT_NEAR(rep.log_likelihood, -33225.6, 0.05);
}

TEST(BgBb, LongHistoriesStayFinite) {
  // n of thousands, parameters far from 1: every term is a log-space product, nothing overflows.
  const std::vector<double> x{0, 1, 500, 4999, 5000}, t_x{0, 3000, 4000, 5000, 5000}, n{5000, 5000, 5000, 5000, 5000};
  const BgBbParams cases[] = {{0.5, 3, 0.3, 10}, {1e8, 1e8, 1e-6, 1e9}, {40, 0.01, 50, 0.2}};
  for (const BgBbParams& p : cases) {
    std::vector<double> g(4);
    const double ll = *BgBbLogLikelihood(p, x, t_x, n, {}, absl::MakeSpan(g));
    EXPECT_TRUE(std::isfinite(ll));
    for (double v : g) EXPECT_TRUE(std::isfinite(v));
    std::vector<double> e(5), a(5), r(5);
    ASSERT_TRUE(BgBbPredict(p, x, t_x, n, 1000, 0.1, {absl::MakeSpan(e), absl::MakeSpan(a), absl::MakeSpan(r)}).ok());
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_TRUE(std::isfinite(e[i]) && e[i] >= 0 && e[i] <= 1000) << i;
      EXPECT_TRUE(a[i] >= 0 && a[i] <= 1) << i;
      EXPECT_TRUE(std::isfinite(r[i]) && r[i] >= 0) << i;
    }
  }
}

TEST(BgBb, PredictionsAgreeWithDirectSumsAndTheCountDistribution) {
  const BgBbParams p{1.204, 0.750, 0.657, 2.783};
  // A new client (0, 0, 0): E[X(n)] = alpha / (alpha + beta) sum_{t=1..n} B(gamma, delta + t) / B(gamma, delta),
  // and equal to the mean of the count distribution P(X(n) = k).
  const std::vector<double> zero{0};
  std::vector<double> e(1);
  ASSERT_TRUE(BgBbPredict(p, zero, zero, zero, 10, 0, {absl::MakeSpan(e), {}, {}}).ok());
  double want = 0;
  for (int t = 1; t <= 10; ++t) want += std::exp(LogBeta(p.gamma, p.delta + t) - LogBeta(p.gamma, p.delta));
  want *= p.alpha / (p.alpha + p.beta);
  EXPECT_NEAR(e[0], want, 1e-12);
  const std::vector<double> ten{10};
  std::vector<double> probs(11);
  ASSERT_TRUE(BgBbCountProbabilities(p, ten, 10, absl::MakeSpan(probs)).ok());
  double total = 0, mean = 0;
  for (int k = 0; k <= 10; ++k) {
    total += probs[k];
    mean += k * probs[k];
  }
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_NEAR(mean, want, 1e-12);
}

TEST(BgBb, ThreadCountDoesNotChangeAnyBit) {
  std::mt19937_64 rng(7);
  std::vector<double> x, t_x, n;
  for (int i = 0; i < 20000; ++i) {
    const double ni = static_cast<double>(rng() % 60);
    const double ti = ni == 0 ? 0 : static_cast<double>(rng() % static_cast<uint64_t>(ni + 1));
    const double xi = ti == 0 ? 0 : 1 + static_cast<double>(rng() % static_cast<uint64_t>(ti));
    x.push_back(xi);
    t_x.push_back(ti);
    n.push_back(ni);
  }
  const BgBbParams p{0.9, 1.7, 0.4, 3.0};
  std::vector<double> draws{0.9, 1.7, 0.4, 3.0, 1.0, 1.5, 0.5, 2.5, 0.8, 1.9, 0.45, 3.3};
  auto run = [&](int threads, std::vector<double>* out) {
    RunWithThreads(*ThreadCount::Of(threads), [&] {
      std::vector<double> g(4), e(x.size()), a(x.size()), lo(x.size()), hi(x.size());
      out->push_back(*BgBbLogLikelihood(p, x, t_x, n, {}, absl::MakeSpan(g)));
      out->insert(out->end(), g.begin(), g.end());
      EXPECT_TRUE(BgBbPredict(p, x, t_x, n, 12, 0, {absl::MakeSpan(e), absl::MakeSpan(a), {}}).ok());
      out->insert(out->end(), e.begin(), e.end());
      out->insert(out->end(), a.begin(), a.end());
      const IntervalOutputs bands{absl::MakeSpan(lo), absl::MakeSpan(hi), {}, {}};
      EXPECT_TRUE(BgBbPredictIntervals(draws, x, t_x, n, 12, 0.9, bands).ok());
      out->insert(out->end(), lo.begin(), lo.end());
      FitReport rep;
      const BgBbParams f = *FitBgBb(x, t_x, n, {}, FitOptions{}, &rep);
      out->insert(out->end(), {f.alpha, f.beta, f.gamma, f.delta});
      return 0;
    });
  };
  std::vector<double> one, two;
  run(1, &one);
  run(2, &two);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], two[i]) << i;
}

TEST(BgBb, BadInputIsAnError) {
  const BgBbParams p;
  const std::vector<double> one{1}, two{2}, zero{0}, half{0.5};
  EXPECT_FALSE(BgBbLogLikelihood(p, two, one, two, {}, {}).ok());   // x > t_x
  EXPECT_FALSE(BgBbLogLikelihood(p, one, two, one, {}, {}).ok());   // t_x > n
  EXPECT_FALSE(BgBbLogLikelihood(p, zero, one, two, {}, {}).ok());  // x = 0 with t_x > 0
  EXPECT_FALSE(BgBbLogLikelihood(p, half, one, two, {}, {}).ok());  // not whole
  EXPECT_FALSE(BgBbLogLikelihood({1, 1, -1, 1}, one, one, two, {}, {}).ok());
  std::vector<double> e(1);
  EXPECT_FALSE(BgBbPredict(p, one, one, two, 2.5, 0, {absl::MakeSpan(e), {}, {}}).ok());
  EXPECT_FALSE(BgBbPredict(p, one, one, two, 2, 0, {{}, {}, absl::MakeSpan(e)}).ok());  // dert without a discount
}

}  // namespace
}  // namespace twinscore
