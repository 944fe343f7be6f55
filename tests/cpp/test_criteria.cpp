#include "twinscore/criteria.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
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

TEST(Criteria, QuantileFractionsAsPandas) {
  // Edges to the bit as pandas 3.1 gives them (pd.qcut(..., retbins=True)):
  // the 19 values and 6 bins below put the 5th fraction, 5 * (1/6), a hair
  // below 5/6 (pandas keeps it: 6 times it rounds to 5), so the edge is a
  // hair below the 16th value, which goes to the last bin.
  std::vector<double> x = {999, 1, 999, 0.3031, 3, -19.9, -19.1, -46.9, 23.9, 0, 999, -0.28, -21.0, 22.1, -28.4,
                           1, 0, 43.999107360839844, -11.7};
  auto e = QuantileEdges({Col(x)}, 6);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0][5], 43.99910736083981);
  EXPECT_EQ(BinOf(43.999107360839844, (*e)[0]), 5);
  // 0..1000 in 10 bins: 3 * 0.1 is not 3 / 10, so pandas rounds it up and the
  // edge lies above 300 (300 stays in the lower bin); 0.4 is exact.
  std::vector<double> y(1001);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i);
  auto f = QuantileEdges({Col(y)}, 10);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0], (std::vector<double>{0, 100, 200, 300.0000000000001, 400, 500, 600.0000000000002,
                                          700.0000000000002, 800, 900, 1000}));
  EXPECT_EQ(BinOf(300, (*f)[0]), 2);
}

// pandas.qcut's edges from a full sort: the oracle for the radix selection,
// on float32 and float64 columns with negatives, signed zeros, heavy ties,
// values packed into one histogram bucket, and NaN. The fractions as
// pandas/core/reshape/tile.py takes them (np.linspace, then np.nextafter up
// where q * fraction != i), the positions and lerp as numpy's quantile.
std::vector<double> SortedEdges(std::vector<double> v, int32_t n_bins) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  std::vector<double> e;
  for (int32_t i = 0; i <= n_bins; ++i) {
    double fraction = static_cast<double>(i) * (1.0 / n_bins);
    if (i == n_bins) fraction = 1.0;
    if (n_bins * fraction != static_cast<double>(i)) fraction = std::nextafter(fraction, 1.0);
    const double h = static_cast<double>(n - 1) * fraction;
    const size_t lo = static_cast<size_t>(std::floor(h));
    const double t = h - lo, a = v[lo], b = lo + 1 < n ? v[lo + 1] : a;
    e.push_back(t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t);
  }
  std::sort(e.begin(), e.end());
  e.erase(std::unique(e.begin(), e.end()), e.end());
  return e;
}

TEST(Criteria, QuantileEdgesEqualAFullSort) {
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int kind = 0; kind < 4; ++kind) {
    for (int64_t n : {1, 2, 7, 1000, 50001}) {
      std::vector<double> v(n);
      for (auto& x : v) {
        const double z = normal(gen);
        x = kind == 0   ? z * 1e3                                  // wide range, both signs
            : kind == 1 ? std::round(z * 2) * 0.5                 // heavy ties, signed zeros
            : kind == 2 ? 1.0 + std::abs(z) * 1e-9                // all in one bucket
                        : (gen() % 10 == 0 ? NAN : -std::abs(z));  // negatives and NaN
        if (kind == 1 && x == 0 && gen() % 2) x = -0.0;
      }
      std::vector<float> f(v.begin(), v.end());
      std::vector<double> fd(f.begin(), f.end());
      for (int32_t bins : {1, 4, 10, 17}) {
        auto e64 = QuantileEdges({Col(v)}, bins);
        auto e32 = QuantileEdges({NumericColumn{"f", f.data(), n, 1, true}}, bins);
        ASSERT_TRUE(e64.ok() && e32.ok());
        if (std::all_of(v.begin(), v.end(), [](double x) { return std::isnan(x); })) continue;
        EXPECT_EQ((*e64)[0], SortedEdges(v, bins)) << "kind " << kind << " n " << n << " bins " << bins;
        EXPECT_EQ((*e32)[0], SortedEdges(fd, bins)) << "kind " << kind << " n " << n << " bins " << bins;
      }
    }
  }
}

// The float32 fast path (8 rows per step, edges rounded down to floats)
// against BinOf in double: odd lengths (tails), NaN, values equal to the
// edges, edges that are no float (0.1, a lerp), and a constant column.
TEST(Criteria, Float32CountsEqualBinOf) {
  std::mt19937_64 gen(9);
  for (int64_t n : {1, 7, 8, 9, 1003}) {
    std::vector<float> x(n);
    for (auto& v : x) {
      const uint64_t r = gen() % 10;
      v = r == 0 ? NAN : r == 1 ? 0.1f : r == 2 ? 0.25f : static_cast<float>(static_cast<int64_t>(gen() % 2000) - 1000) / 1000;
    }
    std::vector<uint8_t> t(n);
    for (auto& v : t) v = gen() % 3 == 0;
    const NumericColumn col{"f", x.data(), n, 1, true};
    auto q = QuantileEdges({col}, 10);
    ASSERT_TRUE(q.ok());
    for (const std::vector<double>& edges : {std::vector<double>{-1, 0.1, 0.25, 1},
                                             std::vector<double>{-1, -0.3, 0.1000001, 0.5, 1}, std::vector<double>{0.25},
                                             (*q)[0]}) {
      auto r = CountNumericBins({col}, {edges}, t);
      ASSERT_TRUE(r.ok());
      std::vector<int64_t> pos(std::max<size_t>(edges.size(), 2)), neg(pos.size());
      for (int64_t i = 0; i < n; ++i) (t[i] ? pos : neg)[BinOf(x[i], edges)] += 1;
      EXPECT_EQ(r->pos[0], pos) << "n " << n << " edges " << edges.size();
      EXPECT_EQ(r->neg[0], neg) << "n " << n << " edges " << edges.size();
    }
  }
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
