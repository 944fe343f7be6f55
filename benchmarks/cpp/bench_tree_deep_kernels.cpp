// Google Benchmark of prediction on deep, non-complete trees (tree_deep.h):
// TreeEnsemble::PredictMargin on 1 thread over float32 and float64 rows, 32
// features with 2 % NaN. The model is the LightGBM text file named by
// TWINSCORE_LGB_MODEL (bench_trees.py's 500 x 63-leaf model, saved with
// Booster.save_model) or, without it, 500 random leaf-wise trees of 63 leaves.
// The counter ns/row-tree is the time per row and tree; TWINSCORE_BLOCK_ROWS
// sets TreeScorerOptions::block_rows (default 64).
//
//   TWINSCORE_LGB_MODEL=lgb_500_63.txt build/cpp/bench_tree_deep_kernels --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "twinscore/threads.h"
#include "twinscore/trees.h"

namespace twinscore {
namespace {

constexpr int kFeatures = 32;

// 500 trees grown leaf-wise to 63 leaves, thresholds drawn from N(0, 1).
TreeModel RandomLeafWise(std::mt19937_64& rng) {
  TreeModel m;
  m.flavor = TreeFlavor::kLightGBM;
  m.num_features = kFeatures;
  m.base_margin = {0.0};
  std::normal_distribution<double> normal;
  for (int k = 0; k < 500; ++k) {
    Tree t;
    t.Resize(125);
    std::vector<int32_t> open{0};
    int32_t used = 1;
    while (used < 125) {
      // Split a shallow leaf more often than a deep one, as gains do.
      const size_t pick = rng() % 3 ? open.size() - 1 - rng() % std::min<size_t>(3, open.size()) : rng() % open.size();
      const int32_t i = open[pick];
      t.left[i] = used;
      t.right[i] = used + 1;
      t.feature[i] = static_cast<int32_t>(rng() % kFeatures);
      t.threshold[i] = normal(rng);
      t.default_left[i] = rng() % 2;
      open[pick] = used;
      open.push_back(used + 1);
      used += 2;
    }
    for (int32_t i : open) t.value[i] = normal(rng) * 0.01;
    for (int32_t i = 0; i < 125; ++i) t.cover[i] = 1;
    m.trees.push_back(std::move(t));
  }
  return m;
}

const TreeEnsemble& Model() {
  static const TreeEnsemble e = [] {
    std::mt19937_64 rng(1);
    absl::StatusOr<TreeModel> m;
    if (const char* path = std::getenv("TWINSCORE_LGB_MODEL")) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      m = LoadLightGBMText(ss.str());
    } else {
      m = RandomLeafWise(rng);
    }
    if (!m.ok()) std::abort();
    TreeScorerOptions o;
    if (const char* b = std::getenv("TWINSCORE_BLOCK_ROWS")) o.block_rows = std::atoi(b);
    return *TreeEnsemble::Build(*std::move(m), o);
  }();
  return e;
}

template <class V>
void BM_Predict(benchmark::State& state) {
  const TreeEnsemble& e = Model();
  const int64_t n = state.range(0);
  std::mt19937_64 rng(2);
  std::normal_distribution<float> normal;
  std::vector<V> X(n * kFeatures);
  for (V& v : X) v = rng() % 50 == 0 ? NAN : normal(rng);
  std::vector<double> out(n);
  (void)SetNumThreads(1);
  for (auto _ : state) {
    if (!e.PredictMargin(X, n, 0, 0, absl::MakeSpan(out)).ok()) std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  (void)SetNumThreads(0);
  const double row_trees = static_cast<double>(n) * e.model().trees.size();
  state.counters["ns/row-tree"] =
      benchmark::Counter(row_trees * 1e-9, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK_TEMPLATE(BM_Predict, float)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Predict, double)->Arg(20000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace twinscore

BENCHMARK_MAIN();
