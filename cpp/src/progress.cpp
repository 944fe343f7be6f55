#include "twinscore/progress.h"

namespace twinscore {

absl::Status Progress::Report(const ProgressStep& step) const {
  if (!sink_ || sink_(step)) return absl::OkStatus();
  return absl::CancelledError(absl::StrCat("stopped by the caller during ", step.stage, " (", step.done, " of ",
                                           step.total, " done)"));
}

}  // namespace twinscore
