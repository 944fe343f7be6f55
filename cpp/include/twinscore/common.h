// Shared conventions of the twinscore engines.
//
// Arrays are row-major, contiguous, and owned by the caller; an n x d matrix is
// a span of n*d values. Engines never allocate their outputs: the caller passes
// a mutable span of the documented size. Functions that can fail on user input
// return absl::Status / absl::StatusOr with the most specific code
// (kInvalidArgument for bad values or shapes, kNotFound for an unknown name);
// the Python binding alone maps the codes to exception types.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace twinscore {

// Missing categorical code: the value was null in the input.
inline constexpr int32_t kMissingCode = -1;

// Returns early from the enclosing function when `expr` is not OK.
#define TWINSCORE_RETURN_IF_ERROR(expr)          \
  do {                                           \
    ::absl::Status _ts_status = (expr);          \
    if (!_ts_status.ok()) return _ts_status;     \
  } while (0)

// Checks a precondition on user input; the message names what was wrong.
#define TWINSCORE_CHECK_ARG(cond, ...)                                   \
  do {                                                                   \
    if (!(cond)) return ::absl::InvalidArgumentError(absl::StrCat(__VA_ARGS__)); \
  } while (0)

}  // namespace twinscore
