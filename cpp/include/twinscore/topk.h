// The k best candidates of one query, ranked by score (larger first) and, on
// equal scores, by the lower row: the order never depends on the order in
// which candidates arrive, so results do not depend on the thread count.
//
// Kept apart from the kernels that compute the scores: a kernel fills a tile
// of scores, OfferTile() feeds it to one TopK per query row.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace twinscore {

class TopK {
 public:
  struct Entry {
    float score;
    int64_t row;
  };

  void Reset(int k) {
    k_ = k;
    heap_.clear();
    heap_.reserve(static_cast<size_t>(k));
  }

  // Candidates scoring below this cannot enter; those scoring exactly this go
  // through Offer() for the row tie-break.
  float threshold() const {
    return static_cast<int>(heap_.size()) < k_ ? -std::numeric_limits<float>::infinity() : heap_.front().score;
  }

  void Offer(float score, int64_t row) {
    const Entry e{score, row};
    if (static_cast<int>(heap_.size()) < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), Better);
    } else if (Better(e, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = e;
      std::push_heap(heap_.begin(), heap_.end(), Better);
    }
  }

  // The entries best first; the heap is consumed.
  const std::vector<Entry>& Sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), Better);
    return heap_;
  }

  int size() const { return static_cast<int>(heap_.size()); }

 private:
  // a ranks before b. As a heap comparator it keeps the worst entry in front.
  static bool Better(const Entry& a, const Entry& b) {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  }

  int k_ = 0;
  std::vector<Entry> heap_;
};

// Offers a rows x cols tile of scores (row-major, leading dimension ld) to
// heaps[0..rows); column j is candidate row col0 + j. Eight scores at a time
// are tested against the row's threshold; only those that pass reach the heap.
inline void OfferTile(const float* scores, int64_t rows, int64_t cols, int64_t ld, int64_t col0, TopK* heaps) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* s = scores + i * ld;
    TopK& h = heaps[i];
    float thr = h.threshold();
    int64_t j = 0;
#ifdef __AVX2__
    __m256 vthr = _mm256_set1_ps(thr);
    for (; j + 8 <= cols; j += 8) {
      int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), vthr, _CMP_GE_OQ));
      if (mask == 0) continue;
      while (mask) {
        const int b = __builtin_ctz(static_cast<unsigned>(mask));
        mask &= mask - 1;
        if (s[j + b] >= thr) {
          h.Offer(s[j + b], col0 + j + b);
          thr = h.threshold();
        }
      }
      vthr = _mm256_set1_ps(thr);
    }
#endif
    for (; j < cols; ++j) {
      if (s[j] >= thr) {
        h.Offer(s[j], col0 + j);
        thr = h.threshold();
      }
    }
  }
}

}  // namespace twinscore
