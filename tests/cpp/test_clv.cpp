#include "twinscore/clv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <Eigen/Dense>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

TEST(Clv, DigammaKnownValues) {
  EXPECT_NEAR(Digamma(1.0), -0.5772156649015329, 1e-13);
  EXPECT_NEAR(Digamma(0.5), -1.9635100260214235, 1e-13);
  EXPECT_NEAR(Digamma(10.0), 2.251752589066721, 1e-13);
}

// (a + b_x - 1) / (a - 1) [1 - (1 - z)^A 2F1(A, b_x; a + b_x - 1; z)], z = w / (1 + w), tabulated with
// mpmath (60 digits; at the removable singularities a = 1 and a + b_x = 1, the mean of a +- 1e-40).
TEST(Clv, ExpectedIfAliveMatchesTabulatedHypergeometric) {
  struct Case {
    double shape, a, b_x, w, want;
  };
  const Case cases[] = {
      {2.243, 0.793, 4.426, 0.9012339973194066, 1.6873993058053131},  // CDNOW fit, x = 2
      {0.8, 0.3, 0.5, 2, 1.1076835352284164},                         // c = a + b_x - 1 = -0.2
      {0.8, 0.005, 0.00697, 1.5, 0.91407980842586451},                // c = -0.98803 (issue 18)
      {1.5, 1, 2, 3, 2.2885270990993242},                             // a = 1
      {0.5, 0.7, 1.3, 1e4, 35.355242207795904},                       // z = 0.9999
      {300.5, 0.8, 302, 60, 1921.7252009859603},                      // (1 - z)^A underflows
      {1, 0.4, 0.6, 0.5, 0.42514150020859694},                        // c = 0
      {1, 0.001, 0.001, 4, 2.3974303996409132},                       // c = -0.998
      {3, 50, 200, 5, 4.4150435646842097},
      {0.25, 1e-12, 3, 2, 0.49999999999984127},                       // next to the NBD limit
  };
  for (const Case& c : cases) {
    absl::StatusOr<double> got = BgNbdExpectedIfAlive(c.shape, c.a, c.b_x, c.w);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_NEAR(*got, c.want, 1e-12 * c.want) << c.shape << " " << c.a << " " << c.b_x << " " << c.w;
  }
}

TEST(Clv, ExpectedIfAliveNoDropoutIsTheNbd) {
  // a = 0: nobody drops out, E = shape * w (the NBD's (r + x) t / (alpha + T)), whatever b_x.
  for (double b_x : {0.3, 2.0, std::numeric_limits<double>::infinity()}) {
    EXPECT_NEAR(*BgNbdExpectedIfAlive(0.7, 0.0, b_x, 3.0), 2.1, 1e-14) << b_x;
  }
  EXPECT_EQ(*BgNbdExpectedIfAlive(0.7, 0.5, 1.0, 0.0), 0.0);
  EXPECT_FALSE(BgNbdExpectedIfAlive(0.7, 0.5, std::numeric_limits<double>::infinity(), 1.0).ok());
  EXPECT_FALSE(BgNbdExpectedIfAlive(0.7, -0.1, 1.0, 1.0).ok());
  EXPECT_FALSE(BgNbdExpectedIfAlive(0.7, 0.5, 1.0, std::nan("")).ok());
}

// Small summaries drawn from the BG/NBD process itself.
struct Sample {
  std::vector<double> x, t_x, T;
};

Sample Draw(size_t n, double r, double alpha, double a, double b, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::gamma_distribution<double> lam_d(r, 1.0 / alpha);
  std::gamma_distribution<double> ga(a > 0 ? a : 1.0, 1.0), gb(b, 1.0);  // a = 0: no dropout
  std::uniform_real_distribution<double> u(0, 1);
  Sample s;
  for (size_t i = 0; i < n; ++i) {
    const double lam = lam_d(gen), pa = a > 0 ? ga(gen) : 0.0, pb = gb(gen), p = pa / (pa + pb);
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
  // Each evaluation is a pass over every client: once no decrease is
  // representable, the line search stops instead of halving 60 times
  // (it spent 36 of 57 evaluations so on 1,000,000 simulated clients).
  EXPECT_LE(one.evaluations, 2 * one.iterations + 8) << one.iterations << " iterations";
}

TEST(Clv, BgNbdFitReachesTheNoDropoutLimit) {
  // Purchases from the NBD (nobody drops out): the likelihood is largest on
  // the face a = 0, where the fit used to fail ("line search failed").
  Sample s = Draw(5000, 0.8, 6.0, 0.0, 1.0, 12);
  FitReport one, two;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto p1 = FitBgNbd(s.x, s.t_x, s.T, {}, FitOptions(), &one);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto p2 = FitBgNbd(s.x, s.t_x, s.T, {}, FitOptions(), &two);
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(p1.ok()) << p1.status();
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_EQ(p1->r, p2->r);
  EXPECT_EQ(p1->alpha, p2->alpha);
  EXPECT_EQ(one.log_likelihood, two.log_likelihood);
  // The documented convention at the limit.
  EXPECT_EQ(p1->a, 0.0);
  EXPECT_EQ(p1->b, std::numeric_limits<double>::infinity());
  EXPECT_NEAR(p1->r, 0.8, 0.1);
  EXPECT_NEAR(p1->alpha, 6.0, 1.0);
  // Optimality on the face (KKT): r and alpha are stationary, and raising a
  // from 0 lowers the likelihood whatever b.
  const double n = static_cast<double>(s.x.size());
  for (double b : {0.05, 0.5, 1.0, 5.0, 50.0, 1e4}) {
    std::vector<double> g(4);
    const BgNbdParams at{p1->r, p1->alpha, 0.0, b};
    auto ll = BgNbdLogLikelihood(at, s.x, s.t_x, s.T, {}, absl::MakeSpan(g));
    ASSERT_TRUE(ll.ok());
    EXPECT_EQ(*ll, one.log_likelihood) << "b is irrelevant at a = 0";
    EXPECT_LT(std::abs(g[0] * p1->r) / n, 1e-8);
    EXPECT_LT(std::abs(g[1] * p1->alpha) / n, 1e-8);
    EXPECT_LT(g[2], 0.0) << "b = " << b;
    EXPECT_EQ(g[3], 0.0);
  }
}

TEST(Clv, BgNbdSlopeInAAtZeroMatchesFiniteDifferences) {
  Sample s = Draw(500, 0.5, 5.0, 0.8, 2.5, 12);
  std::vector<double> g(4);
  const BgNbdParams at{0.4, 4.0, 0.0, 1.5};
  const double ll0 = *BgNbdLogLikelihood(at, s.x, s.t_x, s.T, {}, absl::MakeSpan(g));
  const double h = 1e-7;
  const double up = *BgNbdLogLikelihood({0.4, 4.0, h, 1.5}, s.x, s.t_x, s.T, {}, {});
  EXPECT_NEAR(g[2], (up - ll0) / h, 1e-4 * std::abs(g[2]));
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

TEST(Clv, PredictBeyondTheSeriesDomain) {
  // a + b < 1 with x = 0: 2F1's c = a + b - 1 = -0.98803 < 0 (issue 18); the
  // value is the tabulated one (P(alive) = 1 at x = 0; w = 9 / (4 + 2) = 1.5).
  BgNbdParams p{0.8, 4.0, 0.005, 0.00697};
  std::vector<double> x{0}, t{0}, T{2}, e(1), alive(1);
  ASSERT_TRUE(BgNbdPredict(p, x, t, T, 9.0, absl::MakeSpan(e), absl::MakeSpan(alive)).ok());
  EXPECT_NEAR(e[0], 0.91407980842586451, 1e-12);
  // a = 1 (a removable singularity of the closed form).
  p = {1.5, 4.0, 1.0, 2.0};
  ASSERT_TRUE(BgNbdPredict(p, x, t, T, 18.0, absl::MakeSpan(e), {}).ok());
  EXPECT_NEAR(e[0], 2.2885270990993242, 1e-12);
  // The no-dropout limit: the NBD, P(alive) = 1 whatever x.
  p = {0.7, 4.0, 0.0, std::numeric_limits<double>::infinity()};
  std::vector<double> x2{0, 3}, t2{0, 1.5}, T2{2, 2}, e2(2), alive2(2);
  ASSERT_TRUE(BgNbdPredict(p, x2, t2, T2, 9.0, absl::MakeSpan(e2), absl::MakeSpan(alive2)).ok());
  EXPECT_NEAR(e2[0], 0.7 * 9.0 / 6.0, 1e-14);
  EXPECT_NEAR(e2[1], 3.7 * 9.0 / 6.0, 1e-14);
  EXPECT_EQ(alive2, (std::vector<double>{1.0, 1.0}));
  // b = inf is refused unless a = 0.
  p = {0.7, 4.0, 0.5, std::numeric_limits<double>::infinity()};
  EXPECT_FALSE(BgNbdPredict(p, x, t, T, 9.0, absl::MakeSpan(e), {}).ok());
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
  // A mean spend of 0 (repeat orders of no value): the posterior mean at m = 0.
  std::vector<double> x0{3}, m0{0}, out0(1);
  ASSERT_TRUE(GammaGammaExpectedSpend(g, x0, m0, absl::MakeSpan(out0)).ok());
  EXPECT_NEAR(out0[0], 6.0 * 15.0 / (6.0 * 3 + 2.5), 1e-12);
  std::vector<double> neg{-1};
  EXPECT_FALSE(GammaGammaExpectedSpend(g, x0, neg, absl::MakeSpan(out0)).ok());
  std::vector<double> bad{0, 1};
  EXPECT_FALSE(FitGammaGamma(bad, std::vector<double>{1, 1}, {}, FitOptions(), nullptr).ok());
}

// ---------------------------------------------------------------- uncertainty

// Covariance from an independent second difference of the log-likelihood
// (values only) in the natural parameters.
std::vector<double> SecondDifferenceCovariance(const Sample& s, const BgNbdParams& p) {
  const double base[4] = {p.r, p.alpha, p.a, p.b};
  auto ll = [&](const double* q) { return *BgNbdLogLikelihood({q[0], q[1], q[2], q[3]}, s.x, s.t_x, s.T, {}, {}); };
  Eigen::Matrix4d H;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      const double hi = 1e-4 * base[i], hj = 1e-4 * base[j];
      double v = 0;
      for (int si : {1, -1}) {
        for (int sj : {1, -1}) {
          double q[4] = {base[0], base[1], base[2], base[3]};
          q[i] += si * hi;
          q[j] += sj * hj;
          v += si * sj * ll(q);
        }
      }
      H(i, j) = v / (4 * hi * hj);
    }
  }
  const Eigen::Matrix4d cov = (-H).inverse();
  return std::vector<double>(cov.data(), cov.data() + 16);
}

TEST(Clv, BgNbdCovarianceMatchesSecondDifferences) {
  Sample s = Draw(4000, 0.5, 5.0, 0.8, 2.5, 7);
  auto p = FitBgNbd(s.x, s.t_x, s.T, {}, FitOptions{}, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<double> cov(16);
  std::vector<uint8_t> fixed(4);
  Uncertainty u{absl::MakeSpan(cov), absl::MakeSpan(fixed)};
  ASSERT_TRUE(BgNbdCovariance(*p, s.x, s.t_x, s.T, {}, 0.0, &u).ok());
  EXPECT_EQ(u.boundary, Boundary::kInterior);
  const std::vector<double> want = SecondDifferenceCovariance(s, *p);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(fixed[i], 0);
    for (int j = 0; j < 4; ++j) {
      const double scale = std::sqrt(want[i * 4 + i] * want[j * 4 + j]);
      EXPECT_NEAR(cov[i * 4 + j], want[i * 4 + j], 1e-3 * scale) << i << " " << j;
    }
  }
}

TEST(Clv, BgNbdCovarianceOnTheNoDropoutFace) {
  Sample s = Draw(3000, 0.8, 6.0, 0.0, 1.0, 8);
  auto p = FitBgNbd(s.x, s.t_x, s.T, {}, FitOptions{}, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->a, 0.0);
  std::vector<double> cov(16);
  std::vector<uint8_t> fixed(4);
  Uncertainty u{absl::MakeSpan(cov), absl::MakeSpan(fixed)};
  ASSERT_TRUE(BgNbdCovariance(*p, s.x, s.t_x, s.T, {}, 0.0, &u).ok());
  EXPECT_EQ(u.boundary, Boundary::kNoDropout);
  EXPECT_EQ(fixed, (std::vector<uint8_t>{0, 0, 1, 1}));
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE(std::isfinite(cov[i]));
    if (i / 4 >= 2 || i % 4 >= 2) {
      EXPECT_EQ(cov[i], 0.0) << i;
    }
  }
  EXPECT_GT(cov[0], 0.0);
  EXPECT_GT(cov[5], 0.0);
}

TEST(Clv, SampleParamsIsSeededAndCopiesFixedParameters) {
  const std::vector<double> params{0.5, 4.0, 0.0, std::numeric_limits<double>::infinity()};
  std::vector<double> cov(16, 0.0);
  cov[0] = 0.01;
  cov[5] = 0.25;
  cov[1] = cov[4] = 0.02;
  std::vector<double> a(4 * 5000), b(4 * 5000);
  ASSERT_TRUE(SampleParams(params, cov, 5000, 42, absl::MakeSpan(a)).ok());
  ASSERT_TRUE(SampleParams(params, cov, 5000, 42, absl::MakeSpan(b)).ok());
  EXPECT_EQ(a, b);
  double mean_log_r = 0, var_log_r = 0;
  for (int d = 0; d < 5000; ++d) {
    EXPECT_EQ(a[4 * d + 2], 0.0);
    EXPECT_EQ(a[4 * d + 3], params[3]);
    mean_log_r += std::log(a[4 * d]) / 5000;
  }
  for (int d = 0; d < 5000; ++d) var_log_r += std::pow(std::log(a[4 * d]) - mean_log_r, 2) / 4999;
  EXPECT_NEAR(mean_log_r, std::log(0.5), 4 * 0.2 / std::sqrt(5000.0));
  EXPECT_NEAR(var_log_r, 0.01 / 0.25, 0.004);  // var(log r) = var(r) / r^2
  cov[0] = -1;
  EXPECT_FALSE(SampleParams(params, cov, 10, 1, absl::MakeSpan(a).subspan(0, 40)).ok());
}

TEST(Clv, PredictIntervalsOfOneRepeatedDrawAreThePointAndThreadIndependent) {
  Sample s = Draw(3000, 0.5, 5.0, 0.8, 2.5, 9);
  const BgNbdParams p{0.5, 5.0, 0.8, 2.5};
  std::vector<double> draws;
  for (int d = 0; d < 7; ++d) draws.insert(draws.end(), {p.r, p.alpha, p.a, p.b});
  const size_t n = s.x.size();
  std::vector<double> el(n), eu(n), al(n), au(n), e(n), alive(n);
  ASSERT_TRUE(BgNbdPredict(p, s.x, s.t_x, s.T, 26.0, absl::MakeSpan(e), absl::MakeSpan(alive)).ok());
  IntervalOutputs out{absl::MakeSpan(el), absl::MakeSpan(eu), absl::MakeSpan(al), absl::MakeSpan(au)};
  ASSERT_TRUE(BgNbdPredictIntervals(draws, s.x, s.t_x, s.T, 26.0, 0.9, out).ok());
  // P(alive) goes through Eigen's vectorised log and exp (SIMD lanes and the
  // scalar tail may round differently): equal within rounding.
  for (size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(el[i], e[i], 1e-13 * e[i]);
    EXPECT_NEAR(eu[i], e[i], 1e-13 * e[i]);
    EXPECT_NEAR(al[i], alive[i], 1e-13);
  }
  // Different draws: 1 and 2 threads give the same bits.
  std::vector<double> cov{0.01, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.01, 0, 0, 0, 0, 0.1};
  std::vector<double> many(4 * 50);
  ASSERT_TRUE(SampleParams({p.r, p.alpha, p.a, p.b}, cov, 50, 3, absl::MakeSpan(many)).ok());
  std::vector<double> el2(n), eu2(n), al2(n), au2(n);
  IntervalOutputs out2{absl::MakeSpan(el2), absl::MakeSpan(eu2), absl::MakeSpan(al2), absl::MakeSpan(au2)};
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(BgNbdPredictIntervals(many, s.x, s.t_x, s.T, 26.0, 0.9, out).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(BgNbdPredictIntervals(many, s.x, s.t_x, s.T, 26.0, 0.9, out2).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(el, el2);
  EXPECT_EQ(au, au2);
  for (size_t i = 0; i < n; ++i) EXPECT_LE(el[i], eu[i]);
  EXPECT_FALSE(BgNbdPredictIntervals(many, s.x, s.t_x, s.T, 26.0, 1.0, out).ok());
  EXPECT_FALSE(BgNbdPredictIntervals(absl::MakeSpan(many).subspan(0, 6), s.x, s.t_x, s.T, 26.0, 0.9, out).ok());
}

}  // namespace
}  // namespace twinscore
