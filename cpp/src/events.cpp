#include "twinscore/events.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kEventBlock = 1 << 16;   // events per block of the checks and look-ups
// Events placed between two progress reports of the grouping, at least.
constexpr int64_t kGroupReportEvents = int64_t{1} << 20;

// Floor division: days before 1970 stay distinct from day 0.
inline int64_t DayOf(int64_t ns) { return ns >= 0 ? ns / kNsPerDay : -((-ns + kNsPerDay - 1) / kNsPerDay); }

bool IsGrouped(absl::Span<const int64_t> rows) {
  // Logs exported contact by contact need no reordering.
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i] < rows[i - 1] || rows[i - 1] < 0) return false;
  }
  return rows.empty() || rows.back() >= 0;
}

}  // namespace

namespace {

// Looks up every event's id with find(id) -> row or -1, in parallel blocks;
// returns the number of unknown ids.
template <class Find>
int64_t LookUpEvents(absl::Span<const int64_t> event_ids, absl::Span<int64_t> rows, const Find& find) {
  std::vector<int64_t> unknown(NumBlocks(event_ids.size(), kEventBlock), 0);
  ParallelBlocks(event_ids.size(), kEventBlock, [&](size_t b, size_t begin, size_t end) {
    int64_t miss = 0;
    for (size_t i = begin; i < end; ++i) {
      rows[i] = find(event_ids[i]);
      miss += rows[i] < 0;
    }
    unknown[b] = miss;
  });
  int64_t total = 0;
  for (int64_t u : unknown) total += u;
  return total;
}

// Contact ids spanning at most this many values per contact are looked up
// in a direct table indexed by id - min (one cache line per event, no hashing);
// sparser ids in a hash map.
constexpr int64_t kDenseIdSpan = 4;

}  // namespace

absl::StatusOr<int64_t> MapContactIds(absl::Span<const int64_t> contact_ids, absl::Span<const int64_t> event_ids,
                                      absl::Span<int64_t> rows) {
  TWINSCORE_CHECK_ARG(rows.size() == event_ids.size(), "rows holds ", rows.size(), " values, expected ",
                      event_ids.size());
  if (contact_ids.empty()) {
    std::fill(rows.begin(), rows.end(), -1);
    return static_cast<int64_t>(event_ids.size());
  }
  const auto [lo_it, hi_it] = std::minmax_element(contact_ids.begin(), contact_ids.end());
  const int64_t lo = *lo_it, hi = *hi_it;
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);  // no overflow in unsigned
  if (span < static_cast<uint64_t>(kDenseIdSpan) * contact_ids.size()) {
    std::vector<int64_t> index(span + 1, -1);
    for (size_t r = 0; r < contact_ids.size(); ++r) {
      int64_t& slot = index[static_cast<uint64_t>(contact_ids[r]) - static_cast<uint64_t>(lo)];
      TWINSCORE_CHECK_ARG(slot < 0, "contact ids: id ", contact_ids[r], " appears more than once (row ", r, ")");
      slot = static_cast<int64_t>(r);
    }
    return LookUpEvents(event_ids, rows, [&](int64_t id) -> int64_t {
      const uint64_t k = static_cast<uint64_t>(id) - static_cast<uint64_t>(lo);
      return k <= span ? index[k] : -1;
    });
  }
  absl::flat_hash_map<int64_t, int64_t> index;
  index.reserve(contact_ids.size());
  for (size_t r = 0; r < contact_ids.size(); ++r) {
    const bool inserted = index.emplace(contact_ids[r], static_cast<int64_t>(r)).second;
    TWINSCORE_CHECK_ARG(inserted, "contact ids: id ", contact_ids[r], " appears more than once (row ", r, ")");
  }
  return LookUpEvents(event_ids, rows, [&](int64_t id) -> int64_t {
    auto it = index.find(id);
    return it == index.end() ? -1 : it->second;
  });
}

Grouping GroupByRow(absl::Span<const int64_t> rows, int64_t n_rows) {
  return *GroupByRow(rows, n_rows, Progress());  // without a sink it cannot be stopped
}

absl::StatusOr<Grouping> GroupByRow(absl::Span<const int64_t> rows, int64_t n_rows, const Progress& progress) {
  const int64_t n = static_cast<int64_t>(rows.size());
  Grouping g;
  g.offsets.assign(n_rows + 1, 0);
  if (IsGrouped(rows)) {
    for (int64_t r : rows) ++g.offsets[r + 1];
    for (int64_t r = 0; r < n_rows; ++r) g.offsets[r + 1] += g.offsets[r];
    g.order.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) g.order[i] = static_cast<int64_t>(i);
    TWINSCORE_REPORT(progress, "grouping", n, n);
    return g;
  }
  for (int64_t r : rows) {
    if (r >= 0) ++g.offsets[r + 1];
  }
  for (int64_t r = 0; r < n_rows; ++r) g.offsets[r + 1] += g.offsets[r];
  g.order.resize(g.offsets[n_rows]);
  std::vector<int64_t> next(g.offsets.begin(), g.offsets.end() - 1);
  // The scatter (the costly loop: a random write per event) in segments, a
  // report after each.
  for (int64_t a = 0; a < n || a == 0; a += kGroupReportEvents) {
    const int64_t b = std::min(n, a + kGroupReportEvents);
    for (int64_t i = a; i < b; ++i) {
      if (rows[i] >= 0) g.order[next[rows[i]]++] = i;
    }
    TWINSCORE_REPORT(progress, "grouping", b, n);
  }
  return g;
}

absl::Status EventLog::Validate(int64_t n_rows, int64_t now_ns) const {
  const size_t n = rows.size();
  TWINSCORE_CHECK_ARG(timestamps.size() == n && types.size() == n && (categories.empty() || categories.size() == n),
                      "event columns have different lengths: ", n, " contacts, ", timestamps.size(),
                      " timestamps, ", types.size(), " types, ", categories.size(), " categories");
  TWINSCORE_CHECK_ARG(n_types >= 0 && n_categories >= 0, "negative type or category count");
  return ParallelBlocksStatus(n, kEventBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(rows[i] >= -1 && rows[i] < n_rows, "event ", i, ": contact row ", rows[i],
                          " is outside [-1, ", n_rows, ")");
      if (rows[i] < 0) continue;  // unknown contacts are counted by the caller, never read
      TWINSCORE_CHECK_ARG(timestamps[i] != kMissingTimestamp, "timestamp: event ", i, " has no timestamp");
      TWINSCORE_CHECK_ARG(timestamps[i] <= now_ns, "timestamp: event ", i, " is after now (", timestamps[i],
                          " > ", now_ns, " ns)");
      TWINSCORE_CHECK_ARG(types[i] >= 0 && types[i] < n_types, "type: event ", i, " has code ", types[i],
                          ", outside [0, ", n_types, ")");
      if (!categories.empty()) {
        TWINSCORE_CHECK_ARG(categories[i] >= -1 && categories[i] < n_categories, "category: event ", i,
                            " has code ", categories[i], ", outside [-1, ", n_categories, ")");
      }
    }
    return absl::OkStatus();
  });
}

absl::Status EventAggOptions::Validate() const {
  TWINSCORE_CHECK_ARG(std::isfinite(half_life_days) && half_life_days > 0, "half_life_days must be finite and > 0, got ",
                      half_life_days);
  TWINSCORE_CHECK_ARG(now_ns != kMissingTimestamp, "now must be a timestamp");
  return absl::OkStatus();
}

namespace {

// One event as the aggregation reads it: its columns side by side, so that
// the events of a contact, once grouped, are one sequential read.
struct EventRecord {
  int64_t timestamp;
  int32_t type;
  int32_t category;  // -1: none
};

// The grouping is a two-level, stable counting sort:
//  1. the events are split into one chunk per thread (kMaxGroupChunks at
//     most, kMinGroupChunk events at least); each chunk counts its events per
//     bucket of 2^shift consecutive contact rows (a table that stays in L1);
//  2. each chunk writes its events' records, and their rows within the
//     bucket, to the bucket's slice, after those of the chunks before it:
//     about a thousand write streams, whose current lines stay in L2, instead
//     of one random write per event;
//  3. each bucket (a few hundred KiB, in L2) is sorted by row, stably, and its
//     contacts aggregated.
// Every step keeps the input order within a contact, so the sums (and the
// outputs) do not depend on the number of chunks or threads.
constexpr size_t kMaxGroupChunks = 8;
constexpr size_t kMinGroupChunk = size_t{1} << 16;
constexpr int kMinBucketShift = 10;    // 1024 contacts per bucket at least
constexpr size_t kMaxBuckets = 4096;   // bounds the per-chunk bucket tables
constexpr size_t kKeptBuffer = size_t{1} << 16;  // records a thread keeps between buckets

size_t GroupChunk(size_t n) {
  const size_t chunks = std::clamp<size_t>(n / kMinGroupChunk, 1, std::min<size_t>(NumThreads(), kMaxGroupChunks));
  return std::max<size_t>(1, NumBlocks(n, chunks));
}

int BucketShift(size_t n_rows) {
  int shift = kMinBucketShift;
  while ((n_rows >> shift) >= kMaxBuckets) ++shift;
  return shift;
}

// Events bucketed by contact row (steps 1 and 2). The events of bucket b are
// records[offsets[b] .. offsets[b+1]), in input order, with local[k] the
// row of records[k] within the bucket.
struct Buckets {
  int shift = 0;
  std::vector<int64_t> offsets;
  std::vector<EventRecord> records;
  std::vector<uint32_t> local;
};

// With a progress sink the scatter (step 2) runs in rounds, each a slice of
// every chunk (chunks still write their events in order), with a report of
// the events placed after each.
absl::Status BucketEvents(const EventLog& log, int64_t n_rows, const Progress& progress, Buckets& out) {
  out.shift = BucketShift(static_cast<size_t>(n_rows));
  const size_t n = log.rows.size(), n_buckets = (static_cast<size_t>(n_rows) >> out.shift) + 1;
  const size_t chunk = GroupChunk(n), chunks = NumBlocks(n, chunk);
  std::vector<std::vector<int64_t>> next(chunks);
  ParallelBlocks(n, chunk, [&](size_t c, size_t begin, size_t end) {
    std::vector<int64_t>& count = next[c];
    count.assign(n_buckets, 0);
    for (size_t i = begin; i < end; ++i) {
      if (log.rows[i] >= 0) ++count[static_cast<uint64_t>(log.rows[i]) >> out.shift];
    }
  });
  // Exclusive scan over (bucket, chunk): each count becomes the chunk's first
  // position in the bucket.
  out.offsets.assign(n_buckets + 1, 0);
  int64_t at = 0;
  for (size_t b = 0; b < n_buckets; ++b) {
    out.offsets[b] = at;
    for (size_t c = 0; c < chunks; ++c) {
      const int64_t k = next[c][b];
      next[c][b] = at;
      at += k;
    }
  }
  out.offsets[n_buckets] = at;
  out.records.resize(static_cast<size_t>(at));
  out.local.resize(static_cast<size_t>(at));
  const bool has_categories = !log.categories.empty();
  const uint64_t mask = (uint64_t{1} << out.shift) - 1;
  const size_t rounds = progress.enabled() ? std::clamp<size_t>(n / kGroupReportEvents, 1, 64) : 1;
  const size_t slice = NumBlocks(chunk, rounds);  // events of each chunk per round
  for (size_t round = 0; round < rounds; ++round) {
    ParallelBlocks(n, chunk, [&](size_t c, size_t begin, size_t end) {
      int64_t* pos = next[c].data();
      const size_t from = std::min(end, begin + round * slice), to = std::min(end, from + slice);
      for (size_t i = from; i < to; ++i) {
        const int64_t r = log.rows[i];
        if (r < 0) continue;
        const int64_t k = pos[static_cast<uint64_t>(r) >> out.shift]++;
        out.records[k] = EventRecord{log.timestamps[i], log.types[i], has_categories ? log.categories[i] : -1};
        out.local[k] = static_cast<uint32_t>(static_cast<uint64_t>(r) & mask);
      }
    });
    size_t placed = 0;  // over the chunks: min(its length, (round + 1) * slice)
    for (size_t begin = 0; begin < n; begin += chunk) {
      placed += std::min(std::min(chunk, n - begin), (round + 1) * slice);
    }
    TWINSCORE_REPORT(progress, "grouping", static_cast<int64_t>(placed), static_cast<int64_t>(n));
  }
  return absl::OkStatus();
}

// Aggregates of one contact from its events (in input order).
void AggregateContact(const EventRecord* events, int64_t count, int64_t now_ns, double half_life_ns, int64_t T,
                      int64_t K, size_t r, const EventAggregates& out, std::vector<int64_t>& days) {
  int64_t* counts = out.counts.data() + r * T;
  double* dt = out.decayed_types.data() + r * T;
  double* dc = out.decayed_categories.data() + r * K;
  std::fill(counts, counts + T, 0);
  std::fill(dt, dt + T, 0.0);
  std::fill(dc, dc + K, 0.0);
  int64_t first = kMissingTimestamp, last = kMissingTimestamp;
  days.clear();
  for (int64_t k = 0; k < count; ++k) {
    const EventRecord& e = events[k];
    const int64_t t = e.timestamp;
    const double w = DecayWeight(static_cast<double>(now_ns - t), half_life_ns);
    ++counts[e.type];
    dt[e.type] += w;
    if (e.category >= 0) dc[e.category] += w;
    first = first == kMissingTimestamp ? t : std::min(first, t);
    last = last == kMissingTimestamp ? t : std::max(last, t);
    const int64_t day = DayOf(t);
    if (days.empty() || days.back() != day) days.push_back(day);  // runs of one day are common
  }
  std::sort(days.begin(), days.end());
  out.active_days[r] = static_cast<int32_t>(std::unique(days.begin(), days.end()) - days.begin());
  out.first_seen[r] = first;
  out.last_seen[r] = last;
}

// Step 3 for bucket b (contact rows [begin, end)): a stable counting sort of
// its events by row (in buffers reused across the thread's buckets), then
// its contacts.
void AggregateBucket(const Buckets& buckets, size_t b, size_t begin, size_t end, const EventAggOptions& options,
                     double half_life_ns, int64_t T, int64_t K, const EventAggregates& out) {
  const int64_t lo = buckets.offsets[b], m = buckets.offsets[b + 1] - lo;
  thread_local std::vector<int64_t> start, days;
  thread_local std::vector<EventRecord> sorted;
  start.assign(end - begin + 1, 0);
  sorted.resize(static_cast<size_t>(m));
  const uint32_t* local = buckets.local.data() + lo;
  for (int64_t k = 0; k < m; ++k) ++start[local[k] + 1];
  for (size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
  const EventRecord* records = buckets.records.data() + lo;
  for (int64_t k = 0; k < m; ++k) sorted[start[local[k]]++] = records[k];
  // start[r] is now the end of row r's events (and the start of row r+1's).
  int64_t from = 0;
  for (size_t r = begin; r < end; ++r) {
    const int64_t to = start[r - begin];
    AggregateContact(sorted.data() + from, to - from, options.now_ns, half_life_ns, T, K, r, out, days);
    from = to;
  }
  if (sorted.capacity() > kKeptBuffer) std::vector<EventRecord>().swap(sorted);  // a huge bucket: let it go
}

// With a progress sink, the buckets are aggregated in rounds (one parallel
// region each, a report after each) of at least this many events, and at
// most kMaxRounds rounds; without one, in a single region. Each bucket is
// aggregated alone, so the rounds change no result.
constexpr int64_t kRoundEvents = int64_t{1} << 20;
constexpr int64_t kMaxRounds = 64;

}  // namespace

absl::Status AggregateEvents(const EventLog& log, int64_t n_rows, const EventAggOptions& options,
                             const EventAggregates& out, const Progress& progress) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_CHECK_ARG(n_rows >= 0, "n_rows must be >= 0");
  const int64_t T = log.n_types, K = log.n_categories;
  const size_t n = static_cast<size_t>(n_rows);
  TWINSCORE_CHECK_ARG(out.counts.size() == n * T && out.decayed_types.size() == n * T &&
                          out.decayed_categories.size() == n * K && out.first_seen.size() == n &&
                          out.last_seen.size() == n && out.active_days.size() == n,
                      "aggregate outputs do not match ", n_rows, " contacts x (", T, " types, ", K, " categories)");
  TWINSCORE_RETURN_IF_ERROR(log.Validate(n_rows, options.now_ns));
  TWINSCORE_REPORT(progress, "grouping", 0, log.size());
  Buckets buckets;
  TWINSCORE_RETURN_IF_ERROR(BucketEvents(log, n_rows, progress, buckets));
  const double half_life_ns = options.half_life_days * static_cast<double>(kNsPerDay);
  const size_t bucket_rows = size_t{1} << buckets.shift, n_buckets = NumBlocks(n, bucket_rows);
  const int64_t kept = buckets.offsets[n_buckets];
  const int64_t round = progress.enabled() ? std::max(kRoundEvents, kept / kMaxRounds) : kept + 1;
  // Step 3, one bucket per task.
  for (size_t b0 = 0, b1; b0 < n_buckets; b0 = b1) {
    b1 = b0 + 1;
    while (b1 < n_buckets && buckets.offsets[b1] - buckets.offsets[b0] < round) ++b1;
    const size_t row0 = b0 * bucket_rows, row1 = std::min(n, b1 * bucket_rows);
    ParallelBlocks(row1 - row0, bucket_rows, [&](size_t b, size_t begin, size_t end) {
      AggregateBucket(buckets, b0 + b, row0 + begin, row0 + end, options, half_life_ns, T, K, out);
    });
    if (b1 < n_buckets) TWINSCORE_REPORT(progress, "aggregating", buckets.offsets[b1], kept);
  }
  TWINSCORE_REPORT(progress, "aggregating", kept, kept);
  return absl::OkStatus();
}

}  // namespace twinscore
