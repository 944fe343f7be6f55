// Google Benchmark of the RFM kernels on the size: grouping 10M
// transactions over 1M int64 client ids (random order) and the quantile
// scores of 1M values. Run it under `perf record` to see the stages.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "twinscore/rfm.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kRows = 10'000'000;
constexpr size_t kClients = 1'000'000;

struct Log {
  std::vector<int64_t> id, time;
  std::vector<double> amount;
  int64_t now = 0;
};

// Every client buys at least once; the other rows pick clients at random.
const Log& TheLog() {
  static const Log log = [] {
    std::mt19937_64 rng(0);
    std::vector<int64_t> ids(kClients);
    for (auto& v : ids) v = static_cast<int64_t>(rng() % 1'000'000'000'000ull);
    Log l;
    l.id.resize(kRows);
    for (size_t i = 0; i < kRows; ++i) l.id[i] = i < kClients ? ids[i] : ids[rng() % kClients];
    std::shuffle(l.id.begin(), l.id.end(), rng);
    l.time.resize(kRows);
    l.amount.resize(kRows);
    std::lognormal_distribution<double> basket(4.0, 0.7);
    for (size_t i = 0; i < kRows; ++i) {
      l.time[i] = static_cast<int64_t>(rng() % (730ull * 86400)) * 1'000'000'000;
      l.amount[i] = static_cast<double>(static_cast<int64_t>(basket(rng) * 100)) / 100;
      l.now = std::max(l.now, l.time[i]);
    }
    return l;
  }();
  return log;
}

void BM_AggregateRfmById(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  const Log& l = TheLog();
  for (auto _ : state) {
    auto g = AggregateRfmById(l.id, l.time, l.amount, l.now);
    benchmark::DoNotOptimize(g);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_AggregateRfmById)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_QuantileScores(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  std::mt19937_64 rng(1);
  std::vector<double> v(kClients);
  for (auto& x : v) x = static_cast<double>(rng() % 100'000) / 7.0;
  std::vector<int8_t> s(kClients);
  for (auto _ : state) {
    benchmark::DoNotOptimize(QuantileScores(v, 5, absl::MakeSpan(s)).ok());
  }
}
BENCHMARK(BM_QuantileScores)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace twinscore

BENCHMARK_MAIN();
