// One engine call from Python. Every binding that runs an engine takes a
// keyword `n_threads` (0: the process setting) and runs the engine through
// RunEngine, so the count reaches the arena the call runs in and no
// process-wide state changes: two Python threads may call engines at once
// with different counts.
#pragma once

#include <utility>

#include "registry.h"
#include "twinscore/threads.h"

namespace twinscore::bindings {

// The trailing arguments of every engine binding: `n_threads`, keyword only,
// default 0 (the process setting). The C++ callable takes it as its last
// parameter, an int.
#define TWINSCORE_N_THREADS_ARG ::pybind11::kw_only(), ::pybind11::arg("n_threads") = 0

// Runs fn() — the engine call, which must not touch Python objects — with the
// GIL released, as one call on n_threads threads, and returns its result. A
// bad count raises ValueError before any work starts.
template <class Fn>
decltype(auto) RunEngine(int n_threads, Fn&& fn) {
  const ThreadCount threads = Take(ThreadCount::Of(n_threads));
  py::gil_scoped_release release;
  return RunWithThreads(threads, std::forward<Fn>(fn));
}

}  // namespace twinscore::bindings
