#include "kernel_level.h"
#include "../tree_kernels.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace twinscore::kernels::TWINSCORE_SIMD_NS {

#ifdef __AVX2__
namespace {

// The walk's helpers must inline into each kernel: GCC's size limits left the
// categorical kernels calling them, every vector passed through memory
// (2.7x slower than the numeric kernels on a categorical model).
#define TWINSCORE_WALK inline __attribute__((always_inline))

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
TWINSCORE_WALK __m256 LeftMask(__m256 x, __m256 t, __m256i f) {
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
TWINSCORE_WALK __m256i Down(__m256i j, __m256 left) {
  return _mm256_add_epi32(_mm256_add_epi32(j, j), _mm256_add_epi32(_mm256_set1_epi32(1), _mm256_castps_si256(left)));
}

// Offset of a feature word's 8 values in a group (flag bits dropped).
TWINSCORE_WALK int64_t FeatureOffset(int32_t f) { return static_cast<int64_t>(f & kFeatureBits) * 8; }

// Lanes whose word w has bit 0 clear: those a categorical node sends left.
TWINSCORE_WALK __m256 BitClear(__m256i w) {
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(w, _mm256_set1_epi32(1)), _mm256_setzero_si256()));
}

// The word holding bit c of each lane's table at word offset `off`, shifted
// so that the bit is bit 0; gathered in the lanes of `lanes` only (the others
// read nothing).
TWINSCORE_WALK __m256i GatherBit(__m256i c, __m256i off, const uint32_t* cbits, __m256i lanes) {
  const __m256i w = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(cbits),
                                                _mm256_add_epi32(off, _mm256_srli_epi32(c, 5)), lanes, 4);
  return _mm256_srlv_epi32(w, _mm256_and_si256(c, _mm256_set1_epi32(31)));
}

// The lanes (codes x, int32 bits) that one categorical node, the same in every lane,
// sends left; slot is its threshold slot. A table of one word is in the slot
// itself (kCatInline: codes < 32, a shift picks the bit); one of <= 8 words
// (kCatShort) is a register, each lane's word a permute away; longer ones
// are gathered.
TWINSCORE_WALK __m256 CategoryLeft(__m256 x, int32_t slot, int32_t f, const uint32_t* cbits) {
  const __m256i c = _mm256_castps_si256(x);  // int32 codes
  if (f & kCatInline) return BitClear(_mm256_srlv_epi32(_mm256_set1_epi32(slot), c));
  if (f & kCatShort) {
    const __m256i table = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cbits + slot));
    const __m256i w = _mm256_permutevar8x32_epi32(table, _mm256_srli_epi32(c, 5));
    return BitClear(_mm256_srlv_epi32(w, _mm256_and_si256(c, _mm256_set1_epi32(31))));
  }
  return BitClear(GatherBit(c, _mm256_set1_epi32(slot), cbits, _mm256_set1_epi32(-1)));
}

// LeftMask, and with kCat the lanes on a categorical node (kCatNode in f)
// tested against their tables instead: t holds their slots, the table word
// itself (kCatInline) or its offset. Inline tables need no gather.
template <bool kLE, bool kCat>
TWINSCORE_WALK __m256 NodeLeft(__m256 x, __m256 t, __m256i f, const uint32_t* cbits) {
  __m256 left = LeftMask<kLE>(x, t, f);
  if constexpr (kCat) {
    const __m256i cat = _mm256_srai_epi32(_mm256_slli_epi32(f, 1), 31);
    if (!_mm256_testz_si256(cat, cat)) {
      const __m256i c = _mm256_castps_si256(x);  // int32 codes
      const __m256i inl = _mm256_srai_epi32(_mm256_slli_epi32(f, 2), 31);
      __m256i w = _mm256_srlv_epi32(_mm256_castps_si256(t), c);
      const __m256i far = _mm256_andnot_si256(inl, cat);
      if (!_mm256_testz_si256(far, far)) {
        const __m256i g = GatherBit(c, _mm256_castps_si256(t), cbits, far);
        w = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(w), _mm256_castsi256_ps(g), _mm256_castsi256_ps(far)));
      }
      left = _mm256_blendv_ps(left, BitClear(w), _mm256_castsi256_ps(cat));
    }
  }
  return left;
}

// One level of K nodes (thr, feat: the level's first slot), every node compared.
template <int K, bool kLE, bool kCat>
TWINSCORE_WALK __m256i CompareLevel(const float* thr, const int32_t* feat, const uint32_t* cbits, const float* xg,
                            __m256i j) {
  __m256 m[K];
  // Unrolled, so that m stays in registers across the categorical branches.
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) {
    const __m256 x = _mm256_loadu_ps(xg + FeatureOffset(feat[k]));
    if (kCat && (feat[k] & kCatNode)) {
      int32_t slot;
      std::memcpy(&slot, thr + k, sizeof(slot));
      m[k] = CategoryLeft(x, slot, feat[k], cbits);
    } else {
      m[k] = LeftMask<kLE>(x, _mm256_set1_ps(thr[k]), _mm256_set1_epi32(feat[k]));
    }
  }
  // Lane r keeps m[j_r][r]: a blend per bit of j, lowest first.
  for (int b = 0, w = K; w > 1; ++b, w /= 2) {
    const __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(j, 31 - b));
    for (int k = 0; k < w / 2; ++k) m[k] = _mm256_blendv_ps(m[2 * k], m[2 * k + 1], hi);
  }
  return Down(j, m[0]);
}

// Levels [L, E) of a complete tree by CompareLevel.
template <int L, int E, bool kLE, bool kCat>
TWINSCORE_WALK __m256i CompareLevels(const float* thr, const int32_t* feat, const uint32_t* cbits, const float* xg,
                             __m256i j) {
  if constexpr (L < E) {
    j = CompareLevel<(1 << L), kLE, kCat>(thr + (1 << L) - 1, feat + (1 << L) - 1, cbits, xg, j);
    return CompareLevels<L + 1, E, kLE, kCat>(thr, feat, cbits, xg, j);
  } else {
    return j;
  }
}

// x of each lane's node feature: the flag bits dropped, the feature scaled
// to its 8 values in the group.
TWINSCORE_WALK __m256 GatherX(const float* xg, __m256i f) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i feature = _mm256_and_si256(f, _mm256_set1_epi32(kFeatureBits));
  return _mm256_i32gather_ps(xg, _mm256_add_epi32(_mm256_slli_epi32(feature, 3), lane), 4);
}

// Lane r's entry j_r of a table of K values (8 <= K <= 64, a multiple of 8) held in K / 8
// registers: a permute per register, then a blend per bit of j above the third.
template <int K>
TWINSCORE_WALK __m256 Lookup(const __m256* v, __m256i j) {
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
template <int L, int E, int N, bool kLE, bool kCat>
TWINSCORE_WALK void LookupLevels(const float* thr, const int32_t* feat, const uint32_t* cbits, const float* xg,
                         int64_t stride, __m256i* j) {
  if constexpr (L < E) {
    constexpr int K = (1 << L) < 8 ? 8 : (1 << L);  // a level of < 8 reads the padding after it
    __m256 T[K / 8], F[K / 8];
    for (int k = 0; k < K / 8; ++k) {
      T[k] = _mm256_loadu_ps(thr + (1 << L) - 1 + 8 * k);
      F[k] = _mm256_loadu_ps(reinterpret_cast<const float*>(feat + (1 << L) - 1 + 8 * k));
    }
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) {
      const __m256i f = _mm256_castps_si256(Lookup<K>(F, j[n]));
      j[n] = Down(j[n], NodeLeft<kLE, kCat>(GatherX(xg + n * stride, f), Lookup<K>(T, j[n]), f, cbits));
    }
    LookupLevels<L + 1, E, N, kLE, kCat>(thr, feat, cbits, xg, stride, j);
  }
}

// Walks N groups (xg, xg + stride, ...) down a complete tree of depth D;
// j[n] receives each lane's leaf number.
template <int D, int N, bool kLE, bool kCat>
TWINSCORE_WALK void WalkGroups(const float* thr, const int32_t* feat, const uint32_t* cbits, const float* xg,
                       int64_t stride, __m256i* j) {
  constexpr int C = D < kComparedLevels ? D : kComparedLevels;
  for (int n = 0; n < N; ++n) {
    j[n] = CompareLevels<0, C, kLE, kCat>(thr, feat, cbits, xg + n * stride, _mm256_setzero_si256());
  }
  constexpr int E = D <= kLookupLevels ? D : kLookupLevels - 1;
  LookupLevels<C, E, N, kLE, kCat>(thr, feat, cbits, xg, stride, j);
  for (int L = E; L < D; ++L) {  // deeper: gathers.
    const float* tl = thr + (1 << L) - 1;
    const int32_t* fl = feat + (1 << L) - 1;
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) {
      const __m256i f = _mm256_i32gather_epi32(fl, j[n], 4);
      const __m256 t = _mm256_i32gather_ps(tl, j[n], 4);
      j[n] = Down(j[n], NodeLeft<kLE, kCat>(GatherX(xg + n * stride, f), t, f, cbits));
    }
  }
}

// Adds the leaves reached by N groups to their accumulators (8 floats or 8
// doubles a group, consecutive).
template <int D, int N>
TWINSCORE_WALK void AddLeaves(const float* leaf, const __m256i* j, float* acc) {
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
TWINSCORE_WALK void AddLeaves(const double* leaf, const __m256i* j, double* acc) {
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
// kCat: the tree has categorical nodes.
template <int D, class A, bool kCat, bool kLE = std::is_same_v<A, double>>
void CompleteTreeGroups(const float* thr, const int32_t* feat, const A* leaf, const uint32_t* cbits,
                        const float* xg, int64_t stride, int64_t groups, A* acc) {
  constexpr int kInFlight = 4;
  __m256i j[kInFlight];
  int64_t q = 0;
  for (; q + kInFlight <= groups; q += kInFlight) {
    WalkGroups<D, kInFlight, kLE, kCat>(thr, feat, cbits, xg + q * stride, stride, j);
    AddLeaves<D, kInFlight>(leaf, j, acc + q * 8);
  }
  for (; q < groups; ++q) {
    WalkGroups<D, 1, kLE, kCat>(thr, feat, cbits, xg + q * stride, stride, j);
    AddLeaves<D, 1>(leaf, j, acc + q * 8);
  }
}

}  // namespace

// The kernels per depth (1 .. kMaxCompleteKernelDepth).
#define TWINSCORE_COMPLETE_KERNELS(A, CAT)                                                             \
  {                                                                                                    \
    nullptr, CompleteTreeGroups<1, A, CAT>, CompleteTreeGroups<2, A, CAT>, CompleteTreeGroups<3, A, CAT>, \
        CompleteTreeGroups<4, A, CAT>, CompleteTreeGroups<5, A, CAT>, CompleteTreeGroups<6, A, CAT>,     \
        CompleteTreeGroups<7, A, CAT>, CompleteTreeGroups<8, A, CAT>, CompleteTreeGroups<9, A, CAT>,     \
        CompleteTreeGroups<10, A, CAT>                                                                 \
  }
const TreeKernels kTrees = {
    TWINSCORE_COMPLETE_KERNELS(float, false),
    TWINSCORE_COMPLETE_KERNELS(double, false),
    TWINSCORE_COMPLETE_KERNELS(float, true),
    TWINSCORE_COMPLETE_KERNELS(double, true),
};
#undef TWINSCORE_COMPLETE_KERNELS

#undef TWINSCORE_WALK

#else  // the baseline: no vector walk (the engine takes the node walks)

const TreeKernels kTrees = {};

#endif

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
