// Bindings of the leads engine: convert arrays, release the GIL.
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "progress.h"
#include "registry.h"
#include "twinscore/leads.h"

namespace twinscore::bindings {
namespace {

struct LeadLogArgs {
  CArray<int64_t> rows, timestamps;
  CArray<int32_t> types, categories;
  int32_t n_types, n_categories;
  EventLog View() const {
    return EventLog{SpanOf(rows), SpanOf(timestamps), SpanOf(types), SpanOf(categories), n_types, n_categories};
  }
};

using CatRule = std::tuple<std::string, CArray<int32_t>, std::vector<double>>;
using NumRule = std::tuple<std::string, std::string, py::array, double, double, double>;
using BehRule = std::tuple<std::string, int32_t, std::vector<uint8_t>, double, double, double>;

py::dict Leads(const std::vector<CatRule>& cat, const std::vector<NumRule>& num, const std::vector<BehRule>& beh,
               const std::vector<double>& grade_edges, double mql_threshold, const LeadLogArgs& a, int64_t n_rows,
               int64_t now_ns, int n_threads, py::object progress) {
  if (n_rows < 0) throw py::value_error("n_rows must be >= 0");
  LeadRules rules;
  for (const auto& [name, codes, points] : cat) rules.categorical.push_back({name, SpanOf(codes), points});
  for (const auto& [name, column, values, lo, hi, points] : num) {
    rules.numeric.push_back({name, NumericView(column, values), lo, hi, points});
  }
  for (const auto& [name, type, mask, points, half_life, cap] : beh) {
    rules.behaviour.push_back({name, type, mask, points, half_life, cap});
  }
  rules.grade_edges = grade_edges;
  rules.mql_threshold = mql_threshold;
  const py::ssize_t n = n_rows, R = rules.NumRules();
  CArray<double> fit(n), behaviour(n), total(n), points({n, R});
  CArray<int8_t> grade(n);
  CArray<uint8_t> mql(n);
  LeadScores out{MutableSpanOf(fit),    MutableSpanOf(behaviour), MutableSpanOf(total),
                 MutableSpanOf(points), MutableSpanOf(grade),     MutableSpanOf(mql)};
  const EventLog log = a.View();
  PyProgress report(std::move(progress));
  const Progress sink = report.Sink();
  report.Raise(RunEngine(n_threads, [&] { return ScoreLeads(rules, log, n_rows, now_ns, out, sink); }));
  py::dict d;
  d["fit"] = fit;
  d["behaviour"] = behaviour;
  d["total"] = total;
  d["rule_points"] = points;
  d["grade"] = grade;
  d["mql"] = mql;
  return d;
}

}  // namespace

TWINSCORE_BINDINGS(leads) {
  // categorical: [(name, codes, points_by_code)]; numeric: [(rule, column,
  // values, lo, hi, points)]; behaviour: [(name, type, category_mask, points,
  // half_life_days, cap)].
  m.def("score_leads", [](const std::vector<CatRule>& cat, const std::vector<NumRule>& num,
                          const std::vector<BehRule>& beh, const std::vector<double>& grade_edges,
                          double mql_threshold, CArray<int64_t> rows, CArray<int64_t> ts, CArray<int32_t> types,
                          CArray<int32_t> categories, int32_t n_types, int32_t n_categories, int64_t n_rows,
                          int64_t now_ns, int n_threads, py::object progress) {
    return Leads(cat, num, beh, grade_edges, mql_threshold,
                 LeadLogArgs{rows, ts, types, categories, n_types, n_categories}, n_rows, now_ns, n_threads,
                 std::move(progress));
  }, py::arg("categorical"), py::arg("numeric"), py::arg("behaviour"), py::arg("grade_edges"),
     py::arg("mql_threshold"), py::arg("rows"), py::arg("timestamps"), py::arg("types"), py::arg("categories"),
     py::arg("n_types"), py::arg("n_categories"), py::arg("n_rows"), py::arg("now_ns"), TWINSCORE_N_THREADS_ARG,
     TWINSCORE_PROGRESS_ARG);
}

}  // namespace twinscore::bindings
