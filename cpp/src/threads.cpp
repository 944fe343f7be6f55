#include "twinscore/threads.h"

#include <sched.h>

#include <mutex>

namespace twinscore {
namespace {

std::mutex g_mutex;
std::shared_ptr<tbb::task_arena> g_arena;  // guarded by g_mutex
int g_threads = 0;                         // guarded by g_mutex

std::shared_ptr<tbb::task_arena> MakeArena(int n) {
  auto arena = std::make_shared<tbb::task_arena>(n);
  arena->initialize();
  return arena;
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
  // Far more threads than cores only costs memory and scheduling; a huge value
  // is almost certainly a mistake.
  TWINSCORE_CHECK_ARG(n <= 4096, "n_threads must be at most 4096, got ", n);
  if (n <= 0) n = DefaultNumThreads();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_arena && g_threads == n) return absl::OkStatus();
  g_arena = MakeArena(n);
  g_threads = n;
  return absl::OkStatus();
}

int NumThreads() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_arena) {
    g_threads = DefaultNumThreads();
    g_arena = MakeArena(g_threads);
  }
  return g_threads;
}

std::shared_ptr<tbb::task_arena> CurrentArena() {
  NumThreads();  // creates the default arena on first use
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_arena;
}

}  // namespace twinscore
