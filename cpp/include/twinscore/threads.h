// One TBB arena for all engines, sized by twinscore.set_num_threads().
//
// Work is split into fixed-size blocks whose boundaries do not depend on the
// thread count, and every reduction combines per-block partials in block order,
// so results are bit-identical for any number of threads.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include "twinscore/common.h"

namespace twinscore {

// CPUs this process may run on (its affinity mask), at least 1.
int DefaultNumThreads();

// Sets the size of the arena; n <= 0 restores the default. Calls in flight
// keep the arena they started with.
absl::Status SetNumThreads(int n);

// Current arena size.
int NumThreads();

// The arena all engines run in (shared so that a resize never pulls it from
// under a running call).
std::shared_ptr<tbb::task_arena> CurrentArena();

// Number of blocks of `block` items covering n items.
inline size_t NumBlocks(size_t n, size_t block) { return (n + block - 1) / block; }

// Calls fn(block_index, begin, end) for each block of [0, n), in parallel in
// the arena. Block boundaries depend only on n and `block`.
template <class Fn>
void ParallelBlocks(size_t n, size_t block, Fn&& fn) {
  const size_t nb = NumBlocks(n, block);
  if (nb == 0) return;
  auto body = [&](const tbb::blocked_range<size_t>& r) {
    for (size_t b = r.begin(); b != r.end(); ++b) {
      const size_t begin = b * block;
      const size_t end = begin + block < n ? begin + block : n;
      fn(b, begin, end);
    }
  };
  if (nb == 1 || NumThreads() == 1) {
    body(tbb::blocked_range<size_t>(0, nb));
    return;
  }
  CurrentArena()->execute(
      [&] { tbb::parallel_for(tbb::blocked_range<size_t>(0, nb), body, tbb::simple_partitioner()); });
}

// As ParallelBlocks, for bodies that can fail: returns the error of the first
// failing block in block order (not in time order), so the reported error does
// not depend on scheduling. Exceptions never cross the parallel region.
template <class Fn>
absl::Status ParallelBlocksStatus(size_t n, size_t block, Fn&& fn) {
  std::vector<absl::Status> status(NumBlocks(n, block));
  ParallelBlocks(n, block, [&](size_t b, size_t begin, size_t end) { status[b] = fn(b, begin, end); });
  for (auto& s : status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace twinscore
