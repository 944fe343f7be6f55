// The kernel tables of every SIMD level this CPU runs, against plain float64
// references (the engines' own tests cover them through the engines).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../cpp/src/criteria_kernels.h"
#include "../../cpp/src/kmeans_kernels.h"
#include "../../cpp/src/tree_kernels.h"
#include "../../cpp/src/twins_kernels.h"
#include "twinscore/criteria.h"
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
        const kernels::KMeansCentres p{k, kp, d, ct.data(), cn.data(), c.data()};
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
// the seeds and the fit are the same bit for bit with 1 and 2 threads; across
// levels, from the same centres to the fixed point, the labels and iterations
// agree and the centres, inertia and distances agree to float rounding (the
// levels' distances differ by FMA and lane order).
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
      w[i] = static_cast<float>((i / 7) % 4) * 0.5f;  // some zero, spread over the blobs
    }
    for (bool weighted : {false, true}) {
      const KMeansData data{X, weighted ? absl::Span<const float>(w) : absl::Span<const float>(), n, d};
      std::vector<float> init(centres);  // the blobs' centres, moved
      for (auto& v : init) v += 0.5f * normal(gen);
      std::vector<KMeansResult> fits;
      std::vector<std::vector<float>> dists;
      for (SimdLevel level : SupportedSimdLevels()) {
        ASSERT_TRUE(OverrideSimdLevelForTesting(static_cast<int>(level)));
        KMeansOptions opt;
        opt.k = k, opt.tol = 0.0, opt.max_iter = 100;  // to the fixed point: no label changes
        std::vector<KMeansResult> by_threads;
        std::vector<std::vector<float>> seeds;
        for (int threads : {1, 2}) {
          ASSERT_TRUE(SetNumThreads(threads).ok());
          seeds.emplace_back(k * d);
          ASSERT_TRUE(KMeansPlusPlus(data, k, 3, absl::MakeSpan(seeds.back())).ok());
          // The fit starts from the same centres at every level (the seeds'
          // float sums differ across levels, and so may the rows drawn).
          auto r = KMeansLloyd(data, opt, init);
          ASSERT_TRUE(r.ok()) << r.status();
          by_threads.push_back(*std::move(r));
        }
        ASSERT_TRUE(SetNumThreads(0).ok());
        const std::string at = std::string(SimdLevelName(level)) + " d=" + std::to_string(d);
        EXPECT_EQ(seeds[0], seeds[1]) << at;
        EXPECT_LT(by_threads[0].n_iter, opt.max_iter) << at;
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
        EXPECT_EQ(fits[l].labels, fits[0].labels) << "d=" << d << " level " << l;
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

// The binning kernels of a float32 column (counts by target and bin codes)
// at every level: the bin of each row is NumericBinOf's, exactly — values
// on an edge, just above and below it, NaN, edges beyond the float range,
// and row counts that leave a tail after the 8-row steps.
TEST(SimdKernels, CriteriaFloat32BinningAtEveryLevel) {
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  NumericBinning bins;
  bins.float32 = true;
  bins.edges = {-1e300, -1e299, -1.0, -0.25, 0.1, 0.1 + 1e-12, 0.5, 2.0, 1e299, 1e300};
  for (size_t n : {1u, 7u, 8u, 13u, 1003u, 300001u}) {
    std::vector<float> x(n);
    std::vector<uint8_t> target(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = normal(gen);
      if (i % 11 == 3) x[i] = std::nanf("");
      if (i % 13 == 5) x[i] = static_cast<float>(bins.edges[2 + i % 6]);  // on (the float nearest) an edge
      if (i % 17 == 6) x[i] = std::nextafter(static_cast<float>(bins.edges[2 + i % 6]), 10.0f);
      if (i % 29 == 7) x[i] = (i % 2 ? 1 : -1) * std::numeric_limits<float>::infinity();
      target[i] = (i % 3) == 0;
    }
    std::vector<int64_t> want_pos(bins.num_bins(), 0), want_neg(bins.num_bins(), 0);
    std::vector<int32_t> want(n);
    for (size_t i = 0; i < n; ++i) {
      want[i] = NumericBinOf(x[i], bins);
      (target[i] ? want_pos : want_neg)[want[i]] += 1;
    }
    const NumericColumn col{"x", x.data(), static_cast<int64_t>(n), 1, true};
    for (SimdLevel level : SupportedSimdLevels()) {
      ASSERT_TRUE(OverrideSimdLevelForTesting(static_cast<int>(level)));
      EXPECT_EQ(kernels::Criteria(level).count_float32 != nullptr, level != SimdLevel::kV2);
      auto counts = CountNumericBins({col}, {bins}, target);
      ASSERT_TRUE(counts.ok()) << counts.status();
      EXPECT_EQ(counts->pos[0], want_pos) << SimdLevelName(level) << " n=" << n;
      EXPECT_EQ(counts->neg[0], want_neg) << SimdLevelName(level) << " n=" << n;
      std::vector<int32_t> got(n, -7);
      ASSERT_TRUE(AssignNumericBins({col}, {bins}, {absl::MakeSpan(got)}).ok());
      EXPECT_EQ(got, want) << SimdLevelName(level) << " n=" << n;
    }
    ASSERT_TRUE(OverrideSimdLevelForTesting(0));
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
