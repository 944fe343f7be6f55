// Bindings of the criteria engine (binning, target counts, bin codes): convert,
// release the GIL, map errors.
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/criteria.h"

namespace twinscore::bindings {
namespace {

std::vector<NumericColumn> NumericViews(const std::vector<std::string>& names, const std::vector<py::array>& cols) {
  if (names.size() != cols.size()) throw py::value_error("one name per column expected");
  std::vector<NumericColumn> out;
  for (size_t c = 0; c < cols.size(); ++c) out.push_back(NumericView(names[c], cols[c]));
  return out;
}

// A binning as Python holds it: (values, edges, float32).
using BinningTuple = std::tuple<std::vector<double>, std::vector<double>, bool>;

std::vector<NumericBinning> Binnings(const std::vector<BinningTuple>& in) {
  std::vector<NumericBinning> out;
  for (const auto& [values, edges, float32] : in) out.push_back(NumericBinning{values, edges, float32});
  return out;
}

py::tuple CountsTuple(BinCounts r) {
  std::vector<CArray<int64_t>> pos, neg;
  for (size_t c = 0; c < r.pos.size(); ++c) {
    CArray<int64_t> p(r.pos[c].size()), q(r.neg[c].size());
    std::copy(r.pos[c].begin(), r.pos[c].end(), p.mutable_data());
    std::copy(r.neg[c].begin(), r.neg[c].end(), q.mutable_data());
    pos.push_back(p);
    neg.push_back(q);
  }
  return py::make_tuple(pos, neg);
}

}  // namespace

TWINSCORE_BINDINGS(criteria) {
  m.def("numeric_bins", [](const std::vector<std::string>& names, const std::vector<py::array>& cols,
                           int32_t n_bins, int n_threads) {
    std::vector<NumericColumn> views = NumericViews(names, cols);
    std::vector<BinningTuple> out;
    for (NumericBinning& b : Take(RunEngine(n_threads, [&] { return LearnNumericBins(views, BinningOptions{n_bins}); }))) {
      out.emplace_back(std::move(b.values), std::move(b.edges), b.float32);
    }
    return out;
  }, py::arg("names"), py::arg("columns"), py::arg("n_bins"), TWINSCORE_N_THREADS_ARG);

  m.def("count_numeric_bins", [](const std::vector<std::string>& names, const std::vector<py::array>& cols,
                                 const std::vector<BinningTuple>& binnings, const CArray<uint8_t>& target,
                                 int n_threads) {
    std::vector<NumericColumn> views = NumericViews(names, cols);
    const std::vector<NumericBinning> bins = Binnings(binnings);
    return CountsTuple(Take(RunEngine(n_threads, [&] { return CountNumericBins(views, bins, SpanOf(target)); })));
  }, py::arg("names"), py::arg("columns"), py::arg("binnings"), py::arg("target").noconvert(), TWINSCORE_N_THREADS_ARG);

  m.def("numeric_bin_codes", [](const std::vector<std::string>& names, const std::vector<py::array>& cols,
                                const std::vector<BinningTuple>& binnings, int n_threads) {
    std::vector<NumericColumn> views = NumericViews(names, cols);
    const std::vector<NumericBinning> bins = Binnings(binnings);
    std::vector<CArray<int32_t>> codes;
    std::vector<absl::Span<int32_t>> out;
    for (const NumericColumn& v : views) {
      codes.emplace_back(v.n);
      out.push_back(MutableSpanOf(codes.back()));
    }
    Raise(RunEngine(n_threads, [&] { return AssignNumericBins(views, bins, out); }));
    return codes;
  }, py::arg("names"), py::arg("columns"), py::arg("binnings"), TWINSCORE_N_THREADS_ARG);

  m.def("count_codes", [](const std::vector<CArray<int32_t>>& cols, const std::vector<int32_t>& n_categories,
                          const CArray<uint8_t>& target, int n_threads) {
    std::vector<absl::Span<const int32_t>> views;
    for (const auto& c : cols) views.push_back(SpanOf(c));
    return CountsTuple(Take(RunEngine(n_threads, [&] { return CountCodes(views, n_categories, SpanOf(target)); })));
  }, py::arg("columns"), py::arg("n_categories"), py::arg("target").noconvert(), TWINSCORE_N_THREADS_ARG);

  m.def("count_set_members", [](const std::vector<CArray<uint64_t>>& bits, const std::vector<int32_t>& n_categories,
                                const CArray<uint8_t>& target, int n_threads) {
    std::vector<absl::Span<const uint64_t>> views;
    std::vector<int64_t> words;
    for (const auto& b : bits) {
      if (b.ndim() != 2) throw py::value_error("bitsets must be 2-D (rows, words)");
      views.push_back(SpanOf(b));
      words.push_back(b.shape(1));
    }
    return CountsTuple(
        Take(RunEngine(n_threads, [&] { return CountSetMembers(views, words, n_categories, SpanOf(target)); })));
  }, py::arg("bitsets"), py::arg("n_categories"), py::arg("target").noconvert(), TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
