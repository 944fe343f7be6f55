// Bindings of the contact-plan engine: convert, release the GIL, map errors.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/plan.h"

namespace twinscore::bindings {

TWINSCORE_BINDINGS(plan) {
  m.def("contact_plan", [](const CArray<double>& p, const CArray<double>& value, const CArray<uint8_t>& allowed,
                           const std::vector<std::string>& names, const std::vector<double>& cost,
                           const std::vector<double>& uplift, const std::vector<int64_t>& capacity,
                           const std::vector<double>& budget, double total_budget, bool p_per_channel,
                           bool value_per_channel, int n_threads) {
    const size_t nc = names.size();
    if (cost.size() != nc || uplift.size() != nc || capacity.size() != nc || budget.size() != nc) {
      throw py::value_error("each channel needs a name, cost, uplift, capacity and budget");
    }
    PlanInput in;
    in.p = SpanOf(p);
    in.value = SpanOf(value);
    in.allowed = SpanOf(allowed);
    in.total_budget = total_budget;
    in.p_per_channel = p_per_channel;
    in.value_per_channel = value_per_channel;
    for (size_t c = 0; c < nc; ++c) in.channels.push_back(Channel{names[c], cost[c], uplift[c], capacity[c], budget[c]});
    const size_t n = static_cast<size_t>(in.num_contacts());
    CArray<int32_t> channel(n);
    CArray<double> profit(n);
    absl::Span<int32_t> ch = MutableSpanOf(channel);
    absl::Span<double> pr = MutableSpanOf(profit);
    Raise(RunEngine(n_threads, [&] { return ContactPlan(in, ch, pr); }));
    return py::make_tuple(channel, profit);
  }, py::arg("p").noconvert(), py::arg("value").noconvert(), py::arg("allowed").noconvert(), py::arg("names"),
     py::arg("cost"), py::arg("uplift"), py::arg("capacity"), py::arg("budget"), py::arg("total_budget"),
     py::arg("p_per_channel") = false, py::arg("value_per_channel") = false, TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
