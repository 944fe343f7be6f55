// Bindings of the lifetime-value engine: calibration summaries, BG/NBD and Gamma-Gamma.
#include <pybind11/stl.h>

#include <functional>
#include <string>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/clv.h"

namespace twinscore::bindings {
namespace {

using Vec = CArray<double>;

absl::Span<const double> OptionalSpan(const std::optional<Vec>& a) {
  return a ? SpanOf(*a) : absl::Span<const double>();
}

FitOptions Options(int max_iter, double gtol, double penalizer) {
  FitOptions o;
  o.max_iterations = max_iter;
  o.gtol = gtol;
  o.penalizer = penalizer;
  return o;
}

py::tuple FitBg(const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w, int max_iter, double gtol,
                double penalizer, int n_threads) {
  FitReport rep;
  BgNbdParams p = Take(RunEngine(n_threads, [&] {
    return FitBgNbd(SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), Options(max_iter, gtol, penalizer), &rep);
  }));
  return py::make_tuple(std::vector<double>{p.r, p.alpha, p.a, p.b}, rep.log_likelihood, rep.iterations,
                        rep.evaluations);
}

py::tuple BgLL(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w,
               int n_threads) {
  if (p.size() != 4) throw py::value_error("params must be (r, alpha, a, b)");
  std::vector<double> g(4);
  const double ll = Take(RunEngine(n_threads, [&] {
    return BgNbdLogLikelihood({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w),
                              absl::MakeSpan(g));
  }));
  return py::make_tuple(ll, g);
}

py::tuple BgPredict(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, double t,
                    int n_threads) {
  if (p.size() != 4) throw py::value_error("params must be (r, alpha, a, b)");
  Vec expected(x.size()), alive(x.size());
  absl::Span<double> e = MutableSpanOf(expected), a = MutableSpanOf(alive);
  Raise(RunEngine(n_threads, [&] {
    return BgNbdPredict({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), t, e, a);
  }));
  return py::make_tuple(expected, alive);
}

py::tuple FitGg(const Vec& x, const Vec& m, const std::optional<Vec>& w, int max_iter, double gtol, double penalizer,
                int n_threads) {
  FitReport rep;
  GammaGammaParams g = Take(RunEngine(n_threads, [&] {
    return FitGammaGamma(SpanOf(x), SpanOf(m), OptionalSpan(w), Options(max_iter, gtol, penalizer), &rep);
  }));
  return py::make_tuple(std::vector<double>{g.p, g.q, g.v}, rep.log_likelihood, rep.iterations, rep.evaluations);
}

py::tuple GgLL(const std::vector<double>& p, const Vec& x, const Vec& m, const std::optional<Vec>& w, int n_threads) {
  if (p.size() != 3) throw py::value_error("params must be (p, q, v)");
  std::vector<double> g(3);
  const double ll = Take(RunEngine(n_threads, [&] {
    return GammaGammaLogLikelihood({p[0], p[1], p[2]}, SpanOf(x), SpanOf(m), OptionalSpan(w), absl::MakeSpan(g));
  }));
  return py::make_tuple(ll, g);
}

Vec GgSpend(const std::vector<double>& p, const Vec& x, const Vec& m, int n_threads) {
  if (p.size() != 3) throw py::value_error("params must be (p, q, v)");
  Vec out(x.size());
  absl::Span<double> o = MutableSpanOf(out);
  Raise(RunEngine(n_threads, [&] { return GammaGammaExpectedSpend({p[0], p[1], p[2]}, SpanOf(x), SpanOf(m), o); }));
  return out;
}

py::tuple Compress(const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w, int n_threads) {
  const py::ssize_t n = x.size();
  Vec ox(n), ot(n), oT(n), ow(n);
  absl::Span<double> a = MutableSpanOf(ox), b = MutableSpanOf(ot), c = MutableSpanOf(oT), d = MutableSpanOf(ow);
  const py::ssize_t m = Take(RunEngine(n_threads, [&] {
    return CompressSummaries(SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), a, b, c, d);
  }));
  for (Vec* v : {&ox, &ot, &oT, &ow}) v->resize({m}, false);
  return py::make_tuple(ox, ot, oT, ow);
}

// (covariance as a k x k array, fixed flags, boundary code).
py::tuple Covariance(size_t k, const std::function<absl::Status(Uncertainty*)>& run, int n_threads) {
  CArray<double> cov({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(k)});
  std::vector<uint8_t> fixed(k);
  Uncertainty u{absl::MakeSpan(cov.mutable_data(), k * k), absl::MakeSpan(fixed)};
  Raise(RunEngine(n_threads, [&] { return run(&u); }));
  return py::make_tuple(cov, std::vector<bool>(fixed.begin(), fixed.end()), static_cast<int>(u.boundary));
}

py::tuple BgCov(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w,
                double penalizer, int n_threads) {
  if (p.size() != 4) throw py::value_error("params must be (r, alpha, a, b)");
  return Covariance(4, [&](Uncertainty* u) {
    return BgNbdCovariance({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), penalizer, u);
  }, n_threads);
}

py::tuple GgCov(const std::vector<double>& p, const Vec& x, const Vec& m, const std::optional<Vec>& w,
                double penalizer, int n_threads) {
  if (p.size() != 3) throw py::value_error("params must be (p, q, v)");
  return Covariance(3, [&](Uncertainty* u) {
    return GammaGammaCovariance({p[0], p[1], p[2]}, SpanOf(x), SpanOf(m), OptionalSpan(w), penalizer, u);
  }, n_threads);
}

CArray<double> Sample(const Vec& params, const CArray<double>& cov, int64_t draws, uint64_t seed, int n_threads) {
  if (draws < 1) throw py::value_error("draws must be >= 1");
  const py::ssize_t k = params.size();
  CArray<double> out({static_cast<py::ssize_t>(draws), k});
  absl::Span<double> o = MutableSpanOf(out);
  // One sequential stream: the thread count only sizes the call's arena.
  Raise(RunEngine(n_threads, [&] { return SampleParams(SpanOf(params), SpanOf(cov), draws, seed, o); }));
  return out;
}

// which: "expected" or "alive" (the other pair is not computed).
py::tuple BgIntervals(const CArray<double>& draws, const Vec& x, const Vec& t_x, const Vec& T, double t, double level,
                      const std::string& which, int n_threads) {
  if (which != "expected" && which != "alive") throw py::value_error("which must be 'expected' or 'alive'");
  const py::ssize_t n = which == "expected" ? x.size() : 0, k = which == "alive" ? x.size() : 0;
  Vec el(n), eu(n), al(k), au(k);
  IntervalOutputs out{MutableSpanOf(el), MutableSpanOf(eu), MutableSpanOf(al), MutableSpanOf(au)};
  Raise(RunEngine(n_threads, [&] {
    return BgNbdPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(T), t, level, out);
  }));
  return which == "expected" ? py::make_tuple(el, eu) : py::make_tuple(al, au);
}

py::tuple ClvIntervals(const CArray<double>& bg, const CArray<double>& gg, const Vec& x, const Vec& t_x, const Vec& T,
                       const Vec& m, const Vec& horizons, const Vec& coefs, double margin, double level,
                       int n_threads) {
  const py::ssize_t n = x.size();
  Vec lo(n), hi(n);
  absl::Span<double> l = MutableSpanOf(lo), h = MutableSpanOf(hi);
  Raise(RunEngine(n_threads, [&] {
    return LifetimeValueIntervals(SpanOf(bg), SpanOf(gg), SpanOf(x), SpanOf(t_x), SpanOf(T), SpanOf(m),
                                  SpanOf(horizons), SpanOf(coefs), margin, level, l, h);
  }));
  return py::make_tuple(lo, hi);
}

}  // namespace

TWINSCORE_BINDINGS(clv) {
  m.def("clv_compress", &Compress, py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("weights"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_fit", &FitBg, py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("weights"), py::arg("max_iter"),
        py::arg("gtol"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_loglik", &BgLL, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("weights"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_predict", &BgPredict, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("t"),
        TWINSCORE_N_THREADS_ARG);
  m.def("gammagamma_fit", &FitGg, py::arg("x"), py::arg("m"), py::arg("weights"), py::arg("max_iter"),
        py::arg("gtol"), py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("gammagamma_loglik", &GgLL, py::arg("params"), py::arg("x"), py::arg("m"), py::arg("weights"),
        TWINSCORE_N_THREADS_ARG);
  m.def("gammagamma_spend", &GgSpend, py::arg("params"), py::arg("x"), py::arg("m"), TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_covariance", &BgCov, py::arg("params"), py::arg("x"), py::arg("t_x"), py::arg("T"), py::arg("weights"),
        py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("gammagamma_covariance", &GgCov, py::arg("params"), py::arg("x"), py::arg("m"), py::arg("weights"),
        py::arg("penalizer"), TWINSCORE_N_THREADS_ARG);
  m.def("clv_sample_params", &Sample, py::arg("params"), py::arg("cov"), py::arg("draws"), py::arg("seed"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_predict_intervals", &BgIntervals, py::arg("draws"), py::arg("x"), py::arg("t_x"), py::arg("T"),
        py::arg("t"), py::arg("level"), py::arg("which"), TWINSCORE_N_THREADS_ARG);
  m.def("clv_value_intervals", &ClvIntervals, py::arg("bg_draws"), py::arg("gg_draws"), py::arg("x"), py::arg("t_x"),
        py::arg("T"), py::arg("m"), py::arg("horizons"), py::arg("coefficients"), py::arg("margin"), py::arg("level"),
        TWINSCORE_N_THREADS_ARG);
  m.def("bgnbd_expected_if_alive",
        [](double shape, double a, double b_x, double w) { return Take(BgNbdExpectedIfAlive(shape, a, b_x, w)); },
        py::arg("shape"), py::arg("a"), py::arg("b_x"), py::arg("w"));
}

}  // namespace twinscore::bindings
