// Small builders shared by the C++ tests.
#pragma once

#include <string>
#include <vector>

#include "twinscore/dictionary.h"

namespace twinscore::testing {

// Owns Arrow-style buffers for a list of strings; "\x01null" stands for a null.
struct OwnedStrings {
  std::vector<int64_t> offsets{0};
  std::string bytes;
  std::vector<uint8_t> valid;

  explicit OwnedStrings(const std::vector<std::string>& values, bool with_nulls = false) {
    for (const auto& v : values) {
      const bool is_null = with_nulls && v == "\x01null";
      if (!is_null) bytes += v;
      offsets.push_back(static_cast<int64_t>(bytes.size()));
      if (with_nulls) valid.push_back(is_null ? 0 : 1);
    }
  }
  StringColumn View(const std::string& name = "col") const {
    return StringColumn{name, offsets,
                        absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                        valid};
  }
};

}  // namespace twinscore::testing
