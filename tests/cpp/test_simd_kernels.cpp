// The kernel tables of every SIMD level this CPU runs, against plain float64
// references (the engines' own tests cover them through the engines).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../../cpp/src/kmeans_kernels.h"
#include "../../cpp/src/tree_kernels.h"
#include "../../cpp/src/twins_kernels.h"
#include "twinscore/simd.h"

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
    EXPECT_EQ(km.move_bounds != nullptr, level != SimdLevel::kV2);
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
