// Threads: each engine call runs with its own thread count, in a TBB arena of
// that size held by the call alone, leased when the call first works in
// parallel (a call of one block, a single row, never enters an arena).
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

class CallArena;

// Marks this thread as working for a call of n threads until destroyed, then
// restores the previous mark (calls nest; a worker may run blocks of a nested
// region inside another block). `arena` is the call's; `in_arena`: this
// thread already runs inside it (a worker taking the call's blocks).
class CallScope {
 public:
  CallScope(int n, CallArena* arena, bool in_arena);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  int previous_;
  CallArena* previous_arena_;
  bool previous_in_arena_;
};

// True on a thread working for a call.
bool InCall();
// True on a thread working for a call inside the call's arena.
bool InCallArenaNow();
// The arena of the call this thread works for (InCall() only).
CallArena* CurrentCallArena();

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

// The arena of one call, leased when the call first runs work in parallel:
// a call that never does (a single row, a small batch, one thread) takes no
// arena and never enters one, which would cost more than its work.
class CallArena {
 public:
  explicit CallArena(int n) : n_(n) {}
  CallArena(const CallArena&) = delete;
  CallArena& operator=(const CallArena&) = delete;
  int threads() const { return n_; }
  // Only the call's own thread leases (workers already run inside it).
  tbb::task_arena& arena() {
    if (!lease_) lease_ = std::make_unique<ArenaLease>(n_);
    return lease_->arena();
  }

 private:
  int n_;
  std::unique_ptr<ArenaLease> lease_;
};

}  // namespace internal

// Runs fn() as one call on `threads` threads and returns its result: fn runs
// on the calling thread and NumThreads() answers threads.value() on every
// thread of the call; its parallel work (ParallelBlocks, InCallArena) runs in
// an arena of that size that no other call uses, leased at the first parallel
// region. Calls may nest (the inner count applies inside). Exceptions from fn
// propagate to the caller.
template <class Fn>
decltype(auto) RunWithThreads(ThreadCount threads, Fn&& fn) {
  internal::CallArena arena(threads.value());
  internal::CallScope scope(threads.value(), &arena, false);
  return fn();
}

namespace internal {

// Runs fn inside the arena of `call` (leased now if it has none yet), as a
// thread of that call.
template <class Fn>
decltype(auto) RunInArena(CallArena* call, Fn&& fn) {
  return call->arena().execute([&]() -> decltype(auto) {
    CallScope scope(call->threads(), call, true);
    return fn();
  });
}

}  // namespace internal

// Runs fn — which may use any TBB algorithm — in the arena of the running
// call; outside any call (an engine called directly from C++), as one call on
// the process setting.
template <class Fn>
decltype(auto) InCallArena(Fn&& fn) {
  if (!internal::InCall()) {  // one call on the process setting
    internal::CallArena call(ThreadCount::Process().value());
    return internal::RunInArena(&call, fn);
  }
  if (internal::InCallArenaNow()) return fn();
  return internal::RunInArena(internal::CurrentCallArena(), fn);
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
  internal::CallArena* call = internal::CurrentCallArena();
  auto body = [&](const tbb::blocked_range<size_t>& r) {
    // A worker taking these blocks joins the call: NumThreads() and nested
    // ParallelBlocks inside fn see the call's count and arena.
    internal::CallScope scope(threads, call, true);
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
  InCallArena([&] { tbb::parallel_for(tbb::blocked_range<size_t>(0, nb), body, tbb::simple_partitioner()); });
}

// As ParallelBlocks, for bodies that can fail: returns the error of the first
// failing block in block order (not in time order), so the reported error does
// not depend on scheduling. Exceptions never cross the parallel region.
template <class Fn>
absl::Status ParallelBlocksStatus(size_t n, size_t block, Fn&& fn) {
  if (n > 0 && n <= block) return fn(size_t{0}, size_t{0}, n);  // one block: no status vector
  std::vector<absl::Status> status(NumBlocks(n, block));
  ParallelBlocks(n, block, [&](size_t b, size_t begin, size_t end) { status[b] = fn(b, begin, end); });
  for (auto& s : status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace twinscore
