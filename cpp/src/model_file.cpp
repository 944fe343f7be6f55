// The model file container: header, manifest and array table checks.
#include "twinscore/model_file.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/container/flat_hash_set.h"

namespace twinscore {
namespace {

// Slicing-by-8 tables: 8 bytes per step, about 1-2 GB/s, enough for files
// read from disk.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables MakeTables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (int s = 1; s < 8; ++s)
    for (int i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

uint32_t Le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // x86 and ARM Linux are little-endian: the layout's order
  return v;
}

uint64_t Le64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt model file: ", what));
}

absl::Status Truncated(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("truncated model file: ", what));
}

// A member that must be there, of one kind.
absl::StatusOr<const json::Value*> Member(const json::Value& obj, absl::string_view key, json::Value::Kind kind,
                                          absl::string_view where) {
  const json::Value* v = obj.Find(key);
  if (v == nullptr) return Corrupt(absl::StrCat(where, " has no '", key, "'"));
  const bool ok = kind == json::Value::Kind::kArray ? v->is_array() : v->kind == kind;
  if (!ok) return Corrupt(absl::StrCat(where, ": '", key, "' has the wrong type"));
  return v;
}

// A JSON number that must be an integer in [0, max].
absl::StatusOr<int64_t> Count(double x, int64_t max, absl::string_view what) {
  if (!(x >= 0) || x > static_cast<double>(max) || std::floor(x) != x)
    return Corrupt(absl::StrCat(what, " = ", x, " is not an integer in [0, ", max, "]"));
  return static_cast<int64_t>(x);
}

absl::StatusOr<int64_t> IntMember(const json::Value& obj, absl::string_view key, int64_t max,
                                  absl::string_view where) {
  auto v = Member(obj, key, json::Value::Kind::kNumber, where);
  if (!v.ok()) return v.status();
  return Count((*v)->number, max, absl::StrCat(where, " ", key));
}

absl::StatusOr<ModelArray> ArrayEntry(const json::Value& e, int64_t file_size) {
  if (!e.is_object()) return Corrupt("an entry of 'arrays' is not an object");
  ModelArray a;
  auto name = Member(e, "name", json::Value::Kind::kString, "an array entry");
  if (!name.ok()) return name.status();
  a.name = (*name)->string;
  const std::string where = absl::StrCat("array '", a.name, "'");
  auto dtype = Member(e, "dtype", json::Value::Kind::kString, where);
  if (!dtype.ok()) return dtype.status();
  a.dtype = (*dtype)->string;
  const int64_t item = ModelDtypeSize(a.dtype);
  if (item == 0) return Corrupt(absl::StrCat(where, ": unsupported dtype '", a.dtype, "'"));
  auto shape = Member(e, "shape", json::Value::Kind::kArray, where);
  if (!shape.ok()) return shape.status();
  if ((*shape)->size() > 32) return Corrupt(absl::StrCat(where, ": more than 32 dimensions"));
  // The product is bounded by the file size at each step, so it cannot overflow.
  int64_t items = 1;
  bool empty = false;
  for (size_t i = 0; i < (*shape)->size(); ++i) {
    const double d = (*shape)->kind == json::Value::Kind::kNumbers ? (*shape)->numbers[i]
                     : (*shape)->items[i].kind == json::Value::Kind::kNumber ? (*shape)->items[i].number
                                                                              : -1;
    auto dim = Count(d, std::numeric_limits<int32_t>::max() * int64_t{1024}, absl::StrCat(where, " shape"));
    if (!dim.ok()) return dim.status();
    a.shape.push_back(*dim);
    if (*dim == 0) empty = true;
    if (!empty) {
      if (*dim > file_size / item / items + 1)
        return Truncated(absl::StrCat(where, " declares shape items beyond the file's ", file_size, " bytes"));
      items *= *dim;
    }
  }
  const int64_t expect = empty ? 0 : items * item;
  auto offset = IntMember(e, "offset", file_size, where);
  if (!offset.ok()) return offset.status();
  auto length = IntMember(e, "length", std::numeric_limits<int64_t>::max() / 2, where);
  if (!length.ok()) return length.status();
  auto crc = IntMember(e, "crc32", 0xFFFFFFFFll, where);
  if (!crc.ok()) return crc.status();
  a.offset = *offset;
  a.length = *length;
  a.crc32 = static_cast<uint32_t>(*crc);
  if (a.length != expect)
    return Corrupt(absl::StrCat(where, ": length ", a.length, " bytes, but shape and dtype make ", expect));
  if (a.offset % kModelAlignment != 0)
    return Corrupt(absl::StrCat(where, ": offset ", a.offset, " is not a multiple of ", kModelAlignment));
  if (a.length > file_size - a.offset)
    return Truncated(absl::StrCat(where, " ends at byte ", a.offset + a.length, ", the file holds ", file_size,
                                  " bytes"));
  return a;
}

absl::Status CheckHeader(absl::string_view b, uint32_t& version, int64_t& manifest_size) {
  if (b.empty()) return Truncated("the file is empty");
  if (b.size() < 8 || std::memcmp(b.data(), kModelMagic, 8) != 0) {
    if (b.size() < 8 && std::memcmp(b.data(), kModelMagic, b.size()) == 0)
      return Truncated(absl::StrCat("the file holds ", b.size(), " bytes, a header ", kModelHeaderSize));
    return absl::InvalidArgumentError("not a twinscore model file (its first bytes are not the model file magic)");
  }
  if (b.size() < static_cast<size_t>(kModelHeaderSize))
    return Truncated(absl::StrCat("the file holds ", b.size(), " bytes, a header ", kModelHeaderSize));
  version = Le32(b.data() + 8);
  // The version is read before the header's CRC: a later version may lay
  // out the rest differently, and deserves its own message.
  if (version > kModelFormatVersion)
    return absl::FailedPreconditionError(absl::StrCat(
        "the model file has format version ", version, ", newer than the version ", kModelFormatVersion,
        " this twinscore reads: upgrade twinscore to load it"));
  if (Crc32(b.substr(0, 28)) != Le32(b.data() + 28)) return Corrupt("the header's checksum does not match");
  if (version == 0) return Corrupt("format version 0");
  if (Le32(b.data() + 12) != 0) return Corrupt("the header's reserved field is not 0");
  const uint64_t m = Le64(b.data() + 16);
  if (m > b.size() - kModelHeaderSize)
    return Truncated(absl::StrCat("the manifest declares ", m, " bytes, the file holds ", b.size() - kModelHeaderSize,
                                  " after the header"));
  manifest_size = static_cast<int64_t>(m);
  if (Crc32(b.substr(kModelHeaderSize, m)) != Le32(b.data() + 24))
    return Corrupt("the manifest's checksum does not match");
  return absl::OkStatus();
}

absl::Status CheckManifest(ModelFile& f, int64_t file_size) {
  const json::Value& m = f.manifest;
  if (!m.is_object()) return Corrupt("the manifest is not a JSON object");
  auto format = Member(m, "format", json::Value::Kind::kString, "the manifest");
  if (!format.ok()) return format.status();
  if ((*format)->string != "twinscore-model")
    return Corrupt(absl::StrCat("the manifest's format is '", (*format)->string, "', not 'twinscore-model'"));
  auto version = IntMember(m, "format_version", 1 << 30, "the manifest");
  if (!version.ok()) return version.status();
  if (*version != f.version)
    return Corrupt(absl::StrCat("the manifest says format version ", *version, ", the header ", f.version));
  for (const char* key : {"twinscore_version", "class"}) {
    auto v = Member(m, key, json::Value::Kind::kString, "the manifest");
    if (!v.ok()) return v.status();
  }
  f.class_name = m.Find("class")->string;
  auto arrays = Member(m, "arrays", json::Value::Kind::kArray, "the manifest");
  if (!arrays.ok()) return arrays.status();
  if ((*arrays)->kind == json::Value::Kind::kNumbers && (*arrays)->size() > 0)
    return Corrupt("an entry of 'arrays' is not an object");
  absl::flat_hash_set<std::string> names;
  int64_t end = kModelHeaderSize + static_cast<int64_t>(f.manifest_text.size());
  for (const auto& e : (*arrays)->items) {
    auto a = ArrayEntry(e, file_size);
    if (!a.ok()) return a.status();
    if (!names.insert(a->name).second) return Corrupt(absl::StrCat("two arrays are named '", a->name, "'"));
    if (a->offset < end)
      return Corrupt(absl::StrCat("array '", a->name, "' starts at byte ", a->offset,
                                  ", inside the manifest or the array before it (which end at ", end, ")"));
    end = a->offset + a->length;
    f.arrays.push_back(std::move(*a));
  }
  if (end < file_size)
    return Corrupt(absl::StrCat("the file holds ", file_size - end, " bytes past its last array"));
  return absl::OkStatus();
}

// The padding before each array must be zero, so any changed byte is caught.
absl::Status CheckGaps(absl::string_view b, const ModelFile& f, bool verify_arrays) {
  int64_t end = kModelHeaderSize + static_cast<int64_t>(f.manifest_text.size());
  for (const auto& a : f.arrays) {
    for (int64_t i = end; i < a.offset; ++i)
      if (b[i] != 0) return Corrupt(absl::StrCat("a non-zero byte in the padding before array '", a.name, "'"));
    if (verify_arrays && Crc32(b.substr(a.offset, a.length)) != a.crc32)
      return Corrupt(absl::StrCat("array '", a.name, "' does not match its checksum"));
    end = a.offset + a.length;
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t Crc32(absl::string_view bytes, uint32_t crc) {
  static const CrcTables t = MakeTables();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  crc = ~crc;
  while (n >= 8) {
    const uint32_t lo = Le32(reinterpret_cast<const char*>(p)) ^ crc;
    const uint32_t hi = Le32(reinterpret_cast<const char*>(p) + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

int64_t ModelDtypeSize(absl::string_view d) {
  if (d == "|b1" || d == "|i1" || d == "|u1") return 1;
  if (d == "<i2" || d == "<u2" || d == "<f2") return 2;
  if (d == "<i4" || d == "<u4" || d == "<f4") return 4;
  if (d == "<i8" || d == "<u8" || d == "<f8") return 8;
  return 0;
}

std::string ModelFileHeader(absl::string_view manifest, uint32_t version) {
  std::string h(kModelHeaderSize, '\0');
  std::memcpy(h.data(), kModelMagic, 8);
  const uint64_t m = manifest.size();
  const uint32_t mcrc = Crc32(manifest);
  std::memcpy(h.data() + 8, &version, 4);
  std::memcpy(h.data() + 16, &m, 8);
  std::memcpy(h.data() + 24, &mcrc, 4);
  const uint32_t hcrc = Crc32(absl::string_view(h.data(), 28));
  std::memcpy(h.data() + 28, &hcrc, 4);
  return h;
}

absl::StatusOr<ModelFile> ParseModelFile(absl::string_view bytes, bool verify_arrays) {
  ModelFile f;
  int64_t manifest_size = 0;
  TWINSCORE_RETURN_IF_ERROR(CheckHeader(bytes, f.version, manifest_size));
  f.manifest_text = std::string(bytes.substr(kModelHeaderSize, manifest_size));
  auto manifest = json::ParseJson(f.manifest_text);
  if (!manifest.ok()) return Corrupt(absl::StrCat("the manifest: ", manifest.status().message()));
  f.manifest = *std::move(manifest);
  TWINSCORE_RETURN_IF_ERROR(CheckManifest(f, static_cast<int64_t>(bytes.size())));
  TWINSCORE_RETURN_IF_ERROR(CheckGaps(bytes, f, verify_arrays));
  return f;
}

}  // namespace twinscore
