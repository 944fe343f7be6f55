// Conversions shared by the bindings of the purchase and spend models (BG/NBD,
// Gamma-Gamma, Pareto/NBD, BG/BB): optional weights, fit options and report,
// likelihood with its gradient, covariance, interval outputs. Each helper
// allocates the outputs, runs the engine call through RunEngine (GIL
// released) and returns numpy arrays — no logic.
#pragma once

#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "twinscore/clv.h"

namespace twinscore::bindings {

using Vec = CArray<double>;

inline absl::Span<const double> OptionalSpan(const std::optional<Vec>& a) {
  return a ? SpanOf(*a) : absl::Span<const double>();
}

// The parameter vector `p` when it holds k values; `names` shows them, e.g. "(r, alpha, a, b)".
inline const std::vector<double>& Checked(const std::vector<double>& p, size_t k, const char* names) {
  if (p.size() != k) throw py::value_error(std::string("params must be ") + names);
  return p;
}

// A fit: (parameters, log-likelihood, iterations, evaluations). fit(options,
// report) returns StatusOr<Params>; values(params) lists them.
template <class Fit, class Values>
py::tuple RunFit(int n_threads, int max_iter, double gtol, double penalizer, Fit&& fit, Values&& values) {
  FitOptions o;
  o.max_iterations = max_iter;
  o.gtol = gtol;
  o.penalizer = penalizer;
  FitReport rep;
  const auto p = Take(RunEngine(n_threads, [&] { return fit(o, &rep); }));
  return py::make_tuple(values(p), rep.log_likelihood, rep.iterations, rep.evaluations);
}

// (log-likelihood, its gradient in the k parameters); ll(gradient span) returns StatusOr<double>.
template <class LogLik>
py::tuple RunLogLik(size_t k, int n_threads, LogLik&& ll) {
  std::vector<double> g(k);
  const double v = Take(RunEngine(n_threads, [&] { return ll(absl::MakeSpan(g)); }));
  return py::make_tuple(v, g);
}

// (covariance as a k x k array, fixed flags, boundary code); run(Uncertainty*) returns a Status.
template <class Run>
py::tuple RunCovariance(size_t k, int n_threads, Run&& run) {
  CArray<double> cov({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(k)});
  std::vector<uint8_t> fixed(k);
  Uncertainty u{absl::MakeSpan(cov.mutable_data(), k * k), absl::MakeSpan(fixed)};
  Raise(RunEngine(n_threads, [&] { return run(&u); }));
  return py::make_tuple(cov, std::vector<bool>(fixed.begin(), fixed.end()), static_cast<int>(u.boundary));
}

// which = "expected" or "alive": the (lower, upper) bounds of that quantity for
// n clients, the other pair left empty (not computed); run(outputs) returns a Status.
template <class Run>
py::tuple RunIntervals(const std::string& which, py::ssize_t n, int n_threads, Run&& run) {
  if (which != "expected" && which != "alive") throw py::value_error("which must be 'expected' or 'alive'");
  const py::ssize_t e = which == "expected" ? n : 0, a = which == "alive" ? n : 0;
  Vec el(e), eu(e), al(a), au(a);
  IntervalOutputs out{MutableSpanOf(el), MutableSpanOf(eu), MutableSpanOf(al), MutableSpanOf(au)};
  Raise(RunEngine(n_threads, [&] { return run(out); }));
  return which == "expected" ? py::make_tuple(el, eu) : py::make_tuple(al, au);
}

// (lower, upper) of n values; run(lower, upper) returns a Status.
template <class Run>
py::tuple RunBounds(py::ssize_t n, int n_threads, Run&& run) {
  Vec lo(n), hi(n);
  absl::Span<double> l = MutableSpanOf(lo), h = MutableSpanOf(hi);
  Raise(RunEngine(n_threads, [&] { return run(l, h); }));
  return py::make_tuple(lo, hi);
}

}  // namespace twinscore::bindings
