// Bindings of the events engine: convert arrays, release the GIL.
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "progress.h"
#include "registry.h"
#include "twinscore/events.h"

namespace twinscore::bindings {
namespace {

struct LogArgs {
  CArray<int64_t> rows, timestamps;
  CArray<int32_t> types, categories;
  int32_t n_types, n_categories;
  EventLog View() const {
    return EventLog{SpanOf(rows), SpanOf(timestamps), SpanOf(types), SpanOf(categories), n_types, n_categories};
  }
};

py::dict Aggregate(const LogArgs& a, int64_t n_rows, int64_t now_ns, double half_life_days, int n_threads,
                   py::object progress) {
  if (n_rows < 0) throw py::value_error("n_rows must be >= 0");
  const py::ssize_t n = n_rows, T = a.n_types, K = a.n_categories;
  if (T < 0 || K < 0) throw py::value_error("n_types and n_categories must be >= 0");
  CArray<int64_t> counts({n, T}), first(n), last(n);
  CArray<double> dt({n, T}), dc({n, K});
  CArray<int32_t> days(n);
  EventAggregates out{MutableSpanOf(counts), MutableSpanOf(dt), MutableSpanOf(dc),
                      MutableSpanOf(first),  MutableSpanOf(last), MutableSpanOf(days)};
  const EventLog log = a.View();
  PyProgress report(std::move(progress));
  const Progress sink = report.Sink();
  report.Raise(RunEngine(
      n_threads, [&] { return AggregateEvents(log, n_rows, EventAggOptions{now_ns, half_life_days}, out, sink); }));
  py::dict d;
  d["counts"] = counts;
  d["decayed_types"] = dt;
  d["decayed_categories"] = dc;
  d["first_seen"] = first;
  d["last_seen"] = last;
  d["active_days"] = days;
  return d;
}

}  // namespace

TWINSCORE_BINDINGS(events) {
  m.def("map_contact_ids", [](const CArray<int64_t>& contact_ids, const CArray<int64_t>& event_ids, int n_threads) {
    CArray<int64_t> rows(event_ids.size());
    absl::Span<int64_t> out = MutableSpanOf(rows);
    const int64_t unknown =
        Take(RunEngine(n_threads, [&] { return MapContactIds(SpanOf(contact_ids), SpanOf(event_ids), out); }));
    return py::make_tuple(rows, unknown);
  }, py::arg("contact_ids"), py::arg("event_ids"), TWINSCORE_N_THREADS_ARG);

  m.def("aggregate_events", [](CArray<int64_t> rows, CArray<int64_t> ts, CArray<int32_t> types,
                               CArray<int32_t> categories, int32_t n_types, int32_t n_categories, int64_t n_rows,
                               int64_t now_ns, double half_life_days, int n_threads, py::object progress) {
    return Aggregate(LogArgs{rows, ts, types, categories, n_types, n_categories}, n_rows, now_ns, half_life_days,
                     n_threads, std::move(progress));
  }, py::arg("rows"), py::arg("timestamps"), py::arg("types"), py::arg("categories"), py::arg("n_types"),
     py::arg("n_categories"), py::arg("n_rows"), py::arg("now_ns"), py::arg("half_life_days"), TWINSCORE_N_THREADS_ARG,
     TWINSCORE_PROGRESS_ARG);

}

}  // namespace twinscore::bindings
