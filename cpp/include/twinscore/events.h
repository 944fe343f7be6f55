// Per-contact aggregation of an event log: frequency per event type, first and
// last seen, active days, and time-decayed counts per event type and per
// product category (the "appetence" vector).
//
// An event log is a set of parallel columns of n_events values: the row of the
// event's contact in the contact table (-1 for a contact not in the table:
// skipped), its timestamp (int64 ns since the epoch, UTC), its type code in
// [0, n_types) and its category code in [-1, n_categories) (-1: no category).
// Events may come in any order. Outputs are caller-allocated, one row per
// contact: a contact without events gets zeros and missing first/last seen.
#pragma once

#include <cstdint>
#include <vector>

#include "twinscore/columns.h"
#include "twinscore/common.h"
#include "twinscore/progress.h"

namespace twinscore {

inline constexpr int64_t kNsPerDay = 86'400'000'000'000LL;

// rows[i] = position of event_ids[i] in contact_ids, or -1 when absent.
// Returns the number of events whose id is absent. Fails when contact_ids
// repeats an id (naming it). rows: event_ids.size() values.
absl::StatusOr<int64_t> MapContactIds(absl::Span<const int64_t> contact_ids, absl::Span<const int64_t> event_ids,
                                      absl::Span<int64_t> rows);

// Events grouped by contact row, as compressed rows: the events of row r are
// order[offsets[r] .. offsets[r+1]), in their input order (the grouping is a
// stable counting sort), so per-contact sums do not depend on threads.
struct Grouping {
  std::vector<int64_t> offsets;  // n_rows + 1
  std::vector<int64_t> order;    // events with a row >= 0
};

// rows: one per event, each in [-1, n_rows) (checked by EventLog::Validate).
Grouping GroupByRow(absl::Span<const int64_t> rows, int64_t n_rows);
// The same, reporting stage "grouping" (events placed, of all, every 1Mi)
// to `progress`; kCancelled when it says stop.
absl::StatusOr<Grouping> GroupByRow(absl::Span<const int64_t> rows, int64_t n_rows, const Progress& progress);

struct EventLog {
  absl::Span<const int64_t> rows;
  absl::Span<const int64_t> timestamps;
  absl::Span<const int32_t> types;
  absl::Span<const int32_t> categories;  // empty: no category column
  int32_t n_types = 0;
  int32_t n_categories = 0;

  int64_t size() const { return static_cast<int64_t>(rows.size()); }
  // Same lengths; rows in [-1, n_rows); types and categories in range;
  // timestamps present and not after now_ns. Errors name the first bad event
  // in event order.
  absl::Status Validate(int64_t n_rows, int64_t now_ns) const;
};

struct EventAggOptions {
  int64_t now_ns = 0;             // the reference date: recency and decay count from it
  double half_life_days = 30.0;   // an event half_life_days old weighs 1/2; > 0 and finite
  absl::Status Validate() const;
};

// Caller-allocated outputs (n = number of contact rows).
struct EventAggregates {
  absl::Span<int64_t> counts;              // n * n_types
  absl::Span<double> decayed_types;        // n * n_types
  absl::Span<double> decayed_categories;   // n * n_categories
  absl::Span<int64_t> first_seen;          // n, kMissingTimestamp when no event
  absl::Span<int64_t> last_seen;           // n, kMissingTimestamp when no event
  absl::Span<int32_t> active_days;         // n, distinct UTC days with an event
};

// Weight of an event `age_ns` old under a half-life of `half_life_ns`.
inline double DecayWeight(double age_ns, double half_life_ns) { return std::exp2(-age_ns / half_life_ns); }

// Reports stage "grouping" (events of the log placed in their contact's
// bucket: 0 when checked, then by rounds of 1Mi or more) then "aggregating" (events of the contacts done, of
// those with a contact, by rounds of buckets of 1Mi events or more). When
// stopped, the outputs are partly written: discard them.
absl::Status AggregateEvents(const EventLog& log, int64_t n_rows, const EventAggOptions& options,
                             const EventAggregates& out, const Progress& progress = Progress());

}  // namespace twinscore
