#include "twinscore/columns.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

NumericColumn Col(const std::vector<double>& v, int64_t stride = 1) {
  return NumericColumn{"x", v.data(), static_cast<int64_t>(v.size()) / stride, stride, false};
}

TEST(SummarizeNumeric, MatchesTwoPassReferenceWithMissing) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(3.0, 2.0);
  std::vector<double> v(200001);
  for (auto& x : v) x = normal(rng);
  for (size_t i = 0; i < v.size(); i += 7) v[i] = NAN;
  double sum = 0, n = 0, lo = INFINITY, hi = -INFINITY;
  for (double x : v)
    if (!std::isnan(x)) sum += x, n += 1, lo = std::min(lo, x), hi = std::max(hi, x);
  const double mean = sum / n;
  double m2 = 0;
  for (double x : v)
    if (!std::isnan(x)) m2 += (x - mean) * (x - mean);
  auto s = SummarizeNumeric(Col(v));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->count, static_cast<int64_t>(n));
  EXPECT_EQ(s->missing, static_cast<int64_t>(v.size()) - static_cast<int64_t>(n));
  EXPECT_NEAR(s->mean, mean, 1e-12);
  EXPECT_NEAR(s->std, std::sqrt(m2 / n), 1e-12);
  EXPECT_EQ(s->min, lo);
  EXPECT_EQ(s->max, hi);
}

TEST(SummarizeNumeric, IdenticalForAnyThreadCount) {
  std::vector<double> v(300000);
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  for (auto& x : v) x = u(rng);
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto one = *SummarizeNumeric(Col(v));
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto two = *SummarizeNumeric(Col(v));
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(one.mean, two.mean);  // bit-identical, not just close
  EXPECT_EQ(one.std, two.std);
}

TEST(SummarizeNumeric, StridedFloat32ColumnOfAMatrix) {
  std::vector<float> m = {1, 10, 2, 20, 3, 30};  // 3 x 2
  NumericColumn c{"second", m.data() + 1, 3, 2, true};
  auto s = SummarizeNumeric(c);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->mean, 20.0);
  EXPECT_DOUBLE_EQ(s->max, 30.0);
}

TEST(SummarizeNumeric, InfinityNamesColumnAndRow) {
  std::vector<double> v = {1, 2, NAN, INFINITY, 5, -INFINITY};
  auto s = SummarizeNumeric(Col(v));
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("'x'"), std::string::npos);
  EXPECT_NE(s.status().message().find("row 3"), std::string::npos);
}

TEST(SummarizeNumeric, HugeFiniteValuesGiveFiniteMoments) {
  // Their squares (and here their sum) overflow a double: the moments are taken
  // in units of a power of two instead, never infinite or NaN.
  std::vector<double> v = {1e300, 2, 1, 0};
  auto s = SummarizeNumeric(Col(v));
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->mean, 2.5e299);
  const double d0 = 7.5e299, d = 2.5e299;  // deviations from the mean, in units of 1e300 below
  EXPECT_NEAR(s->std / 1e300, std::sqrt((d0 / 1e300 * d0 / 1e300 + 3 * (d / 1e300) * (d / 1e300)) / 4), 1e-12);
  EXPECT_EQ(s->max, 1e300);
  std::vector<double> edges = {1.7e308, -1.7e308, 1.7e308, -1.7e308, NAN};
  auto e = SummarizeNumeric(Col(edges));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->count, 4);
  EXPECT_DOUBLE_EQ(e->mean, 0.0);
  EXPECT_NEAR(e->std / 1.7e308, 1.0, 1e-12);
}

TEST(SummarizeNumeric, AllMissingGivesNaNStatistics) {
  std::vector<double> v = {NAN, NAN};
  auto s = SummarizeNumeric(Col(v));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 0);
  EXPECT_EQ(s->missing, 2);
  EXPECT_TRUE(std::isnan(s->mean));
}

TEST(SummarizeTimestamps, CountsMissing) {
  std::vector<int64_t> t = {5, kMissingTimestamp, -3, 9};
  auto s = SummarizeTimestamps(t);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.missing, 1);
  EXPECT_EQ(s.min, -3);
  EXPECT_EQ(s.max, 9);
}

}  // namespace
}  // namespace twinscore
