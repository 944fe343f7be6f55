// The early-exit walk of deep trees (see tree_deep.h).
#include "tree_deep.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace twinscore::tree_deep {


namespace {

// The largest float <= t (t not NaN; -inf below -FLT_MAX).
float FloatAtMost(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace

void Layout::AppendTree(const Tree& tr, int64_t off, bool xgb) {
  const int32_t count = tr.num_nodes();
  bool ok = off + count <= std::numeric_limits<int32_t>::max() &&
            static_cast<int64_t>(nodes.size()) + count <= std::numeric_limits<int32_t>::max();
  for (int32_t i = 0; ok && i < count; ++i) {
    if (tr.left[i] < 0) continue;
    ok = tr.kind[i] != static_cast<uint8_t>(SplitKind::kCategorical) &&
         static_cast<uint32_t>(tr.feature[i]) <= kFeatureMask;
  }
  if (!ok) {
    root.push_back(kNoTree);
    return;
  }
  // The breadth-first order of TreeEnsemble::Build (children pushed left
  // then right): the k-th node of it is flat node off + k, which leaf codes
  // name. Internal nodes keep that order here.
  std::vector<int32_t> order{0};
  for (size_t k = 0; k < order.size(); ++k) {
    if (tr.left[order[k]] < 0) continue;
    order.push_back(tr.left[order[k]]);
    order.push_back(tr.right[order[k]]);
  }
  std::vector<int32_t> id(count);
  int32_t next = static_cast<int32_t>(nodes.size());
  for (size_t k = 0; k < order.size(); ++k) {
    id[order[k]] = tr.left[order[k]] < 0 ? ~static_cast<int32_t>(off + static_cast<int64_t>(k)) : next++;
  }
  root.push_back(id[0]);
  for (int32_t i : order) {
    if (tr.left[i] < 0) continue;
    Node n;
    n.feature = static_cast<uint32_t>(tr.feature[i]) | (tr.default_left[i] ? kDefaultLeft : 0u) |
                (tr.kind[i] == static_cast<uint8_t>(SplitKind::kNumericZeroMissing) ? kZeroMissing : 0u);
    // x <= threshold goes left. XGBoost: x < t in float32, i.e. x <= the
    // float before t. LightGBM: x <= t in double; for a float32 x that is
    // x <= the largest float <= t (+inf stays +inf: every value but NaN left).
    const double t = tr.threshold[i];
    double td = t;
    if (xgb) {
      n.threshold = std::nextafter(static_cast<float>(t), -std::numeric_limits<float>::infinity());
      td = n.threshold;
    } else {
      n.threshold = FloatAtMost(t);
    }
    n.child[0] = id[tr.left[i]];
    n.child[1] = id[tr.right[i]];
    nodes.push_back(n);
    threshold_d.push_back(td);
  }
}

namespace {

// One list entry: the node (high half) and the row's (tree in batch, row)
// packed as k << 16 | r (low half).
inline int64_t Entry(int32_t node, int32_t k, int32_t r) {
  return static_cast<int64_t>(static_cast<uint64_t>(static_cast<uint32_t>(node)) << 32 |
                              static_cast<uint32_t>(k << 16 | r));
}

// At most 2^16 rows per pass (the row field of an entry).
template <class T, class C>
void WalkChunk(const Layout& layout, size_t t, int nt, const T* x, int64_t d, int64_t rows, int64_t stride,
               int32_t* leaf, std::vector<int64_t>& list) {
  list.resize(static_cast<size_t>(nt * rows));
  int64_t n = 0;
  for (int k = 0; k < nt; ++k) {
    const int32_t root = layout.root[t + k];
    if (root < 0) {  // a one-leaf tree
      for (int64_t r = 0; r < rows; ++r) leaf[k * stride + r] = ~root;
      continue;
    }
    for (int64_t r = 0; r < rows; ++r) list[n++] = Entry(root, k, static_cast<int32_t>(r));
  }
  const Node* nodes = layout.nodes.data();
  const double* thr_d = layout.threshold_d.data();
  int64_t* e = list.data();
  while (n > 0) {
    int64_t m = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t entry = e[j];
      const int32_t i = static_cast<int32_t>(entry >> 32);
      const uint32_t kr = static_cast<uint32_t>(entry);
      const int64_t r = kr & 0xffff, k = kr >> 16;
      const Node& nd = nodes[i];
      const uint32_t f = nd.feature;
      const C v = static_cast<C>(x[r * d + (f & kFeatureMask)]);
      C thr;
      if constexpr (std::is_same_v<C, float>) {
        thr = nd.threshold;
      } else {
        thr = thr_d[i];
      }
      constexpr C kZero = static_cast<C>(tree_nodes::kZeroThreshold);
      // Missing: NaN, or zero for a zero-missing split; it takes the default.
      const uint32_t miss = static_cast<uint32_t>(std::isnan(v)) |
                            (((f & kZeroMissing) != 0) & (v >= -kZero) & (v <= kZero));
      const uint32_t left = (miss & (f >> 31)) | (~miss & static_cast<uint32_t>(v <= thr) & 1u);
      const int32_t c = nd.child[left ^ 1u];
      // The last write for a row is its leaf (c < 0); earlier ones are overwritten.
      leaf[k * stride + r] = ~c;
      e[m] = (static_cast<int64_t>(static_cast<uint32_t>(c)) << 32) | kr;
      m += c >= 0;
    }
    n = m;
  }
}

}  // namespace

template <class T, class C>
void Walk(const Layout& layout, size_t t, int nt, const T* x, int64_t d, int64_t rows, int32_t* leaf, Scratch& s) {
  constexpr int64_t kChunk = 1 << 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
    WalkChunk<T, C>(layout, t, nt, x + r0 * d, d, std::min(kChunk, rows - r0), rows, leaf + r0, s.list);
  }
}

template void Walk<float, float>(const Layout&, size_t, int, const float*, int64_t, int64_t, int32_t*, Scratch&);
template void Walk<double, float>(const Layout&, size_t, int, const double*, int64_t, int64_t, int32_t*, Scratch&);
template void Walk<double, double>(const Layout&, size_t, int, const double*, int64_t, int64_t, int32_t*, Scratch&);

}  // namespace twinscore::tree_deep
