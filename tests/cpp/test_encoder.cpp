#include "twinscore/encoder.h"

#include <gtest/gtest.h>

#include <cmath>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

TEST(EncodeDense, StandardisesClipsImputesAndOneHots) {
  std::vector<double> age = {20, NAN, 60, 100};
  std::vector<int32_t> region = {0, 2, kMissingCode, 3};  // 3 == other
  DenseEncoderSpec spec;
  spec.numeric.push_back({"age", age.data(), 4, 1, false});
  spec.numeric_encoding.push_back({40.0, 20.0, -INFINITY, 80.0, 0.0});
  spec.categorical.push_back({"region", region, 3});
  ASSERT_EQ(spec.Width(), 4);
  std::vector<float> out(16, -7.0f);
  ASSERT_TRUE(EncodeDense(spec, 4, absl::MakeSpan(out)).ok());
  const std::vector<float> expected = {-1, 1, 0, 0,  //
                                       0,  0, 0, 1,  //
                                       1,  0, 0, 0,  //
                                       2,  0, 0, 0};
  EXPECT_EQ(out, expected);
}

TEST(EncodeDense, RefusesInfinityAndBadCodes) {
  std::vector<double> x = {1, INFINITY};
  DenseEncoderSpec spec;
  spec.numeric.push_back({"spend", x.data(), 2, 1, false});
  spec.numeric_encoding.push_back({});
  std::vector<float> out(2);
  auto s = EncodeDense(spec, 2, absl::MakeSpan(out));
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'spend'"), std::string::npos);

  std::vector<int32_t> codes = {0, 9};
  DenseEncoderSpec cat;
  cat.categorical.push_back({"sex", codes, 2});
  std::vector<float> out2(4);
  EXPECT_EQ(EncodeDense(cat, 2, absl::MakeSpan(out2)).code(), absl::StatusCode::kInvalidArgument);

  DenseEncoderSpec zero_scale;
  zero_scale.numeric.push_back({"spend", x.data(), 1, 1, false});
  zero_scale.numeric_encoding.push_back({0.0, 0.0});
  EXPECT_EQ(EncodeDense(zero_scale, 1, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EncodeDense, IdenticalForAnyThreadCount) {
  const int64_t n = 50000;
  std::vector<float> x(n);
  std::vector<int32_t> c(n);
  for (int64_t i = 0; i < n; ++i) x[i] = std::sin(0.001 * i) * 100, c[i] = i % 5;
  DenseEncoderSpec spec;
  spec.numeric.push_back({"x", x.data(), n, 1, true});
  spec.numeric_encoding.push_back({3.0, 7.0});
  spec.categorical.push_back({"c", c, 5});
  std::vector<float> a(n * 6), b(n * 6);
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(EncodeDense(spec, n, absl::MakeSpan(a)).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(EncodeDense(spec, n, absl::MakeSpan(b)).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace twinscore

namespace twinscore {
namespace {

TEST(EncodeDense, SetsBecomeMultiHotWithoutTheOtherBit) {
  // 3 categories + other bit; rows {0, 2}, {other}, {}.
  std::vector<uint64_t> bits = {0b101, 0b1000, 0};
  DenseEncoderSpec spec;
  spec.sets.push_back({"cats", bits, 1, 3});
  std::vector<float> out(9, -1.0f);
  ASSERT_TRUE(EncodeDense(spec, 3, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, (std::vector<float>{1, 0, 1, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace twinscore
