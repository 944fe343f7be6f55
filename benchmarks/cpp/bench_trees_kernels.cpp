// Google Benchmark of the tree-ensemble prediction walk: XGBoost-flavoured
// full trees (every leaf at the deepest level, the shape `max_depth` training
// gives on large data) over float32 rows with 2 % NaN, one thread, so the
// per-core cost of the complete-tree vector walk shows alone.
//   bench_trees_kernels --benchmark_filter=Predict
// Arguments: trees, depth, block_rows.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "twinscore/threads.h"
#include "twinscore/trees.h"

namespace twinscore {
namespace {

// Rows per call: 100,000, or $TREES_BENCH_ROWS (short calls give steadier
// minima on a shared machine).
const int64_t kRows = std::getenv("TREES_BENCH_ROWS") ? std::atoll(std::getenv("TREES_BENCH_ROWS")) : 100'000;
constexpr int32_t kFeatures = 32;

Tree FullTree(int depth, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Tree t;
  const int32_t inner = (1 << depth) - 1;
  t.Resize(2 * inner + 1);
  for (int32_t i = 0; i < 2 * inner + 1; ++i) {
    t.cover[i] = 1;
    if (i < inner) {
      t.left[i] = 2 * i + 1;
      t.right[i] = 2 * i + 2;
      t.feature[i] = static_cast<int32_t>(rng() % kFeatures);
      t.threshold[i] = static_cast<float>(normal(rng));
      t.default_left[i] = rng() % 2;
    } else {
      t.value[i] = static_cast<float>(normal(rng) * 0.01);
    }
  }
  return t;
}

void BM_PredictXGBoostFull(benchmark::State& state) {
  SetNumThreads(1).IgnoreError();
  std::mt19937_64 rng(7);
  TreeModel m;
  m.num_features = kFeatures;
  m.base_margin = {0.0};
  for (int64_t t = 0; t < state.range(0); ++t) m.trees.push_back(FullTree(static_cast<int>(state.range(1)), rng));
  TreeScorerOptions o;
  o.block_rows = state.range(2);
  auto e = TreeEnsemble::Build(std::move(m), o);
  if (!e.ok()) state.SkipWithError("build failed");
  std::vector<float> X(kRows * kFeatures);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> u;
  for (float& v : X) v = u(rng) < 0.02f ? NAN : normal(rng);
  std::vector<double> out(kRows);
  for (auto _ : state) {
    benchmark::DoNotOptimize(e->PredictMargin(X, kRows, 0, 0, absl::MakeSpan(out)).ok());
  }
  // Items: one tree-row each, for ns per tree-row.
  state.SetItemsProcessed(state.iterations() * kRows * state.range(0));
}
BENCHMARK(BM_PredictXGBoostFull)
    ->Args({200, 6, 64})
    ->Args({200, 6, 256})
    ->Args({200, 8, 64})
    ->Args({200, 8, 256})
    ->Args({200, 6, 128})
    ->Args({200, 8, 128})
    ->Args({1000, 8, 64})
    ->Args({1000, 8, 256})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace twinscore

BENCHMARK_MAIN();
