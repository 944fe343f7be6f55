// The dense design matrix of a contact table: numeric columns clipped and
// standardised, categorical columns one-hot encoded, in one fused pass that
// writes each output row once (what a ColumnTransformer of StandardScaler,
// SimpleImputer and OneHotEncoder does in several passes and copies).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "twinscore/columns.h"
#include "twinscore/common.h"

namespace twinscore {

// out = (clip(x, lo, hi) - center) / scale; a missing x gives `fill` (0 is the
// mean imputation when center is the mean).
struct NumericEncoding {
  double center = 0.0;
  double scale = 1.0;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  double fill = 0.0;
};

// One-hot over codes [0, n_categories); a missing code (kMissingCode) or the
// "other" code (n_categories) gives a row of zeros, as OneHotEncoder's
// handle_unknown="ignore".
struct CategoricalColumn {
  std::string name;
  absl::Span<const int32_t> codes;
  int32_t n_categories = 0;
};

// Multi-hot over the first n_categories bits of each row's bitset (the
// "other" bit and missing rows give zeros).
struct SetColumn {
  std::string name;
  absl::Span<const uint64_t> bits;  // n_rows * words
  int64_t words = 0;
  int32_t n_categories = 0;
};

struct DenseEncoderSpec {
  std::vector<NumericColumn> numeric;
  std::vector<NumericEncoding> numeric_encoding;  // one per numeric column
  std::vector<CategoricalColumn> categorical;
  std::vector<SetColumn> sets;

  // Columns of the output: the numeric ones, then each category of each
  // categorical column, then each category of each set column.
  int64_t Width() const;
  // Same row count everywhere, valid encodings (scale > 0, lo <= hi, finite).
  absl::Status Validate(int64_t n_rows) const;
};

// out: n_rows * spec.Width() floats, row-major. Fails on +-inf in a numeric
// column or a code outside [-1, n_categories], naming the column and row.
absl::Status EncodeDense(const DenseEncoderSpec& spec, int64_t n_rows, absl::Span<float> out);

}  // namespace twinscore
