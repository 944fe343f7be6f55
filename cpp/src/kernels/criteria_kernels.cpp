#include "kernel_level.h"
#include "../criteria_kernels.h"

#include <cstddef>
#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace twinscore::kernels::TWINSCORE_SIMD_NS {

#if defined(__AVX2__)
namespace {

// The bins of 8 rows: compare masks (all ones, -1, where x is above an edge)
// subtracted from zero count the edges below; NaN compares false everywhere
// and is given `missing`.
inline __m256i Bins8(__m256 v, const float* inner, int32_t n_inner, __m256i missing) {
  __m256i acc = _mm256_setzero_si256();
  for (int32_t q = 0; q < n_inner; ++q) {
    acc = _mm256_sub_epi32(acc, _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_broadcast_ss(inner + q), _CMP_GT_OQ)));
  }
  const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(acc), _mm256_castsi256_ps(missing), nan));
}

size_t CountFloat32(const float* x, const float* inner, int32_t n_inner, int32_t missing, const uint8_t* target,
                    size_t b, size_t e, size_t width, uint32_t* count) {
  const __m256i missing_bin = _mm256_set1_epi32(missing);
  alignas(32) int32_t bin[8];
  size_t i = b;
  for (; i + 8 <= e; i += 8) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(bin), Bins8(_mm256_loadu_ps(x + i), inner, n_inner, missing_bin));
    for (int l = 0; l < 8; ++l) ++count[((l & 3) * 2 + (target[i + l] != 0)) * width + bin[l]];
  }
  return i;
}

size_t AssignFloat32(const float* x, const float* inner, int32_t n_inner, int32_t missing, size_t b, size_t e,
                     int32_t* out) {
  const __m256i missing_bin = _mm256_set1_epi32(missing);
  size_t i = b;
  for (; i + 8 <= e; i += 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), Bins8(_mm256_loadu_ps(x + i), inner, n_inner, missing_bin));
  }
  return i;
}

}  // namespace

const CriteriaKernels kCriteria = {CountFloat32, AssignFloat32};
#else
const CriteriaKernels kCriteria = {nullptr, nullptr};
#endif

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
