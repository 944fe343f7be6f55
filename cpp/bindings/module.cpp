// twinscore._core: the module entry point. The bindings of each engine are in
// their own file (cpp/bindings/<engine>.cpp) and register themselves; this file
// creates the module, runs the registered binders in a fixed (name) order, and
// maps Status codes to Python exceptions.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "registry.h"

namespace twinscore::bindings {

void Raise(const absl::Status& s) {
  if (s.ok()) return;
  const std::string msg(s.message());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
      throw py::value_error(msg);
    case absl::StatusCode::kNotFound:
      throw py::key_error(msg);
    case absl::StatusCode::kOutOfRange:
      throw py::index_error(msg);
    default:
      throw std::runtime_error(msg);
  }
}

}  // namespace twinscore::bindings

PYBIND11_MODULE(_core, m) {
  using namespace twinscore::bindings;
  m.doc() = "twinscore C++ engines (internal; use the twinscore package)";
  auto fns = Registry();
  std::sort(fns.begin(), fns.end(), [](const auto& a, const auto& b) { return std::string(a.first) < b.first; });
  for (const auto& [name, fn] : fns) fn(m);
}
