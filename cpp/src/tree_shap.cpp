// Exact path-dependent TreeSHAP (Lundberg et al. 2018) for
// TreeEnsemble::Contributions, in two formulations that give the same values:
//
//  - per-tree tables of SHAP weights (the idea of Fast TreeSHAP v2, Yang
//    2021): a leaf's contribution to every feature of its path depends on the
//    row only through which of those features the row satisfies, so it is
//    computed once per leaf for all 2^D patterns; a row then costs, per tree,
//    one decision per internal node and D loads and adds per leaf, instead of
//    the O(D^2) arithmetic per leaf of the recursion;
//  - the recursive Algorithm 2 of the paper (what XGBoost and LightGBM run),
//    for trees whose tables would be too large and for calls with too few
//    rows to repay building them.
//
// Each row's values are summed tree by tree in model order whatever the
// formulation, block size or thread count, so results do not depend on them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "tree_nodes.h"
#include "twinscore/threads.h"
#include "twinscore/trees.h"

namespace twinscore {

namespace {

using tree_nodes::CatSet;
using tree_nodes::FlatNode;
using tree_nodes::GoRight;

// ------------------------------------------------ recursive TreeSHAP (Alg. 2)

// One feature on the unique path from the root (Lundberg et al. 2018, Alg. 2).
struct PathElement {
  int32_t feature;
  double zero_fraction;  // share of the cover that flows this way when the feature is unknown
  double one_fraction;   // 1 if the row flows this way, else 0
  double weight;         // permutation weight
};

void ExtendPath(PathElement* path, int32_t depth, double zero, double one, int32_t feature) {
  path[depth] = PathElement{feature, zero, one, depth == 0 ? 1.0 : 0.0};
  for (int32_t i = depth - 1; i >= 0; --i) {
    path[i + 1].weight += one * path[i].weight * (i + 1) / static_cast<double>(depth + 1);
    path[i].weight = zero * path[i].weight * (depth - i) / static_cast<double>(depth + 1);
  }
}

void UnwindPath(PathElement* path, int32_t depth, int32_t index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].weight;
  for (int32_t i = depth - 1; i >= 0; --i) {
    if (one != 0) {
      const double t = path[i].weight;
      path[i].weight = next * (depth + 1) / ((i + 1) * one);
      next = t - path[i].weight * zero * (depth - i) / static_cast<double>(depth + 1);
    } else {
      path[i].weight = path[i].weight * (depth + 1) / (zero * (depth - i));
    }
  }
  for (int32_t i = index; i < depth; ++i) {
    path[i].feature = path[i + 1].feature;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

// Sum of the weights the path would have with element `index` removed.
double UnwoundSum(const PathElement* path, int32_t depth, int32_t index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].weight, total = 0;
  for (int32_t i = depth - 1; i >= 0; --i) {
    if (one != 0) {
      const double t = next * (depth + 1) / ((i + 1) * one);
      total += t;
      next = path[i].weight - t * zero * (depth - i) / static_cast<double>(depth + 1);
    } else {
      total += path[i].weight / zero * (depth + 1) / static_cast<double>(depth - i);
    }
  }
  return total;
}

template <class T, class C>
struct ShapWalker {
  const FlatNode* nodes;
  const uint8_t* is_leaf;
  const double* thr_d;
  const double* values;
  const double* cover;
  const CatSet* cats;
  const uint64_t* bits;
  bool xgb;
  const T* row;
  double* phi;  // d values
  double scale;

  // `path` holds `depth` elements of the parent; this call works on a copy
  // placed right after them, so the parent's path is kept for its other child.
  void Recurse(int32_t i, PathElement* parent, int32_t depth, double zero, double one, int32_t feature) {
    PathElement* path = parent + depth;
    std::copy(parent, parent + depth, path);
    ExtendPath(path, depth, zero, one, feature);
    const FlatNode& nd = nodes[i];
    if (is_leaf[i]) {
      const double v = values[i] * scale;
      for (int32_t k = 1; k <= depth; ++k) {
        const double w = UnwoundSum(path, depth, k);
        phi[path[k].feature] += w * (path[k].one_fraction - path[k].zero_fraction) * v;
      }
      return;
    }
    const C x = static_cast<C>(row[nd.feature]);
    const int32_t hot = nd.child + (GoRight<C>(nd, thr_d[i], x, cats, bits, xgb) ? 1 : 0);
    const int32_t cold = nd.child + nd.child + 1 - hot;
    const double c = cover[i];
    const double hot_share = c > 0 ? cover[hot] / c : 0.5;
    const double cold_share = c > 0 ? cover[cold] / c : 0.5;
    double in_zero = 1, in_one = 1;
    int32_t k = 1;
    for (; k <= depth; ++k) {
      if (path[k].feature == nd.feature) break;
    }
    int32_t d = depth;
    if (k <= depth) {
      // The feature was split on above: undo its earlier entry and merge.
      in_zero = path[k].zero_fraction;
      in_one = path[k].one_fraction;
      UnwindPath(path, depth, k);
      --d;
    }
    Recurse(hot, path, d + 1, hot_share * in_zero, in_one, nd.feature);
    Recurse(cold, path, d + 1, cold_share * in_zero, 0.0, nd.feature);
  }
};


// ------------------------------------------------------ tables of SHAP weights
//
// Take a leaf of value v whose path splits on the D distinct features
// p_0 .. p_{D-1} (a feature split on several times is one feature, as in
// Algorithm 2: its cover shares multiply, and a row satisfies it when it
// satisfies all its splits). z_k is the share of the training cover that
// follows the path's splits on p_k, and U the set of path features the row
// satisfies. The leaf adds to feature p_k
//
//   phi_k = v (o_k - z_k) sum_{S subset of U \ {k}} c_|S| prod_{j in P \ {k} \ S} z_j,
//   c_s = s! (D - 1 - s)! / D!,  o_k = [k in U],
//
// which, with Zc(U) = prod_{j not in U} z_j and
// G(V) = sum_{S subset of V} c_|S| prod_{j in V \ S} z_j, is
//
//   k in U:      v (1 - z_k) Zc(U) G(U \ {k}),
//   k not in U:  -v Zc(U) G(U).
//
// Both depend on the row only through U: the leaf's table holds, for each of
// the 2^D patterns U, its D contributions. G(V) is the c-weighted sum of the
// coefficients of prod_{j in V} (z_j + y), built subset by subset; every term
// is a product of non-negative numbers, so no cancellation and no division
// (the recursion divides by z, which may be 0).

// Largest number of distinct features on a path that gets a table (the
// patterns U are 32-bit masks; 2^20 x 20 doubles = 168 MB is past any
// sensible shap_table_bytes anyway).
constexpr int32_t kMaxTableDepth = 20;
// Tables alive at once, in multiples of shap_table_bytes: consecutive trees
// are grouped in chunks of at most this size (or one tree); each chunk's
// tables are built, then every row goes through them.
constexpr int64_t kChunkTables = 4;
// Rows a task takes through a chunk's trees together: their outputs and one
// tree's table stay in L2 while the block goes through the tree.
constexpr size_t kShapBlockRows = 256;

// Leaves are not looked up one by one: the tree is cut into blocks, the
// subtrees of height <= kBlockHeight hanging from the nodes above them. The
// contributions of all the leaves of a block depend only on the pattern of
// its root (over the D_q distinct features of the root's path) and on the
// row's decisions at the block's m <= 3 internal nodes, so one table row per
// (pattern, decisions) holds the block's summed contributions to its W
// features (the root's path features, then those first split on inside the
// block). For a full tree of depth 6 that is 16 lookups of 7 values per row
// instead of 64 lookups of 6, and a smaller table (2^(D_q + m) x W per block).
constexpr int32_t kBlockHeight = 2;
constexpr int32_t kMaxBlockInner = (1 << kBlockHeight) - 1;
// Largest D_q + m of a block table (its rows are indexed by 32-bit masks).
constexpr int32_t kMaxBlockBits = 24;

struct LeafPlan {
  int32_t node;   // tree-local flat index
  int32_t depth;  // D: distinct features on its path
  int64_t feats;  // its D features (and zero fractions) start here in TreePlan
  int32_t block;  // the block it belongs to
  double value;   // leaf output times the call's scale
};

struct BlockPlan {
  int32_t node;   // its root, tree-local
  int32_t depth;  // D_q: distinct features on the path to the root (the root's split excluded)
  int32_t m;      // internal nodes in the block
  int32_t inner[kMaxBlockInner];  // those nodes, parents before children
  int32_t width;  // W: features its table row covers
  int64_t feats;  // its W features start here in TreePlan::block_feats
  int64_t table;  // its 2^(D_q + m) x W weights start here in the tree's table
};

// What a call needs of one tree (not a single leaf).
struct TreePlan {
  int64_t tree = 0;
  bool use_table = false;
  std::vector<int32_t> top;       // internal nodes above the blocks, parents before children
  std::vector<int32_t> internal;  // all internal nodes, parents before children
  bool numeric = true;            // Decide8 takes every split (numeric, or categorical of a coded feature)
  std::vector<uint8_t> pos;       // per node: position of its feature among its path's distinct features
  std::vector<int32_t> ndist;     // per node: distinct features on the path to it (its own split excluded)
  std::vector<LeafPlan> leaves;   // depth-first order
  std::vector<int32_t> feats;     // per leaf: its path's distinct features, by first split
  std::vector<double> zero;       // per leaf: their zero fractions
  std::vector<BlockPlan> blocks;
  std::vector<int32_t> block_feats;
  int64_t table_size = 0;         // doubles, all blocks
  double* table = nullptr;        // set while the tree's chunk is alive
};

// The flat arrays of one tree.
struct TreeView {
  const FlatNode* nodes;
  const uint8_t* is_leaf;
  const double* thr_d;
  const double* value;
  const double* cover;
  const int32_t* table;  // per node: its categorical table (TreeEnsemble::node_table_), -1 if none
  int32_t num_nodes;
};

// Depth-first over the tree: the distinct features of each path with their
// zero fractions (merged as Algorithm 2 merges a repeated feature).
void PlanPaths(const TreeView& t, int32_t i, double scale, std::vector<int32_t>& fs, std::vector<double>& zs,
               TreePlan& plan) {
  plan.ndist[i] = static_cast<int32_t>(fs.size());
  if (t.is_leaf[i]) {
    plan.leaves.push_back(LeafPlan{i, static_cast<int32_t>(fs.size()), static_cast<int64_t>(plan.feats.size()), -1,
                                   t.value[i] * scale});
    plan.feats.insert(plan.feats.end(), fs.begin(), fs.end());
    plan.zero.insert(plan.zero.end(), zs.begin(), zs.end());
    return;
  }
  const FlatNode& nd = t.nodes[i];
  const size_t k = static_cast<size_t>(std::find(fs.begin(), fs.end(), nd.feature) - fs.begin());
  plan.pos[i] = static_cast<uint8_t>(std::min<size_t>(k, 255));  // only read when the tree gets a table
  const double c = t.cover[i];
  for (int32_t side = 0; side < 2; ++side) {
    const int32_t child = nd.child + side;
    const double share = c > 0 ? t.cover[child] / c : 0.5;
    if (k == fs.size()) {
      fs.push_back(nd.feature);
      zs.push_back(share);
      PlanPaths(t, child, scale, fs, zs, plan);
      fs.pop_back();
      zs.pop_back();
    } else {
      const double before = zs[k];
      zs[k] = share * before;
      PlanPaths(t, child, scale, fs, zs, plan);
      zs[k] = before;
    }
  }
}

// Cuts the tree into blocks (see kBlockHeight); returns false when a block's
// table would be indexed past kMaxBlockBits.
bool PlanBlocks(const TreeView& t, TreePlan& plan) {
  const int32_t N = t.num_nodes;
  std::vector<int32_t> height(N, 0), parent(N, -1), block_of(N, -1);
  for (int32_t i = N - 1; i >= 0; --i) {
    if (t.is_leaf[i]) continue;
    const int32_t c = t.nodes[i].child;
    height[i] = 1 + std::max(height[c], height[c + 1]);
    parent[c] = parent[c + 1] = i;
  }
  std::vector<int32_t> first_leaf(N, -1);  // a leaf below each node, for its path's features
  for (size_t k = 0; k < plan.leaves.size(); ++k) {
    for (int32_t i = plan.leaves[k].node; i >= 0 && first_leaf[i] < 0; i = parent[i]) first_leaf[i] = k;
  }
  bool ok = true;
  for (int32_t i = 0; i < N; ++i) {  // parents before children
    if (!t.is_leaf[i]) {
      plan.internal.push_back(i);
      plan.numeric = plan.numeric && (t.nodes[i].kind == static_cast<uint8_t>(SplitKind::kNumeric) || t.table[i] >= 0);
    }
    if (height[i] > kBlockHeight) {
      plan.top.push_back(i);
      continue;
    }
    if (i > 0 && height[parent[i]] <= kBlockHeight) {
      block_of[i] = block_of[parent[i]];
      if (!t.is_leaf[i]) {
        BlockPlan& b = plan.blocks[block_of[i]];
        b.inner[b.m++] = i;
      }
      continue;
    }
    BlockPlan b{};
    b.node = i;
    b.depth = plan.ndist[i];
    if (!t.is_leaf[i]) b.inner[b.m++] = i;
    block_of[i] = static_cast<int32_t>(plan.blocks.size());
    plan.blocks.push_back(b);
  }
  for (LeafPlan& l : plan.leaves) l.block = block_of[l.node];
  for (BlockPlan& b : plan.blocks) {
    b.feats = static_cast<int64_t>(plan.block_feats.size());
    const LeafPlan& any = plan.leaves[first_leaf[b.node]];
    plan.block_feats.insert(plan.block_feats.end(), plan.feats.begin() + any.feats,
                            plan.feats.begin() + any.feats + b.depth);
    for (int32_t k = 0; k < b.m; ++k) {
      const int32_t f = t.nodes[b.inner[k]].feature;
      if (std::find(plan.block_feats.begin() + b.feats, plan.block_feats.end(), f) == plan.block_feats.end()) {
        plan.block_feats.push_back(f);
      }
    }
    b.width = static_cast<int32_t>(plan.block_feats.size() - b.feats);
    ok = ok && b.depth + b.m <= kMaxBlockBits;
  }
  return ok;
}

// Plans one tree for a call on n rows: tables when they fit max_bytes and
// their cost (about 2^D D per leaf, once) is below what the recursion would
// spend on the n rows (about D^2 per leaf and row).
TreePlan PlanTree(const TreeView& t, int64_t tree, double scale, int64_t n, int64_t max_bytes) {
  TreePlan plan;
  plan.tree = tree;
  plan.pos.assign(t.num_nodes, 0);
  plan.ndist.assign(t.num_nodes, 0);
  std::vector<int32_t> fs;
  std::vector<double> zs;
  PlanPaths(t, 0, scale, fs, zs, plan);
  double recursion = 0, build = 0;
  bool fits = max_bytes > 0;
  for (const LeafPlan& l : plan.leaves) {
    recursion += static_cast<double>(l.depth + 1) * (l.depth + 1);
    fits = fits && l.depth <= kMaxTableDepth;
    if (fits) build += static_cast<double>(int64_t{1} << l.depth) * (l.depth + 1);
  }
  if (!fits || static_cast<double>(n) * recursion < 2 * build) return plan;
  if (!PlanBlocks(t, plan)) return plan;
  int64_t size = 0;
  for (BlockPlan& b : plan.blocks) {
    b.table = size;
    size += (int64_t{1} << (b.depth + b.m)) * b.width;
  }
  for (const LeafPlan& l : plan.leaves) {
    build += static_cast<double>(int64_t{1} << (plan.blocks[l.block].depth + plan.blocks[l.block].m)) * l.depth;
  }
  plan.use_table = size <= max_bytes / static_cast<int64_t>(sizeof(double)) &&
                   static_cast<double>(n) * recursion >= 2 * build;
  plan.table_size = plan.use_table ? size : 0;
  return plan;
}

// G(V) and Zc(V) of the comment above for every subset V of a leaf's path,
// one subset per leaf of a depth-first walk that decides feature j at level j.
struct SubsetWalker {
  const double* z;  // D zero fractions
  const double* c;  // c_0 .. c_D (c_D = 0)
  int32_t D;
  double* G;      // 2^D
  double* Zc;     // 2^D
  double* stack;  // (D + 1) x (D + 1): level j holds prod_{chosen j' < j} (z_j' + y), coefficients by degree

  void Walk(int32_t j, uint32_t V, double zc) {
    const double* p = stack + j * (D + 1);
    if (j == D) {
      double g = 0;
      for (int32_t s = 0; s <= D; ++s) g += c[s] * p[s];
      G[V] = g;
      Zc[V] = zc;
      return;
    }
    double* q = stack + (j + 1) * (D + 1);
    // j left out: the product is unchanged and z_j joins Zc.
    std::copy(p, p + j + 1, q);
    q[j + 1] = 0;
    Walk(j + 1, V, zc * z[j]);
    // j taken: multiply by (z_j + y).
    q[j + 1] = p[j];
    for (int32_t s = j; s >= 1; --s) q[s] = z[j] * p[s] + p[s - 1];
    q[0] = z[j] * p[0];
    Walk(j + 1, V | (uint32_t{1} << j), zc);
  }
};

// Fills T (2^D x D: pattern U, then path position k) for one leaf.
void BuildLeafTable(const LeafPlan& l, const double* z, double* T, std::vector<double>& scratch) {
  const int32_t D = l.depth;
  const size_t patterns = size_t{1} << D;
  scratch.resize(2 * patterns + (D + 1) * (D + 1) + D + 1);
  double* G = scratch.data();
  double* Zc = G + patterns;
  double* stack = Zc + patterns;
  double* c = stack + (D + 1) * (D + 1);
  // c_s = s! (D - 1 - s)! / D!, by the ratio c_s / c_{s-1} = s / (D - s).
  c[0] = 1.0 / D;
  for (int32_t s = 1; s < D; ++s) c[s] = c[s - 1] * s / (D - s);
  c[D] = 0;  // |S| = D never occurs: S leaves out feature k
  std::fill(stack, stack + (D + 1), 0.0);
  stack[0] = 1;
  SubsetWalker{z, c, D, G, Zc, stack}.Walk(0, 0, 1.0);
  const double v = l.value;
  for (uint32_t U = 0; U < patterns; ++U) {
    double* row = T + static_cast<size_t>(U) * D;
    const double absent = -v * Zc[U] * G[U];
    for (int32_t k = 0; k < D; ++k) {
      const uint32_t bit = uint32_t{1} << k;
      row[k] = (U & bit) ? v * (1 - z[k]) * Zc[U] * G[U ^ bit] : absent;
    }
  }
}

// Fills the block tables: each leaf's own table (2^D x D), then its rows
// added into its block's row of every (root pattern, decisions), leaves in
// depth-first order.
void BuildTreeTable(const TreeView& t, TreePlan& plan) {
  std::vector<double> scratch, leaf_table;
  std::vector<int32_t> to_block;
  std::fill(plan.table, plan.table + plan.table_size, 0.0);
  for (const LeafPlan& l : plan.leaves) {
    const BlockPlan& b = plan.blocks[l.block];
    const int32_t D = l.depth, Dq = b.depth;
    leaf_table.resize((size_t{1} << D) * D);
    BuildLeafTable(l, plan.zero.data() + l.feats, leaf_table.data(), scratch);
    // Where each of the leaf's features sits in the block's row.
    const int32_t* bf = plan.block_feats.data() + b.feats;
    to_block.resize(D);
    for (int32_t k = 0; k < D; ++k) {
      to_block[k] = static_cast<int32_t>(std::find(bf, bf + b.width, plan.feats[l.feats + k]) - bf);
    }
    // The leaf's path inside the block: (decision index, pattern bit, side taken).
    int32_t path_inner[kMaxBlockInner], path_bit[kMaxBlockInner], path_right[kMaxBlockInner], len = 0;
    for (int32_t k = b.m - 1, child = l.node; k >= 0; --k) {
      const int32_t i = b.inner[k];
      const int32_t c = t.nodes[i].child;
      if (c == child || c + 1 == child) {
        path_inner[len] = k;
        path_bit[len] = plan.pos[i];
        path_right[len] = c + 1 == child;
        ++len;
        child = i;
      }
    }
    const uint32_t root_mask = (uint32_t{1} << Dq) - 1, leaf_mask = (uint32_t{1} << D) - 1;
    for (uint32_t dec = 0; dec < (uint32_t{1} << b.m); ++dec) {
      uint32_t violated = 0;
      for (int32_t s = 0; s < len; ++s) {
        if (((dec >> path_inner[s]) & 1) != static_cast<uint32_t>(path_right[s])) violated |= uint32_t{1} << path_bit[s];
      }
      for (uint32_t uq = 0; uq <= root_mask; ++uq) {
        const uint32_t u = (uq | ~root_mask) & ~violated & leaf_mask;
        const double* w = leaf_table.data() + static_cast<size_t>(u) * D;
        double* row = plan.table + b.table + static_cast<size_t>((dec << Dq) | uq) * b.width;
        for (int32_t k = 0; k < D; ++k) row[to_block[k]] += w[k];
      }
    }
  }
}

// One row through one tree with tables: the satisfied-feature pattern of the
// nodes above the blocks, parents before children (a row violates the split
// of its parent's feature on the side it does not take), then per block its
// root's pattern and its decisions pick the row of weights to add.
// right(i): 1 if the row goes right at internal node i, else 0.
template <class Right>
inline void TableRow(const TreePlan& p, const TreeView& t, Right right, double* phi, uint32_t* U) {
  U[0] = ~uint32_t{0};
  for (const int32_t i : p.top) {
    const FlatNode& nd = t.nodes[i];
    const uint32_t r = right(i);
    const uint32_t bit = uint32_t{1} << p.pos[i];
    const uint32_t u = U[i];
    U[nd.child] = u & ~(bit & (0u - r));
    U[nd.child + 1] = u & ~(bit & (r - 1u));
  }
  const int32_t* feats = p.block_feats.data();
  for (const BlockPlan& b : p.blocks) {
    uint32_t idx = U[b.node] & ((uint32_t{1} << b.depth) - 1);
    for (int32_t k = 0; k < b.m; ++k) idx |= right(b.inner[k]) << (b.depth + k);
    const double* w = p.table + b.table + static_cast<size_t>(idx) * b.width;
    const int32_t* f = feats + b.feats;
    for (int32_t k = 0; k < b.width; ++k) phi[f[k]] += w[k];
  }
}

// Rows taken 8 at a time by the decision kernel: float32 input, numeric splits
// and categorical splits of coded features only.
constexpr int32_t kLanes = 8;

// The block's rows [rb, rb + 8), feature-major (xt[f * 8 + lane]); missing rows are NaN.
void Transpose8(const float* X, int64_t d, size_t rows, float* xt) {
  for (int64_t f = 0; f < d; ++f) {
    for (size_t k = 0; k < kLanes; ++k) xt[f * kLanes + k] = k < rows ? X[k * d + f] : std::nanf("");
  }
}

// Decisions of 8 rows at every internal node of a tree: bit k of dec[i] is 1
// when row k goes right (x >= threshold, or missing and default right), the
// same rule as GoRight for float comparisons. Categorical nodes read the
// rows' codes (xt coded by CodeCategories) in their tables.
void Decide8(const TreePlan& p, const TreeView& t, const uint32_t* cat_tables, const float* xt, uint8_t* dec) {
  for (const int32_t i : p.internal) {
    const FlatNode& nd = t.nodes[i];
    const float* x = xt + static_cast<int64_t>(nd.feature) * kLanes;
    if (t.table[i] >= 0) {
      uint32_t bits = 0;
      for (int32_t k = 0; k < kLanes; ++k) {  // the NaN of a lane past the block's rows reads nothing
        if (x[k] == x[k]) bits |= static_cast<uint32_t>(tree_nodes::RightBit(cat_tables + t.table[i], static_cast<int32_t>(x[k]))) << k;
      }
      dec[i] = static_cast<uint8_t>(bits);
      continue;
    }
#ifdef __AVX2__
    const __m256 v = _mm256_loadu_ps(x);
    const __m256 left = _mm256_or_ps(_mm256_cmp_ps(v, _mm256_set1_ps(nd.threshold), _CMP_LT_OQ),
                                     _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q),
                                                   _mm256_castsi256_ps(_mm256_set1_epi32(nd.default_left ? -1 : 0))));
    dec[i] = static_cast<uint8_t>(~_mm256_movemask_ps(left));
#else
    uint32_t bits = 0;
    for (int32_t k = 0; k < kLanes; ++k) {
      const bool right = std::isnan(x[k]) ? !nd.default_left : !(x[k] < nd.threshold);
      bits |= static_cast<uint32_t>(right) << k;
    }
    dec[i] = static_cast<uint8_t>(bits);
#endif
  }
}

TreeView ViewOf(const std::vector<FlatNode>& nodes, const std::vector<uint8_t>& is_leaf,
                const std::vector<double>& thr_d, const std::vector<double>& value, const std::vector<double>& cover,
                const std::vector<int32_t>& table, const std::vector<int64_t>& offset, size_t t) {
  const int64_t off = offset[t];
  const int64_t stop = t + 1 < offset.size() ? offset[t + 1] : static_cast<int64_t>(nodes.size());
  return TreeView{nodes.data() + off, is_leaf.data() + off, thr_d.data() + off, value.data() + off,
                  cover.data() + off, table.data() + off, static_cast<int32_t>(stop - off)};
}

}  // namespace

int64_t TreeEnsemble::ShapTableTrees(int64_t n) const {
  int64_t count = 0;
  for (size_t t = 0; t < model_.trees.size(); ++t) {
    if (is_leaf_[tree_offset_[t]]) continue;
    const TreeView v = ViewOf(nodes_, is_leaf_, threshold_d_, value_, cover_, node_table_, tree_offset_, t);
    count += PlanTree(v, static_cast<int64_t>(t), 1.0, n, options_.shap_table_bytes).use_table;
  }
  return count;
}

template <class T, class C>
absl::Status TreeEnsemble::ContribImpl(absl::Span<const T> X, int64_t n, int64_t begin, int64_t end,
                                       absl::Span<double> out) const {
  const int64_t d = model_.num_features;
  const int32_t G = model_.num_groups;
  TWINSCORE_RETURN_IF_ERROR(CheckCall(X.size(), n, begin, end, out.size(), static_cast<size_t>(G) * (d + 1)));
  const size_t t0 = static_cast<size_t>(begin * model_.trees_per_iteration);
  const size_t t1 = static_cast<size_t>(end * model_.trees_per_iteration);
  const double scale = model_.average_output && end > begin ? 1.0 / static_cast<double>(end - begin) : 1.0;
  std::vector<double> bias(model_.base_margin);
  for (size_t t = t0; t < t1; ++t) bias[model_.trees[t].group] += expected_[t] * scale;
  const bool xgb = model_.flavor == TreeFlavor::kXGBoost;
  auto view = [&](size_t t) { return ViewOf(nodes_, is_leaf_, threshold_d_, value_, cover_, node_table_, tree_offset_, t); };

  // Plan the trees (a single leaf only moves the bias) and group them in chunks.
  std::vector<TreePlan> plans;
  for (size_t t = t0; t < t1; ++t) {
    if (!is_leaf_[tree_offset_[t]]) plans.push_back(PlanTree(view(t), t, scale, n, options_.shap_table_bytes));
  }
  std::vector<size_t> chunk_end;  // plans [chunk_end[c-1], chunk_end[c]) form chunk c
  int64_t bytes = 0;
  for (size_t k = 0; k < plans.size(); ++k) {
    const int64_t b = plans[k].table_size * static_cast<int64_t>(sizeof(double));
    if (bytes > 0 && bytes + b > kChunkTables * options_.shap_table_bytes) {
      chunk_end.push_back(k);
      bytes = 0;
    }
    bytes += b;
  }
  chunk_end.push_back(plans.size());

  int32_t max_nodes = 1;
  for (const TreePlan& p : plans) max_nodes = std::max(max_nodes, view(p.tree).num_nodes);
  // Path storage of the recursion: depth + 1 levels, each copying at most depth + 2 elements.
  const size_t path_size = static_cast<size_t>(max_depth_ + 2) * (max_depth_ + 3);
  size_t first = 0;
  for (size_t c = 0; c < chunk_end.size(); ++c) {
    const size_t last = chunk_end[c];
    int64_t size = 0;
    for (size_t k = first; k < last; ++k) size += plans[k].table_size;
    std::unique_ptr<double[]> tables(size > 0 ? new double[size] : nullptr);
    size = 0;
    for (size_t k = first; k < last; ++k) {
      plans[k].table = tables.get() + size;
      size += plans[k].table_size;
    }
    ParallelBlocks(last - first, 1, [&](size_t, size_t kb, size_t) {
      if (plans[first + kb].use_table) BuildTreeTable(view(plans[first + kb].tree), plans[first + kb]);
    });
    ParallelBlocks(static_cast<size_t>(n), kShapBlockRows, [&](size_t, size_t rb, size_t re) {
      if (c == 0) {
        for (size_t r = rb; r < re; ++r) {
          double* row_out = out.data() + r * G * (d + 1);
          std::fill(row_out, row_out + G * (d + 1), 0.0);
          for (int32_t g = 0; g < G; ++g) row_out[g * (d + 1) + d] = bias[g];
        }
      }
      std::vector<PathElement> path(path_size);
      std::vector<uint32_t> U(max_nodes);
      std::vector<uint8_t> dec(max_nodes);
      // float32 rows compared in float: numeric trees decide 8 rows at a time.
      constexpr bool kFloat = std::is_same_v<T, float> && std::is_same_v<C, float>;
      std::vector<float> xt(kFloat ? NumBlocks(re - rb, kLanes) * d * kLanes : 0);
      if constexpr (kFloat) {
        std::vector<T> coded;  // the categorical features as codes, for Decide8
        if (any_fast_cat_) CodeCategories<T, C>(X.data(), rb, re, coded);
        const float* xb = any_fast_cat_ ? coded.data() : X.data() + rb * d;
        for (size_t g = rb; g < re; g += kLanes) {
          Transpose8(xb + (g - rb) * d, d, std::min<size_t>(kLanes, re - g), xt.data() + (g - rb) * d);
        }
      }
      for (size_t k = first; k < last; ++k) {
        const TreePlan& p = plans[k];
        const TreeView t = view(p.tree);
        const int64_t group_off = static_cast<int64_t>(model_.trees[p.tree].group) * (d + 1);
        if (kFloat && p.use_table && p.numeric) {
          for (size_t g = rb; g < re; g += kLanes) {
            Decide8(p, t, cat_tables_.data(), xt.data() + (g - rb) * d, dec.data());
            for (size_t r = g; r < std::min(g + kLanes, re); ++r) {
              const uint32_t lane = static_cast<uint32_t>(r - g);
              TableRow(p, t, [&](int32_t i) { return (uint32_t{dec[i]} >> lane) & 1u; },
                       out.data() + r * G * (d + 1) + group_off, U.data());
            }
          }
          continue;
        }
        for (size_t r = rb; r < re; ++r) {
          double* phi = out.data() + r * G * (d + 1) + group_off;
          const T* row = X.data() + r * d;
          if (p.use_table) {
            TableRow(p, t, [&](int32_t i) -> uint32_t {
              const FlatNode& nd = t.nodes[i];
              return GoRight<C>(nd, t.thr_d[i], static_cast<C>(row[nd.feature]), cats_.data(), cat_bits_.data(), xgb);
            }, phi, U.data());
          } else {
            ShapWalker<T, C> w{t.nodes, t.is_leaf, t.thr_d, t.value, t.cover, cats_.data(), cat_bits_.data(), xgb,
                               X.data() + r * d, phi, scale};
            w.Recurse(0, path.data(), 0, 1.0, 1.0, -1);
          }
        }
      }
    });
    first = last;
  }
  return absl::OkStatus();
}

absl::Status TreeEnsemble::Contributions(absl::Span<const float> X, int64_t n, int64_t begin, int64_t end,
                                         absl::Span<double> out) const {
  return ContribImpl<float, float>(X, n, begin, end, out);
}

absl::Status TreeEnsemble::Contributions(absl::Span<const double> X, int64_t n, int64_t begin, int64_t end,
                                         absl::Span<double> out) const {
  if (model_.flavor == TreeFlavor::kXGBoost) return ContribImpl<double, float>(X, n, begin, end, out);
  return ContribImpl<double, double>(X, n, begin, end, out);
}

}  // namespace twinscore
