// The encoder spec as Python passes it (ContactTable.encode and the fused
// scorers): one conversion, so a scorer reads the table exactly as the encoder.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "arrays.h"
#include "twinscore/encoder.h"

namespace twinscore::bindings {

// numeric: [(name, array)]; encodings: (p, 5) float64 rows of center, scale,
// lo, hi, fill; categorical: [(name, codes, n_categories)]; sets: [(name,
// bits (n, words), n_categories)].
using NumericArgs = std::vector<std::pair<std::string, py::array>>;
using CategoricalArgs = std::vector<std::tuple<std::string, CArray<int32_t>, int32_t>>;
using SetArgs = std::vector<std::tuple<std::string, CArray<uint64_t>, int32_t>>;

inline DenseEncoderSpec SpecOf(const NumericArgs& numeric, const CArray<double>& encodings,
                               const CategoricalArgs& categorical, const SetArgs& sets) {
  DenseEncoderSpec spec;
  if (encodings.ndim() != 2 || encodings.shape(0) != static_cast<py::ssize_t>(numeric.size()) ||
      encodings.shape(1) != 5) {
    throw py::value_error("encodings must be (n_numeric, 5): center, scale, lo, hi, fill");
  }
  for (size_t j = 0; j < numeric.size(); ++j) {
    spec.numeric.push_back(NumericView(numeric[j].first, numeric[j].second));
    const double* e = encodings.data(j, 0);
    spec.numeric_encoding.push_back(NumericEncoding{e[0], e[1], e[2], e[3], e[4]});
  }
  for (const auto& [name, codes, k] : categorical) spec.categorical.push_back({name, SpanOf(codes), k});
  for (const auto& [name, bits, k] : sets) {
    auto shape = Shape2D(bits, "bitsets");
    spec.sets.push_back({name, SpanOf(bits), shape.second, k});
  }
  return spec;
}

}  // namespace twinscore::bindings
