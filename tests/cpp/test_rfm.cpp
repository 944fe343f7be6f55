#include "twinscore/rfm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

TEST(Rfm, FactorizeKeepsFirstAppearanceOrder) {
  std::vector<int64_t> ids{42, 7, 42, 42, -3, 7};
  std::vector<int32_t> codes(ids.size());
  auto u = FactorizeInt64(ids, absl::MakeSpan(codes));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, (std::vector<int64_t>{42, 7, -3}));
  EXPECT_EQ(codes, (std::vector<int32_t>{0, 1, 0, 0, 2, 1}));
}

struct Agg {
  std::vector<int64_t> first, last, count;
  std::vector<double> total;
  explicit Agg(size_t k) : first(k), last(k), count(k), total(k) {}
  RfmAggregates Out() {
    return {absl::MakeSpan(first), absl::MakeSpan(last), absl::MakeSpan(count), absl::MakeSpan(total)};
  }
};

TEST(Rfm, AggregateMatchesHandComputed) {
  std::vector<int32_t> codes{1, 0, 1, 1, 0};
  std::vector<int64_t> time{5, 3, 2, 9, 1};
  std::vector<double> amount{1.5, 2.0, 3.0, 0.0, 4.0};
  Agg a(2);
  ASSERT_TRUE(AggregateRfm(codes, time, amount, 2, 10, a.Out()).ok());
  EXPECT_EQ(a.first, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.last, (std::vector<int64_t>{3, 9}));
  EXPECT_EQ(a.count, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.total, (std::vector<double>{6.0, 4.5}));
}

TEST(Rfm, AggregateRejectsBadRows) {
  std::vector<int32_t> codes{0, 1};
  std::vector<int64_t> time{1, 2};
  Agg a(2);
  std::vector<double> neg{1.0, -1.0};
  EXPECT_EQ(AggregateRfm(codes, time, neg, 2, 10, a.Out()).code(), absl::StatusCode::kInvalidArgument);
  std::vector<double> nan{1.0, std::nan("")};
  EXPECT_EQ(AggregateRfm(codes, time, nan, 2, 10, a.Out()).code(), absl::StatusCode::kInvalidArgument);
  std::vector<double> ok{1.0, 1.0};
  auto late = AggregateRfm(codes, time, ok, 2, 1, a.Out());
  EXPECT_NE(late.message().find("after now"), std::string::npos) << late;
  EXPECT_FALSE(AggregateRfm({}, {}, {}, 2, 10, a.Out()).ok());
  Agg b(3);  // client 2 has no row
  EXPECT_FALSE(AggregateRfm(codes, time, ok, 3, 10, b.Out()).ok());
  std::vector<int32_t> bad{0, 5};
  EXPECT_FALSE(AggregateRfm(bad, time, ok, 2, 10, a.Out()).ok());
}

TEST(Rfm, AggregateSameForOneAndTwoThreads) {
  std::mt19937_64 gen(3);
  const size_t n = 200000, k = 5000;
  std::vector<int32_t> codes(n);
  std::vector<int64_t> time(n);
  std::vector<double> amount(n);
  for (size_t i = 0; i < n; ++i) {
    codes[i] = static_cast<int32_t>(i < k ? i : gen() % k);
    time[i] = static_cast<int64_t>(gen() % 100000);
    amount[i] = static_cast<double>(gen() % 100000) / 7.0;
  }
  Agg one(k), two(k);
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(AggregateRfm(codes, time, amount, k, 100000, one.Out()).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(AggregateRfm(codes, time, amount, k, 100000, two.Out()).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(one.total, two.total);  // bit-identical
  EXPECT_EQ(one.first, two.first);
  EXPECT_EQ(one.count, two.count);
}

TEST(Rfm, ByIdMatchesCodesAndThreads) {
  std::mt19937_64 gen(5);
  const size_t n = 100000;
  std::vector<int64_t> ids(n), time(n);
  std::vector<double> amount(n);
  for (size_t i = 0; i < n; ++i) {
    ids[i] = static_cast<int64_t>(gen() % 3000) * 1000003 - 7;
    time[i] = static_cast<int64_t>(gen() % 1000);
    amount[i] = static_cast<double>(gen() % 10000) / 100.0;
  }
  std::vector<int32_t> codes(n);
  auto u = FactorizeInt64(ids, absl::MakeSpan(codes));
  ASSERT_TRUE(u.ok());
  Agg ref(u->size());
  ASSERT_TRUE(AggregateRfm(codes, time, amount, u->size(), 1000, ref.Out()).ok());
  for (int threads : {1, 2, 3}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    auto g = AggregateRfmById(ids, time, amount, 1000);
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->id, *u);  // first-appearance order
    EXPECT_EQ(g->count, ref.count);
    EXPECT_EQ(g->first, ref.first);
    EXPECT_EQ(g->last, ref.last);
    EXPECT_EQ(g->total, ref.total);  // same compensated sums in log order
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  std::vector<double> bad(amount);
  bad[17] = -1;
  EXPECT_NE(AggregateRfmById(ids, time, bad, 1000).status().message().find("row 17"), std::string::npos);
  EXPECT_FALSE(AggregateRfmById(ids, time, amount, 10).ok());  // dates after now
  // A missing date (NaT, the smallest int64) is reported with its row by both
  // paths, before any later bad row, even when it is not after `now`.
  std::vector<int64_t> nat(time);
  nat[99999 - 3] = std::numeric_limits<int64_t>::min();
  const absl::Status by_id = AggregateRfmById(ids, nat, amount, 1000).status();
  EXPECT_NE(by_id.message().find("missing date at row 99996"), std::string::npos) << by_id;
  Agg out(u->size());
  const absl::Status by_code = AggregateRfm(codes, nat, amount, u->size(), 1000, out.Out());
  EXPECT_NE(by_code.message().find("missing date at row 99996"), std::string::npos) << by_code;
}

TEST(Rfm, QuantileScoresTieRule) {
  // 10 values, 5 bins: L = number strictly lower; score = 1 + 5 L / 10.
  std::vector<double> v{1, 1, 1, 1, 1, 1, 2, 3, 4, 5};
  std::vector<int8_t> s(v.size());
  ASSERT_TRUE(QuantileScores(v, 5, absl::MakeSpan(s)).ok());
  EXPECT_EQ(s, (std::vector<int8_t>{1, 1, 1, 1, 1, 1, 4, 4, 5, 5}));
  std::vector<double> distinct{50, 10, 40, 20, 30};
  std::vector<int8_t> d(5);
  ASSERT_TRUE(QuantileScores(distinct, 5, absl::MakeSpan(d)).ok());
  EXPECT_EQ(d, (std::vector<int8_t>{5, 1, 4, 2, 3}));
  std::vector<double> nan{1, std::nan("")};
  std::vector<int8_t> t(2);
  EXPECT_FALSE(QuantileScores(nan, 5, absl::MakeSpan(t)).ok());
  EXPECT_FALSE(QuantileScores(distinct, 1, absl::MakeSpan(d)).ok());
}


// Brute-force oracle of the tie rule: 1 + floor(bins * L / n), L = values strictly lower.
std::vector<int8_t> ScoresByCounting(const std::vector<double>& v, int bins) {
  std::vector<int8_t> s(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    size_t lower = 0;
    for (double w : v) lower += w < v[i];
    s[i] = static_cast<int8_t>(1 + lower * static_cast<size_t>(bins) / v.size());
  }
  return s;
}

TEST(Rfm, QuantileScoresMatchOracleForAllBinsAndSizes) {
  std::mt19937_64 gen(11);
  for (size_t n : {1, 2, 3, 4, 7, 10, 99, 1000, 3001}) {
    for (int bins : {2, 3, 5, 7, 9, 10, 20, 100}) {  // <= 8 cuts: comparison pass; more: binary search
      std::vector<double> v(n);
      for (auto& x : v) x = static_cast<double>(gen() % (n / 3 + 2)) - 1.0;  // many ties
      if (n > 3) v[1] = -0.0, v[2] = 0.0;                                       // equal, not split
      std::vector<int8_t> s(n);
      ASSERT_TRUE(QuantileScores(v, bins, absl::MakeSpan(s)).ok());
      EXPECT_EQ(s, ScoresByCounting(v, bins)) << "n=" << n << " bins=" << bins;
    }
  }
}

TEST(Rfm, QuantileScoresRadixSelectEdgeCases) {
  // The cuts are found by a radix select on the top 16 bits of the values'
  // keys: values that share one bucket (all in [1, 1.0625)), that straddle
  // buckets with many cuts in one bucket, negative values, +-0, infinities,
  // odd sizes: the same scores as counting.
  std::mt19937_64 gen(5);
  for (size_t n : {1, 5, 17, 1001, 4099, 70001}) {
    std::vector<double> same_bucket(n), mixed(n);
    for (size_t i = 0; i < n; ++i) {
      same_bucket[i] = 1.0 + static_cast<double>(gen() % 100000) * 1e-7;  // one top-16-bit bucket
      const int pick = static_cast<int>(gen() % 8);
      mixed[i] = pick == 0   ? -std::ldexp(static_cast<double>(gen() % 1000), static_cast<int>(gen() % 40))
                 : pick == 1 ? (gen() % 2 ? 0.0 : -0.0)
                 : pick == 2 ? (gen() % 2 ? std::numeric_limits<double>::infinity()
                                          : -std::numeric_limits<double>::infinity())
                 : pick == 3 ? 3.0
                             : std::ldexp(static_cast<double>(gen() % 1000), static_cast<int>(gen() % 60) - 30);
    }
    for (int bins : {2, 5, 10, 100}) {
      for (const auto* v : {&same_bucket, &mixed}) {
        std::vector<int8_t> s(n);
        ASSERT_TRUE(QuantileScores(*v, bins, absl::MakeSpan(s)).ok());
        if (n <= 4099) {
          EXPECT_EQ(s, ScoresByCounting(*v, bins)) << "n=" << n << " bins=" << bins;
        } else {  // the oracle by sorting: L = position of the first equal value
          std::vector<double> sorted(*v);
          std::sort(sorted.begin(), sorted.end());
          for (size_t i = 0; i < n; ++i) {
            const size_t lower = static_cast<size_t>(std::lower_bound(sorted.begin(), sorted.end(), (*v)[i]) - sorted.begin());
            ASSERT_EQ(s[i], static_cast<int8_t>(1 + lower * static_cast<size_t>(bins) / n)) << "n=" << n << " i=" << i;
          }
        }
      }
    }
  }
  std::vector<double> late_nan(3001, 1.0);
  late_nan[2999] = std::nan("");
  std::vector<int8_t> t(late_nan.size());
  const absl::Status st = QuantileScores(late_nan, 5, absl::MakeSpan(t));
  EXPECT_NE(st.message().find("position 2999"), std::string::npos) << st.message();
}

TEST(Rfm, ByIdManyPartitionsHighBitIdsAndOneClient) {
  std::mt19937_64 gen(9);
  const size_t n = 300000;  // several partitions and several scatter blocks
  std::vector<int64_t> ids(n), time(n), one(n, -5);
  std::vector<double> amount(n);
  for (size_t i = 0; i < n; ++i) {
    ids[i] = static_cast<int64_t>(gen() % 20000) << 40;  // ids that differ in their high bits only
    time[i] = static_cast<int64_t>(gen() % 5000) - 2500;
    amount[i] = static_cast<double>(gen() % 100000) / 100.0;
  }
  std::vector<int32_t> codes(n);
  auto u = FactorizeInt64(ids, absl::MakeSpan(codes));
  ASSERT_TRUE(u.ok());
  Agg ref(u->size());
  ASSERT_TRUE(AggregateRfm(codes, time, amount, u->size(), 5000, ref.Out()).ok());
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    auto g = AggregateRfmById(ids, time, amount, 5000);
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->id, *u);
    EXPECT_EQ(g->count, ref.count);
    EXPECT_EQ(g->first, ref.first);
    EXPECT_EQ(g->last, ref.last);
    EXPECT_EQ(g->total, ref.total);
    auto no_amount = AggregateRfmById(ids, time, {}, 5000);
    ASSERT_TRUE(no_amount.ok());
    EXPECT_TRUE(no_amount->total.empty());
    EXPECT_EQ(no_amount->count, ref.count);
    auto single = AggregateRfmById(one, time, amount, 5000);  // every row in one partition
    ASSERT_TRUE(single.ok());
    EXPECT_EQ(single->id, std::vector<int64_t>{-5});
    EXPECT_EQ(single->count, std::vector<int64_t>{static_cast<int64_t>(n)});
    EXPECT_EQ(single->first[0], *std::min_element(time.begin(), time.end()));
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  // The first bad row in log order is reported, whichever block holds it.
  std::vector<double> bad(amount);
  bad[250000] = std::numeric_limits<double>::infinity();
  bad[70001] = std::nan("");
  EXPECT_NE(AggregateRfmById(ids, time, bad, 5000).status().message().find("row 70001"), std::string::npos);
  std::vector<int64_t> late(time);
  late[200003] = 6000;
  EXPECT_NE(AggregateRfmById(ids, late, amount, 5000).status().message().find("row 200003"), std::string::npos);
}

TEST(Rfm, ReusedPartitionBufferGivesFreshResults) {
  // The partition buffer of a call is kept for the next: a smaller log after a
  // larger one (stale rows beyond its end), a larger one after (a new buffer),
  // and a failed call in between must not change any result.
  std::mt19937_64 gen(5);
  auto make = [&](size_t n, std::vector<int64_t>& ids, std::vector<int64_t>& time, std::vector<double>& amount) {
    ids.resize(n), time.resize(n), amount.resize(n);
    for (size_t i = 0; i < n; ++i) {
      ids[i] = static_cast<int64_t>(gen() % (n / 4 + 1));
      time[i] = static_cast<int64_t>(gen() % 1000);
      amount[i] = static_cast<double>(gen() % 10000) / 100.0;
    }
  };
  std::vector<int64_t> big_ids, big_time, small_ids, small_time;
  std::vector<double> big_amount, small_amount;
  make(200000, big_ids, big_time, big_amount);
  make(70001, small_ids, small_time, small_amount);
  auto big = AggregateRfmById(big_ids, big_time, big_amount, 1000);
  auto small = AggregateRfmById(small_ids, small_time, small_amount, 1000);
  ASSERT_TRUE(big.ok() && small.ok());
  std::vector<double> bad(small_amount);
  bad[9] = -1.0;
  EXPECT_FALSE(AggregateRfmById(small_ids, small_time, bad, 1000).ok());
  for (int round = 0; round < 2; ++round) {
    auto again_small = AggregateRfmById(small_ids, small_time, small_amount, 1000);
    auto again_big = AggregateRfmById(big_ids, big_time, big_amount, 1000);
    ASSERT_TRUE(again_small.ok() && again_big.ok());
    EXPECT_EQ(again_small->id, small->id);
    EXPECT_EQ(again_small->count, small->count);
    EXPECT_EQ(again_small->total, small->total);
    EXPECT_EQ(again_small->last, small->last);
    EXPECT_EQ(again_big->id, big->id);
    EXPECT_EQ(again_big->count, big->count);
    EXPECT_EQ(again_big->first, big->first);
    EXPECT_EQ(again_big->total, big->total);
  }
}

TEST(Rfm, QuantileScoresColumnsEqualsOneColumnAtATime) {
  std::mt19937_64 gen(13);
  const size_t n = 100003;  // several comparison blocks, odd tail
  std::vector<std::vector<double>> cols(3, std::vector<double>(n));
  for (size_t i = 0; i < n; ++i) {
    cols[0][i] = -static_cast<double>(gen() % 700);      // recency-like: many ties
    cols[1][i] = static_cast<double>(1 + gen() % 3);      // frequency-like: few values
    cols[2][i] = static_cast<double>(gen() % 1000000) / 100.0;
  }
  for (int bins : {5, 10, 20}) {  // comparison pass and binary search
    std::vector<std::vector<int8_t>> want(3, std::vector<int8_t>(n));
    for (size_t c = 0; c < 3; ++c) ASSERT_TRUE(QuantileScores(cols[c], bins, absl::MakeSpan(want[c])).ok());
    for (int threads : {1, 2, 3}) {
      ASSERT_TRUE(SetNumThreads(threads).ok());
      std::vector<std::vector<int8_t>> got(3, std::vector<int8_t>(n));
      std::vector<absl::Span<const double>> in{cols[0], cols[1], cols[2]};
      std::vector<absl::Span<int8_t>> out{absl::MakeSpan(got[0]), absl::MakeSpan(got[1]), absl::MakeSpan(got[2])};
      ASSERT_TRUE(QuantileScoresColumns(in, bins, out).ok());
      EXPECT_EQ(got, want) << "bins=" << bins << " threads=" << threads;
    }
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  // Errors: the first failing column's, and mismatched span counts.
  std::vector<double> nan(cols[2]);
  nan[77] = std::nan("");
  std::vector<int8_t> a(n), b(n);
  std::vector<absl::Span<const double>> in{cols[0], nan};
  std::vector<absl::Span<int8_t>> out{absl::MakeSpan(a), absl::MakeSpan(b)};
  auto s = QuantileScoresColumns(in, 5, out);
  EXPECT_NE(s.message().find("position 77"), std::string::npos) << s;
  EXPECT_FALSE(QuantileScoresColumns(in, 5, absl::MakeSpan(out).subspan(0, 1)).ok());
  std::vector<int8_t> short_out(n - 1);
  std::vector<absl::Span<int8_t>> bad_out{absl::MakeSpan(a), absl::MakeSpan(short_out)};
  EXPECT_FALSE(QuantileScoresColumns(in, 5, bad_out).ok());
}

}  // namespace
}  // namespace twinscore
