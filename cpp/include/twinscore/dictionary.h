// Categorical values -> dense integer codes, and category sets -> bitsets.
//
// Strings arrive as Arrow-style buffers (int64 offsets into a byte buffer, an
// optional validity mask), so pandas' Arrow-backed strings, pyarrow arrays and
// Parquet columns reach the engine without a copy and without the GIL.
//
// A Dictionary is learnt on one table and applied to new data: a known value
// gets its code in [0, size()), a null gets kMissingCode, and a value never
// seen at fit time gets other_code() == size() and is counted. Category sets
// use the same dictionary; their bitsets have size() + 1 bits per row, the
// last one standing for "some unseen category".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "twinscore/common.h"

namespace twinscore {

// n strings: string i is data[offsets[i], offsets[i+1]). `valid` is empty (all
// present) or holds n bytes, 0 for a null.
struct StringColumn {
  std::string name;
  absl::Span<const int64_t> offsets;  // n + 1
  absl::Span<const uint8_t> data;
  absl::Span<const uint8_t> valid;  // 0 or n

  int64_t size() const { return offsets.empty() ? 0 : static_cast<int64_t>(offsets.size()) - 1; }
  bool IsNull(int64_t i) const { return !valid.empty() && valid[i] == 0; }
  absl::string_view At(int64_t i) const {
    return absl::string_view(reinterpret_cast<const char*>(data.data()) + offsets[i],
                             static_cast<size_t>(offsets[i + 1] - offsets[i]));
  }
  // Offsets non-decreasing, within the data, masks of the right length.
  absl::Status Validate() const;
};

// Rows of a category-set column: row i holds items[list_offsets[i],
// list_offsets[i+1]). `list_valid` as in StringColumn; a null row is an empty set
// flagged missing.
struct ListColumn {
  absl::Span<const int64_t> list_offsets;  // n + 1
  absl::Span<const uint8_t> list_valid;    // 0 or n
  StringColumn items;

  int64_t size() const { return list_offsets.empty() ? 0 : static_cast<int64_t>(list_offsets.size()) - 1; }
  absl::Status Validate() const;
};

// Words of 64 bits needed per row for a set over `n_categories` values plus the
// "other" bit.
inline int64_t BitsetWords(int64_t n_categories) { return (n_categories + 1 + 63) / 64; }

class Dictionary {
 public:
  // The distinct non-null values of `column`, in byte order, so the codes do
  // not depend on row order or thread count.
  static absl::StatusOr<Dictionary> Learn(const StringColumn& column);
  // The distinct non-null items of a category-set column, in byte order.
  static absl::StatusOr<Dictionary> LearnSets(const ListColumn& column);
  // The given values, in the given order (for ordered bands such as age
  // bands); duplicates or nulls are an error.
  static absl::StatusOr<Dictionary> FromValues(const StringColumn& values);

  int32_t size() const { return static_cast<int32_t>(values_.size()); }
  int32_t other_code() const { return size(); }
  const std::vector<std::string>& values() const { return values_; }
  // Code of one value, or other_code().
  int32_t Lookup(absl::string_view value) const;

  // codes: column.size(). Returns the number of non-null values not in the
  // dictionary (coded other_code()).
  absl::StatusOr<int64_t> Encode(const StringColumn& column, absl::Span<int32_t> codes) const;

  // bits: column.size() * BitsetWords(size()), row-major; missing: size() bytes
  // set to 1 for a null row; unseen: empty, or size() counts of each row's
  // distinct unseen items (they share the "other" bit, but a set's size must
  // count each one). Returns the number of unseen items.
  absl::StatusOr<int64_t> EncodeSets(const ListColumn& column, absl::Span<uint64_t> bits,
                                     absl::Span<uint8_t> missing, absl::Span<int32_t> unseen = {}) const;

 private:
  explicit Dictionary(std::vector<std::string> values);
  std::vector<std::string> values_;
  absl::flat_hash_map<std::string, int32_t> index_;
};

// Packs an n x m 0/1 matrix (row-major bytes, any non-zero counts as 1) into
// bitsets of BitsetWords(m) words per row.
absl::Status PackBits(absl::Span<const uint8_t> matrix, int64_t n, int64_t m, absl::Span<uint64_t> bits);

}  // namespace twinscore
