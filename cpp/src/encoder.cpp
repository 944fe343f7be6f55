#include "twinscore/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

// Rows per block: a block of output (rows x width floats) stays in L2 while
// the columns are written into it one after the other.
constexpr size_t kEncodeBlock = 1024;

template <class View>
absl::Status WriteNumeric(const View& x, const std::string& name, const NumericEncoding& e, size_t begin,
                          size_t end, int64_t width, int64_t col, float* out) {
  const double inv = 1.0 / e.scale;
  for (size_t i = begin; i < end; ++i) {
    const double v = x[i];
    float z;
    if (std::isnan(v)) {
      z = static_cast<float>(e.fill);
    } else {
      TWINSCORE_CHECK_ARG(!std::isinf(v), "column '", name, "' holds an infinite value at row ", i,
                          "; use NaN for a missing value");
      z = static_cast<float>((std::min(std::max(v, e.lo), e.hi) - e.center) * inv);
    }
    out[(i - begin) * width + col] = z;
  }
  return absl::OkStatus();
}

absl::Status WriteOneHot(const CategoricalColumn& c, size_t begin, size_t end, int64_t width, int64_t col,
                         float* out) {
  for (size_t i = begin; i < end; ++i) {
    const int32_t code = c.codes[i];
    if (code >= 0 && code < c.n_categories) {
      out[(i - begin) * width + col + code] = 1.0f;
    } else {
      TWINSCORE_CHECK_ARG(code == kMissingCode || code == c.n_categories, "column '", c.name, "': code ", code,
                          " at row ", i, " is outside [-1, ", c.n_categories, "]");
    }
  }
  return absl::OkStatus();
}

void WriteMultiHot(const SetColumn& c, size_t begin, size_t end, int64_t width, int64_t col, float* out) {
  for (size_t i = begin; i < end; ++i) {
    const uint64_t* row = c.bits.data() + i * c.words;
    float* dst = out + (i - begin) * width + col;
    for (int64_t w = 0; w < c.words; ++w) {
      // Visit set bits only: sets are sparse (a few categories of hundreds).
      for (uint64_t word = row[w]; word != 0; word &= word - 1) {
        const int64_t bit = w * 64 + __builtin_ctzll(word);
        if (bit < c.n_categories) dst[bit] = 1.0f;
      }
    }
  }
}

}  // namespace

int64_t DenseEncoderSpec::Width() const {
  int64_t w = static_cast<int64_t>(numeric.size());
  for (const auto& c : categorical) w += c.n_categories;
  for (const auto& c : sets) w += c.n_categories;
  return w;
}

absl::Status DenseEncoderSpec::Validate(int64_t n_rows) const {
  TWINSCORE_CHECK_ARG(numeric.size() == numeric_encoding.size(), numeric.size(), " numeric columns but ",
                      numeric_encoding.size(), " encodings");
  for (size_t j = 0; j < numeric.size(); ++j) {
    const auto& c = numeric[j];
    const auto& e = numeric_encoding[j];
    TWINSCORE_CHECK_ARG(c.n == n_rows, "column '", c.name, "' has ", c.n, " rows, expected ", n_rows);
    TWINSCORE_CHECK_ARG(c.n == 0 || c.data != nullptr, "column '", c.name, "': no data");
    TWINSCORE_CHECK_ARG(std::isfinite(e.center) && std::isfinite(e.fill), "column '", c.name,
                        "': center and fill must be finite");
    TWINSCORE_CHECK_ARG(std::isfinite(e.scale) && e.scale > 0, "column '", c.name,
                        "': scale must be finite and > 0, got ", e.scale);
    TWINSCORE_CHECK_ARG(!(e.lo > e.hi) && !std::isnan(e.lo) && !std::isnan(e.hi), "column '", c.name,
                        "': clip bounds [", e.lo, ", ", e.hi, "] are not ordered");
  }
  for (const auto& c : categorical) {
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(c.codes.size()) == n_rows, "column '", c.name, "' has ",
                        c.codes.size(), " rows, expected ", n_rows);
    TWINSCORE_CHECK_ARG(c.n_categories >= 0, "column '", c.name, "': negative category count");
  }
  for (const auto& c : sets) {
    TWINSCORE_CHECK_ARG(c.n_categories >= 0 && c.words >= (c.n_categories + 63) / 64, "column '", c.name,
                        "': ", c.words, " bitset words cannot hold ", c.n_categories, " categories");
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(c.bits.size()) == n_rows * c.words, "column '", c.name, "' has ",
                        c.bits.size(), " bitset words, expected ", n_rows, " x ", c.words);
  }
  return absl::OkStatus();
}

absl::Status EncodeDense(const DenseEncoderSpec& spec, int64_t n_rows, absl::Span<float> out) {
  TWINSCORE_RETURN_IF_ERROR(spec.Validate(n_rows));
  const int64_t width = spec.Width();
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(out.size()) == n_rows * width, "output holds ", out.size(),
                      " floats, expected ", n_rows, " x ", width);
  return ParallelBlocksStatus(n_rows, kEncodeBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    float* block = out.data() + begin * width;
    std::memset(block, 0, (end - begin) * width * sizeof(float));
    int64_t col = 0;
    for (size_t j = 0; j < spec.numeric.size(); ++j, ++col) {
      const auto& c = spec.numeric[j];
      TWINSCORE_RETURN_IF_ERROR(c.Visit([&](auto view) {
        return WriteNumeric(view, c.name, spec.numeric_encoding[j], begin, end, width, col, block);
      }));
    }
    for (const auto& c : spec.categorical) {
      TWINSCORE_RETURN_IF_ERROR(WriteOneHot(c, begin, end, width, col, block));
      col += c.n_categories;
    }
    for (const auto& c : spec.sets) {
      WriteMultiHot(c, begin, end, width, col, block);
      col += c.n_categories;
    }
    return absl::OkStatus();
  });
}

}  // namespace twinscore
