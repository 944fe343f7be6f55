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
// against NumericBinOf in double: odd lengths (tails), NaN, values equal to
// the edges, edges that are no float (0.1, a lerp), and a constant column.
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
      const NumericBinning bins{{}, edges, true};
      auto r = CountNumericBins({col}, {bins}, t);
      ASSERT_TRUE(r.ok());
      std::vector<int64_t> pos(bins.num_bins()), neg(pos.size());
      for (int64_t i = 0; i < n; ++i) (t[i] ? pos : neg)[NumericBinOf(x[i], bins)] += 1;
      EXPECT_EQ(r->pos[0], pos) << "n " << n << " edges " << edges.size();
      EXPECT_EQ(r->neg[0], neg) << "n " << n << " edges " << edges.size();
      EXPECT_EQ(pos[bins.other_bin()] + neg[bins.other_bin()], 0);  // intervals take every present value
    }
  }
}

// The binning by its definition, from a full sort: one bin per value when
// there are at most n_bins distinct values; otherwise a bin of its own for
// each value held by more than n / n_bins of the n present rows, and the
// others in numpy-linear quantiles (SortedEdges) of the bins left.
NumericBinning OracleBinning(const std::vector<double>& x, int32_t n_bins, bool float32) {
  std::vector<double> v;
  for (double f : x) {
    if (!std::isnan(f)) v.push_back(f);
  }
  std::sort(v.begin(), v.end());
  std::vector<double> distinct = v;
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  NumericBinning b;
  b.float32 = float32;
  if (distinct.size() <= static_cast<size_t>(n_bins)) {
    b.values = distinct;
    return b;
  }
  for (double d : distinct) {
    const auto run = std::equal_range(v.begin(), v.end(), d);
    if (static_cast<size_t>(run.second - run.first) * n_bins > v.size()) b.values.push_back(d);
  }
  std::vector<double> rest;
  for (double f : v) {
    if (!std::binary_search(b.values.begin(), b.values.end(), f)) rest.push_back(f);
  }
  b.edges = SortedEdges(rest, n_bins - static_cast<int32_t>(b.values.size()));
  return b;
}

TEST(Criteria, FewValuesAreBinnedByValue) {
  std::vector<double> flag = {1, 0, 0, NAN, 1, 0, 0, 0};
  std::vector<double> constant = {5, 5, NAN};
  std::vector<double> none = {NAN, NAN};
  auto r = LearnNumericBins({Col(flag), Col(constant), Col(none)}, BinningOptions{10});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].values, (std::vector<double>{0, 1}));
  EXPECT_TRUE((*r)[0].edges.empty());
  EXPECT_EQ((*r)[1].values, (std::vector<double>{5}));
  EXPECT_TRUE((*r)[2].values.empty() && (*r)[2].edges.empty());
  std::vector<uint8_t> t = {1, 0, 1, 1, 1, 0, 0, 0};
  auto c = CountNumericBins({Col(flag)}, {(*r)[0]}, t);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->pos[0], (std::vector<int64_t>{1, 2, 0, 1}));  // 0, 1, other, missing
  EXPECT_EQ(c->neg[0], (std::vector<int64_t>{4, 0, 0, 0}));
  // Eleven distinct values with 10 bins: none holds more than a tenth, so quantiles.
  std::vector<double> eleven = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto q = LearnNumericBins({Col(eleven)}, BinningOptions{10});
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE((*q)[0].values.empty());
  EXPECT_EQ((*q)[0].edges, (*QuantileEdges({Col(eleven)}, 10))[0]);
}

TEST(Criteria, DominantValueGetsItsOwnBin) {
  // "999 = never contacted" on 96 % of the rows, days since contact 0..39 on the rest.
  std::vector<double> x(960, 999.0);
  for (int d = 0; d < 40; ++d) x.push_back(d);
  auto r = LearnNumericBins({Col(x)}, BinningOptions{10});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].values, (std::vector<double>{999}));
  std::vector<double> rest(x.begin() + 960, x.end());
  EXPECT_EQ((*r)[0].edges, SortedEdges(rest, 9));  // the 9 quantile bins left
  EXPECT_EQ(NumericBinOf(999, (*r)[0]), 0);
  EXPECT_EQ(NumericBinOf(0, (*r)[0]), 1);
  EXPECT_EQ(NumericBinOf(39, (*r)[0]), 9);
  EXPECT_EQ(NumericBinOf(500, (*r)[0]), 9);  // unseen, beyond the rest: its last interval
  // The threshold is strict: 2 of 10 rows is one bin's share with 5 bins, 3 is more.
  std::vector<double> two = {7, 7, 1, 2, 3, 4, 5, 6, 8, 9}, three = {7, 7, 7, 1, 2, 3, 4, 5, 6, 8};
  auto t = LearnNumericBins({Col(two), Col(three)}, BinningOptions{5});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE((*t)[0].values.empty());
  EXPECT_EQ((*t)[1].values, (std::vector<double>{7}));
  EXPECT_EQ((*t)[1].edges, SortedEdges({1, 2, 3, 4, 5, 6, 8}, 4));
  std::vector<double> inf = {1, 2, INFINITY};
  auto e = LearnNumericBins({Col(inf, "days")}, BinningOptions{10});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("days"), std::string::npos);
  EXPECT_FALSE(LearnNumericBins({Col(x)}, BinningOptions{0}).ok());
}

// LearnNumericBins against the definition (OracleBinning) on float32 and
// float64 columns: flags, sentinels, one or two dominant values over a
// continuous rest, small codes, continuous values; with NaN and signed zeros.
TEST(Criteria, LearnedBinsEqualTheDefinition) {
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  for (int kind = 0; kind < 6; ++kind) {
    for (int64_t n : {1, 2, 5, 100, 5000, 70001}) {
      std::vector<double> v(n);
      for (auto& x : v) {
        const double u = unif(gen), z = normal(gen);
        x = kind == 0   ? (u < 0.3 ? 1.0 : u < 0.95 ? 0.0 : NAN)                  // a flag
            : kind == 1 ? (u < 0.96 ? 999.0 : std::floor(u * 1000) - 960)          // sentinel + days
            : kind == 2 ? (u < 0.7 ? (gen() % 2 ? 0.0 : -0.0) : std::exp(z))       // dominant 0
            : kind == 3 ? (u < 0.3 ? 0.0 : u < 0.55 ? 1.0 : u < 0.6 ? NAN : z)     // two dominant values
            : kind == 4 ? static_cast<double>(gen() % 12)                          // small codes
                        : z * 100;                                                 // continuous
      }
      std::vector<float> f(v.begin(), v.end());
      std::vector<double> fd(f.begin(), f.end());
      for (int32_t bins : {1, 2, 4, 10, 17}) {
        auto r = LearnNumericBins({Col(v), NumericColumn{"f", f.data(), n, 1, true}}, BinningOptions{bins});
        ASSERT_TRUE(r.ok());
        const NumericBinning want = OracleBinning(v, bins, false), want32 = OracleBinning(fd, bins, true);
        EXPECT_EQ((*r)[0].values, want.values) << "kind " << kind << " n " << n << " bins " << bins;
        EXPECT_EQ((*r)[0].edges, want.edges) << "kind " << kind << " n " << n << " bins " << bins;
        EXPECT_EQ((*r)[1].values, want32.values) << "kind " << kind << " n " << n << " bins " << bins;
        EXPECT_EQ((*r)[1].edges, want32.edges) << "kind " << kind << " n " << n << " bins " << bins;
        EXPECT_FALSE((*r)[0].float32);
        EXPECT_TRUE((*r)[1].float32);
        EXPECT_LE((*r)[0].num_bins() - 2, std::max<int32_t>(bins, 1)) << "at most n_bins bins besides missing";
      }
    }
  }
}

TEST(Criteria, BinCodesFollowTheLayout) {
  const NumericBinning mixed{{0, 999}, {1, 5, 10}, false};  // 0, 999, (.., 5], (5, ..), other, missing
  EXPECT_EQ(mixed.num_bins(), 6);
  EXPECT_EQ(NumericBinOf(0, mixed), 0);
  EXPECT_EQ(NumericBinOf(-0.0, mixed), 0);
  EXPECT_EQ(NumericBinOf(999, mixed), 1);
  EXPECT_EQ(NumericBinOf(-7, mixed), 2);
  EXPECT_EQ(NumericBinOf(5, mixed), 2);
  EXPECT_EQ(NumericBinOf(5.5, mixed), 3);
  EXPECT_EQ(NumericBinOf(1e300, mixed), 3);
  EXPECT_EQ(NumericBinOf(NAN, mixed), 5);
  const NumericBinning by_value{{0, 1}, {}, false};
  EXPECT_EQ(NumericBinOf(1, by_value), 1);
  EXPECT_EQ(NumericBinOf(2, by_value), 2);  // never seen: other
  EXPECT_EQ(NumericBinOf(NAN, by_value), 3);
  // Learnt on float32: 0.2 (double) finds the bin of 0.2f; learnt on float64 it does not.
  const NumericBinning f32{{static_cast<float>(0.2), static_cast<float>(0.4)}, {}, true};
  EXPECT_EQ(NumericBinOf(0.2, f32), 0);
  EXPECT_EQ(NumericBinOf(0.4, f32), 1);
  EXPECT_EQ(NumericBinOf(1e300, f32), 2);
  const NumericBinning f64{{static_cast<float>(0.2)}, {}, false};
  EXPECT_EQ(NumericBinOf(0.2, f64), 1);
}

TEST(Criteria, AssignedCodesEqualBinOfForAnyThreads) {
  std::mt19937_64 gen(3);
  std::vector<double> x(600000);  // several row blocks
  for (auto& v : x) v = gen() % 5 == 0 ? 999.0 : gen() % 7 == 0 ? NAN : static_cast<double>(gen() % 100) / 3;
  std::vector<float> strided(2 * x.size());
  for (size_t i = 0; i < x.size(); ++i) strided[2 * i] = static_cast<float>(x[i]);
  const std::vector<NumericColumn> cols = {Col(x), NumericColumn{"s", strided.data(), static_cast<int64_t>(x.size()), 2, true}};
  auto bins = LearnNumericBins(cols, BinningOptions{10});
  ASSERT_TRUE(bins.ok());
  ASSERT_EQ((*bins)[0].values, (std::vector<double>{999}));
  std::vector<std::vector<int32_t>> got[2];
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    std::vector<std::vector<int32_t>> out(2, std::vector<int32_t>(x.size(), -5));
    ASSERT_TRUE(AssignNumericBins(cols, *bins, {absl::MakeSpan(out[0]), absl::MakeSpan(out[1])}).ok());
    got[threads - 1] = out;
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(got[0], got[1]);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(got[0][0][i], NumericBinOf(x[i], (*bins)[0])) << i;
    ASSERT_EQ(got[0][1][i], NumericBinOf(strided[2 * i], (*bins)[1])) << i;
  }
  std::vector<int32_t> short_out(3);
  EXPECT_FALSE(AssignNumericBins({cols[0]}, {(*bins)[0]}, {absl::MakeSpan(short_out)}).ok());
}

TEST(Criteria, BadBinningsAreRefused) {
  std::vector<double> x = {1, 2, 3};
  std::vector<uint8_t> t = {1, 0, 1};
  for (const NumericBinning& bad : {NumericBinning{{2, 1}, {}, false}, NumericBinning{{1, 1}, {}, false},
                                    NumericBinning{{NAN}, {}, false}, NumericBinning{{}, {0, INFINITY}, false},
                                    NumericBinning{{}, {3, 1}, false}, NumericBinning{{0.2}, {}, true}}) {
    auto r = CountNumericBins({Col(x, "visits")}, {bad}, t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("visits"), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(CountNumericBins({Col(x)}, {}, t).ok());
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
  auto r = CountNumericBins({Col(x)}, {NumericBinning{{}, {1, 3, 6}, false}}, t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pos[0], (std::vector<int64_t>{2, 1, 0, 0}));  // (.., 3], (3, 6], other, missing
  EXPECT_EQ(r->neg[0], (std::vector<int64_t>{1, 1, 0, 1}));
  // 2 and 4 by value (the rest: other): 1, 3, 6 are other; NaN missing.
  auto v = CountNumericBins({Col(x)}, {NumericBinning{{2, 4}, {}, false}}, t);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->pos[0], (std::vector<int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(v->neg[0], (std::vector<int64_t>{1, 0, 1, 1}));

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
  auto e1 = LearnNumericBins({Col(big)}, BinningOptions{10});
  auto b1 = CountNumericBins({Col(big)}, *e1, tb);
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto e2 = LearnNumericBins({Col(big)}, BinningOptions{10});
  auto b2 = CountNumericBins({Col(big)}, *e2, tb);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ((*e1)[0].edges, (*e2)[0].edges);
  EXPECT_EQ(b1->pos, b2->pos);
  EXPECT_EQ(b1->neg, b2->neg);
  int64_t total = 0;
  for (size_t j = 0; j < b1->pos[0].size(); ++j) total += b1->pos[0][j] + b1->neg[0][j];
  EXPECT_EQ(total, static_cast<int64_t>(big.size()));
}

TEST(Criteria, TargetLengthMismatch) {
  std::vector<double> x = {1, 2, 3};
  std::vector<uint8_t> t = {1, 0};
  EXPECT_FALSE(CountNumericBins({Col(x)}, {NumericBinning{{}, {1, 3}, false}}, t).ok());
}

}  // namespace
}  // namespace twinscore
