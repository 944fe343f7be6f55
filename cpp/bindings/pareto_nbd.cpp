// Bindings of the Pareto/NBD engine (fit, likelihood, predictions, covariance, intervals).
#include <pybind11/stl.h>

#include <string>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/pareto_nbd.h"

namespace twinscore::bindings {
namespace {

using Vec = CArray<double>;

absl::Span<const double> Optional(const std::optional<Vec>& a) { return a ? SpanOf(*a) : absl::Span<const double>(); }

ParetoNbdParams Params(const std::vector<double>& p) {
  if (p.size() != 4) throw py::value_error("params must be (r, alpha, s, beta)");
  return {p[0], p[1], p[2], p[3]};
}

py::tuple Fit(const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w, int max_iter, double gtol,
              double penalizer, int n_threads) {
  FitOptions o;
  o.max_iterations = max_iter;
  o.gtol = gtol;
  o.penalizer = penalizer;
  FitReport rep;
  const ParetoNbdParams p = Take(RunEngine(n_threads, [&] {
    return FitParetoNbd(SpanOf(x), SpanOf(t_x), SpanOf(T), Optional(w), o, &rep);
  }));
  return py::make_tuple(std::vector<double>{p.r, p.alpha, p.s, p.beta}, rep.log_likelihood, rep.iterations,
                        rep.evaluations);
}

py::tuple LogLik(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T,
                 const std::optional<Vec>& w, int n_threads) {
  const ParetoNbdParams q = Params(p);
  std::vector<double> g(4);
  const double ll = Take(RunEngine(n_threads, [&] {
    return ParetoNbdLogLikelihood(q, SpanOf(x), SpanOf(t_x), SpanOf(T), Optional(w), absl::MakeSpan(g));
  }));
  return py::make_tuple(ll, g);
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
  CArray<double> cov({py::ssize_t{4}, py::ssize_t{4}});
  std::vector<uint8_t> fixed(4);
  Uncertainty u{absl::MakeSpan(cov.mutable_data(), 16), absl::MakeSpan(fixed)};
  Raise(RunEngine(n_threads, [&] {
    return ParetoNbdCovariance(q, SpanOf(x), SpanOf(t_x), SpanOf(T), Optional(w), penalizer, &u);
  }));
  return py::make_tuple(cov, std::vector<bool>(fixed.begin(), fixed.end()), static_cast<int>(u.boundary));
}

// which: "expected" or "alive" (the other pair is not computed).
py::tuple Intervals(const CArray<double>& draws, const Vec& x, const Vec& t_x, const Vec& T, double t, double level,
                    const std::string& which, int n_threads) {
  if (which != "expected" && which != "alive") throw py::value_error("which must be 'expected' or 'alive'");
  const py::ssize_t n = which == "expected" ? x.size() : 0, k = which == "alive" ? x.size() : 0;
  Vec el(n), eu(n), al(k), au(k);
  IntervalOutputs out{MutableSpanOf(el), MutableSpanOf(eu), MutableSpanOf(al), MutableSpanOf(au)};
  Raise(RunEngine(n_threads, [&] {
    return ParetoNbdPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(T), t, level, out);
  }));
  return which == "expected" ? py::make_tuple(el, eu) : py::make_tuple(al, au);
}

py::tuple Value(const CArray<double>& pn, const CArray<double>& gg, const Vec& x, const Vec& t_x, const Vec& T,
                const Vec& m, const Vec& horizons, const Vec& coefs, double margin, double level, int n_threads) {
  const py::ssize_t n = x.size();
  Vec lo(n), hi(n);
  absl::Span<double> l = MutableSpanOf(lo), h = MutableSpanOf(hi);
  Raise(RunEngine(n_threads, [&] {
    return ParetoNbdValueIntervals(SpanOf(pn), SpanOf(gg), SpanOf(x), SpanOf(t_x), SpanOf(T), SpanOf(m),
                                   SpanOf(horizons), SpanOf(coefs), margin, level, l, h);
  }));
  return py::make_tuple(lo, hi);
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
