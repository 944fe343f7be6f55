#include "twinscore/events.h"

#include <gtest/gtest.h>

#include <cstdint>

#include <algorithm>
#include <cmath>
#include <random>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

struct Out {
  std::vector<int64_t> counts, first, last;
  std::vector<double> dt, dc;
  std::vector<int32_t> days;
  Out(int64_t n, int T, int K) : counts(n * T), first(n), last(n), dt(n * T), dc(n * K), days(n) {}
  EventAggregates View() {
    return {absl::MakeSpan(counts), absl::MakeSpan(dt), absl::MakeSpan(dc),
            absl::MakeSpan(first),  absl::MakeSpan(last), absl::MakeSpan(days)};
  }
};

TEST(MapContactIds, FindsRowsAndCountsUnknown) {
  std::vector<int64_t> ids = {30, 10, 20};
  std::vector<int64_t> ev = {10, 99, 30, 10};
  std::vector<int64_t> rows(4);
  auto r = MapContactIds(ids, ev, absl::MakeSpan(rows));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1);
  EXPECT_EQ(rows, (std::vector<int64_t>{1, -1, 0, 1}));
  std::vector<int64_t> dup = {1, 2, 1};
  EXPECT_EQ(MapContactIds(dup, ev, absl::MakeSpan(rows)).status().code(), absl::StatusCode::kInvalidArgument);
}

// Dense ids (span < 4 per contact) take the direct table: ids outside the
// span, at the int64 extremes, and repeated ids are handled as by the hash map.
TEST(MapContactIds, DenseIdsUseTheDirectTable) {
  std::vector<int64_t> ids = {5, 3, 4, 8};
  std::vector<int64_t> ev = {3, 8, 2, 9, 6, INT64_MIN, INT64_MAX, 4, 5};
  std::vector<int64_t> rows(ev.size());
  auto r = MapContactIds(ids, ev, absl::MakeSpan(rows));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 3, -1, -1, -1, -1, -1, 2, 0}));
  std::vector<int64_t> dup = {5, 3, 5};
  auto bad = MapContactIds(dup, ev, absl::MakeSpan(rows));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("id 5 appears more than once (row 2)"), std::string::npos);
  std::vector<int64_t> extremes = {INT64_MIN, INT64_MAX};  // span overflows int64: the hash map
  ASSERT_TRUE(MapContactIds(extremes, ev, absl::MakeSpan(rows)).ok());
  EXPECT_EQ(rows[5], 0);
  EXPECT_EQ(rows[6], 1);
  EXPECT_EQ(*MapContactIds({}, ev, absl::MakeSpan(rows)), static_cast<int64_t>(ev.size()));
}

TEST(AggregateEvents, CountsDecaysAndDays) {
  const int64_t now = 100 * kNsPerDay;
  // contact 0: two events the same day (type 0, category 1) and one 30 days
  // earlier (type 1); contact 1: nothing; contact 2: one event; one unknown.
  std::vector<int64_t> rows = {0, 2, 0, -1, 0};
  std::vector<int64_t> ts = {now - 10 * kNsPerDay, now, now - 10 * kNsPerDay + 5, now + 1, now - 40 * kNsPerDay};
  std::vector<int32_t> types = {0, 0, 0, 7, 1};
  std::vector<int32_t> cats = {1, -1, 1, 0, -1};
  EventLog log{rows, ts, types, cats, 2, 2};
  Out out(3, 2, 2);
  ASSERT_TRUE(AggregateEvents(log, 3, {now, 10.0}, out.View()).ok());
  EXPECT_EQ(out.counts, (std::vector<int64_t>{2, 1, 0, 0, 1, 0}));
  EXPECT_NEAR(out.dt[0], 2 * 0.5, 1e-12);
  EXPECT_NEAR(out.dt[1], 0.0625, 1e-12);
  EXPECT_NEAR(out.dc[1], 2 * 0.5, 1e-12);
  EXPECT_EQ(out.dc[0], 0.0);
  EXPECT_EQ(out.days, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(out.first[0], now - 40 * kNsPerDay);
  EXPECT_EQ(out.last[0], now - 10 * kNsPerDay + 5);
  EXPECT_EQ(out.first[1], kMissingTimestamp);
  EXPECT_EQ(out.dt[4], 1.0);
}

TEST(AggregateEvents, RefusesBadInput) {
  const int64_t now = 10 * kNsPerDay;
  std::vector<int64_t> rows = {0, 0};
  std::vector<int64_t> ts = {0, now + 1};
  std::vector<int32_t> types = {0, 0};
  Out out(1, 1, 0);
  auto s = AggregateEvents(EventLog{rows, ts, types, {}, 1, 0}, 1, {now, 30.0}, out.View());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("after now"), std::string::npos);
  ts[1] = 0;
  EXPECT_EQ(AggregateEvents(EventLog{rows, ts, types, {}, 1, 0}, 1, {now, -1.0}, out.View()).code(),
            absl::StatusCode::kInvalidArgument);
  types[0] = 3;
  EXPECT_EQ(AggregateEvents(EventLog{rows, ts, types, {}, 1, 0}, 1, {now, 30.0}, out.View()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AggregateEvents, IdenticalForAnyThreadCount) {
  const int64_t n = 5000, m = 60000, now = 365 * kNsPerDay;
  std::mt19937_64 rng(3);
  std::vector<int64_t> rows(m), ts(m);
  std::vector<int32_t> types(m), cats(m);
  for (int64_t i = 0; i < m; ++i) {
    rows[i] = rng() % n;
    ts[i] = now - static_cast<int64_t>(rng() % (200 * kNsPerDay));
    types[i] = rng() % 4;
    cats[i] = static_cast<int32_t>(rng() % 6) - 1;
  }
  EventLog log{rows, ts, types, cats, 4, 5};
  Out a(n, 4, 5), b(n, 4, 5);
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(AggregateEvents(log, n, {now, 30.0}, a.View()).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(AggregateEvents(log, n, {now, 30.0}, b.View()).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a.dt, b.dt);
  EXPECT_EQ(a.dc, b.dc);
  EXPECT_EQ(a.days, b.days);
  EXPECT_EQ(a.counts, b.counts);
}

// The bucketed grouping against a plain loop over the events in input order:
// contacts in several buckets (4,500 rows: five of 1,024 and a tail), events
// in several chunks (300,000 on 2 threads: chunks of at least 65,536), some
// unknown, no category, and skewed contacts. Sums made in input order must be
// equal to the last bit, on 1 and 2 threads.
TEST(AggregateEvents, BucketedGroupingEqualsAnInOrderLoop) {
  const int64_t n = 4500, m = 300000, now = 400 * kNsPerDay;
  const int T = 3, K = 5;
  const double half_life = 7.5;
  std::mt19937_64 rng(9);
  std::vector<int64_t> rows(m), ts(m);
  std::vector<int32_t> types(m), cats(m);
  for (int64_t i = 0; i < m; ++i) {
    const uint64_t u = rng();
    rows[i] = u % 10 == 0 ? -1 : (u % 7 == 0 ? static_cast<int64_t>(u % 3) : static_cast<int64_t>((u >> 8) % n));
    if (rows[i] == 4499 || (rows[i] >= 1024 && rows[i] < 1100)) rows[i] = -1;  // contacts without events
    ts[i] = now - static_cast<int64_t>(rng() % (300 * kNsPerDay));
    types[i] = static_cast<int32_t>(rng() % T);
    cats[i] = static_cast<int32_t>(rng() % (K + 1)) - 1;
  }
  Out ref(n, T, K);
  std::fill(ref.first.begin(), ref.first.end(), kMissingTimestamp);
  std::fill(ref.last.begin(), ref.last.end(), kMissingTimestamp);
  std::vector<std::vector<int64_t>> days(n);
  const double hl_ns = half_life * static_cast<double>(kNsPerDay);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t r = rows[i];
    if (r < 0) continue;
    const double w = DecayWeight(static_cast<double>(now - ts[i]), hl_ns);
    ++ref.counts[r * T + types[i]];
    ref.dt[r * T + types[i]] += w;
    if (cats[i] >= 0) ref.dc[r * K + cats[i]] += w;
    ref.first[r] = ref.first[r] == kMissingTimestamp ? ts[i] : std::min(ref.first[r], ts[i]);
    ref.last[r] = ref.last[r] == kMissingTimestamp ? ts[i] : std::max(ref.last[r], ts[i]);
    days[r].push_back(ts[i] / kNsPerDay);
  }
  for (int64_t r = 0; r < n; ++r) {
    std::sort(days[r].begin(), days[r].end());
    ref.days[r] = static_cast<int32_t>(std::unique(days[r].begin(), days[r].end()) - days[r].begin());
  }
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    Out got(n, T, K);
    ASSERT_TRUE(AggregateEvents(EventLog{rows, ts, types, cats, T, K}, n, {now, half_life}, got.View()).ok());
    EXPECT_EQ(got.counts, ref.counts) << threads;
    EXPECT_EQ(got.dt, ref.dt) << threads;
    EXPECT_EQ(got.dc, ref.dc) << threads;
    EXPECT_EQ(got.first, ref.first) << threads;
    EXPECT_EQ(got.last, ref.last) << threads;
    EXPECT_EQ(got.days, ref.days) << threads;
    // Without a category column: the same per-type outputs, zero appetence.
    Out none(n, T, 0);
    ASSERT_TRUE(AggregateEvents(EventLog{rows, ts, types, {}, T, 0}, n, {now, half_life}, none.View()).ok());
    EXPECT_EQ(none.dt, ref.dt) << threads;
    EXPECT_EQ(none.days, ref.days) << threads;
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

}  // namespace
}  // namespace twinscore
