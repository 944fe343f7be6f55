#include "twinscore/threads.h"

#include <sched.h>

#include <atomic>
#include <map>
#include <mutex>

namespace twinscore {
namespace {

// The process setting; 0 until first read or set (the affinity mask is read
// lazily, once).
std::atomic<int> g_process_threads{0};

// The count of the call this thread works for; 0 outside any call.
thread_local int t_call_threads = 0;
// That call's arena, and whether this thread runs inside it.
thread_local internal::CallArena* t_call_arena = nullptr;
thread_local bool t_in_call_arena = false;

// Idle arenas kept per size: enough for the concurrent calls of a typical
// process (a few Python threads, a Dask worker's pool); more are freed.
constexpr size_t kIdleArenasPerSize = 8;

class ArenaPool {
 public:
  std::unique_ptr<tbb::task_arena> Take(int n) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& idle = idle_[n];
      if (!idle.empty()) {
        auto arena = std::move(idle.back());
        idle.pop_back();
        return arena;
      }
    }
    auto arena = std::make_unique<tbb::task_arena>(n);
    arena->initialize();
    return arena;
  }

  void Give(int n, std::unique_ptr<tbb::task_arena> arena) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& idle = idle_[n];
    if (idle.size() < kIdleArenasPerSize) idle.push_back(std::move(arena));
    // else: freed here, once no call holds it.
  }

 private:
  std::mutex mutex_;
  std::map<int, std::vector<std::unique_ptr<tbb::task_arena>>> idle_;  // guarded by mutex_
};

// Never destroyed: arenas must not be torn down after TBB's own statics at
// exit, and a call may still be running on a detached thread.
ArenaPool& Pool() {
  static ArenaPool* pool = new ArenaPool();
  return *pool;
}

}  // namespace

int DefaultNumThreads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const int n = tbb::this_task_arena::max_concurrency();
  return n > 0 ? n : 1;
}

absl::Status SetNumThreads(int n) {
  TWINSCORE_CHECK_ARG(n <= kMaxThreads, "n_threads must be at most ", kMaxThreads, ", got ", n);
  g_process_threads.store(n <= 0 ? DefaultNumThreads() : n);
  return absl::OkStatus();
}

int ProcessNumThreads() {
  int n = g_process_threads.load();
  if (n > 0) return n;
  int unset = 0;
  g_process_threads.compare_exchange_strong(unset, DefaultNumThreads());
  return g_process_threads.load();
}

int NumThreads() { return t_call_threads > 0 ? t_call_threads : ProcessNumThreads(); }

absl::StatusOr<ThreadCount> ThreadCount::Of(int n_threads) {
  TWINSCORE_CHECK_ARG(n_threads >= 0 && n_threads <= kMaxThreads, "n_threads must be between 1 and ", kMaxThreads,
                      " (0: the process setting), got ", n_threads);
  return n_threads == 0 ? Process() : ThreadCount(n_threads);
}

ThreadCount ThreadCount::Process() { return ThreadCount(ProcessNumThreads()); }

namespace internal {

CallScope::CallScope(int n, CallArena* arena, bool in_arena)
    : previous_(t_call_threads), previous_arena_(t_call_arena), previous_in_arena_(t_in_call_arena) {
  t_call_threads = n;
  t_call_arena = arena;
  t_in_call_arena = in_arena;
}

CallScope::~CallScope() {
  t_call_threads = previous_;
  t_call_arena = previous_arena_;
  t_in_call_arena = previous_in_arena_;
}

bool InCall() { return t_call_threads > 0; }

bool InCallArenaNow() { return t_in_call_arena; }

CallArena* CurrentCallArena() { return t_call_arena; }

ArenaLease::ArenaLease(int n) : n_(n), arena_(Pool().Take(n)) {}

ArenaLease::~ArenaLease() { Pool().Give(n_, std::move(arena_)); }

}  // namespace internal
}  // namespace twinscore
