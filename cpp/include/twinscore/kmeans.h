// k-means: k-means++ / random initialisation, fused Lloyd iterations, and a
// mini-batch update for tables fed chunk by chunk.
//
// Arrays are row-major and contiguous: X is n*d float32, centres are k*d
// float32, weights are n float32 or empty (all 1). Work is split into blocks
// whose boundaries depend only on n, and the centres' partial sums (float64)
// are combined in block order, so every result is bit-identical whatever the
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/common.h"
#include "twinscore/progress.h"

namespace twinscore {

struct KMeansData {
  absl::Span<const float> X;        // n * d
  absl::Span<const float> weights;  // n, or empty for unit weights
  int64_t n = 0;
  int64_t d = 0;
  // Checks sizes, X (finite, and |x| <= sqrt(FLT_MAX / (4 d)), past which the
  // float32 squared distances overflow; the error names the first bad value's
  // row and column) and weights (>= 0, some > 0).
  absl::Status Validate() const;
};

struct KMeansOptions {
  int32_t k = 8;           // number of clusters, 1 <= k <= n
  int32_t max_iter = 300;  // Lloyd iterations at most
  // Stop when the squared shift of the centres, summed, is at most
  // tol * (mean per-feature variance of X) — scikit-learn's rule.
  double tol = 1e-4;
  // Skip the distances of rows whose label Hamerly's bounds prove unchanged
  // (same labels as the brute force, which `false` runs: for tests).
  bool prune = true;
  absl::Status Validate(int64_t n) const;
};

struct KMeansResult {
  std::vector<float> centers;  // k * d
  std::vector<int32_t> labels;  // n
  double inertia = 0.0;         // sum of w * ||x - c_label||^2 (float64)
  int32_t n_iter = 0;
};

// One fused pass: for each row the nearest centre (ties: lowest index), its
// squared distance, and the per-centre weighted sums (k*d, float64) and
// weights (k). labels and dist2 may be empty (not written). Returns the inertia.
double AssignAndSum(const KMeansData& data, absl::Span<const float> centers, int32_t k,
                    absl::Span<int32_t> labels, absl::Span<float> dist2, absl::Span<double> sums,
                    absl::Span<double> counts);

// k-means++ (greedy, 2 + log k candidates per step as scikit-learn) from
// `seed`; writes k*d centres. Deterministic for a seed, any thread count.
// Reports stage "seeding": centres chosen of k (every few million distances).
absl::Status KMeansPlusPlus(const KMeansData& data, int32_t k, uint64_t seed, absl::Span<float> centers,
                            const Progress& progress = Progress());

// k distinct rows drawn uniformly from `seed`.
absl::Status KMeansRandomInit(const KMeansData& data, int32_t k, uint64_t seed, absl::Span<float> centers);

// Lloyd iterations from `init` (k*d). Empty clusters take the rows farthest
// from their centres. Labels and inertia are those of the final centres.
// With opt.prune, the first pass computes every distance and sets Hamerly
// bounds; later passes skip the rows the bounds keep and update the centre
// sums by the rows that moved (float64, block order).
// Reports stage "iterations" after each: done of max_iter, "changed" labels
// as its value; on convergence the total drops to the iterations run.
absl::StatusOr<KMeansResult> KMeansLloyd(const KMeansData& data, const KMeansOptions& opt,
                                         absl::Span<const float> init, const Progress& progress = Progress());

// Mini-batch update: X is cut in batches of `batch_size` rows, in order; each
// batch is assigned to the current centres, then each centre moves to the
// weighted mean of everything it has absorbed so far:
//   c <- (c * W_c + sum_batch) / (W_c + w_batch),  W_c += w_batch.
// centers (k*d) and totals (k, the W_c) are updated in place. Returns the
// batches' inertia before each update. Reports stage "batches": rows done
// of n (at batch ends, every 64Ki rows or more). When stopped, centers and
// totals are left as they were before the call.
absl::StatusOr<double> KMeansMiniBatchUpdate(const KMeansData& data, int32_t k, int64_t batch_size,
                                             absl::Span<float> centers, absl::Span<double> totals,
                                             const Progress& progress = Progress());

// Squared distances of each row to every centre: out is n*k.
absl::Status KMeansDistances(const KMeansData& data, absl::Span<const float> centers, int32_t k,
                             absl::Span<float> out);

}  // namespace twinscore
