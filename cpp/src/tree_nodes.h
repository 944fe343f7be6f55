// Internal to the tree engine: how one flat node sends a value left or right,
// shared by the prediction kernels (trees.cpp) and TreeSHAP (tree_shap.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

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

}  // namespace twinscore::tree_nodes
