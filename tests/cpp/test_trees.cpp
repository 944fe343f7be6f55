#include "twinscore/trees.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "twinscore/json.h"
#include "twinscore/simd.h"
#include "twinscore/threads.h"
#include "tree_oracle.h"

namespace twinscore {
namespace {

// XGBoost: tree 0 splits a < 0.5 (missing left); right of it, a categorical
// split on b whose set {1, 3} goes right. Tree 1 is a single leaf.
const char* kXgbJson = R"({"learner":{"attributes":{"best_iteration":"0"},
 "feature_names":["a","b"],"feature_types":["float","c"],
 "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"2"},
   "tree_info":[0,0],
   "trees":[
    {"base_weights":[0,0,0,0,0],"categories":[1,3],"categories_nodes":[2],"categories_segments":[0],
     "categories_sizes":[2],"default_left":[1,0,0,0,0],"id":0,"left_children":[1,-1,3,-1,-1],
     "right_children":[2,-1,4,-1,-1],"split_conditions":[0.5,0.1,0,0.2,-0.3],"split_indices":[0,0,1,0,0],
     "split_type":[0,0,1,0,0],"sum_hessian":[10,4,6,3,3],
     "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"5","size_leaf_vector":"1"}},
    {"base_weights":[0],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],
     "default_left":[0],"id":1,"left_children":[-1],"right_children":[-1],"split_conditions":[0.05],
     "split_indices":[0],"split_type":[0],"sum_hessian":[10],
     "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"1","size_leaf_vector":"1"}}]},
  "name":"gbtree"},
 "learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2","num_target":"1"},
 "objective":{"name":"binary:logistic"}},"version":[3,2,0]})";

// LightGBM: a <= 0.1 goes left (NaN left), else b in {1, 3} goes left.
const char* kLgbText =
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
    "objective=binary sigmoid:1\nfeature_names=a b\nfeature_infos=[0:1] 0:1:2:3\ntree_sizes=400\n\n"
    "Tree=0\nnum_leaves=3\nnum_cat=1\nsplit_feature=0 1\nsplit_gain=1 1\nthreshold=0.10000000000000001 0\n"
    "decision_type=10 1\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=0.1 0.2 -0.3\nleaf_weight=1 1 1\n"
    "leaf_count=4 3 3\ninternal_value=0 0\ninternal_weight=0 0\ninternal_count=10 6\ncat_boundaries=0 1\n"
    "cat_threshold=10\nis_linear=0\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\na=1\nb=1\n\n"
    "pandas_categorical:null\n";

TreeEnsemble Build(absl::StatusOr<TreeModel> m) {
  EXPECT_TRUE(m.ok()) << m.status();
  auto e = TreeEnsemble::Build(*std::move(m));
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

std::vector<double> Margins(const TreeEnsemble& e, const std::vector<float>& X) {
  const int64_t n = static_cast<int64_t>(X.size()) / e.num_features();
  std::vector<double> out(n * e.num_groups());
  auto s = e.PredictMargin(X, n, 0, 0, absl::MakeSpan(out));
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(XGBoostJson, PredictsTheHandComputedMargins) {
  TreeEnsemble e = Build(LoadXGBoostJson(kXgbJson));
  EXPECT_EQ(e.num_features(), 2);
  EXPECT_EQ(e.model().feature_names[1], "b");
  EXPECT_EQ(e.model().best_iteration, 0);
  const float nan = NAN, inf = INFINITY;
  std::vector<float> X = {0.2f, 0, nan, 0, 1, 3, 1, 2, 1, nan, 1, -1, 1, 100, 0.5f, 1, 1, 3.5f, -inf, 3, inf, 1};
  std::vector<double> want = {0.15, 0.15, -0.25, 0.25, -0.25, 0.25, 0.25, -0.25, -0.25, 0.15, -0.25};
  std::vector<double> got = Margins(e, X);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-7) << "row " << i;
  std::vector<double> p(got.size());
  ASSERT_TRUE(e.Transform(got, got.size(), absl::MakeSpan(p)).ok());
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(-0.15)), 1e-7);
}

TEST(LightGBMText, PredictsTheHandComputedMarginsInBothPrecisions) {
  TreeEnsemble e = Build(LoadLightGBMText(kLgbText));
  const float nan = NAN;
  // 0.1f is just above 0.1 as a double: it goes right, the double 0.1 goes left.
  std::vector<float> X = {0.1f, 0, nan, 0, 1, 3, 1, 2, 1, nan, 1, -0.5f, 1, 1.7f, 1, 100};
  std::vector<double> want = {-0.3, 0.1, 0.2, -0.3, -0.3, -0.3, 0.2, -0.3};
  std::vector<double> got = Margins(e, X);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "row " << i;
  std::vector<double> Xd = {0.1, 0, 0.09999, 5, 0.1000001, 3};
  std::vector<double> out(3);
  ASSERT_TRUE(e.PredictMargin(absl::Span<const double>(Xd), 3, 0, 0, absl::MakeSpan(out)).ok());
  EXPECT_DOUBLE_EQ(out[0], 0.1);
  EXPECT_DOUBLE_EQ(out[1], 0.1);
  EXPECT_DOUBLE_EQ(out[2], 0.2);
}

// Path-dependent expectation of one tree given the features in `known`
// (the quantity TreeSHAP's values are the Shapley values of).
double Expect(const Tree& t, int32_t i, const std::vector<float>& x, uint32_t known, const TreeEnsemble& e,
              bool xgb) {
  if (t.left[i] < 0) return t.value[i];
  const int32_t f = t.feature[i];
  const int32_t l = t.left[i], r = t.right[i];
  if (known & (1u << f)) {
    // Scoring a one-row matrix through a model of this subtree would be
    // circular; decide with the libraries' rules, written out apart.
    const bool right = testing::GoesRight(t, i, x[f], xgb);
    return Expect(t, right ? r : l, x, known, e, xgb);
  }
  return (t.cover[l] * Expect(t, l, x, known, e, xgb) + t.cover[r] * Expect(t, r, x, known, e, xgb)) / t.cover[i];
}

// Brute-force Shapley values over all subsets (small d only).
std::vector<double> BruteShap(const TreeEnsemble& e, const std::vector<float>& x) {
  const int d = e.num_features();
  const bool xgb = e.model().flavor == TreeFlavor::kXGBoost;
  std::vector<double> phi(d + 1, 0.0);
  auto value = [&](uint32_t S) {
    double s = e.model().base_margin[0];
    for (const Tree& t : e.model().trees) s += Expect(t, 0, x, S, e, xgb);
    return s;
  };
  std::vector<double> fact(d + 1, 1.0);
  for (int k = 1; k <= d; ++k) fact[k] = fact[k - 1] * k;
  for (int j = 0; j < d; ++j) {
    for (uint32_t S = 0; S < (1u << d); ++S) {
      if (S & (1u << j)) continue;
      const int s = __builtin_popcount(S);
      phi[j] += fact[s] * fact[d - s - 1] / fact[d] * (value(S | (1u << j)) - value(S));
    }
  }
  phi[d] = value(0);
  return phi;
}

// A random model of the given flavour: full trees of depth 3 over 4 features,
// some categorical splits, covers that add up.
TreeModel RandomModel(TreeFlavor flavor, int n_trees, std::mt19937_64& rng) {
  TreeModel m;
  m.flavor = flavor;
  m.num_features = 4;
  m.base_margin = {0.25};
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int k = 0; k < n_trees; ++k) {
    Tree t;
    const int depth = 3, n = (1 << (depth + 1)) - 1;
    t.Resize(n);
    for (int i = n - 1; i >= 0; --i) {
      if (2 * i + 1 < n) {
        t.left[i] = 2 * i + 1;
        t.right[i] = 2 * i + 2;
        t.feature[i] = static_cast<int32_t>(rng() % 4);
        t.default_left[i] = rng() % 2;
        if (t.feature[i] == 3) {
          t.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
          t.cat_begin[i] = static_cast<int32_t>(t.cat_bits.size());
          t.cat_words[i] = 1;
          t.cat_bits.push_back(rng() & 0xff);
        } else {
          t.threshold[i] = static_cast<float>(u(rng) * 2 - 1);
        }
        t.cover[i] = t.cover[2 * i + 1] + t.cover[2 * i + 2];
      } else {
        t.value[i] = static_cast<float>(u(rng) - 0.5);
        t.cover[i] = 1 + std::floor(u(rng) * 20);
      }
    }
    m.trees.push_back(std::move(t));
  }
  return m;
}

std::vector<float> RandomRows(int64_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);
  std::vector<float> X(n * 4);
  for (int64_t r = 0; r < n; ++r) {
    for (int j = 0; j < 3; ++j) X[r * 4 + j] = (rng() % 10 == 0) ? NAN : u(rng);
    X[r * 4 + 3] = (rng() % 10 == 0) ? NAN : static_cast<float>(rng() % 10);
  }
  return X;
}

TEST(TreeShap, EqualsBruteForceShapleyValuesForBothFlavours) {
  std::mt19937_64 rng(3);
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    TreeEnsemble e = Build(RandomModel(flavor, 5, rng));
    const int64_t n = 40;
    std::vector<float> X = RandomRows(n, rng);
    std::vector<double> phi(n * 5), margin(n);
    ASSERT_TRUE(e.Contributions(X, n, 0, 0, absl::MakeSpan(phi)).ok());
    ASSERT_TRUE(e.PredictMargin(X, n, 0, 0, absl::MakeSpan(margin)).ok());
    for (int64_t r = 0; r < n; ++r) {
      std::vector<float> x(X.begin() + r * 4, X.begin() + r * 4 + 4);
      std::vector<double> want = BruteShap(e, x);
      double sum = 0;
      for (int j = 0; j <= 4; ++j) {
        EXPECT_NEAR(phi[r * 5 + j], want[j], 1e-9) << "row " << r << " feature " << j;
        sum += phi[r * 5 + j];
      }
      EXPECT_NEAR(sum, margin[r], 1e-5) << "row " << r;
    }
  }
}

TEST(TreeEnsemble, IdenticalForAnyThreadCountAndBlockSize) {
  std::mt19937_64 rng(5);
  TreeModel m = RandomModel(TreeFlavor::kLightGBM, 30, rng);
  TreeEnsemble e = Build(m);
  const int64_t n = 5000;
  std::vector<float> X = RandomRows(n, rng);
  ASSERT_TRUE(SetNumThreads(1).ok());
  std::vector<double> a = Margins(e, X);
  std::vector<double> pa(n * 5), pb(n * 5);
  ASSERT_TRUE(e.Contributions(X, n, 0, 0, absl::MakeSpan(pa)).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  std::vector<double> b = Margins(e, X);
  ASSERT_TRUE(e.Contributions(X, n, 0, 0, absl::MakeSpan(pb)).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(pa, pb);
  TreeScorerOptions o;
  o.block_rows = 16;
  auto small = TreeEnsemble::Build(m, o);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(Margins(*small, X), a);
}

// Up to a few rows, each row walks the trees alone (kFewRows in trees.cpp):
// the same margins, bit for bit, as the same rows in a batch, categorical
// splits included, for both flavours and both input precisions.
TEST(TreeEnsemble, FewRowsEqualTheSameRowsInABatch) {
  std::mt19937_64 rng(8);
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    TreeEnsemble e = Build(RandomModel(flavor, 40, rng));
    const int64_t n = 300;
    std::vector<float> X = RandomRows(n, rng);
    const std::vector<double> batch = Margins(e, X);
    std::vector<double> Xd(X.begin(), X.end()), batch_d(n);
    ASSERT_TRUE(e.PredictMargin(Xd, n, 0, 0, absl::MakeSpan(batch_d)).ok());
    for (int64_t rows : {1, 2, 3, 4, 5, 9}) {
      for (int64_t start = 0; start + rows <= n; start += 37) {
        std::vector<float> part(X.begin() + start * 4, X.begin() + (start + rows) * 4);
        std::vector<double> out(rows), out_d(rows);
        ASSERT_TRUE(e.PredictMargin(part, rows, 0, 0, absl::MakeSpan(out)).ok());
        std::vector<double> part_d(part.begin(), part.end());
        ASSERT_TRUE(e.PredictMargin(part_d, rows, 0, 0, absl::MakeSpan(out_d)).ok());
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(out[r], batch[start + r]) << "flavor " << int(flavor) << " rows " << rows << " at " << start + r;
          ASSERT_EQ(out_d[r], batch_d[start + r]) << "float64, rows " << rows << " at " << start + r;
        }
      }
    }
  }
}

// A random numeric tree grown to at most max_depth: each node splits with
// probability 0.8 (so leaves sit at every level), thresholds on a grid so
// that rows hit them exactly.
Tree RandomNumericTree(int max_depth, int num_features, bool lightgbm, std::mt19937_64& rng) {
  struct Node {
    int32_t left = -1, right = -1, feature = 0;
    double threshold = 0, value = 0;
    uint8_t default_left = 0;
  };
  std::vector<Node> nodes(1);
  std::vector<std::pair<int32_t, int>> todo{{0, 0}};
  while (!todo.empty()) {
    auto [i, depth] = todo.back();
    todo.pop_back();
    if (depth == max_depth || rng() % 5 == 0) {
      nodes[i].value = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 997.0;
      continue;
    }
    const int32_t l = static_cast<int32_t>(nodes.size());
    nodes.resize(l + 2);
    nodes[i].left = l;
    nodes[i].right = l + 1;
    nodes[i].feature = static_cast<int32_t>(rng() % num_features);
    // Now and then (LightGBM) an infinite threshold: its split of the missing values.
    const uint64_t k = rng() % (lightgbm ? 43 : 41);
    nodes[i].threshold = k == 41 ? INFINITY : k == 42 ? -INFINITY : static_cast<double>(static_cast<int64_t>(k) - 20) / 8.0;
    nodes[i].default_left = rng() % 2;
    todo.push_back({l, depth + 1});
    todo.push_back({l + 1, depth + 1});
  }
  Tree t;
  t.Resize(static_cast<int32_t>(nodes.size()));
  for (size_t i = 0; i < nodes.size(); ++i) {
    t.left[i] = nodes[i].left;
    t.right[i] = nodes[i].right;
    t.feature[i] = nodes[i].left < 0 ? -1 : nodes[i].feature;
    t.threshold[i] = nodes[i].threshold;
    t.default_left[i] = nodes[i].default_left;
    t.value[i] = nodes[i].value;
    t.cover[i] = 1;
  }
  return t;
}

using testing::OracleMargin;

// Trees of every depth from 0 to 12 (complete-layout vector walk up to 10,
// the node walk beyond), two output groups, rows with NaN, +-inf and values
// on the thresholds (+-inf among them), row counts that leave partial 8-row groups and partial
// 4-group batches, two block sizes: every margin equals the oracle's.
TEST(TreeEnsemble, VectorAndNodeWalksEqualAnOracleAtEveryDepth) {
  std::mt19937_64 rng(21);
  const int d = 7;
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    TreeModel m;
    m.flavor = flavor;
    m.num_features = d;
    m.num_groups = 2;
    m.trees_per_iteration = 2;
    m.base_margin = {0.5, -0.25};
    for (int depth = 0; depth <= 12; ++depth) {
      for (int g = 0; g < 2; ++g) {
        m.trees.push_back(RandomNumericTree(depth, d, flavor == TreeFlavor::kLightGBM, rng));
        m.trees.back().group = g;
      }
    }
    for (int64_t block : {16, 64}) {
      TreeScorerOptions o;
      o.block_rows = block;
      auto e = TreeEnsemble::Build(m, o);
      ASSERT_TRUE(e.ok()) << e.status();
      for (int64_t n : {1, 2, 4, 5, 7, 8, 9, 31, 33, 100, 203}) {
        std::vector<float> X(n * d);
        for (float& v : X) {
          const uint64_t k = rng() % 50;
          v = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : static_cast<float>(static_cast<int64_t>(rng() % 49) - 24) / 8.0f;
        }
        std::vector<double> out(n * 2);
        ASSERT_TRUE(e->PredictMargin(X, n, 0, 0, absl::MakeSpan(out)).ok());
        std::vector<double> Xd(X.begin(), X.end()), out_d(n * 2);
        ASSERT_TRUE(e->PredictMargin(Xd, n, 0, 0, absl::MakeSpan(out_d)).ok());
        for (int64_t r = 0; r < n; ++r) {
          for (int32_t g = 0; g < 2; ++g) {
            const double want = OracleMargin(m, X.data() + r * d, g);
            ASSERT_EQ(out[r * 2 + g], want) << "flavor " << int(flavor) << " block " << block << " n " << n << " row " << r;
            ASSERT_EQ(out_d[r * 2 + g], want) << "float64 input, row " << r;
          }
        }
      }
    }
  }
}

// A random tree over numeric features [0, 3) and categorical features 3..5
// of kCatK categories: category sets of one category (XGBoost's one-hot
// splits) or many, spanning up to ceil(k / 64) words (sometimes fewer, as
// files store only the words up to their highest category).
constexpr int32_t kCatK[3] = {2, 40, 130};
Tree RandomMixedTree(int max_depth, bool lightgbm, std::mt19937_64& rng) {
  Tree t = RandomNumericTree(max_depth, 6, lightgbm, rng);
  for (int32_t i = 0; i < t.num_nodes(); ++i) {
    if (t.left[i] < 0 || t.feature[i] < 3) continue;
    if (!std::isfinite(t.threshold[i])) t.threshold[i] = 0.5;  // an uncoded numeric split keeps the node walk
    const int32_t k = kCatK[t.feature[i] - 3];
    t.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
    t.cat_begin[i] = static_cast<int32_t>(t.cat_bits.size());
    const int32_t words = 1 + static_cast<int32_t>(rng() % ((k + 63) / 64));
    t.cat_words[i] = words;
    std::vector<uint64_t> set(words, 0);
    if (rng() % 3 == 0) {
      const int32_t c = static_cast<int32_t>(rng() % std::min(k, 64 * words));
      set[c / 64] |= uint64_t{1} << (c % 64);
    } else {
      for (int32_t c = 0; c < std::min(k, 64 * words); ++c) set[c / 64] |= static_cast<uint64_t>(rng() % 2) << (c % 64);
    }
    t.cat_bits.insert(t.cat_bits.end(), set.begin(), set.end());
  }
  return t;
}

// A value of categorical feature f: a category, one past all, far out,
// negative, fractional, NaN or infinite.
float RandomCategory(int f, std::mt19937_64& rng) {
  const int32_t k = kCatK[f - 3];
  switch (rng() % 16) {
    case 0: return NAN;
    case 1: return -1.0f;
    case 2: return -0.5f;
    case 3: return -0.0f;
    case 4: return static_cast<float>(rng() % (k + 70)) + 0.5f;
    case 5: return static_cast<float>(k + rng() % 200);
    case 6: return 1e9f;
    case 7: return rng() % 2 ? INFINITY : -INFINITY;
    case 8: return 3e38f;
    default: return static_cast<float>(rng() % k);
  }
}

// Trees mixing numeric and categorical splits (sets of 1 to 3 words, values
// missing, unseen, negative, fractional, huge), every depth of the complete
// walk and beyond it (the early-exit walk), every SIMD level, both input
// precisions, 1 and 2 threads: every margin equals the oracle's, bit for bit.
TEST(TreeEnsemble, CategoricalSplitsInTheVectorWalksEqualAnOracle) {
  std::mt19937_64 rng(27);
  const int d = 6;
  for (TreeFlavor flavor : {TreeFlavor::kXGBoost, TreeFlavor::kLightGBM}) {
    TreeModel m;
    m.flavor = flavor;
    m.num_features = d;
    m.base_margin = {0.5};
    for (int depth = 1; depth <= 12; ++depth) {
      for (int k = 0; k < 3; ++k) m.trees.push_back(RandomMixedTree(depth, flavor == TreeFlavor::kLightGBM, rng));
    }
    auto e = TreeEnsemble::Build(m);
    ASSERT_TRUE(e.ok()) << e.status();
    for (int64_t n : {4, 9, 33, 203}) {
      std::vector<float> X(n * d);
      for (int64_t r = 0; r < n; ++r) {
        for (int f = 0; f < d; ++f) {
          X[r * d + f] = f < 3 ? static_cast<float>(static_cast<int64_t>(rng() % 49) - 24) / 8.0f : RandomCategory(f, rng);
        }
      }
      std::vector<double> Xd(X.begin(), X.end());
      for (SimdLevel level : SupportedSimdLevels()) {
        ASSERT_TRUE(OverrideSimdLevelForTesting(static_cast<int>(level)));
        for (int threads : {1, 2}) {
          ASSERT_TRUE(SetNumThreads(threads).ok());
          std::vector<double> out(n), out_d(n);
          ASSERT_TRUE(e->PredictMargin(X, n, 0, 0, absl::MakeSpan(out)).ok());
          ASSERT_TRUE(e->PredictMargin(Xd, n, 0, 0, absl::MakeSpan(out_d)).ok());
          for (int64_t r = 0; r < n; ++r) {
            const double want = OracleMargin(m, X.data() + r * d, 0);
            ASSERT_EQ(out[r], want) << "flavor " << int(flavor) << " level " << SimdLevelName(level) << " n " << n
                                    << " row " << r;
            ASSERT_EQ(out_d[r], want) << "float64 input, level " << SimdLevelName(level) << " row " << r;
          }
        }
      }
    }
  }
  ASSERT_TRUE(OverrideSimdLevelForTesting(0));
  ASSERT_TRUE(SetNumThreads(0).ok());
}

// An XGBoost threshold below -FLT_MAX is -inf in float32, where the vector
// walk's "NaN as -inf goes left" would fail: such trees take the node walk,
// and a missing value still follows its default.
TEST(TreeEnsemble, XGBoostMinusInfinityThresholdKeepsMissingDefaults) {
  std::mt19937_64 rng(5);
  const int d = 3;
  TreeModel m;
  m.num_features = d;
  m.base_margin = {0.0};
  for (int depth : {1, 3, 6}) {
    for (uint8_t dl : {0, 1}) {
      m.trees.push_back(RandomNumericTree(depth, d, false, rng));
      m.trees.back().threshold[0] = -1e39;
      m.trees.back().default_left[0] = dl;
    }
  }
  auto e = TreeEnsemble::Build(m);
  ASSERT_TRUE(e.ok()) << e.status();
  const int64_t n = 40;
  std::vector<float> X(n * d);
  for (float& v : X) v = rng() % 3 == 0 ? NAN : static_cast<float>(static_cast<int64_t>(rng() % 49) - 24) / 8.0f;
  X[0] = -INFINITY;
  std::vector<double> out(n);
  ASSERT_TRUE(e->PredictMargin(X, n, 0, 0, absl::MakeSpan(out)).ok());
  for (int64_t r = 0; r < n; ++r) ASSERT_EQ(out[r], OracleMargin(m, X.data() + r * d, 0)) << "row " << r;
}

// LightGBM missing_type Zero at threshold +inf: zeros and NaN take the
// default, every other value goes left, +inf included (x <= +inf). The
// categorical split below keeps the tree on the node walk and TreeSHAP's
// general path, the ones that decide through GoRight.
TEST(TreeEnsemble, LightGBMZeroMissingInfinityThresholdSendsInfinityLeft) {
  for (uint8_t dl : {0, 1}) {
    TreeModel m;
    m.flavor = TreeFlavor::kLightGBM;
    m.num_features = 2;
    m.base_margin = {0.0};
    Tree t;
    t.Resize(5);
    t.left = {1, 3, -1, -1, -1};
    t.right = {2, 4, -1, -1, -1};
    t.feature = {0, 1, 0, 0, 0};
    t.kind = {static_cast<uint8_t>(SplitKind::kNumericZeroMissing), static_cast<uint8_t>(SplitKind::kCategorical), 0,
              0, 0};
    t.threshold = {INFINITY, 0, 0, 0, 0};
    t.default_left = {dl, 0, 0, 0, 0};
    t.cat_begin = {0, 0, 0, 0, 0};
    t.cat_words = {0, 1, 0, 0, 0};
    t.cat_bits = {0b0110};  // categories 1 and 2 go left
    t.value = {0, 0, 4, 1, 2};
    t.cover = {10, 6, 4, 3, 3};
    m.trees.push_back(t);
    TreeEnsemble e = Build(m);
    const float inf = INFINITY, nan = NAN;
    const std::vector<float> a = {inf, -inf, 5, 0, -0.0f, 1e-36f, nan, 3e38f};
    std::vector<float> X;
    std::vector<double> want;
    for (float v : a) {
      X.insert(X.end(), {v, 1.0f});
      const bool missing = std::isnan(v) || std::fabs(v) <= 1e-35f;
      want.push_back(missing && !dl ? 4.0 : 1.0);
    }
    EXPECT_EQ(Margins(e, X), want) << "default_left " << int(dl);
    std::vector<double> Xd(X.begin(), X.end()), out(want.size());
    ASSERT_TRUE(e.PredictMargin(absl::Span<const double>(Xd), static_cast<int64_t>(want.size()), 0, 0,
                                absl::MakeSpan(out))
                    .ok());
    EXPECT_EQ(out, want) << "float64, default_left " << int(dl);
    const int64_t n = static_cast<int64_t>(want.size());
    std::vector<double> phi(n * 3);
    ASSERT_TRUE(e.Contributions(X, n, 0, 0, absl::MakeSpan(phi)).ok());
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<double> brute = BruteShap(e, {X[2 * r], X[2 * r + 1]});
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(phi[r * 3 + j], brute[j], 1e-12) << "row " << r << " column " << j;
    }
  }
}

TEST(TreeEnsemble, IterationRangeAndBadCalls) {
  std::mt19937_64 rng(9);
  TreeEnsemble e = Build(RandomModel(TreeFlavor::kXGBoost, 6, rng));
  std::vector<float> X = RandomRows(3, rng);
  std::vector<double> all(3), first(3), rest(3);
  ASSERT_TRUE(e.PredictMargin(X, 3, 0, 0, absl::MakeSpan(all)).ok());
  ASSERT_TRUE(e.PredictMargin(X, 3, 0, 2, absl::MakeSpan(first)).ok());
  ASSERT_TRUE(e.PredictMargin(X, 3, 2, 6, absl::MakeSpan(rest)).ok());
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(all[i], first[i] + rest[i] - 0.25, 1e-6);
  EXPECT_EQ(e.PredictMargin(X, 3, 0, 7, absl::MakeSpan(all)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.PredictMargin(X, 2, 0, 0, absl::MakeSpan(all)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.PredictMargin(X, 3, 0, 0, absl::MakeSpan(all).subspan(1)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateModel, RejectsHostileStructures) {
  std::mt19937_64 rng(1);
  const TreeModel good = RandomModel(TreeFlavor::kXGBoost, 2, rng);
  ASSERT_TRUE(ValidateModel(good).ok());
  auto expect_bad = [&](auto mutate, const char* needle) {
    TreeModel m = good;
    mutate(m);
    absl::Status s = ValidateModel(m);
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s;
  };
  expect_bad([](TreeModel& m) { m.trees[0].left[1] = 99; }, "out of range");
  expect_bad([](TreeModel& m) { m.trees[0].left[1] = 0; }, "reached twice");
  expect_bad([](TreeModel& m) { m.trees[0].right[2] = 3; }, "reached twice");
  expect_bad([](TreeModel& m) { m.trees[0].threshold[0] = NAN; }, "threshold");
  expect_bad([](TreeModel& m) { m.trees[1].value[14] = INFINITY; }, "leaf value");
  expect_bad([](TreeModel& m) { m.trees[0].feature[0] = 4; }, "split feature");
  expect_bad([](TreeModel& m) { m.trees[0].cover.pop_back(); }, "different lengths");
  expect_bad([](TreeModel& m) { m.trees[0].group = 1; }, "group");
  expect_bad([](TreeModel& m) { m.trees_per_iteration = 3; }, "multiple");
  expect_bad([](TreeModel& m) {
    m.trees[0].kind[0] = static_cast<uint8_t>(SplitKind::kCategorical);
    m.trees[0].cat_begin[0] = 1000;
    m.trees[0].cat_words[0] = 1;
  }, "category set");
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

void ExpectDataError(const absl::StatusOr<TreeModel>& m, const char* needle) {
  ASSERT_FALSE(m.ok()) << needle;
  EXPECT_TRUE(m.status().code() == absl::StatusCode::kDataLoss ||
              m.status().code() == absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(m.status().message()).find(needle), std::string::npos) << m.status();
}

TEST(Loaders, RejectBadFilesWithClearErrors) {
  ExpectDataError(LoadXGBoost(""), "empty");
  ExpectDataError(LoadXGBoost("\x89PNG\r\n"), "not an XGBoost model");
  ExpectDataError(LoadXGBoost(kLgbText), "not an XGBoost model");
  ExpectDataError(LoadLightGBMText(kXgbJson), "not a LightGBM");
  ExpectDataError(LoadLightGBMText(""), "empty");
  const std::string x = kXgbJson;
  ExpectDataError(LoadXGBoostJson(x.substr(0, x.size() / 2)), "malformed");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"left_children\":[1,-1,3", "\"left_children\":[7,-1,3")),
                  "out of range");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"left_children\":[1,-1,3", "\"left_children\":[0,-1,3")),
                  "reached twice");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"split_conditions\":[0.5,", "\"split_conditions\":[1e999,")),
                  "threshold");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"right_children\":[2,-1,4,-1,-1]", "\"right_children\":[2,-1,4,-1]")),
                  "expected 5");
  ExpectDataError(LoadXGBoostJson(Replace(x, "binary:logistic", "binary:frobnicate")), "not supported");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"categories\":[1,3]", "\"categories\":[1,-3]")), "category");
  ExpectDataError(LoadXGBoostJson(Replace(x, "\"tree_info\":[0,0]", "\"tree_info\":[0,1]")), "group");
  const std::string l = kLgbText;
  ExpectDataError(LoadLightGBMText(l.substr(0, l.size() / 2)), "truncated");
  ExpectDataError(LoadLightGBMText(Replace(l, "left_child=-1 -2", "left_child=-1 -9")), "out of range");
  ExpectDataError(LoadLightGBMText(Replace(l, "left_child=-1 -2", "left_child=-1 0")), "reached twice");
  ExpectDataError(LoadLightGBMText(Replace(l, "threshold=0.10000000000000001", "threshold=nan")), "threshold");
  ExpectDataError(LoadLightGBMText(Replace(l, "leaf_value=0.1 0.2 -0.3", "leaf_value=0.1 0.2")), "expected 3");
  ExpectDataError(LoadLightGBMText(Replace(l, "num_leaves=3", "num_leaves=30000000")), "leaf_value");
  ExpectDataError(LoadLightGBMText(Replace(l, "is_linear=0", "is_linear=1")), "linear");
  ExpectDataError(LoadLightGBMText(Replace(l, "cat_threshold=10", "cat_threshold=abc")), "not an integer");
}

// ---------------------------------------------------------------- UBJSON

void Big(std::string& out, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  for (size_t i = 0; i < n; ++i) out.push_back(c[n - 1 - i]);
}

void Str(std::string& out, const std::string& s) {
  out.push_back('L');
  const int64_t n = static_cast<int64_t>(s.size());
  Big(out, &n, 8);
  out += s;
}

// Writes a document as UBJSON the way XGBoost does: typed float32 arrays for
// numbers, counted objects.
void Ubj(const json::Value& v, std::string& out) {
  using K = json::Value::Kind;
  switch (v.kind) {
    case K::kNull: out.push_back('Z'); break;
    case K::kBool: out.push_back(v.boolean ? 'T' : 'F'); break;
    case K::kNumber: {
      out.push_back('D');
      Big(out, &v.number, 8);
      break;
    }
    case K::kString: out.push_back('S'); Str(out, v.string); break;
    case K::kNumbers: {
      out += "[$d#L";
      const int64_t n = static_cast<int64_t>(v.numbers.size());
      Big(out, &n, 8);
      for (double d : v.numbers) {
        const float f = static_cast<float>(d);
        Big(out, &f, 4);
      }
      break;
    }
    case K::kArray:
      out.push_back('[');
      for (const auto& it : v.items) Ubj(it, out);
      out.push_back(']');
      break;
    case K::kObject:
      out.push_back('{');
      for (const auto& [k, m] : v.members) {
        const int64_t n = static_cast<int64_t>(k.size());
        out.push_back('L');
        Big(out, &n, 8);
        out += k;
        Ubj(m, out);
      }
      out.push_back('}');
      break;
  }
}

std::string XgbUbj() {
  auto doc = json::ParseJson(kXgbJson);
  EXPECT_TRUE(doc.ok()) << doc.status();
  std::string out;
  Ubj(*doc, out);
  return out;
}

TEST(XGBoostUbjson, SameModelAsTheJsonText) {
  const std::string ubj = XgbUbj();
  TreeEnsemble a = Build(LoadXGBoost(kXgbJson));
  TreeEnsemble b = Build(LoadXGBoost(ubj));
  std::vector<float> X = {0.2f, 0, NAN, 0, 1, 3, 1, 2, 1, NAN};
  EXPECT_EQ(Margins(a, X), Margins(b, X));
}

TEST(XGBoostUbjson, RejectsHugeLengthsWithoutAllocating) {
  // An array claiming 10 GB of float32 values in a 30-byte file.
  std::string bad = "{L";
  int64_t n = 7;
  Big(bad, &n, 8);
  bad += "learner[$d#L";
  n = int64_t{10} << 30;
  Big(bad, &n, 8);
  bad += "xxxx";
  ExpectDataError(LoadXGBoostUbjson(bad), "bytes left");
  ExpectDataError(LoadXGBoostUbjson("{$T#L\x7f\xff\xff\xff\xff\xff\xff\xff"), "unsupported container");
  std::string deep(100000, '[');
  ExpectDataError(LoadXGBoostUbjson(deep), "nesting");
  ExpectDataError(LoadXGBoostJson(std::string(100000, '[')), "nesting");
}

TEST(XGBoostUbjson, RefusesDocumentsMuchLargerInMemoryThanTheFile) {
  // One byte per item in the file, a whole Value per item in memory: 10 MB
  // of nulls took the process to 2.18 GB before the reader's memory bound.
  const std::string nulls = "[" + std::string(4'000'000, 'Z') + "]";
  ExpectDataError(LoadXGBoostUbjson(nulls), "times the file's size in memory");
  std::string empties = "[";
  for (int i = 0; i < 1'000'000; ++i) empties += "[],";
  empties += "[]]";
  ExpectDataError(LoadXGBoostJson(empties), "times the file's size in memory");
  // A flat array of numbers (what model files hold) stays within the bound,
  // in both forms, and the bound is what the tree really holds.
  std::string numbers = "[";
  for (int i = 0; i < 200'000; ++i) numbers += "0.5,";
  numbers += "1]";
  auto doc = json::ParseJson(numbers);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->size(), 200'001u);
  EXPECT_LE(json::Footprint(*doc), json::kMaxMemoryFactor * numbers.size());
  std::string ubj;
  Ubj(*doc, ubj);
  auto again = json::ParseUbjson(ubj);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->numbers, doc->numbers);
  // The model files of the tests parse well within it.
  const std::string text(kXgbJson), binary = XgbUbj();
  for (const auto& [file, model] : {std::pair{text, json::ParseJson(text)}, {binary, json::ParseUbjson(binary)}}) {
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_LE(json::Footprint(*model), json::kMaxMemoryFactor * file.size() + json::kMemoryFloor);
  }
}

// ---------------------------------------------------------------- fuzz

// Seeded mutations of valid files (truncate, flip, insert, splice): a loader
// may accept or refuse them, but must never crash, hang or read out of bounds
// (this also runs under AddressSanitizer); an accepted model must score.
void Fuzz(const std::string& seed_file, bool lightgbm, uint64_t seed, int cases) {
  std::mt19937_64 rng(seed);
  std::vector<float> X = {0.2f, 0, NAN, 1, 1, 3, -1, 1e30f};
  const char kBytes[] = "{}[]$#iUIlLdDSTFZN,:\"0123456789-.eE \n=";
  int accepted = 0;
  for (int c = 0; c < cases; ++c) {
    std::string s = seed_file;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t at = rng() % s.size();
      switch (rng() % 5) {
        case 0: s.resize(at); break;
        case 1: s[at] = static_cast<char>(s[at] ^ (1u << (rng() % 8))); break;
        case 2: s.insert(at, 1, kBytes[rng() % (sizeof(kBytes) - 1)]); break;
        case 3: s[at] = static_cast<char>(rng() & 0xff); break;
        case 4: {
          const size_t from = rng() % s.size();
          const size_t len = std::min<size_t>(rng() % 16, s.size() - from);
          s.insert(at, s.substr(from, len));
          break;
        }
      }
    }
    absl::StatusOr<TreeModel> m = lightgbm ? LoadLightGBMText(s) : LoadXGBoost(s);
    if (!m.ok()) {
      EXPECT_FALSE(m.status().message().empty());
      continue;
    }
    auto e = TreeEnsemble::Build(*std::move(m));
    if (!e.ok()) continue;
    ++accepted;
    const int64_t d = e->num_features();
    const int64_t n = 2;
    std::vector<float> rows(n * d, 0.5f);
    for (int64_t i = 0; i < n * d; ++i) rows[i] = X[i % X.size()];
    std::vector<double> out(n * e->num_groups()), phi(n * e->num_groups() * (d + 1));
    EXPECT_TRUE(e->PredictMargin(rows, n, 0, 0, absl::MakeSpan(out)).ok());
    EXPECT_TRUE(e->Contributions(rows, n, 0, 0, absl::MakeSpan(phi)).ok());
  }
  EXPECT_GT(accepted, 0);  // some mutations (e.g. in a leaf value) stay valid
}

TEST(Fuzz, XGBoostJsonMutations) { Fuzz(kXgbJson, false, 11, 3000); }
TEST(Fuzz, XGBoostUbjsonMutations) { Fuzz(XgbUbj(), false, 12, 3000); }
TEST(Fuzz, LightGBMTextMutations) { Fuzz(kLgbText, true, 13, 3000); }

}  // namespace
}  // namespace twinscore
