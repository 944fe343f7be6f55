// Views over the caller's columns, and the scans that check and summarise them.
//
// A contact table keeps each column as the caller gave it (numpy, pandas or
// Arrow buffers); engines read it through these views without copying. A
// numeric column may be float32 or float64 and strided (a column of a
// row-major n x d matrix has stride d). NaN means missing; +-inf is refused.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "twinscore/common.h"

namespace twinscore {

// n values of type T, `stride` elements apart.
template <class T>
struct ColumnView {
  const T* data = nullptr;
  int64_t n = 0;
  int64_t stride = 1;
  T operator[](int64_t i) const { return data[i * stride]; }
};

// A numeric column of either precision, with its name for error messages.
struct NumericColumn {
  std::string name;
  const void* data = nullptr;
  int64_t n = 0;
  int64_t stride = 1;  // in elements
  bool is_float32 = false;

  // Calls fn(ColumnView<float>) or fn(ColumnView<double>).
  template <class Fn>
  decltype(auto) Visit(Fn&& fn) const {
    if (is_float32) return fn(ColumnView<float>{static_cast<const float*>(data), n, stride});
    return fn(ColumnView<double>{static_cast<const double*>(data), n, stride});
  }
};

// Missing timestamp (pandas NaT): the smallest int64.
inline constexpr int64_t kMissingTimestamp = std::numeric_limits<int64_t>::min();

// Count, missing count, mean, population standard deviation, min and max of
// the present values. With no present value, mean/std/min/max are NaN.
struct NumericSummary {
  int64_t count = 0;
  int64_t missing = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};

// Scans a numeric column once. Fails with InvalidArgument naming the column and
// the first row (in row order) holding +-inf. The result does not depend on
// the thread count: per-block moments are merged in block order.
absl::StatusOr<NumericSummary> SummarizeNumeric(const NumericColumn& column);

// Count of missing values and min/max of the present ones, for int64
// nanosecond timestamps with kMissingTimestamp as missing.
NumericSummary SummarizeTimestamps(absl::Span<const int64_t> ns);

}  // namespace twinscore
