#include "twinscore/rfm.h"

#include <sys/mman.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>

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

// NumPy's NaT: the smallest int64 marks a missing date.
constexpr int64_t kMissingTime = std::numeric_limits<int64_t>::min();

absl::Status CheckRows(absl::Span<const int32_t> codes, absl::Span<const int64_t> time,
                       absl::Span<const double> amount, int64_t n_clients, int64_t now) {
  constexpr size_t kBlock = 1 << 16;
  return ParallelBlocksStatus(codes.size(), kBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(codes[i] >= 0 && codes[i] < n_clients, "client code ", codes[i], " at row ", i,
                          " is outside [0, ", n_clients, ")");
      TWINSCORE_CHECK_ARG(time[i] != kMissingTime, "missing date at row ", i, " (NaT)");
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

// A double's bits mapped so that unsigned order is the value order (NaN
// excluded; -0 sorts just before +0, which compare equal: the m-th key is
// then still a value equal to the m-th smallest value).
inline uint64_t OrderKey(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u >> 63) ? ~u : (u | (uint64_t{1} << 63));
}

inline double FromOrderKey(uint64_t k) {
  const uint64_t u = (k >> 63) ? (k & ~(uint64_t{1} << 63)) : ~k;
  double v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

constexpr int kRadixBits = 16;  // the histogram (256 KiB) stays in L2

// The (m_j)-th smallest values, m_j = ceil(j * n / bins) for j = 1..bins-1
// (non-decreasing: the score cuts of QuantileScores), by a radix select: a
// histogram of the keys' top 16 bits tells in which bucket each cut lies, one
// more pass copies the keys of those few buckets, and a selection inside each
// bucket finds the cut. Two passes over the values instead of bins - 1
// selections over a copy of all of them. Fails on a NaN.
absl::StatusOr<std::vector<double>> QuantileCuts(absl::Span<const double> values, int bins) {
  const size_t n = values.size();
  std::vector<uint32_t> hist(size_t{1} << kRadixBits, 0);
  bool nan = false;
  for (double v : values) {
    nan |= std::isnan(v);
    ++hist[OrderKey(v) >> (64 - kRadixBits)];
  }
  if (nan) {
    for (size_t i = 0; i < n; ++i) TWINSCORE_CHECK_ARG(!std::isnan(values[i]), "value at position ", i, " is NaN");
  }
  // Each cut's bucket and its rank inside the bucket; the distinct buckets
  // (at most bins - 1) get a slot, in increasing order.
  constexpr uint8_t kNoSlot = 0xFF;
  std::vector<uint8_t> slot_of(hist.size(), kNoSlot);
  std::vector<size_t> slot_bucket, cut_slot, cut_rank;
  size_t bucket = 0, below = 0;  // values in buckets < bucket
  for (size_t j = 1; j < static_cast<size_t>(bins); ++j) {
    const size_t m = (j * n + static_cast<size_t>(bins) - 1) / static_cast<size_t>(bins) - 1;  // 0-based
    while (below + hist[bucket] <= m) below += hist[bucket++];
    if (slot_of[bucket] == kNoSlot) {
      slot_of[bucket] = static_cast<uint8_t>(slot_bucket.size());
      slot_bucket.push_back(bucket);
    }
    cut_slot.push_back(slot_of[bucket]);
    cut_rank.push_back(m - below);
  }
  std::vector<std::vector<uint64_t>> keys(slot_bucket.size());
  for (size_t s = 0; s < keys.size(); ++s) keys[s].reserve(hist[slot_bucket[s]]);
  for (double v : values) {
    const uint64_t k = OrderKey(v);
    const uint8_t s = slot_of[k >> (64 - kRadixBits)];
    if (s != kNoSlot) keys[s].push_back(k);
  }
  // Cuts of one bucket come in increasing rank: each selection works on the
  // part above the previous one.
  std::vector<size_t> done(keys.size(), 0);
  std::vector<double> cut(cut_rank.size());
  for (size_t j = 0; j < cut.size(); ++j) {
    std::vector<uint64_t>& w = keys[cut_slot[j]];
    const size_t r = cut_rank[j];
    size_t& d = done[cut_slot[j]];
    if (r + 1 > d) {  // else r is the previous cut's rank (n < bins)
      std::nth_element(w.begin() + static_cast<std::ptrdiff_t>(d), w.begin() + static_cast<std::ptrdiff_t>(r), w.end());
      d = r + 1;
    }
    cut[j] = FromOrderKey(w[r]);
  }
  return cut;
}

// Multiplicative hash of a client id. A bijection of the 64-bit integers: its
// top bits choose the partition, the bits below them the table slot.
inline uint64_t HashId(int64_t id) { return static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull; }

// One log row as the partition pass lays it out: 32 bytes, two per cache line,
// so the aggregation reads each partition as one sequential stream.
struct PartRow {
  int64_t id, time;
  double amount;
  uint32_t row, unused;
};

// One client's running aggregates while its partition is aggregated.
struct Group {
  int64_t id, first, last;
  double total, carry;
  uint32_t count, first_row;
};

// log2 of the number of partitions: about 16K rows per partition (its
// clients' table then stays in L2), at most 1024 (the scatter's write
// streams), and a function of n only, so the layout does not depend on the
// thread count.
int PartitionBits(size_t n) {
  int bits = 0;
  while (bits < 10 && (n >> (bits + 14)) > 0) ++bits;
  return bits;
}

inline uint32_t PartitionOf(uint64_t h, int bits) { return static_cast<uint32_t>((h >> (63 - bits)) >> 1); }

constexpr size_t kPartBlock = size_t{1} << 16;  // rows per block of the partition pass

// Rows of each block by partition: hist[b * parts + p].
std::vector<uint32_t> PartitionHistogram(absl::Span<const int64_t> ids, int bits) {
  const size_t parts = size_t{1} << bits;
  std::vector<uint32_t> hist(NumBlocks(ids.size(), kPartBlock) * parts, 0);
  ParallelBlocks(ids.size(), kPartBlock, [&](size_t b, size_t lo, size_t hi) {
    uint32_t* h = hist.data() + b * parts;
    for (size_t i = lo; i < hi; ++i) ++h[PartitionOf(HashId(ids[i]), bits)];
  });
  return hist;
}

// The first bad row of [lo, hi): a missing date, a date after now, a negative or non-finite amount.
absl::Status FirstBadRow(absl::Span<const int64_t> time, absl::Span<const double> amount, int64_t now, size_t lo,
                         size_t hi) {
  for (size_t i = lo; i < hi; ++i) {
    TWINSCORE_CHECK_ARG(time[i] != kMissingTime, "missing date at row ", i, " (NaT)");
    TWINSCORE_CHECK_ARG(time[i] <= now, "date at row ", i, " is after now (", time[i], " > ", now, ")");
    if (!amount.empty()) {
      TWINSCORE_CHECK_ARG(std::isfinite(amount[i]) && amount[i] >= 0.0, "amount at row ", i,
                          " must be finite and >= 0, got ", amount[i]);
    }
  }
  return absl::OkStatus();
}

// Turns the histogram into each block's first write position per partition
// (partition p holds its rows of block 0, then of block 1, ...: the log
// order); returns where each partition begins (parts + 1 values).
std::vector<size_t> PartitionOffsets(std::vector<uint32_t>& hist, size_t parts) {
  const size_t blocks = hist.size() / parts;
  std::vector<size_t> start(parts + 1, 0);
  uint32_t at = 0;
  for (size_t p = 0; p < parts; ++p) {
    start[p] = at;
    for (size_t b = 0; b < blocks; ++b) {
      const uint32_t c = hist[b * parts + p];
      hist[b * parts + p] = at;
      at += c;
    }
  }
  start[parts] = at;
  return start;
}

// A cache line of two rows, staged before it is written to its partition.
struct alignas(64) Line {
  PartRow row[2];
};

// Writes a full staged line to `dst` (64-byte aligned) without reading it
// first: non-temporal stores skip the read-for-ownership of a line that is
// wholly overwritten, and keep the partitions from evicting the staging lines.
inline void StreamLine(const Line& line, PartRow* dst) {
#if defined(__SSE2__)
  const __m128i* src = reinterpret_cast<const __m128i*>(&line);
  __m128i* out = reinterpret_cast<__m128i*>(dst);
  for (int q = 0; q < 4; ++q) _mm_stream_si128(out + q, _mm_load_si128(src + q));
#else
  dst[0] = line.row[0];
  dst[1] = line.row[1];
#endif
}

// Scatters the rows into their partitions at the offsets of PartitionOffsets,
// checking every row on the way. Rows are staged per partition in a line
// (software write-combining): a row at an odd position completes the line
// with its even neighbour, which goes out in one aligned 64-byte write; rows
// whose neighbour belongs to another block are stored singly.
absl::Status ScatterRows(absl::Span<const int64_t> ids, absl::Span<const int64_t> time,
                         absl::Span<const double> amount, int64_t now, int bits,
                         const std::vector<uint32_t>& offsets, PartRow* rows) {
  const size_t parts = size_t{1} << bits;
  return ParallelBlocksStatus(ids.size(), kPartBlock, [&](size_t b, size_t lo, size_t hi) -> absl::Status {
    const uint32_t* begin = offsets.data() + b * parts;
    std::vector<uint32_t> at(begin, begin + parts);
    std::unique_ptr<Line[]> stage(new Line[parts]);
    bool bad = false;
    for (size_t i = lo; i < hi; ++i) {
      const int64_t id = ids[i], t = time[i];
      const double a = amount.empty() ? 0.0 : amount[i];
      bad |= (t > now) | (t == kMissingTime) | !(a >= 0.0 && a <= std::numeric_limits<double>::max());
      const uint32_t p = PartitionOf(HashId(id), bits);
      const uint32_t c = at[p]++;
      Line& line = stage[p];
      line.row[c & 1] = PartRow{id, t, a, static_cast<uint32_t>(i), 0};
      if (c & 1) {
        if (c > begin[p]) {
          StreamLine(line, rows + (c - 1));
        } else {
          rows[c] = line.row[1];  // the even neighbour is another block's row
        }
      }
    }
    for (size_t p = 0; p < parts; ++p) {  // a last row at an even position waits in its line
      if ((at[p] & 1) && at[p] - 1 >= begin[p]) rows[at[p] - 1] = stage[p].row[0];
    }
#if defined(__SSE2__)
    _mm_sfence();  // the streamed lines are visible before the aggregation reads them
#endif
    return bad ? FirstBadRow(time, amount, now, lo, hi) : absl::OkStatus();
  });
}

// The partitioned copy of the log, uninitialised (the scatter writes every
// row), in 2 MiB pages where the kernel offers them: a 10M-row log is 320 MB,
// and 4 KiB pages would cost a page fault and a TLB miss every 128 rows.
//
// Fresh pages cost the kernel ~0.1 s per GB to zero on first touch (a third
// of the grouping of a 10M-row log), so the buffer of a finished call is kept
// for the next one (at most one buffer, of at most kKeepBytes): repeated calls
// on logs of similar size (a notebook, a batch of segments) reuse it warm.
class RowBuffer {
 public:
  explicit RowBuffer(size_t n) : bytes_(RoundUp(n * sizeof(PartRow))) {
    Cache& c = TheCache();
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      if (c.block && c.bytes >= bytes_) {
        ptr_ = std::move(c.block);
        bytes_ = c.bytes;
        return;
      }
    }
    ptr_.reset(static_cast<PartRow*>(std::aligned_alloc(kHuge, bytes_)));
    if (!ptr_) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(ptr_.get(), bytes_, MADV_HUGEPAGE);  // advice only: ignored where unsupported
#endif
  }
  ~RowBuffer() {
    if (bytes_ > kKeepBytes) return;
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (!c.block || c.bytes < bytes_) {  // keep the larger buffer (the old one is freed)
      c.block = std::move(ptr_);
      c.bytes = bytes_;
    }
  }
  RowBuffer(const RowBuffer&) = delete;
  RowBuffer& operator=(const RowBuffer&) = delete;
  PartRow* data() { return ptr_.get(); }

 private:
  static constexpr size_t kHuge = size_t{2} << 20;
  static constexpr size_t kKeepBytes = size_t{1} << 30;
  struct Free {
    void operator()(PartRow* p) const { std::free(p); }
  };
  using Block = std::unique_ptr<PartRow, Free>;
  struct Cache {
    std::mutex mutex;
    Block block;
    size_t bytes = 0;
  };
  static Cache& TheCache() {
    static Cache cache;  // freed at exit
    return cache;
  }
  static size_t RoundUp(size_t bytes) { return (bytes + kHuge - 1) / kHuge * kHuge; }
  size_t bytes_;
  Block ptr_;
};

// Aggregates one partition's rows (in log order) into its clients, in order
// of first appearance. The open-addressing table holds each client's id
// beside its group index (a probe reads one 16-byte slot, no second load) and
// grows by doubling, so it stays as small as the partition's clients.
class PartitionAggregator {
 public:
  explicit PartitionAggregator(int bits) : bits_(bits) { Resize(6); }

  void Run(absl::Span<const PartRow> rows, bool with_amount, std::vector<Group>& groups) {
    for (const PartRow& r : rows) {
      size_t s = Probe(r.id);
      if (slots_[s].group < 0) {
        if (2 * (groups.size() + 1) > slots_.size()) {  // keep the load under 1/2
          Resize(tbits_ + 1);
          for (size_t g = 0; g < groups.size(); ++g) slots_[Probe(groups[g].id)] = {groups[g].id, static_cast<int32_t>(g)};
          s = Probe(r.id);
        }
        slots_[s] = {r.id, static_cast<int32_t>(groups.size())};
        groups.push_back(Group{r.id, r.time, r.time, 0.0, 0.0, 0, r.row});
      }
      Group& g = groups[static_cast<size_t>(slots_[s].group)];
      g.first = std::min(g.first, r.time);
      g.last = std::max(g.last, r.time);
      g.count += 1;
      if (with_amount) KahanAdd(r.amount, &g.total, &g.carry);
    }
  }

 private:
  struct Slot {
    int64_t id;
    int32_t group;  // -1: empty
  };
  void Resize(int tbits) {
    tbits_ = tbits;
    slots_.assign(size_t{1} << tbits, Slot{0, -1});
  }
  size_t Probe(int64_t id) const {
    const size_t mask = slots_.size() - 1;
    size_t s = static_cast<size_t>((HashId(id) << bits_) >> (64 - tbits_));  // the bits below the partition's
    while (slots_[s].group >= 0 && slots_[s].id != id) s = (s + 1) & mask;
    return s;
  }
  int bits_, tbits_ = 0;
  std::vector<Slot> slots_;
};

// Output position of every client: the rank of its first row among all
// clients' first rows (a bitmap of first rows, then prefix popcounts).
class FirstRowRanks {
 public:
  explicit FirstRowRanks(size_t n) : words_((n + 63) / 64), bits_(new std::atomic<uint64_t>[words_]()) {}
  void Mark(uint32_t row) { bits_[row >> 6].fetch_or(uint64_t{1} << (row & 63), std::memory_order_relaxed); }
  void Finish() {
    before_.resize(words_);
    uint32_t total = 0;
    for (size_t w = 0; w < words_; ++w) {
      before_[w] = total;
      total += static_cast<uint32_t>(__builtin_popcountll(bits_[w].load(std::memory_order_relaxed)));
    }
  }
  size_t Rank(uint32_t row) const {
    const uint64_t below = bits_[row >> 6].load(std::memory_order_relaxed) & ((uint64_t{1} << (row & 63)) - 1);
    return before_[row >> 6] + static_cast<size_t>(__builtin_popcountll(below));
  }

 private:
  size_t words_;
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;
  std::vector<uint32_t> before_;
};

}  // namespace

absl::StatusOr<RfmGroups> AggregateRfmById(absl::Span<const int64_t> ids, absl::Span<const int64_t> time,
                                           absl::Span<const double> amount, int64_t now) {
  const size_t n = ids.size();
  TWINSCORE_CHECK_ARG(n > 0, "the transaction log is empty");
  TWINSCORE_CHECK_ARG(n < (size_t{1} << 32), "more than 2^32-1 transactions");
  TWINSCORE_CHECK_ARG(time.size() == n, "date has ", time.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(amount.empty() || amount.size() == n, "amount has ", amount.size(), " values, expected ", n);
  // Radix-partition the rows by id hash (stable, so each client's rows stay in
  // log order), then aggregate each partition in a cache-resident table: no
  // random access into a table of all clients. Partition boundaries depend on
  // n only, and every client's rows are added in log order, so the result does
  // not depend on the thread count.
  const int bits = PartitionBits(n);
  const size_t parts = size_t{1} << bits;
  std::vector<uint32_t> offsets = PartitionHistogram(ids, bits);
  const std::vector<size_t> start = PartitionOffsets(offsets, parts);
  RowBuffer rows(n);
  TWINSCORE_RETURN_IF_ERROR(ScatterRows(ids, time, amount, now, bits, offsets, rows.data()));

  std::vector<std::vector<Group>> groups(parts);
  FirstRowRanks ranks(n);
  ParallelBlocks(parts, 1, [&](size_t p, size_t, size_t) {
    PartitionAggregator(bits).Run(absl::MakeConstSpan(rows.data() + start[p], start[p + 1] - start[p]),
                                  !amount.empty(), groups[p]);
    for (const Group& g : groups[p]) ranks.Mark(g.first_row);
  });
  ranks.Finish();
  size_t k = 0;
  for (const auto& gp : groups) k += gp.size();
  RfmGroups g;
  for (auto* v : {&g.id, &g.first, &g.last, &g.count}) v->resize(k);
  g.total.resize(amount.empty() ? 0 : k);
  // Output placement. Writing each client's five values at its rank would be
  // five random writes per client (5M cache misses past L3 at 1M clients);
  // instead each client writes one pointer at its rank (an array that stays
  // in L3), then the outputs are filled in order, each client's group read
  // once (prefetched a few clients ahead) and every output written in sequence.
  std::vector<const Group*> by_rank(k);
  ParallelBlocks(parts, 1, [&](size_t p, size_t, size_t) {
    for (const Group& c : groups[p]) by_rank[ranks.Rank(c.first_row)] = &c;
  });
  constexpr size_t kAhead = 16;
  ParallelBlocks(k, size_t{1} << 14, [&](size_t, size_t lo, size_t hi) {
    for (size_t at = lo; at < hi; ++at) {
      if (at + kAhead < hi) {  // a Group may straddle two cache lines
        __builtin_prefetch(by_rank[at + kAhead]);
        __builtin_prefetch(reinterpret_cast<const char*>(by_rank[at + kAhead]) + sizeof(Group) - 1);
      }
      const Group& c = *by_rank[at];
      g.id[at] = c.id;
      g.first[at] = c.first;
      g.last[at] = c.last;
      g.count[at] = c.count;
      if (!amount.empty()) g.total[at] = c.total;
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
  if (n == 0) return absl::OkStatus();
  // score = 1 + floor(bins * L / n) >= j + 1  <=>  L >= m_j = ceil(j * n / bins)
  // <=>  v > the m_j-th smallest value (at least m_j values lie below v). So
  // the scores need only bins - 1 order statistics (a radix select: linear
  // time, no sort), then one comparison pass.
  absl::StatusOr<std::vector<double>> cuts = QuantileCuts(values, bins);
  if (!cuts.ok()) return cuts.status();
  const std::vector<double>& cut = *cuts;
  ParallelBlocks(n, 1 << 16, [&](size_t, size_t lo, size_t hi) {
    if (cut.size() <= 8) {
      for (size_t i = lo; i < hi; ++i) {
        int above = 0;  // branch-free: the compiler unrolls and vectorises over i
        for (double c : cut) above += values[i] > c;
        scores[i] = static_cast<int8_t>(1 + above);
      }
    } else {
      for (size_t i = lo; i < hi; ++i) {
        const auto below = std::lower_bound(cut.begin(), cut.end(), values[i]);
        scores[i] = static_cast<int8_t>(1 + (below - cut.begin()));
      }
    }
  });
  return absl::OkStatus();
}

absl::Status QuantileScoresColumns(absl::Span<const absl::Span<const double>> columns, int bins,
                                   absl::Span<const absl::Span<int8_t>> scores) {
  TWINSCORE_CHECK_ARG(scores.size() == columns.size(), "got ", scores.size(), " score spans for ", columns.size(),
                      " columns");
  // The selection of each column is serial (nth_element): one task per column
  // keeps both cores busy; each column's comparison pass is parallel inside.
  return ParallelBlocksStatus(columns.size(), 1, [&](size_t c, size_t, size_t) {
    return QuantileScores(columns[c], bins, scores[c]);
  });
}

}  // namespace twinscore
