// Bindings of the tree-ensemble engine: model bytes in, numpy arrays out.
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/trees.h"

namespace twinscore::bindings {
namespace {

absl::string_view BytesView(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &size) != 0) throw py::error_already_set();
  return absl::string_view(data, static_cast<size_t>(size));
}

TreeEnsemble Load(const py::bytes& data, bool lightgbm, int64_t block_rows, int n_threads) {
  const absl::string_view view = BytesView(data);
  return Take(RunEngine(n_threads, [&]() -> absl::StatusOr<TreeEnsemble> {
    absl::StatusOr<TreeModel> m = lightgbm ? LoadLightGBMText(view) : LoadXGBoost(view);
    if (!m.ok()) return m.status();
    TreeScorerOptions options;
    options.block_rows = block_rows;
    return TreeEnsemble::Build(*std::move(m), options);
  }));
}

// X as (n, d) C-contiguous float32 or float64, checked against the model.
struct Rows {
  int64_t n = 0;
  bool is_float32 = true;
};

Rows CheckRows(const TreeEnsemble& e, const py::array& X) {
  if (X.ndim() != 2) throw py::value_error("X must be 2-D, got " + std::to_string(X.ndim()) + "-D");
  if (!(X.flags() & py::array::c_style)) throw py::value_error("X must be C-contiguous");
  Rows r;
  r.n = X.shape(0);
  // By equivalence, not identity: unpickled arrays hold equal dtype objects.
  if (py::isinstance<py::array_t<float>>(X)) {
    r.is_float32 = true;
  } else if (py::isinstance<py::array_t<double>>(X)) {
    r.is_float32 = false;
  } else {
    throw py::type_error("X must be float32 or float64, got " + std::string(py::str(X.dtype())));
  }
  if (X.shape(1) != e.num_features()) {
    throw py::value_error("X has " + std::to_string(X.shape(1)) + " columns, the model expects " +
                          std::to_string(e.num_features()));
  }
  return r;
}

template <class Fn>
absl::Status Dispatch(const py::array& X, const Rows& r, int64_t d, Fn&& fn) {
  const size_t size = static_cast<size_t>(r.n) * d;
  if (r.is_float32) return fn(absl::Span<const float>(static_cast<const float*>(X.data()), size));
  return fn(absl::Span<const double>(static_cast<const double*>(X.data()), size));
}

// predict: the margins and their transform in one engine call, returned as
// the training library's predict returns them: float32 for XGBoost (Out),
// (n,) for one output, else (n, outputs).
template <class Out>
py::array Predict(const TreeEnsemble& e, const py::array& X, int64_t begin, int64_t end, int n_threads) {
  const Rows r = CheckRows(e, X);
  const auto rows = static_cast<py::ssize_t>(r.n);
  const auto outputs = static_cast<py::ssize_t>(e.num_outputs());
  CArray<Out> out = outputs == 1 ? CArray<Out>({rows}) : CArray<Out>({rows, outputs});
  Out* dst = out.mutable_data();
  const size_t n_out = static_cast<size_t>(r.n) * e.num_outputs();
  std::vector<double> margins(static_cast<size_t>(r.n) * e.num_groups());
  std::vector<double> values(std::is_same_v<Out, double> ? 0 : n_out);
  absl::Span<double> transformed =
      std::is_same_v<Out, double> ? absl::Span<double>(reinterpret_cast<double*>(dst), n_out) : absl::MakeSpan(values);
  Raise(RunEngine(n_threads, [&]() -> absl::Status {
    TWINSCORE_RETURN_IF_ERROR(Dispatch(X, r, e.num_features(), [&](auto x) {
      return e.PredictMargin(x, r.n, begin, end, absl::MakeSpan(margins));
    }));
    TWINSCORE_RETURN_IF_ERROR(e.Transform(margins, r.n, transformed));
    if constexpr (!std::is_same_v<Out, double>) std::copy(values.begin(), values.end(), dst);
    return absl::OkStatus();
  }));
  return std::move(out);
}

}  // namespace

TWINSCORE_BINDINGS(trees) {
  py::class_<TreeEnsemble>(m, "TreeEnsemble")
      .def_static("load_xgboost", [](const py::bytes& data, int64_t block_rows, int n_threads) {
        return Load(data, false, block_rows, n_threads);
      }, py::arg("data"), py::arg("block_rows") = 64, TWINSCORE_N_THREADS_ARG)
      .def_static("load_lightgbm", [](const py::bytes& data, int64_t block_rows, int n_threads) {
        return Load(data, true, block_rows, n_threads);
      }, py::arg("data"), py::arg("block_rows") = 64, TWINSCORE_N_THREADS_ARG)
      .def_property_readonly("flavor", [](const TreeEnsemble& e) {
        return e.model().flavor == TreeFlavor::kXGBoost ? "xgboost" : "lightgbm";
      })
      .def_property_readonly("num_features", &TreeEnsemble::num_features)
      .def_property_readonly("num_groups", &TreeEnsemble::num_groups)
      .def_property_readonly("num_outputs", &TreeEnsemble::num_outputs)
      .def_property_readonly("num_iterations", &TreeEnsemble::num_iterations)
      .def_property_readonly("num_trees", [](const TreeEnsemble& e) { return e.model().trees.size(); })
      .def_property_readonly("feature_names", [](const TreeEnsemble& e) { return e.model().feature_names; })
      .def_property_readonly("feature_types", [](const TreeEnsemble& e) { return e.model().feature_types; })
      .def_property_readonly("objective", [](const TreeEnsemble& e) { return e.model().objective; })
      .def_property_readonly("best_iteration", [](const TreeEnsemble& e) { return e.model().best_iteration; })
      .def_property_readonly("category_names", [](const TreeEnsemble& e) {
        // bytes: the file's names need not be valid UTF-8.
        py::list out;
        for (const auto& names : e.model().category_names) {
          py::list l;
          for (const auto& n : names) l.append(py::bytes(n));
          out.append(l);
        }
        return out;
      })
      .def_property_readonly("category_values", [](const TreeEnsemble& e) { return e.model().category_values; })
      .def_property_readonly("base_margin", [](const TreeEnsemble& e) { return e.model().base_margin; })
      .def("predict_margin", [](const TreeEnsemble& e, const py::array& X, int64_t begin, int64_t end,
                                int n_threads) {
        const Rows r = CheckRows(e, X);
        CArray<double> out({static_cast<py::ssize_t>(r.n), static_cast<py::ssize_t>(e.num_groups())});
        absl::Span<double> dst = MutableSpanOf(out);
        Raise(RunEngine(n_threads, [&] {
          return Dispatch(X, r, e.num_features(), [&](auto x) { return e.PredictMargin(x, r.n, begin, end, dst); });
        }));
        return out;
      }, py::arg("X"), py::arg("begin") = 0, py::arg("end") = 0, TWINSCORE_N_THREADS_ARG)
      .def("predict", [](const TreeEnsemble& e, const py::array& X, int64_t begin, int64_t end, bool float32,
                         int n_threads) {
        return float32 ? Predict<float>(e, X, begin, end, n_threads) : Predict<double>(e, X, begin, end, n_threads);
        // n_threads may come by position here: keyword arguments cost a
        // single row's predict a sizeable share of its time.
      }, py::arg("X"), py::arg("begin") = 0, py::arg("end") = 0, py::arg("float32") = false, py::arg("n_threads") = 0)
      .def("contributions", [](const TreeEnsemble& e, const py::array& X, int64_t begin, int64_t end,
                               int n_threads) {
        const Rows r = CheckRows(e, X);
        const int64_t d = e.num_features();
        CArray<double> out({static_cast<py::ssize_t>(r.n), static_cast<py::ssize_t>(e.num_groups()),
                            static_cast<py::ssize_t>(d + 1)});
        absl::Span<double> dst = MutableSpanOf(out);
        Raise(RunEngine(n_threads, [&] {
          return Dispatch(X, r, d, [&](auto x) { return e.Contributions(x, r.n, begin, end, dst); });
        }));
        return out;
      }, py::arg("X"), py::arg("begin") = 0, py::arg("end") = 0, TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
