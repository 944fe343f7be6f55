// Bindings of the BG/BB engine (discrete opportunities): fit, likelihood,
// covariance, predictions, count distribution and intervals.
#include <optional>
#include <string>
#include <vector>

#include "purchase_models.h"
#include "registry.h"
#include "twinscore/bgbb.h"

namespace twinscore::bindings {
namespace {

BgBbParams Params(const std::vector<double>& p) {
  Checked(p, 4, "(alpha, beta, gamma, delta)");
  return {p[0], p[1], p[2], p[3]};
}

py::tuple Fit(const Vec& x, const Vec& t_x, const Vec& n, const std::optional<Vec>& w, int max_iter, double gtol,
              double penalizer, int n_threads) {
  return RunFit(
      n_threads, max_iter, gtol, penalizer,
      [&](const FitOptions& o, FitReport* rep) {
        return FitBgBb(SpanOf(x), SpanOf(t_x), SpanOf(n), OptionalSpan(w), o, rep);
      },
      [](const BgBbParams& p) { return std::vector<double>{p.alpha, p.beta, p.gamma, p.delta}; });
}

py::tuple LogLik(const std::vector<double>& params, const Vec& x, const Vec& t_x, const Vec& n,
                 const std::optional<Vec>& w, int n_threads) {
  const BgBbParams p = Params(params);
  return RunLogLik(4, n_threads, [&](absl::Span<double> g) {
    return BgBbLogLikelihood(p, SpanOf(x), SpanOf(t_x), SpanOf(n), OptionalSpan(w), g);
  });
}

// (cov, fixed flags, boundary code, held scales: bit 1 alpha + beta, bit 2 gamma + delta).
py::tuple Covariance(const std::vector<double>& params, const Vec& x, const Vec& t_x, const Vec& n,
                     const std::optional<Vec>& w, double penalizer, int n_threads) {
  const BgBbParams p = Params(params);
  int held = 0;
  py::tuple c = RunCovariance(4, n_threads, [&](Uncertainty* u) {
    return BgBbCovariance(p, SpanOf(x), SpanOf(t_x), SpanOf(n), OptionalSpan(w), penalizer, u, &held);
  });
  return py::make_tuple(c[0], c[1], c[2], held);
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

py::tuple Intervals(const CArray<double>& draws, const Vec& x, const Vec& t_x, const Vec& n, double horizon,
                    double level, const std::string& which, int n_threads) {
  return RunIntervals(which, x.size(), n_threads, [&](const IntervalOutputs& out) {
    return BgBbPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(n), horizon, level, out);
  });
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
