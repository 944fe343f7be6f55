// JSON text and UBJSON readers: recursive descent with a depth limit; every
// count is checked against the remaining input before it sizes anything.
#include "twinscore/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace twinscore::json {

const Value* Value::Find(absl::string_view key) const {
  if (kind != Kind::kObject) return nullptr;
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

absl::Status Error(size_t pos, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed model file at byte ", pos, ": ", what));
}

// What a string holds on the heap (none while it fits in the object itself).
size_t HeapBytes(const std::string& s) { return s.capacity() > sizeof(std::string) ? s.capacity() : 0; }

// The document tree under construction, with its memory bound: every vector
// growth and every string is charged against a budget proportional to the
// input, so that no input can make the tree much larger than itself.
class Builder {
 public:
  explicit Builder(size_t input_size) : left_(kMaxMemoryFactor * input_size + kMemoryFloor) {}

 protected:
  absl::Status Charge(size_t bytes, size_t pos) {
    if (bytes > left_) {
      return Error(pos, absl::StrCat("the document would take more than ", kMaxMemoryFactor,
                                     " times the file's size in memory"));
    }
    left_ -= bytes;
    return absl::OkStatus();
  }

  // Appends, growing the vector by doubling itself: the new buffer is charged
  // before it is allocated, while the old one is still held (both live during
  // the move), and the old one is credited back once freed.
  template <class V, class T>
  absl::Status Push(V& v, T&& item, size_t pos) {
    constexpr size_t kItem = sizeof(typename V::value_type);
    if (v.size() == v.capacity()) {
      const size_t old_capacity = v.capacity(), new_capacity = std::max<size_t>(4, 2 * old_capacity);
      TWINSCORE_RETURN_IF_ERROR(Charge(new_capacity * kItem, pos));
      v.reserve(new_capacity);
      left_ += old_capacity * kItem;
    }
    v.push_back(std::forward<T>(item));
    return absl::OkStatus();
  }

  absl::Status ChargeString(const std::string& s, size_t pos) { return Charge(HeapBytes(s), pos); }

  // An array whose items are all numbers (or booleans) is kept as a flat
  // vector of doubles: model arrays are long and a Value per item would be
  // wasteful.
  absl::Status AppendItem(Value& array, Value item, size_t pos) {
    if (array.kind == Value::Kind::kNumbers) {
      if (item.kind == Value::Kind::kNumber || item.kind == Value::Kind::kBool) {
        return Push(array.numbers, item.kind == Value::Kind::kBool ? double(item.boolean) : item.number, pos);
      }
      // A mixed array: fall back to one Value per item.
      array.kind = Value::Kind::kArray;
      TWINSCORE_RETURN_IF_ERROR(Charge((array.numbers.size() + 1) * sizeof(Value), pos));
      array.items.reserve(array.numbers.size() + 1);
      for (double d : array.numbers) {
        Value v;
        v.kind = Value::Kind::kNumber;
        v.number = d;
        array.items.push_back(std::move(v));
      }
      left_ += array.numbers.capacity() * sizeof(double);
      array.numbers.clear();
      array.numbers.shrink_to_fit();
      const size_t reserved = array.items.capacity();
      array.items.push_back(std::move(item));
      return Charge((array.items.capacity() - reserved) * sizeof(Value), pos);
    }
    return Push(array.items, std::move(item), pos);
  }

  absl::Status AddMember(Value& object, std::string key, Value v, size_t pos) {
    return Push(object.members, std::make_pair(std::move(key), std::move(v)), pos);
  }

 private:
  size_t left_;
};

// ---------------------------------------------------------------- JSON text

class TextParser : Builder {
 public:
  explicit TextParser(absl::string_view s) : Builder(s.size()), s_(s) {}

  absl::StatusOr<Value> Document() {
    Value v;
    TWINSCORE_RETURN_IF_ERROR(Parse(v, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error(pos_, "unexpected data after the JSON document");
    return v;
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }

  absl::Status Parse(Value& out, int depth) {
    if (depth > kMaxDepth) return Error(pos_, "nesting deeper than the limit");
    SkipSpace();
    if (pos_ >= s_.size()) return Error(pos_, "unexpected end of input");
    const char c = s_[pos_];
    switch (c) {
      case '{': return Object(out, depth);
      case '[': return Array(out, depth);
      case '"':
        out.kind = Value::Kind::kString;
        TWINSCORE_RETURN_IF_ERROR(String(out.string));
        return ChargeString(out.string, pos_);
      case 't': return Literal("true", out, Value::Kind::kBool, true);
      case 'f': return Literal("false", out, Value::Kind::kBool, false);
      case 'n': return Literal("null", out, Value::Kind::kNull, false);
      default: return Number(out);
    }
  }

  absl::Status Literal(absl::string_view word, Value& out, Value::Kind kind, bool b) {
    if (s_.substr(pos_, word.size()) != word) return Error(pos_, "invalid literal");
    pos_ += word.size();
    out.kind = kind;
    out.boolean = b;
    return absl::OkStatus();
  }

  absl::Status Number(Value& out) {
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                s_[pos_] == '+' || s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
    }
    if (pos_ == start) return Error(pos_, absl::StrCat("unexpected character '", s_.substr(pos_, 1), "'"));
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (*first == '+') return Error(start, "a number cannot start with '+'");
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars leaves d alone on overflow or underflow; strtod gives
      // JSON's meaning (+-HUGE_VAL or 0) and the text is a valid number here.
      d = std::strtod(std::string(first, last).c_str(), nullptr);
    } else if (r.ec != std::errc() || r.ptr != last) {
      return Error(start, absl::StrCat("invalid number '", s_.substr(start, pos_ - start), "'"));
    }
    out.kind = Value::Kind::kNumber;
    out.number = d;
    return absl::OkStatus();
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  absl::Status String(std::string& out) {
    ++pos_;  // opening quote
    out.clear();
    while (true) {
      if (pos_ >= s_.size()) return Error(pos_, "unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error(pos_ - 1, "control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return Error(pos_, "unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Error(pos_, "truncated \\u escape");
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            const int h = Hex(s_[pos_ + i]);
            if (h < 0) return Error(pos_ + i, "invalid \\u escape");
            cp = cp * 16 + h;
          }
          pos_ += 4;
          // UTF-8 encode (surrogates are kept as they are: names only).
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default: return Error(pos_ - 1, "invalid escape");
      }
    }
  }

  absl::Status Array(Value& out, int depth) {
    ++pos_;
    out.kind = Value::Kind::kNumbers;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      Value item;
      TWINSCORE_RETURN_IF_ERROR(Parse(item, depth + 1));
      TWINSCORE_RETURN_IF_ERROR(AppendItem(out, std::move(item), pos_));
      SkipSpace();
      if (pos_ >= s_.size()) return Error(pos_, "unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error(pos_, "expected ',' or ']' in an array");
    }
  }

  absl::Status Object(Value& out, int depth) {
    ++pos_;
    out.kind = Value::Kind::kObject;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error(pos_, "expected a member name");
      std::string key;
      TWINSCORE_RETURN_IF_ERROR(String(key));
      TWINSCORE_RETURN_IF_ERROR(ChargeString(key, pos_));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error(pos_, "expected ':' after a member name");
      ++pos_;
      Value v;
      TWINSCORE_RETURN_IF_ERROR(Parse(v, depth + 1));
      TWINSCORE_RETURN_IF_ERROR(AddMember(out, std::move(key), std::move(v), pos_));
      SkipSpace();
      if (pos_ >= s_.size()) return Error(pos_, "unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error(pos_, "expected ',' or '}' in an object");
    }
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------- UBJSON

class BinaryParser : Builder {
 public:
  explicit BinaryParser(absl::string_view s) : Builder(s.size()), s_(s) {}

  absl::StatusOr<Value> Document() {
    Value v;
    char m = 0;
    TWINSCORE_RETURN_IF_ERROR(Marker(m));
    TWINSCORE_RETURN_IF_ERROR(Parse(m, v, 0));
    if (pos_ != s_.size()) return Error(pos_, "unexpected data after the UBJSON document");
    return v;
  }

 private:
  size_t Left() const { return s_.size() - pos_; }

  absl::Status Marker(char& m) {
    // N (no-op) may appear anywhere a value may.
    do {
      if (pos_ >= s_.size()) return Error(pos_, "unexpected end of input");
      m = s_[pos_++];
    } while (m == 'N');
    return absl::OkStatus();
  }

  template <class T>
  absl::Status Raw(T& out) {
    if (Left() < sizeof(T)) return Error(pos_, "truncated number");
    unsigned char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) b[sizeof(T) - 1 - i] = static_cast<unsigned char>(s_[pos_ + i]);
    std::memcpy(&out, b, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  static int Size(char m) {
    switch (m) {
      case 'i': case 'U': case 'C': return 1;
      case 'I': return 2;
      case 'l': case 'd': return 4;
      case 'L': case 'D': return 8;
      default: return 0;
    }
  }

  // A scalar number of marker m as a double; integers must be exact.
  absl::Status Scalar(char m, double& out) {
    switch (m) {
      case 'i': { int8_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'U': { uint8_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'C': { uint8_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'I': { int16_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'l': { int32_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'L': { int64_t v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = static_cast<double>(v); return absl::OkStatus(); }
      case 'd': { float v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      case 'D': { double v{}; TWINSCORE_RETURN_IF_ERROR(Raw(v)); out = v; return absl::OkStatus(); }
      default: return Error(pos_ - 1, absl::StrCat("unknown UBJSON number marker '", std::string(1, m), "'"));
    }
  }

  // A length/count: an integer marker then a non-negative integer that fits in
  // the remaining input once multiplied by the least bytes per element.
  absl::Status Length(size_t min_bytes_each, size_t& out) {
    char m = 0;
    TWINSCORE_RETURN_IF_ERROR(Marker(m));
    if (m != 'i' && m != 'U' && m != 'I' && m != 'l' && m != 'L') {
      return Error(pos_ - 1, "a length must be an integer");
    }
    double d = 0;
    TWINSCORE_RETURN_IF_ERROR(Scalar(m, d));
    if (d < 0) return Error(pos_, absl::StrCat("negative length ", d));
    if (d > static_cast<double>(Left()) / static_cast<double>(min_bytes_each)) {
      return Error(pos_, absl::StrCat("length ", static_cast<int64_t>(d), " is larger than the ", Left(),
                                      " bytes left in the file"));
    }
    out = static_cast<size_t>(d);
    return absl::OkStatus();
  }

  absl::Status Str(std::string& out) {
    size_t n = 0;
    TWINSCORE_RETURN_IF_ERROR(Length(1, n));
    out.assign(s_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status Parse(char m, Value& out, int depth) {
    if (depth > kMaxDepth) return Error(pos_, "nesting deeper than the limit");
    switch (m) {
      case 'Z': out.kind = Value::Kind::kNull; return absl::OkStatus();
      case 'T': case 'F':
        out.kind = Value::Kind::kBool;
        out.boolean = m == 'T';
        return absl::OkStatus();
      case 'S':
        out.kind = Value::Kind::kString;
        TWINSCORE_RETURN_IF_ERROR(Str(out.string));
        return ChargeString(out.string, pos_);
      case 'H': {
        // High-precision number: a string of decimal digits.
        std::string digits;
        TWINSCORE_RETURN_IF_ERROR(Str(digits));
        double d = 0;
        auto r = std::from_chars(digits.data(), digits.data() + digits.size(), d);
        if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return Error(pos_, "invalid H number");
        out.kind = Value::Kind::kNumber;
        out.number = d;
        return absl::OkStatus();
      }
      case '[': return Array(out, depth);
      case '{': return Object(out, depth);
      default:
        out.kind = Value::Kind::kNumber;
        return Scalar(m, out.number);
    }
  }

  // After '[' or '{': optional "$type" and "#count".
  absl::Status Header(char& type, bool& counted, size_t& count) {
    type = 0;
    counted = false;
    count = 0;
    if (pos_ < s_.size() && s_[pos_] == '$') {
      ++pos_;
      if (pos_ >= s_.size()) return Error(pos_, "truncated container type");
      type = s_[pos_++];
      if (Size(type) == 0 && type != 'S' && type != '[' && type != '{' && type != 'H') {
        // Zero-byte item types (T F Z N) would let a tiny file claim billions of items.
        return Error(pos_ - 1, absl::StrCat("unsupported container type '", std::string(1, type), "'"));
      }
      if (pos_ >= s_.size() || s_[pos_] != '#') return Error(pos_, "a typed container needs a count");
    }
    if (pos_ < s_.size() && s_[pos_] == '#') {
      ++pos_;
      counted = true;
      const size_t each = type != 0 && Size(type) > 0 ? Size(type) : 1;
      TWINSCORE_RETURN_IF_ERROR(Length(each, count));
    }
    return absl::OkStatus();
  }

  absl::Status Array(Value& out, int depth) {
    char type;
    bool counted;
    size_t count;
    TWINSCORE_RETURN_IF_ERROR(Header(type, counted, count));
    out.kind = Value::Kind::kNumbers;
    if (type != 0 && Size(type) > 0) {
      // Typed numeric array: the common case for model arrays.
      TWINSCORE_RETURN_IF_ERROR(Charge(count * sizeof(double), pos_));
      out.numbers.resize(count);
      for (size_t i = 0; i < count; ++i) TWINSCORE_RETURN_IF_ERROR(Scalar(type, out.numbers[i]));
      return absl::OkStatus();
    }
    for (size_t i = 0; counted ? i < count : true; ++i) {
      char m = type;
      if (m == 0) {
        TWINSCORE_RETURN_IF_ERROR(Marker(m));
        if (!counted && m == ']') return absl::OkStatus();
      }
      Value item;
      TWINSCORE_RETURN_IF_ERROR(Parse(m, item, depth + 1));
      TWINSCORE_RETURN_IF_ERROR(AppendItem(out, std::move(item), pos_));
    }
    return absl::OkStatus();
  }

  absl::Status Object(Value& out, int depth) {
    char type;
    bool counted;
    size_t count;
    TWINSCORE_RETURN_IF_ERROR(Header(type, counted, count));
    out.kind = Value::Kind::kObject;
    for (size_t i = 0; counted ? i < count : true; ++i) {
      if (!counted) {
        if (pos_ >= s_.size()) return Error(pos_, "unterminated object");
        if (s_[pos_] == '}') {
          ++pos_;
          return absl::OkStatus();
        }
      }
      std::string key;
      TWINSCORE_RETURN_IF_ERROR(Str(key));
      TWINSCORE_RETURN_IF_ERROR(ChargeString(key, pos_));
      char m = type;
      if (m == 0) TWINSCORE_RETURN_IF_ERROR(Marker(m));
      Value v;
      TWINSCORE_RETURN_IF_ERROR(Parse(m, v, depth + 1));
      TWINSCORE_RETURN_IF_ERROR(AddMember(out, std::move(key), std::move(v), pos_));
    }
    return absl::OkStatus();
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

size_t Footprint(const Value& v) {
  size_t bytes = HeapBytes(v.string) + v.numbers.capacity() * sizeof(double) + v.items.capacity() * sizeof(Value) +
                 v.members.capacity() * sizeof(std::pair<std::string, Value>);
  for (const Value& item : v.items) bytes += Footprint(item);
  for (const auto& [key, member] : v.members) bytes += HeapBytes(key) + Footprint(member);
  return bytes;
}

absl::StatusOr<Value> ParseJson(absl::string_view text) { return TextParser(text).Document(); }

absl::StatusOr<Value> ParseUbjson(absl::string_view bytes) { return BinaryParser(bytes).Document(); }

}  // namespace twinscore::json
