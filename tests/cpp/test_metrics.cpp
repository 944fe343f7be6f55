#include "twinscore/metrics.h"

#include <gtest/gtest.h>

#include <random>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

// AUC by its definition: P(score+ > score-) + 1/2 P(tie), over all pairs.
double PairAuc(const std::vector<double>& s, const std::vector<double>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[i] == 1 && y[j] == 0) {
        num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        den += 1;
      }
    }
  }
  return num / den;
}

TEST(Roc, AucEqualsThePairCountWithTies) {
  std::mt19937_64 rng(5);
  std::vector<double> s(400), y(400);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<double>(rng() % 20);  // many ties
    y[i] = (rng() % 100) < 20 + 3 * s[i];
  }
  auto r = Roc(s, y, {});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->auc, PairAuc(s, y), 1e-12);
  EXPECT_GT(r->ks, 0.0);
  EXPECT_LE(r->ks, 1.0);
}

TEST(Roc, RefusesSingleClassAndNaN) {
  std::vector<double> s = {0.1, 0.2}, y = {1, 1};
  EXPECT_EQ(Roc(s, y, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  s[0] = NAN;
  y[0] = 0;
  EXPECT_EQ(Roc(s, y, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GainsTable, EqualBinsInRankOrder) {
  std::vector<double> s = {0.9, 0.1, 0.5, 0.7, 0.3, 0.8};
  std::vector<double> y = {1, 0, 0, 1, 0, 1};
  std::vector<int64_t> rows(3);
  std::vector<double> w(3), p(3), ss(3), lo(3), hi(3);
  BinTable t{absl::MakeSpan(rows), absl::MakeSpan(w), absl::MakeSpan(p),
             absl::MakeSpan(ss),   absl::MakeSpan(lo), absl::MakeSpan(hi)};
  ASSERT_TRUE(GainsTable(s, y, {}, 3, t).ok());
  EXPECT_EQ(rows, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(p, (std::vector<double>{2, 1, 0}));
  EXPECT_EQ(hi[0], 0.9);
  EXPECT_EQ(lo[2], 0.1);
  std::vector<double> edges = {0.0, 0.5, 1.0};
  std::vector<int64_t> r2(2);
  std::vector<double> w2(2), p2(2), s2(2), l2(2), h2(2);
  BinTable b{absl::MakeSpan(r2), absl::MakeSpan(w2), absl::MakeSpan(p2),
             absl::MakeSpan(s2), absl::MakeSpan(l2), absl::MakeSpan(h2)};
  ASSERT_TRUE(BandTable(s, y, {}, edges, b).ok());
  EXPECT_EQ(r2, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(p2, (std::vector<double>{0, 3}));
}

TEST(Roc, IdenticalForAnyThreadCount) {
  std::mt19937_64 rng(9);
  std::vector<double> s(200000), y(200000);
  for (size_t i = 0; i < s.size(); ++i) s[i] = (rng() % 1000) / 7.0, y[i] = rng() % 2;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto a = Roc(s, y, {});
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto b = Roc(s, y, {});
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a->auc, b->auc);
  EXPECT_EQ(a->ks, b->ks);
}

}  // namespace
}  // namespace twinscore
