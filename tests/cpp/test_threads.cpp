#include "twinscore/threads.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "twinscore/events.h"
#include "twinscore/metrics.h"
#include "twinscore/rfm.h"

namespace twinscore {
namespace {

ThreadCount Count(int n) { return *ThreadCount::Of(n); }

TEST(Threads, DefaultFollowsAffinityMask) {
  EXPECT_GE(DefaultNumThreads(), 1);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(NumThreads(), DefaultNumThreads());
  EXPECT_EQ(ProcessNumThreads(), DefaultNumThreads());
}

TEST(Threads, SetAndRestore) {
  ASSERT_TRUE(SetNumThreads(1).ok());
  EXPECT_EQ(NumThreads(), 1);
  ASSERT_TRUE(SetNumThreads(3).ok());
  EXPECT_EQ(NumThreads(), 3);
  EXPECT_EQ(SetNumThreads(100000).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NumThreads(), 3);  // a refused value changes nothing
  ASSERT_TRUE(SetNumThreads(-1).ok());
  EXPECT_EQ(NumThreads(), DefaultNumThreads());
}

TEST(Threads, ThreadCountIsCheckedOnce) {
  ASSERT_TRUE(SetNumThreads(3).ok());
  EXPECT_EQ(Count(5).value(), 5);
  EXPECT_EQ(Count(kMaxThreads).value(), kMaxThreads);
  EXPECT_EQ(Count(0).value(), 3);  // 0: the process setting
  EXPECT_EQ(ThreadCount::Process().value(), 3);
  for (int bad : {-1, -3, kMaxThreads + 1}) {
    auto r = ThreadCount::Of(bad);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("n_threads"), std::string::npos) << r.status();
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

TEST(Threads, ParallelBlocksCoversEveryItemOnce) {
  for (int threads : {1, 2, 4}) {
    for (size_t n : {0u, 1u, 999u, 1000u, 12345u}) {
      std::vector<std::atomic<int>> seen(n);
      RunWithThreads(Count(threads), [&] {
        ParallelBlocks(n, 100, [&](size_t b, size_t begin, size_t end) {
          EXPECT_EQ(begin, b * 100);
          for (size_t i = begin; i < end; ++i) seen[i]++;
        });
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << "item " << i;
    }
  }
}

TEST(Threads, FirstErrorInBlockOrderWins) {
  for (int rep = 0; rep < 20; ++rep) {
    auto s = RunWithThreads(Count(2), [] {
      return ParallelBlocksStatus(1000, 10, [](size_t b, size_t, size_t) -> absl::Status {
        if (b == 7 || b == 90) return absl::InvalidArgumentError(absl::StrCat("block ", b));
        return absl::OkStatus();
      });
    });
    ASSERT_EQ(s.message(), "block 7");
  }
}

// What the threads of a call see: the count NumThreads() answers and the
// concurrency of the arena its blocks run in, on every block, nested
// ParallelBlocks included.
struct Seen {
  std::set<int> counts, arenas;
  std::set<std::thread::id> threads;
};

Seen Probe(size_t blocks = 64) {
  Seen seen;
  std::mutex mutex;
  ParallelBlocks(blocks, 1, [&](size_t, size_t, size_t) {
    ParallelBlocks(4, 1, [&](size_t, size_t, size_t) {
      std::lock_guard<std::mutex> lock(mutex);
      seen.counts.insert(NumThreads());
      seen.arenas.insert(tbb::this_task_arena::max_concurrency());
      seen.threads.insert(std::this_thread::get_id());
    });
  });
  return seen;
}

TEST(Threads, ACallRunsWithItsCountInItsOwnArena) {
  ASSERT_TRUE(SetNumThreads(2).ok());
  for (int n : {1, 2, 3, 5}) {
    const Seen seen = RunWithThreads(Count(n), [&] {
      EXPECT_EQ(NumThreads(), n);
      return Probe();
    });
    EXPECT_EQ(seen.counts, std::set<int>{n});
    if (n > 1) {
      EXPECT_EQ(seen.arenas, std::set<int>{n});
    } else {  // one thread: the blocks run on the caller, no arena entered
      EXPECT_EQ(seen.threads, std::set<std::thread::id>{std::this_thread::get_id()});
    }
  }
  EXPECT_EQ(NumThreads(), 2);  // outside any call: the process setting, unchanged
  EXPECT_EQ(ProcessNumThreads(), 2);
  const Seen outside = Probe();  // an engine called directly: one call on the process setting
  EXPECT_EQ(outside.counts, std::set<int>{2});
  EXPECT_EQ(outside.arenas, std::set<int>{2});
  ASSERT_TRUE(SetNumThreads(0).ok());
}

TEST(Threads, CallsNestAndRestoreTheirCount) {
  RunWithThreads(Count(3), [] {
    RunWithThreads(Count(1), [] {
      const Seen inner = Probe();
      EXPECT_EQ(inner.counts, std::set<int>{1});
      EXPECT_EQ(inner.threads, std::set<std::thread::id>{std::this_thread::get_id()});
    });
    EXPECT_EQ(NumThreads(), 3);
    // A call nested inside a block, on whichever thread runs it.
    std::atomic<int> wrong{0};
    ParallelBlocks(8, 1, [&](size_t, size_t, size_t) {
      RunWithThreads(Count(2), [&] { wrong += NumThreads() != 2; });
      wrong += NumThreads() != 3;
    });
    EXPECT_EQ(wrong.load(), 0);
  });
}

// A call that never works in parallel (one block, or one thread) enters no
// arena: its blocks run on the calling thread, in the arena it was in. One
// that does gets an arena of its count, for every parallel region it runs.
TEST(Threads, OnlyAParallelRegionEntersTheCallsArena) {
  const int outer = tbb::this_task_arena::max_concurrency();
  for (int n : {1, 2, 3}) {
    RunWithThreads(Count(n), [&] {
      ParallelBlocks(10, 100, [&](size_t, size_t, size_t) {
        EXPECT_EQ(tbb::this_task_arena::max_concurrency(), outer);
        EXPECT_EQ(NumThreads(), n);
      });
      EXPECT_TRUE(ParallelBlocksStatus(10, 100, [&](size_t, size_t, size_t) {
        return tbb::this_task_arena::max_concurrency() == outer ? absl::OkStatus() : absl::InternalError("arena");
      }).ok());
      for (int region = 0; region < 2; ++region) {
        std::atomic<int> wrong{0};
        ParallelBlocks(16, 1, [&](size_t, size_t, size_t) {
          wrong += n > 1 && tbb::this_task_arena::max_concurrency() != n;
          wrong += NumThreads() != n;
        });
        EXPECT_EQ(wrong.load(), 0) << n;
      }
      // A TBB algorithm run through InCallArena sees the call's arena, even
      // for one thread.
      InCallArena([&] { EXPECT_EQ(tbb::this_task_arena::max_concurrency(), n); });
    });
  }
}

TEST(Threads, AnExceptionLeavesNoCountBehind) {
  ASSERT_TRUE(SetNumThreads(2).ok());
  EXPECT_THROW(RunWithThreads(Count(3), []() -> int { throw std::runtime_error("engine failed"); }),
               std::runtime_error);
  EXPECT_EQ(NumThreads(), 2);
  EXPECT_EQ(Probe().arenas, std::set<int>{2});
  ASSERT_TRUE(SetNumThreads(0).ok());
}

// Calls of the same size at once from many threads: each holds an arena of
// its own, so none waits for another's slots (one-thread calls included).
TEST(Threads, ConcurrentCallsOfOneSizeDoNotShareAnArena) {
  for (int n : {1, 2}) {
    std::atomic<int> inside{0}, most{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&] {
        RunWithThreads(Count(n), [&] {
          const int now = ++inside;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          // Wait (two seconds at most) for the others to come in, which they
          // can only do if no arena slot is shared.
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
          while (most.load() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          --inside;
        });
      });
    }
    for (auto& c : callers) c.join();
    EXPECT_EQ(most.load(), 4) << "calls of " << n << " thread(s) waited for each other's arena slots";
  }
}

// ----------------------------------------------------------------- engines

// Engines that size their partitions by NumThreads(): the same results for
// any count.
struct EventsCase {
  static constexpr int64_t kRows = 5000;
  static constexpr int32_t kTypes = 3, kCategories = 4;
  std::vector<int64_t> rows, ts;
  std::vector<int32_t> types, categories;
  EventsCase() {
    std::mt19937_64 gen(3);
    const size_t n = 200'000;  // several group chunks of 2^16 events
    for (size_t i = 0; i < n; ++i) {
      rows.push_back(static_cast<int64_t>(gen() % kRows));
      ts.push_back(static_cast<int64_t>(gen() % (int64_t{400} * 86'400'000'000'000)));
      types.push_back(static_cast<int32_t>(gen() % kTypes));
      categories.push_back(static_cast<int32_t>(gen() % kCategories));
    }
  }
  struct Result {
    std::vector<int64_t> counts, first, last;
    std::vector<double> dt, dc;
    std::vector<int32_t> days;
    bool operator==(const Result& o) const {
      return counts == o.counts && first == o.first && last == o.last && dt == o.dt && dc == o.dc &&
             days == o.days;
    }
  };
  Result Run() const {
    Result r{std::vector<int64_t>(kRows * kTypes), std::vector<int64_t>(kRows), std::vector<int64_t>(kRows),
             std::vector<double>(kRows * kTypes), std::vector<double>(kRows * kCategories),
             std::vector<int32_t>(kRows)};
    const EventLog log{rows, ts, types, categories, kTypes, kCategories};
    const EventAggregates out{absl::MakeSpan(r.counts), absl::MakeSpan(r.dt),    absl::MakeSpan(r.dc),
                              absl::MakeSpan(r.first),  absl::MakeSpan(r.last), absl::MakeSpan(r.days)};
    EXPECT_TRUE(AggregateEvents(log, kRows, EventAggOptions{int64_t{400} * 86'400'000'000'000, 30.0}, out).ok());
    return r;
  }
};

struct RfmCase {
  static constexpr int64_t kClients = 3000;
  std::vector<int32_t> codes;
  std::vector<int64_t> time;
  std::vector<double> amount;
  RfmCase() {
    std::mt19937_64 gen(5);
    for (int32_t c = 0; c < kClients; ++c) {  // every client has a row
      for (int k = 0; k < 1 + c % 7; ++k) codes.push_back(c);
    }
    std::shuffle(codes.begin(), codes.end(), gen);  // each client's rows spread over the log
    for (size_t i = 0; i < codes.size(); ++i) {
      time.push_back(static_cast<int64_t>(gen() % 1'000'000));
      amount.push_back(static_cast<double>(gen() % 100'000) / 7.0);
    }
  }
  struct Result {
    std::vector<int64_t> first, last, count;
    std::vector<double> total;
    bool operator==(const Result& o) const {
      return first == o.first && last == o.last && count == o.count && total == o.total;
    }
  };
  Result Run() const {
    Result r{std::vector<int64_t>(kClients), std::vector<int64_t>(kClients), std::vector<int64_t>(kClients),
             std::vector<double>(kClients)};
    const RfmAggregates out{absl::MakeSpan(r.first), absl::MakeSpan(r.last), absl::MakeSpan(r.count),
                            absl::MakeSpan(r.total)};
    EXPECT_TRUE(AggregateRfm(codes, time, amount, kClients, 1'000'000, out).ok());
    return r;
  }
};

std::vector<int64_t> Ranks(const std::vector<double>& scores) {
  std::vector<int64_t> order(scores.size());
  EXPECT_TRUE(RankDescending(scores, absl::MakeSpan(order)).ok());
  return order;
}

TEST(Threads, EnginesSizedByTheCountGiveTheSameResultsForAnyCount) {
  const EventsCase events;
  const RfmCase rfm;
  std::vector<double> scores(300'000);
  std::mt19937_64 gen(9);
  for (double& s : scores) s = static_cast<double>(gen() % 1000);  // many ties: ranked by row
  const auto events_1 = RunWithThreads(Count(1), [&] { return events.Run(); });
  const auto rfm_1 = RunWithThreads(Count(1), [&] { return rfm.Run(); });
  const auto ranks_1 = RunWithThreads(Count(1), [&] { return Ranks(scores); });
  for (int n : {2, 3, 5, 8}) {
    EXPECT_TRUE(RunWithThreads(Count(n), [&] { return events.Run(); }) == events_1) << n;
    EXPECT_TRUE(RunWithThreads(Count(n), [&] { return rfm.Run(); }) == rfm_1) << n;
    EXPECT_EQ(RunWithThreads(Count(n), [&] { return Ranks(scores); }), ranks_1) << n;
  }
}

// Two engine calls from two threads at once, with different counts, again
// and again: each call sees its own count (before and after its engine runs,
// while the other thread's call is running) and gets what a call made alone
// gets; the process setting never moves.
TEST(Threads, TwoEnginesFromTwoThreadsWithDifferentCountsAtOnce) {
  ASSERT_TRUE(SetNumThreads(2).ok());
  const EventsCase events;
  const RfmCase rfm;
  const auto events_alone = RunWithThreads(Count(3), [&] { return events.Run(); });
  const auto rfm_alone = RunWithThreads(Count(1), [&] { return rfm.Run(); });

  constexpr int kRepeats = 6;
  std::atomic<int> ready{0}, mismatches{0}, wrong_counts{0};
  auto caller = [&](int n, auto run, const auto& alone) {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();  // start together
    for (int rep = 0; rep < kRepeats; ++rep) {
      RunWithThreads(Count(n), [&] {
        const Seen before = Probe();
        const bool same = run() == alone;
        const Seen after = Probe();
        mismatches += !same;
        // One thread enters no arena: its blocks run on the caller.
        const std::set<std::thread::id> caller_only{std::this_thread::get_id()};
        const bool arena_ok = n == 1 ? before.threads == caller_only && after.threads == caller_only
                                     : before.arenas == std::set<int>{n} && after.arenas == std::set<int>{n};
        wrong_counts += before.counts != std::set<int>{n} || after.counts != std::set<int>{n} || !arena_ok;
      });
    }
  };
  std::thread a([&] { caller(3, [&] { return events.Run(); }, events_alone); });
  std::thread b([&] { caller(1, [&] { return rfm.Run(); }, rfm_alone); });
  std::set<int> process;
  while (ready.load() < 2) std::this_thread::yield();
  for (int i = 0; i < 200; ++i) {
    process.insert(ProcessNumThreads());
    process.insert(NumThreads());  // this thread is in no call
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  a.join();
  b.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(wrong_counts.load(), 0);
  EXPECT_EQ(process, std::set<int>{2});
  EXPECT_EQ(ProcessNumThreads(), 2);
  ASSERT_TRUE(SetNumThreads(0).ok());
}

}  // namespace
}  // namespace twinscore
