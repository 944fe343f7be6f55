// Progress of a long engine call, reported to the caller's sink, which may
// also stop the call.
//
// An engine reports only from the calling thread (the one that entered it),
// between its parallel phases, never from a worker running its blocks: a sink
// may do whatever that thread may (take a lock, the Python GIL), and the
// work, its blocks and its results are the same with or without a sink.
// Reports come at a bounded rate (per iteration, per batch of buckets), never
// per row. Within a stage `done` never decreases and never passes `total`;
// the stage's last report has done == total (a stage that ends early, as
// k-means on convergence, lowers its total to what it did).
#pragma once

#include <cstdint>
#include <functional>

#include "twinscore/common.h"

namespace twinscore {

struct ProgressStep {
  const char* stage = "";      // what runs ("seeding", "iterations", "grouping", "aggregating", ...)
  int64_t done = 0;            // units of the stage done, 0 <= done <= total
  int64_t total = 0;
  const char* note = nullptr;  // name of `value` (nullptr: none), e.g. "changed" labels
  double value = 0.0;
};

// The caller's sink: true to go on, false to stop the call.
using ProgressSink = std::function<bool(const ProgressStep&)>;

class Progress {
 public:
  Progress() = default;  // no sink: a report costs a branch
  explicit Progress(ProgressSink sink) : sink_(std::move(sink)) {}
  bool enabled() const { return static_cast<bool>(sink_); }
  // Reports a step: OK to go on, kCancelled when the sink asked to stop (the
  // engine then returns that status at once, its outputs unspecified).
  absl::Status Report(const ProgressStep& step) const;

 private:
  ProgressSink sink_;
};

// Returns the enclosing function's status when `progress` says stop.
#define TWINSCORE_REPORT(progress, ...) TWINSCORE_RETURN_IF_ERROR((progress).Report(ProgressStep{__VA_ARGS__}))

}  // namespace twinscore
