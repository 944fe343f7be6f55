// Bindings of the metrics engine: convert arrays, release the GIL.
#include <string>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/metrics.h"

namespace twinscore::bindings {
namespace {

py::dict BinDict(const CArray<int64_t>& rows, const CArray<double>& w, const CArray<double>& pos,
                 const CArray<double>& ssum, const CArray<double>& lo, const CArray<double>& hi) {
  py::dict d;
  d["rows"] = rows;
  d["weight"] = w;
  d["positives"] = pos;
  d["score_sum"] = ssum;
  d["min_score"] = lo;
  d["max_score"] = hi;
  return d;
}

template <class Fn>
py::dict WithBins(py::ssize_t m, int n_threads, Fn&& fn) {
  if (m < 0) throw py::value_error("the number of bins must be >= 0");
  CArray<int64_t> rows(m);
  CArray<double> w(m), pos(m), ssum(m), lo(m), hi(m);
  BinTable out{MutableSpanOf(rows), MutableSpanOf(w), MutableSpanOf(pos),
               MutableSpanOf(ssum), MutableSpanOf(lo), MutableSpanOf(hi)};
  Raise(RunEngine(n_threads, [&] { return fn(out); }));
  return BinDict(rows, w, pos, ssum, lo, hi);
}

void BindMetrics(py::module_& m) {
  m.def("roc_summary", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w,
                          int n_threads) {
    RocSummary s = Take(RunEngine(n_threads, [&] { return Roc(SpanOf(scores), SpanOf(labels), SpanOf(w)); }));
    py::dict d;
    d["auc"] = s.auc;
    d["ks"] = s.ks;
    d["ks_threshold"] = s.ks_threshold;
    d["positives"] = s.positives;
    d["negatives"] = s.negatives;
    return d;
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"), TWINSCORE_N_THREADS_ARG);

  m.def("rank_descending", [](const CArray<double>& scores, int n_threads) {
    CArray<int64_t> order(scores.size());
    absl::Span<int64_t> out = MutableSpanOf(order);
    Raise(RunEngine(n_threads, [&] { return RankDescending(SpanOf(scores), out); }));
    return order;
  }, py::arg("scores"), TWINSCORE_N_THREADS_ARG);

  m.def("gains_table", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w,
                          int64_t n_bins, int n_threads) {
    if (n_bins < 1) throw py::value_error("n_bins must be >= 1, got " + std::to_string(n_bins));
    return WithBins(n_bins, n_threads, [&](const BinTable& out) {
      return GainsTable(SpanOf(scores), SpanOf(labels), SpanOf(w), n_bins, out);
    });
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"), py::arg("n_bins"), TWINSCORE_N_THREADS_ARG);

  m.def("band_table", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w,
                         const CArray<double>& edges, int n_threads) {
    if (edges.size() < 2) throw py::value_error("bins need at least 2 edges");
    return WithBins(edges.size() - 1, n_threads, [&](const BinTable& out) {
      return BandTable(SpanOf(scores), SpanOf(labels), SpanOf(w), SpanOf(edges), out);
    });
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"), py::arg("edges"), TWINSCORE_N_THREADS_ARG);
}

}  // namespace

TWINSCORE_BINDINGS(metrics) { BindMetrics(m); }

}  // namespace twinscore::bindings
