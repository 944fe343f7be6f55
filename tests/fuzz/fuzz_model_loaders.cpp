// Fuzz target over the model loaders (libFuzzer's entry point; also linked
// with replay_main.cpp to run a corpus without libFuzzer). Every input goes
// to the XGBoost loader (JSON or UBJSON), to the LightGBM text loader and to
// the twinscore model file parser. A loader may refuse the bytes, with a
// message, but must never crash, hang, read out of bounds or allocate without
// bound; a model it accepts must build, score and explain rows holding NaN
// and infinities; a model file it accepts must have every array inside the
// file, of the length its dtype and shape give, matching its checksum.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include "twinscore/model_file.h"
#include "twinscore/trees.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_model_loaders: %s\n", what);
  std::abort();
}

// Scores two rows of awkward values. Models with very many features are
// scored on fewer rows' worth of memory: the cap keeps a legal but huge
// declared width from turning into a giant input buffer here.
void Score(const twinscore::TreeEnsemble& e) {
  const int64_t d = e.num_features();
  if (d > (int64_t{1} << 16)) return;
  const float kValues[] = {0.5f, 0.0f, std::nanf(""), 1.0f, -1.0f, 3.0f, std::numeric_limits<float>::infinity(),
                           -1e30f};
  constexpr int64_t n = 2;
  std::vector<float> X(n * d);
  for (size_t i = 0; i < X.size(); ++i) X[i] = kValues[i % (sizeof(kValues) / sizeof(float))];
  const int64_t G = e.num_groups();
  std::vector<double> margin(n * G), out(n * e.num_outputs()), phi(n * G * (d + 1));
  if (!e.PredictMargin(X, n, 0, 0, absl::MakeSpan(margin)).ok()) Fail("PredictMargin refused a built model");
  if (!e.Transform(margin, n, absl::MakeSpan(out)).ok()) Fail("Transform refused a built model");
  if (!e.Contributions(X, n, 0, 0, absl::MakeSpan(phi)).ok()) Fail("Contributions refused a built model");
  for (double v : margin)
    if (std::isnan(v)) Fail("NaN margin from a validated model");
}

void Exercise(absl::StatusOr<twinscore::TreeModel> model) {
  if (!model.ok()) {
    if (model.status().message().empty()) Fail("refusal without a message");
    return;
  }
  auto ensemble = twinscore::TreeEnsemble::Build(*std::move(model));
  if (!ensemble.ok()) {
    if (ensemble.status().message().empty()) Fail("refusal without a message");
    return;
  }
  Score(*ensemble);
}

// The promises of an accepted model file, checked again from the outside.
void ExerciseModelFile(absl::string_view bytes) {
  auto f = twinscore::ParseModelFile(bytes);
  if (!f.ok()) {
    if (f.status().message().empty()) Fail("model file refused without a message");
    return;
  }
  int64_t end = twinscore::kModelHeaderSize + static_cast<int64_t>(f->manifest_text.size());
  for (const auto& a : f->arrays) {
    int64_t items = 1;
    for (int64_t d : a.shape) items *= d;
    if (a.offset < end || a.length < 0 || a.offset + a.length > static_cast<int64_t>(bytes.size()))
      Fail("an accepted array lies outside the file or overlaps");
    if (items * twinscore::ModelDtypeSize(a.dtype) != a.length) Fail("an accepted array's length disagrees");
    if (twinscore::Crc32(bytes.substr(a.offset, a.length)) != a.crc32) Fail("an accepted array's checksum differs");
    end = a.offset + a.length;
  }
  if (f->class_name.empty() && f->manifest.Find("class") == nullptr) Fail("accepted without a class");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Exercise(twinscore::LoadXGBoost(bytes));
  Exercise(twinscore::LoadLightGBMText(bytes));
  ExerciseModelFile(bytes);
  return 0;
}
