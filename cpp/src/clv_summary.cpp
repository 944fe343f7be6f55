#include "twinscore/clv_summary.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <utility>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr int64_t kNone = CalibrationStream::kOpenEnd;
// Clients updated by one task: 2^14 clients of ~100 bytes stay in L2 while
// the block's rows are applied.
constexpr int kBlockShift = 14;

int64_t FloorDiv64(int64_t v) { return v >= 0 ? v / 64 : -((-v + 63) / 64); }

// Set bits of `words` at positions [lo, hi] (clipped to the bitmap).
int64_t CountBits(const uint64_t* words, int64_t n_words, int64_t lo, int64_t hi) {
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, n_words * 64 - 1);
  int64_t count = 0;
  for (int64_t w = lo / 64; lo <= hi && w <= hi / 64; ++w) {
    uint64_t m = words[w];
    if (w == lo / 64) m &= ~uint64_t{0} << (lo % 64);
    if (w == hi / 64 && hi % 64 != 63) m &= (uint64_t{1} << (hi % 64 + 1)) - 1;
    count += __builtin_popcountll(m);
  }
  return count;
}

// Highest set position <= hi, or -1.
int64_t LastBit(const uint64_t* words, int64_t n_words, int64_t hi) {
  hi = std::min<int64_t>(hi, n_words * 64 - 1);
  for (int64_t w = hi / 64; hi >= 0 && w >= 0; --w) {
    uint64_t m = words[w];
    if (w == hi / 64 && hi % 64 != 63) m &= (uint64_t{1} << (hi % 64 + 1)) - 1;
    if (m) return w * 64 + 63 - __builtin_clzll(m);
  }
  return -1;
}

}  // namespace

absl::StatusOr<CalibrationStream> CalibrationStream::Create(int64_t calibration_end, int64_t observation_end) {
  TWINSCORE_CHECK_ARG(observation_end >= calibration_end, "observation end is before the calibration end");
  TWINSCORE_CHECK_ARG(calibration_end > -kNone && calibration_end < kNone, "calibration end must be a day number");
  return CalibrationStream(calibration_end, observation_end);
}

int64_t CalibrationStream::bytes() const {
  return static_cast<int64_t>(bits_.capacity() * sizeof(uint64_t) + first_.capacity() * sizeof(int64_t) +
                              (first_spend_.capacity() + repeat_spend_.capacity()) * sizeof(double));
}

absl::Status CalibrationStream::CheckChunk(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                           absl::Span<const double> amount, int64_t n_clients,
                                           int64_t first_row) const {
  const size_t n = codes.size();
  TWINSCORE_CHECK_ARG(day.size() == n, "date has ", day.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(amount.empty() || amount.size() == n, "amount has ", amount.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(n_clients >= n_, "n_clients must not shrink: ", n_clients, " after ", n_);
  TWINSCORE_CHECK_ARG(n_clients < (int64_t{1} << 31), "n_clients must be < 2^31, got ", n_clients);
  if (n > 0 && amount_state_ >= 0) {
    TWINSCORE_CHECK_ARG(amount_state_ == (amount.empty() ? 0 : 1),
                        amount_state_ ? "this chunk has no amounts but the earlier chunks have"
                                      : "this chunk has amounts but the earlier chunks have none");
  }
  return ParallelBlocksStatus(n, 1 << 16, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      const int64_t row = first_row + static_cast<int64_t>(i);
      TWINSCORE_CHECK_ARG(codes[i] >= 0 && codes[i] < n_clients, "client code ", codes[i], " at row ", row,
                          " is outside [0, ", n_clients, ")");
      TWINSCORE_CHECK_ARG(day[i] <= observation_end_, "date at row ", row, " is after the observation end");
      TWINSCORE_CHECK_ARG(day[i] > -kNone, "date at row ", row, " is missing");
      if (!amount.empty()) {
        TWINSCORE_CHECK_ARG(std::isfinite(amount[i]) && amount[i] >= 0.0, "amount at row ", row,
                            " must be finite and >= 0, got ", amount[i]);
      }
    }
    return absl::OkStatus();
  });
}

// Widens every client's bitmap to cover days [lo, hi]: the origin moves by
// whole words, so a client's words are copied, not shifted bit by bit.
absl::Status CalibrationStream::Cover(int64_t lo, int64_t hi) {
  const int64_t new_lo = std::min(lo, min_day_), new_hi = std::max(hi, max_day_);
  TWINSCORE_CHECK_ARG(new_hi - new_lo <= kMaxSpanDays, "the dates span ", new_hi - new_lo + 1,
                      " days (day numbers ", new_lo, " to ", new_hi, "), more than ", kMaxSpanDays,
                      ": a date out of range? Filter the log, or pass as_of");
  const int64_t origin = FloorDiv64(new_lo) * 64;
  const int64_t words = FloorDiv64(new_hi) - origin / 64 + 1;
  if (words_ > 0 && origin == origin_ && words == words_) return absl::OkStatus();
  std::vector<uint64_t> bits;
  try {
    bits.assign(static_cast<size_t>(n_ * words), 0);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("the day bitmaps of ", n_, " clients over ", words * 64,
                                                     " days need ", n_ * words * 8, " bytes"));
  }
  const int64_t shift = (origin_ - origin) / 64;  // >= 0: the old origin is at or after the new one
  if (words_ > 0) {
    ParallelBlocks(static_cast<size_t>(n_), 1 << 12, [&](size_t, size_t b, size_t e) {
      for (size_t c = b; c < e; ++c) {
        std::copy_n(bits_.data() + c * words_, words_, bits.data() + c * words + shift);
      }
    });
  }
  bits_ = std::move(bits);
  origin_ = origin;
  words_ = words;
  return absl::OkStatus();
}

void CalibrationStream::Grow(int64_t n_clients) {
  if (n_clients == n_) return;
  const size_t k = static_cast<size_t>(n_clients);
  bits_.resize(k * static_cast<size_t>(words_), 0);  // client-major: new clients' words append
  first_.resize(k, kNone);
  first_spend_.resize(k, 0.0);
  repeat_spend_.resize(k, 0.0);
  n_ = n_clients;
}

// Rows bucketed by client block (a stable counting sort of the chunk, not of
// the log), then each block applied by one task in row order: a client's
// spend is summed in the same order for any thread count.
void CalibrationStream::Update(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                               absl::Span<const double> amount) {
  const size_t n = codes.size();
  const size_t blocks = static_cast<size_t>((n_ >> kBlockShift) + 1);
  std::vector<int64_t> start(blocks + 1, 0);
  for (size_t i = 0; i < n; ++i) start[(codes[i] >> kBlockShift) + 1]++;
  for (size_t b = 0; b < blocks; ++b) start[b + 1] += start[b];
  std::vector<uint32_t> rows(n);  // chunks hold < 2^32 rows (checked by Add)
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) rows[next[codes[i] >> kBlockShift]++] = static_cast<uint32_t>(i);
  }
  ParallelBlocks(blocks, 1, [&](size_t, size_t lo, size_t hi) {
    for (size_t b = lo; b < hi; ++b) {
      for (int64_t j = start[b]; j < start[b + 1]; ++j) {
        const size_t i = rows[j];
        const size_t c = static_cast<size_t>(codes[i]);
        const int64_t d = day[i], pos = d - origin_;
        bits_[c * words_ + pos / 64] |= uint64_t{1} << (pos % 64);
        if (d > calibration_end_) continue;
        const double a = amount.empty() ? 0.0 : amount[i];
        if (d < first_[c]) {  // an earlier first day: the old one becomes a repeat day
          if (first_[c] != kNone) repeat_spend_[c] += first_spend_[c];
          first_[c] = d;
          first_spend_[c] = a;
        } else if (d == first_[c]) {
          first_spend_[c] += a;
        } else {
          repeat_spend_[c] += a;
        }
      }
    }
  });
}

absl::Status CalibrationStream::Add(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                    absl::Span<const double> amount, int64_t n_clients, int64_t first_row) {
  TWINSCORE_CHECK_ARG(codes.size() < (size_t{1} << 32), "a chunk must hold fewer than 2^32 rows");
  TWINSCORE_RETURN_IF_ERROR(CheckChunk(codes, day, amount, n_clients, first_row));
  if (codes.empty()) {
    Grow(n_clients);
    return absl::OkStatus();
  }
  const auto [lo, hi] = std::minmax_element(day.begin(), day.end());
  TWINSCORE_RETURN_IF_ERROR(Cover(*lo, *hi));  // before Grow: a refused span leaves the stream unchanged
  Grow(n_clients);
  min_day_ = std::min(min_day_, *lo);
  max_day_ = std::max(max_day_, *hi);
  amount_state_ = amount.empty() ? 0 : 1;
  Update(codes, day, amount);
  rows_ += static_cast<int64_t>(codes.size());
  return absl::OkStatus();
}

absl::Status CalibrationStream::Finish(int64_t observation_end, double period_days,
                                       const CalibrationSummary& out) const {
  TWINSCORE_CHECK_ARG(std::isfinite(period_days) && period_days > 0, "period_days must be > 0, got ", period_days);
  TWINSCORE_CHECK_ARG(observation_end >= calibration_end_, "observation end is before the calibration end");
  TWINSCORE_CHECK_ARG(rows_ > 0, "the transaction log is empty");
  TWINSCORE_CHECK_ARG(max_day_ <= observation_end, "a date (day ", max_day_, ") is after the observation end (day ",
                      observation_end, ")");
  const size_t k = static_cast<size_t>(n_);
  for (auto s : {out.x, out.t_x, out.T, out.monetary, out.holdout}) {
    TWINSCORE_CHECK_ARG(s.size() == k, "output spans must hold n_clients = ", n_, " values");
  }
  TWINSCORE_CHECK_ARG(out.has_calibration.size() == k, "output spans must hold n_clients values");
  const int64_t cal = calibration_end_ - origin_, obs = observation_end - origin_;
  ParallelBlocks(k, 4096, [&](size_t, size_t lo, size_t hi) {
    for (size_t c = lo; c < hi; ++c) {
      const bool calibrated = first_[c] != kNone;
      out.has_calibration[c] = calibrated ? 1 : 0;
      if (!calibrated) {  // first seen after the calibration end: a new client, not a holdout buyer
        out.x[c] = out.t_x[c] = out.T[c] = out.monetary[c] = out.holdout[c] = 0.0;
        continue;
      }
      const uint64_t* w = bits_.data() + c * words_;
      const double repeats = static_cast<double>(CountBits(w, words_, 0, cal) - 1);
      const int64_t last = LastBit(w, words_, cal) + origin_;
      out.x[c] = repeats;
      out.t_x[c] = repeats > 0 ? static_cast<double>(last - first_[c]) / period_days : 0.0;
      out.T[c] = static_cast<double>(calibration_end_ - first_[c]) / period_days;
      out.monetary[c] = repeats > 0 ? repeat_spend_[c] / repeats : 0.0;
      out.holdout[c] = static_cast<double>(CountBits(w, words_, cal + 1, obs));
    }
  });
  const bool any = std::any_of(first_.begin(), first_.end(), [](int64_t f) { return f != kNone; });
  TWINSCORE_CHECK_ARG(any, "no purchase on or before the calibration end: the calibration end is before the first "
                           "purchase");
  return absl::OkStatus();
}

absl::Status SummarizeCalibration(absl::Span<const int32_t> codes, absl::Span<const int64_t> day,
                                  absl::Span<const double> amount, int64_t n_clients, int64_t calibration_end,
                                  int64_t observation_end, double period_days, const CalibrationSummary& out) {
  TWINSCORE_CHECK_ARG(!codes.empty(), "the transaction log is empty");
  TWINSCORE_CHECK_ARG(n_clients > 0, "n_clients must be > 0, got ", n_clients);
  TWINSCORE_CHECK_ARG(std::isfinite(period_days) && period_days > 0, "period_days must be > 0, got ", period_days);
  auto stream = CalibrationStream::Create(calibration_end, observation_end);
  TWINSCORE_RETURN_IF_ERROR(stream.status());
  TWINSCORE_RETURN_IF_ERROR(stream->Add(codes, day, amount, n_clients, 0));
  return stream->Finish(observation_end, period_days, out);
}

}  // namespace twinscore
