#include "kernel_level.h"
#include "twinscore/logistic_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TWINSCORE_LOGISTIC_AVX2 1
#endif

namespace twinscore::kernels::TWINSCORE_SIMD_NS {

void ChunkScoresScalar(const float* X, int64_t m, int64_t d, const double* beta, double* z) {
  for (int64_t i = 0; i < m; ++i) {
    double a = 0.0;
    for (int64_t j = 0; j < d; ++j) a += static_cast<double>(X[i * d + j]) * beta[j];
    z[i] = a;
  }
}

void ChunkGradientScalar(const float* X, int64_t m, int64_t d, const double* r, double* grad) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < d; ++j) grad[j] += r[i] * static_cast<double>(X[i * d + j]);
  }
}

int64_t AddNumericScalar(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                         double w, double* z) {
  for (int64_t i = 0; i < m; ++i) {
    const double v = x[i];
    double u;
    if (std::isnan(v)) {
      u = fill;
    } else {
      if (std::isinf(v)) return i;
      u = static_cast<float>((std::min(std::max(v, lo), hi) - center) / scale);
    }
    z[i] += w * u;
  }
  return m;
}

// Branch-free: every code indexes the table (clamped), and one flag records
// whether any was out of range, so the loop has no data-dependent branch.
int64_t AddCodes(const int32_t* codes, int64_t m, const double* table, int32_t n_categories, double* z) {
  const uint32_t last = static_cast<uint32_t>(n_categories) + 1;
  uint32_t bad = 0;
  for (int64_t i = 0; i < m; ++i) {
    const uint32_t k = static_cast<uint32_t>(codes[i]) + 1;  // -1 -> 0
    bad |= static_cast<uint32_t>(k > last);
    z[i] += table[std::min(k, last)];
  }
  if (!bad) return m;
  for (int64_t i = 0; i < m; ++i) {
    if (static_cast<uint32_t>(codes[i]) + 1 > last) return i;
  }
  return m;
}

#ifdef TWINSCORE_LOGISTIC_AVX2

namespace {

inline double HorizontalSum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

inline __m256d Load4(const float* x) { return _mm256_cvtps_pd(_mm_loadu_ps(x)); }

}  // namespace

// Four rows at a time: four independent FMA chains share each beta load.
void ChunkScoresAvx2(const float* X, int64_t m, int64_t d, const double* beta, double* z) {
  const int64_t d4 = d & ~int64_t{3};
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    const float* x = X + i * d;
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < d4; j += 4) {
      const __m256d b = _mm256_loadu_pd(beta + j);
      a0 = _mm256_fmadd_pd(Load4(x + j), b, a0);
      a1 = _mm256_fmadd_pd(Load4(x + d + j), b, a1);
      a2 = _mm256_fmadd_pd(Load4(x + 2 * d + j), b, a2);
      a3 = _mm256_fmadd_pd(Load4(x + 3 * d + j), b, a3);
    }
    double s[4] = {HorizontalSum(a0), HorizontalSum(a1), HorizontalSum(a2), HorizontalSum(a3)};
    for (int64_t j = d4; j < d; ++j) {
      for (int r = 0; r < 4; ++r) s[r] += static_cast<double>(x[r * d + j]) * beta[j];
    }
    for (int r = 0; r < 4; ++r) z[i + r] = s[r];
  }
  ChunkScoresScalar(X + i * d, m - i, d, beta, z + i);
}

// Four rows per pass over grad: a quarter of its loads and stores.
void ChunkGradientAvx2(const float* X, int64_t m, int64_t d, const double* r, double* grad) {
  const int64_t d4 = d & ~int64_t{3};
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    const float* x = X + i * d;
    const __m256d r0 = _mm256_set1_pd(r[i]), r1 = _mm256_set1_pd(r[i + 1]);
    const __m256d r2 = _mm256_set1_pd(r[i + 2]), r3 = _mm256_set1_pd(r[i + 3]);
    for (int64_t j = 0; j < d4; j += 4) {
      __m256d t = _mm256_mul_pd(r0, Load4(x + j));
      t = _mm256_fmadd_pd(r1, Load4(x + d + j), t);
      t = _mm256_fmadd_pd(r2, Load4(x + 2 * d + j), t);
      t = _mm256_fmadd_pd(r3, Load4(x + 3 * d + j), t);
      _mm256_storeu_pd(grad + j, _mm256_add_pd(_mm256_loadu_pd(grad + j), t));
    }
    for (int64_t j = d4; j < d; ++j) {
      for (int k = 0; k < 4; ++k) grad[j] += r[i + k] * static_cast<double>(x[k * d + j]);
    }
  }
  ChunkGradientScalar(X + i * d, m - i, d, r + i, grad);
}

// Four values per step in float64: the same operations as the scalar loop
// (clip, subtract, divide, round to float32), NaN replaced by the fill with
// a blend, and +-inf detected with a mask (the scalar loop then finds it).
int64_t AddNumericAvx2(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                       double w, double* z) {
  const __m256d vc = _mm256_set1_pd(center), vs = _mm256_set1_pd(scale), vlo = _mm256_set1_pd(lo);
  const __m256d vhi = _mm256_set1_pd(hi), vf = _mm256_set1_pd(fill), vw = _mm256_set1_pd(w);
  const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
  const __m256d sign = _mm256_set1_pd(-0.0);
  // v -> z + w * u for four values (u rounded to float32 as the encoder).
  auto add4 = [&](__m256d v, double* zi) {
    const __m256d nan = _mm256_cmp_pd(v, v, _CMP_UNORD_Q);
    // max(lo, v) and min(hi, .) pick v when v is inside, as std::max/min.
    const __m256d clipped = _mm256_min_pd(vhi, _mm256_max_pd(vlo, v));
    __m256d u = _mm256_div_pd(_mm256_sub_pd(clipped, vc), vs);
    u = _mm256_cvtps_pd(_mm256_cvtpd_ps(u));
    u = _mm256_blendv_pd(u, vf, nan);
    _mm256_storeu_pd(zi, _mm256_add_pd(_mm256_loadu_pd(zi), _mm256_mul_pd(vw, u)));
  };
  const __m256 sign8 = _mm256_set1_ps(-0.0f), inf8 = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  int64_t i = 0;
  // Eight values per step: one 32-byte load and one infinity test (in
  // float32) for two independent float64 halves.
  for (; i + 8 <= m; i += 8) {
    const __m256 v8 = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign8, v8), inf8, _CMP_EQ_OQ))) break;
    add4(_mm256_cvtps_pd(_mm256_castps256_ps128(v8)), z + i);
    add4(_mm256_cvtps_pd(_mm256_extractf128_ps(v8, 1)), z + i + 4);
  }
  for (; i + 4 <= m; i += 4) {
    const __m256d v = Load4(x + i);
    if (_mm256_movemask_pd(_mm256_cmp_pd(_mm256_andnot_pd(sign, v), inf, _CMP_EQ_OQ))) break;
    add4(v, z + i);
  }
  return i + AddNumericScalar(x + i, m - i, center, scale, lo, hi, fill, w, z + i);
}

// Non-temporal stores from the first 32-byte boundary of dst: the scores go
// to memory without first reading the output's lines into the cache (the
// read-for-ownership a plain store costs), and without evicting the inputs.
void StreamStore(const double* src, int64_t m, double* dst) {
  int64_t i = 0;
  for (; i < m && (reinterpret_cast<uintptr_t>(dst + i) & 31) != 0; ++i) dst[i] = src[i];
  for (; i + 4 <= m; i += 4) _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
  for (; i < m; ++i) dst[i] = src[i];
  _mm_sfence();  // order the streamed stores before any later (ordinary) one
}

#else  // no AVX2: the scalar kernels

void StreamStore(const double* src, int64_t m, double* dst) { std::copy(src, src + m, dst); }

int64_t AddNumericAvx2(const float* x, int64_t m, double center, double scale, double lo, double hi, double fill,
                       double w, double* z) {
  return AddNumericScalar(x, m, center, scale, lo, hi, fill, w, z);
}

void ChunkScoresAvx2(const float* X, int64_t m, int64_t d, const double* beta, double* z) {
  ChunkScoresScalar(X, m, d, beta, z);
}

void ChunkGradientAvx2(const float* X, int64_t m, int64_t d, const double* r, double* grad) {
  ChunkGradientScalar(X, m, d, r, grad);
}

#endif

const LogisticKernels kLogistic = {ChunkScoresAvx2, ChunkGradientAvx2, AddNumericAvx2, AddCodes, StreamStore,
#ifdef TWINSCORE_LOGISTIC_AVX2
                                   true};
#else
                                   false};
#endif

}  // namespace twinscore::kernels::TWINSCORE_SIMD_NS
