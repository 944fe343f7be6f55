// Bindings of the calibration summaries: the stream (one table is a stream of one chunk).
#include <optional>

#include "purchase_models.h"
#include "registry.h"
#include "twinscore/clv_summary.h"

namespace twinscore::bindings {
namespace {

// Output arrays for n clients, allocated before the engine runs.
struct SummaryArrays {
  explicit SummaryArrays(int64_t n) : x(n), t_x(n), T(n), m(n), h(n), has(n) {}
  CalibrationSummary Spans() {
    return {MutableSpanOf(x), MutableSpanOf(t_x), MutableSpanOf(T), MutableSpanOf(m), MutableSpanOf(h),
            MutableSpanOf(has)};
  }
  py::dict Dict() const {
    py::dict d;
    d["frequency"] = x;
    d["recency"] = t_x;
    d["T"] = T;
    d["monetary_value"] = m;
    d["holdout_frequency"] = h;
    d["has_calibration"] = has;
    return d;
  }
  Vec x, t_x, T, m, h;
  CArray<uint8_t> has;
};

CalibrationStream MakeStream(int64_t calibration_end, const std::optional<int64_t>& observation_end) {
  return Take(CalibrationStream::Create(calibration_end, observation_end.value_or(CalibrationStream::kOpenEnd)));
}

void Add(CalibrationStream& s, const CArray<int32_t>& codes, const CArray<int64_t>& day,
         const std::optional<Vec>& amount, int64_t n_clients, int64_t first_row, int n_threads) {
  Raise(RunEngine(n_threads, [&] {
    return s.Add(SpanOf(codes), SpanOf(day), OptionalSpan(amount), n_clients, first_row);
  }));
}

py::dict Finish(const CalibrationStream& s, int64_t observation_end, double period_days, int n_threads) {
  SummaryArrays out(s.n_clients());
  CalibrationSummary spans = out.Spans();
  Raise(RunEngine(n_threads, [&] { return s.Finish(observation_end, period_days, spans); }));
  return out.Dict();
}

}  // namespace

TWINSCORE_BINDINGS(clv_summary) {
  py::class_<CalibrationStream>(m, "CalibrationStream")
      .def(py::init(&MakeStream), py::arg("calibration_end"), py::arg("observation_end") = py::none())
      .def("add", &Add, py::arg("codes").noconvert(), py::arg("day").noconvert(), py::arg("amount"),
           py::arg("n_clients"), py::arg("first_row"), TWINSCORE_N_THREADS_ARG)
      .def("finish", &Finish, py::arg("observation_end"), py::arg("period_days"), TWINSCORE_N_THREADS_ARG)
      .def_property_readonly("n_clients", &CalibrationStream::n_clients)
      .def_property_readonly("rows", &CalibrationStream::rows)
      .def_property_readonly("earliest_day", &CalibrationStream::earliest_day)
      .def_property_readonly("latest_day", &CalibrationStream::latest_day)
      .def_property_readonly("nbytes", &CalibrationStream::bytes);
}

}  // namespace twinscore::bindings
