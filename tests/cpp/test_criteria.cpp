#include "twinscore/criteria.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

NumericColumn Col(const std::vector<double>& v, const std::string& name = "x") {
  return NumericColumn{name, v.data(), static_cast<int64_t>(v.size()), 1, false};
}

TEST(Criteria, QuantileEdgesAsNumpyLinear) {
  // 0..10 with a NaN: quartiles 0, 2.5, 5, 7.5, 10.
  std::vector<double> x = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, NAN};
  auto e = QuantileEdges({Col(x)}, 4);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0], (std::vector<double>{0, 2.5, 5, 7.5, 10}));
  // Duplicates dropped (pandas duplicates="drop").
  std::vector<double> y = {1, 1, 1, 1, 1, 1, 2, 3};
  auto f = QuantileEdges({Col(y)}, 4);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0], (std::vector<double>{1, 1.25, 3}));
  std::vector<double> bad = {1, INFINITY};
  auto g = QuantileEdges({Col(bad, "income")}, 4);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("income"), std::string::npos);
}

TEST(Criteria, BinsAreRightClosed) {
  std::vector<double> e = {0, 2.5, 5, 10};
  EXPECT_EQ(BinOf(0, e), 0);
  EXPECT_EQ(BinOf(-3, e), 0);
  EXPECT_EQ(BinOf(2.5, e), 0);
  EXPECT_EQ(BinOf(2.6, e), 1);
  EXPECT_EQ(BinOf(10, e), 2);
  EXPECT_EQ(BinOf(99, e), 2);
  EXPECT_EQ(BinOf(NAN, e), 3);
}

TEST(Criteria, CountsByHandAndThreadIndependent) {
  std::vector<double> x = {1, 2, 3, 4, NAN, 6};
  std::vector<uint8_t> t = {1, 0, 1, 1, 0, 0};
  std::vector<std::vector<double>> edges = {{1, 3, 6}};
  auto r = CountNumericBins({Col(x)}, edges, t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pos[0], (std::vector<int64_t>{2, 1, 0}));  // (.., 3], (3, 6], missing
  EXPECT_EQ(r->neg[0], (std::vector<int64_t>{1, 1, 1}));

  std::vector<int32_t> codes = {0, 1, -1, 2, 0, 1};  // 2 = "other" with 2 categories
  auto c = CountCodes({codes}, {2}, t);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->pos[0], (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(c->neg[0], (std::vector<int64_t>{1, 2, 0, 0}));
  EXPECT_FALSE(CountCodes({codes}, {1}, t).ok());  // code 2 > other

  std::vector<uint64_t> bits = {0b011, 0b100, 0b001, 0b110, 0, 0b101};
  auto s = CountSetMembers({bits}, {1}, {3}, t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pos[0], (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(s->neg[0], (std::vector<int64_t>{1, 0, 2}));

  // Large enough for several row blocks: 1 and 2 threads agree.
  std::vector<double> big(700000);
  std::vector<uint8_t> tb(big.size());
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::sin(i * 0.37), tb[i] = (i * 2654435761u) % 7 == 0;
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto e1 = QuantileEdges({Col(big)}, 10);
  auto b1 = CountNumericBins({Col(big)}, *e1, tb);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto e2 = QuantileEdges({Col(big)}, 10);
  auto b2 = CountNumericBins({Col(big)}, *e2, tb);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(*e1, *e2);
  EXPECT_EQ(b1->pos, b2->pos);
  EXPECT_EQ(b1->neg, b2->neg);
  int64_t total = 0;
  for (size_t j = 0; j < b1->pos[0].size(); ++j) total += b1->pos[0][j] + b1->neg[0][j];
  EXPECT_EQ(total, static_cast<int64_t>(big.size()));
}

TEST(Criteria, TargetLengthMismatch) {
  std::vector<double> x = {1, 2, 3};
  std::vector<uint8_t> t = {1, 0};
  EXPECT_FALSE(CountNumericBins({Col(x)}, {{1, 3}}, t).ok());
}

}  // namespace
}  // namespace twinscore
