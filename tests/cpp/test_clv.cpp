#include "twinscore/clv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

TEST(Clv, DigammaKnownValues) {
  EXPECT_NEAR(Digamma(1.0), -0.5772156649015329, 1e-13);
  EXPECT_NEAR(Digamma(0.5), -1.9635100260214235, 1e-13);
  EXPECT_NEAR(Digamma(10.0), 2.251752589066721, 1e-13);
}

TEST(Clv, Hyp2F1KnownValues) {
  // 2F1(1, 1; 2; z) = -ln(1 - z) / z
  EXPECT_NEAR(*Hyp2F1(1, 1, 2, 0.5), -std::log(0.5) / 0.5, 1e-13);
  EXPECT_NEAR(*Hyp2F1(1, 1, 2, 0.95), -std::log(0.05) / 0.95, 1e-11);
  EXPECT_FALSE(Hyp2F1(1, 1, 2, 1.0).ok());
}

// Small summaries drawn from the BG/NBD process itself.
struct Sample {
  std::vector<double> x, t_x, T;
};

Sample Draw(size_t n, double r, double alpha, double a, double b, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::gamma_distribution<double> lam_d(r, 1.0 / alpha);
  std::gamma_distribution<double> ga(a, 1.0), gb(b, 1.0);
  std::uniform_real_distribution<double> u(0, 1);
  Sample s;
  for (size_t i = 0; i < n; ++i) {
    const double lam = lam_d(gen), pa = ga(gen), pb = gb(gen), p = pa / (pa + pb);
    const double T = std::round(7.0 * (30 + 10 * u(gen))) / 7.0;
    double t = 0, last = 0, x = 0;
    while (true) {
      t += -std::log(u(gen)) / lam;
      if (t > T) break;
      x += 1;
      last = t;
      if (u(gen) < p) break;  // drops out after this purchase
    }
    s.x.push_back(x);
    s.t_x.push_back(x > 0 ? last : 0.0);
    s.T.push_back(T);
  }
  return s;
}

TEST(Clv, BgNbdGradientMatchesFiniteDifferences) {
  Sample s = Draw(500, 0.5, 5.0, 0.8, 2.5, 1);
  BgNbdParams p{0.4, 4.0, 0.7, 2.0};
  std::vector<double> g(4);
  ASSERT_TRUE(BgNbdLogLikelihood(p, s.x, s.t_x, s.T, {}, absl::MakeSpan(g)).ok());
  double* fields[] = {&p.r, &p.alpha, &p.a, &p.b};
  for (int k = 0; k < 4; ++k) {
    const double h = 1e-6 * *fields[k], keep = *fields[k];
    *fields[k] = keep + h;
    const double up = *BgNbdLogLikelihood(p, s.x, s.t_x, s.T, {}, {});
    *fields[k] = keep - h;
    const double down = *BgNbdLogLikelihood(p, s.x, s.t_x, s.T, {}, {});
    *fields[k] = keep;
    EXPECT_NEAR(g[k], (up - down) / (2 * h), 1e-4 * std::max(1.0, std::abs(g[k]))) << "parameter " << k;
  }
}

TEST(Clv, BgNbdFitRecoversParametersAndIsThreadIndependent) {
  Sample s = Draw(20000, 0.5, 5.0, 0.8, 2.5, 2);
  FitOptions opt;
  FitReport one, two;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto p1 = FitBgNbd(s.x, s.t_x, s.T, {}, opt, &one);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto p2 = FitBgNbd(s.x, s.t_x, s.T, {}, opt, &two);
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(p1.ok()) << p1.status();
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p1->r, p2->r);
  EXPECT_EQ(one.log_likelihood, two.log_likelihood);
  EXPECT_NEAR(p1->r, 0.5, 0.1);
  EXPECT_NEAR(p1->alpha, 5.0, 1.5);
  // The gradient vanishes at the optimum.
  std::vector<double> g(4);
  ASSERT_TRUE(BgNbdLogLikelihood(*p1, s.x, s.t_x, s.T, {}, absl::MakeSpan(g)).ok());
  EXPECT_LT(std::abs(g[0] * p1->r) / 20000, 1e-6);
}

TEST(Clv, CompressKeepsTheLikelihood) {
  Sample s = Draw(3000, 0.5, 5.0, 0.8, 2.5, 4);
  const size_t n = s.x.size();
  std::vector<double> x(n), t(n), T(n), w(n);
  auto k = CompressSummaries(s.x, s.t_x, s.T, {}, absl::MakeSpan(x), absl::MakeSpan(t), absl::MakeSpan(T),
                             absl::MakeSpan(w));
  ASSERT_TRUE(k.ok());
  ASSERT_LT(*k, static_cast<int64_t>(n));
  x.resize(*k), t.resize(*k), T.resize(*k), w.resize(*k);
  double total = 0;
  for (double v : w) total += v;
  EXPECT_EQ(total, static_cast<double>(n));
  BgNbdParams p{0.4, 4.0, 0.7, 2.0};
  EXPECT_NEAR(*BgNbdLogLikelihood(p, x, t, T, w, {}), *BgNbdLogLikelihood(p, s.x, s.t_x, s.T, {}, {}), 1e-8);
}

TEST(Clv, BgNbdRejectsBadSummaries) {
  std::vector<double> x{1, 2}, t{3, 5}, T{4, 4};  // t_x > T for the second
  EXPECT_EQ(FitBgNbd(x, t, T, {}, FitOptions(), nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<double> xf{1.5, 0}, t2{1, 0}, T2{4, 4};
  EXPECT_FALSE(FitBgNbd(xf, t2, T2, {}, FitOptions(), nullptr).ok());
  FitOptions bad;
  bad.max_iterations = 0;
  EXPECT_FALSE(FitBgNbd(x, t2, T2, {}, bad, nullptr).ok());
}

TEST(Clv, BgNbdNonConvergenceIsReported) {
  Sample s = Draw(2000, 0.5, 5.0, 0.8, 2.5, 3);
  FitOptions opt;
  opt.max_iterations = 2;
  auto r = FitBgNbd(s.x, s.t_x, s.T, {}, opt, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Clv, PredictHandComputed) {
  // x = 0: P(alive) = 1; x > 0 by the closed form.
  BgNbdParams p{0.243, 4.414, 0.793, 2.426};
  std::vector<double> x{0, 2}, t{0, 30.43}, T{38.86, 38.86}, e(2), alive(2);
  ASSERT_TRUE(BgNbdPredict(p, x, t, T, 39, absl::MakeSpan(e), absl::MakeSpan(alive)).ok());
  EXPECT_EQ(alive[0], 1.0);
  const double ratio = p.a / (p.b + 1) * std::pow((p.alpha + 38.86) / (p.alpha + 30.43), p.r + 2);
  EXPECT_NEAR(alive[1], 1 / (1 + ratio), 1e-12);
  EXPECT_GT(e[1], 0.0);
  EXPECT_GT(e[0], 0.0);
}

TEST(Clv, SummarizeMergesDaysAndSplitsHoldout) {
  // client 0: days 0, 0, 7, 14, 30 (holdout); client 1: day 20 only; client 2: day 40 (after calibration).
  std::vector<int32_t> codes{0, 0, 1, 0, 0, 0, 2};
  std::vector<int64_t> day{0, 0, 20, 14, 7, 30, 40};
  std::vector<double> amt{1, 2, 5, 4, 6, 9, 3};
  const size_t k = 3;
  std::vector<double> x(k), t(k), T(k), m(k), h(k);
  std::vector<uint8_t> has(k);
  CalibrationSummary out{absl::MakeSpan(x), absl::MakeSpan(t), absl::MakeSpan(T), absl::MakeSpan(m),
                         absl::MakeSpan(h), absl::MakeSpan(has)};
  ASSERT_TRUE(SummarizeCalibration(codes, day, amt, 3, 21, 50, 7.0, out).ok());
  EXPECT_EQ(x, (std::vector<double>{2, 0, 0}));
  EXPECT_DOUBLE_EQ(t[0], 2.0);
  EXPECT_DOUBLE_EQ(T[0], 3.0);
  EXPECT_DOUBLE_EQ(T[1], 1.0 / 7.0);
  EXPECT_DOUBLE_EQ(m[0], 5.0);  // (6 + 4) / 2
  EXPECT_EQ(h, (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(has, (std::vector<uint8_t>{1, 1, 0}));
  auto before = SummarizeCalibration(codes, day, amt, 3, -1, 50, 7.0, out);
  EXPECT_NE(before.message().find("before the first purchase"), std::string::npos);
  EXPECT_FALSE(SummarizeCalibration(codes, day, amt, 3, 21, 35, 7.0, out).ok());  // a date after the end
}

TEST(Clv, GammaGammaGradientAndSpend) {
  std::vector<double> x{1, 2, 5, 3}, m{10, 20, 15, 40};
  GammaGammaParams g{6.0, 3.5, 15.0};
  std::vector<double> d(3);
  const double ll = *GammaGammaLogLikelihood(g, x, m, {}, absl::MakeSpan(d));
  g.q += 1e-6;
  const double up = *GammaGammaLogLikelihood(g, x, m, {}, {});
  EXPECT_NEAR(d[1], (up - ll) / 1e-6, 1e-4);
  g.q -= 1e-6;
  std::vector<double> out(4);
  ASSERT_TRUE(GammaGammaExpectedSpend(g, x, m, absl::MakeSpan(out)).ok());
  EXPECT_NEAR(out[0], (6.0 * 15.0 + 6.0 * 10.0) / (6.0 + 2.5), 1e-12);
  std::vector<double> bad{0, 1};
  EXPECT_FALSE(FitGammaGamma(bad, std::vector<double>{1, 1}, {}, FitOptions(), nullptr).ok());
}

}  // namespace
}  // namespace twinscore
