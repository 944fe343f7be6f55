#include "twinscore/pareto_nbd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

// log A0 tabulated with mpmath at 50 digits (the 2F1 difference of Fader, Hardie & Lee's note / (r + s + x)).
TEST(ParetoNbd, SeriesAndQuadratureMatchTabulatedValues) {
  struct Case {
    ParetoNbdParams p;
    double x, t_x, T, want;
  };
  const Case cases[] = {
      {{0.55, 10.58, 0.61, 11.67}, 0, 0, 38.857142857142854, -3.1667771537901973},
      {{0.55, 10.58, 0.61, 11.67}, 2, 30.285714285714285, 38.857142857142854, -13.707896623424196},
      {{2.0, 1000.0, 0.5, 0.01}, 1000, 38, 40, -6964.545909496269},
  };
  for (const Case& c : cases) {
    for (ParetoNbdMethod m : {ParetoNbdMethod::kAuto, ParetoNbdMethod::kSeries, ParetoNbdMethod::kQuadrature}) {
      absl::StatusOr<ParetoNbdIntegral> r = ParetoNbdLogIntegral(c.p, c.x, c.t_x, c.T, m);
      if (m == ParetoNbdMethod::kSeries && !r.ok()) continue;  // the plain series may give up where z -> 1
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_NEAR(r->log_value, c.want, 1e-12 * std::abs(c.want)) << c.x << " " << static_cast<int>(m);
    }
  }
  // t_x = T: A0 = 0.
  auto zero = ParetoNbdLogIntegral({1, 2, 3, 4}, 5, 10, 10, ParetoNbdMethod::kAuto);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->log_value, -std::numeric_limits<double>::infinity());
}

struct Sample {
  std::vector<double> x, t_x, T;
};

Sample Draw(int n, double r, double alpha, double s, double beta, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> lam(r, 1 / alpha), mu(s, 1 / beta);
  std::uniform_real_distribution<double> u(0, 1);
  Sample out;
  for (int i = 0; i < n; ++i) {
    const double l = lam(rng), m = mu(rng), T = 20 + 40 * u(rng);
    const double end = std::min(T, -std::log(u(rng)) / m);
    double t = 0, last = 0, x = 0;
    while (true) {
      t += -std::log(u(rng)) / l;
      if (t > end) break;
      last = t;
      x += 1;
    }
    out.x.push_back(x);
    out.t_x.push_back(last);
    out.T.push_back(T);
  }
  return out;
}

TEST(ParetoNbd, GradientMatchesFiniteDifferences) {
  Sample s = Draw(3000, 0.7, 5.0, 0.8, 8.0, 1);
  const ParetoNbdParams p{0.6, 4.0, 1.1, 7.0};
  std::vector<double> g(4);
  ASSERT_TRUE(ParetoNbdLogLikelihood(p, s.x, s.t_x, s.T, {}, absl::MakeSpan(g)).ok());
  for (int k = 0; k < 4; ++k) {
    ParetoNbdParams up = p, down = p;
    double* fu[] = {&up.r, &up.alpha, &up.s, &up.beta};
    double* fd[] = {&down.r, &down.alpha, &down.s, &down.beta};
    const double h = 1e-6 * *fu[k];
    *fu[k] += h;
    *fd[k] -= h;
    const double lu = *ParetoNbdLogLikelihood(up, s.x, s.t_x, s.T, {}, {});
    const double ld = *ParetoNbdLogLikelihood(down, s.x, s.t_x, s.T, {}, {});
    EXPECT_NEAR(g[k], (lu - ld) / (2 * h), 1e-5 * std::max(1.0, std::abs(g[k]))) << "parameter " << k;
  }
}

TEST(ParetoNbd, FitRecoversParametersAndIsThreadIndependent) {
  Sample s = Draw(20000, 0.7, 5.0, 0.8, 8.0, 2);
  FitOptions opt;
  FitReport one, two;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto p1 = FitParetoNbd(s.x, s.t_x, s.T, {}, opt, &one);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto p2 = FitParetoNbd(s.x, s.t_x, s.T, {}, opt, &two);
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(p1.ok()) << p1.status();
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p1->r, p2->r);
  EXPECT_EQ(p1->beta, p2->beta);
  EXPECT_EQ(one.log_likelihood, two.log_likelihood);
  EXPECT_NEAR(p1->r, 0.7, 0.1);
  EXPECT_NEAR(p1->alpha, 5.0, 1.0);
  EXPECT_NEAR(p1->s, 0.8, 0.3);
}

TEST(ParetoNbd, PredictionsAreFiniteForExtremeSummaries) {
  const ParetoNbdParams p{0.55, 10.58, 0.61, 11.67};
  const std::vector<double> x{0, 1000, 100000, 5}, t_x{0, 999, 99999, 1}, T{1e6, 1000, 1e5, 1e6};
  std::vector<double> e(4), a(4);
  ASSERT_TRUE(ParetoNbdPredict(p, x, t_x, T, 1e7, absl::MakeSpan(e), absl::MakeSpan(a)).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(std::isfinite(e[i]) && e[i] >= 0) << i;
    EXPECT_TRUE(a[i] >= 0 && a[i] <= 1) << i;
  }
}

TEST(ParetoNbd, RejectsBadInput) {
  const std::vector<double> x{1}, t_x{5}, T{4};
  EXPECT_EQ(ParetoNbdLogLikelihood({1, 1, 1, 1}, x, t_x, T, {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<double> ok_t{3};
  EXPECT_EQ(ParetoNbdLogLikelihood({1, -1, 1, 1}, x, ok_t, T, {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParetoNbdExpectedNew({1, 1, 1, 1}, -1).ok());
}

}  // namespace
}  // namespace twinscore
