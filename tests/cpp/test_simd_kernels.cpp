// The kernel tables of every SIMD level this CPU runs, against plain float64
// references (the engines' own tests cover them through the engines).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../cpp/src/kmeans_kernels.h"
#include "../../cpp/src/tree_kernels.h"
#include "../../cpp/src/twins_kernels.h"
#include "twinscore/kmeans.h"
#include "twinscore/simd.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

// Nearest centres of 1 and 6 rows and the exact distances, every width
// kernel (any d, 8, 16, 32), every level: the label is the float64 nearest
// wherever the runner-up is not within float32 rounding, and Dist2 is the
// float64 squared distance to 1e-12.
TEST(SimdKernels, KMeansNearestAndDistancesAtEveryLevel) {
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  for (SimdLevel level : SupportedSimdLevels()) {
    const auto& km = kernels::KMeans(level);
    EXPECT_EQ(km.vector, level != SimdLevel::kV2);
    for (int d : {5, 8, 16, 32}) {
      const int w = kernels::KMeansWidthIndex(d);
      for (int k : {3, 8, 13, 16, 21}) {
        const int kp = (k + 7) / 8 * 8;
        std::vector<float> c(k * d), ct(d * kp, 0.0f), cn(kp, std::numeric_limits<float>::infinity());
        for (auto& v : c) v = 3.0f * normal(gen);
        for (int q = 0; q < k; ++q) {
          float s = 0;
          for (int j = 0; j < d; ++j) ct[j * kp + q] = c[q * d + j], s += c[q * d + j] * c[q * d + j];
          cn[q] = s;
        }
        const kernels::KMeansCentres p{k, kp, d, ct.data(), cn.data()};
        std::vector<float> x(6 * d);
        for (auto& v : x) v = 3.0f * normal(gen);
        int32_t six[6], six2[6], one[1];
        float f1[6], f2[6];
        const float* xs[6];
        for (int r = 0; r < 6; ++r) xs[r] = x.data() + r * d;
        km.nearest6[w](x.data(), p, six);
        km.nearest2_6[w](xs, p, six2, f1, f2);
        for (int r = 0; r < 6; ++r) {
          std::vector<double> dist(k);
          for (int q = 0; q < k; ++q) {
            double s = 0;
            for (int j = 0; j < d; ++j) s += std::pow(double(x[r * d + j]) - c[q * d + j], 2);
            dist[q] = s;
            EXPECT_NEAR(km.dist2[w](x.data() + r * d, c.data() + q * d, d), s, 1e-12 * s);
          }
          int best = 0;
          for (int q = 1; q < k; ++q) best = dist[q] < dist[best] ? q : best;
          double second = std::numeric_limits<double>::infinity();
          for (int q = 0; q < k; ++q) second = q != best ? std::min(second, dist[q]) : second;
          km.nearest1[w](x.data() + r * d, p, one);
          EXPECT_EQ(one[0], six[r]);
          EXPECT_EQ(six2[r], six[r]);  // the bounds' search gives the same labels
          if (second - dist[best] > 1e-3 * (1 + dist[best])) {
            EXPECT_EQ(six[r], best) << SimdLevelName(level) << " d=" << d << " k=" << k << " row " << r;
          }
        }
      }
    }
  }
}

// The block kernels of k-means (brute-force, full and pruned passes,
// seeding, distances) run through the engine at every level: at each level
// the fit is the same bit for bit with 1 and 2 threads; across levels the
// labels and iterations agree and the centres, inertia and distances agree
// to float rounding (the levels' distances differ by FMA and lane order).
TEST(SimdKernels, KMeansBlockKernelsAtEveryLevel) {
  for (int64_t d : {7, 16}) {
    const int64_t n = 30011;
    const int32_t k = 12;
    std::mt19937 gen(static_cast<unsigned>(d));
    std::normal_distribution<float> normal;
    std::vector<float> centres(k * d), X(n * d), w(n);
    for (auto& v : centres) v = 8.0f * normal(gen);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j) X[i * d + j] = centres[(i % k) * d + j] + normal(gen);
      w[i] = static_cast<float>(i % 3);
    }
    for (bool weighted : {false, true}) {
      const KMeansData data{X, weighted ? absl::Span<const float>(w) : absl::Span<const float>(), n, d};
      std::vector<KMeansResult> fits;
      std::vector<std::vector<float>> dists;
      for (SimdLevel level : SupportedSimdLevels()) {
        ASSERT_TRUE(OverrideSimdLevelForTesting(static_cast<int>(level)));
        KMeansOptions opt;
        opt.k = k, opt.tol = 0.0, opt.max_iter = 30;
        std::vector<KMeansResult> by_threads;
        for (int threads : {1, 2}) {
          ASSERT_TRUE(SetNumThreads(threads).ok());
          std::vector<float> init(k * d);
          ASSERT_TRUE(KMeansPlusPlus(data, k, 3, absl::MakeSpan(init)).ok());
          auto r = KMeansLloyd(data, opt, init);
          ASSERT_TRUE(r.ok()) << r.status();
          by_threads.push_back(*std::move(r));
        }
        ASSERT_TRUE(SetNumThreads(0).ok());
        const std::string at = std::string(SimdLevelName(level)) + " d=" + std::to_string(d);
        EXPECT_EQ(by_threads[0].centers, by_threads[1].centers) << at;
        EXPECT_EQ(by_threads[0].labels, by_threads[1].labels) << at;
        EXPECT_EQ(by_threads[0].inertia, by_threads[1].inertia) << at;
        fits.push_back(by_threads[0]);
        std::vector<float> dist(n * k);
        ASSERT_TRUE(KMeansDistances(data, fits[0].centers, k, absl::MakeSpan(dist)).ok());
        dists.push_back(dist);
      }
      ASSERT_TRUE(OverrideSimdLevelForTesting(0));
      // The baseline's distances against a float64 reference.
      for (int64_t i = 0; i < n; i += 97) {
        for (int32_t c = 0; c < k; ++c) {
          double s = 0;
          for (int64_t j = 0; j < d; ++j) s += std::pow(double(X[i * d + j]) - fits[0].centers[c * d + j], 2);
          EXPECT_NEAR(dists[0][i * k + c], s, 1e-6 * s);
        }
      }
      for (size_t l = 1; l < fits.size(); ++l) {
        EXPECT_EQ(fits[l].labels, fits[0].labels);
        EXPECT_EQ(fits[l].n_iter, fits[0].n_iter);
        EXPECT_NEAR(fits[l].inertia, fits[0].inertia, 1e-9 * fits[0].inertia);
        for (size_t q = 0; q < fits[0].centers.size(); ++q) {
          EXPECT_NEAR(fits[l].centers[q], fits[0].centers[q], 1e-5 * (1 + std::abs(fits[0].centers[q])));
        }
        for (size_t q = 0; q < dists[0].size(); ++q) {
          ASSERT_NEAR(dists[l][q], dists[0][q], 1e-6 * (1 + dists[0][q])) << "entry " << q;
        }
      }
    }
  }
}

// The tables say which levels have vector kernels: none at the baseline.
TEST(SimdKernels, BaselineHasNoVectorKernels) {
  EXPECT_FALSE(kernels::Trees(SimdLevel::kV2).vector());
  EXPECT_EQ(kernels::Twins(SimdLevel::kV2).dense_search, nullptr);
  for (SimdLevel level : SupportedSimdLevels()) {
    if (level == SimdLevel::kV2) continue;
    EXPECT_TRUE(kernels::Trees(level).vector());
    for (int depth = 1; depth <= kernels::kMaxCompleteKernelDepth; ++depth) {
      EXPECT_NE(kernels::Trees(level).complete_f[depth], nullptr);
      EXPECT_NE(kernels::Trees(level).complete_d[depth], nullptr);
    }
    EXPECT_NE(kernels::Twins(level).dense_search, nullptr);
  }
}

}  // namespace
}  // namespace twinscore
