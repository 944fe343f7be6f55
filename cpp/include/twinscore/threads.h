// Threads: each engine call runs with its own thread count, in a TBB arena of
// that size held by the call alone.
//
// The process setting (SetNumThreads) is only the default. A caller that
// wants another count for one call runs it through RunWithThreads: inside it,
// on the calling thread and on every worker running its blocks, NumThreads()
// answers the call's count and ParallelBlocks runs in the call's arena.
// Nothing process-wide changes during a call, so calls from several threads
// with different counts run at once without seeing each other's.
//
// Work is split into fixed-size blocks whose boundaries do not depend on the
// thread count, and every reduction combines per-block partials in block order,
// so results are bit-identical for any number of threads.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include "twinscore/common.h"

namespace twinscore {

// Far more threads than cores only costs memory and scheduling; a larger
// value is almost certainly a mistake.
inline constexpr int kMaxThreads = 4096;

// CPUs this process may run on (its affinity mask), at least 1.
int DefaultNumThreads();

// Sets the process setting, the count of calls that do not choose one;
// n <= 0 restores DefaultNumThreads(). Calls in flight keep their count.
absl::Status SetNumThreads(int n);

// The process setting.
int ProcessNumThreads();

// The thread count of the call running on this thread (on its calling thread
// and on the workers running its blocks); outside any call, the process
// setting. Engines may size partitions by it, never their results.
int NumThreads();

// A thread count for one call, checked once: 1 .. kMaxThreads.
class ThreadCount {
 public:
  // n_threads as a caller gives it: 1 .. kMaxThreads, or 0 for the process
  // setting (read now). Anything else is kInvalidArgument naming n_threads.
  static absl::StatusOr<ThreadCount> Of(int n_threads);
  // The process setting, read now.
  static ThreadCount Process();
  int value() const { return n_; }

 private:
  explicit ThreadCount(int n) : n_(n) {}
  int n_;
};

namespace internal {

// Marks this thread as working for a call of n threads until destroyed, then
// restores the previous mark (calls nest; a worker may run blocks of a nested
// region inside another block).
class CallScope {
 public:
  explicit CallScope(int n);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  int previous_;
};

// True on a thread working for a call (it is then inside the call's arena).
bool InCall();

// An arena of n threads held by one call alone, taken from a per-size pool of
// idle arenas and given back when the call ends. Calls never share an arena:
// in a shared arena of n slots, concurrent calls of the same size would wait
// for free slots (one-thread calls would run one at a time) and run each
// other's tasks while waiting for their own.
class ArenaLease {
 public:
  explicit ArenaLease(int n);
  ~ArenaLease();
  ArenaLease(const ArenaLease&) = delete;
  ArenaLease& operator=(const ArenaLease&) = delete;
  tbb::task_arena& arena() { return *arena_; }

 private:
  int n_;
  std::unique_ptr<tbb::task_arena> arena_;
};

}  // namespace internal

// Runs fn() as one call on `threads` threads and returns its result: fn runs
// on the calling thread, inside an arena of that size that no other call
// uses, and NumThreads() answers threads.value() on every thread of the call.
// Calls may nest (the inner count applies inside). Exceptions from fn
// propagate to the caller.
template <class Fn>
decltype(auto) RunWithThreads(ThreadCount threads, Fn&& fn) {
  internal::ArenaLease lease(threads.value());
  return lease.arena().execute([&]() -> decltype(auto) {
    internal::CallScope scope(threads.value());
    return fn();
  });
}

// Runs fn — which may use any TBB algorithm — in the arena of the running
// call; outside any call (an engine called directly from C++), as one call on
// the process setting.
template <class Fn>
decltype(auto) InCallArena(Fn&& fn) {
  if (internal::InCall()) return fn();
  return RunWithThreads(ThreadCount::Process(), std::forward<Fn>(fn));
}

// Number of blocks of `block` items covering n items.
inline size_t NumBlocks(size_t n, size_t block) { return (n + block - 1) / block; }

// Calls fn(block_index, begin, end) for each block of [0, n), in parallel in
// the running call's arena (outside any call, as one call on the process
// setting). Block boundaries depend only on n and `block`.
template <class Fn>
void ParallelBlocks(size_t n, size_t block, Fn&& fn) {
  const size_t nb = NumBlocks(n, block);
  if (nb == 0) return;
  if (nb == 1) {  // nothing to share: no arena needed
    fn(size_t{0}, size_t{0}, n);
    return;
  }
  if (!internal::InCall()) {
    RunWithThreads(ThreadCount::Process(), [&] { ParallelBlocks(n, block, fn); });
    return;
  }
  const int threads = NumThreads();
  auto body = [&](const tbb::blocked_range<size_t>& r) {
    // A worker taking these blocks joins the call: NumThreads() and nested
    // ParallelBlocks inside fn see the call's count and arena.
    internal::CallScope scope(threads);
    for (size_t b = r.begin(); b != r.end(); ++b) {
      const size_t begin = b * block;
      const size_t end = begin + block < n ? begin + block : n;
      fn(b, begin, end);
    }
  };
  if (threads == 1) {
    body(tbb::blocked_range<size_t>(0, nb));
    return;
  }
  // Inside a call this thread is in the call's arena, where parallel_for runs.
  tbb::parallel_for(tbb::blocked_range<size_t>(0, nb), body, tbb::simple_partitioner());
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
