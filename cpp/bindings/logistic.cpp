// Bindings of the logistic engine: convert arrays, release the GIL.
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "encoder_args.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/logistic.h"

namespace twinscore::bindings {
namespace {

CArray<double> Scores(py::ssize_t n) {
  if (n < 0) throw py::value_error("n_rows must be >= 0");
  return CArray<double>(n);
}

void BindLogistic(py::module_& m) {
  m.def("fit_logistic", [](const CArray<float>& X, const CArray<double>& y, const CArray<double>& w, double C,
                           bool fit_intercept, int max_iter, double tol, int n_threads) {
    auto [n, d] = Shape2D(X, "X");
    LogisticOptions opt{C, fit_intercept, max_iter, tol};
    LogisticModel model = Take(RunEngine(n_threads, [&, n = n, d = d] {
      return FitLogistic(SpanOf(X), n, d, SpanOf(y), SpanOf(w), opt);
    }));
    py::dict out;
    out["coef"] = CArray<double>(model.coef.size(), model.coef.data());
    out["intercept"] = model.intercept;
    out["n_iter"] = model.n_iter;
    out["converged"] = model.converged;
    out["objective"] = model.objective;
    return out;
  }, py::arg("X"), py::arg("y"), py::arg("sample_weight"), py::arg("C"), py::arg("fit_intercept"),
     py::arg("max_iter"), py::arg("tol"), TWINSCORE_N_THREADS_ARG);

  m.def("decision_dense", [](const CArray<float>& X, const CArray<double>& coef, double intercept, int n_threads) {
    auto [n, d] = Shape2D(X, "X");
    CArray<double> out = Scores(n);
    absl::Span<double> dst = MutableSpanOf(out);
    Raise(RunEngine(n_threads,
                    [&, n = n, d = d] { return DecisionDense(SpanOf(X), n, d, SpanOf(coef), intercept, dst); }));
    return out;
  }, py::arg("X"), py::arg("coef"), py::arg("intercept"), TWINSCORE_N_THREADS_ARG);

  m.def("decision_encoded", [](const NumericArgs& numeric, const CArray<double>& encodings,
                               const CategoricalArgs& categorical, const SetArgs& sets, int64_t n_rows,
                               const CArray<double>& coef, double intercept, int n_threads) {
    DenseEncoderSpec spec = SpecOf(numeric, encodings, categorical, sets);
    CArray<double> out = Scores(n_rows);
    absl::Span<double> dst = MutableSpanOf(out);
    Raise(RunEngine(n_threads, [&] { return DecisionEncoded(spec, n_rows, SpanOf(coef), intercept, dst); }));
    return out;
  }, py::arg("numeric"), py::arg("encodings"), py::arg("categorical"), py::arg("sets"), py::arg("n_rows"),
     py::arg("coef"), py::arg("intercept"), TWINSCORE_N_THREADS_ARG);

  m.def("explain_encoded", [](const NumericArgs& numeric, const CArray<double>& encodings,
                              const CategoricalArgs& categorical, const SetArgs& sets, int64_t n_rows,
                              const CArray<double>& coef, int top, int n_threads) {
    DenseEncoderSpec spec = SpecOf(numeric, encodings, categorical, sets);
    if (n_rows < 0 || top < 1) throw py::value_error("n_rows must be >= 0 and top >= 1");
    CArray<int32_t> features({static_cast<py::ssize_t>(n_rows), static_cast<py::ssize_t>(top)});
    CArray<double> values({static_cast<py::ssize_t>(n_rows), static_cast<py::ssize_t>(top)});
    absl::Span<int32_t> f = MutableSpanOf(features);
    absl::Span<double> v = MutableSpanOf(values);
    Raise(RunEngine(n_threads, [&] { return ExplainEncoded(spec, n_rows, SpanOf(coef), top, f, v); }));
    return py::make_tuple(features, values);
  }, py::arg("numeric"), py::arg("encodings"), py::arg("categorical"), py::arg("sets"), py::arg("n_rows"),
     py::arg("coef"), py::arg("top"), TWINSCORE_N_THREADS_ARG);
}

}  // namespace

TWINSCORE_BINDINGS(logistic) { BindLogistic(m); }

}  // namespace twinscore::bindings
