// Tree-ensemble scoring: validation, the flat layout, the blocked batch
// kernel and output transforms (TreeSHAP is in tree_shap.cpp).
#include "twinscore/trees.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "tree_deep.h"
#include "tree_nodes.h"
#include "twinscore/threads.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

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
  e.BuildComplete(xgb, model.num_features);
  auto deep = std::make_shared<tree_deep::Layout>();
  for (size_t t = 0; t < model.trees.size(); ++t) deep->AppendTree(model.trees[t], e.tree_offset_[t], xgb);
  e.deep_ = std::move(deep);
  e.model_ = std::move(model);
  return e;
}

// Shallow numeric trees are also laid out complete: level by level, node p
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
void TreeEnsemble::BuildComplete(bool xgb, int32_t num_features) {
  for (size_t t = 0; t < tree_offset_.size(); ++t) {
    const int32_t D = tree_depth_[t];
    const int64_t off = tree_offset_[t];
    const int64_t end = t + 1 < tree_offset_.size() ? tree_offset_[t + 1] : static_cast<int64_t>(nodes_.size());
    bool numeric = true;
    for (int64_t i = off; i < end; ++i) {
      numeric &= nodes_[i].kind == static_cast<uint8_t>(SplitKind::kNumeric) ||
                 nodes_[i].kind == static_cast<uint8_t>(SplitKind::kNumericNotMissingLeft);
      numeric &= !(xgb && !is_leaf_[i] && nodes_[i].threshold == -std::numeric_limits<float>::infinity());
    }
    if (!numeric || D < 1 || D > kMaxCompleteDepth) {
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
      if (!leaf) {
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

namespace {

#ifdef __AVX2__
// The vector walk of complete trees (BuildComplete). A row block is first
// transposed into groups of 8 rows, feature-major (xg[f * 8 + lane]; XGBoost
// rows twice, NaN as +inf then as -inf), so one feature of 8 rows is one
// contiguous load and a feature per lane one gather from a group that stays
// in L1. The first kComparedLevels levels (<= 15 nodes) compare the rows at
// every node of the level, which needs no j: only the blends that pick each
// lane's node are in the dependency chain, which a gather would lengthen by
// ~20 cycles a level. The levels of 16 and 32 nodes are looked up in
// registers with vpermps and blends; deeper levels gather threshold and
// feature from the table. N groups are walked together so that N independent chains are
// in flight. A row's lane sums the trees in model order, as the scalar walk.
constexpr int kComparedLevels = 4;
// The levels after those, up to the 32-node level 5 (a tree of depth <= 6;
// deeper trees gather that level already: it measured faster), look their
// thresholds and features up in registers (Lookup); the rest gather them.
constexpr int kLookupLevels = 6;
// Leaves of trees this shallow are looked up in registers, deeper ones gathered.
constexpr int kLeafLookupDepth = 4;

// The rows (lanes) that go left at a node of threshold t and feature word f:
// XGBoost (kLE false) x < t, NaN already on its default's side
// (BuildComplete); LightGBM x <= t, or x is NaN and the default is left (top
// bit of f).
template <bool kLE>
inline __m256 LeftMask(__m256 x, __m256 t, __m256i f) {
  if constexpr (kLE) {
    const __m256 nan_left = _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q),
                                          _mm256_castsi256_ps(_mm256_srai_epi32(f, 31)));
    return _mm256_or_ps(_mm256_cmp_ps(x, t, _CMP_LE_OQ), nan_left);
  } else {
    return _mm256_cmp_ps(x, t, _CMP_LT_OQ);
  }
}

// j = a node's index within its level; the next level's index is
// 2j + right = 2j + 1 + left (left is -1 or 0).
inline __m256i Down(__m256i j, __m256 left) {
  return _mm256_add_epi32(_mm256_add_epi32(j, j), _mm256_add_epi32(_mm256_set1_epi32(1), _mm256_castps_si256(left)));
}

// Offset of a feature word's 8 values in a group (LightGBM's default bit dropped).
inline int64_t FeatureOffset(int32_t f) { return static_cast<int64_t>(f & 0x7fffffff) * 8; }

// One level of K nodes (thr, feat: the level's first slot), every node compared.
template <int K, bool kLE>
inline __m256i CompareLevel(const float* thr, const int32_t* feat, const float* xg, __m256i j) {
  __m256 m[K];
  for (int k = 0; k < K; ++k) {
    m[k] = LeftMask<kLE>(_mm256_loadu_ps(xg + FeatureOffset(feat[k])), _mm256_set1_ps(thr[k]),
                         _mm256_set1_epi32(feat[k]));
  }
  // Lane r keeps m[j_r][r]: a blend per bit of j, lowest first.
  for (int b = 0, w = K; w > 1; ++b, w /= 2) {
    const __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(j, 31 - b));
    for (int k = 0; k < w / 2; ++k) m[k] = _mm256_blendv_ps(m[2 * k], m[2 * k + 1], hi);
  }
  return Down(j, m[0]);
}

// Levels [L, E) of a complete tree by CompareLevel.
template <int L, int E, bool kLE>
inline __m256i CompareLevels(const float* thr, const int32_t* feat, const float* xg, __m256i j) {
  if constexpr (L < E) {
    j = CompareLevel<(1 << L), kLE>(thr + (1 << L) - 1, feat + (1 << L) - 1, xg, j);
    return CompareLevels<L + 1, E, kLE>(thr, feat, xg, j);
  } else {
    return j;
  }
}

// x of each lane's node feature: f << 3 drops LightGBM's default bit and
// scales the feature to its 8 values in the group.
inline __m256 GatherX(const float* xg, __m256i f) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_i32gather_ps(xg, _mm256_add_epi32(_mm256_slli_epi32(f, 3), lane), 4);
}

// Lane r's entry j_r of a table of K values (8 <= K <= 64, a multiple of 8) held in K / 8
// registers: a permute per register, then a blend per bit of j above the third.
template <int K>
inline __m256 Lookup(const __m256* v, __m256i j) {
  __m256 m[K / 8];
  for (int k = 0; k < K / 8; ++k) m[k] = _mm256_permutevar8x32_ps(v[k], j);
  for (int b = 3, w = K / 8; w > 1; ++b, w /= 2) {
    const __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(j, 31 - b));
    for (int k = 0; k < w / 2; ++k) m[k] = _mm256_blendv_ps(m[2 * k], m[2 * k + 1], hi);
  }
  return m[0];
}

// Levels [L, E) (L >= 1) of N groups: the level's thresholds and features
// in registers (Lookup), the rows' values gathered.
template <int L, int E, int N, bool kLE>
inline void LookupLevels(const float* thr, const int32_t* feat, const float* xg, int64_t stride, __m256i* j) {
  if constexpr (L < E) {
    constexpr int K = (1 << L) < 8 ? 8 : (1 << L);  // a level of < 8 reads the padding after it
    __m256 T[K / 8], F[K / 8];
    for (int k = 0; k < K / 8; ++k) {
      T[k] = _mm256_loadu_ps(thr + (1 << L) - 1 + 8 * k);
      F[k] = _mm256_loadu_ps(reinterpret_cast<const float*>(feat + (1 << L) - 1 + 8 * k));
    }
    for (int n = 0; n < N; ++n) {
      const __m256i f = _mm256_castps_si256(Lookup<K>(F, j[n]));
      j[n] = Down(j[n], LeftMask<kLE>(GatherX(xg + n * stride, f), Lookup<K>(T, j[n]), f));
    }
    LookupLevels<L + 1, E, N, kLE>(thr, feat, xg, stride, j);
  }
}

// Walks N groups (xg, xg + stride, ...) down a complete tree of depth D;
// j[n] receives each lane's leaf number.
template <int D, int N, bool kLE>
inline void WalkGroups(const float* thr, const int32_t* feat, const float* xg, int64_t stride, __m256i* j) {
  constexpr int C = D < kComparedLevels ? D : kComparedLevels;
  for (int n = 0; n < N; ++n) j[n] = CompareLevels<0, C, kLE>(thr, feat, xg + n * stride, _mm256_setzero_si256());
  constexpr int E = D <= kLookupLevels ? D : kLookupLevels - 1;
  LookupLevels<C, E, N, kLE>(thr, feat, xg, stride, j);
  for (int L = E; L < D; ++L) {  // deeper: gathers.
    const float* tl = thr + (1 << L) - 1;
    const int32_t* fl = feat + (1 << L) - 1;
    for (int n = 0; n < N; ++n) {
      const __m256i f = _mm256_i32gather_epi32(fl, j[n], 4);
      j[n] = Down(j[n], LeftMask<kLE>(GatherX(xg + n * stride, f), _mm256_i32gather_ps(tl, j[n], 4), f));
    }
  }
}

// Adds the leaves reached by N groups to their accumulators (8 floats or 8
// doubles a group, consecutive).
template <int D, int N>
inline void AddLeaves(const float* leaf, const __m256i* j, float* acc) {
  constexpr int K = (1 << D) < 8 ? 1 : (1 << D) / 8;
  __m256 L[K];
  if constexpr (D > 3 && D <= kLeafLookupDepth) {
    for (int k = 0; k < K; ++k) L[k] = _mm256_loadu_ps(leaf + 8 * k);
  }
  for (int n = 0; n < N; ++n) {
    __m256 v;
    if constexpr (D <= 3) {
      v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(leaf), j[n]);
    } else if constexpr (D <= kLeafLookupDepth) {
      v = Lookup<(1 << D)>(L, j[n]);
    } else {
      v = _mm256_i32gather_ps(leaf, j[n], 4);
    }
    _mm256_storeu_ps(acc + 8 * n, _mm256_add_ps(_mm256_loadu_ps(acc + 8 * n), v));
  }
}
template <int D, int N>
inline void AddLeaves(const double* leaf, const __m256i* j, double* acc) {
  for (int n = 0; n < N; ++n) {
    // The masked form: GCC 12 warns on the plain one's undefined source.
    const __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
    const __m256d lo = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), leaf, _mm256_castsi256_si128(j[n]), all, 8);
    const __m256d hi = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), leaf, _mm256_extracti128_si256(j[n], 1), all, 8);
    _mm256_storeu_pd(acc + 8 * n, _mm256_add_pd(_mm256_loadu_pd(acc + 8 * n), lo));
    _mm256_storeu_pd(acc + 8 * n + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 8 * n + 4), hi));
  }
}

// One complete tree over `groups` transposed 8-row groups: acc (8 per group)
// += the tree's leaves. Four groups at a time, then the rest one by one.
// kLE: LightGBM (the double accumulators) sends x <= t left, XGBoost x < t.
template <int D, class A, bool kLE = std::is_same_v<A, double>>
void CompleteTreeGroups(const float* thr, const int32_t* feat, const A* leaf, const float* xg, int64_t stride,
                        int64_t groups, A* acc) {
  constexpr int kInFlight = 4;
  __m256i j[kInFlight];
  int64_t q = 0;
  for (; q + kInFlight <= groups; q += kInFlight) {
    WalkGroups<D, kInFlight, kLE>(thr, feat, xg + q * stride, stride, j);
    AddLeaves<D, kInFlight>(leaf, j, acc + q * 8);
  }
  for (; q < groups; ++q) {
    WalkGroups<D, 1, kLE>(thr, feat, xg + q * stride, stride, j);
    AddLeaves<D, 1>(leaf, j, acc + q * 8);
  }
}

template <class A>
using CompleteKernel = void (*)(const float*, const int32_t*, const A*, const float*, int64_t, int64_t, A*);

// The kernel for depth D (1..kMaxCompleteDepth).
template <class A>
CompleteKernel<A> CompleteKernelFor(int32_t D) {
  static constexpr CompleteKernel<A> kTable[] = {
      nullptr,
      CompleteTreeGroups<1, A>, CompleteTreeGroups<2, A>, CompleteTreeGroups<3, A>, CompleteTreeGroups<4, A>,
      CompleteTreeGroups<5, A>, CompleteTreeGroups<6, A>, CompleteTreeGroups<7, A>, CompleteTreeGroups<8, A>,
      CompleteTreeGroups<9, A>, CompleteTreeGroups<10, A>};
  return kTable[D];
}
#endif

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
    for (int j = 0; complete && j < k; ++j) complete = f.complete[t + j] >= 0;
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
                      complete_offset_.data(), cthr_.data(),   cfeat_.data(),       cleaf_f_.data(),
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

  // Complete trees take the vector walk when rows are compared in float32.
#ifdef __AVX2__
  constexpr bool kVector = std::is_same_v<C, float>;
#else
  constexpr bool kVector = false;
#endif
  // The vector walk takes XGBoost's complete trees; LightGBM's leaf-wise
  // trees, even complete ones, take the early-exit walk (rows leave them
  // early), but those with categorical splits.
  auto vector_walk = [&](size_t u) { return complete_offset_[u] >= 0 && (xgb || !deep_->Has(u)); };
  bool any_complete = false;
  for (size_t t = t0; t < t1; ++t) any_complete |= vector_walk(t);
  const bool transpose = kVector && any_complete;

  ParallelBlocks(static_cast<size_t>(n), static_cast<size_t>(B), [&](size_t, size_t rb, size_t re) {
    const int64_t rows = static_cast<int64_t>(re - rb);
    const int64_t groups = (rows + kLanes - 1) / kLanes;
    const int64_t R = groups * kLanes;  // accumulator lanes per output group
    // Row pointers per lane; lanes past the end repeat the block's first row.
    std::vector<const T*> ptr(R);
    for (int64_t k = 0; k < R; ++k) ptr[k] = x + (rb + (k < rows ? k : 0)) * d;
    int32_t idx[kLanes];
    // The block in 8-row groups, feature-major, as float32 (the comparison
    // type); lanes past the end are 0 and their sums are dropped.
    // XGBoost rows twice: features [0, d) with NaN as +inf, [d, 2d) with NaN
    // as -inf (see BuildComplete).
    const int64_t xd = xgb ? 2 * d : d;
    std::vector<float> xg;
    if (transpose) {
      xg.assign(static_cast<size_t>(groups * xd * kLanes), 0.0f);
      constexpr float kInf = std::numeric_limits<float>::infinity();
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = xg.data() + (r / kLanes) * xd * kLanes + r % kLanes;
        const T* src = x + (rb + r) * d;
        if (xgb) {
          for (int64_t f = 0; f < d; ++f) {
            const float v = static_cast<float>(src[f]);
            dst[f * kLanes] = std::isnan(v) ? kInf : v;
            dst[(f + d) * kLanes] = std::isnan(v) ? -kInf : v;
          }
        } else {
          for (int64_t f = 0; f < d; ++f) dst[f * kLanes] = static_cast<float>(src[f]);
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
#ifdef __AVX2__
        if constexpr (kVector) {
          if (vector_walk(t)) {
            const int64_t c = complete_offset_[t];
            CompleteKernelFor<A>(tree_depth_[t])(cthr_.data() + c, cfeat_.data() + c, complete_leaves + c, xg.data(),
                                                 xd * kLanes, groups, acc_g);
            continue;
          }
        }
#endif
        // Trees without categorical splits, but those of the vector walk: the
        // early-exit walk (tree_deep.h), a batch of consecutive trees at once.
        auto deep = [&](size_t u) { return deep_->Has(u) && !(kVector && vector_walk(u)); };
        if (deep(t)) {
          int nt = 1;
          while (nt < tree_deep::kMaxBatchTrees && t + nt < t1 && deep(t + nt)) ++nt;
          deep_leaf.resize(static_cast<size_t>(tree_deep::kMaxBatchTrees * rows));
          tree_deep::Walk<T, C>(*deep_, t, nt, x + rb * d, d, rows, deep_leaf.data(), deep_scratch);
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
