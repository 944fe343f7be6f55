#include "twinscore/twins_kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "twinscore/simd.h"
#include "twinscore/threads.h"
#include "twinscore/twins.h"

namespace twinscore {
namespace {

TEST(TwinsKernel, PackProspectsGroupsOfSixFeatureMajor) {
  const int64_t n = 8, d = 3;  // a group of 6 and a tail of 2
  std::vector<float> X(n * d), out(n * d);
  for (int64_t i = 0; i < n * d; ++i) X[i] = static_cast<float>(i);
  PackProspects(X.data(), n, d, out.data());
  for (int64_t t = 0; t < d; ++t) {
    for (int64_t r = 0; r < 6; ++r) EXPECT_EQ(out[t * 6 + r], X[r * d + t]);
    for (int64_t r = 0; r < 2; ++r) EXPECT_EQ(out[6 * d + t * 2 + r], X[(6 + r) * d + t]);
  }
}

#ifdef TWINSCORE_DENSE_KERNEL
// Every group size, odd and even feature counts, partial lane masks, and
// thresholds that pass everything (-inf), nothing (+inf), or equal a score
// exactly (a tie must pass: the heap breaks it by row).
template <int R>
void CheckFused(int64_t d, std::mt19937& gen) {
  std::normal_distribution<float> normal;
  std::vector<float> X(R * d), P(R * d), C(d * kTwinPanel), bias(kTwinPanel);
  for (auto& v : X) v = normal(gen);
  for (auto& v : C) v = normal(gen);
  for (auto& v : bias) v = normal(gen);
  PackProspects(X.data(), R, d, P.data());
  const float scale = 2.0f;
  std::vector<double> ref(R * kTwinPanel);
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < kTwinPanel; ++j) {
      double dot = 0;
      for (int64_t t = 0; t < d; ++t) dot += double(X[r * d + t]) * C[t * kTwinPanel + j];
      ref[r * kTwinPanel + j] = scale * dot + bias[j];
    }
  }
  for (unsigned lanes : {0xFFFFu, 0x0FF0u, 0x0001u, 0x8000u}) {
    for (int mode = 0; mode < 3; ++mode) {
      alignas(32) float s[R * kTwinPanel];
      unsigned masks[R];
      std::vector<float> thr(R);
      // First pass for the scores (all pass: written), second with the mode's
      // thresholds; scores and masks are written only when something passes.
      for (int r = 0; r < R; ++r) thr[r] = -std::numeric_limits<float>::infinity();
      ASSERT_TRUE(TwinTileFused<R>(P.data(), C.data(), bias.data(), d, scale, thr.data(), lanes, s, masks));
      for (int j = 0; j < R * kTwinPanel; ++j) EXPECT_NEAR(s[j], ref[j], 1e-4 * (1 + std::fabs(ref[j])));
      for (int r = 0; r < R; ++r) EXPECT_EQ(masks[r], lanes);
      for (int r = 0; r < R; ++r) {
        thr[r] = mode == 0   ? -std::numeric_limits<float>::infinity()
                 : mode == 1 ? std::numeric_limits<float>::infinity()
                             : s[r * kTwinPanel + (r * 5) % kTwinPanel];
      }
      alignas(32) float first[R * kTwinPanel];
      std::copy(s, s + R * kTwinPanel, first);
      std::fill(s, s + R * kTwinPanel, NAN);
      for (int r = 0; r < R; ++r) masks[r] = 0xDEADu;
      const bool any = TwinTileFused<R>(P.data(), C.data(), bias.data(), d, scale, thr.data(), lanes, s, masks);
      unsigned all = 0;
      for (int r = 0; r < R; ++r) {
        unsigned expect = 0;
        for (int j = 0; j < kTwinPanel; ++j) {
          if (first[r * kTwinPanel + j] >= thr[r] && (lanes >> j & 1u)) expect |= 1u << j;
          if (any) {
            EXPECT_EQ(s[r * kTwinPanel + j], first[r * kTwinPanel + j]);
          }
        }
        all |= expect;
        if (!any) continue;
        EXPECT_EQ(masks[r], expect) << "R=" << R << " d=" << d << " row " << r << " mode " << mode;
        const int tie = (r * 5) % kTwinPanel;
        if (mode == 2 && (lanes >> tie & 1u)) {
          EXPECT_TRUE(masks[r] >> tie & 1u);
        }
      }
      EXPECT_EQ(any, all != 0) << "R=" << R << " d=" << d << " mode " << mode;
    }
  }
}

TEST(TwinsKernel, FusedTileMatchesScalarReference) {
  if (CpuSimdLevel() < SimdLevel::kV3) GTEST_SKIP() << "the tile needs AVX2 + FMA";
  std::mt19937 gen(11);
  for (int64_t d : {1, 2, 5, 64, 67}) {
    CheckFused<1>(d, gen);
    CheckFused<2>(d, gen);
    CheckFused<3>(d, gen);
    CheckFused<4>(d, gen);
    CheckFused<5>(d, gen);
    CheckFused<6>(d, gen);
  }
}
#endif

// Many exact ties (small integer features, every client three times): the
// search must keep the lowest client rows among equal scores, whatever the
// group, panel and tile boundaries and the thread count.
TEST(TwinsKernel, ExactTiesKeepTheLowerRow) {
  std::mt19937 gen(5);
  const int64_t base = 37, nc = 3 * base, nq = 23, d = 3;
  std::vector<float> C(nc * d), Q(nq * d);
  for (int64_t j = 0; j < base; ++j) {
    for (int64_t t = 0; t < d; ++t) {
      const float v = static_cast<float>(static_cast<int>(gen() % 3) - 1);
      for (int copy = 0; copy < 3; ++copy) C[(copy * base + j) * d + t] = v;
    }
  }
  for (auto& v : Q) v = static_cast<float>(static_cast<int>(gen() % 3) - 1);
  for (TwinMetric metric : {TwinMetric::kInnerProduct, TwinMetric::kSquaredL2}) {
    TwinOptions o;
    o.metric = metric;
    o.prospect_tile = 7;
    o.client_tile = 24;
    TwinData cd, qd;
    cd.n = nc, cd.dim = d, cd.dense = C;
    qd.n = nq, qd.dim = d, qd.dense = Q;
    auto ix = TwinIndex::Fit(o, cd);
    ASSERT_TRUE(ix.ok());
    for (int k : {1, 10, 100}) {
      std::vector<std::vector<int64_t>> by_threads;
      for (int threads : {1, 2}) {
        ASSERT_TRUE(SetNumThreads(threads).ok());
        std::vector<int64_t> rows(nq * k);
        std::vector<float> scores(nq * k);
        std::vector<int32_t> counts(nq);
        ASSERT_TRUE((*ix)->Search(qd, k, {absl::MakeSpan(rows), absl::MakeSpan(scores), absl::MakeSpan(counts)}).ok());
        for (int64_t i = 0; i < nq; ++i) {
          std::vector<std::pair<double, int64_t>> all;
          for (int64_t j = 0; j < nc; ++j) {
            double dot = 0, l2 = 0;
            for (int64_t t = 0; t < d; ++t) {
              dot += double(Q[i * d + t]) * C[j * d + t];
              l2 += std::pow(double(Q[i * d + t]) - C[j * d + t], 2);
            }
            all.push_back({metric == TwinMetric::kSquaredL2 ? -l2 : dot, j});
          }
          std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
          for (int r = 0; r < k; ++r) EXPECT_EQ(rows[i * k + r], all[r].second) << "prospect " << i << " rank " << r;
        }
        by_threads.push_back(rows);
      }
      EXPECT_EQ(by_threads[0], by_threads[1]);
    }
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

}  // namespace
}  // namespace twinscore
