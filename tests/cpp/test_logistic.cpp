#include "twinscore/logistic.h"
#include "twinscore/logistic_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

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

// The row kernels of every SIMD level this CPU runs against a plain oracle
// and against the baseline's, on row counts and widths that leave tails
// (rows not a multiple of 4, columns not a multiple of 4). The vector levels
// use FMA and four partial sums: relative 1e-12 of the baseline.
TEST(LogisticKernels, EveryLevelMatchesTheOracleOnTails) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g;
  const auto& base = kernels::Logistic(SimdLevel::kV2);
  EXPECT_FALSE(base.vector);
  for (SimdLevel level : SupportedSimdLevels()) {
    const auto& k = kernels::Logistic(level);
    EXPECT_EQ(k.vector, level != SimdLevel::kV2) << SimdLevelName(level);
    for (int64_t d : {0, 1, 3, 4, 5, 8, 13, 50}) {
      for (int64_t m : {1, 3, 4, 7, 64, 513}) {
        std::vector<float> X(m * d);
        for (auto& v : X) v = static_cast<float>(g(rng));
        std::vector<double> beta(d), r(m), z1(m), z2(m), g1(d, 0.5), g2(d, 0.5);
        for (auto& v : beta) v = g(rng);
        for (auto& v : r) v = g(rng);
        base.chunk_scores(X.data(), m, d, beta.data(), z1.data());
        k.chunk_scores(X.data(), m, d, beta.data(), z2.data());
        base.chunk_gradient(X.data(), m, d, r.data(), g1.data());
        k.chunk_gradient(X.data(), m, d, r.data(), g2.data());
        for (int64_t i = 0; i < m; ++i) {
          double ref = 0;  // plain oracle
          for (int64_t j = 0; j < d; ++j) ref += static_cast<double>(X[i * d + j]) * beta[j];
          EXPECT_EQ(z1[i], ref) << "the baseline sums in the oracle's order";
          EXPECT_NEAR(z2[i], ref, 1e-12 * (1 + std::abs(ref))) << SimdLevelName(level) << " d=" << d << " m=" << m;
        }
        for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(g1[j], g2[j], 1e-11 * (1 + std::abs(g1[j]))) << "d=" << d;
      }
    }
  }
}

// Past kHessianRows rows the Hessian is formed on a sample of the chunks: the
// fit must still reach the exact stationary point, the same for 1 and 2
// threads, with sample weights.
TEST(FitLogistic, SampledHessianReachesTheStationaryPoint) {
  Data data = Make(300001, 3, 4);
  std::vector<double> w(data.n);
  for (int64_t i = 0; i < data.n; ++i) w[i] = 0.5 + (i % 7) * 0.25;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto a = FitLogistic(data.X, data.n, data.d, data.y, w, {});
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto b = FitLogistic(data.X, data.n, data.d, data.y, w, {});
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->converged);
  EXPECT_EQ(a->coef, b->coef);
  EXPECT_EQ(a->intercept, b->intercept);
  std::vector<double> grad(data.d + 1, 0.0);
  for (int64_t i = 0; i < data.n; ++i) {
    double z = a->intercept;
    for (int64_t j = 0; j < data.d; ++j) z += a->coef[j] * data.X[i * data.d + j];
    const double res = w[i] * (1.0 / (1.0 + std::exp(-z)) - data.y[i]);
    for (int64_t j = 0; j < data.d; ++j) grad[j] += res * data.X[i * data.d + j];
    grad[data.d] += res;
  }
  // Relative to the size of the loss gradient's terms (n ~ 3e5).
  for (int64_t j = 0; j < data.d; ++j) EXPECT_NEAR(grad[j] + a->coef[j], 0.0, 1e-5);
  EXPECT_NEAR(grad[data.d], 0.0, 1e-5);
}

// The numeric scorer of every level against the encoder's formula, bit for
// bit (every level does the same operations in the same order): NaN (fill),
// values clipped at both ends, row counts with tails, the row of an infinity.
TEST(LogisticKernels, NumericScoringIsIdenticalAtEveryLevel) {
  for (SimdLevel level : SupportedSimdLevels()) {
    const auto& k = kernels::Logistic(level);
    std::mt19937_64 rng(11);
    std::normal_distribution<float> g;
    for (int64_t m : {1, 3, 4, 5, 17, 4099}) {
      std::vector<float> x(m);
      for (int64_t i = 0; i < m; ++i) x[i] = (i % 5 == 2) ? NAN : 3.0f * g(rng);
      std::vector<double> z(m, 0.25);
      ASSERT_EQ(k.add_numeric(x.data(), m, 0.3, 1.7, -2.0, 2.5, -0.1, 0.8, z.data()), m);
      for (int64_t i = 0; i < m; ++i) {
        const double v = x[i];
        const double u = std::isnan(v) ? -0.1 : static_cast<float>((std::min(std::max(v, -2.0), 2.5) - 0.3) / 1.7);
        const double want = 0.25 + 0.8 * u;
        ASSERT_EQ(z[i], want) << SimdLevelName(level) << " row " << i;
      }
      if (m > 3) {
        x[m - 2] = -INFINITY;
        x[m - 3] = INFINITY;
        EXPECT_EQ(k.add_numeric(x.data(), m, 0, 1, -INFINITY, INFINITY, 0, 1, z.data()), m - 3);
      }
    }
  }
}

// Streamed stores copy exactly, whatever the destination's alignment and
// the length's tail.
TEST(LogisticKernels, StreamStoreCopiesAnyAlignmentAndLength) {
  std::vector<double> src(40), dst(48);
  for (size_t i = 0; i < src.size(); ++i) src[i] = 0.5 * static_cast<double>(i) - 3.0;
  for (SimdLevel level : SupportedSimdLevels()) {
    for (int64_t offset = 0; offset < 4; ++offset) {
      for (int64_t m : {0, 1, 3, 4, 5, 8, 13, 37}) {
        std::fill(dst.begin(), dst.end(), -1.0);
        kernels::Logistic(level).stream_store(src.data(), m, dst.data() + offset);
        for (int64_t i = 0; i < 48; ++i) {
          const double want = i >= offset && i < offset + m ? src[i - offset] : -1.0;
          ASSERT_EQ(dst[i], want) << SimdLevelName(level) << " offset " << offset << " m " << m << " i " << i;
        }
      }
    }
  }
}

TEST(LogisticKernels, CodeLookupAddsCoefficientsAndFindsBadCodes) {
  for (SimdLevel level : SupportedSimdLevels()) {
    const auto& k = kernels::Logistic(level);
    const std::vector<double> table = {0.0, 1.5, -2.0, 4.0, 0.0};  // missing, 3 categories, other
    std::vector<int32_t> codes = {0, 1, 2, -1, 3, 2, 0};
    std::vector<double> z(codes.size(), 1.0);
    ASSERT_EQ(k.add_codes(codes.data(), 7, table.data(), 3, z.data()), 7);
    EXPECT_EQ(z, (std::vector<double>{2.5, -1.0, 5.0, 1.0, 1.0, 5.0, 2.5}));
    codes[4] = 4;
    EXPECT_EQ(k.add_codes(codes.data(), 7, table.data(), 3, z.data()), 4);
    codes[4] = 0, codes[1] = -2;
    EXPECT_EQ(k.add_codes(codes.data(), 7, table.data(), 3, z.data()), 1);
  }
}

// A float32 column (the vectorised path) over more than one block of rows,
// with NaN, clipping and every code, equals the score of the encoded matrix;
// an infinity or a bad code is reported with its row.
TEST(DecisionEncoded, Float32ColumnsMatchTheDenseMatrixScore) {
  const int64_t n = 9001;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> a(n), b(n);
  std::vector<int32_t> codes(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = (i % 97 == 0) ? NAN : 10.0f + 4.0f * g(rng);
    b[i] = g(rng);
    codes[i] = static_cast<int32_t>(i % 6) - 1;  // -1 .. 4, 4 being "other"
  }
  DenseEncoderSpec spec;
  spec.numeric.push_back({"a", a.data(), n, 1, true});
  spec.numeric.push_back({"b", b.data(), n, 1, true});
  spec.numeric_encoding.push_back({10.0, 4.0, 4.0, 15.0, 0.0});
  spec.numeric_encoding.push_back({0.0, 1.0, -INFINITY, INFINITY, 0.0});
  spec.categorical.push_back({"c", codes, 4});
  std::vector<float> X(n * 6);
  ASSERT_TRUE(EncodeDense(spec, n, absl::MakeSpan(X)).ok());
  const std::vector<double> coef = {0.7, -1.3, 0.2, -0.4, 1.1, 2.0};
  std::vector<double> fused(n), dense(n);
  ASSERT_TRUE(DecisionEncoded(spec, n, coef, -0.5, absl::MakeSpan(fused)).ok());
  ASSERT_TRUE(DecisionDense(X, n, 6, coef, -0.5, absl::MakeSpan(dense)).ok());
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(fused[i], dense[i], 1e-12) << i;
  b[5000] = INFINITY;
  auto s = DecisionEncoded(spec, n, coef, 0.0, absl::MakeSpan(fused));
  EXPECT_NE(s.message().find("row 5000"), std::string::npos) << s;
  b[5000] = 0.0f;
  codes[7000] = 9;
  s = DecisionEncoded(spec, n, coef, 0.0, absl::MakeSpan(fused));
  EXPECT_NE(s.message().find("code 9 at row 7000"), std::string::npos) << s;
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

// Non-finite X is found by the first pass (its loss at beta = 0 turns NaN),
// whatever the value, its row (a zero weight too) and its place in a chunk.
TEST(FitLogistic, NamesTheFirstNonFiniteValue) {
  Data data = Make(1203, 3, 4);
  std::vector<double> w(1203, 1.0);
  w[1201] = 0.0;
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    for (int64_t row : {int64_t{0}, int64_t{517}, int64_t{1201}, int64_t{1202}}) {
      std::vector<float> X = data.X;
      X[row * 3 + 2] = bad;
      if (row == 517) X[1100 * 3 + 1] = bad;  // the first one is named
      auto r = FitLogistic(X, 1203, 3, data.y, w, {});
      ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad << " at " << row;
      const std::string expected = "X holds a non-finite value at row " + std::to_string(row) + ", column 2";
      EXPECT_NE(r.status().message().find(expected), std::string::npos) << r.status();
    }
  }
}

// The last, tiny Newton step is taken without a pass over X: the result and
// its objective are those of the converged fit (checked against the
// objective recomputed at the returned coefficients).
TEST(FitLogistic, ReportsTheObjectiveAtTheReturnedCoefficients) {
  Data data = Make(5000, 4, 5);
  LogisticOptions opt;
  opt.C = 2.0;
  auto r = FitLogistic(data.X, data.n, data.d, data.y, {}, opt);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->converged);
  double f = 0.0;
  for (int64_t i = 0; i < data.n; ++i) {
    double z = r->intercept;
    for (int64_t j = 0; j < data.d; ++j) z += r->coef[j] * data.X[i * data.d + j];
    f += opt.C * (std::max(z, 0.0) - data.y[i] * z + std::log1p(std::exp(-std::abs(z))));
  }
  for (double c : r->coef) f += 0.5 * c * c;
  EXPECT_NEAR(r->objective, f, 1e-9 * f);
  LogisticOptions one = opt;
  one.max_iter = r->n_iter - 1;  // one step short: not converged, a different point
  auto s = FitLogistic(data.X, data.n, data.d, data.y, {}, one);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->converged);
  EXPECT_GE(s->objective, r->objective);
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
