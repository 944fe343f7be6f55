#include "twinscore/simd.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TWINSCORE_X86 1
#endif

namespace twinscore {

namespace {

struct Feature {
  const char* name;
  bool present;
};

// The features of the x86-64 micro-architecture levels (the psABI's list),
// plus AVX-512 VPOPCNTDQ, read with CPUID; AVX and AVX-512 count only when
// XGETBV says the OS saves their registers.
struct CpuInfo {
  std::vector<Feature> features;
  bool v2 = false, v3 = false, v4 = false;
};

#ifdef TWINSCORE_X86
bool Bit(unsigned r, int b) { return (r >> b) & 1u; }

uint64_t Xgetbv() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuInfo Detect() {
  CpuInfo c;
#ifdef TWINSCORE_X86
  unsigned a = 0, b = 0, cx = 0, d = 0;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  unsigned c1 = 0, d1 = 0, b7 = 0, c7 = 0, ce = 0;
  if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &cx, &d)) {
    c1 = cx;
    d1 = d;
  }
  if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
    b7 = b;
    c7 = cx;
  }
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000001u && __get_cpuid(0x80000001u, &a, &b, &cx, &d)) ce = cx;
  const bool osxsave = Bit(c1, 27);
  const uint64_t xcr0 = osxsave ? Xgetbv() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  c.features = {
      {"sse2", Bit(d1, 26)},         {"sse3", Bit(c1, 0)},           {"ssse3", Bit(c1, 9)},
      {"sse4.1", Bit(c1, 19)},       {"sse4.2", Bit(c1, 20)},        {"popcnt", Bit(c1, 23)},
      {"cx16", Bit(c1, 13)},         {"lahf", Bit(ce, 0)},           {"avx", Bit(c1, 28) && os_ymm},
      {"avx2", Bit(b7, 5) && os_ymm}, {"fma", Bit(c1, 12) && os_ymm}, {"f16c", Bit(c1, 29) && os_ymm},
      {"bmi1", Bit(b7, 3)},          {"bmi2", Bit(b7, 8)},           {"lzcnt", Bit(ce, 5)},
      {"movbe", Bit(c1, 22)},        {"xsave", Bit(c1, 26)},         {"avx512f", Bit(b7, 16) && os_zmm},
      {"avx512dq", Bit(b7, 17) && os_zmm}, {"avx512cd", Bit(b7, 28) && os_zmm},
      {"avx512bw", Bit(b7, 30) && os_zmm}, {"avx512vl", Bit(b7, 31) && os_zmm},
      {"avx512vpopcntdq", Bit(c7, 14) && os_zmm},
  };
  auto has = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      bool found = false;
      for (const Feature& f : c.features) found |= std::string(f.name) == n && f.present;
      if (!found) return false;
    }
    return true;
  };
  c.v2 = has({"sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cx16", "lahf"});
  c.v3 = c.v2 && has({"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "xsave"});
  c.v4 = c.v3 && has({"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"});
#endif
  return c;
}

const CpuInfo& Info() {
  static const CpuInfo info = Detect();
  return info;
}

struct Choice {
  SimdLevel level;
  std::string requested, error;
};

Choice Choose() {
  Choice ch{CpuSimdLevel(), {}, {}};
  const char* env = std::getenv("TWINSCORE_SIMD");
  if (env == nullptr || *env == '\0') return ch;
  ch.requested = env;
  SimdLevel want;
  if (ch.requested == "v2") {
    want = SimdLevel::kV2;
  } else if (ch.requested == "v3") {
    want = SimdLevel::kV3;
  } else if (ch.requested == "v4") {
    want = SimdLevel::kV4;
  } else {
    ch.error = "TWINSCORE_SIMD must be v2, v3 or v4 (or unset for the CPU's best), got '" + ch.requested + "'";
    return ch;
  }
  // Never above what the CPU runs: the kernels would stop on an illegal instruction.
  if (static_cast<int>(want) < static_cast<int>(ch.level)) ch.level = want;
  return ch;
}

const Choice& Chosen() {
  static const Choice choice = Choose();
  return choice;
}

// The level in use, set at the first ActiveSimdLevel() (0 before): one
// relaxed load per engine call that fetches its kernels.
std::atomic<int> g_level{0};

}  // namespace

SimdLevel CpuSimdLevel() {
  const CpuInfo& c = Info();
  return c.v4 ? SimdLevel::kV4 : c.v3 ? SimdLevel::kV3 : SimdLevel::kV2;
}

bool CpuHasBaseline() {
#ifdef TWINSCORE_X86
  return Info().v2;
#else
  return true;
#endif
}

SimdLevel ActiveSimdLevel() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level == 0) {
    int unset = 0;
    g_level.compare_exchange_strong(unset, static_cast<int>(Chosen().level));
    level = g_level.load(std::memory_order_relaxed);
  }
  return static_cast<SimdLevel>(level);
}

bool OverrideSimdLevelForTesting(int level) {
  if (level != 0 && (level < 2 || level > static_cast<int>(CpuSimdLevel()))) return false;
  g_level.store(level != 0 ? level : static_cast<int>(Chosen().level), std::memory_order_relaxed);
  return true;
}

std::string RequestedSimdLevel() { return Chosen().requested; }

std::string SimdEnvironmentError() { return Chosen().error; }

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kV4:
      return "v4";
    case SimdLevel::kV3:
      return "v3";
    default:
      return "v2";
  }
}

std::vector<std::string> CpuFeatures() {
  std::vector<std::string> out;
  for (const Feature& f : Info().features) {
    if (f.present) out.emplace_back(f.name);
  }
  return out;
}

std::vector<SimdLevel> SupportedSimdLevels() {
  std::vector<SimdLevel> out;
  for (int l = 2; l <= static_cast<int>(CpuSimdLevel()); ++l) out.push_back(static_cast<SimdLevel>(l));
  return out;
}

}  // namespace twinscore
