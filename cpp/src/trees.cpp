// Tree-ensemble scoring: validation, the flat layout, the blocked batch
// kernel and output transforms (TreeSHAP is in tree_shap.cpp).
#include "twinscore/trees.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "tree_deep.h"
#include "tree_kernels.h"
#include "tree_nodes.h"
#include "twinscore/threads.h"

namespace twinscore {

namespace {

// Deepest tree accepted: SHAP keeps O(depth^2) path state per thread.
constexpr int32_t kMaxDepth = 1024;

absl::Status Invalid(int64_t tree, int64_t node, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("invalid model: tree ", tree, " node ", node, ": ", what));
}

// The largest float <= t (t finite).
float FloatAtMost(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// Per feature, its number of categories as the vector walks code them
// (tree_nodes.h): 1 + its highest category in any set of the model; -1 when
// some split reads it as a number (the code would hide the value), when
// nothing splits on it, or when it has too many categories.
std::vector<int32_t> FastCategoryCounts(const TreeModel& m) {
  std::vector<int32_t> k(m.num_features, -1);
  std::vector<uint8_t> numeric(m.num_features, 0);
  for (const Tree& tr : m.trees) {
    for (int32_t i = 0; i < tr.num_nodes(); ++i) {
      if (tr.left[i] < 0) continue;
      const int32_t f = tr.feature[i];
      if (tr.kind[i] != static_cast<uint8_t>(SplitKind::kCategorical)) {
        numeric[f] = 1;
        continue;
      }
      int64_t top = 0;  // 1 + the highest category of the set
      for (int32_t w = 0; w < tr.cat_words[i]; ++w) {
        const uint64_t word = tr.cat_bits[tr.cat_begin[i] + w];
        if (word) top = int64_t{64} * w + 64 - __builtin_clzll(word);
      }
      k[f] = static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(k[f], top), tree_nodes::kMaxFastCategories + 1));
    }
  }
  for (int32_t f = 0; f < m.num_features; ++f) {
    if (numeric[f] || k[f] > tree_nodes::kMaxFastCategories) k[f] = -1;
  }
  return k;
}

}  // namespace

absl::Status ValidateModel(const TreeModel& m) {
  if (m.num_features < 1) return absl::DataLossError("invalid model: it has no features");
  if (m.num_groups < 1) return absl::DataLossError("invalid model: it has no outputs");
  if (static_cast<int32_t>(m.base_margin.size()) != m.num_groups) {
    return absl::DataLossError(absl::StrCat("invalid model: ", m.base_margin.size(), " base margins for ",
                                            m.num_groups, " outputs"));
  }
  for (double b : m.base_margin) {
    if (!std::isfinite(b)) return absl::DataLossError("invalid model: a base margin is not finite");
  }
  if (m.trees_per_iteration < 1 || m.trees.size() % m.trees_per_iteration != 0) {
    return absl::DataLossError(absl::StrCat("invalid model: ", m.trees.size(), " trees is not a multiple of ",
                                            m.trees_per_iteration, " trees per iteration"));
  }
  if (!m.feature_names.empty() && static_cast<int32_t>(m.feature_names.size()) != m.num_features) {
    return absl::DataLossError(absl::StrCat("invalid model: ", m.feature_names.size(), " feature names for ",
                                            m.num_features, " features"));
  }
  if (m.transform == OutputTransform::kSigmoid && !std::isfinite(m.sigmoid_scale)) {
    return absl::DataLossError("invalid model: sigmoid scale is not finite");
  }
  std::vector<int32_t> seen, depth, stack;
  for (size_t t = 0; t < m.trees.size(); ++t) {
    const Tree& tr = m.trees[t];
    const int32_t n = tr.num_nodes();
    if (n < 1) return Invalid(t, 0, "the tree has no node");
    const size_t un = static_cast<size_t>(n);
    if (tr.right.size() != un || tr.feature.size() != un || tr.threshold.size() != un ||
        tr.default_left.size() != un || tr.kind.size() != un || tr.value.size() != un || tr.cover.size() != un ||
        tr.cat_begin.size() != un || tr.cat_words.size() != un) {
      return Invalid(t, 0, "node arrays of different lengths");
    }
    if (tr.group < 0 || tr.group >= m.num_groups) return Invalid(t, 0, absl::StrCat("output group ", tr.group));
    // Walk from the root: every child in range and reached once (a cycle or a
    // shared child would be reached twice), depth bounded.
    seen.assign(n, 0);
    depth.assign(n, 0);
    stack.assign(1, 0);
    seen[0] = 1;
    while (!stack.empty()) {
      const int32_t i = stack.back();
      stack.pop_back();
      const int32_t l = tr.left[i], r = tr.right[i];
      if (l == -1 && r == -1) {
        if (!std::isfinite(tr.value[i])) return Invalid(t, i, "leaf value is not finite");
        if (!(tr.cover[i] >= 0) || !std::isfinite(tr.cover[i])) return Invalid(t, i, "cover is not a finite >= 0");
        continue;
      }
      for (int32_t c : {l, r}) {
        if (c < 0 || c >= n) return Invalid(t, i, absl::StrCat("child index ", c, " out of range [0, ", n, ")"));
        if (seen[c]) return Invalid(t, i, absl::StrCat("child ", c, " is reached twice (a cycle or shared node)"));
        seen[c] = 1;
        depth[c] = depth[i] + 1;
        if (depth[c] > kMaxDepth) return Invalid(t, i, absl::StrCat("the tree is deeper than ", kMaxDepth));
        stack.push_back(c);
      }
      if (l == r) return Invalid(t, i, "both children are the same node");
      if (tr.feature[i] < 0 || tr.feature[i] >= m.num_features) {
        return Invalid(t, i, absl::StrCat("split feature ", tr.feature[i], " not in [0, ", m.num_features, ")"));
      }
      if (!(tr.cover[i] >= 0) || !std::isfinite(tr.cover[i])) return Invalid(t, i, "cover is not a finite >= 0");
      switch (static_cast<SplitKind>(tr.kind[i])) {
        case SplitKind::kNumeric:
        case SplitKind::kNumericZeroMissing:
          // LightGBM writes +inf for a split of the missing values from all
          // others; XGBoost never writes an infinite threshold.
          if (std::isnan(tr.threshold[i]) || (m.flavor == TreeFlavor::kXGBoost && std::isinf(tr.threshold[i]))) {
            return Invalid(t, i, "threshold is not finite");
          }
          break;
        case SplitKind::kCategorical: {
          const int64_t b = tr.cat_begin[i], w = tr.cat_words[i];
          if (b < 0 || w < 0 || b + w > static_cast<int64_t>(tr.cat_bits.size())) {
            return Invalid(t, i, "category set out of range");
          }
          break;
        }
        default:
          return Invalid(t, i, absl::StrCat("unknown split kind ", int(tr.kind[i])));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status TreeScorerOptions::Validate() const {
  TWINSCORE_CHECK_ARG(block_rows >= 16 && block_rows <= 4096, "block_rows must be in [16, 4096], got ", block_rows);
  TWINSCORE_CHECK_ARG(shap_table_bytes >= 0 && shap_table_bytes <= (int64_t{1} << 30),
                      "shap_table_bytes must be in [0, 2^30], got ", shap_table_bytes);
  return absl::OkStatus();
}

int32_t TreeEnsemble::num_outputs() const {
  return model_.transform == OutputTransform::kSoftmaxArgmax ? 1 : model_.num_groups;
}

absl::StatusOr<TreeEnsemble> TreeEnsemble::Build(TreeModel model, TreeScorerOptions options) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(ValidateModel(model));
  TreeEnsemble e;
  e.options_ = options;
  const bool xgb = model.flavor == TreeFlavor::kXGBoost;
  std::vector<int32_t> order, depth;
  for (const Tree& tr : model.trees) {
    const int64_t base = static_cast<int64_t>(e.nodes_.size());
    e.tree_offset_.push_back(base);
    // Breadth-first renumbering: the children of a node take two consecutive
    // slots, so a node stores only its left child.
    order.assign(1, 0);
    depth.assign(1, 0);
    std::vector<int32_t> flat(tr.num_nodes(), -1);
    flat[0] = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const int32_t i = order[k];
      if (tr.left[i] >= 0) {
        flat[tr.left[i]] = static_cast<int32_t>(order.size());
        order.push_back(tr.left[i]);
        depth.push_back(depth[k] + 1);
        flat[tr.right[i]] = static_cast<int32_t>(order.size());
        order.push_back(tr.right[i]);
        depth.push_back(depth[k] + 1);
      }
      e.max_depth_ = std::max(e.max_depth_, depth[k]);
    }
    int32_t pos = 0;
    for (int32_t i : order) {
      FlatNode nd{};
      double td = 0;
      const bool leaf = tr.left[i] < 0;
      if (leaf) {
        // A leaf is a fixed point of the step "i = child + right": its NaN
        // threshold sends every value right (NaN too: default right) and
        // child + 1 is the leaf itself, so rows can step a fixed number of
        // times without testing for leaves.
        nd.feature = 0;
        nd.child = pos - 1;
        nd.default_left = 0;
        nd.threshold = std::numeric_limits<float>::quiet_NaN();
        td = std::numeric_limits<double>::quiet_NaN();
      } else {
        nd.feature = tr.feature[i];
        nd.child = flat[tr.left[i]];
        nd.default_left = tr.default_left[i];
        nd.kind = tr.kind[i];
        if (tr.kind[i] == static_cast<uint8_t>(SplitKind::kCategorical)) {
          const int32_t id = static_cast<int32_t>(e.cats_.size());
          e.cats_.push_back(CatSet{static_cast<int32_t>(e.cat_bits_.size()), tr.cat_words[i], uint8_t(xgb ? 1 : 0)});
          e.cat_bits_.insert(e.cat_bits_.end(), tr.cat_bits.begin() + tr.cat_begin[i],
                             tr.cat_bits.begin() + tr.cat_begin[i] + tr.cat_words[i]);
          std::memcpy(&nd.threshold, &id, sizeof(id));
        } else if (xgb) {
          nd.threshold = static_cast<float>(tr.threshold[i]);
        } else {
          // LightGBM: x <= t goes left. For a float x that is x < the float
          // after the largest float <= t; for a double x, x < nextafter(t).
          const double t = tr.threshold[i];
          nd.threshold = std::nextafter(FloatAtMost(t), std::numeric_limits<float>::infinity());
          td = std::nextafter(t, std::numeric_limits<double>::infinity());
          if (t == std::numeric_limits<double>::infinity()) {
            nd.kind = static_cast<uint8_t>(nd.kind == static_cast<uint8_t>(SplitKind::kNumeric)
                                               ? SplitKind::kNumericNotMissingLeft
                                               : SplitKind::kNumericZeroMissingNotMissingLeft);
          }
        }
      }
      e.nodes_.push_back(nd);
      e.threshold_d_.push_back(td);
      e.value_.push_back(leaf ? tr.value[i] : 0.0);
      e.value_f_.push_back(leaf ? static_cast<float>(tr.value[i]) : 0.0f);
      e.is_leaf_.push_back(leaf);
      e.cover_.push_back(tr.cover[i]);
      ++pos;
    }
    int32_t tree_depth = 0;
    for (int32_t dd : depth) tree_depth = std::max(tree_depth, dd);
    e.tree_depth_.push_back(tree_depth);
    // Expected output of the tree under its training distribution (cover-weighted leaves).
    double num = 0;
    const double root_cover = tr.cover[0];
    for (int32_t i = 0; i < tr.num_nodes(); ++i) {
      if (tr.left[i] < 0 && flat[i] >= 0) num += tr.value[i] * tr.cover[i];
    }
    e.expected_.push_back(tr.left[0] < 0 ? tr.value[0] : (root_cover > 0 ? num / root_cover : 0.0));
  }
  for (size_t t = 0; t < e.tree_offset_.size(); ++t) {
    const int64_t b = e.tree_offset_[t];
    const int64_t end = t + 1 < e.tree_offset_.size() ? e.tree_offset_[t + 1] : e.nodes_.size();
    uint8_t slow = 0;
    for (int64_t i = b; i < end; ++i) slow |= e.nodes_[i].kind != static_cast<uint8_t>(SplitKind::kNumeric);
    e.tree_slow_.push_back(slow);
  }
  for (const Tree& tr : model.trees) e.tree_group_.push_back(tr.group);
  e.cat_k_ = FastCategoryCounts(model);
  for (int32_t k : e.cat_k_) e.any_fast_cat_ |= k >= 0;
  e.node_table_.assign(e.nodes_.size(), -1);
  for (size_t i = 0; i < e.nodes_.size(); ++i) {
    const FlatNode& nd = e.nodes_[i];
    if (e.is_leaf_[i] || nd.kind != static_cast<uint8_t>(SplitKind::kCategorical) || e.cat_k_[nd.feature] < 0) continue;
    int32_t id;
    std::memcpy(&id, &nd.threshold, sizeof(id));
    const CatSet& s = e.cats_[id];
    e.node_table_[i] = tree_nodes::AppendRightBits(e.cat_bits_.data() + s.begin, s.words, s.set_right,
                                                   nd.default_left, e.cat_k_[nd.feature], e.cat_tables_);
  }
  // The vector walks read a table of <= 8 words as 8 (and data() is not null).
  e.cat_tables_.resize(e.cat_tables_.size() + 8, 0u);
  e.BuildComplete(xgb, model.num_features);
  auto deep = std::make_shared<tree_deep::Layout>();
  for (size_t t = 0; t < model.trees.size(); ++t) deep->AppendTree(model.trees[t], e.tree_offset_[t], xgb, e.cat_k_);
  deep->cat_bits.resize(deep->cat_bits.size() + 8, 0u);  // the walk reads a short table as 8 words
  e.deep_ = std::move(deep);
  e.model_ = std::move(model);
  return e;
}

// Shallow trees are also laid out complete: level by level, node p
// has children 2p+1 and 2p+2 and a leaf above the last level is repeated
// under its whole subtree. A step is then idx = 2 idx + 1 + right: no child to
// load, 8 bytes a node (threshold, feature with the default direction in its
// top bit), which an AVX2 kernel walks 8 rows at a time.
//
// The vector walk compares x < threshold for XGBoost and x <= threshold for
// LightGBM, which for a float32 x is x <= the largest float <= the file's
// threshold: exact for every threshold, +inf included.
//
// XGBoost rows come in two copies (PredictImpl): features [0, d) with NaN as
// +inf, [d, 2d) with NaN as -inf. With a threshold t > -inf, "x < t" sends
// +inf right and -inf left, exactly where XGBoost sends a missing value whose
// default is right or left; so an XGBoost node stores feature + d when its
// default is left and its step is one compare, with no NaN test. A float32
// threshold of -inf (never written by XGBoost, whose thresholds are float32)
// would break this: such a tree takes the node walk.
//
// A categorical split of a feature whose values the walk reads as codes
// (cat_k_ >= 0) is a table of one bit per code (tree_nodes.h, tree_kernels.h);
// trees with other categorical or zero-missing splits take the node walk.
void TreeEnsemble::BuildComplete(bool xgb, int32_t num_features) {
  static_assert(kMaxCompleteDepth == kernels::kMaxCompleteKernelDepth);
  for (size_t t = 0; t < tree_offset_.size(); ++t) {
    const int32_t D = tree_depth_[t];
    const int64_t off = tree_offset_[t];
    const int64_t end = t + 1 < tree_offset_.size() ? tree_offset_[t + 1] : static_cast<int64_t>(nodes_.size());
    bool ok = true, cat = false;
    for (int64_t i = off; i < end; ++i) {
      const bool is_cat = nodes_[i].kind == static_cast<uint8_t>(SplitKind::kCategorical);
      cat |= is_cat;
      ok &= nodes_[i].kind == static_cast<uint8_t>(SplitKind::kNumeric) ||
            nodes_[i].kind == static_cast<uint8_t>(SplitKind::kNumericNotMissingLeft) ||
            (is_cat && node_table_[i] >= 0);
      ok &= !(xgb && !is_leaf_[i] && !is_cat && nodes_[i].threshold == -std::numeric_limits<float>::infinity());
    }
    ok &= 2 * int64_t{num_features} <= kernels::kFeatureBits;
    complete_cat_.push_back(ok && cat);
    if (!ok || D < 1 || D > kMaxCompleteDepth) {
      complete_offset_.push_back(-1);
      continue;
    }
    const int64_t inner = (int64_t{1} << D) - 1;
    const int64_t base = static_cast<int64_t>(cthr_.size());
    complete_offset_.push_back(base);
    // 2^D slots per tree in every array (the inner arrays waste one) so one
    // offset serves the nodes and the leaves.
    cthr_.resize(base + inner + 1, 0.0f);
    cfeat_.resize(base + inner + 1, 0);
    cleaf_f_.resize(base + inner + 1, 0.0f);
    cleaf_d_.resize(base + inner + 1, 0.0);
    // (flat node, complete slot, level) still to place.
    struct Item {
      int32_t i;
      int64_t p;
      int32_t level;
    };
    std::vector<Item> stack{{0, 0, 0}};
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      const FlatNode& nd = nodes_[off + it.i];
      if (it.level == D) {
        cleaf_f_[base + it.p - inner] = value_f_[off + it.i];
        cleaf_d_[base + it.p - inner] = value_[off + it.i];
        continue;
      }
      const bool leaf = is_leaf_[off + it.i];
      if (!leaf && nd.kind == static_cast<uint8_t>(SplitKind::kCategorical)) {
        const int32_t table = node_table_[off + it.i];
        const int32_t words = tree_nodes::RightBitsWords(cat_k_[nd.feature]);
        const uint32_t slot = words == 1 ? cat_tables_[table] : static_cast<uint32_t>(table);
        std::memcpy(&cthr_[base + it.p], &slot, sizeof(slot));
        cfeat_[base + it.p] = nd.feature | kernels::kCatNode |
                              (words == 1 ? kernels::kCatInline : words <= 8 ? kernels::kCatShort : 0);
      } else if (!leaf) {
        if (xgb) {
          cthr_[base + it.p] = nd.threshold;
        } else if (nd.kind == static_cast<uint8_t>(SplitKind::kNumericNotMissingLeft)) {
          cthr_[base + it.p] = std::numeric_limits<float>::infinity();
        } else {  // undo the "x < next float" of the flat node
          cthr_[base + it.p] = std::nextafter(nd.threshold, -std::numeric_limits<float>::infinity());
        }
        if (xgb) {
          cfeat_[base + it.p] = nd.feature + (nd.default_left ? num_features : 0);
        } else {
          cfeat_[base + it.p] = nd.feature | (nd.default_left ? INT32_MIN : 0);
        }
      }
      stack.push_back({leaf ? it.i : nd.child, 2 * it.p + 1, it.level + 1});
      stack.push_back({leaf ? it.i : nd.child + 1, 2 * it.p + 2, it.level + 1});
    }
  }
  // The vector walk reads a level of up to 8 nodes (and the leaves of trees
  // of depth <= 3) as 8 values from the level's first slot: pad the end.
  cthr_.resize(cthr_.size() + 8, 0.0f);
  cfeat_.resize(cfeat_.size() + 8, 0);
  cleaf_f_.resize(cleaf_f_.size() + 8, 0.0f);
  cleaf_d_.resize(cleaf_d_.size() + 8, 0.0);
}

// The block rows the vector walks read: as the caller's, but the values of
// the features coded for them (cat_k_ >= 0) replaced by their codes. C is
// the comparison precision, in which XGBoost (float32) and LightGBM (double)
// truncate a category.
template <class T, class C>
void TreeEnsemble::CodeCategories(const T* x, size_t rb, size_t re, std::vector<T>& xs) const {
  const int64_t d = model_.num_features;
  const bool xgb = model_.flavor == TreeFlavor::kXGBoost;
  xs.assign(x + rb * d, x + re * d);
  for (int64_t f = 0; f < d; ++f) {
    const int32_t k = cat_k_[f];
    if (k < 0) continue;
    for (size_t r = 0; r < re - rb; ++r) {
      T& v = xs[r * d + f];
      v = static_cast<T>(tree_nodes::CategoryCode(static_cast<C>(v), k, xgb));
    }
  }
}
// TreeSHAP (tree_shap.cpp) codes its blocks too.
template void TreeEnsemble::CodeCategories<float, float>(const float*, size_t, size_t, std::vector<float>&) const;
template void TreeEnsemble::CodeCategories<double, float>(const double*, size_t, size_t, std::vector<double>&) const;
template void TreeEnsemble::CodeCategories<double, double>(const double*, size_t, size_t, std::vector<double>&) const;

namespace {

using tree_nodes::CategoryRight;
using tree_nodes::CatSet;
using tree_nodes::FlatNode;
using tree_nodes::GoRight;

// Up to this many rows, PredictImpl walks each row alone on the calling
// thread (FewRowLeaves) instead of the 8-lane batch walks, which for a single
// row fill 8 lanes with copies of it, transpose a block and cost as much as 8
// rows. Zen 3, 200 XGBoost trees of depth 6, a call from Python (loaded):
// 1 row alone 4.1 µs, 2 rows 6.4; 1 to 8 rows in the batch walk 12.9.
constexpr int64_t kFewRows = 3;

// Trees walked side by side for one row: their chains of dependent loads
// overlap, where one tree after the other would wait on each load.
constexpr int kTreeLanes = 8;

// What the few-row walks read: the flat trees, and for XGBoost the complete
// layout (BuildComplete) with the row's two copies (NaN as +inf, then -inf).
struct FewRowTrees {
  const FlatNode* nodes;
  const double* threshold_d;
  const int64_t* offset;
  const int32_t* depth;
  const uint8_t* slow;
  const CatSet* cats;
  const uint64_t* bits;
  bool xgb;
  const int64_t* complete;  // per tree: its complete layout, -1 if none
  const uint8_t* complete_cat;  // per tree: its complete layout has categorical nodes (read as codes)
  const float* cthr;
  const int32_t* cfeat;
  const float* cleaf;
  const float* leaf_f;   // flat leaves, float32 (XGBoost)
  const double* leaf_d;  // flat leaves, float64 (LightGBM)
  const int32_t* group;  // per tree: its output group
};

// The leaves of kTreeLanes complete XGBoost trees for one row `xx` (its two
// copies): the step of the vector walk, idx = 2 idx + 1 + !(x < threshold),
// one row, the trees side by side.
inline void CompleteXGBoostLeaves(const FewRowTrees& f, size_t t, const float* xx, float* out) {
  const float* thr[kTreeLanes];
  const int32_t* feat[kTreeLanes];
  int32_t idx[kTreeLanes];
  int32_t depth = 0;
  for (int j = 0; j < kTreeLanes; ++j) {
    thr[j] = f.cthr + f.complete[t + j];
    feat[j] = f.cfeat + f.complete[t + j];
    idx[j] = 0;
    depth = std::max(depth, f.depth[t + j]);
  }
  for (int32_t step = 0; step < depth; ++step) {
#pragma GCC unroll 8
    for (int j = 0; j < kTreeLanes; ++j) {
      // Shallower trees stop at their depth, where their leaves are.
      const bool walk = step < f.depth[t + j];
      const int32_t right = !(xx[feat[j][idx[j]]] < thr[j][idx[j]]);
      idx[j] = walk ? 2 * idx[j] + 1 + right : idx[j];
    }
  }
  for (int j = 0; j < kTreeLanes; ++j) {
    const int32_t inner = (int32_t{1} << f.depth[t + j]) - 1;
    out[j] = f.cleaf[f.complete[t + j] + idx[j] - inner];
  }
}

// The flat-node step of the batch walk (PredictImpl's `walk`) for trees [t,
// t + k), k <= kTreeLanes, one row x, the trees side by side; a leaf is a
// fixed point of the step, so every tree steps to the deepest depth among
// them.
template <class T, class C, class A>
void FlatLeaves(const FewRowTrees& f, size_t t, int k, const T* x, A* out) {
  int32_t idx[kTreeLanes] = {};
  int32_t depth = 0;
  for (int j = 0; j < k; ++j) depth = std::max(depth, f.depth[t + j]);
  for (int32_t step = 0; step < depth; ++step) {
#pragma GCC unroll 8
    for (int j = 0; j < k; ++j) {
      const int64_t off = f.offset[t + j];
      const FlatNode& nd = f.nodes[off + idx[j]];
      const C v = static_cast<C>(x[nd.feature]);
      if (!f.slow[t + j]) {
        bool left;
        if constexpr (std::is_same_v<C, float>) {
          left = (v < nd.threshold) | (std::isnan(v) & (nd.default_left != 0));
        } else {
          left = (v < f.threshold_d[off + idx[j]]) | (std::isnan(v) & (nd.default_left != 0));
        }
        idx[j] = nd.child + 1 - static_cast<int32_t>(left);
      } else {
        idx[j] = nd.child + (GoRight<C>(nd, f.threshold_d[off + idx[j]], v, f.cats, f.bits, f.xgb) ? 1 : 0);
      }
    }
  }
  for (int j = 0; j < k; ++j) {
    if constexpr (std::is_same_v<A, float>) {
      out[j] = f.leaf_f[f.offset[t + j] + idx[j]];
    } else {
      out[j] = f.leaf_d[f.offset[t + j] + idx[j]];
    }
  }
}

// The leaf values row x reaches in trees [t, t + k): XGBoost's complete trees
// through their complete layout (as the batch's vector walk), others node by
// node. A: float for XGBoost, double for LightGBM (the batch's sums).
template <class T, class C, class A>
void FewRowLeaves(const FewRowTrees& f, size_t t, int k, const T* x, const float* xx, A* out) {
  if constexpr (std::is_same_v<A, float>) {
    bool complete = k == kTreeLanes && f.xgb;
    // Categorical nodes of the complete layout read codes, not this row: the flat walk.
    for (int j = 0; complete && j < k; ++j) complete = f.complete[t + j] >= 0 && !f.complete_cat[t + j];
    if (complete) return CompleteXGBoostLeaves(f, t, xx, out);
  }
  FlatLeaves<T, C, A>(f, t, k, x, out);
}

// Adds the leaves row x reaches in trees [t0, t1) to its G outputs, in sums
// of type A started at init(g), tree by tree as the batch walk adds them. A
// float sum is held in the double output between trees: exactly.
template <class T, class C, class A, class Init>
void SumFewRowTrees(const FewRowTrees& f, size_t t0, size_t t1, const T* x, const float* xx, int32_t G,
                    double* dst, Init init) {
  A leaf[kTreeLanes];
  if (G == 1) {  // one output: the sum stays in a register
    A acc = init(0);
    for (size_t t = t0; t < t1; t += kTreeLanes) {
      const int k = static_cast<int>(std::min<size_t>(kTreeLanes, t1 - t));
      FewRowLeaves<T, C, A>(f, t, k, x, xx, leaf);
      for (int j = 0; j < k; ++j) acc += leaf[j];
    }
    dst[0] = acc;
    return;
  }
  for (int32_t g = 0; g < G; ++g) dst[g] = init(g);
  for (size_t t = t0; t < t1; t += kTreeLanes) {
    const int k = static_cast<int>(std::min<size_t>(kTreeLanes, t1 - t));
    FewRowLeaves<T, C, A>(f, t, k, x, xx, leaf);
    for (int j = 0; j < k; ++j) {
      double& m = dst[f.group[t + j]];
      m = static_cast<A>(static_cast<A>(m) + leaf[j]);
    }
  }
}

}  // namespace

absl::Status TreeEnsemble::CheckCall(size_t x_size, int64_t n, int64_t& begin, int64_t& end, size_t out_size,
                                     size_t out_per_row) const {
  TWINSCORE_CHECK_ARG(n >= 0, "n must be >= 0, got ", n);
  TWINSCORE_CHECK_ARG(x_size == static_cast<size_t>(n) * model_.num_features, "X has ", x_size,
                      " values, expected n * d = ", n, " * ", model_.num_features);
  TWINSCORE_CHECK_ARG(out_size == static_cast<size_t>(n) * out_per_row, "output has ", out_size,
                      " values, expected ", n * out_per_row);
  const int64_t iters = num_iterations();
  if (end <= 0) end = iters;
  TWINSCORE_CHECK_ARG(begin >= 0 && begin <= end && end <= iters, "iteration range [", begin, ", ", end,
                      ") is not within the model's ", iters, " iterations");
  return absl::OkStatus();
}

// A few rows, each alone on the calling thread: the same leaves and the same
// sums in the same order (tree by tree, per output group) as the batch walks
// of PredictImpl, so the same results, with no lanes to fill, no transposed
// block and no parallel region.
template <class T, class C>
absl::Status TreeEnsemble::PredictFewRows(const T* x, int64_t n, size_t t0, size_t t1, double scale,
                                          absl::Span<double> out) const {
  const int64_t d = model_.num_features;
  const int32_t G = model_.num_groups;
  const bool xgb = model_.flavor == TreeFlavor::kXGBoost;
  const FewRowTrees f{nodes_.data(),   threshold_d_.data(),     tree_offset_.data(), tree_depth_.data(),
                      tree_slow_.data(), cats_.data(),          cat_bits_.data(),    xgb,
                      complete_offset_.data(), complete_cat_.data(), cthr_.data(), cfeat_.data(), cleaf_f_.data(),
                      value_f_.data(), value_.data(),           tree_group_.data()};
  // The row's two copies for XGBoost's complete trees, as in the batch's
  // transposed block: features [0, d) with NaN as +inf, [d, 2d) as -inf.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr int64_t kStackFeatures = 256;
  float stack[2 * kStackFeatures];
  std::vector<float> heap;
  float* xx = stack;
  if (xgb && d > kStackFeatures) {
    heap.resize(static_cast<size_t>(2 * d));
    xx = heap.data();
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * d;
    double* dst = out.data() + r * G;
    if (xgb) {
      for (int64_t j = 0; j < d; ++j) {
        const float v = static_cast<float>(row[j]);
        xx[j] = std::isnan(v) ? kInf : v;
        xx[j + d] = std::isnan(v) ? -kInf : v;
      }
      // XGBoost sums float32 leaves into a float32 margin, tree by tree.
      SumFewRowTrees<T, C, float>(f, t0, t1, row, xx, G, dst,
                                  [&](int32_t g) { return static_cast<float>(model_.base_margin[g]); });
    } else {
      SumFewRowTrees<T, C, double>(f, t0, t1, row, xx, G, dst, [](int32_t) { return 0.0; });
      for (int32_t g = 0; g < G; ++g) dst[g] = dst[g] * scale + model_.base_margin[g];
    }
  }
  return absl::OkStatus();
}

template <class T, class C>
absl::Status TreeEnsemble::PredictImpl(absl::Span<const T> X, int64_t n, int64_t begin, int64_t end,
                                       absl::Span<double> out) const {
  TWINSCORE_RETURN_IF_ERROR(CheckCall(X.size(), n, begin, end, out.size(), model_.num_groups));
  const int64_t d = model_.num_features;
  const int32_t G = model_.num_groups;
  const size_t t0 = static_cast<size_t>(begin * model_.trees_per_iteration);
  const size_t t1 = static_cast<size_t>(end * model_.trees_per_iteration);
  const bool xgb = model_.flavor == TreeFlavor::kXGBoost;
  const double scale = model_.average_output && end > begin ? 1.0 / static_cast<double>(end - begin) : 1.0;
  const FlatNode* nodes = nodes_.data();
  const double* thr_d = threshold_d_.data();
  const double* values = value_.data();
  const CatSet* cats = cats_.data();
  const uint64_t* bits = cat_bits_.data();
  const T* x = X.data();
  const int64_t B = options_.block_rows;

  const float* values_f = value_f_.data();

  if (n <= kFewRows) return PredictFewRows<T, C>(x, n, t0, t1, scale, out);

  // Every row of a lane group steps `depth` times through the tree; leaves
  // are fixed points, so no lane tests for the end. kLanes independent rows
  // in flight hide the latency of each row's chain of dependent loads. Trees
  // with only numeric splits take a branch-free step the compiler unrolls
  // over the lanes; others go through GoRight.
  constexpr int kLanes = 8;
  auto walk = [&](size_t t, const FlatNode* tn, const double* td, int32_t depth, const T* const* rows,
                  int32_t* out_idx) {
    int32_t idx[kLanes];
    const T* r[kLanes];
    for (int k = 0; k < kLanes; ++k) {
      idx[k] = 0;
      r[k] = rows[k];
    }
    if (!tree_slow_[t]) {
      for (int32_t step = 0; step < depth; ++step) {
#pragma GCC unroll 16
        for (int k = 0; k < kLanes; ++k) {
          const FlatNode& nd = tn[idx[k]];
          const C v = static_cast<C>(r[k][nd.feature]);
          bool left;
          if constexpr (std::is_same_v<C, float>) {
            left = (v < nd.threshold) | (std::isnan(v) & (nd.default_left != 0));
          } else {
            left = (v < td[idx[k]]) | (std::isnan(v) & (nd.default_left != 0));
          }
          idx[k] = nd.child + 1 - static_cast<int32_t>(left);
        }
      }
    } else {
      for (int32_t step = 0; step < depth; ++step) {
        for (int k = 0; k < kLanes; ++k) {
          const FlatNode& nd = tn[idx[k]];
          const C v = static_cast<C>(r[k][nd.feature]);
          idx[k] = nd.child + (GoRight<C>(nd, td[idx[k]], v, cats, bits, xgb) ? 1 : 0);
        }
      }
    }
    for (int k = 0; k < kLanes; ++k) out_idx[k] = idx[k];
  };

  // Complete trees take the vector walk when rows are compared in float32
  // and the SIMD level has one.
  const kernels::TreeKernels& tk = kernels::Trees();
  const bool use_vector = std::is_same_v<C, float> && tk.vector();
  // The vector walk takes XGBoost's complete trees; LightGBM's leaf-wise
  // trees, even complete ones, take the early-exit walk (rows leave them
  // early), but those it does not take (categorical splits of uncoded features).
  auto vector_walk = [&](size_t u) { return complete_offset_[u] >= 0 && (xgb || !deep_->Has(u)); };
  bool any_complete = false, any_deep = false;
  for (size_t t = t0; t < t1; ++t) {
    any_complete |= vector_walk(t);
    any_deep |= deep_->Has(t) && !(use_vector && vector_walk(t));
  }
  const bool transpose = use_vector && any_complete;

  ParallelBlocks(static_cast<size_t>(n), static_cast<size_t>(B), [&](size_t, size_t rb, size_t re) {
    const int64_t rows = static_cast<int64_t>(re - rb);
    const int64_t groups = (rows + kLanes - 1) / kLanes;
    const int64_t R = groups * kLanes;  // accumulator lanes per output group
    // Row pointers per lane; lanes past the end repeat the block's first row.
    std::vector<const T*> ptr(R);
    for (int64_t k = 0; k < R; ++k) ptr[k] = x + (rb + (k < rows ? k : 0)) * d;
    int32_t idx[kLanes];
    // The rows the early-exit walk reads: categories as codes (CodeCategories).
    std::vector<T> coded;
    if (any_fast_cat_ && any_deep) CodeCategories<T, C>(x, rb, re, coded);
    const T* xb = any_fast_cat_ && any_deep ? coded.data() : x + rb * d;
    // The block in 8-row groups, feature-major, as float32 (the comparison
    // type); lanes past the end are 0 and their sums are dropped.
    // XGBoost rows twice: features [0, d) with NaN as +inf, [d, 2d) with NaN
    // as -inf (see BuildComplete). Coded categorical features hold their
    // code as int32 bits (tree_kernels.h), in both copies.
    const int64_t xd = xgb ? 2 * d : d;
    std::vector<float> xg;
    if (transpose) {
      xg.assign(static_cast<size_t>(groups * xd * kLanes), 0.0f);
      constexpr float kInf = std::numeric_limits<float>::infinity();
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = xg.data() + (r / kLanes) * xd * kLanes + r % kLanes;
        const T* src = x + (rb + r) * d;
        for (int64_t f = 0; f < d; ++f) {
          const float v = static_cast<float>(src[f]);
          if (cat_k_[f] >= 0) {
            const auto code = static_cast<int32_t>(tree_nodes::CategoryCode(static_cast<C>(src[f]), cat_k_[f], xgb));
            std::memcpy(&dst[f * kLanes], &code, sizeof(code));
            if (xgb) std::memcpy(&dst[(f + d) * kLanes], &code, sizeof(code));
          } else if (xgb) {
            dst[f * kLanes] = std::isnan(v) ? kInf : v;
            dst[(f + d) * kLanes] = std::isnan(v) ? -kInf : v;
          } else {
            dst[f * kLanes] = v;
          }
        }
      }
    }
    // Adds the leaves of trees [t0, t1) to acc (groups x R), reading the leaf
    // values of the accumulator's type: complete-tree leaves for the vector
    // walk, flat-node leaves otherwise.
    auto sum_trees = [&](auto* acc, const auto* complete_leaves, const auto* flat_leaves) {
      using A = std::remove_pointer_t<decltype(acc)>;
      std::vector<int32_t> deep_leaf;
      tree_deep::Scratch deep_scratch;
      for (size_t t = t0; t < t1; ++t) {
        const int64_t off = tree_offset_[t];
        A* acc_g = acc + tree_group_[t] * R;
        if (use_vector && vector_walk(t)) {
          const int64_t c = complete_offset_[t];
          tk.Complete(tree_depth_[t], complete_cat_[t], acc)(cthr_.data() + c, cfeat_.data() + c,
                                                             complete_leaves + c, cat_tables_.data(), xg.data(),
                                                             xd * kLanes, groups, acc_g);
          continue;
        }
        // Trees of the early-exit walk (tree_deep.h), but those of the vector
        // walk, a batch of consecutive trees at once.
        auto deep = [&](size_t u) { return deep_->Has(u) && !(use_vector && vector_walk(u)); };
        if (deep(t)) {
          int nt = 1;
          while (nt < tree_deep::kMaxBatchTrees && t + nt < t1 && deep(t + nt)) ++nt;
          deep_leaf.resize(static_cast<size_t>(tree_deep::kMaxBatchTrees * rows));
          tree_deep::Walk<T, C>(*deep_, t, nt, xb, d, rows, deep_leaf.data(), deep_scratch);
          for (int k = 0; k < nt; ++k) {
            A* acc_k = acc + tree_group_[t + k] * R;
            for (int64_t r = 0; r < rows; ++r) acc_k[r] += flat_leaves[deep_leaf[k * rows + r]];
          }
          t += nt - 1;
          continue;
        }
        for (int64_t q = 0; q < groups; ++q) {
          walk(t, nodes + off, thr_d + off, tree_depth_[t], ptr.data() + q * kLanes, idx);
          for (int k = 0; k < kLanes; ++k) acc_g[q * kLanes + k] += flat_leaves[off + idx[k]];
        }
      }
    };
    if (xgb) {
      // XGBoost sums float32 leaves into a float32 margin, tree by tree.
      std::vector<float> acc(R * G);
      for (int32_t g = 0; g < G; ++g) std::fill_n(acc.begin() + g * R, R, static_cast<float>(model_.base_margin[g]));
      sum_trees(acc.data(), cleaf_f_.data(), values_f);
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t g = 0; g < G; ++g) out[(rb + r) * G + g] = acc[g * R + r];
    } else {
      std::vector<double> acc(R * G, 0.0);
      sum_trees(acc.data(), cleaf_d_.data(), values);
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t g = 0; g < G; ++g) out[(rb + r) * G + g] = acc[g * R + r] * scale + model_.base_margin[g];
    }
  });
  return absl::OkStatus();
}

absl::Status TreeEnsemble::PredictMargin(absl::Span<const float> X, int64_t n, int64_t begin, int64_t end,
                                         absl::Span<double> out) const {
  return PredictImpl<float, float>(X, n, begin, end, out);
}

absl::Status TreeEnsemble::PredictMargin(absl::Span<const double> X, int64_t n, int64_t begin, int64_t end,
                                         absl::Span<double> out) const {
  // XGBoost reads its input as float32; LightGBM compares doubles.
  if (model_.flavor == TreeFlavor::kXGBoost) return PredictImpl<double, float>(X, n, begin, end, out);
  return PredictImpl<double, double>(X, n, begin, end, out);
}

absl::Status TreeEnsemble::Transform(absl::Span<const double> margins, int64_t n, absl::Span<double> out) const {
  const int32_t G = model_.num_groups;
  TWINSCORE_CHECK_ARG(n >= 0 && margins.size() == static_cast<size_t>(n) * G, "margins have ", margins.size(),
                      " values, expected ", n, " * ", G);
  TWINSCORE_CHECK_ARG(out.size() == static_cast<size_t>(n) * num_outputs(), "output has ", out.size(),
                      " values, expected ", n * num_outputs());
  const bool xgb = model_.flavor == TreeFlavor::kXGBoost;
  const double k = model_.sigmoid_scale;
  ParallelBlocks(static_cast<size_t>(n), 4096, [&](size_t, size_t rb, size_t re) {
    for (size_t r = rb; r < re; ++r) {
      const double* m = margins.data() + r * G;
      switch (model_.transform) {
        case OutputTransform::kIdentity:
          for (int32_t g = 0; g < G; ++g) out[r * G + g] = m[g];
          break;
        case OutputTransform::kSigmoid:
          for (int32_t g = 0; g < G; ++g) {
            if (xgb) {
              // As XGBoost: float32, exponent clamped so it never overflows.
              const float e = std::exp(std::min(-static_cast<float>(m[g]), 88.7f));
              out[r * G + g] = 1.0f / (e + 1.0f);
            } else {
              out[r * G + g] = 1.0 / (1.0 + std::exp(-k * m[g]));
            }
          }
          break;
        case OutputTransform::kExp:
          for (int32_t g = 0; g < G; ++g) {
            out[r * G + g] = xgb ? static_cast<double>(std::exp(static_cast<float>(m[g]))) : std::exp(m[g]);
          }
          break;
        case OutputTransform::kHinge:
          for (int32_t g = 0; g < G; ++g) out[r * G + g] = m[g] > 0 ? 1.0 : 0.0;
          break;
        case OutputTransform::kSoftmaxArgmax: {
          int32_t best = 0;
          for (int32_t g = 1; g < G; ++g) {
            if (m[g] > m[best]) best = g;
          }
          out[r] = best;
          break;
        }
        case OutputTransform::kSoftmax: {
          if (xgb) {
            float mx = static_cast<float>(m[0]);
            for (int32_t g = 1; g < G; ++g) mx = std::max(mx, static_cast<float>(m[g]));
            float sum = 0;
            for (int32_t g = 0; g < G; ++g) sum += std::exp(static_cast<float>(m[g]) - mx);
            for (int32_t g = 0; g < G; ++g) out[r * G + g] = std::exp(static_cast<float>(m[g]) - mx) / sum;
          } else {
            double mx = m[0];
            for (int32_t g = 1; g < G; ++g) mx = std::max(mx, m[g]);
            double sum = 0;
            for (int32_t g = 0; g < G; ++g) sum += std::exp(m[g] - mx);
            for (int32_t g = 0; g < G; ++g) out[r * G + g] = std::exp(m[g] - mx) / sum;
          }
          break;
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace twinscore
