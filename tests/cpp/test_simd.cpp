#include "twinscore/simd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace twinscore {
namespace {

bool Has(const std::string& feature) {
  const auto f = CpuFeatures();
  return std::find(f.begin(), f.end(), feature) != f.end();
}

#if defined(__x86_64__)
// Our CPUID reading against the compiler runtime's (libgcc / compiler-rt,
// which also checks the OS's XSAVE state for AVX and AVX-512).
TEST(Simd, FeaturesAgreeWithTheCompilerRuntime) {
  __builtin_cpu_init();
  EXPECT_EQ(Has("sse4.2"), __builtin_cpu_supports("sse4.2") != 0);
  EXPECT_EQ(Has("popcnt"), __builtin_cpu_supports("popcnt") != 0);
  EXPECT_EQ(Has("avx"), __builtin_cpu_supports("avx") != 0);
  EXPECT_EQ(Has("avx2"), __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(Has("fma"), __builtin_cpu_supports("fma") != 0);
  EXPECT_EQ(Has("bmi2"), __builtin_cpu_supports("bmi2") != 0);
  EXPECT_EQ(Has("avx512f"), __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(Has("avx512bw"), __builtin_cpu_supports("avx512bw") != 0);
  EXPECT_EQ(Has("avx512vl"), __builtin_cpu_supports("avx512vl") != 0);
  EXPECT_EQ(Has("avx512vpopcntdq"), __builtin_cpu_supports("avx512vpopcntdq") != 0);
}

TEST(Simd, LevelFollowsTheFeatures) {
  EXPECT_TRUE(CpuHasBaseline());
  const bool v3 = Has("avx2") && Has("fma") && Has("bmi2") && Has("movbe") && Has("lzcnt");
  const bool v4 = v3 && Has("avx512f") && Has("avx512bw") && Has("avx512dq") && Has("avx512vl") && Has("avx512cd");
  EXPECT_EQ(CpuSimdLevel(), v4 ? SimdLevel::kV4 : v3 ? SimdLevel::kV3 : SimdLevel::kV2);
}
#endif

// The level in use never exceeds the CPU's, and follows TWINSCORE_SIMD when
// the test runs with it set (the emulated-CPU runs set it).
TEST(Simd, ActiveLevelIsTheCpusOrTheRequestedLower) {
  const int cpu = static_cast<int>(CpuSimdLevel());
  const int active = static_cast<int>(ActiveSimdLevel());
  EXPECT_LE(active, cpu);
  const char* env = std::getenv("TWINSCORE_SIMD");
  if (env == nullptr || *env == '\0') {
    EXPECT_EQ(active, cpu);
    EXPECT_EQ(RequestedSimdLevel(), "");
  } else if (SimdEnvironmentError().empty()) {
    EXPECT_EQ(active, std::min(cpu, std::string(env)[1] - '0'));
  } else {
    EXPECT_EQ(active, cpu);
  }
  const auto levels = SupportedSimdLevels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), SimdLevel::kV2);
  EXPECT_EQ(static_cast<int>(levels.back()), cpu);
  EXPECT_STREQ(SimdLevelName(SimdLevel::kV3), "v3");
}

}  // namespace
}  // namespace twinscore
