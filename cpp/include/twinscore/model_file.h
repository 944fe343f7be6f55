// The twinscore model file: one container for every fitted object.
//
// Layout (integers little-endian):
//
//   bytes 0..8    magic "\x89TWS\r\n\x1a\n" (a text-mode copy or a
//                 truncated transfer breaks it, as PNG's does)
//   bytes 8..12   uint32 format version (kModelFormatVersion)
//   bytes 12..16  uint32 reserved, 0
//   bytes 16..24  uint64 manifest length M
//   bytes 24..28  uint32 CRC-32 of the manifest
//   bytes 28..32  uint32 CRC-32 of bytes 0..28
//   bytes 32..32+M  the manifest: UTF-8 JSON a person can read
//   then the arrays, raw, each at an offset that is a multiple of 64, in the
//   manifest's order, the gaps between them zero; the file ends where the
//   last array (or the manifest) ends.
//
// The manifest is an object with "format": "twinscore-model",
// "format_version" (the header's), "twinscore_version", "class" (the Python
// class, "module.Name"), "params" and "state" (the object's description;
// read by the Python layer) and "arrays": a list of {"name", "dtype" (numpy
// string: "|b1", "|i1", "|u1", "<i2".."<f8"), "shape" (list of ints >= 0),
// "offset", "length" (bytes), "crc32"}.
//
// ParseModelFile checks everything before anything is sized from the input:
// the magic, the version, both CRCs, that every array lies inside the file,
// is aligned, does not overlap the manifest or another array, has
// length = product(shape) * itemsize (without overflow) and its CRC — so a
// truncated, corrupt or hostile file is refused with a Status naming what is
// wrong, and memory stays within a small multiple of the file's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "twinscore/common.h"
#include "twinscore/json.h"

namespace twinscore {

inline constexpr char kModelMagic[8] = {'\x89', 'T', 'W', 'S', '\r', '\n', '\x1a', '\n'};
inline constexpr uint32_t kModelFormatVersion = 1;
inline constexpr int64_t kModelHeaderSize = 32;
inline constexpr int64_t kModelAlignment = 64;

// CRC-32 (IEEE 802.3, reflected, as zlib.crc32); `crc` continues a previous value.
uint32_t Crc32(absl::string_view bytes, uint32_t crc = 0);

struct ModelArray {
  std::string name;
  std::string dtype;  // numpy's dtype string, e.g. "<f4"
  std::vector<int64_t> shape;
  int64_t offset = 0;  // from the start of the file
  int64_t length = 0;  // bytes
  uint32_t crc32 = 0;
};

struct ModelFile {
  uint32_t version = 0;
  std::string manifest_text;
  json::Value manifest;
  std::string class_name;
  std::vector<ModelArray> arrays;
};

// Parses and checks a whole model file held in memory (see the layout). With
// verify_arrays false the arrays' CRCs are not computed (their bounds still
// are): for reading the manifest of a large file quickly.
absl::StatusOr<ModelFile> ParseModelFile(absl::string_view bytes, bool verify_arrays = true);

// The 32-byte header of a file whose manifest is `manifest` (its CRC included).
std::string ModelFileHeader(absl::string_view manifest, uint32_t version = kModelFormatVersion);

// The size in bytes of one item of a supported dtype string, or 0 when it is
// not one.
int64_t ModelDtypeSize(absl::string_view dtype);

}  // namespace twinscore
