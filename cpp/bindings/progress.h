// Progress of an engine call from Python. Each report of the engine (made on
// the calling thread, the one that released the GIL, between parallel
// phases) takes the GIL back for a moment, runs the pending signal handlers
// — so Ctrl-C stops a long fit or aggregation — then calls the Python
// callback, if any, as callback(stage, done, total, note, value). A Python
// error from either asks the engine to stop (it returns kCancelled); Raise()
// then raises that error (KeyboardInterrupt for Ctrl-C) instead of the
// engine's status. The engines only see a plain C++ sink.
#pragma once

#include <optional>
#include <utility>

#include "registry.h"
#include "twinscore/progress.h"

namespace twinscore::bindings {

// The keyword argument of the bindings that report progress (after n_threads).
#define TWINSCORE_PROGRESS_ARG ::pybind11::arg("progress") = ::pybind11::none()

class PyProgress {
 public:
  explicit PyProgress(py::object callback) : callback_(std::move(callback)) {}
  PyProgress(const PyProgress&) = delete;
  PyProgress& operator=(const PyProgress&) = delete;

  // The engine's sink; valid while this object lives.
  Progress Sink() {
    return Progress([this](const ProgressStep& step) { return Report(step); });
  }

  // With the GIL held, after the engine returned: the Python error that
  // stopped it, else the status as Raise maps it.
  void Raise(const absl::Status& s) {
    if (error_) {
      py::error_already_set e = std::move(*error_);
      error_.reset();
      throw e;
    }
    bindings::Raise(s);
  }
  template <class T>
  T Take(absl::StatusOr<T> r) {
    Raise(r.status());
    return *std::move(r);
  }

 private:
  bool Report(const ProgressStep& step) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      error_.emplace();  // fetches the handler's exception (KeyboardInterrupt for SIGINT)
      return false;
    }
    if (callback_.is_none()) return true;
    try {
      callback_(step.stage, step.done, step.total, step.note ? py::object(py::str(step.note)) : py::object(py::none()),
                step.value);
    } catch (py::error_already_set& e) {
      error_.emplace(std::move(e));
      return false;
    }
    return true;
  }

  py::object callback_;
  std::optional<py::error_already_set> error_;
};

}  // namespace twinscore::bindings
