// Bindings of the k-means engine: convert, release the GIL, map errors.
#include <string>
#include <utility>

#include "arrays.h"
#include "engine_call.h"
#include "progress.h"
#include "registry.h"
#include "twinscore/kmeans.h"

namespace twinscore::bindings {
namespace {

KMeansData DataOf(const CArray<float>& X, const CArray<float>& w) {
  auto [n, d] = Shape2D(X, "X");
  return KMeansData{SpanOf(X), SpanOf(w), n, d};
}

int32_t CentersK(const CArray<float>& centers, int64_t d, const char* name) {
  auto [k, dc] = Shape2D(centers, name);
  if (dc != d) {
    throw py::value_error(std::string(name) + " has " + std::to_string(dc) + " columns, X has " + std::to_string(d));
  }
  return static_cast<int32_t>(k);
}

}  // namespace

TWINSCORE_BINDINGS(kmeans) {
  m.def("kmeans_init", [](const CArray<float>& X, const CArray<float>& w, int32_t k, uint64_t seed,
                          const std::string& method, int n_threads, py::object progress) {
    KMeansData data = DataOf(X, w);
    if (method != "k-means++" && method != "random") {
      throw py::value_error("init must be 'k-means++', 'random' or an array, got '" + method + "'");
    }
    CArray<float> centers({static_cast<py::ssize_t>(std::max(k, 0)), static_cast<py::ssize_t>(data.d)});
    absl::Span<float> out = MutableSpanOf(centers);
    PyProgress report(std::move(progress));
    const Progress sink = report.Sink();
    report.Raise(RunEngine(n_threads, [&] {
      absl::Status s = data.Validate();
      if (s.ok()) {
        s = method == "random" ? KMeansRandomInit(data, k, seed, out) : KMeansPlusPlus(data, k, seed, out, sink);
      }
      return s;
    }));
    return centers;
  }, py::arg("X").noconvert(), py::arg("sample_weight").noconvert(), py::arg("k"), py::arg("seed"), py::arg("method"),
     TWINSCORE_N_THREADS_ARG, TWINSCORE_PROGRESS_ARG);

  m.def("kmeans_lloyd", [](const CArray<float>& X, const CArray<float>& w, const CArray<float>& init,
                           int32_t max_iter, double tol, int n_threads, py::object progress) {
    KMeansData data = DataOf(X, w);
    KMeansOptions opt;
    opt.k = CentersK(init, data.d, "init");
    opt.max_iter = max_iter;
    opt.tol = tol;
    PyProgress report(std::move(progress));
    const Progress sink = report.Sink();
    KMeansResult res = report.Take(RunEngine(n_threads, [&] { return KMeansLloyd(data, opt, SpanOf(init), sink); }));
    CArray<float> centers({static_cast<py::ssize_t>(opt.k), static_cast<py::ssize_t>(data.d)});
    std::copy(res.centers.begin(), res.centers.end(), centers.mutable_data());
    CArray<int32_t> labels(data.n);
    std::copy(res.labels.begin(), res.labels.end(), labels.mutable_data());
    return py::make_tuple(centers, labels, res.inertia, res.n_iter);
  }, py::arg("X").noconvert(), py::arg("sample_weight").noconvert(), py::arg("init").noconvert(),
     py::arg("max_iter"), py::arg("tol"), TWINSCORE_N_THREADS_ARG, TWINSCORE_PROGRESS_ARG);

  m.def("kmeans_assign", [](const CArray<float>& X, const CArray<float>& w, const CArray<float>& centers,
                            int n_threads) {
    KMeansData data = DataOf(X, w);
    const int32_t k = CentersK(centers, data.d, "cluster_centers_");
    CArray<int32_t> labels(data.n);
    CArray<float> dist2(data.n);
    absl::Span<int32_t> lab = MutableSpanOf(labels);
    absl::Span<float> dst = MutableSpanOf(dist2);
    double inertia = 0.0;
    Raise(RunEngine(n_threads, [&] {
      absl::Status s = data.Validate();
      if (s.ok()) inertia = AssignAndSum(data, SpanOf(centers), k, lab, dst, {}, {});
      return s;
    }));
    return py::make_tuple(labels, dist2, inertia);
  }, py::arg("X").noconvert(), py::arg("sample_weight").noconvert(), py::arg("centers").noconvert(),
     TWINSCORE_N_THREADS_ARG);

  m.def("kmeans_minibatch_update", [](const CArray<float>& X, const CArray<float>& w, CArray<float> centers,
                                      CArray<double> totals, int64_t batch_size, int n_threads, py::object progress) {
    KMeansData data = DataOf(X, w);
    const int32_t k = CentersK(centers, data.d, "cluster_centers_");
    absl::Span<float> c = MutableSpanOf(centers);
    absl::Span<double> t = MutableSpanOf(totals);
    PyProgress report(std::move(progress));
    const Progress sink = report.Sink();
    return report.Take(RunEngine(n_threads, [&] { return KMeansMiniBatchUpdate(data, k, batch_size, c, t, sink); }));
  }, py::arg("X").noconvert(), py::arg("sample_weight").noconvert(), py::arg("centers").noconvert(),
     py::arg("totals").noconvert(), py::arg("batch_size"), TWINSCORE_N_THREADS_ARG, TWINSCORE_PROGRESS_ARG);

  m.def("kmeans_distances", [](const CArray<float>& X, const CArray<float>& centers, int n_threads) {
    KMeansData data = DataOf(X, CArray<float>(0));
    const int32_t k = CentersK(centers, data.d, "cluster_centers_");
    CArray<float> out({static_cast<py::ssize_t>(data.n), static_cast<py::ssize_t>(k)});
    absl::Span<float> o = MutableSpanOf(out);
    Raise(RunEngine(n_threads, [&] { return KMeansDistances(data, SpanOf(centers), k, o); }));
    return out;
  }, py::arg("X").noconvert(), py::arg("centers").noconvert(), TWINSCORE_N_THREADS_ARG);
}

}  // namespace twinscore::bindings
