// Tree-ensemble scoring: gradient-boosted trees trained by XGBoost or LightGBM,
// loaded from their saved models (no dependency on either library), scored in
// batches and explained with exact TreeSHAP.
//
// Arrays are row-major and contiguous: X is n x d (d = the model's number of
// features), NaN means missing. Outputs are allocated by the caller with the
// sizes documented on each function. Results do not depend on the thread
// count: rows are split into fixed blocks and each row's sum runs over the
// trees in model order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "twinscore/common.h"

namespace twinscore {

namespace tree_deep {
struct Layout;
}

// Which library's split rules the model follows. XGBoost: a numeric split
// sends x < threshold left, compares in float32, and a categorical split sends
// the categories of its set right. LightGBM: x <= threshold goes left, in
// double, and the categories of the set go left.
enum class TreeFlavor : uint8_t { kXGBoost, kLightGBM };

enum class SplitKind : uint8_t {
  kNumeric = 0,
  kNumericZeroMissing = 1,  // LightGBM missing_type Zero: |x| <= 1e-35 and NaN take the default
  kCategorical = 2,
  // Internal to TreeEnsemble (loaders never produce it, ValidateModel refuses
  // it): a LightGBM split at threshold +inf, which sends every non-missing
  // value left, +inf included ("x < +inf" would send +inf right).
  kNumericNotMissingLeft = 3,
  // Internal as well: a LightGBM missing_type Zero split at threshold +inf.
  // Zeros and NaN take the default, every other value goes left, +inf included.
  kNumericZeroMissingNotMissingLeft = 4,
};

// What predict() applies to the margins (per value, or per row for softmax).
enum class OutputTransform : uint8_t {
  kIdentity,
  kSigmoid,        // 1 / (1 + exp(-sigmoid_scale * m))
  kExp,            // Poisson, gamma, Tweedie
  kSoftmax,        // per row over the groups (classes)
  kSoftmaxArgmax,  // the class of the largest margin (XGBoost multi:softmax)
  kHinge,          // 1 if m > 0 else 0 (XGBoost binary:hinge)
};

// One tree as read from a model file. Node 0 is the root; a leaf has
// left == right == -1. Internal nodes send a row to left or right.
struct Tree {
  std::vector<int32_t> left, right, feature;
  std::vector<double> threshold;      // numeric splits, the file's value
  std::vector<uint8_t> default_left;  // direction of a missing value
  std::vector<uint8_t> kind;          // SplitKind
  std::vector<double> value;          // leaf outputs (0 on internal nodes)
  std::vector<double> cover;          // training weight of each node (hessian sum or row count), for SHAP
  // Categorical node i: its category set is the bitset
  // cat_bits[cat_begin[i] .. cat_begin[i] + cat_words[i]) (bit c = category c).
  std::vector<int32_t> cat_begin, cat_words;
  std::vector<uint64_t> cat_bits;
  int32_t group = 0;  // the output (class) this tree adds to

  int32_t num_nodes() const { return static_cast<int32_t>(left.size()); }
  // Resizes every node array to n nodes (leaves, value 0).
  void Resize(int32_t n);
};

struct TreeModel {
  TreeFlavor flavor = TreeFlavor::kXGBoost;
  int32_t num_features = 0;
  int32_t num_groups = 1;           // outputs per row (classes for multiclass)
  int32_t trees_per_iteration = 1;  // trees added by one boosting round
  std::vector<std::string> feature_names;  // may be empty
  std::vector<std::string> feature_types;  // XGBoost "q"/"c"/..., LightGBM "numeric"/"categorical"; may be empty
  std::vector<double> base_margin;         // per group, added to every row's margin
  std::string objective;
  OutputTransform transform = OutputTransform::kIdentity;
  double sigmoid_scale = 1.0;
  bool average_output = false;  // LightGBM random forest: margins are tree averages
  int64_t best_iteration = -1;  // from the file, -1 when absent
  // Categories of each feature as the training data named them (XGBoost >= 3.1
  // keeps them; empty otherwise): index c of a category split is names[c]
  // (string categories) or values[c] (numeric categories).
  std::vector<std::vector<std::string>> category_names;
  std::vector<std::vector<double>> category_values;
  std::vector<Tree> trees;

  int64_t num_iterations() const {
    return trees_per_iteration > 0 ? static_cast<int64_t>(trees.size()) / trees_per_iteration : 0;
  }
};

// Loaders. They read the whole model and check it (ValidateModel); a file
// that is not a model of the expected kind, is truncated or inconsistent
// fails with DataLoss or InvalidArgument naming what was wrong.
absl::StatusOr<TreeModel> LoadXGBoostJson(absl::string_view text);
absl::StatusOr<TreeModel> LoadXGBoostUbjson(absl::string_view bytes);
// Either format, told apart by the first byte ('{' followed by '"' or space is JSON).
absl::StatusOr<TreeModel> LoadXGBoost(absl::string_view bytes);
absl::StatusOr<TreeModel> LoadLightGBMText(absl::string_view text);

// Checks every invariant the scorer relies on: array sizes, child indices in
// range, each node reached exactly once from the root (no cycle, no sharing),
// features < num_features, finite thresholds and leaf values, categorical
// bitsets in range, groups < num_groups, tree count a multiple of
// trees_per_iteration.
absl::Status ValidateModel(const TreeModel& model);

struct TreeScorerOptions {
  // Rows scored together against one tree while it is in cache. 16..4096.
  int64_t block_rows = 64;
  // Largest table of precomputed SHAP weights one tree may use in
  // Contributions (8 * D * 2^D bytes per leaf with D distinct features on its
  // path; tables live for one call, at most 4 * shap_table_bytes of them at a time).
  // Trees that need more, and calls with too few rows to repay a table, run
  // the recursive TreeSHAP instead; both are exact. 0: always recursive.
  // 0..2^30.
  int64_t shap_table_bytes = int64_t{16} << 20;
  absl::Status Validate() const;
};

// A validated model flattened for batch scoring: each tree's nodes in one
// array, siblings adjacent (right = left + 1), 16 bytes a node.
class TreeEnsemble {
 public:
  static absl::StatusOr<TreeEnsemble> Build(TreeModel model, TreeScorerOptions options = {});

  const TreeModel& model() const { return model_; }
  int32_t num_features() const { return model_.num_features; }
  int32_t num_groups() const { return model_.num_groups; }
  int64_t num_iterations() const { return model_.num_iterations(); }
  // Values predict() returns per row: 1 for argmax/single output, else num_groups.
  int32_t num_outputs() const;

  // Margins of n rows over the boosting rounds [begin, end) (end <= 0: all),
  // base margin included. out: n * num_groups. float64 input follows the
  // model's library: XGBoost rounds it to float32, LightGBM compares doubles.
  absl::Status PredictMargin(absl::Span<const float> X, int64_t n, int64_t begin, int64_t end,
                             absl::Span<double> out) const;
  absl::Status PredictMargin(absl::Span<const double> X, int64_t n, int64_t begin, int64_t end,
                             absl::Span<double> out) const;

  // Applies the output transform: margins n * num_groups -> out n * num_outputs().
  absl::Status Transform(absl::Span<const double> margins, int64_t n, absl::Span<double> out) const;

  // Exact TreeSHAP (path-dependent, Lundberg et al. 2018): for each row and
  // group, one value per feature then the bias (base margin + expected tree
  // outputs); they sum to the margin. out: n * num_groups * (d + 1).
  // Computed with per-tree tables of SHAP weights (tree_shap.cpp), see
  // TreeScorerOptions::shap_table_bytes.
  absl::Status Contributions(absl::Span<const float> X, int64_t n, int64_t begin, int64_t end,
                             absl::Span<double> out) const;
  absl::Status Contributions(absl::Span<const double> X, int64_t n, int64_t begin, int64_t end,
                             absl::Span<double> out) const;
  // How many trees Contributions on n rows (all iterations) computes from
  // tables of SHAP weights; the others run the recursion.
  int64_t ShapTableTrees(int64_t n) const;

  struct FlatNode {
    float threshold;     // go left iff x < threshold (numeric); bitset id (categorical); NaN on a leaf
    int32_t feature;     // 0 on a leaf
    int32_t child;       // left child (right = child + 1), tree-local index; a leaf's own index - 1
    uint8_t default_left;
    uint8_t kind;
    uint16_t unused;
  };
  struct CatSet {
    int32_t begin, words;  // into cat_bits_
    uint8_t set_right;     // a category of the set goes right (XGBoost) or left (LightGBM)
  };

 private:
  template <class T, class C>
  absl::Status PredictImpl(absl::Span<const T> X, int64_t n, int64_t begin, int64_t end, absl::Span<double> out) const;
  // PredictImpl's path for a few rows (kFewRows in trees.cpp).
  template <class T, class C>
  absl::Status PredictFewRows(const T* x, int64_t n, size_t t0, size_t t1, double scale, absl::Span<double> out) const;
  // Copies rows [rb, re) of x into xs with the categorical features as codes.
  template <class T, class C>
  void CodeCategories(const T* x, size_t rb, size_t re, std::vector<T>& xs) const;
  template <class T, class C>
  absl::Status ContribImpl(absl::Span<const T> X, int64_t n, int64_t begin, int64_t end, absl::Span<double> out) const;
  absl::Status CheckCall(size_t x_size, int64_t n, int64_t& begin, int64_t& end, size_t out_size,
                         size_t out_per_row) const;

  TreeModel model_;
  TreeScorerOptions options_;
  std::vector<FlatNode> nodes_;        // all trees, one after the other
  std::vector<double> threshold_d_;    // per flat node: go left iff x < threshold_d (double input, LightGBM)
  std::vector<double> value_;          // per flat node: leaf output
  std::vector<double> cover_;          // per flat node: training cover, for SHAP
  std::vector<float> value_f_;         // per flat node: leaf output as float32 (XGBoost sums)
  std::vector<uint8_t> is_leaf_;       // per flat node
  std::vector<int32_t> tree_depth_;    // per tree: its deepest leaf
  std::vector<int32_t> tree_group_;    // per tree: its output group
  std::vector<uint8_t> tree_slow_;     // per tree: has a categorical or zero-missing split
  // Per feature: its categories as the vector walks code them (tree_nodes.h),
  // -1 for a feature some split reads as a number; any_fast_cat_: some >= 0.
  std::vector<int32_t> cat_k_;
  bool any_fast_cat_ = false;
  // Per flat node: the offset in cat_tables_ of its table of one bit per code
  // (a categorical split of a coded feature; tree_nodes.h), else -1.
  std::vector<int32_t> node_table_;
  std::vector<uint32_t> cat_tables_;
  // Complete layout of shallow trees (see BuildComplete), -1 if none.
  static constexpr int32_t kMaxCompleteDepth = 10;
  void BuildComplete(bool xgb, int32_t num_features);
  std::vector<int64_t> complete_offset_;
  std::vector<float> cthr_;
  std::vector<int32_t> cfeat_;
  std::vector<float> cleaf_f_;
  std::vector<double> cleaf_d_;
  std::vector<uint8_t> complete_cat_;  // per tree: its complete layout has categorical nodes
  std::vector<int64_t> tree_offset_;   // first flat node of each tree
  std::vector<CatSet> cats_;
  std::vector<uint64_t> cat_bits_;
  std::vector<double> expected_;       // per tree: cover-weighted mean leaf value
  // The early-exit walk (tree_deep.h);
  // shared by copies, never changed after Build.
  std::shared_ptr<const tree_deep::Layout> deep_;
  int32_t max_depth_ = 0;
};

}  // namespace twinscore
