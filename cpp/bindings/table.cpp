// Bindings of the table engines: threads, column scans, dictionaries, encoder.
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "encoder_args.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/columns.h"
#include "twinscore/dictionary.h"
#include "twinscore/encoder.h"
#include "twinscore/threads.h"

namespace twinscore::bindings {
namespace {

// Arrow-style string buffers: offsets (int64, n+1), bytes, validity (0 or n bytes).
struct StringArgs {
  CArray<int64_t> offsets;
  CArray<uint8_t> data;
  CArray<uint8_t> valid;
  StringColumn View(const std::string& name) const {
    return StringColumn{name, SpanOf(offsets), SpanOf(data), SpanOf(valid)};
  }
};

py::dict SummaryDict(const NumericSummary& s) {
  py::dict d;
  d["count"] = s.count;
  d["missing"] = s.missing;
  d["mean"] = s.mean;
  d["std"] = s.std;
  d["min"] = s.min;
  d["max"] = s.max;
  return d;
}

Dictionary DictionaryFromList(const std::vector<std::string>& v) {
  std::vector<int64_t> off{0};
  std::string bytes;
  for (const auto& s : v) {
    bytes += s;
    off.push_back(static_cast<int64_t>(bytes.size()));
  }
  StringColumn col{"pickle", off,
                   absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), {}};
  return Take(Dictionary::FromValues(col));
}

void BindThreads(py::module_& m) {
  m.def("set_num_threads", [](int n) { Raise(SetNumThreads(n)); }, py::arg("n"));
  m.def("get_num_threads", &ProcessNumThreads);
  m.def("default_num_threads", &DefaultNumThreads);
  // What an engine sees of its call's count — on the calling thread and on
  // the workers running its blocks (the most any block saw) — so tests reach
  // the plumbing from Python.
  m.def("call_threads", [](int n_threads) {
    return RunEngine(n_threads, [] {
      std::vector<int> seen(64);
      ParallelBlocks(seen.size(), 1, [&](size_t b, size_t, size_t) { seen[b] = NumThreads(); });
      return std::make_pair(NumThreads(), *std::max_element(seen.begin(), seen.end()));
    });
  }, TWINSCORE_N_THREADS_ARG);
  // The address of the first element as the engine receives it: tests use it
  // to prove that a C-contiguous float32 matrix is not copied on its way in.
  m.def("buffer_address", [](const CArray<float>& a) { return reinterpret_cast<uintptr_t>(a.data()); },
        py::arg("X").noconvert());
}

void BindColumns(py::module_& m) {
  m.attr("MISSING_CODE") = kMissingCode;
  m.attr("MISSING_TIMESTAMP") = kMissingTimestamp;
  m.def("summarize_numeric", [](const std::string& name, const py::array& x, int n_threads) {
    NumericColumn c = NumericView(name, x);
    return SummaryDict(Take(RunEngine(n_threads, [&] { return SummarizeNumeric(c); })));
  }, py::arg("name"), py::arg("x"), TWINSCORE_N_THREADS_ARG);
  m.def("summarize_timestamps", [](const CArray<int64_t>& ns, int n_threads) {
    return SummaryDict(RunEngine(n_threads, [&] { return SummarizeTimestamps(SpanOf(ns)); }));
  }, py::arg("ns").noconvert(), TWINSCORE_N_THREADS_ARG);
}

void BindDictionary(py::module_& m) {
  py::class_<Dictionary>(m, "Dictionary")
      .def_static("learn", [](const std::string& name, CArray<int64_t> off, CArray<uint8_t> data, CArray<uint8_t> valid,
                              int n_threads) {
        StringArgs s{off, data, valid};
        StringColumn col = s.View(name);
        return Take(RunEngine(n_threads, [&] { return Dictionary::Learn(col); }));
      }, py::arg("name"), py::arg("offsets"), py::arg("data"), py::arg("valid"), TWINSCORE_N_THREADS_ARG)
      .def_static("learn_sets", [](const std::string& name, CArray<int64_t> list_off, CArray<uint8_t> list_valid,
                                   CArray<int64_t> off, CArray<uint8_t> data, CArray<uint8_t> valid, int n_threads) {
        StringArgs s{off, data, valid};
        ListColumn col{SpanOf(list_off), SpanOf(list_valid), s.View(name)};
        return Take(RunEngine(n_threads, [&] { return Dictionary::LearnSets(col); }));
      }, py::arg("name"), py::arg("list_offsets"), py::arg("list_valid"), py::arg("offsets"), py::arg("data"),
         py::arg("valid"), TWINSCORE_N_THREADS_ARG)
      .def_static("from_values", [](const std::string& name, CArray<int64_t> off, CArray<uint8_t> data,
                                    int n_threads) {
        StringArgs s{off, data, CArray<uint8_t>(0)};
        StringColumn col = s.View(name);
        return Take(RunEngine(n_threads, [&] { return Dictionary::FromValues(col); }));
      }, py::arg("name"), py::arg("offsets"), py::arg("data"), TWINSCORE_N_THREADS_ARG)
      .def_property_readonly("size", &Dictionary::size)
      .def("values", &Dictionary::values)
      .def("encode", [](const Dictionary& d, const std::string& name, CArray<int64_t> off, CArray<uint8_t> data,
                        CArray<uint8_t> valid, int n_threads) {
        StringArgs s{off, data, valid};
        StringColumn col = s.View(name);
        if (off.size() < 1) throw py::value_error("column '" + name + "': string offsets are empty");
        CArray<int32_t> codes(off.size() - 1);
        absl::Span<int32_t> out = MutableSpanOf(codes);
        const int64_t unseen = Take(RunEngine(n_threads, [&] { return d.Encode(col, out); }));
        return py::make_tuple(codes, unseen);
      }, py::arg("name"), py::arg("offsets"), py::arg("data"), py::arg("valid"), TWINSCORE_N_THREADS_ARG)
      .def("encode_sets", [](const Dictionary& d, const std::string& name, CArray<int64_t> list_off,
                             CArray<uint8_t> list_valid, CArray<int64_t> off, CArray<uint8_t> data,
                             CArray<uint8_t> valid, int n_threads) {
        StringArgs s{off, data, valid};
        ListColumn col{SpanOf(list_off), SpanOf(list_valid), s.View(name)};
        if (list_off.size() < 1) throw py::value_error("column '" + name + "': list offsets are empty");
        const py::ssize_t n = list_off.size() - 1;
        const py::ssize_t words = BitsetWords(d.size());
        CArray<uint64_t> bits({n, words});
        CArray<uint8_t> missing(n);
        CArray<int32_t> counts(n);
        absl::Span<uint64_t> bits_out = MutableSpanOf(bits);
        absl::Span<uint8_t> miss_out = MutableSpanOf(missing);
        absl::Span<int32_t> counts_out = MutableSpanOf(counts);
        const int64_t unseen =
            Take(RunEngine(n_threads, [&] { return d.EncodeSets(col, bits_out, miss_out, counts_out); }));
        return py::make_tuple(bits, missing, unseen, counts);
      }, py::arg("name"), py::arg("list_offsets"), py::arg("list_valid"), py::arg("offsets"), py::arg("data"),
         py::arg("valid"), TWINSCORE_N_THREADS_ARG)
      // Rebuilt through FromValues, so a tampered pickle is validated too.
      .def(py::pickle([](const Dictionary& d) { return py::cast(d.values()); },
                      [](const py::list& values) {
                        return DictionaryFromList(values.cast<std::vector<std::string>>());
                      }));

  m.def("pack_bits", [](const CArray<uint8_t>& matrix, int n_threads) {
    auto [n, cols] = Shape2D(matrix, "a 0/1 category matrix");
    CArray<uint64_t> bits({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(BitsetWords(cols))});
    absl::Span<uint64_t> out = MutableSpanOf(bits);
    Raise(RunEngine(n_threads, [&, n = n, cols = cols] { return PackBits(SpanOf(matrix), n, cols, out); }));
    return bits;
  }, py::arg("matrix"), TWINSCORE_N_THREADS_ARG);
}

void BindEncoder(py::module_& m) {
  // Arguments as described in encoder_args.h.
  m.def("encode_dense", [](const NumericArgs& numeric, const CArray<double>& encodings,
                           const CategoricalArgs& categorical, const SetArgs& sets, int64_t n_rows, int n_threads) {
    DenseEncoderSpec spec = SpecOf(numeric, encodings, categorical, sets);
    if (n_rows < 0) throw py::value_error("n_rows must be >= 0");
    CArray<float> out({static_cast<py::ssize_t>(n_rows), static_cast<py::ssize_t>(spec.Width())});
    absl::Span<float> dst = MutableSpanOf(out);
    Raise(RunEngine(n_threads, [&] { return EncodeDense(spec, n_rows, dst); }));
    return out;
  }, py::arg("numeric"), py::arg("encodings"), py::arg("categorical"), py::arg("sets"), py::arg("n_rows"),
     TWINSCORE_N_THREADS_ARG);
}

}  // namespace

TWINSCORE_BINDINGS(table) {
  BindThreads(m);
  BindColumns(m);
  BindDictionary(m);
  BindEncoder(m);
}

}  // namespace twinscore::bindings
