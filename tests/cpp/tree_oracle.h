// The split rules of XGBoost and LightGBM and the margin they give, written
// out apart from the engine: the oracle of the tree tests.
#pragma once

#include <cmath>
#include <cstdint>

#include "twinscore/trees.h"

namespace twinscore::testing {

// Whether node i of t sends v right. XGBoost: x < t left, in float32, the
// categories of the set right; LightGBM: x <= t left, in double, the
// categories of the set left, zeros as missing for missing_type Zero.
template <class V>
bool GoesRight(const Tree& t, int32_t i, V v, bool xgb) {
  if (std::isnan(v)) return !t.default_left[i];
  if (t.kind[i] == static_cast<uint8_t>(SplitKind::kCategorical)) {
    const bool valid = (xgb ? v >= 0 : v > -1) && v < 64.0 * t.cat_words[i];
    bool in = false;
    if (valid) {
      const int64_t c = static_cast<int64_t>(v);
      in = (t.cat_bits[t.cat_begin[i] + c / 64] >> (c % 64)) & 1;
    }
    return xgb ? in : !in;
  }
  if (t.kind[i] == static_cast<uint8_t>(SplitKind::kNumericZeroMissing) && std::abs(static_cast<double>(v)) <= 1e-35f) {
    return !t.default_left[i];
  }
  if (xgb) return !(static_cast<float>(v) < static_cast<float>(t.threshold[i]));
  return !(static_cast<double>(v) <= t.threshold[i]);
}

// The margin of one row for one output group, walking the model's own
// arrays; XGBoost sums in float32 from the base margin, LightGBM in double.
template <class V>
double OracleMargin(const TreeModel& m, const V* x, int32_t group) {
  const bool xgb = m.flavor == TreeFlavor::kXGBoost;
  float sum_f = static_cast<float>(m.base_margin[group]);
  double sum_d = 0;
  for (const Tree& t : m.trees) {
    if (t.group != group) continue;
    int32_t i = 0;
    while (t.left[i] >= 0) i = GoesRight(t, i, x[t.feature[i]], xgb) ? t.right[i] : t.left[i];
    sum_f += static_cast<float>(t.value[i]);
    sum_d += t.value[i];
  }
  return xgb ? sum_f : sum_d + m.base_margin[group];
}

}  // namespace twinscore::testing
