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

#if defined(__AVX2__) || defined(__SSE2__)
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
    if (static_cast<int>(heap_.size()) < k_) return -std::numeric_limits<float>::infinity();
    return k_ <= kSortedMax ? heap_.back().score : heap_.front().score;
  }

  void Offer(float score, int64_t row) {
    const Entry e{score, row};
    if (k_ <= kSortedMax) {
      OfferSorted(e);
    } else if (static_cast<int>(heap_.size()) < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), BetterFn{});
    } else if (Better(e, heap_.front())) {
      ReplaceWorst(e);
    }
  }

  // The entries best first; the heap is consumed.
  const std::vector<Entry>& Sorted() {
    if (k_ > kSortedMax) std::sort_heap(heap_.begin(), heap_.end(), BetterFn{});
    return heap_;
  }

  int size() const { return static_cast<int>(heap_.size()); }

 private:
  // a ranks before b. As a heap comparator it keeps the worst entry in front.
  static bool Better(const Entry& a, const Entry& b) {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  }

  // The same order as a function object, so the heap algorithms inline it
  // (a function pointer is called through at every comparison).
  struct BetterFn {
    bool operator()(const Entry& a, const Entry& b) const { return Better(a, b); }
  };

  // Up to this k the entries are kept sorted (best first) and a candidate is
  // inserted by shifting the worse ones: for small k a short, predictable
  // scan beats a heap's sift with an unpredictable branch per level. Larger k
  // use the heap. Both hold the k best in the same total order, so Sorted()
  // gives the same answer either way.
  static constexpr int kSortedMax = 16;

  void OfferSorted(const Entry& e) {
    int n = static_cast<int>(heap_.size());
    if (n == k_) {
      if (!Better(e, heap_[n - 1])) return;
      --n;  // the worst leaves
    } else {
      heap_.push_back(e);
    }
    while (n > 0 && Better(e, heap_[n - 1])) {
      heap_[n] = heap_[n - 1];
      --n;
    }
    heap_[n] = e;
  }

  // e replaces the worst entry (the front), sifted down to its place: half
  // the work of pop_heap + push_heap. The heap holds the same set either way,
  // and Sorted() orders it totally, so the output does not depend on it.
  void ReplaceWorst(const Entry& e) {
    const size_t n = heap_.size();
    size_t i = 0;
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && Better(heap_[c], heap_[c + 1])) ++c;  // the worse child
      if (!Better(e, heap_[c])) break;
      heap_[i] = heap_[c];
      i = c;
    }
    heap_[i] = e;
  }

  int k_ = 0;
  std::vector<Entry> heap_;  // sorted (k <= kSortedMax) or a heap, worst in front
};

// Offers a rows x cols tile of scores (row-major, leading dimension ld) to
// heaps[0..rows); column j is candidate row col0 + j. Eight scores at a time
// (four without AVX2) are tested against the row's threshold; only those that
// pass reach the heap. Called from baseline code only (not a kernel source).
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
#elif defined(__SSE2__)
    // The baseline (x86-64-v2): four scores per test, the same filter.
    __m128 vthr = _mm_set1_ps(thr);
    for (; j + 4 <= cols; j += 4) {
      int mask = _mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(s + j), vthr));
      if (mask == 0) continue;
      while (mask) {
        const int b = __builtin_ctz(static_cast<unsigned>(mask));
        mask &= mask - 1;
        if (s[j + b] >= thr) {
          h.Offer(s[j + b], col0 + j + b);
          thr = h.threshold();
        }
      }
      vthr = _mm_set1_ps(thr);
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
