#include "twinscore/kmeans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

std::vector<float> Blobs(int64_t n, int64_t d, int32_t k, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> X(n * d);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) X[i * d + j] = 6.0f * static_cast<float>((i % k + j) % 5) + noise(gen);
  }
  return X;
}

TEST(KMeans, AssignMatchesBruteForce) {
  // n not a multiple of the 6-row kernel; d = 7 runs the generic kernel, 8,
  // 16 and 32 the ones compiled for that width; k = 16 and 32 fill whole
  // 16-centre groups, 3 and 21 end with an 8-centre group.
  const int64_t n = 1003;
  for (int64_t d : {7, 8, 16, 32})
  for (int32_t k : {1, 3, 16, 21, 32}) {
    std::vector<float> X = Blobs(n, d, 4, 1), C(X.begin(), X.begin() + k * d);
    for (auto& c : C) c += 0.25f;
    KMeansData data{X, {}, n, d};
    std::vector<int32_t> labels(n);
    std::vector<float> dist2(n);
    std::vector<double> sums(k * d), counts(k);
    const double inertia = AssignAndSum(data, C, k, absl::MakeSpan(labels), absl::MakeSpan(dist2),
                                        absl::MakeSpan(sums), absl::MakeSpan(counts));
    double ref_inertia = 0.0;
    std::vector<double> ref_sums(k * d, 0.0), ref_counts(k, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      double best = std::numeric_limits<double>::infinity();
      int32_t b = 0;
      for (int32_t c = 0; c < k; ++c) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += std::pow(double(X[i * d + j]) - C[c * d + j], 2);
        if (s < best) best = s, b = c;
      }
      // A near tie may resolve either way in float32; the distance must agree.
      ASSERT_NEAR(dist2[i], best, 1e-3 * (1 + best)) << "row " << i << " k " << k << " d " << d;
      ref_inertia += dist2[i];
      ref_counts[labels[i]] += 1;
      for (int64_t j = 0; j < d; ++j) ref_sums[labels[i] * d + j] += X[i * d + j];
      (void)b;
    }
    EXPECT_NEAR(inertia, ref_inertia, 1e-6 * ref_inertia);
    for (int32_t c = 0; c < k; ++c) EXPECT_EQ(counts[c], ref_counts[c]);
    for (size_t q = 0; q < sums.size(); ++q) EXPECT_NEAR(sums[q], ref_sums[q], 1e-6 * (1 + std::abs(ref_sums[q])));
  }
}

TEST(KMeans, LloydConvergesToFixedPointAndIsThreadIndependent) {
  const int64_t n = 20000, d = 5;
  std::vector<float> X = Blobs(n, d, 6, 2);
  KMeansData data{X, {}, n, d};
  KMeansOptions opt;
  opt.k = 6;
  opt.tol = 0.0;  // run to strict convergence: labels unchanged
  std::vector<float> init(opt.k * d);
  ASSERT_TRUE(KMeansPlusPlus(data, opt.k, 42, absl::MakeSpan(init)).ok());
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto one = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto two = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(one->centers, two->centers);
  EXPECT_EQ(one->labels, two->labels);
  EXPECT_EQ(one->inertia, two->inertia);
  EXPECT_LT(one->n_iter, opt.max_iter);
  // Converged: each centre is the mean of its rows.
  std::vector<double> mean(opt.k * d, 0.0), cnt(opt.k, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    cnt[one->labels[i]] += 1;
    for (int64_t j = 0; j < d; ++j) mean[one->labels[i] * d + j] += X[i * d + j];
  }
  for (int32_t c = 0; c < opt.k; ++c) {
    ASSERT_GT(cnt[c], 0);
    for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(one->centers[c * d + j], mean[c * d + j] / cnt[c], 1e-3);
  }
}

// Lloyd with Hamerly's bounds against the brute force from the same centres:
// the same labels at every pass (hence the same iterations), centres equal
// up to the rounding of the carried sums. Overlapping blobs keep rows moving
// for many passes; the integer lattice makes exact ties (lowest index wins)
// that the bounds must never prune wrongly; odd n leaves 2-5 rows after the
// 6-row groups; weights exercise the weighted moves.
void ExpectPrunedMatchesBrute(const std::vector<float>& X, const std::vector<float>& w, int64_t d, int32_t k,
                              int32_t max_iter, uint64_t seed) {
  const int64_t n = static_cast<int64_t>(X.size()) / d;
  KMeansData data{X, w, n, d};
  KMeansOptions opt;
  opt.k = k;
  opt.max_iter = max_iter;
  opt.tol = 0.0;
  std::vector<float> init(k * d);
  ASSERT_TRUE(KMeansRandomInit(data, k, seed, absl::MakeSpan(init)).ok());
  opt.prune = false;
  auto brute = KMeansLloyd(data, opt, init);
  opt.prune = true;
  auto pruned = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(brute.ok() && pruned.ok());
  const std::string where = "n " + std::to_string(n) + " d " + std::to_string(d) + " k " + std::to_string(k);
  EXPECT_EQ(pruned->n_iter, brute->n_iter) << where;
  EXPECT_EQ(pruned->labels, brute->labels) << where;
  for (size_t q = 0; q < init.size(); ++q) {
    ASSERT_NEAR(pruned->centers[q], brute->centers[q], 1e-5 * (1 + std::abs(brute->centers[q]))) << where;
  }
  EXPECT_NEAR(pruned->inertia, brute->inertia, 1e-9 * brute->inertia) << where;
}

TEST(KMeans, PrunedLloydMatchesBruteForce) {
  for (int64_t d : {1, 7, 8, 16, 32})
  for (int32_t k : {1, 3, 16, 21}) {
    std::vector<float> X = Blobs(4001, d, 5, 7);
    std::mt19937_64 gen(d * 100 + k);
    std::normal_distribution<float> spread(0.0f, 3.0f);
    for (auto& x : X) x += spread(gen);  // overlapping clusters: many moves
    ExpectPrunedMatchesBrute(X, {}, d, k, 40, 11);
  }
}

TEST(KMeans, PrunedLloydKeepsTiesAndWeights) {
  for (int64_t d : {2, 16}) {
    const int64_t n = 3003;
    std::mt19937_64 gen(d);
    std::vector<float> X(n * d), w(n);
    for (auto& x : X) x = static_cast<float>(gen() % 4);  // a small lattice: exact ties
    for (auto& v : w) v = static_cast<float>(gen() % 4) * 0.25f;  // some rows weigh 0
    for (int32_t k : {2, 5, 9}) {
      ExpectPrunedMatchesBrute(X, {}, d, k, 25, 3);
      ExpectPrunedMatchesBrute(X, w, d, k, 25, 5);
    }
  }
}

TEST(KMeans, PrunedLloydIsThreadIndependent) {
  const int64_t n = 50001, d = 16;
  std::vector<float> X = Blobs(n, d, 16, 9);
  std::mt19937_64 gen(1);
  std::normal_distribution<float> spread(0.0f, 2.0f);
  for (auto& x : X) x += spread(gen);
  KMeansData data{X, {}, n, d};
  KMeansOptions opt;
  opt.k = 16;
  opt.max_iter = 40;  // slow to settle: ~25 brute-force passes, then pruned ones
  std::vector<float> init(opt.k * d);
  ASSERT_TRUE(KMeansRandomInit(data, opt.k, 2, absl::MakeSpan(init)).ok());
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto one = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto two = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(SetNumThreads(0).ok());
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(one->centers, two->centers);
  EXPECT_EQ(one->labels, two->labels);
  EXPECT_EQ(one->inertia, two->inertia);
}

TEST(KMeans, PrunedLloydRefillsAnEmptiedCluster) {
  // The far centre takes the outliers in the first pass; once the near ones
  // spread, they win the outliers back and the far one empties in a pruned
  // pass: it must take the farthest row, as the brute force does.
  std::vector<float> X;
  for (int i = 0; i < 200; ++i) X.push_back(static_cast<float>(i % 20));
  X.push_back(60.0f);
  X.push_back(61.0f);
  std::vector<float> init = {0.0f, 1.0f, 45.0f};
  KMeansData data{X, {}, static_cast<int64_t>(X.size()), 1};
  KMeansOptions opt;
  opt.k = 3;
  opt.tol = 0.0;
  opt.prune = false;
  auto brute = KMeansLloyd(data, opt, init);
  opt.prune = true;
  auto pruned = KMeansLloyd(data, opt, init);
  ASSERT_TRUE(brute.ok() && pruned.ok());
  EXPECT_EQ(pruned->labels, brute->labels);
  EXPECT_EQ(pruned->n_iter, brute->n_iter);
  for (size_t q = 0; q < 3; ++q) EXPECT_NEAR(pruned->centers[q], brute->centers[q], 1e-5);
}

TEST(KMeans, InitsAreDeterministicRows) {
  const int64_t n = 500, d = 3;
  std::vector<float> X = Blobs(n, d, 5, 3);
  KMeansData data{X, {}, n, d};
  for (bool pp : {true, false}) {
    std::vector<float> a(5 * d), b(5 * d);
    ASSERT_TRUE((pp ? KMeansPlusPlus(data, 5, 7, absl::MakeSpan(a)) : KMeansRandomInit(data, 5, 7, absl::MakeSpan(a))).ok());
    ASSERT_TRUE((pp ? KMeansPlusPlus(data, 5, 7, absl::MakeSpan(b)) : KMeansRandomInit(data, 5, 7, absl::MakeSpan(b))).ok());
    EXPECT_EQ(a, b);
    for (int c = 0; c < 5; ++c) {  // every centre is a row of X
      bool found = false;
      for (int64_t i = 0; i < n && !found; ++i) found = std::equal(a.begin() + c * d, a.begin() + (c + 1) * d, X.begin() + i * d);
      EXPECT_TRUE(found);
    }
  }
}

TEST(KMeans, WeightsActAsRepeatedRows) {
  const int64_t d = 2;
  std::vector<float> X = {0, 0, 1, 0, 10, 10, 11, 10};
  std::vector<float> w = {1, 3, 1, 1};
  std::vector<float> Xr = {0, 0, 1, 0, 1, 0, 1, 0, 10, 10, 11, 10};
  std::vector<float> init = {0, 0, 10, 10};
  KMeansOptions opt;
  opt.k = 2;
  auto a = KMeansLloyd(KMeansData{X, w, 4, d}, opt, init);
  auto b = KMeansLloyd(KMeansData{Xr, {}, 6, d}, opt, init);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->centers, b->centers);
  EXPECT_DOUBLE_EQ(a->inertia, b->inertia);
  EXPECT_FLOAT_EQ(a->centers[0], 0.75f);
}

TEST(KMeans, MiniBatchOneBatchIsALloydStep) {
  const int64_t n = 3000, d = 4;
  std::vector<float> X = Blobs(n, d, 3, 4);
  KMeansData data{X, {}, n, d};
  std::vector<float> c(3 * d);
  ASSERT_TRUE(KMeansPlusPlus(data, 3, 1, absl::MakeSpan(c)).ok());
  std::vector<float> mb = c;
  std::vector<double> totals(3, 0.0);
  ASSERT_TRUE(KMeansMiniBatchUpdate(data, 3, n, absl::MakeSpan(mb), absl::MakeSpan(totals)).ok());
  KMeansOptions opt;
  opt.k = 3;
  opt.max_iter = 1;
  auto step = KMeansLloyd(data, opt, c);
  ASSERT_TRUE(step.ok());
  for (size_t q = 0; q < mb.size(); ++q) EXPECT_NEAR(mb[q], step->centers[q], 1e-5);
  EXPECT_DOUBLE_EQ(totals[0] + totals[1] + totals[2], double(n));
}

TEST(KMeans, EmptyClusterTakesTheFarthestRow) {
  std::vector<float> X = {0, 1, 2, 100};
  std::vector<float> init = {1, 500};  // the second centre attracts nothing
  KMeansOptions opt;
  opt.k = 2;
  opt.max_iter = 1;
  auto r = KMeansLloyd(KMeansData{X, {}, 4, 1}, opt, init);
  ASSERT_TRUE(r.ok());
  EXPECT_FLOAT_EQ(r->centers[1], 100.0f);
  EXPECT_FLOAT_EQ(r->centers[0], 1.0f);
}

TEST(KMeans, BadInput) {
  std::vector<float> X = {0, 1, 2, 3};
  std::vector<float> init = {0, 1, 2};
  KMeansOptions opt;
  opt.k = 3;
  EXPECT_EQ(KMeansLloyd(KMeansData{X, {}, 2, 2}, opt, std::vector<float>(6)).status().code(),
            absl::StatusCode::kInvalidArgument);  // k > n
  opt.k = 0;
  EXPECT_FALSE(KMeansLloyd(KMeansData{X, {}, 4, 1}, opt, {}).ok());
  X[2] = std::nanf("");
  opt.k = 1;
  auto r = KMeansLloyd(KMeansData{X, {}, 4, 1}, opt, std::vector<float>{0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("NaN at row 2"), std::string::npos);
  X[2] = -std::numeric_limits<float>::infinity();
  r = KMeansLloyd(KMeansData{X, {}, 4, 1}, opt, std::vector<float>{0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("infinite value at row 2"), std::string::npos);
  std::vector<float> w = {0, 0, 0, 0};
  X[2] = 2;
  EXPECT_FALSE(KMeansLloyd(KMeansData{X, w, 4, 1}, opt, std::vector<float>{0}).ok());
}

// Values whose float32 squared distances overflow (|x| > sqrt(FLT_MAX / (4 d)))
// are refused by the engine's own pass, naming the first in row order — a
// NaN or infinity anywhere first — in every entry point that reads X.
TEST(KMeans, ValuesBeyondTheFloat32RangeAreRefusedInRowOrder) {
  const int64_t n = 20011, d = 4;
  const double limit = std::sqrt(static_cast<double>(std::numeric_limits<float>::max()) / (4.0 * d));
  for (bool prune : {true, false})
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    std::vector<float> X = Blobs(n, d, 3, 5);
    std::vector<float> init(X.begin(), X.begin() + 3 * d);
    KMeansOptions opt;
    opt.k = 3, opt.max_iter = 5, opt.prune = prune;
    X[19000 * d + 2] = -2e19f;  // beyond 9.2e18 (d = 4)
    X[15000 * d + 1] = 1.5e19f;
    auto r = KMeansLloyd(KMeansData{X, {}, n, d}, opt, init);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("X holds 1.5e+19 at row 15000, column 1: beyond 4.61e+18, the squared "
                                        "distances k-means computes in float32 would overflow; rescale the column"),
              std::string::npos)
        << r.status();
    absl::Status v = KMeansData{X, {}, n, d}.Validate();
    EXPECT_NE(v.message().find("at row 15000, column 1"), std::string::npos) << v;
    X[19500 * d] = std::nanf("");  // a NaN, even after it in row order, is named first
    r = KMeansLloyd(KMeansData{X, {}, n, d}, opt, init);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("NaN at row 19500, column 0"), std::string::npos) << r.status();
    X[19500 * d] = 0.0f;
    // The largest float at the limit passes, the next one is refused.
    float edge = static_cast<float>(limit);
    if (static_cast<double>(edge) > limit) edge = std::nextafter(edge, 0.0f);
    X[19000 * d + 2] = -edge;
    X[15000 * d + 1] = edge;
    const KMeansData data{X, {}, n, d};  // a view of X: sees the edits below
    EXPECT_TRUE(data.Validate().ok());
    X[15000 * d + 1] = std::nextafter(edge, std::numeric_limits<float>::max());
    EXPECT_FALSE(data.Validate().ok());
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

TEST(KMeans, NonFiniteFoundInTheFirstPassInRowOrder) {
  // The pruned fit scans X inside its first pass, chunk by chunk: values in
  // a later block and a later chunk, the first in row order reported, with
  // the brute-force fit (separate scan) and 1 or 2 threads alike.
  const int64_t n = 20011, d = 7;
  for (bool prune : {true, false})
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    std::vector<float> X = Blobs(n, d, 3, 5);
    std::vector<float> init(X.begin(), X.begin() + 3 * d);
    KMeansOptions opt;
    opt.k = 3, opt.max_iter = 5, opt.prune = prune;
    X[(n - 1) * d + 6] = std::numeric_limits<float>::infinity();
    auto r = KMeansLloyd(KMeansData{X, {}, n, d}, opt, init);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("infinite value at row 20010, column 6"), std::string::npos);
    X[12345 * d + 3] = std::nanf("");
    r = KMeansLloyd(KMeansData{X, {}, n, d}, opt, init);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("NaN at row 12345, column 3"), std::string::npos);
    X[(n - 1) * d + 6] = X[12345 * d + 3] = 1.0f;  // all finite again: fits
    EXPECT_TRUE(KMeansLloyd(KMeansData{X, {}, n, d}, opt, init).ok());
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

}  // namespace
}  // namespace twinscore
