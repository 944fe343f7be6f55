// L2-regularised logistic regression: a Newton fit whose gradient and Hessian
// are summed over fixed blocks of rows in parallel (a float64 rank update per
// block, combined in block order: the same coefficients for any thread
// count), and the fused encode + score of a contact table with per-contact
// contributions ("reasons").
//
// The objective is the one of scikit-learn's LogisticRegression:
//   C * sum_i s_i * logloss(y_i, x_i . w + b) + 1/2 |w|^2   (b not penalised)
// with s_i the sample weights (class weights already folded in).
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/common.h"
#include "twinscore/encoder.h"

namespace twinscore {

struct LogisticOptions {
  double C = 1.0;             // inverse regularisation strength, > 0
  bool fit_intercept = true;
  int max_iter = 100;         // Newton steps, >= 1
  double tol = 1e-8;          // stop when no coefficient moves more than tol
  absl::Status Validate() const;
};

struct LogisticModel {
  std::vector<double> coef;   // d
  double intercept = 0.0;
  int n_iter = 0;
  bool converged = false;
  double objective = 0.0;
};

// X: n*d float32 row-major; y: n values in {0, 1}; sample_weight: n values
// >= 0, or empty for ones. Fails (InvalidArgument) on non-finite X, labels
// other than 0/1 or bad weights, and (FailedPrecondition) when the weighted
// target has a single class.
absl::StatusOr<LogisticModel> FitLogistic(absl::Span<const float> X, int64_t n, int64_t d,
                                          absl::Span<const double> y, absl::Span<const double> sample_weight,
                                          const LogisticOptions& options);

// out[i] = x_i . coef + intercept; X: n*d float32; out: n.
absl::Status DecisionDense(absl::Span<const float> X, int64_t n, int64_t d, absl::Span<const double> coef,
                           double intercept, absl::Span<double> out);

// The same on the design matrix EncodeDense(spec) would write, without
// writing it: coef has spec.Width() values; out: n.
absl::Status DecisionEncoded(const DenseEncoderSpec& spec, int64_t n, absl::Span<const double> coef,
                             double intercept, absl::Span<double> out);

// Each row's `top` largest contributions coef_j * x_ij over its non-zero
// encoded features, largest first: feature index (-1 when the row has fewer)
// and contribution (0 then). features, values: n*top.
absl::Status ExplainEncoded(const DenseEncoderSpec& spec, int64_t n, absl::Span<const double> coef, int top,
                            absl::Span<int32_t> features, absl::Span<double> values);

}  // namespace twinscore
