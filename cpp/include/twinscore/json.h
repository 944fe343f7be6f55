// A bounded reader of JSON text and UBJSON (binary JSON), enough for the model
// files of the tree loaders.
//
// Both readers build the same document tree. Every length and count read from
// the input is checked against the bytes that remain before anything is
// allocated, nesting is limited, and any error is a Status naming the byte
// offset: a hostile file cannot make the reader crash, loop or allocate more
// than a small multiple of its own size.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "twinscore/common.h"

namespace twinscore::json {

// Deepest nesting of arrays/objects accepted (model files use about 6).
inline constexpr int kMaxDepth = 64;

// The document tree may hold at most this many times the input's size (plus
// kMemoryFloor bytes for tiny inputs), counting the transient old and new
// buffers of a growing array: a hostile file of nulls or empty arrays, one
// byte each in the file but a whole Value each in memory, is refused instead
// of taking the process's memory. With the file's own bytes, the reader then
// holds at most about 10 times the file. Model files need 1-3 times their
// size (their numbers are stored as flat doubles).
inline constexpr size_t kMaxMemoryFactor = 8;
inline constexpr size_t kMemoryFloor = size_t{1} << 20;

struct Value {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject, kNumbers };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> items;                             // kArray
  std::vector<std::pair<std::string, Value>> members;   // kObject, in file order
  std::vector<double> numbers;                          // kNumbers: an array of numbers/bools

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray || kind == Kind::kNumbers; }
  // Items of an array (either form).
  size_t size() const { return kind == Kind::kNumbers ? numbers.size() : items.size(); }
  // The member named `key`, or nullptr (also when this is not an object).
  const Value* Find(absl::string_view key) const;
};

// Bytes a document tree holds on the heap (its vectors' and strings'
// capacities), as the parsers charge them against the memory bound.
size_t Footprint(const Value& v);

// Parses JSON text (RFC 8259; numbers as doubles).
absl::StatusOr<Value> ParseJson(absl::string_view text);

// Parses UBJSON (Draft 12: markers { [ } ] $ # i U I l L d D S C H T F Z N,
// big-endian), including typed and counted containers.
absl::StatusOr<Value> ParseUbjson(absl::string_view bytes);

}  // namespace twinscore::json
