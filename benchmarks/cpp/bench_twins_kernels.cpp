// Google Benchmark of the dense twins kernel (twins_kernel.h), in three steps:
// the 6 x 16 register tile alone (no epilogue), the tile with its threshold
// epilogue, and the whole TwinIndex::Search. Counters report GFLOP/s (2 flops
// per multiply-add of the dot products), the figure to compare with the
// machine's FMA peak (Zen 3: 32 flops per cycle per core) and numpy's sgemm.
//
//   build/cpp/bench_twins_kernels --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <limits>
#include <random>
#include <vector>

#include "twinscore/threads.h"
#include "twinscore/twins.h"
#include "twinscore/twins_kernel.h"

namespace twinscore {
namespace {

std::vector<float> Normal(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

#ifdef TWINSCORE_DENSE_KERNEL
// Panels of clients resident in L1 (a few KiB), prospects streamed from L1/L2
// as in the search: the tile loop at its best.
constexpr int64_t kPanels = 8, kGroups = 16;

void SetFlops(benchmark::State& state, int64_t d) {
  const double flops = 2.0 * kTwinRows * kTwinPanel * d * kPanels * kGroups;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TileDot(benchmark::State& state) {
  const int64_t d = state.range(0);
  const auto C = Normal(kPanels * d * kTwinPanel, 1), P = Normal(kGroups * kTwinRows * d, 2);
  alignas(32) float out[8];
  for (auto _ : state) {
    // Folding the tiles into one register keeps them live without a store
    // per accumulator (DoNotOptimize on a __m256 would force one).
    __m256 sum = _mm256_setzero_ps();
    for (int64_t p = 0; p < kPanels; ++p) {
      for (int64_t g = 0; g < kGroups; ++g) {
        TwinTile<kTwinRows> tile;
        TwinTileDot<kTwinRows>(P.data() + g * kTwinRows * d, C.data() + p * d * kTwinPanel, d, tile);
        for (int r = 0; r < kTwinRows; ++r) sum = _mm256_add_ps(sum, _mm256_add_ps(tile.lo[r], tile.hi[r]));
      }
    }
    _mm256_store_ps(out, sum);
    benchmark::DoNotOptimize(out);
  }
  SetFlops(state, d);
}
BENCHMARK(BM_TileDot)->Arg(32)->Arg(64)->Arg(128);

void BM_TileFused(benchmark::State& state) {
  const int64_t d = state.range(0);
  const auto C = Normal(kPanels * d * kTwinPanel, 1), P = Normal(kGroups * kTwinRows * d, 2);
  const std::vector<float> bias(kTwinPanel, -1.0f);
  // A k-th best that few scores beat, as after the first few thousand clients.
  const std::vector<float> thr(kTwinRows, 3.0f * std::sqrt(static_cast<float>(d)));
  alignas(32) float s[kTwinRows * kTwinPanel];
  unsigned masks[kTwinRows];
  for (auto _ : state) {
    int hits = 0;
    for (int64_t p = 0; p < kPanels; ++p) {
      for (int64_t g = 0; g < kGroups; ++g) {
        hits += TwinTileFused<kTwinRows>(P.data() + g * kTwinRows * d, C.data() + p * d * kTwinPanel, bias.data(),
                                         d, 2.0f, thr.data(), 0xFFFFu, s, masks);
      }
    }
    benchmark::DoNotOptimize(hits);
  }
  SetFlops(state, d);
}
BENCHMARK(BM_TileFused)->Arg(32)->Arg(64)->Arg(128);
#endif

// The whole search: clients x prospects at d, k = 10, squared L2.
void BM_Search(benchmark::State& state) {
  const int64_t nc = state.range(0), nq = state.range(1), d = 64;
  SetNumThreads(static_cast<int>(state.range(2))).IgnoreError();
  const auto C = Normal(nc * d, 1), Q = Normal(nq * d, 2);
  TwinOptions o;
  o.metric = TwinMetric::kSquaredL2;
  if (state.range(3) > 0) o.prospect_tile = state.range(3);
  TwinData cd, qd;
  cd.n = nc, cd.dim = d, cd.dense = C;
  qd.n = nq, qd.dim = d, qd.dense = Q;
  auto ix = TwinIndex::Fit(o, cd);
  const int k = 10;
  std::vector<int64_t> rows(nq * k);
  std::vector<float> scores(nq * k);
  std::vector<int32_t> counts(nq);
  for (auto _ : state) {
    (*ix)->Search(qd, k, {absl::MakeSpan(rows), absl::MakeSpan(scores), absl::MakeSpan(counts)}).IgnoreError();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * nc * nq * d * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
// Arguments: clients, prospects, threads, prospect tile (0: the default).
BENCHMARK(BM_Search)
    ->Args({20000, 5000, 1, 0})
    ->Args({2000, 50000, 1, 0})
    ->Args({20000, 5000, 1, 96})
    ->Args({20000, 5000, 1, 192})
    ->Args({20000, 5000, 1, 384})
    ->Args({20000, 10000, 2, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace twinscore

BENCHMARK_MAIN();
