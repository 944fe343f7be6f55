#include "twinscore/logistic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

struct Data {
  int64_t n, d;
  std::vector<float> X;
  std::vector<double> y;
};

Data Make(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> u;
  Data data{n, d, std::vector<float>(n * d), std::vector<double>(n)};
  for (int64_t i = 0; i < n; ++i) {
    double z = -1.0;
    for (int64_t j = 0; j < d; ++j) {
      data.X[i * d + j] = static_cast<float>(g(rng));
      z += (j % 3 - 1) * 0.8 * data.X[i * d + j];
    }
    data.y[i] = u(rng) < 1.0 / (1.0 + std::exp(-z));
  }
  return data;
}

// At the optimum the gradient C X^T (p - y) + w vanishes.
TEST(FitLogistic, ReachesTheStationaryPoint) {
  Data data = Make(3000, 5, 1);
  LogisticOptions opt;
  opt.C = 0.5;
  auto r = FitLogistic(data.X, data.n, data.d, data.y, {}, opt);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->converged);
  EXPECT_LT(r->n_iter, 15);
  std::vector<double> grad(data.d + 1, 0.0);
  for (int64_t i = 0; i < data.n; ++i) {
    double z = r->intercept;
    for (int64_t j = 0; j < data.d; ++j) z += r->coef[j] * data.X[i * data.d + j];
    const double res = 1.0 / (1.0 + std::exp(-z)) - data.y[i];
    for (int64_t j = 0; j < data.d; ++j) grad[j] += opt.C * res * data.X[i * data.d + j];
    grad[data.d] += opt.C * res;
  }
  for (int64_t j = 0; j < data.d; ++j) EXPECT_NEAR(grad[j] + r->coef[j], 0.0, 1e-6);
  EXPECT_NEAR(grad[data.d], 0.0, 1e-6);
}

TEST(FitLogistic, IdenticalForAnyThreadCount) {
  Data data = Make(20000, 6, 2);
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto a = FitLogistic(data.X, data.n, data.d, data.y, {}, {});
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto b = FitLogistic(data.X, data.n, data.d, data.y, {}, {});
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->coef, b->coef);
  EXPECT_EQ(a->intercept, b->intercept);
}

TEST(FitLogistic, RefusesSingleClassAndBadLabels) {
  Data data = Make(100, 2, 3);
  std::vector<double> ones(100, 1.0);
  EXPECT_EQ(FitLogistic(data.X, 100, 2, ones, {}, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  data.y[5] = 2.0;
  EXPECT_EQ(FitLogistic(data.X, 100, 2, data.y, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  LogisticOptions bad;
  bad.C = -1;
  EXPECT_EQ(FitLogistic(data.X, 100, 2, ones, {}, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecisionEncoded, MatchesTheDenseMatrixScore) {
  std::vector<double> age = {20, NAN, 60, 100};
  std::vector<int32_t> region = {0, 2, kMissingCode, 3};
  DenseEncoderSpec spec;
  spec.numeric.push_back({"age", age.data(), 4, 1, false});
  spec.numeric_encoding.push_back({40.0, 20.0, -INFINITY, 80.0, 0.0});
  spec.categorical.push_back({"region", region, 3});
  std::vector<float> X(16);
  ASSERT_TRUE(EncodeDense(spec, 4, absl::MakeSpan(X)).ok());
  std::vector<double> coef = {0.5, -1.0, 2.0, 3.0};
  std::vector<double> fused(4), dense(4);
  ASSERT_TRUE(DecisionEncoded(spec, 4, coef, 0.25, absl::MakeSpan(fused)).ok());
  ASSERT_TRUE(DecisionDense(X, 4, 4, coef, 0.25, absl::MakeSpan(dense)).ok());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(fused[i], dense[i], 1e-12);
  std::vector<int32_t> f(8);
  std::vector<double> v(8);
  ASSERT_TRUE(ExplainEncoded(spec, 4, coef, 2, absl::MakeSpan(f), absl::MakeSpan(v)).ok());
  EXPECT_EQ(f[0], 0);  // row 0: age (-0.5) before region=0 (-1.0): largest first
  EXPECT_EQ(v[0], -0.5);
  EXPECT_EQ(f[1], 1);
  EXPECT_EQ(f[2], 3);  // row 1: region=2 only (age missing -> 0 contribution)
  EXPECT_EQ(f[3], -1);
}

}  // namespace
}  // namespace twinscore
