// numpy <-> engine views, shared by every engine's bindings.
//
// Inputs are taken as C-contiguous arrays of the engine's type; `noconvert()`
// on an argument makes a foreign layout or dtype an error instead of a silent
// copy. Outputs are allocated here, before the GIL is released, so a failing
// engine leaks nothing.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "absl/types/span.h"
#include "twinscore/columns.h"

namespace twinscore::bindings {

namespace py = pybind11;

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

template <class T>
absl::Span<const T> SpanOf(const CArray<T>& a) {
  return absl::Span<const T>(a.data(), static_cast<size_t>(a.size()));
}

template <class T>
absl::Span<T> MutableSpanOf(CArray<T>& a) {
  return absl::Span<T>(a.mutable_data(), static_cast<size_t>(a.size()));
}

// A 1-D float32/float64 array of any stride, viewed without a copy.
inline NumericColumn NumericView(const std::string& name, const py::array& a) {
  if (a.ndim() != 1) {
    throw py::value_error("column '" + name + "' must be 1-D, got " + std::to_string(a.ndim()) + "-D");
  }
  NumericColumn c;
  c.name = name;
  c.n = a.shape(0);
  // isinstance compares dtypes by equivalence: an array that went through
  // pickle (or a memmap) holds an equal float64 dtype that is another object.
  if (py::isinstance<py::array_t<float>>(a)) {
    c.is_float32 = true;
  } else if (!py::isinstance<py::array_t<double>>(a)) {
    throw py::type_error("column '" + name + "' must be float32 or float64, got " +
                         std::string(py::str(a.dtype())));
  }
  const py::ssize_t item = a.itemsize();
  if (a.strides(0) % item != 0) throw py::value_error("column '" + name + "' has a stride that is not a whole item");
  c.stride = a.strides(0) / item;
  c.data = a.data();
  return c;
}

// Checks that a C-contiguous array is 2-D and returns (rows, cols).
template <class T>
std::pair<int64_t, int64_t> Shape2D(const CArray<T>& a, const char* name) {
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) + "-D");
  }
  return {a.shape(0), a.shape(1)};
}

}  // namespace twinscore::bindings
