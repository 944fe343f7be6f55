// TreeSHAP (tree_shap.cpp): the per-tree tables and the recursion against
// brute-force Shapley values, on trees made to reach every case: repeated
// features on a path, unbalanced trees, categorical and zero-missing splits,
// NaN and infinities, multiclass groups, iteration ranges, averaged forests,
// trees too deep for a table, several table chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "twinscore/threads.h"
#include "twinscore/trees.h"
#include "tree_oracle.h"

namespace twinscore {
namespace {

using testing::GoesRight;

// Path-dependent expectation of a tree given the features in `known`.
template <class T>
double Expect(const Tree& t, int32_t i, const T* x, uint32_t known, bool xgb) {
  if (t.left[i] < 0) return t.value[i];
  const int32_t l = t.left[i], r = t.right[i];
  if (known & (1u << t.feature[i])) return Expect(t, GoesRight(t, i, x[t.feature[i]], xgb) ? r : l, x, known, xgb);
  const double c = t.cover[i];
  const double wl = c > 0 ? t.cover[l] / c : 0.5, wr = c > 0 ? t.cover[r] / c : 0.5;
  return wl * Expect(t, l, x, known, xgb) + wr * Expect(t, r, x, known, xgb);
}

// Brute-force Shapley values over all subsets, per group, for the rounds
// [begin, end): n_groups * (d + 1) values, bias last.
template <class T>
std::vector<double> BruteShap(const TreeModel& m, const T* x, int64_t begin, int64_t end) {
  const int d = m.num_features, G = m.num_groups;
  const bool xgb = m.flavor == TreeFlavor::kXGBoost;
  const size_t t0 = begin * m.trees_per_iteration, t1 = end * m.trees_per_iteration;
  const double scale = m.average_output ? 1.0 / static_cast<double>(end - begin) : 1.0;
  std::vector<double> phi(G * (d + 1), 0.0);
  std::vector<double> fact(d + 1, 1.0);
  for (int k = 1; k <= d; ++k) fact[k] = fact[k - 1] * k;
  for (int g = 0; g < G; ++g) {
    auto value = [&](uint32_t S) {
      double s = 0;
      for (size_t t = t0; t < t1; ++t) {
        if (m.trees[t].group == g) s += Expect(m.trees[t], 0, x, S, xgb) * scale;
      }
      return s;
    };
    std::vector<double> v(size_t{1} << d);
    for (uint32_t S = 0; S < v.size(); ++S) v[S] = value(S);
    for (int j = 0; j < d; ++j) {
      for (uint32_t S = 0; S < v.size(); ++S) {
        if (S & (1u << j)) continue;
        const int s = __builtin_popcount(S);
        phi[g * (d + 1) + j] += fact[s] * fact[d - s - 1] / fact[d] * (v[S | (1u << j)] - v[S]);
      }
    }
    phi[g * (d + 1) + d] = m.base_margin[g] + v[0];
  }
  return phi;
}

// Appends a random subtree of at most `depth` levels below node i: uneven
// depths, features drawn from few (so they repeat on paths), some categorical
// and (LightGBM) zero-missing splits, integer covers that add up.
void Grow(Tree& t, int32_t i, int depth, int d, bool xgb, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (depth == 0 || (i > 0 && rng() % 5 == 0)) {
    t.value[i] = u(rng) - 0.5;
    t.cover[i] = 1 + std::floor(u(rng) * 20);
    return;
  }
  const int32_t l = t.num_nodes(), r = l + 1;
  const int32_t n = t.num_nodes() + 2;
  // Resize keeps nothing, so grow every array by hand.
  for (auto* v : {&t.left, &t.right, &t.feature, &t.cat_begin, &t.cat_words}) v->resize(n, -1);
  t.threshold.resize(n, 0.0);
  t.default_left.resize(n, 0);
  t.kind.resize(n, static_cast<uint8_t>(SplitKind::kNumeric));
  t.value.resize(n, 0.0);
  t.cover.resize(n, 0.0);
  t.cat_begin[l] = t.cat_begin[r] = t.cat_words[l] = t.cat_words[r] = 0;
  t.left[i] = l;
  t.right[i] = r;
  t.feature[i] = static_cast<int32_t>(rng() % d);
  t.default_left[i] = rng() % 2;
  if (t.feature[i] == d - 1) {
    t.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
    t.cat_begin[i] = static_cast<int32_t>(t.cat_bits.size());
    t.cat_words[i] = 1;
    t.cat_bits.push_back(rng() & 0x3ff);
  } else {
    t.threshold[i] = std::round((u(rng) * 3 - 1.5) * 8) / 8;
    if (!xgb && rng() % 4 == 0) t.kind[i] = static_cast<uint8_t>(SplitKind::kNumericZeroMissing);
  }
  Grow(t, l, depth - 1, d, xgb, rng);
  Grow(t, r, depth - 1, d, xgb, rng);
  t.cover[i] = t.cover[l] + t.cover[r];
}

TreeModel RandomModel(TreeFlavor flavor, int n_trees, int depth, int d, int groups, std::mt19937_64& rng) {
  TreeModel m;
  m.flavor = flavor;
  m.num_features = d;
  m.num_groups = groups;
  m.trees_per_iteration = groups;
  for (int g = 0; g < groups; ++g) m.base_margin.push_back(0.25 * (g + 1));
  for (int k = 0; k < n_trees * groups; ++k) {
    Tree t;
    t.Resize(1);
    t.cat_begin[0] = t.cat_words[0] = 0;
    Grow(t, 0, depth, d, flavor == TreeFlavor::kXGBoost, rng);
    t.group = k % groups;
    m.trees.push_back(std::move(t));
  }
  return m;
}

// Rows with NaN, infinities, exact zeros, values on the thresholds' grid and
// categories in and out of range (last feature).
template <class T>
std::vector<T> RandomRows(int64_t n, int d, std::mt19937_64& rng) {
  std::vector<T> X(n * d);
  for (int64_t r = 0; r < n; ++r) {
    for (int j = 0; j < d; ++j) {
      T v;
      switch (rng() % 10) {
        case 0: v = NAN; break;
        case 1: v = (rng() % 2) ? INFINITY : -INFINITY; break;
        case 2: v = 0; break;
        case 3: v = static_cast<T>(std::round((static_cast<double>(rng() % 1000) / 1000 * 3 - 1.5) * 8) / 8); break;
        default: v = static_cast<T>(static_cast<double>(rng() % 100000) / 100000 * 4 - 2);
      }
      if (j == d - 1 && std::isfinite(v)) v = static_cast<T>(static_cast<int>(rng() % 14) - 2);
      X[r * d + j] = v;
    }
  }
  return X;
}

TreeEnsemble Build(const TreeModel& m, int64_t table_bytes) {
  TreeScorerOptions o;
  o.shap_table_bytes = table_bytes;
  auto e = TreeEnsemble::Build(m, o);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

template <class T>
std::vector<double> Contrib(const TreeEnsemble& e, const std::vector<T>& X, int64_t begin = 0, int64_t end = 0) {
  const int64_t n = static_cast<int64_t>(X.size()) / e.num_features();
  std::vector<double> phi(n * e.num_groups() * (e.num_features() + 1));
  const absl::Status s = e.Contributions(absl::Span<const T>(X), n, begin, end, absl::MakeSpan(phi));
  EXPECT_TRUE(s.ok()) << s;
  return phi;
}

// Checks both formulations against brute force on every row.
template <class T>
void ExpectBothMatchBruteForce(const TreeModel& m, const std::vector<T>& X, int64_t begin, int64_t end) {
  const int d = m.num_features;
  const int64_t n = static_cast<int64_t>(X.size()) / d;
  const TreeEnsemble tables = Build(m, int64_t{16} << 20), recursion = Build(m, 0);
  ASSERT_GT(tables.ShapTableTrees(n), 0);
  ASSERT_EQ(recursion.ShapTableTrees(n), 0);
  const std::vector<double> a = Contrib(tables, X, begin, end), b = Contrib(recursion, X, begin, end);
  const size_t per_row = m.num_groups * (d + 1);
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<double> want = BruteShap(m, X.data() + r * d, begin, end == 0 ? m.num_iterations() : end);
    for (size_t j = 0; j < per_row; ++j) {
      ASSERT_NEAR(a[r * per_row + j], want[j], 1e-9) << "tables, row " << r << " value " << j;
      ASSERT_NEAR(b[r * per_row + j], want[j], 1e-9) << "recursion, row " << r << " value " << j;
    }
  }
}

TEST(TreeShap, TablesAndRecursionEqualBruteForceOnUnevenTreesWithRepeatedFeatures) {
  std::mt19937_64 rng(11);
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    for (int depth : {1, 2, 5, 7}) {
      const TreeModel m = RandomModel(flavor, 6, depth, 5, 1, rng);
      ExpectBothMatchBruteForce(m, RandomRows<float>(60, 5, rng), 0, 0);
      ExpectBothMatchBruteForce(m, RandomRows<double>(60, 5, rng), 0, 0);
    }
  }
}

TEST(TreeShap, MulticlassGroupsIterationRangesAndAveragedForests) {
  std::mt19937_64 rng(12);
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    TreeModel m = RandomModel(flavor, 5, 4, 4, 3, rng);
    const std::vector<float> X = RandomRows<float>(50, 4, rng);
    ExpectBothMatchBruteForce(m, X, 0, 0);
    ExpectBothMatchBruteForce(m, X, 1, 4);
    m.average_output = true;
    ExpectBothMatchBruteForce(m, X, 2, 5);
  }
}

TEST(TreeShap, SumsToTheMarginAndEqualsTheRecursionOnLargerTrees) {
  std::mt19937_64 rng(13);
  const int d = 12;
  const TreeModel m = RandomModel(TreeFlavor::kLightGBM, 20, 9, d, 1, rng);
  const std::vector<float> X = RandomRows<float>(700, d, rng);  // several row blocks
  const TreeEnsemble tables = Build(m, int64_t{16} << 20), recursion = Build(m, 0);
  EXPECT_EQ(tables.ShapTableTrees(700), 20);
  const std::vector<double> a = Contrib(tables, X), b = Contrib(recursion, X);
  std::vector<double> margin(700);
  ASSERT_TRUE(tables.PredictMargin(X, 700, 0, 0, absl::MakeSpan(margin)).ok());
  for (int64_t r = 0; r < 700; ++r) {
    double sum = 0;
    for (int j = 0; j <= d; ++j) {
      EXPECT_NEAR(a[r * (d + 1) + j], b[r * (d + 1) + j], 1e-10) << "row " << r << " feature " << j;
      sum += a[r * (d + 1) + j];
    }
    EXPECT_NEAR(sum, margin[r], 1e-9) << "row " << r;
  }
}

TEST(TreeShap, TablesOnlyWhenEnoughRowsAndSmallEnough) {
  std::mt19937_64 rng(14);
  const TreeModel m = RandomModel(TreeFlavor::kXGBoost, 4, 6, 8, 1, rng);
  const TreeEnsemble e = Build(m, int64_t{16} << 20);
  EXPECT_EQ(e.ShapTableTrees(1), 0);  // a single row: the recursion is cheaper
  EXPECT_EQ(e.ShapTableTrees(10000), 4);
  // A tree whose table would pass the limit runs the recursion, and gives the same values.
  const std::vector<float> X = RandomRows<float>(300, 8, rng);
  const TreeEnsemble tiny = Build(m, 16), none = Build(m, 0);
  EXPECT_EQ(tiny.ShapTableTrees(300), 0);
  EXPECT_EQ(Contrib(tiny, X), Contrib(none, X));
}

// A chain of 24 distinct features: the deepest leaf's table would have 2^24
// patterns, past the depth limit whatever the byte limit, so the tree runs
// the recursion while the shallow trees beside it use tables.
TEST(TreeShap, FallsBackToTheRecursionForTooDeepPaths) {
  std::mt19937_64 rng(15);
  const int d = 24;
  TreeModel m = RandomModel(TreeFlavor::kXGBoost, 3, 3, d, 1, rng);
  Tree chain;
  chain.Resize(2 * d + 1);
  for (int k = 0; k < d; ++k) {
    const int32_t i = 2 * k;  // internal node k; its left child is a leaf, its right the next node
    chain.left[i] = i + 1;
    chain.right[i] = i + 2;
    chain.feature[i] = k;
    chain.threshold[i] = 0.25 * (k % 5) - 0.5;
    chain.default_left[i] = k % 2;
    chain.value[i + 1] = 0.01 * (k + 1);
    chain.cover[i + 1] = 1 + k % 3;
  }
  chain.value[2 * d] = -0.3;
  chain.cover[2 * d] = 2;
  for (int k = d - 1; k >= 0; --k) chain.cover[2 * k] = chain.cover[2 * k + 1] + chain.cover[2 * k + 2];
  m.trees.insert(m.trees.begin() + 1, chain);
  const std::vector<float> X = RandomRows<float>(400, d, rng);
  const TreeEnsemble tables = Build(m, 1 << 30), recursion = Build(m, 0);
  EXPECT_EQ(tables.ShapTableTrees(400), 3);
  const std::vector<double> a = Contrib(tables, X), b = Contrib(recursion, X);
  for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(a[j], b[j], 1e-10) << j;
  // The chain alone: the same code either way, so the same bits.
  TreeModel only = m;
  only.trees = {chain};
  EXPECT_EQ(Contrib(Build(only, 1 << 30), X), Contrib(Build(only, 0), X));
}

TEST(TreeShap, IdenticalForAnyThreadCountAndTableChunking) {
  std::mt19937_64 rng(16);
  const TreeModel m = RandomModel(TreeFlavor::kLightGBM, 40, 6, 6, 2, rng);
  const std::vector<float> X = RandomRows<float>(1500, 6, rng);
  const TreeEnsemble one_chunk = Build(m, int64_t{16} << 20);
  // 8 KiB per tree, chunks of 32 KiB: tables are built and dropped several
  // times per call, and the larger trees run the recursion in the same call.
  const TreeEnsemble many_chunks = Build(m, 8 << 10);
  ASSERT_GE(many_chunks.ShapTableTrees(1500), 20);
  ASSERT_LT(many_chunks.ShapTableTrees(1500), 80);
  ASSERT_TRUE(SetNumThreads(1).ok());
  const std::vector<double> a = Contrib(one_chunk, X);
  const std::vector<double> c = Contrib(many_chunks, X);
  ASSERT_TRUE(SetNumThreads(2).ok());
  const std::vector<double> b = Contrib(one_chunk, X);
  const std::vector<double> e = Contrib(many_chunks, X);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, e);
  const TreeEnsemble recursion = Build(m, 0);
  const std::vector<double> r = Contrib(recursion, X);
  for (size_t j = 0; j < a.size(); ++j) {
    ASSERT_NEAR(a[j], r[j], 1e-10) << j;
    ASSERT_NEAR(c[j], r[j], 1e-10) << j;
  }
}

TEST(TreeShap, RejectsBadOptionsAndCalls) {
  TreeScorerOptions o;
  o.shap_table_bytes = -1;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o.shap_table_bytes = (int64_t{1} << 30) + 1;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  std::mt19937_64 rng(17);
  const TreeEnsemble e = Build(RandomModel(TreeFlavor::kXGBoost, 2, 3, 3, 1, rng), 1 << 20);
  const std::vector<float> X = RandomRows<float>(4, 3, rng);
  std::vector<double> phi(4 * 4);
  EXPECT_EQ(e.Contributions(X, 4, 0, 3, absl::MakeSpan(phi)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Contributions(X, 4, 0, 0, absl::MakeSpan(phi).subspan(1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(e.Contributions(absl::Span<const float>(), 0, 0, 0, absl::Span<double>()).ok());
}

}  // namespace
}  // namespace twinscore
