/* Whether the CPU (or its emulator) runs AVX2 gathers right, in a loop of
 * twelve gathers in flight like the tree walk's. Exits 0 when the sum is
 * right. Debian 12's qemu-user 7.2 (whose AVX2 emulation is new) gets 0
 * here with GCC 12 -O2 (vgatherdps %ymm3,(%r8,%ymm4,4),%ymm0 in the loop),
 * and the tree walk crashes on it; scripts/test-wheel.sh runs this probe
 * before trusting the emulated AVX2 CPU with the kernels that gather. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static float GatherSum(const float* t) {
  __m256i j[12];
  __m256 a[12];
  for (int n = 0; n < 12; ++n)
    j[n] = _mm256_add_epi32(_mm256_setr_epi32(0, 5, 9, 13, 17, 31, 40, 63), _mm256_set1_epi32(n * 64));
  for (int n = 0; n < 12; ++n) a[n] = _mm256_setzero_ps();
  for (int it = 0; it < 3; ++it)
    for (int n = 0; n < 12; ++n) {
      a[n] = _mm256_add_ps(a[n], _mm256_i32gather_ps(t, j[n], 4));
      j[n] = _mm256_add_epi32(j[n], _mm256_set1_epi32(1));
    }
  float o[8], s = 0;
  for (int n = 0; n < 12; ++n) {
    _mm256_storeu_ps(o, a[n]);
    for (int k = 0; k < 8; ++k) s += o[k];
  }
  return s;
}

int main(void) {
  float* t = aligned_alloc(32, 4096 * sizeof(float));
  if (!t) return 2;
  for (int i = 0; i < 4096; ++i) t[i] = (float)i;
  const float s = GatherSum(t);
  printf("AVX2 gathers: sum %g (expected 108072)\n", s);
  free(t);
  return s == 108072.0f ? 0 : 1;
}
