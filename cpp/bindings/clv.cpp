// Bindings of the lifetime-value engine: calibration summaries, BG/NBD and Gamma-Gamma.
#include <string>
#include <vector>

#include "purchase_models.h"
#include "registry.h"
#include "twinscore/clv.h"

namespace twinscore::bindings {
namespace {

py::tuple FitBg(const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w, int max_iter, double gtol,
                double penalizer, int n_threads) {
  return RunFit(
      n_threads, max_iter, gtol, penalizer,
      [&](const FitOptions& o, FitReport* rep) {
        return FitBgNbd(SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), o, rep);
      },
      [](const BgNbdParams& p) { return std::vector<double>{p.r, p.alpha, p.a, p.b}; });
}

py::tuple BgLL(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w,
               int n_threads) {
  Checked(p, 4, "(r, alpha, a, b)");
  return RunLogLik(4, n_threads, [&](absl::Span<double> g) {
    return BgNbdLogLikelihood({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), g);
  });
}

py::tuple BgPredict(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, double t,
                    int n_threads) {
  Checked(p, 4, "(r, alpha, a, b)");
  Vec expected(x.size()), alive(x.size());
  absl::Span<double> e = MutableSpanOf(expected), a = MutableSpanOf(alive);
  Raise(RunEngine(n_threads, [&] {
    return BgNbdPredict({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), t, e, a);
  }));
  return py::make_tuple(expected, alive);
}

py::tuple FitGg(const Vec& x, const Vec& m, const std::optional<Vec>& w, int max_iter, double gtol, double penalizer,
                int n_threads) {
  return RunFit(
      n_threads, max_iter, gtol, penalizer,
      [&](const FitOptions& o, FitReport* rep) {
        return FitGammaGamma(SpanOf(x), SpanOf(m), OptionalSpan(w), o, rep);
      },
      [](const GammaGammaParams& g) { return std::vector<double>{g.p, g.q, g.v}; });
}

py::tuple GgLL(const std::vector<double>& p, const Vec& x, const Vec& m, const std::optional<Vec>& w, int n_threads) {
  Checked(p, 3, "(p, q, v)");
  return RunLogLik(3, n_threads, [&](absl::Span<double> g) {
    return GammaGammaLogLikelihood({p[0], p[1], p[2]}, SpanOf(x), SpanOf(m), OptionalSpan(w), g);
  });
}

Vec GgSpend(const std::vector<double>& p, const Vec& x, const Vec& m, int n_threads) {
  Checked(p, 3, "(p, q, v)");
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

py::tuple BgCov(const std::vector<double>& p, const Vec& x, const Vec& t_x, const Vec& T, const std::optional<Vec>& w,
                double penalizer, int n_threads) {
  Checked(p, 4, "(r, alpha, a, b)");
  return RunCovariance(4, n_threads, [&](Uncertainty* u) {
    return BgNbdCovariance({p[0], p[1], p[2], p[3]}, SpanOf(x), SpanOf(t_x), SpanOf(T), OptionalSpan(w), penalizer, u);
  });
}

py::tuple GgCov(const std::vector<double>& p, const Vec& x, const Vec& m, const std::optional<Vec>& w,
                double penalizer, int n_threads) {
  Checked(p, 3, "(p, q, v)");
  return RunCovariance(3, n_threads, [&](Uncertainty* u) {
    return GammaGammaCovariance({p[0], p[1], p[2]}, SpanOf(x), SpanOf(m), OptionalSpan(w), penalizer, u);
  });
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
  return RunIntervals(which, x.size(), n_threads, [&](const IntervalOutputs& out) {
    return BgNbdPredictIntervals(SpanOf(draws), SpanOf(x), SpanOf(t_x), SpanOf(T), t, level, out);
  });
}

py::tuple ClvIntervals(const CArray<double>& bg, const CArray<double>& gg, const Vec& x, const Vec& t_x, const Vec& T,
                       const Vec& m, const Vec& horizons, const Vec& coefs, double margin, double level,
                       int n_threads) {
  return RunBounds(x.size(), n_threads, [&](absl::Span<double> l, absl::Span<double> h) {
    return LifetimeValueIntervals(SpanOf(bg), SpanOf(gg), SpanOf(x), SpanOf(t_x), SpanOf(T), SpanOf(m),
                                  SpanOf(horizons), SpanOf(coefs), margin, level, l, h);
  });
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
