// The vector walk of complete trees (TreeEnsemble::BuildComplete), compiled
// once per SIMD level (cpp/src/kernels/tree_kernels.cpp, twinscore/simd.h).
// The baseline has none (its table is empty: the engine walks the nodes);
// x86-64-v3 and v4 walk 8 rows per instruction with AVX2. The vector walk
// adds each tree's leaf to a row's sum in model order, as the node walks do,
// so every level gives the same bits.
#pragma once

#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

// acc (8 per group) += the leaves of one complete tree over `groups`
// transposed 8-row groups (xg, xg + stride, ...); thr / feat / leaf are the
// tree's complete layout, cbits the tables of its categorical nodes.
template <class A>
using CompleteKernel = void (*)(const float* thr, const int32_t* feat, const A* leaf, const uint32_t* cbits,
                                const float* xg, int64_t stride, int64_t groups, A* acc);

// A categorical node of the complete layout: its feature word has kCatNode,
// its feature's values in xg are category codes as int32 bits (tree_nodes.h), and its
// threshold slot holds (int32 bits) its table of one bit per code: the one
// word itself (kCatInline, features of <= 30 categories) or the table's
// offset in cbits (kCatShort when it fits a register: <= 8 words, read as 8).
// Features < 2^28.
constexpr int32_t kCatNode = 1 << 30;
constexpr int32_t kCatInline = 1 << 29;
constexpr int32_t kCatShort = 1 << 28;
constexpr int32_t kFeatureBits = kCatShort - 1;

constexpr int kMaxCompleteKernelDepth = 10;

struct TreeKernels {
  // Index: the tree's depth (1 .. kMaxCompleteKernelDepth); all null at the
  // baseline. float accumulators: XGBoost; double: LightGBM.
  CompleteKernel<float> complete_f[kMaxCompleteKernelDepth + 1];
  CompleteKernel<double> complete_d[kMaxCompleteKernelDepth + 1];
  // The same for trees with categorical nodes (numeric-only trees skip their tests).
  CompleteKernel<float> complete_cat_f[kMaxCompleteKernelDepth + 1];
  CompleteKernel<double> complete_cat_d[kMaxCompleteKernelDepth + 1];

  bool vector() const { return complete_f[1] != nullptr; }
  CompleteKernel<float> Complete(int32_t depth, bool cat, const float*) const {
    return cat ? complete_cat_f[depth] : complete_f[depth];
  }
  CompleteKernel<double> Complete(int32_t depth, bool cat, const double*) const {
    return cat ? complete_cat_d[depth] : complete_d[depth];
  }
};

TWINSCORE_DECLARE_KERNEL_TABLES(TreeKernels, kTrees)

inline const TreeKernels& Trees(SimdLevel level) {
  return ForLevel(level, simd_v2::kTrees, simd_v3::kTrees, simd_v4::kTrees);
}
inline const TreeKernels& Trees() { return Trees(ActiveSimdLevel()); }

}  // namespace twinscore::kernels
