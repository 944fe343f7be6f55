#include "twinscore/rfm.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <tbb/parallel_sort.h>

#include "absl/container/flat_hash_map.h"
#include "twinscore/threads.h"

namespace twinscore {

absl::StatusOr<std::vector<int64_t>> FactorizeInt64(absl::Span<const int64_t> ids, absl::Span<int32_t> codes) {
  TWINSCORE_CHECK_ARG(codes.size() == ids.size(), "codes has ", codes.size(), " values, expected ", ids.size());
  absl::flat_hash_map<int64_t, int32_t> index;
  std::vector<int64_t> uniques;
  // Consecutive rows of one client are common (logs sorted by client): the
  // last seen id short-cuts the hash lookup.
  int64_t prev_id = 0;
  int32_t prev_code = -1;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    if (prev_code >= 0 && id == prev_id) {
      codes[i] = prev_code;
      continue;
    }
    auto [it, inserted] = index.try_emplace(id, static_cast<int32_t>(uniques.size()));
    if (inserted) {
      TWINSCORE_CHECK_ARG(uniques.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()),
                          "more than 2^31-1 distinct client ids");
      uniques.push_back(id);
    }
    codes[i] = prev_code = it->second;
    prev_id = id;
  }
  return uniques;
}

namespace {

absl::Status CheckTimesAndAmounts(absl::Span<const int64_t> time, absl::Span<const double> amount, int64_t now) {
  constexpr size_t kBlock = 1 << 16;
  return ParallelBlocksStatus(time.size(), kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(time[i] <= now, "date at row ", i, " is after now (", time[i], " > ", now, ")");
      if (!amount.empty()) {
        TWINSCORE_CHECK_ARG(std::isfinite(amount[i]) && amount[i] >= 0.0, "amount at row ", i,
                            " must be finite and >= 0, got ", amount[i]);
      }
    }
    return absl::OkStatus();
  });
}

absl::Status CheckRows(absl::Span<const int32_t> codes, absl::Span<const int64_t> time,
                       absl::Span<const double> amount, int64_t n_clients, int64_t now) {
  constexpr size_t kBlock = 1 << 16;
  return ParallelBlocksStatus(codes.size(), kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(codes[i] >= 0 && codes[i] < n_clients, "client code ", codes[i], " at row ", i,
                          " is outside [0, ", n_clients, ")");
      TWINSCORE_CHECK_ARG(time[i] <= now, "date at row ", i, " is after now (", time[i], " > ", now, ")");
      if (!amount.empty()) {
        TWINSCORE_CHECK_ARG(std::isfinite(amount[i]) && amount[i] >= 0.0, "amount at row ", i,
                            " must be finite and >= 0, got ", amount[i]);
      }
    }
    return absl::OkStatus();
  });
}

// Compensated (Kahan) summation: totals of many baskets keep their cents,
// and equal totals stay equal whatever the order of the baskets.
inline void KahanAdd(double v, double* sum, double* carry) {
  const double y = v - *carry;
  const double t = *sum + y;
  *carry = (t - *sum) - y;
  *sum = t;
}

// Owner task of a client id: a multiplicative hash spreads consecutive ids.
inline uint32_t Owner(int64_t id, uint32_t parts) {
  const uint64_t h = static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull;
  return static_cast<uint32_t>((h >> 32) % parts);
}

// One client's running aggregates, kept in the hash map's slot so that a row
// costs one random memory access.
struct Running {
  int64_t first_row, first, last, count;
  double total, carry;
};

}  // namespace

absl::StatusOr<RfmGroups> AggregateRfmById(absl::Span<const int64_t> ids, absl::Span<const int64_t> time,
                                           absl::Span<const double> amount, int64_t now) {
  const size_t n = ids.size();
  TWINSCORE_CHECK_ARG(n > 0, "the transaction log is empty");
  TWINSCORE_CHECK_ARG(time.size() == n, "date has ", time.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(amount.empty() || amount.size() == n, "amount has ", amount.size(), " values, expected ", n);
  TWINSCORE_RETURN_IF_ERROR(CheckTimesAndAmounts(time, amount, now));
  // Each task owns the ids that hash to it and scans the whole log: no two
  // tasks write one client, and each client's rows are added in log order,
  // so the result does not depend on the thread count.
  const uint32_t parts = static_cast<uint32_t>(std::max(1, NumThreads()));
  std::vector<absl::flat_hash_map<int64_t, Running>> maps(parts);
  ParallelBlocks(parts, 1, [&](size_t p, size_t, size_t) {
    auto& index = maps[p];
    for (size_t i = 0; i < n; ++i) {
      const int64_t id = ids[i];
      if (parts > 1 && Owner(id, parts) != p) continue;
      const int64_t t = time[i];
      auto [it, inserted] = index.try_emplace(id, Running{static_cast<int64_t>(i), t, t, 0, 0.0, 0.0});
      Running& r = it->second;
      r.first = std::min(r.first, t);
      r.last = std::max(r.last, t);
      r.count += 1;
      if (!amount.empty()) KahanAdd(amount[i], &r.total, &r.carry);
    }
  });
  // Clients in order of first appearance, whatever the partition.
  std::vector<std::pair<int64_t, const std::pair<const int64_t, Running>*>> order;
  size_t k = 0;
  for (const auto& m : maps) k += m.size();
  order.reserve(k);
  for (const auto& m : maps) {
    for (const auto& kv : m) order.emplace_back(kv.second.first_row, &kv);
  }
  CurrentArena()->execute([&] { tbb::parallel_sort(order.begin(), order.end()); });
  RfmGroups g;
  for (auto* v : {&g.id, &g.first, &g.last, &g.count}) v->resize(k);
  g.total.resize(amount.empty() ? 0 : k);
  ParallelBlocks(k, 1 << 14, [&](size_t, size_t lo, size_t hi) {
    for (size_t c = lo; c < hi; ++c) {
      const auto& [id, r] = *order[c].second;
      g.id[c] = id;
      g.first[c] = r.first;
      g.last[c] = r.last;
      g.count[c] = r.count;
      if (!amount.empty()) g.total[c] = r.total;
    }
  });
  return g;
}

absl::Status AggregateRfm(absl::Span<const int32_t> codes, absl::Span<const int64_t> time,
                          absl::Span<const double> amount, int64_t n_clients, int64_t now,
                          const RfmAggregates& out) {
  const size_t n = codes.size();
  TWINSCORE_CHECK_ARG(n > 0, "the transaction log is empty");
  TWINSCORE_CHECK_ARG(time.size() == n, "date has ", time.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(amount.empty() || amount.size() == n, "amount has ", amount.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(n_clients > 0, "n_clients must be > 0, got ", n_clients);
  const size_t k = static_cast<size_t>(n_clients);
  TWINSCORE_CHECK_ARG(out.first.size() == k && out.last.size() == k && out.count.size() == k &&
                          (amount.empty() || out.total.size() == k),
                      "output spans must hold n_clients = ", n_clients, " values");
  TWINSCORE_RETURN_IF_ERROR(CheckRows(codes, time, amount, n_clients, now));

  // Each task owns a range of clients and scans the whole log, keeping only
  // its own clients' rows: no shared writes, and every client's sum is taken
  // in log order, so the result does not depend on the thread count.
  const size_t parts = static_cast<size_t>(std::max(1, NumThreads()));
  const size_t per = (k + parts - 1) / parts;
  std::vector<double> carry(amount.empty() ? 0 : k, 0.0);
  ParallelBlocks(k, per, [&](size_t, size_t lo, size_t hi) {
    std::fill(out.first.begin() + lo, out.first.begin() + hi, std::numeric_limits<int64_t>::max());
    std::fill(out.last.begin() + lo, out.last.begin() + hi, std::numeric_limits<int64_t>::min());
    std::fill(out.count.begin() + lo, out.count.begin() + hi, 0);
    if (!amount.empty()) std::fill(out.total.begin() + lo, out.total.begin() + hi, 0.0);
    const uint32_t width = static_cast<uint32_t>(hi - lo);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t c = static_cast<uint32_t>(codes[i]) - static_cast<uint32_t>(lo);
      if (c >= width) continue;  // another task's client
      const size_t j = lo + c;
      const int64_t t = time[i];
      out.first[j] = std::min(out.first[j], t);
      out.last[j] = std::max(out.last[j], t);
      out.count[j] += 1;
      if (!amount.empty()) KahanAdd(amount[i], &out.total[j], &carry[j]);
    }
  });
  for (size_t j = 0; j < k; ++j) {
    TWINSCORE_CHECK_ARG(out.count[j] > 0, "client code ", j, " has no transaction");
  }
  return absl::OkStatus();
}

absl::Status QuantileScores(absl::Span<const double> values, int bins, absl::Span<int8_t> scores) {
  const size_t n = values.size();
  TWINSCORE_CHECK_ARG(bins >= 2 && bins <= 100, "bins must be in [2, 100], got ", bins);
  TWINSCORE_CHECK_ARG(scores.size() == n, "scores has ", scores.size(), " values, expected ", n);
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(!std::isnan(values[i]), "value at position ", i, " is NaN");
  }
  // Sort (value, position) pairs once, then walk the tie groups in order: a
  // group's L is the index of its first member. No per-value binary search
  // (a cache miss per step on a large table).
  std::vector<std::pair<double, uint32_t>> order(n);
  TWINSCORE_CHECK_ARG(n < (size_t{1} << 32), "more than 2^32 values to score");
  ParallelBlocks(n, 1 << 16, [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) order[i] = {values[i] + 0.0, static_cast<uint32_t>(i)};  // -0.0 == 0.0
  });
  CurrentArena()->execute([&] { tbb::parallel_sort(order.begin(), order.end()); });
  size_t lower = 0;
  for (size_t j = 0; j < n; ++j) {
    if (j > 0 && order[j].first != order[j - 1].first) lower = j;
    // Integer arithmetic: no rounding at the quantile boundaries.
    scores[order[j].second] = static_cast<int8_t>(1 + static_cast<uint64_t>(lower) * static_cast<uint64_t>(bins) / n);
  }
  return absl::OkStatus();
}

}  // namespace twinscore
