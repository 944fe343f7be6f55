// The progress contract (twinscore/progress.h) and the engines that report
// to it: k-means (seeding, Lloyd, mini-batch), event aggregation and lead
// scoring. One file for the contract across engines, so each engine's own
// test file stays about its results.
#include "twinscore/progress.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "twinscore/events.h"
#include "twinscore/kmeans.h"
#include "twinscore/leads.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

// Records every report (and the thread it came on); says stop at report
// number `stop_at` (0: never).
struct Recorder {
  struct Step {
    std::string stage;
    int64_t done, total;
  };
  std::vector<Step> steps;
  std::vector<std::thread::id> threads;
  size_t stop_at = 0;
  Progress Sink() {
    return Progress([this](const ProgressStep& s) {
      steps.push_back({s.stage, s.done, s.total});
      threads.push_back(std::this_thread::get_id());
      return stop_at == 0 || steps.size() < stop_at;
    });
  }
  // The stages in the order they first reported.
  std::vector<std::string> Stages() const {
    std::vector<std::string> out;
    for (const auto& s : steps) {
      if (out.empty() || out.back() != s.stage) out.push_back(s.stage);
    }
    return out;
  }
  // Every report on the calling thread; within each stage done rises, never
  // passes total, and ends at total.
  void ExpectContract() const {
    ASSERT_FALSE(steps.empty());
    for (const auto& id : threads) EXPECT_EQ(id, std::this_thread::get_id());
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      EXPECT_GE(s.done, 0) << s.stage;
      EXPECT_LE(s.done, s.total) << s.stage << " report " << i;
      const bool first = i == 0 || steps[i - 1].stage != s.stage;
      if (!first) {
        EXPECT_GE(s.done, steps[i - 1].done) << s.stage << " report " << i;
      }
      const bool last = i + 1 == steps.size() || steps[i + 1].stage != s.stage;
      if (last) {
        EXPECT_EQ(s.done, s.total) << s.stage << " ends short";
      }
    }
  }
};

// Sets the process thread count for a test, restoring the default after.
struct Threads {
  explicit Threads(int n) { EXPECT_TRUE(SetNumThreads(n).ok()); }
  ~Threads() { EXPECT_TRUE(SetNumThreads(0).ok()); }
};

TEST(Progress, ReportGoesOnOrStops) {
  EXPECT_TRUE(Progress().Report({"x", 1, 2}).ok());
  EXPECT_FALSE(Progress().enabled());
  int calls = 0;
  Progress go([&](const ProgressStep&) { return ++calls, true; });
  EXPECT_TRUE(go.enabled());
  EXPECT_TRUE(go.Report({"x", 1, 2}).ok());
  EXPECT_EQ(calls, 1);
  const absl::Status stop = Progress([](const ProgressStep&) { return false; }).Report({"seeding", 3, 8});
  EXPECT_EQ(stop.code(), absl::StatusCode::kCancelled);
  EXPECT_NE(stop.message().find("seeding (3 of 8"), std::string::npos) << stop.message();
}

std::vector<float> Blobs(int64_t n, int64_t d, int32_t k, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> X(n * d);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) X[i * d + j] = 5.0f * static_cast<float>((i * 7 % k + j) % 4) + noise(gen);
  }
  return X;
}

TEST(Progress, KMeansSeedingReportsEachCentreBatchSameCentres) {
  // 40,000 rows x 6 trials a step: a report every ~18 steps of 64 centres.
  const int64_t n = 40000, d = 8;
  const int32_t k = 64;
  const std::vector<float> X = Blobs(n, d, 10, 1);
  const KMeansData data{X, {}, n, d};
  for (int threads : {1, 2}) {
    Threads t(threads);
    std::vector<float> plain(k * d), reported(k * d);
    ASSERT_TRUE(KMeansPlusPlus(data, k, 7, absl::MakeSpan(plain)).ok());
    Recorder rec;
    ASSERT_TRUE(KMeansPlusPlus(data, k, 7, absl::MakeSpan(reported), rec.Sink()).ok());
    EXPECT_EQ(plain, reported) << threads;
    rec.ExpectContract();
    EXPECT_EQ(rec.Stages(), std::vector<std::string>{"seeding"});
    EXPECT_GT(rec.steps.size(), 2u);
    EXPECT_LT(rec.steps.size(), static_cast<size_t>(k));  // bounded: not every step on this table
    EXPECT_EQ(rec.steps.back().total, k);
  }
}

TEST(Progress, KMeansLloydReportsIterationsSameResultAnyThreads) {
  const int64_t n = 20000, d = 6;
  const std::vector<float> X = Blobs(n, d, 5, 2);
  const KMeansData data{X, {}, n, d};
  for (bool prune : {true, false})
  for (int32_t max_iter : {3, 300}) {
    KMeansOptions opt;
    opt.k = 5;
    opt.max_iter = max_iter;
    opt.prune = prune;
    opt.tol = 0.0;
    const std::vector<float> init(X.begin() + 100 * d, X.begin() + 105 * d);
    std::vector<KMeansResult> runs;
    for (int threads : {1, 2}) {
      Threads t(threads);
      auto plain = KMeansLloyd(data, opt, init);
      Recorder rec;
      auto reported = KMeansLloyd(data, opt, init, rec.Sink());
      ASSERT_TRUE(plain.ok() && reported.ok());
      EXPECT_EQ(plain->centers, reported->centers);
      EXPECT_EQ(plain->labels, reported->labels);
      EXPECT_EQ(plain->inertia, reported->inertia);
      EXPECT_EQ(plain->n_iter, reported->n_iter);
      rec.ExpectContract();
      // One report per iteration; the total is max_iter until the last,
      // which shows the iterations run.
      ASSERT_EQ(rec.steps.size(), static_cast<size_t>(reported->n_iter));
      for (size_t i = 0; i + 1 < rec.steps.size(); ++i) EXPECT_EQ(rec.steps[i].total, max_iter);
      EXPECT_EQ(rec.steps.back().total, reported->n_iter);
      runs.push_back(*std::move(reported));
    }
    EXPECT_EQ(runs[0].centers, runs[1].centers);
    EXPECT_EQ(runs[0].labels, runs[1].labels);
    EXPECT_EQ(runs[0].inertia, runs[1].inertia);
    if (max_iter == 3) {
      EXPECT_EQ(runs[0].n_iter, 3);
    }
    if (max_iter == 300) {
      EXPECT_LT(runs[0].n_iter, 300);  // converged: the total dropped
    }
  }
}

TEST(Progress, KMeansStoppedReturnsCancelled) {
  const int64_t n = 20000, d = 6;
  const std::vector<float> X = Blobs(n, d, 5, 3);
  const KMeansData data{X, {}, n, d};
  KMeansOptions opt;
  opt.k = 5;
  opt.tol = 0.0;
  const std::vector<float> init(X.begin(), X.begin() + 5 * d);
  Recorder rec;
  rec.stop_at = 2;
  auto r = KMeansLloyd(data, opt, init, rec.Sink());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rec.steps.size(), 2u);  // stopped at once: no iteration after the refusal
  Recorder seed;
  seed.stop_at = 1;
  std::vector<float> centers(64 * d, -1.0f);
  EXPECT_EQ(KMeansPlusPlus(KMeansData{X, {}, n, d}, 64, 1, absl::MakeSpan(centers), seed.Sink()).code(),
            absl::StatusCode::kCancelled);
}

TEST(Progress, MiniBatchReportsRowsAndAStopLeavesTheModelAsItWas) {
  const int64_t n = 300000, d = 4;
  const int32_t k = 3;
  const std::vector<float> X = Blobs(n, d, k, 4);
  const KMeansData data{X, {}, n, d};
  const std::vector<float> start(X.begin(), X.begin() + k * d);
  std::vector<float> plain = start, reported = start;
  std::vector<double> plain_w(k, 0.0), reported_w(k, 0.0);
  for (int threads : {1, 2}) {
    Threads t(threads);
    plain = start, reported = start;
    std::fill(plain_w.begin(), plain_w.end(), 0.0), std::fill(reported_w.begin(), reported_w.end(), 0.0);
    auto a = KMeansMiniBatchUpdate(data, k, 1000, absl::MakeSpan(plain), absl::MakeSpan(plain_w));
    Recorder rec;
    auto b = KMeansMiniBatchUpdate(data, k, 1000, absl::MakeSpan(reported), absl::MakeSpan(reported_w), rec.Sink());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(plain, reported);
    EXPECT_EQ(plain_w, reported_w);
    rec.ExpectContract();
    // 300 batches of 1,000 rows: a report every 66 batches (>= 65,536 rows) and the last.
    EXPECT_EQ(rec.steps.size(), 5u);
    EXPECT_EQ(rec.steps.back().total, n);
  }
  std::vector<float> centers = start;
  std::vector<double> totals = {1.0, 2.0, 3.0};
  Recorder stop;
  stop.stop_at = 2;
  auto r = KMeansMiniBatchUpdate(data, k, 1000, absl::MakeSpan(centers), absl::MakeSpan(totals), stop.Sink());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(centers, start);
  EXPECT_EQ(totals, (std::vector<double>{1.0, 2.0, 3.0}));
}

// An event log big enough for several rounds of buckets (1Mi events each).
struct Log {
  int64_t n, m, now = 400 * kNsPerDay;
  std::vector<int64_t> rows, ts;
  std::vector<int32_t> types, cats;
  Log(int64_t n_rows, int64_t n_events) : n(n_rows), m(n_events), rows(m), ts(m), types(m), cats(m) {
    std::mt19937_64 rng(5);
    for (int64_t i = 0; i < m; ++i) {
      const uint64_t u = rng();
      rows[i] = u % 20 == 0 ? -1 : static_cast<int64_t>((u >> 8) % n);
      ts[i] = now - static_cast<int64_t>(rng() % (300 * kNsPerDay));
      types[i] = static_cast<int32_t>(rng() % 3);
      cats[i] = static_cast<int32_t>(rng() % 5) - 1;
    }
  }
  EventLog View() const { return EventLog{rows, ts, types, cats, 3, 4}; }
  int64_t Kept() const { return m - std::count(rows.begin(), rows.end(), -1); }
};

struct Aggregates {
  std::vector<int64_t> counts, first, last;
  std::vector<double> dt, dc;
  std::vector<int32_t> days;
  Aggregates(int64_t n, int T, int K) : counts(n * T), first(n), last(n), dt(n * T), dc(n * K), days(n) {}
  EventAggregates View() {
    return {absl::MakeSpan(counts), absl::MakeSpan(dt), absl::MakeSpan(dc),
            absl::MakeSpan(first),  absl::MakeSpan(last), absl::MakeSpan(days)};
  }
  bool operator==(const Aggregates& o) const {
    return counts == o.counts && first == o.first && last == o.last && dt == o.dt && dc == o.dc && days == o.days;
  }
};

TEST(Progress, AggregateEventsReportsRoundsSameOutputsAnyThreads) {
  const Log log(200000, 3'500'000);
  const EventAggOptions opt{log.now, 20.0};
  std::vector<Aggregates> runs;
  for (int threads : {1, 2}) {
    Threads t(threads);
    Aggregates plain(log.n, 3, 4), reported(log.n, 3, 4);
    ASSERT_TRUE(AggregateEvents(log.View(), log.n, opt, plain.View()).ok());
    Recorder rec;
    ASSERT_TRUE(AggregateEvents(log.View(), log.n, opt, reported.View(), rec.Sink()).ok());
    EXPECT_TRUE(plain == reported) << threads;
    rec.ExpectContract();
    EXPECT_EQ(rec.Stages(), (std::vector<std::string>{"grouping", "aggregating"}));
    // Grouping: 0 once checked, then a round of the scatter per 1Mi events
    // (3); aggregating: rounds of buckets of 1Mi events or more (4).
    size_t grouping = 0;
    for (const auto& st : rec.steps) grouping += st.stage == "grouping";
    EXPECT_EQ(grouping, 1u + 3u);
    EXPECT_EQ(rec.steps[0].total, log.m);
    EXPECT_EQ(rec.steps.back().total, log.Kept());
    EXPECT_EQ(rec.steps.size() - grouping, 4u);
    runs.push_back(std::move(reported));
  }
  EXPECT_TRUE(runs[0] == runs[1]);
  for (size_t stop_at : {1, 3, 6}) {  // when checked, in the scatter, in the aggregation
    Recorder stop;
    stop.stop_at = stop_at;
    Aggregates out(log.n, 3, 4);
    EXPECT_EQ(AggregateEvents(log.View(), log.n, opt, out.View(), stop.Sink()).code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(stop.steps.size(), stop_at);
  }
  // An empty table still ends each stage at its total.
  Recorder empty;
  Aggregates none(0, 3, 4);
  ASSERT_TRUE(AggregateEvents(EventLog{{}, {}, {}, {}, 3, 4}, 0, opt, none.View(), empty.Sink()).ok());
  empty.ExpectContract();
}

TEST(Progress, GroupByRowReportsTheScatterSameGrouping) {
  const Log log(50000, 2'500'000);
  const Grouping plain = GroupByRow(log.rows, log.n);
  Recorder rec;
  auto reported = GroupByRow(log.rows, log.n, rec.Sink());
  ASSERT_TRUE(reported.ok());
  EXPECT_EQ(plain.offsets, reported->offsets);
  EXPECT_EQ(plain.order, reported->order);
  rec.ExpectContract();
  EXPECT_EQ(rec.steps.size(), 3u);  // 1Mi, 2Mi, all
  Recorder stop;
  stop.stop_at = 1;
  EXPECT_EQ(GroupByRow(log.rows, log.n, stop.Sink()).status().code(), absl::StatusCode::kCancelled);
}

TEST(Progress, ScoreLeadsReportsRoundsSameScores) {
  const Log log(600000, 1'500'000);
  LeadRules rules;
  rules.behaviour.push_back({"views", 0, {}, 2.0, 30.0, 10.0});
  rules.behaviour.push_back({"cat", 1, {0, 1, 1, 0}, 3.0, INFINITY, INFINITY});
  rules.grade_edges = {0.5};
  rules.mql_threshold = 4.0;
  struct Scores {
    std::vector<double> fit, beh, total, pts;
    std::vector<int8_t> grade;
    std::vector<uint8_t> mql;
    explicit Scores(int64_t n) : fit(n), beh(n), total(n), pts(2 * n), grade(n), mql(n) {}
    LeadScores View() {
      return {absl::MakeSpan(fit), absl::MakeSpan(beh), absl::MakeSpan(total),
              absl::MakeSpan(pts), absl::MakeSpan(grade), absl::MakeSpan(mql)};
    }
  };
  for (int threads : {1, 2}) {
    Threads t(threads);
    Scores plain(log.n), reported(log.n);
    ASSERT_TRUE(ScoreLeads(rules, log.View(), log.n, log.now, plain.View()).ok());
    Recorder rec;
    ASSERT_TRUE(ScoreLeads(rules, log.View(), log.n, log.now, reported.View(), rec.Sink()).ok());
    EXPECT_EQ(plain.total, reported.total);
    EXPECT_EQ(plain.pts, reported.pts);
    EXPECT_EQ(plain.grade, reported.grade);
    EXPECT_EQ(plain.mql, reported.mql);
    rec.ExpectContract();
    EXPECT_EQ(rec.Stages(), (std::vector<std::string>{"grouping", "scoring"}));
    EXPECT_GE(rec.steps.size(), 2u + 3u);  // 600,000 contacts: rounds of 256Ki at most
    EXPECT_EQ(rec.steps.back().total, log.Kept());
  }
  Recorder stop;
  stop.stop_at = 3;
  Scores out(log.n);
  EXPECT_EQ(ScoreLeads(rules, log.View(), log.n, log.now, out.View(), stop.Sink()).code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace twinscore
