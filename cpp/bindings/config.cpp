// Bindings of the build and run-time configuration: the SIMD level the
// kernels run at and why (twinscore.show_config()).
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "registry.h"
#include "twinscore/simd.h"
#include "twinscore/threads.h"

namespace twinscore::bindings {
namespace {

py::dict SimdInfo() {
  py::dict d;
  d["level"] = SimdLevelName(ActiveSimdLevel());
  d["cpu_level"] = SimdLevelName(CpuSimdLevel());
  d["cpu_has_baseline"] = CpuHasBaseline();
  d["requested"] = RequestedSimdLevel();
  d["env_error"] = SimdEnvironmentError();
  d["cpu_features"] = CpuFeatures();
  std::vector<std::string> levels;
  for (SimdLevel l : SupportedSimdLevels()) levels.emplace_back(SimdLevelName(l));
  d["supported_levels"] = levels;
#ifdef TWINSCORE_NATIVE_BUILD
  d["native_build"] = true;  // the non-kernel code was compiled with -march=native
#else
  d["native_build"] = false;
#endif
  return d;
}

TWINSCORE_BINDINGS(config) {
  m.def("simd_info", &SimdInfo);
  // Tests only (tests/python/test_simd.py): every level in one process.
  m.def("_override_simd_level_for_testing", [](int level) {
    if (!OverrideSimdLevelForTesting(level)) {
      throw py::value_error("level must be 0 or one this CPU runs (2 .. " +
                            std::to_string(static_cast<int>(CpuSimdLevel())) + "), got " + std::to_string(level));
    }
  });
}

}  // namespace
}  // namespace twinscore::bindings
