// Each engine's bindings live in their own file (cpp/bindings/<engine>.cpp)
// and register themselves here, so adding an engine touches no shared file:
//
//   TWINSCORE_BINDINGS(twins) { m.def(...); }   // m is the twinscore._core module
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace twinscore::bindings {

namespace py = pybind11;

using BindFn = void (*)(py::module_&);

// Function-local static: safe whatever the order of static initialisation.
inline std::vector<std::pair<const char*, BindFn>>& Registry() {
  static std::vector<std::pair<const char*, BindFn>> fns;
  return fns;
}

struct Registrar {
  Registrar(const char* name, BindFn fn) { Registry().emplace_back(name, fn); }
};

// Maps a Status to the Python exception of its code (the only place that
// does): kInvalidArgument/kDataLoss -> ValueError, kNotFound -> KeyError,
// kOutOfRange -> IndexError, kFailedPrecondition -> ValueError (the data do
// not allow the operation, e.g. a single-class target), others RuntimeError.
void Raise(const absl::Status& s);

template <class T>
T Take(absl::StatusOr<T> r) {
  Raise(r.status());
  return *std::move(r);
}

}  // namespace twinscore::bindings

#define TWINSCORE_BINDINGS(name)                                                        \
  static void TwinscoreBind_##name(::twinscore::bindings::py::module_& m);             \
  static ::twinscore::bindings::Registrar twinscore_registrar_##name(#name, &TwinscoreBind_##name); \
  static void TwinscoreBind_##name(::twinscore::bindings::py::module_& m)
