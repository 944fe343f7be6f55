// Google Benchmark of the table kernels: numeric scan, dictionary encoding of
// strings and category sets, and the fused dense encoder, on 1M rows.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "twinscore/columns.h"
#include "twinscore/dictionary.h"
#include "twinscore/encoder.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr int64_t kRows = 1'000'000;

struct Strings {
  std::vector<int64_t> offsets{0};
  std::string bytes;
  StringColumn View() const {
    return {"s", offsets,
            absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), {}};
  }
};

Strings MakeStrings(int64_t n, int distinct, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Strings s;
  for (int64_t i = 0; i < n; ++i) {
    s.bytes += "category-" + std::to_string(rng() % distinct);
    s.offsets.push_back(static_cast<int64_t>(s.bytes.size()));
  }
  return s;
}

void BM_SummarizeNumeric(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  std::vector<double> x(kRows);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  for (auto& v : x) v = normal(rng);
  NumericColumn col{"x", x.data(), kRows, 1, false};
  for (auto _ : state) benchmark::DoNotOptimize(SummarizeNumeric(col));
  state.SetBytesProcessed(state.iterations() * kRows * sizeof(double));
}
BENCHMARK(BM_SummarizeNumeric)->Arg(1)->Arg(2)->UseRealTime();

void BM_DictionaryEncode(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  Strings s = MakeStrings(kRows, 24, 2);
  auto d = *Dictionary::Learn(s.View());
  std::vector<int32_t> codes(kRows);
  for (auto _ : state) benchmark::DoNotOptimize(d.Encode(s.View(), absl::MakeSpan(codes)));
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_DictionaryEncode)->Arg(1)->Arg(2)->UseRealTime();

void BM_DictionaryLearn(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  Strings s = MakeStrings(kRows, 24, 3);
  for (auto _ : state) benchmark::DoNotOptimize(Dictionary::Learn(s.View()));
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_DictionaryLearn)->Arg(1)->Arg(2)->UseRealTime();

void BM_EncodeDense(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(0))).IgnoreError();
  std::vector<double> a(kRows), b(kRows);
  std::vector<int32_t> c1(kRows), c2(kRows);
  std::mt19937_64 rng(4);
  for (int64_t i = 0; i < kRows; ++i) {
    a[i] = static_cast<double>(rng() % 1000);
    b[i] = static_cast<double>(rng() % 7);
    c1[i] = static_cast<int32_t>(rng() % 8);
    c2[i] = static_cast<int32_t>(rng() % 24);
  }
  DenseEncoderSpec spec;
  spec.numeric = {{"a", a.data(), kRows, 1, false}, {"b", b.data(), kRows, 1, false}};
  spec.numeric_encoding = {{500.0, 300.0}, {3.0, 2.0}};
  spec.categorical = {{"c1", c1, 8}, {"c2", c2, 24}};
  std::vector<float> out(kRows * spec.Width());
  for (auto _ : state) benchmark::DoNotOptimize(EncodeDense(spec, kRows, absl::MakeSpan(out)));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size() * sizeof(float)));
}
BENCHMARK(BM_EncodeDense)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace twinscore

BENCHMARK_MAIN();
