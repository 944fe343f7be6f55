#include "twinscore/columns.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kScanBlock = 1 << 16;

// Running moments of one block (Chan et al.'s pairwise update merges two).
struct Moments {
  int64_t count = 0;
  int64_t missing = 0;
  double mean = 0.0;
  double m2 = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t first_inf = -1;

  void Merge(const Moments& o) {
    if (o.count > 0) {
      const int64_t n = count + o.count;
      const double delta = o.mean - mean;
      mean += delta * static_cast<double>(o.count) / static_cast<double>(n);
      m2 += o.m2 + delta * delta * static_cast<double>(count) * static_cast<double>(o.count) / static_cast<double>(n);
      count = n;
      min = std::min(min, o.min);
      max = std::max(max, o.max);
    }
    missing += o.missing;
    if (first_inf < 0) first_inf = o.first_inf;
  }
};

template <class View>
Moments BlockMoments(const View& x, int64_t begin, int64_t end, double inv_scale) {
  // Two passes over a cache-resident block: the sum first, then the squared
  // deviations, which is exact enough and vectorises.
  Moments m;
  double sum = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    const double v = x[i] * inv_scale;
    if (std::isnan(v)) {
      ++m.missing;
    } else if (std::isinf(v)) {
      if (m.first_inf < 0) m.first_inf = i;
    } else {
      ++m.count;
      sum += v;
      m.min = std::min(m.min, v);
      m.max = std::max(m.max, v);
    }
  }
  if (m.count == 0) return m;
  m.mean = sum / static_cast<double>(m.count);
  for (int64_t i = begin; i < end; ++i) {
    const double v = x[i] * inv_scale;
    if (std::isfinite(v)) m.m2 += (v - m.mean) * (v - m.mean);
  }
  return m;
}

// `scale` is the power of two the moments were computed in units of.
NumericSummary ToSummary(const Moments& m, double scale) {
  NumericSummary s;
  s.count = m.count;
  s.missing = m.missing;
  if (m.count > 0) {
    s.mean = m.mean * scale;
    s.std = std::sqrt(m.m2 / static_cast<double>(m.count)) * scale;
    s.min = m.min * scale;
    s.max = m.max * scale;
  }
  return s;
}

// The moments of the column's values divided by `scale` (a power of two, so
// the division is exact), merged in block order.
template <class View>
Moments ColumnMoments(const View& view, int64_t n, double scale) {
  std::vector<Moments> parts(NumBlocks(n, kScanBlock));
  ParallelBlocks(n, kScanBlock, [&](size_t b, size_t begin, size_t end) {
    parts[b] = BlockMoments(view, begin, end, 1.0 / scale);
  });
  Moments total;
  for (const auto& p : parts) total.Merge(p);
  return total;
}

}  // namespace

absl::StatusOr<NumericSummary> SummarizeNumeric(const NumericColumn& column) {
  TWINSCORE_CHECK_ARG(column.n >= 0 && (column.n == 0 || column.data != nullptr),
                      "column '", column.name, "': no data");
  Moments total;
  double scale = 1.0;
  column.Visit([&](auto view) {
    total = ColumnMoments(view, column.n, 1.0);
    if (total.count > 0 && !(std::isfinite(total.mean) && std::isfinite(total.m2))) {
      // Finite values whose sum or squares overflow (|x| beyond ~1e154): the
      // moments again in units of the power of two just below max |x| (|x| /
      // scale < 2: squares and sums cannot overflow; 2^1023 itself is finite);
      // rare, so it costs a second pass only then.
      scale = std::ldexp(1.0, std::ilogb(std::max(std::abs(total.min), std::abs(total.max))));
      total = ColumnMoments(view, column.n, scale);
    }
    return 0;
  });
  TWINSCORE_CHECK_ARG(total.first_inf < 0, "column '", column.name, "' holds an infinite value at row ",
                      total.first_inf, "; use NaN for a missing value");
  return ToSummary(total, scale);
}

NumericSummary SummarizeTimestamps(absl::Span<const int64_t> ns) {
  struct Part {
    int64_t count = 0, missing = 0;
    int64_t min = std::numeric_limits<int64_t>::max(), max = std::numeric_limits<int64_t>::min();
  };
  std::vector<Part> parts(NumBlocks(ns.size(), kScanBlock));
  ParallelBlocks(ns.size(), kScanBlock, [&](size_t b, size_t begin, size_t end) {
    Part p;
    for (size_t i = begin; i < end; ++i) {
      const int64_t v = ns[i];
      if (v == kMissingTimestamp) {
        ++p.missing;
      } else {
        ++p.count;
        p.min = std::min(p.min, v);
        p.max = std::max(p.max, v);
      }
    }
    parts[b] = p;
  });
  Part total;
  for (const auto& p : parts) {
    total.count += p.count;
    total.missing += p.missing;
    total.min = std::min(total.min, p.min);
    total.max = std::max(total.max, p.max);
  }
  NumericSummary s;
  s.count = total.count;
  s.missing = total.missing;
  if (total.count > 0) {
    s.min = static_cast<double>(total.min);
    s.max = static_cast<double>(total.max);
  }
  return s;
}

}  // namespace twinscore
