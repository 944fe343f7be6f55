// The kernels of k-means, compiled once per SIMD level
// (cpp/src/kernels/kmeans_kernels.cpp, twinscore/simd.h). The dispatched unit
// is a whole block of rows — a brute-force assignment with its centre sums, a
// pass of Hamerly's bounds, a block of the k-means++ seeding — so that the
// per-row work (distances, sums, bounds) is compiled for the level and
// inlined, and the table is read once per block, not once per row. The
// nearest-centre and distance kernels of one row stay in the table for the
// tests and the per-centre loops.
//
// The baseline runs scalar loops; x86-64-v3 and v4 run AVX2 + FMA, 16
// centres per step. The levels compare float32 approximations computed in
// different orders (FMA, lanes): labels agree but where two centres are
// within float32 rounding of a row, and the inertia to relative 1e-12 (it is
// summed from the float64 Dist2, which sums four lanes at the vector levels).
// At one level the results do not depend on the thread count: each block
// writes its own partials, which the caller adds in block order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "twinscore/simd.h"

namespace twinscore::kernels {

constexpr int kKMeansLanes = 8;  // centres handled together (one AVX2 register)
// Rows handled together by the distance kernels: with two registers of
// centres, 6 rows give 12 independent FMA chains (4 rows, 8 chains, left the
// FMA latency exposed: the brute-force pass ran ~20 % slower).
constexpr int kKMeansRows = 6;
// The outward rounding factors of the stored bounds (kmeans.cpp).
constexpr float kKMeansUp = 1.0f + 0x1.0p-20f;
constexpr float kKMeansDown = 1.0f - 0x1.0p-20f;

// The centres as the kernels read them: transposed (d x kp, kp = k rounded
// up to 8), padding centres of infinite norm; and as given (k x d).
struct KMeansCentres {
  int32_t k, kp;
  int64_t d;
  const float* ct;     // d * kp
  const float* cnorm;  // kp
  const float* rows;   // k * d
};

// The rows of a block: X (n x d, row-major) and its weights (n, or null for
// unit weights); a block is rows [begin, end).
struct KMeansRows {
  const float* X;
  const float* weights;
  uint32_t limit_bits;  // (kCheck modes) the bits of the largest |x| accepted (kmeans.cpp, RangeLimit)
};

// A brute-force block: labels (compared with the previous ones as they are
// overwritten), centre sums, exact distances. labels and dist2 may be null.
struct KMeansAssignOut {
  double inertia;   // sum of w * exact squared distance (modes with kExact)
  int64_t changed;  // rows whose label differs from the one in labels
  bool finite;      // (kCheck modes) no NaN, infinity or |x| beyond limit_bits in the block's rows
};

// What a block of the brute-force pass computes: centre sums (k*d sums,
// then k weights), exact float64 distances (inertia, dist2), both; kCheck
// also scans the rows for NaN / infinity / values out of range, a few hundred at a time just
// before they are assigned (from the cache, instead of a pass over X).
enum KMeansAssignMode { kAssignSums = 0, kAssignSumsCheck = 1, kAssignExact = 2, kAssignSumsExact = 3 };

// What a pass of Hamerly's bounds needs besides the centres (kmeans.cpp,
// Drift): the cumulative drifts since the epoch by label (at least 16
// entries), the separations, the float-error terms.
struct KMeansBounds {
  const float* cum_up;
  const float* cum_drop;
  const float* sep;
  float e2;
  double margin, cmax;
};

struct KMeansPassOut {
  int64_t changed;
  double xmax;                // largest ||x||^2 seen (full passes)
  int64_t exact, searched;    // rows given an exact distance, a full search (pruned passes)
};

// Index of the kernels for a width fixed at compile time: 8, 16, 32, or 0 (any).
constexpr int KMeansWidthIndex(int64_t d) { return d == 8 ? 1 : d == 16 ? 2 : d == 32 ? 3 : 0; }

using NearestFn = void (*)(const float* x, const KMeansCentres& p, int32_t* out);
using Nearest2Fn = void (*)(const float* const* xs, const KMeansCentres& p, int32_t* out, float* f1, float* f2);
using Dist2Fn = double (*)(const float* x, const float* c, int64_t d);
// sums: k*d sums then k weights, added to (the caller zeroes them).
using AssignFn = KMeansAssignOut (*)(KMeansRows rows, const KMeansCentres& p, size_t begin, size_t end,
                                     int32_t* labels, float* dist2, double* sums);
// A full pass sets every row's label and bounds (relative to a new epoch) and
// adds the rows to part; a pruned pass moves the bounds, searches the rows
// they do not keep and moves those that change label between centres in
// part. part: k*d sums, then per centre the weight, the count of rows of
// positive weight and the sum of w * ||x||^2. scratch: end - begin entries.
using PassFn = KMeansPassOut (*)(KMeansRows rows, const KMeansCentres& p, const KMeansBounds& b, size_t begin,
                                 size_t end, int32_t* labels, float* upper, float* lower, double* part,
                                 uint32_t* scratch);
// k-means++: cand[i] = min(closest[i], ||x_i - y||^2) for the block's rows;
// returns the block's sum of w * cand[i]. closest null: cand[i] = ||x_i - y||^2.
using SeedFn = double (*)(KMeansRows rows, int64_t d, const float* y, const double* closest, size_t begin,
                          size_t end, double* cand);
// out[i * k + c] = ||x_i - c||^2 (float64 sum, stored as float) for the block's rows.
using DistancesFn = void (*)(const float* X, const float* centers, int32_t k, int64_t d, size_t begin, size_t end,
                             float* out);

struct KMeansKernels {
  NearestFn nearest1[4];  // one row, per width index
  NearestFn nearest6[4];  // kKMeansRows consecutive rows
  Nearest2Fn nearest2_1[4];
  Nearest2Fn nearest2_6[4];
  Dist2Fn dist2[4];
  AssignFn assign[4][4];  // [mode][width]
  PassFn full[4];
  PassFn pruned[4];
  SeedFn seed[4];
  DistancesFn distances[4];
  bool vector;  // AVX2 kernels (false at the baseline)
};

TWINSCORE_DECLARE_KERNEL_TABLES(KMeansKernels, kKMeans)

inline const KMeansKernels& KMeans(SimdLevel level) {
  return ForLevel(level, simd_v2::kKMeans, simd_v3::kKMeans, simd_v4::kKMeans);
}
inline const KMeansKernels& KMeans() { return KMeans(ActiveSimdLevel()); }

}  // namespace twinscore::kernels
