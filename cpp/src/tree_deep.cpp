// The early-exit walk of deep trees (see tree_deep.h).
#include "tree_deep.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace twinscore::tree_deep {


namespace {

// The largest float <= t (t not NaN; -inf below -FLT_MAX).
float FloatAtMost(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace

void Layout::AppendTree(const Tree& tr, int64_t off, bool xgb, const std::vector<int32_t>& cat_k) {
  const int32_t count = tr.num_nodes();
  bool ok = off + count <= std::numeric_limits<int32_t>::max() &&
            static_cast<int64_t>(nodes.size()) + count < (int64_t{1} << 29);  // 4 * node index fits an int32
  for (int32_t i = 0; ok && i < count; ++i) {
    if (tr.left[i] < 0) continue;
    ok = (tr.kind[i] != static_cast<uint8_t>(SplitKind::kCategorical) || cat_k[tr.feature[i]] >= 0) &&
         static_cast<uint32_t>(tr.feature[i]) <= kFeatureMask;
  }
  if (!ok) {
    root.push_back(kNoTree);
    top_feature.resize(top_feature.size() + kTop, 0);
    top_threshold.resize(top_threshold.size() + kTop, 0.0f);
    top_exit.resize(top_exit.size() + kTop, 0);
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
    n.child[0] = id[tr.left[i]];
    n.child[1] = id[tr.right[i]];
    if (tr.kind[i] == static_cast<uint8_t>(SplitKind::kCategorical)) {
      // XGBoost sends its set right, LightGBM left.
      const int32_t k = cat_k[tr.feature[i]];
      const int32_t table = tree_nodes::AppendRightBits(tr.cat_bits.data() + tr.cat_begin[i], tr.cat_words[i], xgb,
                                                        tr.default_left[i], k, cat_bits);
      const int32_t words = tree_nodes::RightBitsWords(k);
      const uint32_t slot = words == 1 ? cat_bits[table] : static_cast<uint32_t>(table);
      if (words == 1) cat_bits.pop_back();  // held in the node
      std::memcpy(&n.threshold, &slot, sizeof(slot));
      n.feature = static_cast<uint32_t>(tr.feature[i]) | kCategorical |
                  (words == 1 ? kInlineTable : words <= 8 ? kShortTable : 0u);
      nodes.push_back(n);
      threshold_d.push_back(0.0);
      continue;
    }
    n.feature = static_cast<uint32_t>(tr.feature[i]) | (tr.default_left[i] ? kDefaultLeft : 0u) |
                (tr.kind[i] == static_cast<uint8_t>(SplitKind::kNumericZeroMissing) ? kZeroMissing : 0u);
    // x <= threshold goes left. XGBoost: x < t in float32, i.e. x <= the
    // float before t. LightGBM: x <= t in double; for a float32 x that is
    // x <= the largest float <= t (+inf stays +inf: every value but NaN left).
    const double t = tr.threshold[i];
    double td = t;
    if (xgb) {
      constexpr float kInf = std::numeric_limits<float>::infinity();
      const float tf = static_cast<float>(t);
      // x < -inf holds for no x: a NaN threshold, since "v <= NaN" is false
      // for every value (missing values still take the default).
      n.threshold = tf == -kInf ? std::numeric_limits<float>::quiet_NaN() : std::nextafter(tf, -kInf);
      td = n.threshold;
    } else {
      n.threshold = FloatAtMost(t);
    }
    nodes.push_back(n);
    threshold_d.push_back(td);
  }
  AppendTop(id[0]);
}

void Layout::AppendTop(int32_t root_id) {
  int32_t pos[2 * kTop - 1];  // heap positions of levels 0 .. kTopLevels: node or ~leaf
  pos[0] = root_id;
  for (int p = 0; p < kTop - 1; ++p) {
    const int32_t i = pos[p];
    if (i >= 0) {
      top_feature.push_back(nodes[i].feature);
      top_threshold.push_back(nodes[i].threshold);
      pos[2 * p + 1] = nodes[i].child[0];
      pos[2 * p + 2] = nodes[i].child[1];
    } else {  // a leaf: every value (NaN too, by default) goes left to it again
      top_feature.push_back(kDefaultLeft);
      top_threshold.push_back(std::numeric_limits<float>::infinity());
      pos[2 * p + 1] = pos[2 * p + 2] = i;
    }
  }
  top_feature.push_back(0);  // padding to kTop
  top_threshold.push_back(0.0f);
  for (int p = kTop - 1; p < 2 * kTop - 1; ++p) top_exit.push_back(pos[p]);
}

namespace {

// Whether categorical node nd sends code c right (its table inline or in cat_bits).
inline uint32_t CategoryRightBit(const Node& nd, int32_t c, const uint32_t* cat_bits) {
  uint32_t slot;
  std::memcpy(&slot, &nd.threshold, sizeof(slot));
  if (nd.feature & kInlineTable) return (slot >> c) & 1u;
  return tree_nodes::RightBit(cat_bits + slot, c);
}

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
  const uint32_t* cat_bits = layout.cat_bits.data();
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
      uint32_t left = (miss & (f >> 31)) | (~miss & static_cast<uint32_t>(v <= thr) & 1u);
      if (f & kCategorical) left = CategoryRightBit(nd, static_cast<int32_t>(v), cat_bits) ^ 1u;
      const int32_t c = nd.child[left ^ 1u];
      // The last write for a row is its leaf (c < 0); earlier ones are overwritten.
      leaf[k * stride + r] = ~c;
      e[m] = (static_cast<int64_t>(static_cast<uint32_t>(c)) << 32) | kr;
      m += c >= 0;
    }
    n = m;
  }
}

#ifdef __AVX2__
// The scalar pass above, 8 entries at a time (float32 rows, float32
// comparisons): the entry list is three int32 arrays (node, row offset
// r * d, leaf slot). A node is read whole by 64-bit gathers of 4 entries:
// (threshold, feature) and both children, all indexed by the node alone, so
// the dependent chain of a level is node -> row value (one 32-bit gather) ->
// compare -> blend of the two children, with no gather after the compare
// (on Zen 3 the whole prediction ran 1.6x faster in the kernel benchmark than
// with 8-lane gathers of the feature, the threshold, then the chosen child). Entries
// still on an internal node are compress-stored back in place (a permutation
// looked up from the 8-bit mask), finished ones into a done list written out
// at the end. Rows reached here satisfy rows * d + d < 2^31. Every row starts
// at the root, so the first 3 levels take no gather at all: Top compares all
// 7 of their nodes for 8 rows and seeds the list with the level-3 nodes (or
// writes the leaves of rows already done).

// kCompress[m]: the lanes set in m, first, in order.
struct CompressTable {
  alignas(32) int32_t idx[256][8];
  CompressTable() {
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int b = 0; b < 8; ++b) {
        if (m >> b & 1) idx[m][k++] = b;
      }
      while (k < 8) idx[m][k++] = 0;
    }
  }
};
const CompressTable kCompress;

inline void CompressStore(int32_t* dst, __m256i v, int mask) {
  const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress.idx[mask]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(v, perm));
}

const __m256i kLane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

// xt = the rows x[0 .. rows) in groups of 8 rows, feature-major (value f of
// row 8g + l at (g * d + f) * 8 + l); lanes past the end are 0.
void TransposeGroups(const float* x, int64_t d, int64_t rows, int64_t groups, std::vector<float>& xt) {
  xt.assign(static_cast<size_t>(groups * d * 8), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = xt.data() + (r / 8) * d * 8 + r % 8;
    const float* src = x + r * d;
    for (int64_t f = 0; f < d; ++f) dst[f * 8] = src[f];
  }
}

// All ones in the lanes whose word w has bit 0 set.
inline __m256 BitSet(__m256i w) {
  const __m256i one = _mm256_set1_epi32(1);
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(w, one), one));
}

// Each lane's table word holding bit c, shifted to bit 0: gathered from
// cat_bits at word offset off + c / 32, in the lanes of `lanes` only.
inline __m256i GatherBit(__m256i c, __m256i off, __m256i lanes, const uint32_t* cat_bits) {
  const __m256i w = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(cat_bits),
                                                _mm256_add_epi32(off, _mm256_srli_epi32(c, 5)), lanes, 4);
  return _mm256_srlv_epi32(w, _mm256_and_si256(c, _mm256_set1_epi32(31)));
}

// The lanes (codes v) that one categorical node (feature word f, threshold
// slot `slot`), the same in every lane, sends right. An inline table is a
// shift away; a short one (<= 8 words) a register and a permute; longer
// ones are gathered.
inline __m256 CategoryRight(__m256 v, uint32_t f, int32_t slot, const uint32_t* cat_bits) {
  const __m256i c = _mm256_cvttps_epi32(v);
  if (f & kInlineTable) return BitSet(_mm256_srlv_epi32(_mm256_set1_epi32(slot), c));
  if (f & kShortTable) {
    const __m256i table = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cat_bits + slot));
    const __m256i w = _mm256_permutevar8x32_epi32(table, _mm256_srli_epi32(c, 5));
    return BitSet(_mm256_srlv_epi32(w, _mm256_and_si256(c, _mm256_set1_epi32(31))));
  }
  return BitSet(GatherBit(c, _mm256_set1_epi32(slot), _mm256_set1_epi32(-1), cat_bits));
}

// The first 3 levels of one tree (Layout::top_*) for 8 rows at once, without
// gathers: every node of the levels is compared for all 8 rows (a contiguous
// load of the transposed group), and each row's way down selected by blends.
class Top {
 public:
  static constexpr int L = Layout::kTopLevels;
  static_assert(L >= 1 && L <= 4, "exits fit two registers");

  Top(const Layout& layout, size_t t)
      : cat_bits_(layout.cat_bits.data()),
        feature_(layout.top_feature.data() + t * Layout::kTop),
        threshold_(layout.top_threshold.data() + t * Layout::kTop),
        exit_(layout.top_exit.data() + t * Layout::kTop) {}

  // What each row of the group xg reaches at level L: a node, or ~leaf.
  __m256i Exit(const float* xg) const {
    __m256 b[L];  // b[l]: the rows going right at level l
    __m256i j = _mm256_setzero_si256();  // the rows' position in the level
    for (int l = 0; l < L; ++l) {
      // Compare every node of the level, then blend down to each row's
      // node, one bit of its position (least significant first) a round.
      __m256 m[1 << (L - 1)];
      const int count = 1 << l, first = count - 1;
      for (int i = 0; i < count; ++i) m[i] = Right(xg, first + i);
      for (int s = l - 1; s >= 0; --s) {
        for (int i = 0; i < (1 << s); ++i) m[i] = _mm256_blendv_ps(m[2 * i], m[2 * i + 1], b[s]);
      }
      b[l] = m[0];
      j = _mm256_or_si256(_mm256_slli_epi32(j, 1), _mm256_srli_epi32(_mm256_castps_si256(b[l]), 31));
    }
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(exit_));
    if constexpr (L <= 3) return _mm256_permutevar8x32_epi32(lo, j);
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(exit_ + 8));
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(_mm256_permutevar8x32_epi32(lo, j)),
                                                _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(hi, j)), b[0]));
  }

 private:
  // All ones in the rows that top node p sends right: a missing value (NaN,
  // or |v| <= kZeroThreshold at a zero-missing split) goes to the default,
  // the others right iff not v <= threshold.
  __m256 Right(const float* xg, int p) const {
    const uint32_t f = feature_[p];
    const __m256 v = _mm256_loadu_ps(xg + (f & kFeatureMask) * 8);
    if (f & kCategorical) {
      int32_t slot;
      std::memcpy(&slot, threshold_ + p, sizeof(slot));
      return CategoryRight(v, f, slot, cat_bits_);
    }
    __m256 miss = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if (f & kZeroMissing) {
      const __m256 abs = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
      miss = _mm256_or_ps(miss, _mm256_cmp_ps(abs, _mm256_set1_ps(tree_nodes::kZeroThreshold), _CMP_LE_OQ));
    }
    const __m256 right = _mm256_cmp_ps(v, _mm256_set1_ps(threshold_[p]), _CMP_NLE_UQ);
    const __m256 def = _mm256_castsi256_ps(_mm256_set1_epi32(f & kDefaultLeft ? 0 : -1));
    return _mm256_blendv_ps(right, def, miss);
  }

  const uint32_t* cat_bits_;
  const uint32_t* feature_;
  const float* threshold_;
  const int32_t* exit_;
};

void WalkChunkAvx2(const Layout& layout, size_t t, int nt, const float* x, int64_t d, int64_t rows, int64_t stride,
                   int32_t* leaf, Scratch& s) {
  const size_t cap = static_cast<size_t>(nt * rows + 8);
  for (auto* v : {&s.node, &s.xoff, &s.slot, &s.done_slot, &s.done_code}) {
    if (v->size() < cap) v->resize(cap);
  }
  int32_t *node = s.node.data(), *xoff = s.xoff.data(), *slot = s.slot.data();
  int32_t *done_slot = s.done_slot.data(), *done_code = s.done_code.data();
  const int64_t groups = (rows + 7) / 8;
  if (s.xt_of != x || s.xt_d != d || s.xt_rows != rows) {  // a new block: its first batch of trees
    TransposeGroups(x, d, rows, groups, s.xt);
    s.xt_of = x;
    s.xt_d = d;
    s.xt_rows = rows;
  }
  int64_t n = 0, dm = 0;
  for (int k = 0; k < nt; ++k) {
    const int32_t root = layout.root[t + k];
    if (root < 0) {  // a one-leaf tree
      for (int64_t r = 0; r < rows; ++r) leaf[k * stride + r] = ~root;
      continue;
    }
    const Top top(layout, t + k);
    for (int64_t g = 0; g < groups; ++g) {
      const __m256i code = top.Exit(s.xt.data() + g * d * 8);
      const __m256i r = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(g * 8)), kLane);
      const __m256i xo = _mm256_mullo_epi32(r, _mm256_set1_epi32(static_cast<int32_t>(d)));
      const __m256i sl = _mm256_add_epi32(r, _mm256_set1_epi32(static_cast<int32_t>(k * stride)));
      const int valid = rows - g * 8 >= 8 ? 0xff : (1 << (rows - g * 8)) - 1;
      const int done = _mm256_movemask_ps(_mm256_castsi256_ps(code)) & valid;
      const int keep = ~done & valid;
      CompressStore(node + n, code, keep);
      CompressStore(xoff + n, xo, keep);
      CompressStore(slot + n, sl, keep);
      n += _mm_popcnt_u32(keep);
      CompressStore(done_slot + dm, sl, done);
      CompressStore(done_code + dm, _mm256_xor_si256(code, _mm256_set1_epi32(-1)), done);
      dm += _mm_popcnt_u32(done);
    }
  }
  const Node* nodes = layout.nodes.data();
  static_assert(sizeof(Node) == 16 && offsetof(Node, child) == 8, "(threshold, feature), (child[0], child[1]): two qwords");
  const __m256i feat_mask = _mm256_set1_epi32(kFeatureMask);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 zero_thr = _mm256_set1_ps(tree_nodes::kZeroThreshold);
  const uint32_t* cat_bits = layout.cat_bits.data();
  while (n > 0) {
    int64_t m = 0, j = 0;
    // U groups of 8 entries a step, their gathers issued side by side so
    // that U independent chains (feature -> value -> child) overlap.
    auto step = [&](auto u_const) {
      constexpr int U = decltype(u_const)::value;
      __m256i nd[U], xo[U], sl[U], c[U];
      for (int u = 0; u < U; ++u) {
        nd[u] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(node + j + 8 * u));
        xo[u] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xoff + j + 8 * u));
        sl[u] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(slot + j + 8 * u));
      }
      // Each node as two 64-bit halves gathered 4 entries at a time: (threshold,
      // feature) and (child[0], child[1]). Both children come with the node,
      // so the chain is node -> row value -> compare -> blend, no gather after
      // the compare.
      __m256i f[U], c0[U], c1[U];
      __m256 thr[U], v[U];
      const long long* nq = reinterpret_cast<const long long*>(nodes);
      for (int u = 0; u < U; ++u) {
        const __m256i i2 = _mm256_slli_epi32(nd[u], 1);  // qword index of the node
        const __m128i lo = _mm256_castsi256_si128(i2), hi = _mm256_extracti128_si256(i2, 1);
        const __m256 a_lo = _mm256_castsi256_ps(_mm256_i32gather_epi64(nq, lo, 8));
        const __m256 a_hi = _mm256_castsi256_ps(_mm256_i32gather_epi64(nq, hi, 8));
        const __m256 b_lo = _mm256_castsi256_ps(_mm256_i32gather_epi64(nq + 1, lo, 8));
        const __m256 b_hi = _mm256_castsi256_ps(_mm256_i32gather_epi64(nq + 1, hi, 8));
        // Even / odd int32 of the 8 qwords, back in entry order.
        thr[u] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a_lo, a_hi, 0x88)), 0xD8));
        f[u] = _mm256_castpd_si256(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a_lo, a_hi, 0xDD)), 0xD8));
        c0[u] = _mm256_castpd_si256(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b_lo, b_hi, 0x88)), 0xD8));
        c1[u] = _mm256_castpd_si256(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b_lo, b_hi, 0xDD)), 0xD8));
      }
      for (int u = 0; u < U; ++u) {
        v[u] = _mm256_i32gather_ps(x, _mm256_add_epi32(xo[u], _mm256_and_si256(f[u], feat_mask)), 4);
      }
      for (int u = 0; u < U; ++u) {
        // Missing (NaN, or |v| <= kZeroThreshold at a zero-missing split)
        // takes the default (bit 31 of f); others go left iff v <= thr.
        const __m256 zm = _mm256_castsi256_ps(_mm256_srai_epi32(_mm256_slli_epi32(f[u], 1), 31));
        const __m256 miss = _mm256_or_ps(
            _mm256_cmp_ps(v[u], v[u], _CMP_UNORD_Q),
            _mm256_and_ps(zm, _mm256_cmp_ps(_mm256_and_ps(v[u], abs_mask), zero_thr, _CMP_LE_OQ)));
        const __m256 left = _mm256_or_ps(_mm256_andnot_ps(miss, _mm256_cmp_ps(v[u], thr[u], _CMP_LE_OQ)),
                                         _mm256_and_ps(miss, _mm256_castsi256_ps(_mm256_srai_epi32(f[u], 31))));
        c[u] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(c1[u]), _mm256_castsi256_ps(c0[u]), left));
        // Entries on categorical nodes: their code's bit picks the child.
        // Inline tables are shifted, the others gathered.
        const __m256i cat = _mm256_srai_epi32(_mm256_slli_epi32(f[u], 2), 31);
        if (!_mm256_testz_si256(cat, cat)) {
          const __m256i code = _mm256_cvttps_epi32(v[u]);
          const __m256i inl = _mm256_srai_epi32(_mm256_slli_epi32(f[u], 3), 31);
          __m256i w = _mm256_srlv_epi32(_mm256_castps_si256(thr[u]), code);
          const __m256i far = _mm256_andnot_si256(inl, cat);
          if (!_mm256_testz_si256(far, far)) {
            const __m256i g = GatherBit(code, _mm256_castps_si256(thr[u]), far, cat_bits);
            w = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(w), _mm256_castsi256_ps(g), _mm256_castsi256_ps(far)));
          }
          const __m256 right = BitSet(w);
          const __m256 cc = _mm256_blendv_ps(_mm256_castsi256_ps(c0[u]), _mm256_castsi256_ps(c1[u]), right);
          c[u] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(c[u]), cc, _mm256_castsi256_ps(cat)));
        }
      }
      for (int u = 0; u < U; ++u) {
        const int done = _mm256_movemask_ps(_mm256_castsi256_ps(c[u]));
        const int keep = ~done & 0xff;
        CompressStore(node + m, c[u], keep);
        CompressStore(xoff + m, xo[u], keep);
        CompressStore(slot + m, sl[u], keep);
        m += _mm_popcnt_u32(keep);
        CompressStore(done_slot + dm, sl[u], done);
        CompressStore(done_code + dm, _mm256_xor_si256(c[u], _mm256_set1_epi32(-1)), done);
        dm += _mm_popcnt_u32(done);
      }
      j += 8 * U;
    };
    while (j + 32 <= n) step(std::integral_constant<int, 4>{});
    while (j + 8 <= n) step(std::integral_constant<int, 1>{});
    for (; j < n; ++j) {  // the last < 8 entries, one by one
      const Node& nd = nodes[node[j]];
      const uint32_t f = nd.feature;
      const float v = x[xoff[j] + (f & kFeatureMask)];
      const uint32_t miss = static_cast<uint32_t>(std::isnan(v)) |
                            (((f & kZeroMissing) != 0) & (std::fabs(v) <= tree_nodes::kZeroThreshold));
      uint32_t left = (miss & (f >> 31)) | (~miss & static_cast<uint32_t>(v <= nd.threshold) & 1u);
      if (f & kCategorical) left = CategoryRightBit(nd, static_cast<int32_t>(v), cat_bits) ^ 1u;
      const int32_t c = nd.child[left ^ 1u];
      if (c < 0) {
        leaf[slot[j]] = ~c;
        continue;
      }
      node[m] = c;
      xoff[m] = xoff[j];
      slot[m] = slot[j];
      ++m;
    }
    n = m;
  }
  for (int64_t k = 0; k < dm; ++k) leaf[done_slot[k]] = done_code[k];
}
#endif

}  // namespace

template <class T, class C>
void Walk(const Layout& layout, size_t t, int nt, const T* x, int64_t d, int64_t rows, int32_t* leaf, Scratch& s) {
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float> && std::is_same_v<C, float>) {
    const int64_t chunk = std::min<int64_t>(int64_t{1} << 16, std::numeric_limits<int32_t>::max() / d - 2);
    if (chunk >= 1 && nt * rows < std::numeric_limits<int32_t>::max() - 8) {
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t nr = std::min(chunk, rows - r0);
        // leaf slots are k * rows + r: chunk offsets move the leaf pointer.
        WalkChunkAvx2(layout, t, nt, x + r0 * d, d, nr, rows, leaf + r0, s);
      }
      return;
    }
  }
#endif
  constexpr int64_t kChunk = 1 << 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
    WalkChunk<T, C>(layout, t, nt, x + r0 * d, d, std::min(kChunk, rows - r0), rows, leaf + r0, s.list);
  }
}

template void Walk<float, float>(const Layout&, size_t, int, const float*, int64_t, int64_t, int32_t*, Scratch&);
template void Walk<double, float>(const Layout&, size_t, int, const double*, int64_t, int64_t, int32_t*, Scratch&);
template void Walk<double, double>(const Layout&, size_t, int, const double*, int64_t, int64_t, int32_t*, Scratch&);

}  // namespace twinscore::tree_deep
