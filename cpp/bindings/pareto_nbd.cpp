// Bindings of the Pareto/NBD engine (fit, likelihood, predictions, covariance, intervals).
#include <string>
#include <vector>

#include "purchase_models.h"
#include "registry.h"
#include "twinscore/pareto_nbd.h"

namespace twinscore::bindings {
namespace {

ParetoNbdParams Params(const std::vector<double>& p) {
  Checked(p, 4, "(r, alpha, s, beta)");
  return {p[0], p[1], p[2], p[3]};
}

py::tuple Fit(const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w, int max_iter, double gtol,
              double penalizer, int n_threads) {
  return RunFit(
      n_threads, max_iter, gtol, penalizer,
      [&](const FitOptions& o, FitReport* rep) {
        return FitParetoNbd(SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), o, rep);
      },
      [](const ParetoNbdParams& p) { return std::vector<double>{p.r, p.alpha, p.s, p.beta}; });
}

py::tuple LogLik(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T,
                 const std::optional<Vec>& w, int n_threads) {
  const ParetoNbdParams q = Params(p);
  return RunLogLik(4, n_threads, [&](absl::Span<double> g) {
    return ParetoNbdLogLikelihood(q, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), g);
  });
}

py::tuple Predict(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, double t, int n_threads) {
  const ParetoNbdParams q = Params(p);
  Vec expected(x.size()), alive(x.size());
  absl::Span<double> e = MutableSpanOf(expected), a = MutableSpanOf(alive);
  Raise(RunEngine(n_threads, [&] { return ParetoNbdPredict(q, SpanOf(x), SpanOf(t_x), SpanOf(T), t, e, a); }));
  return py::make_tuple(expected, alive);
}

py::tuple Covariance(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T,
                     const std::optional<Vec>& w, double penalizer, int n_threads) {
  const ParetoNbdParams q = Params(p);
  return RunCovariance(4, n_threads, [&](Uncertainty* u) {
    return ParetoNbdCovariance(q, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), penalizer, u);
  });
}

py::tuple Intervals(const CArray<double>& draws, const Vec& x, const Vec& t_x, const Vec& T, double t, double level,
                    const std::string& which, int n_threads) {
  return RunIntervals(which, x.size(), n_threads, [&](const IntervalOutputs& out) {
    return ParetoNbdPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(T), t, level, out);
  });
}

py::tuple Value(const CArray<double>& pn, const CArray<double>& gg, const Vec& x, const Vec& t_x, const Vec& T,
                const Vec& m, const Vec& horizons, const Vec& coefs, double margin, double level, int n_threads) {
  return RunBounds(x.size(), n_threads, [&](absl::Span<double> l, absl::Span<double> h) {
    return ParetoNbdValueIntervals(SpanOf(pn), SpanOf(gg), SpanOf(x), SpanOf(t_x), SpanOf(T), SpanOf(m),
                                   SpanOf(horizons), SpanOf(coefs), margin, level, l, h);
  });
}

// (log A0, its slopes in (r, alpha, s, beta), method used); method 0 auto, 1 series, 2 quadrature.
py::tuple LogIntegral(const std::vector<double>& p, double x, double t_x, double T, int method) {
  if (method < 0 || method > 2) throw py::value_error("method must be 0 (auto), 1 (series) or 2 (quadrature)");
  const ParetoNbdIntegral r = Take(ParetoNbdLogIntegral(Params(p), x, t_x, T, static_cast<ParetoNbdMethod>(method)));
  return py::make_tuple(r.log_value, std::vector<double>(r.dlog.begin(), r.dlog.end()), static_cast<int>(r.method));
}

}  // namespace

TWINSCORE_BINDINGS(pareto_nbd) {
  m.def("paretonbd_fit", &Fit, py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("weights"), py::arg("max_iter"),
        py::arg("gtol"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_loglik", &LogLik, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"),
        py::arg("weights"), TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_predict", &Predict, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("t"),
        TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_covariance", &Covariance, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"),
        py::arg("weights"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_predict_intervals", &Intervals, py::arg("draws"), py::arg("x"), py::arg("t_x"), py::arg("T"),
        py::arg("t"), py::arg("level"), py::arg("which"), TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_value_intervals", &Value, py::arg("pnbd_draws"), py::arg("gg_draws"), py::arg("x"),
        py::arg("t_x"), py::arg("T"), py::arg("m"), py::arg("horizons"), py::arg("coefficients"), py::arg("margin"),
        py::arg("level"), TWINSCORE_N_THREADS_ARG);
  m.def("paretonbd_expected_new",
        [](const std::vector<double>& p, double t) { return Take(ParetoNbdExpectedNew(Params(p), t)); },
        py::arg("params"), py::arg("t"));
  m.def("paretonbd_log_integral", &LogIntegral, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"),
        py::arg("method"));
}

}  // namespace twinscore::bindings
