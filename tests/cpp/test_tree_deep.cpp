// The early-exit walk of deep, non-complete trees (tree_deep.cpp), through
// TreeEnsemble::PredictMargin, against an oracle that walks the model's own
// arrays: leaf-wise grown trees 0-30 levels deep, numeric / zero-missing /
// +-inf splits, runs of such trees broken by categorical trees (the lockstep
// walk) and by one-leaf trees, two output groups, float32 and float64 input
// (float64 thresholds between two floats), NaN, +-inf, zeros and values on the
// thresholds, odd row counts and several block sizes, 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "twinscore/threads.h"
#include "twinscore/trees.h"
#include "tree_oracle.h"

namespace twinscore {
namespace {

using testing::OracleMargin;

// Thresholds on a grid of eighths (rows hit them exactly), now and then
// +-inf (LightGBM) or a double between two floats (x.x + 1e-9).
double Threshold(bool lightgbm, std::mt19937_64& rng) {
  const uint64_t k = rng() % 48;
  if (lightgbm && k == 41) return INFINITY;
  if (lightgbm && k == 42) return -INFINITY;
  const double grid = static_cast<double>(static_cast<int64_t>(k % 41) - 20) / 8.0;
  return lightgbm && k >= 43 ? grid + 1e-9 : grid;
}

// Appends two leaves to t.
void Grow(Tree& t) {
  const size_t n = t.left.size() + 2;
  t.left.resize(n, -1);
  t.right.resize(n, -1);
  t.feature.resize(n, -1);
  t.threshold.resize(n, 0.0);
  t.default_left.resize(n, 0);
  t.kind.resize(n, static_cast<uint8_t>(SplitKind::kNumeric));
  t.value.resize(n, 0.0);
  t.cover.resize(n, 0.0);
  t.cat_begin.resize(n, 0);
  t.cat_words.resize(n, 0);
}

// Grown leaf-wise as LightGBM does: split a random leaf, up to `leaves`
// leaves and `max_depth` levels, so trees are deep and far from complete.
// kinds: 0 numeric only, 1 with zero-missing splits, 2 with a categorical split.
Tree LeafWiseTree(int leaves, int max_depth, int d, bool lightgbm, int kinds, std::mt19937_64& rng) {
  Tree t;
  t.Resize(1);
  std::vector<int> depth{0};
  std::vector<int32_t> open{0};
  while (static_cast<int>(open.size()) < leaves) {
    // Prefer the deepest open leaves half of the time: long chains.
    const size_t pick = rng() % 2 ? rng() % open.size() : open.size() - 1 - rng() % std::min<size_t>(2, open.size());
    const int32_t i = open[pick];
    if (depth[i] >= max_depth) break;
    const int32_t l = t.num_nodes();
    Grow(t);
    t.left[i] = l;
    t.right[i] = l + 1;
    t.feature[i] = static_cast<int32_t>(rng() % d);
    t.threshold[i] = Threshold(lightgbm, rng);
    t.default_left[i] = rng() % 2;
    if (kinds >= 1 && lightgbm && rng() % 4 == 0) t.kind[i] = static_cast<uint8_t>(SplitKind::kNumericZeroMissing);
    // The lockstep walk (categorical trees) sends +inf right at a zero-missing
    // split at +inf, where LightGBM sends it left: keep that case to the deep walk.
    if (kinds == 2 && t.threshold[i] == INFINITY) t.kind[i] = static_cast<uint8_t>(SplitKind::kNumeric);
    if (kinds == 2 && rng() % 8 == 0) {
      t.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
      t.threshold[i] = 0;
      t.cat_begin[i] = static_cast<int32_t>(t.cat_bits.size());
      t.cat_words[i] = 1;
      t.cat_bits.push_back(rng());
    }
    depth.resize(l + 2, depth[i] + 1);
    open[pick] = l;
    open.push_back(l + 1);
  }
  for (int32_t i : open) t.value[i] = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 997.0;
  for (int32_t i = 0; i < t.num_nodes(); ++i) {
    t.cover[i] = 1;
    if (t.left[i] < 0) t.feature[i] = -1;
  }
  return t;
}

TreeModel DeepModel(TreeFlavor flavor, int d, std::mt19937_64& rng) {
  TreeModel m;
  m.flavor = flavor;
  m.num_features = d;
  m.num_groups = 2;
  m.trees_per_iteration = 2;
  m.base_margin = {0.5, -0.25};
  const bool lgb = flavor == TreeFlavor::kLightGBM;
  // 40 rounds: mostly deep numeric trees (runs longer than one batch of 8),
  // broken now and then by a categorical tree or a one-leaf tree.
  for (int round = 0; round < 40; ++round) {
    for (int g = 0; g < 2; ++g) {
      const uint64_t k = rng() % 12;
      Tree t = k == 0 ? LeafWiseTree(1, 0, d, lgb, 0, rng)
                      : LeafWiseTree(2 + static_cast<int>(rng() % 62), 4 + static_cast<int>(rng() % 27), d, lgb,
                                     k == 1 ? 2 : 1, rng);
      t.group = g;
      m.trees.push_back(std::move(t));
    }
  }
  return m;
}

template <class V>
std::vector<V> Rows(int64_t n, int d, std::mt19937_64& rng) {
  std::vector<V> X(n * d);
  for (V& v : X) {
    const uint64_t k = rng() % 60;
    v = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : k == 3 ? 0.0 : k == 4 ? 1e-36 : k == 5 ? -0.0
        : k == 6 ? static_cast<V>(0.125 + 1e-9)
        : static_cast<V>(static_cast<double>(static_cast<int64_t>(rng() % 49) - 24) / 8.0);
  }
  return X;
}

template <class V>
void ExpectOracle(const TreeEnsemble& e, const TreeModel& m, int64_t n, int d, std::mt19937_64& rng,
                  const char* what) {
  const std::vector<V> X = Rows<V>(n, d, rng);
  std::vector<double> out(n * 2);
  ASSERT_TRUE(e.PredictMargin(X, n, 0, 0, absl::MakeSpan(out)).ok());
  for (int64_t r = 0; r < n; ++r) {
    for (int32_t g = 0; g < 2; ++g) {
      // XGBoost reads float64 input as float32.
      double want;
      if (m.flavor == TreeFlavor::kXGBoost) {
        std::vector<float> xf(X.begin() + r * d, X.begin() + (r + 1) * d);
        want = OracleMargin(m, xf.data(), g);
      } else {
        want = OracleMargin(m, X.data() + r * d, g);
      }
      ASSERT_EQ(out[r * 2 + g], want) << what << " n " << n << " row " << r << " group " << g;
    }
  }
}

TEST(TreeDeep, EqualsAnOracleOnLeafWiseTreesOfEveryDepth) {
  std::mt19937_64 rng(77);
  const int d = 9;
  for (TreeFlavor flavor : {TreeFlavor::kLightGBM, TreeFlavor::kXGBoost}) {
    const TreeModel m = DeepModel(flavor, d, rng);
    for (int64_t block : {16, 64, 1000}) {
      TreeScorerOptions o;
      o.block_rows = block;
      auto e = TreeEnsemble::Build(m, o);
      ASSERT_TRUE(e.ok()) << e.status();
      for (int64_t n : {1, 5, 17, 64, 131, 1003}) {
        ExpectOracle<float>(*e, m, n, d, rng, flavor == TreeFlavor::kLightGBM ? "lgb float32" : "xgb float32");
        ExpectOracle<double>(*e, m, n, d, rng, flavor == TreeFlavor::kLightGBM ? "lgb float64" : "xgb float64");
      }
    }
  }
}

TEST(TreeDeep, OneLeafTreesOnlyAndIterationRanges) {
  std::mt19937_64 rng(5);
  TreeModel m;
  m.flavor = TreeFlavor::kLightGBM;
  m.num_features = 3;
  m.base_margin = {1.0};
  for (int k = 0; k < 11; ++k) m.trees.push_back(LeafWiseTree(1, 0, 3, true, 0, rng));
  m.trees.push_back(LeafWiseTree(40, 30, 3, true, 1, rng));
  auto e = TreeEnsemble::Build(m);
  ASSERT_TRUE(e.ok()) << e.status();
  const int64_t n = 9;
  const std::vector<float> X = Rows<float>(n, 3, rng);
  for (int64_t b : {0, 3, 10, 11}) {
    std::vector<double> out(n);
    ASSERT_TRUE(e->PredictMargin(X, n, b, 12, absl::MakeSpan(out)).ok());
    TreeModel sub = m;
    sub.trees.assign(m.trees.begin() + b, m.trees.end());
    for (int64_t r = 0; r < n; ++r) ASSERT_EQ(out[r], OracleMargin(sub, X.data() + r * 3, 0)) << "begin " << b;
  }
}

template <class V>
void ExpectSameForOneAndTwoThreads(const TreeEnsemble& e, int d, std::mt19937_64& rng) {
  const int64_t n = 3001;
  const std::vector<V> X = Rows<V>(n, d, rng);
  std::vector<double> a(n * 2), b(n * 2);
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(e.PredictMargin(X, n, 0, 0, absl::MakeSpan(a)).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(e.PredictMargin(X, n, 0, 0, absl::MakeSpan(b)).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a, b);
}

// float32 rows take the AVX2 walk (top levels without gathers), float64 the scalar one.
TEST(TreeDeep, IdenticalForOneAndTwoThreads) {
  std::mt19937_64 rng(8);
  const int d = 6;
  const TreeModel m = DeepModel(TreeFlavor::kLightGBM, d, rng);
  auto e = TreeEnsemble::Build(m);
  ASSERT_TRUE(e.ok());
  ExpectSameForOneAndTwoThreads<double>(*e, d, rng);
  ExpectSameForOneAndTwoThreads<float>(*e, d, rng);
}

}  // namespace
}  // namespace twinscore
