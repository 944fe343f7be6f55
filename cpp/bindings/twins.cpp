// Bindings of the twins engine: one side (clients or prospects) arrives as
// keyword arrays — dense, bits, numeric, categorical, sets, block key code
// columns — and is
// viewed without a copy when its layout already fits.
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "arrays.h"
#include "engine_call.h"
#include "registry.h"
#include "twinscore/twins.h"

namespace twinscore::bindings {
namespace {

// Keeps the arrays a TwinData views alive for the duration of a call.
struct Side {
  std::vector<CArray<float>> floats;
  std::vector<CArray<int32_t>> ints;
  std::vector<CArray<uint64_t>> words;
  std::vector<CArray<uint8_t>> bytes;
  TwinData data;
};

template <class T>
CArray<T> As(const py::handle& h) {
  return py::cast<CArray<T>>(h);
}

BitsetColumn BitsOf(Side& s, const py::handle& bits, const py::handle& missing, const py::handle& unseen,
                    const char* what) {
  s.words.push_back(As<uint64_t>(bits));
  const auto& b = s.words.back();
  if (b.ndim() != 2) throw py::value_error(std::string(what) + " must be a 2-D uint64 array (rows x words)");
  BitsetColumn c{SpanOf(b), b.shape(1), {}, {}};
  if (!missing.is_none()) {
    s.bytes.push_back(As<uint8_t>(missing));
    c.missing = SpanOf(s.bytes.back());
  }
  if (!unseen.is_none()) {
    s.ints.push_back(As<int32_t>(unseen));
    c.unseen = SpanOf(s.ints.back());
  }
  return c;
}

// n: the row count, from whichever array is given.
// A set column is (bits, missing) or (bits, missing, unseen counts).
std::unique_ptr<Side> MakeSide(const py::object& dense, const py::object& bits, const py::object& bits_unseen,
                               const py::list& numeric, const py::list& categorical, const py::list& sets,
                               const py::list& keys) {
  auto s = std::make_unique<Side>();
  int64_t n = -1;
  if (!dense.is_none()) {
    s->floats.push_back(As<float>(dense));
    const auto& x = s->floats.back();
    auto [rows, cols] = Shape2D(x, "the dense features");
    s->data.dense = SpanOf(x);
    s->data.dim = cols;
    n = rows;
  }
  if (!bits.is_none()) {
    s->data.bits = BitsOf(*s, bits, py::none(), bits_unseen, "the bitsets");
    n = s->words.back().shape(0);
  }
  for (const auto& col : numeric) {
    s->floats.push_back(As<float>(col));
    s->data.mixed.numeric.push_back(SpanOf(s->floats.back()));
    n = s->floats.back().size();
  }
  for (const auto& col : categorical) {
    s->ints.push_back(As<int32_t>(col));
    s->data.mixed.categorical.push_back(SpanOf(s->ints.back()));
    n = s->ints.back().size();
  }
  for (const auto& item : sets) {
    auto pair = item.cast<py::tuple>();
    if (pair.size() != 2 && pair.size() != 3) {
      throw py::value_error("a set column is a (bits, missing) pair or a (bits, missing, unseen) triple");
    }
    s->data.mixed.sets.push_back(
        BitsOf(*s, pair[0], pair[1], pair.size() == 3 ? py::handle(pair[2]) : py::handle(py::none()), "a set column"));
    n = s->words.back().shape(0);
  }
  for (const auto& col : keys) {
    s->ints.push_back(As<int32_t>(col));
    s->data.keys.push_back(SpanOf(s->ints.back()));
  }
  s->data.n = n < 0 ? 0 : n;
  return s;
}

TwinMetric MetricOf(const std::string& name) {
  if (name == "inner_product") return TwinMetric::kInnerProduct;
  if (name == "cosine") return TwinMetric::kCosine;
  if (name == "sqeuclidean") return TwinMetric::kSquaredL2;
  if (name == "jaccard") return TwinMetric::kJaccard;
  if (name == "weighted_jaccard") return TwinMetric::kWeightedJaccard;
  if (name == "mixed") return TwinMetric::kMixed;
  throw py::value_error("unknown metric '" + name + "'");
}

}  // namespace

TWINSCORE_BINDINGS(twins) {
  py::class_<TwinIndex>(m, "TwinIndex")
      .def_static(
          "fit",
          [](const std::string& metric, const py::object& dense, const py::object& bits,
             const py::object& bits_unseen, const py::list& numeric,
             const py::list& categorical, const py::list& sets, const py::list& keys,
             std::vector<float> bit_weights, std::vector<float> numeric_weights,
             std::vector<float> categorical_weights, std::vector<int32_t> categorical_other,
             std::vector<float> set_weights, std::vector<float> numeric_ranges, std::vector<int32_t> key_other,
             int32_t bit_other, std::vector<int32_t> set_other, int64_t prospect_tile, int64_t client_tile,
             int n_threads) {
            TwinOptions o;
            o.metric = MetricOf(metric);
            o.bit_weights = std::move(bit_weights);
            o.numeric_weights = std::move(numeric_weights);
            o.categorical_weights = std::move(categorical_weights);
            o.categorical_other = std::move(categorical_other);
            o.set_weights = std::move(set_weights);
            o.numeric_ranges = std::move(numeric_ranges);
            o.key_other = std::move(key_other);
            o.bit_other = bit_other;
            o.set_other = std::move(set_other);
            o.prospect_tile = prospect_tile;
            o.client_tile = client_tile;
            auto side = MakeSide(dense, bits, bits_unseen, numeric, categorical, sets, keys);
            return Take(RunEngine(n_threads, [&] { return TwinIndex::Fit(o, side->data); }));
          },
          py::arg("metric"), py::arg("dense") = py::none(), py::arg("bits") = py::none(),
          py::arg("bits_unseen") = py::none(), py::arg("numeric") = py::list(), py::arg("categorical") = py::list(), py::arg("sets") = py::list(),
          py::arg("keys") = py::list(), py::arg("bit_weights") = std::vector<float>{},
          py::arg("numeric_weights") = std::vector<float>{}, py::arg("categorical_weights") = std::vector<float>{},
          py::arg("categorical_other") = std::vector<int32_t>{}, py::arg("set_weights") = std::vector<float>{},
          py::arg("numeric_ranges") = std::vector<float>{}, py::arg("key_other") = std::vector<int32_t>{},
          py::arg("bit_other") = -1, py::arg("set_other") = std::vector<int32_t>{}, py::arg("prospect_tile") = 192, py::arg("client_tile") = 1024, TWINSCORE_N_THREADS_ARG)
      .def(
          "search",
          [](const TwinIndex& ix, int k, const py::object& dense, const py::object& bits,
             const py::object& bits_unseen, const py::list& numeric, const py::list& categorical,
             const py::list& sets, const py::list& keys, int n_threads) {
            auto side = MakeSide(dense, bits, bits_unseen, numeric, categorical, sets, keys);
            const int64_t n = side->data.n;
            if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
            CArray<int64_t> rows({n, static_cast<int64_t>(k)});
            CArray<float> scores({n, static_cast<int64_t>(k)});
            CArray<int32_t> counts(n);
            TwinResults out{MutableSpanOf(rows), MutableSpanOf(scores), MutableSpanOf(counts)};
            Raise(RunEngine(n_threads, [&] { return ix.Search(side->data, k, out); }));
            return py::make_tuple(rows, scores, counts);
          },
          py::arg("k"), py::arg("dense") = py::none(), py::arg("bits") = py::none(),
          py::arg("bits_unseen") = py::none(), py::arg("numeric") = py::list(), py::arg("categorical") = py::list(), py::arg("sets") = py::list(),
          py::arg("keys") = py::list(), TWINSCORE_N_THREADS_ARG)
      .def(
          "score_pairs",
          [](const TwinIndex& ix, const CArray<int64_t>& prospect_rows, const CArray<int64_t>& client_rows,
             const py::object& dense, const py::object& bits, const py::object& bits_unseen, const py::list& numeric,
             const py::list& categorical, const py::list& sets, int n_threads) {
            auto side = MakeSide(dense, bits, bits_unseen, numeric, categorical, sets, py::list());
            const int64_t n = prospect_rows.size();
            CArray<float> parts({n, ix.PartCount()});
            CArray<float> scores(n);
            absl::Span<float> parts_out = MutableSpanOf(parts), scores_out = MutableSpanOf(scores);
            Raise(RunEngine(n_threads, [&] {
              return ix.ScorePairs(side->data, SpanOf(prospect_rows), SpanOf(client_rows), parts_out, scores_out);
            }));
            return py::make_tuple(parts, scores);
          },
          py::arg("prospect_rows"), py::arg("client_rows"), py::arg("dense") = py::none(),
          py::arg("bits") = py::none(), py::arg("bits_unseen") = py::none(), py::arg("numeric") = py::list(),
          py::arg("categorical") = py::list(), py::arg("sets") = py::list(), TWINSCORE_N_THREADS_ARG)
      .def_property_readonly("size", &TwinIndex::size)
      .def_property_readonly("n_blocks", &TwinIndex::BlockCount)
      .def("block_sizes", &TwinIndex::BlockSizes)
      .def_property_readonly("numeric_ranges", &TwinIndex::numeric_ranges)
      .def_property_readonly("bit_weights", &TwinIndex::bit_weights);
}

}  // namespace twinscore::bindings
