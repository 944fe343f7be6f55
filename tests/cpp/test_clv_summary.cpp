#include "twinscore/clv_summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

struct Outputs {
  explicit Outputs(size_t k) : x(k), t(k), T(k), m(k), h(k), has(k) {}
  CalibrationSummary Spans() {
    return {absl::MakeSpan(x), absl::MakeSpan(t), absl::MakeSpan(T), absl::MakeSpan(m), absl::MakeSpan(h),
            absl::MakeSpan(has)};
  }
  std::vector<double> x, t, T, m, h;
  std::vector<uint8_t> has;
};

// A random log: clients with a few purchases each, some on one day, days from -100 (before the epoch) on.
struct Log {
  std::vector<int32_t> codes;
  std::vector<int64_t> day;
  std::vector<double> amount;
};

Log RandomLog(int k, size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> client(0, k - 1);
  std::uniform_int_distribution<int64_t> day(-100, 300);
  std::uniform_int_distribution<int> cents(0, 10000);
  Log log;
  for (size_t i = 0; i < n; ++i) {
    log.codes.push_back(client(gen));
    log.day.push_back(day(gen));
    log.amount.push_back(cents(gen) / 100.0);
  }
  return log;
}

TEST(ClvSummary, SummarizeMergesDaysAndSplitsHoldout) {
  // client 0: days 0, 0, 7, 14, 30 (holdout); client 1: day 20 only; client 2: day 40 (after calibration).
  std::vector<int32_t> codes{0, 0, 1, 0, 0, 0, 2};
  std::vector<int64_t> day{0, 0, 20, 14, 7, 30, 40};
  std::vector<double> amt{1, 2, 5, 4, 6, 9, 3};
  const size_t k = 3;
  std::vector<double> x(k), t(k), T(k), m(k), h(k);
  std::vector<uint8_t> has(k);
  CalibrationSummary out{absl::MakeSpan(x), absl::MakeSpan(t), absl::MakeSpan(T), absl::MakeSpan(m),
                         absl::MakeSpan(h), absl::MakeSpan(has)};
  ASSERT_TRUE(SummarizeCalibration(codes, day, amt, 3, 21, 50, 7.0, out).ok());
  EXPECT_EQ(x, (std::vector<double>{2, 0, 0}));
  EXPECT_DOUBLE_EQ(t[0], 2.0);
  EXPECT_DOUBLE_EQ(T[0], 3.0);
  EXPECT_DOUBLE_EQ(T[1], 1.0 / 7.0);
  EXPECT_DOUBLE_EQ(m[0], 5.0);  // (6 + 4) / 2
  EXPECT_EQ(h, (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(has, (std::vector<uint8_t>{1, 1, 0}));
  auto before = SummarizeCalibration(codes, day, amt, 3, -1, 50, 7.0, out);
  EXPECT_NE(before.message().find("before the first purchase"), std::string::npos);
  EXPECT_FALSE(SummarizeCalibration(codes, day, amt, 3, 21, 35, 7.0, out).ok());  // a date after the end
}

// The summaries by brute force: a sorted map of (client, day) -> spend.
void Oracle(const Log& log, int k, int64_t cal, int64_t obs, double period, Outputs* o) {
  std::map<std::pair<int32_t, int64_t>, double> days;
  for (size_t i = 0; i < log.codes.size(); ++i) days[{log.codes[i], log.day[i]}] += log.amount[i];
  std::vector<int64_t> first(k, INT64_MAX), last(k, 0);
  std::vector<double> spend(k, 0.0), repeats(k, 0.0), holdout(k, 0.0);
  for (const auto& [key, s] : days) {
    const auto [c, d] = key;
    if (d > cal) {
      holdout[c] += d <= obs;
    } else if (first[c] == INT64_MAX) {
      first[c] = d;
    } else {
      repeats[c] += 1;
      spend[c] += s;
      last[c] = d;
    }
  }
  for (int c = 0; c < k; ++c) {
    const bool cal_c = first[c] != INT64_MAX;
    o->has[c] = cal_c;
    o->x[c] = cal_c ? repeats[c] : 0;
    o->t[c] = cal_c && repeats[c] > 0 ? (last[c] - first[c]) / period : 0;
    o->T[c] = cal_c ? (cal - first[c]) / period : 0;
    o->m[c] = cal_c && repeats[c] > 0 ? spend[c] / repeats[c] : 0;
    o->h[c] = cal_c ? holdout[c] : 0;
  }
}

void ExpectSame(const Outputs& a, const Outputs& b, double spend_tol) {
  EXPECT_EQ(a.has, b.has);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.t, b.t);
  EXPECT_EQ(a.T, b.T);
  EXPECT_EQ(a.h, b.h);
  for (size_t c = 0; c < a.m.size(); ++c) EXPECT_NEAR(a.m[c], b.m[c], spend_tol * (1 + b.m[c])) << c;
}

TEST(ClvSummary, OneShotMatchesBruteForce) {
  const int k = 500;
  const Log log = RandomLog(k, 6000, 1);
  Outputs got(k), want(k);
  ASSERT_TRUE(SummarizeCalibration(log.codes, log.day, log.amount, k, 150, 300, 7.0, got.Spans()).ok());
  Oracle(log, k, 150, 300, 7.0, &want);
  ExpectSame(got, want, 1e-12);
}

// Chunks in shuffled order, a client's rows (and one day's rows) split between
// chunks, clients first seen late (n_clients growing), any thread count: the
// one-shot result.
TEST(ClvSummary, StreamInAnyChunkOrderIsTheOneShot) {
  const int k = 3000;
  Log log = RandomLog(k, 40000, 2);
  // Clients appear in code order of first row in the stream: codes < 1500 in the
  // first chunks, the rest later, so n_clients grows.
  Outputs want(k);
  Oracle(log, k, 200, 300, 7.0, &want);
  std::vector<size_t> order(log.codes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return log.codes[i] < 1500; });
  std::vector<std::pair<size_t, size_t>> chunks;  // 17 uneven chunks of the first half, then of the second
  for (size_t b = 0; b < order.size();) {
    const size_t e = std::min(order.size(), b + 1000 + (b * 7) % 2500);
    chunks.emplace_back(b, e);
    b = e;
  }
  std::mt19937 gen(3);
  const size_t half = std::find_if(chunks.begin(), chunks.end(), [&](auto ch) {
                        return log.codes[order[ch.first]] >= 1500; }) - chunks.begin();
  std::shuffle(chunks.begin(), chunks.begin() + half, gen);
  std::shuffle(chunks.begin() + half, chunks.end(), gen);
  for (int threads : {1, 2}) {
    auto s = CalibrationStream::Create(200, CalibrationStream::kOpenEnd);
    ASSERT_TRUE(s.ok());
    int64_t n_clients = 0;
    for (auto [b, e] : chunks) {
      Log part;
      for (size_t j = b; j < e; ++j) {
        part.codes.push_back(log.codes[order[j]]);
        part.day.push_back(log.day[order[j]]);
        part.amount.push_back(log.amount[order[j]]);
      }
      n_clients = std::max<int64_t>(n_clients, *std::max_element(part.codes.begin(), part.codes.end()) + 1);
      absl::Status st = RunWithThreads(*ThreadCount::Of(threads), [&] {
        return s->Add(part.codes, part.day, part.amount, n_clients, static_cast<int64_t>(b));
      });
      ASSERT_TRUE(st.ok()) << st;
    }
    EXPECT_EQ(s->rows(), static_cast<int64_t>(log.codes.size()));
    EXPECT_EQ(s->earliest_day(), *std::min_element(log.day.begin(), log.day.end()));
    Outputs got(k);
    ASSERT_TRUE(s->Finish(300, 7.0, got.Spans()).ok());
    ExpectSame(got, want, 1e-12);
  }
}

TEST(ClvSummary, StreamRefusesBadChunksAndLeavesItselfUnchanged) {
  auto s = CalibrationStream::Create(10, 20);
  ASSERT_TRUE(s.ok());
  std::vector<int32_t> codes{0, 1};
  std::vector<int64_t> day{3, 12};
  std::vector<double> amt{1, 2};
  ASSERT_TRUE(s->Add(codes, day, amt, 2, 0).ok());
  std::vector<int64_t> late{3, 21};
  auto st = s->Add(codes, late, amt, 2, 100);
  EXPECT_NE(st.message().find("row 101 is after the observation end"), std::string::npos) << st;
  std::vector<double> negative{1, -2};
  EXPECT_NE(s->Add(codes, day, negative, 2, 0).message().find("amount at row 1"), std::string::npos);
  EXPECT_NE(s->Add(codes, day, {}, 2, 0).message().find("no amounts"), std::string::npos);
  EXPECT_NE(s->Add(codes, day, amt, 1, 0).message().find("shrink"), std::string::npos);
  std::vector<int64_t> far{3, 3 - CalibrationStream::kMaxSpanDays};
  EXPECT_NE(s->Add(codes, far, amt, 2, 0).message().find("out of range"), std::string::npos);
  EXPECT_EQ(s->rows(), 2);
  EXPECT_EQ(s->earliest_day(), 3);
  Outputs got(2);
  ASSERT_TRUE(s->Finish(20, 1.0, got.Spans()).ok());
  EXPECT_EQ(got.has, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(got.T[0], 7.0);
  EXPECT_FALSE(s->Finish(9, 1.0, got.Spans()).ok());  // before the calibration end
  EXPECT_FALSE(CalibrationStream::Create(10, 9).ok());
}

}  // namespace
}  // namespace twinscore
