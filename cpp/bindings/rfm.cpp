// Bindings of the RFM engine: id factorisation, per-client aggregates, quantile scores.
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/rfm.h"

namespace twinscore::bindings {
namespace {

py::tuple Factorize(const CArray<int64_t>& ids, int n_threads) {
  CArray<int32_t> codes(ids.size());
  absl::Span<int32_t> out = MutableSpanOf(codes);
  std::vector<int64_t> u = Take(RunEngine(n_threads, [&] { return FactorizeInt64(SpanOf(ids), out); }));
  CArray<int64_t> ua(static_cast<py::ssize_t>(u.size()));
  std::copy(u.begin(), u.end(), ua.mutable_data());
  return py::make_tuple(codes, ua);
}

py::dict Aggregate(const CArray<int32_t>& codes, const CArray<int64_t>& time, const py::object& amount,
                   int64_t n_clients, int64_t now, int n_threads) {
  if (n_clients <= 0) throw py::value_error("n_clients must be > 0");
  const bool has_amount = !amount.is_none();
  CArray<double> amt = has_amount ? amount.cast<CArray<double>>() : CArray<double>(0);
  CArray<int64_t> first(n_clients), last(n_clients), count(n_clients);
  CArray<double> total(has_amount ? n_clients : 0);
  RfmAggregates out{MutableSpanOf(first), MutableSpanOf(last), MutableSpanOf(count), MutableSpanOf(total)};
  Raise(RunEngine(n_threads,
                  [&] { return AggregateRfm(SpanOf(codes), SpanOf(time), SpanOf(amt), n_clients, now, out); }));
  py::dict d;
  d["first"] = first;
  d["last"] = last;
  d["count"] = count;
  if (has_amount) d["total"] = total;
  return d;
}

// Hands a result vector to numpy without a copy: the array owns it.
template <class T>
CArray<T> ToArray(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return CArray<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), free);
}

py::dict AggregateById(const CArray<int64_t>& ids, const CArray<int64_t>& time, const py::object& amount,
                       int64_t now, int n_threads) {
  const bool has_amount = !amount.is_none();
  CArray<double> amt = has_amount ? amount.cast<CArray<double>>() : CArray<double>(0);
  RfmGroups g =
      Take(RunEngine(n_threads, [&] { return AggregateRfmById(SpanOf(ids), SpanOf(time), SpanOf(amt), now); }));
  py::dict d;
  d["id"] = ToArray(std::move(g.id));
  d["first"] = ToArray(std::move(g.first));
  d["last"] = ToArray(std::move(g.last));
  d["count"] = ToArray(std::move(g.count));
  if (has_amount) d["total"] = ToArray(std::move(g.total));
  return d;
}

CArray<int8_t> Scores(const CArray<double>& values, int bins, int n_threads) {
  CArray<int8_t> scores(values.size());
  absl::Span<int8_t> out = MutableSpanOf(scores);
  Raise(RunEngine(n_threads, [&] { return QuantileScores(SpanOf(values), bins, out); }));
  return scores;
}

// Scores of several float64 columns in one call (their selections run concurrently).
py::list ScoresColumns(const py::list& columns, int bins, int n_threads) {
  std::vector<CArray<double>> in;
  std::vector<CArray<int8_t>> out;
  for (const py::handle& h : columns) {
    if (!py::isinstance<CArray<double>>(h)) throw py::type_error("columns must be C-contiguous float64 arrays");
    in.push_back(h.cast<CArray<double>>());
    if (in.back().ndim() != 1) throw py::value_error("columns must be 1-D");
    out.emplace_back(in.back().size());
  }
  std::vector<absl::Span<const double>> spans;
  std::vector<absl::Span<int8_t>> outs;
  for (size_t c = 0; c < in.size(); ++c) {
    spans.push_back(SpanOf(in[c]));
    outs.push_back(MutableSpanOf(out[c]));
  }
  Raise(RunEngine(n_threads, [&] { return QuantileScoresColumns(spans, bins, outs); }));
  py::list result;
  for (auto& a : out) result.append(a);
  return result;
}

}  // namespace

TWINSCORE_BINDINGS(rfm) {
  m.def("factorize_int64", &Factorize, py::arg("ids").noconvert(), TWINSCORE_N_THREADS_ARG);
  m.def("rfm_aggregate", &Aggregate, py::arg("codes").noconvert(), py::arg("time").noconvert(), py::arg("amount"),
        py::arg("n_clients"), py::arg("now"), TWINSCORE_N_THREADS_ARG);
  m.def("rfm_aggregate_ids", &AggregateById, py::arg("ids").noconvert(), py::arg("time").noconvert(),
        py::arg("amount"), py::arg("now"), TWINSCORE_N_THREADS_ARG);
  m.def("quantile_scores", &Scores, py::arg("values").noconvert(), py::arg("bins"), TWINSCORE_N_THREADS_ARG);
  m.def("quantile_scores_columns", &ScoresColumns, py::arg("columns"), py::arg("bins"), TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
