// Per-client calibration summaries of a transaction log, for the purchase
// models (BG/NBD, Pareto/NBD) and the Gamma-Gamma spend model — streamed.
//
// The log arrives in chunks, in any order, its rows unsorted; a client's
// purchases and the purchases of one client-day may be spread over several
// chunks. Nothing is sorted and no row is kept: each chunk updates, per
// client, a bitmap of the days it bought on (so a day seen again is counted
// once, whichever chunk brings it), its first calibration day with that day's
// spend, and its spend on the other calibration days. Memory is therefore
// bounded by the clients and the span of dates — n_clients * (24 + 8 *
// ceil(span_days / 64)) bytes, ~100 bytes a client for two years — whatever
// the number of transactions. A chunk's rows are grouped by client block
// (stable), and each client is updated by one task in row order, so the
// result is the same for any thread count.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "twinscore/common.h"

namespace twinscore {

// Outputs, n_clients values each: x = repeat purchase days in calibration,
// t_x = first to last of them, T = first purchase to the calibration end (both
// in units of `period_days`), monetary = mean amount of the repeat days (0
// when x = 0), holdout = purchase days in (calibration_end, observation_end],
// has_calibration = 1 when the client bought on or before calibration_end
// (else every value is 0).
struct CalibrationSummary {
  absl::Span<double> x, t_x, T, monetary, holdout;
  absl::Span<uint8_t> has_calibration;
};

class CalibrationStream {
 public:
  static constexpr int64_t kOpenEnd = std::numeric_limits<int64_t>::max();
  // Longest span of dates (first to last, in days) the bitmaps cover: a date
  // further away is almost surely a typo (year 1900) and would cost
  // n_clients * span / 8 bytes.
  static constexpr int64_t kMaxSpanDays = 100 * 366;

  // Day numbers (days since any epoch). `observation_end` = kOpenEnd when it
  // is only known at Finish (the latest date); otherwise a later row is an
  // error at Add, naming its row.
  static absl::StatusOr<CalibrationStream> Create(int64_t calibration_end, int64_t observation_end);

  // One chunk: n client codes in [0, n_clients) (codes are the caller's dense
  // client numbering, shared by all chunks; n_clients may grow from chunk to
  // chunk, never shrink), n day numbers, and n amounts (finite, >= 0) or none
  // (then every chunk has none). `first_row` numbers the chunk's first row in
  // the messages. On error the stream is unchanged.
  absl::Status Add(absl::Span<const int32_t> codes, absl::Span<const int64_t> day, absl::Span<const double> amount,
                   int64_t n_clients, int64_t first_row);

  int64_t n_clients() const { return n_; }
  int64_t rows() const { return rows_; }
  // Earliest and latest day added (kOpenEnd / -kOpenEnd before any row).
  int64_t earliest_day() const { return min_day_; }
  int64_t latest_day() const { return max_day_; }
  // Memory held by the per-client state.
  int64_t bytes() const;

  // The summaries of the n_clients() clients. `observation_end` must be >=
  // the calibration end and >= every day added.
  absl::Status Finish(int64_t observation_end, double period_days, const CalibrationSummary& out) const;

 private:
  CalibrationStream(int64_t calibration_end, int64_t observation_end)
      : calibration_end_(calibration_end), observation_end_(observation_end) {}
  absl::Status CheckChunk(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                          absl::Span<const double> amount, int64_t n_clients, int64_t first_row) const;
  absl::Status Cover(int64_t lo, int64_t hi);  // widen the bitmaps to days [lo, hi]
  void Grow(int64_t n_clients);
  void Update(absl::Span<const int32_t> codes, absl::Span<const int64_t> day, absl::Span<const double> amount);

  int64_t calibration_end_, observation_end_;
  int amount_state_ = -1;  // -1: no chunk yet, 0: chunks without amounts, 1: with
  int64_t n_ = 0, rows_ = 0;
  int64_t min_day_ = kOpenEnd, max_day_ = -kOpenEnd;
  int64_t origin_ = 0;  // day of bit 0, a multiple of 64 (whole words shift when the span widens)
  int64_t words_ = 0;   // bitmap words per client
  std::vector<uint64_t> bits_;  // n_ * words_, client-major
  std::vector<int64_t> first_;  // first calibration day, kOpenEnd = none yet
  std::vector<double> first_spend_, repeat_spend_;
};

// The one-shot form: one chunk, n_clients known. Inputs n codes, n days,
// optionally n amounts; a row after `observation_end` is an error.
absl::Status SummarizeCalibration(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                  absl::Span<const double> amount, int64_t n_clients, int64_t calibration_end,
                                  int64_t observation_end, double period_days, const CalibrationSummary& out);

}  // namespace twinscore
