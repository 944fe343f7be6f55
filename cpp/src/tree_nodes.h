// Internal to the tree engine: how one flat node sends a value left or right,
// shared by the prediction kernels (trees.cpp) and TreeSHAP (tree_shap.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "twinscore/trees.h"

namespace twinscore::tree_nodes {

using FlatNode = TreeEnsemble::FlatNode;
using CatSet = TreeEnsemble::CatSet;

// LightGBM's kZeroThreshold: values this close to 0 are zero (missing_type Zero).
constexpr float kZeroThreshold = 1e-35f;

// Whether a categorical node sends x right (x not NaN).
template <class C>
inline bool CategoryRight(const FlatNode& nd, C x, const CatSet* cats, const uint64_t* bits, bool xgb) {
  int32_t id;
  std::memcpy(&id, &nd.threshold, sizeof(id));
  const CatSet& s = cats[id];
  // XGBoost: negative values are not categories; LightGBM truncates first
  // (-0.5 is category 0).
  const bool valid = (xgb ? x >= C(0) : x > C(-1)) && x < C(64) * static_cast<C>(s.words);
  bool in_set = false;
  if (valid) {
    const int64_t c = static_cast<int64_t>(x);
    in_set = (bits[s.begin + c / 64] >> (c % 64)) & 1;
  }
  return in_set == static_cast<bool>(s.set_right);
}

// Whether node nd sends x right. C is the comparison precision.
template <class C>
inline bool GoRight(const FlatNode& nd, double td, C x, const CatSet* cats, const uint64_t* bits, bool xgb) {
  if (std::isnan(x)) return !nd.default_left;
  if (nd.kind == static_cast<uint8_t>(SplitKind::kNumericNotMissingLeft)) return false;
  if (nd.kind == static_cast<uint8_t>(SplitKind::kNumeric)) {
    if constexpr (std::is_same_v<C, float>) {
      return !(x < nd.threshold);
    } else {
      return !(x < td);
    }
  }
  if (nd.kind == static_cast<uint8_t>(SplitKind::kNumericZeroMissing) ||
      nd.kind == static_cast<uint8_t>(SplitKind::kNumericZeroMissingNotMissingLeft)) {
    if (x >= -kZeroThreshold && x <= kZeroThreshold) return !nd.default_left;
    // At threshold +inf, "x < +inf" would send +inf right; LightGBM's x <= +inf sends it left.
    if (nd.kind == static_cast<uint8_t>(SplitKind::kNumericZeroMissingNotMissingLeft)) return false;
    if constexpr (std::is_same_v<C, float>) {
      return !(x < nd.threshold);
    } else {
      return !(x < td);
    }
  }
  return CategoryRight(nd, x, cats, bits, xgb);
}

// ---------------------------------------------- categories in the vector walks
//
// The vector walks cannot afford GoRight's branches, so a feature that every
// split of the model treats as categorical is read there as a code, computed
// once per row and feature (CategoryCode), and each categorical node as a
// table of one bit per code: 1 = right (AppendRightBits). The table says
// everything the library's rules say: XGBoost's set goes right, LightGBM's
// left, invalid values (negative, too large) take the "not in the set" side,
// NaN the node's default.
//
// Codes of a feature with k categories (k = 1 + its highest category in any
// set of the model): 0 .. k-1 the category, k any value in no set, k + 1 NaN.

// Features with more categories keep the node walk (tables of 2^17 bytes a node).
constexpr int32_t kMaxFastCategories = 1 << 20;

// The code of value x (compared in C, as GoRight) of a feature of k categories.
template <class C>
inline C CategoryCode(C x, int32_t k, bool xgb) {
  if (std::isnan(x)) return static_cast<C>(k + 1);
  // XGBoost: negative values are not categories; LightGBM truncates first
  // (-0.5 is category 0). Either way the code is the truncated value.
  const bool valid = (xgb ? x >= C(0) : x > C(-1)) && x < static_cast<C>(k);
  return valid ? static_cast<C>(static_cast<int32_t>(x)) : static_cast<C>(k);
}

// Number of 32-bit words of a node table for a feature of k categories.
inline int32_t RightBitsWords(int32_t k) { return (k + 2 + 31) / 32; }

// Appends to out the table of a categorical node (set: its `words` 64-bit
// words; set_right: XGBoost) for a feature of k categories; returns its offset.
inline int32_t AppendRightBits(const uint64_t* set, int32_t words, bool set_right, bool default_left, int32_t k,
                               std::vector<uint32_t>& out) {
  const int32_t off = static_cast<int32_t>(out.size());
  out.resize(out.size() + RightBitsWords(k), 0u);
  auto put = [&](int32_t code, bool right) { out[off + code / 32] |= static_cast<uint32_t>(right) << (code % 32); };
  for (int32_t c = 0; c < k; ++c) {
    const bool in_set = c < 64 * words && ((set[c / 64] >> (c % 64)) & 1);
    put(c, in_set == set_right);
  }
  put(k, !set_right);  // in no set
  put(k + 1, !default_left);
  return off;
}

// Whether the table at `table` sends code c right (the scalar walks' test).
inline bool RightBit(const uint32_t* table, int32_t c) { return (table[c / 32] >> (c % 32)) & 1; }

}  // namespace twinscore::tree_nodes
