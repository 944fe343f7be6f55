// Internal to the tree engine: the prediction walk of deep, non-complete trees
// (LightGBM's leaf-wise trees: 63 leaves, 11-24 levels deep, most rows leaving
// at depth 3-5).
//
// The lockstep walk of trees.cpp steps every row to the tree's deepest leaf;
// on the LightGBM benchmark model that is 14.4 steps a tree where rows need 4.2
// on average. This walk stops each row at its own leaf: a block of rows (times
// a batch of trees) is a list of (node, row) entries, and each pass advances
// every entry one level and keeps, compacted in place, those that are still on
// an internal node. Entries are independent, so the loop has no dependent load
// chain from one iteration to the next and no data-dependent branch: a row's
// cost is its own path length.
#pragma once

#include <cstdint>
#include <vector>

#include "tree_nodes.h"

namespace twinscore::tree_deep {

// An internal node. Children are absolute indices into Layout::nodes, or, for
// a leaf, ~(the leaf's flat node index in TreeEnsemble::nodes_), negative.
struct Node {
  float threshold;      // x <= threshold goes left (float32 comparisons); kCategorical: its table or its offset (int32 bits)
  uint32_t feature;     // feature index | kDefaultLeft | kZeroMissing | kCategorical
  int32_t child[2];     // left, right
};
constexpr uint32_t kDefaultLeft = 1u << 31;  // NaN (and zero, kZeroMissing) go left
constexpr uint32_t kZeroMissing = 1u << 30;  // |x| <= kZeroThreshold is missing (LightGBM missing_type Zero)
// A categorical split: the row holds the feature's code, the node a table of
// one bit per code in Layout::cat_bits (1 = right; tree_nodes.h).
constexpr uint32_t kCategorical = 1u << 29;
// kCategorical with a table of one word, held in the threshold itself (codes < 32).
constexpr uint32_t kInlineTable = 1u << 28;
constexpr uint32_t kShortTable = 1u << 27;  // kCategorical with a table of <= 8 words (read as 8)
constexpr uint32_t kFeatureMask = kShortTable - 1;

// Trees batched into one pass: more entries per pass amortise its exit
// branch and the few-rows tail of the deepest levels.
constexpr int kMaxBatchTrees = 64;

struct Layout {
  std::vector<Node> nodes;
  std::vector<double> threshold_d;  // per node: x <= threshold_d goes left (float64 comparisons, LightGBM)
  std::vector<uint32_t> cat_bits;   // the tables of categorical nodes, then 8 words of padding
  // Per tree: its root (a node index, or ~leaf for a one-leaf tree), or
  // kNoTree when the tree keeps the lockstep walk (categorical splits of a
  // feature without codes).
  std::vector<int32_t> root;
  static constexpr int32_t kNoTree = INT32_MIN;
  // Per tree, its first kTopLevels levels as a complete subtree for the AVX2
  // walk, kTop entries a tree: the nodes at heap positions 0 .. kTop - 2
  // (feature with its flags, threshold; a leaf above level kTopLevels becomes
  // a node sending every value left, its leaf repeated below it) and what
  // each of the kTop positions of level kTopLevels holds (a node, or ~leaf).
  static constexpr int kTopLevels = 3;
  static constexpr int kTop = 1 << kTopLevels;
  std::vector<uint32_t> top_feature;
  std::vector<float> top_threshold;
  std::vector<int32_t> top_exit;

  bool Has(size_t t) const { return root[t] != kNoTree; }
  // Appends the next tree; its flat nodes (TreeEnsemble::nodes_) start at off.
  // From the model's own thresholds: the flat node's x < t form cannot say
  // x <= +inf, which a zero-missing split at +inf needs. cat_k: per feature,
  // its categories as coded in the rows Walk reads, -1 if not coded.
  void AppendTree(const Tree& tr, int64_t off, bool xgb, const std::vector<int32_t>& cat_k);
  // Appends the tree's top (above) from its root, a node or ~leaf.
  void AppendTop(int32_t root_id);
};

// Per-thread scratch of Walk, reused across calls. It keeps the last rows
// transposed: the values at one x must not change while a Scratch is in use
// (one prediction call).
struct Scratch {
  std::vector<int64_t> list;                           // scalar walk
  std::vector<int32_t> node, xoff, slot, done_slot, done_code;  // AVX2 walk
  std::vector<float> xt;  // AVX2 walk: the rows in 8-row groups, feature-major
  const void* xt_of = nullptr;  // ... of these rows (x, d, rows): the batches of one block share it
  int64_t xt_d = -1, xt_rows = -1;
};

// For the trees [t, t + nt) of the layout (each Has(), nt <= kMaxBatchTrees)
// and the rows x[0 .. rows) (row-major, d values a row, the coded features as
// codes: TreeEnsemble::CodeCategories): leaf[k * rows + r] =
// the flat node index of the leaf that row r reaches in tree t + k. T is the
// input type, C the comparison precision (float for XGBoost and for LightGBM
// on float32 input, double for LightGBM on float64 input).
template <class T, class C>
void Walk(const Layout& layout, size_t t, int nt, const T* x, int64_t d, int64_t rows, int32_t* leaf, Scratch& s);

}  // namespace twinscore::tree_deep
