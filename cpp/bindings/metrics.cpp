// Bindings of the metrics engine: convert arrays, release the GIL.
#include <string>

#include "arrays.h"
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
py::dict WithBins(py::ssize_t m, Fn&& fn) {
  if (m < 0) throw py::value_error("the number of bins must be >= 0");
  CArray<int64_t> rows(m);
  CArray<double> w(m), pos(m), ssum(m), lo(m), hi(m);
  BinTable out{MutableSpanOf(rows), MutableSpanOf(w), MutableSpanOf(pos),
               MutableSpanOf(ssum), MutableSpanOf(lo), MutableSpanOf(hi)};
  absl::Status s;
  {
    py::gil_scoped_release release;
    s = fn(out);
  }
  Raise(s);
  return BinDict(rows, w, pos, ssum, lo, hi);
}

void BindMetrics(py::module_& m) {
  m.def("roc_summary", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w) {
    absl::StatusOr<RocSummary> r;
    {
      py::gil_scoped_release release;
      r = Roc(SpanOf(scores), SpanOf(labels), SpanOf(w));
    }
    RocSummary s = Take(std::move(r));
    py::dict d;
    d["auc"] = s.auc;
    d["ks"] = s.ks;
    d["ks_threshold"] = s.ks_threshold;
    d["positives"] = s.positives;
    d["negatives"] = s.negatives;
    return d;
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"));

  m.def("rank_descending", [](const CArray<double>& scores) {
    CArray<int64_t> order(scores.size());
    absl::Span<int64_t> out = MutableSpanOf(order);
    absl::Status s;
    {
      py::gil_scoped_release release;
      s = RankDescending(SpanOf(scores), out);
    }
    Raise(s);
    return order;
  }, py::arg("scores"));

  m.def("gains_table", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w,
                          int64_t n_bins) {
    if (n_bins < 1) throw py::value_error("n_bins must be >= 1, got " + std::to_string(n_bins));
    return WithBins(n_bins, [&](const BinTable& out) {
      return GainsTable(SpanOf(scores), SpanOf(labels), SpanOf(w), n_bins, out);
    });
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"), py::arg("n_bins"));

  m.def("band_table", [](const CArray<double>& scores, const CArray<double>& labels, const CArray<double>& w,
                         const CArray<double>& edges) {
    if (edges.size() < 2) throw py::value_error("bins need at least 2 edges");
    return WithBins(edges.size() - 1, [&](const BinTable& out) {
      return BandTable(SpanOf(scores), SpanOf(labels), SpanOf(w), SpanOf(edges), out);
    });
  }, py::arg("scores"), py::arg("labels"), py::arg("sample_weight"), py::arg("edges"));
}

}  // namespace

TWINSCORE_BINDINGS(metrics) { BindMetrics(m); }

}  // namespace twinscore::bindings
