#include "twinscore/dictionary.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kRowBlock = 1 << 15;

using ViewSet = absl::flat_hash_set<absl::string_view>;

// Distinct non-null values of items [begin, end) of a string column.
void CollectDistinct(const StringColumn& c, int64_t begin, int64_t end, ViewSet& out) {
  for (int64_t i = begin; i < end; ++i) {
    if (!c.IsNull(i)) out.insert(c.At(i));
  }
}

// Merges per-block sets in block order and sorts: the result depends on the
// values only.
std::vector<std::string> SortedUnion(std::vector<ViewSet>& parts) {
  ViewSet all;
  for (auto& p : parts) {
    all.insert(p.begin(), p.end());
    ViewSet().swap(p);
  }
  std::vector<absl::string_view> sorted(all.begin(), all.end());
  std::sort(sorted.begin(), sorted.end());
  return std::vector<std::string>(sorted.begin(), sorted.end());
}

absl::Status CheckSize(size_t n, const std::string& name) {
  TWINSCORE_CHECK_ARG(n < static_cast<size_t>(std::numeric_limits<int32_t>::max()), "column '", name,
                      "' has more than 2^31 distinct values");
  return absl::OkStatus();
}

}  // namespace

absl::Status StringColumn::Validate() const {
  TWINSCORE_CHECK_ARG(!offsets.empty(), "column '", name, "': string offsets are empty");
  const int64_t n = size();
  TWINSCORE_CHECK_ARG(valid.empty() || static_cast<int64_t>(valid.size()) == n, "column '", name,
                      "': validity mask has ", valid.size(), " entries for ", n, " rows");
  TWINSCORE_CHECK_ARG(offsets[0] >= 0, "column '", name, "': negative string offset");
  TWINSCORE_CHECK_ARG(offsets[n] <= static_cast<int64_t>(data.size()), "column '", name,
                      "': string offsets run past the data buffer");
  // One pass, in parallel; the first bad row in row order is reported.
  return ParallelBlocksStatus(n, kRowBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(offsets[i] <= offsets[i + 1], "column '", name, "': string offsets decrease at row ", i);
    }
    return absl::OkStatus();
  });
}

absl::Status ListColumn::Validate() const {
  TWINSCORE_RETURN_IF_ERROR(items.Validate());
  TWINSCORE_CHECK_ARG(!list_offsets.empty(), "column '", items.name, "': list offsets are empty");
  const int64_t n = size();
  TWINSCORE_CHECK_ARG(list_valid.empty() || static_cast<int64_t>(list_valid.size()) == n, "column '",
                      items.name, "': validity mask has ", list_valid.size(), " entries for ", n, " rows");
  TWINSCORE_CHECK_ARG(list_offsets[0] >= 0 && list_offsets[n] <= items.size(), "column '", items.name,
                      "': list offsets run past the items");
  return ParallelBlocksStatus(n, kRowBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(list_offsets[i] <= list_offsets[i + 1], "column '", items.name,
                          "': list offsets decrease at row ", i);
    }
    return absl::OkStatus();
  });
}

Dictionary::Dictionary(std::vector<std::string> values) : values_(std::move(values)) {
  index_.reserve(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) index_.emplace(values_[i], static_cast<int32_t>(i));
}

absl::StatusOr<Dictionary> Dictionary::Learn(const StringColumn& column) {
  TWINSCORE_RETURN_IF_ERROR(column.Validate());
  std::vector<ViewSet> parts(NumBlocks(column.size(), kRowBlock));
  ParallelBlocks(column.size(), kRowBlock,
                 [&](size_t b, size_t begin, size_t end) { CollectDistinct(column, begin, end, parts[b]); });
  auto values = SortedUnion(parts);
  TWINSCORE_RETURN_IF_ERROR(CheckSize(values.size(), column.name));
  return Dictionary(std::move(values));
}

absl::StatusOr<Dictionary> Dictionary::LearnSets(const ListColumn& column) {
  TWINSCORE_RETURN_IF_ERROR(column.Validate());
  // Items of null rows are not part of any set.
  const auto& lo = column.list_offsets;
  std::vector<ViewSet> parts(NumBlocks(column.size(), kRowBlock));
  ParallelBlocks(column.size(), kRowBlock, [&](size_t b, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (!column.list_valid.empty() && column.list_valid[i] == 0) continue;
      CollectDistinct(column.items, lo[i], lo[i + 1], parts[b]);
    }
  });
  auto values = SortedUnion(parts);
  TWINSCORE_RETURN_IF_ERROR(CheckSize(values.size(), column.items.name));
  return Dictionary(std::move(values));
}

absl::StatusOr<Dictionary> Dictionary::FromValues(const StringColumn& values) {
  TWINSCORE_RETURN_IF_ERROR(values.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckSize(values.size(), values.name));
  std::vector<std::string> out;
  out.reserve(values.size());
  absl::flat_hash_set<absl::string_view> seen;
  for (int64_t i = 0; i < values.size(); ++i) {
    TWINSCORE_CHECK_ARG(!values.IsNull(i), "categories of '", values.name, "' hold a null at position ", i);
    TWINSCORE_CHECK_ARG(seen.insert(values.At(i)).second, "categories of '", values.name, "' repeat the value '",
                        values.At(i), "'");
    out.emplace_back(values.At(i));
  }
  return Dictionary(std::move(out));
}

int32_t Dictionary::Lookup(absl::string_view value) const {
  auto it = index_.find(value);
  return it == index_.end() ? other_code() : it->second;
}

absl::StatusOr<int64_t> Dictionary::Encode(const StringColumn& column, absl::Span<int32_t> codes) const {
  TWINSCORE_RETURN_IF_ERROR(column.Validate());
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(codes.size()) == column.size(), "column '", column.name, "': ",
                      codes.size(), " codes for ", column.size(), " rows");
  std::vector<int64_t> unseen(NumBlocks(column.size(), kRowBlock), 0);
  ParallelBlocks(column.size(), kRowBlock, [&](size_t b, size_t begin, size_t end) {
    int64_t miss = 0;
    for (size_t i = begin; i < end; ++i) {
      if (column.IsNull(i)) {
        codes[i] = kMissingCode;
        continue;
      }
      const int32_t c = Lookup(column.At(i));
      miss += c == other_code();
      codes[i] = c;
    }
    unseen[b] = miss;
  });
  int64_t total = 0;
  for (int64_t u : unseen) total += u;
  return total;
}

absl::StatusOr<int64_t> Dictionary::EncodeSets(const ListColumn& column, absl::Span<uint64_t> bits,
                                               absl::Span<uint8_t> missing, absl::Span<int32_t> unseen_counts) const {
  TWINSCORE_RETURN_IF_ERROR(column.Validate());
  const int64_t n = column.size();
  const int64_t words = BitsetWords(size());
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(bits.size()) == n * words, "column '", column.items.name, "': ",
                      bits.size(), " bitset words for ", n, " rows of ", words);
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(missing.size()) == n, "column '", column.items.name,
                      "': missing mask of ", missing.size(), " for ", n, " rows");
  TWINSCORE_CHECK_ARG(unseen_counts.empty() || static_cast<int64_t>(unseen_counts.size()) == n, "column '",
                      column.items.name, "': unseen counts of ", unseen_counts.size(), " for ", n, " rows");
  const auto& lo = column.list_offsets;
  std::vector<int64_t> unseen(NumBlocks(n, kRowBlock), 0);
  ParallelBlocks(n, kRowBlock, [&](size_t b, size_t begin, size_t end) {
    int64_t miss = 0;
    std::vector<absl::string_view> others;  // this row's unseen items, to count the distinct ones
    for (size_t i = begin; i < end; ++i) {
      uint64_t* row = bits.data() + i * words;
      std::fill(row, row + words, uint64_t{0});
      const bool is_null = !column.list_valid.empty() && column.list_valid[i] == 0;
      missing[i] = is_null;
      others.clear();
      for (int64_t j = lo[i]; !is_null && j < lo[i + 1]; ++j) {
        if (column.items.IsNull(j)) continue;  // a null item carries no category
        const absl::string_view item = column.items.At(j);
        const int32_t c = Lookup(item);
        if (c == other_code()) others.push_back(item);
        row[c >> 6] |= uint64_t{1} << (c & 63);
      }
      miss += static_cast<int64_t>(others.size());
      if (unseen_counts.empty()) continue;
      // A set holds each item once: "x" twice is one unseen category, "x" and "y" two.
      std::sort(others.begin(), others.end());
      unseen_counts[i] = static_cast<int32_t>(std::unique(others.begin(), others.end()) - others.begin());
    }
    unseen[b] = miss;
  });
  int64_t total = 0;
  for (int64_t u : unseen) total += u;
  return total;
}

absl::Status PackBits(absl::Span<const uint8_t> matrix, int64_t n, int64_t m, absl::Span<uint64_t> bits) {
  TWINSCORE_CHECK_ARG(n >= 0 && m >= 0 && static_cast<int64_t>(matrix.size()) == n * m, "0/1 matrix of ",
                      matrix.size(), " values is not ", n, " x ", m);
  const int64_t words = BitsetWords(m);
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(bits.size()) == n * words, "bitsets: ", bits.size(),
                      " words for ", n, " rows of ", words);
  ParallelBlocks(n, kRowBlock, [&](size_t, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const uint8_t* in = matrix.data() + i * m;
      uint64_t* row = bits.data() + i * words;
      std::fill(row, row + words, uint64_t{0});
      for (int64_t j = 0; j < m; ++j) row[j >> 6] |= uint64_t{in[j] != 0} << (j & 63);
    }
  });
  return absl::OkStatus();
}

}  // namespace twinscore
