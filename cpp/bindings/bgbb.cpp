// Bindings of the BG/BB engine (discrete opportunities): fit, likelihood,
// covariance, predictions, count distribution and intervals.
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/bgbb.h"

namespace twinscore::bindings {
namespace {

using Vec = CArray<double>;

absl::Span<const double> Optional(const std::optional<Vec>& a) { return a ? SpanOf(*a) : absl::Span<const double>(); }

BgBbParams Params(const std::vector<double>& p) {
  if (p.size() != 4) throw py::value_error("params must be (alpha, beta, gamma, delta)");
  return {p[0], p[1], p[2], p[3]};
}

py::tuple Fit(const Vec& x, const Vec& t_x, const Vec& n, const std::optional<Vec>& w, int max_iter, double gtol,
              double penalizer, int n_threads) {
  FitOptions o;
  o.max_iterations = max_iter;
  o.gtol = gtol;
  o.penalizer = penalizer;
  FitReport rep;
  const BgBbParams p = Take(RunEngine(n_threads, [&] {
    return FitBgBb(SpanOf(x), SpanOf(t_x), SpanOf(n), Optional(w), o, &rep);
  }));
  return py::make_tuple(std::vector<double>{p.alpha, p.beta, p.gamma, p.delta}, rep.log_likelihood, rep.iterations,
                        rep.evaluations);
}

py::tuple LogLik(const std::vector<double>& params, const Vec& x, const Vec& t_x, const Vec& n,
                 const std::optional<Vec>& w, int n_threads) {
  const BgBbParams p = Params(params);
  std::vector<double> g(4);
  const double ll = Take(RunEngine(n_threads, [&] {
    return BgBbLogLikelihood(p, SpanOf(x), SpanOf(t_x), SpanOf(n), Optional(w), absl::MakeSpan(g));
  }));
  return py::make_tuple(ll, g);
}

// (cov, fixed flags, boundary code, held scales: bit 1 alpha + beta, bit 2 gamma + delta).
py::tuple Covariance(const std::vector<double>& params, const Vec& x, const Vec& t_x, const Vec& n,
                     const std::optional<Vec>& w, double penalizer, int n_threads) {
  const BgBbParams p = Params(params);
  CArray<double> cov({py::ssize_t{4}, py::ssize_t{4}});
  std::vector<uint8_t> fixed(4);
  Uncertainty u{absl::MakeSpan(cov.mutable_data(), 16), absl::MakeSpan(fixed)};
  int held = 0;
  Raise(RunEngine(n_threads, [&] {
    return BgBbCovariance(p, SpanOf(x), SpanOf(t_x), SpanOf(n), Optional(w), penalizer, &u, &held);
  }));
  return py::make_tuple(cov, std::vector<bool>(fixed.begin(), fixed.end()), static_cast<int>(u.boundary), held);
}

// (expected, p_alive, dert); dert is computed only when discount > 0 (else empty).
py::tuple Predict(const std::vector<double>& params, const Vec& x, const Vec& t_x, const Vec& n, double horizon,
                  double discount, int n_threads) {
  const BgBbParams p = Params(params);
  const py::ssize_t m = x.size();
  Vec e(m), a(m), d(discount > 0 ? m : 0);
  BgBbOutputs out{MutableSpanOf(e), MutableSpanOf(a), MutableSpanOf(d)};
  Raise(RunEngine(n_threads,
                  [&] { return BgBbPredict(p, SpanOf(x), SpanOf(t_x), SpanOf(n), horizon, discount, out); }));
  return py::make_tuple(e, a, d);
}

CArray<double> Counts(const std::vector<double>& params, const Vec& n, int64_t max_count, int n_threads) {
  const BgBbParams p = Params(params);
  if (max_count < 0) throw py::value_error("max_count must be >= 0");
  CArray<double> out({n.size(), static_cast<py::ssize_t>(max_count + 1)});
  absl::Span<double> o = MutableSpanOf(out);
  Raise(RunEngine(n_threads, [&] { return BgBbCountProbabilities(p, SpanOf(n), max_count, o); }));
  return out;
}

// which: "expected" or "alive" (the other pair is not computed).
py::tuple Intervals(const CArray<double>& draws, const Vec& x, const Vec& t_x, const Vec& n, double horizon,
                    double level, const std::string& which, int n_threads) {
  if (which != "expected" && which != "alive") throw py::value_error("which must be 'expected' or 'alive'");
  const py::ssize_t e = which == "expected" ? x.size() : 0, a = which == "alive" ? x.size() : 0;
  Vec el(e), eu(e), al(a), au(a);
  IntervalOutputs out{MutableSpanOf(el), MutableSpanOf(eu), MutableSpanOf(al), MutableSpanOf(au)};
  Raise(RunEngine(n_threads, [&] {
    return BgBbPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(n), horizon, level, out);
  }));
  return which == "expected" ? py::make_tuple(el, eu) : py::make_tuple(al, au);
}

}  // namespace

TWINSCORE_BINDINGS(bgbb) {
  m.def("bgbb_fit", &Fit, py::arg("x"), py::arg("t_x"), py::arg("n"), py::arg("weights"), py::arg("max_iter"),
        py::arg("gtol"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("bgbb_loglik", &LogLik, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("n"), py::arg("weights"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgbb_covariance", &Covariance, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("n"),
        py::arg("weights"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("bgbb_predict", &Predict, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("n"), py::arg("horizon"),
        py::arg("discount"), TWINSCORE_N_THREADS_ARG);
  m.def("bgbb_count_probabilities", &Counts, py::arg("params"), py::arg("n"), py::arg("max_count"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgbb_predict_intervals", &Intervals, py::arg("draws"), py::arg("x"), py::arg("t_x"), py::arg("n"),
        py::arg("horizon"), py::arg("level"), py::arg("which"), TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
