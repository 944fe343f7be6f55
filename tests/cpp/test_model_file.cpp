// The model file container: a file written by ModelFileHeader + a manifest +
// arrays parses; each kind of damage is refused with a message saying which.
#include "twinscore/model_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace twinscore {
namespace {

// A valid file: a manifest with two arrays (4 float32 = 16 bytes at 512, 3
// uint8 at 576).
std::string Manifest(const std::string& a_extra = "", int64_t a_length = 16, int64_t version = 1,
                     const std::string& b_offset = "576") {
  const std::string a(16, '\x01');
  return "{\"format\": \"twinscore-model\", \"format_version\": " + std::to_string(version) +
         ", \"twinscore_version\": \"0.1.0\", \"class\": \"twinscore.linear.LogisticScorer\", \"params\": {}, "
         "\"state\": {}, \"arrays\": [{\"name\": \"a\", \"dtype\": \"<f4\", \"shape\": [2, 2], \"offset\": 512, "
         "\"length\": " + std::to_string(a_length) + ", \"crc32\": " + std::to_string(Crc32(a)) + a_extra +
         "}, {\"name\": \"b\", \"dtype\": \"|u1\", \"shape\": [3], \"offset\": " + b_offset +
         ", \"length\": 3, \"crc32\": " + std::to_string(Crc32("xyz")) + "}]}";
}

std::string File(const std::string& manifest) {
  std::string f = ModelFileHeader(manifest) + manifest;
  if (f.size() > 512) return "";
  f.resize(512, '\0');
  f += std::string(16, '\x01');
  f.resize(576, '\0');
  f += "xyz";
  return f;
}

std::string Message(absl::string_view bytes) {
  auto r = ParseModelFile(bytes);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(ModelFile, Crc32MatchesZlib) {
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(Crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  // Split anywhere, continued: the same value (the 8-byte loop and the tail agree).
  const std::string s = "0123456789abcdefghijklmnopqrstuvwxyz";
  for (size_t i = 0; i <= s.size(); ++i) EXPECT_EQ(Crc32(s.substr(i), Crc32(s.substr(0, i))), Crc32(s));
}

TEST(ModelFile, ParsesAValidFile) {
  const std::string m = Manifest();
  const std::string f = File(m);
  ASSERT_FALSE(f.empty());
  auto r = ParseModelFile(f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version, 1u);
  EXPECT_EQ(r->class_name, "twinscore.linear.LogisticScorer");
  EXPECT_EQ(r->manifest_text, m);
  ASSERT_EQ(r->arrays.size(), 2u);
  EXPECT_EQ(r->arrays[0].name, "a");
  EXPECT_EQ(r->arrays[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r->arrays[0].offset, 512);
  EXPECT_EQ(r->arrays[1].dtype, "|u1");
  EXPECT_EQ(r->arrays[1].length, 3);
}

TEST(ModelFile, RefusesEveryTruncation) {
  const std::string f = File(Manifest());
  for (size_t n = 0; n < f.size(); ++n) {
    const std::string msg = Message(absl::string_view(f).substr(0, n));
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos) << n << msg;
  }
}

TEST(ModelFile, RefusesEveryFlippedByte) {
  const std::string f = File(Manifest());
  for (size_t i = 0; i < f.size(); ++i) {
    std::string g = f;
    g[i] ^= 0x20;
    EXPECT_FALSE(ParseModelFile(g).ok()) << "byte " << i;
  }
}

TEST(ModelFile, SaysWhichError) {
  std::string f = File(Manifest());
  EXPECT_NE(Message("hello, world, this is not a model file at all").find("not a twinscore model file"),
            std::string::npos);
  // A later version: refused before anything else is read.
  std::string later = f;
  later[8] = 2;
  EXPECT_NE(Message(later).find("newer than the version 1"), std::string::npos);
  // A huge length, with the checksums made right: the bounds check refuses it.
  EXPECT_NE(Message(File(Manifest("", int64_t{1} << 50))).find("length"), std::string::npos);
  // Shape and length disagree.
  EXPECT_NE(Message(File(Manifest("", 12))).find("shape and dtype make 16"), std::string::npos);
  // An array inside the manifest or overlapping the one before.
  EXPECT_NE(Message(File(Manifest("", 16, 1, "512"))).find("inside the manifest or the array before"),
            std::string::npos);
  // Manifest and header versions disagree.
  EXPECT_NE(Message(File(Manifest("", 16, 7))).find("manifest says format version 7"), std::string::npos);
  // Bytes past the last array.
  EXPECT_NE(Message(f + std::string(64, '\0')).find("past its last array"), std::string::npos);
  // A checksum of an array that does not match.
  f[514] = 9;
  EXPECT_NE(Message(f).find("array 'a' does not match its checksum"), std::string::npos);
}

TEST(ModelFile, RefusesMalformedManifests) {
  for (const std::string& m :
       {std::string("[]"), std::string("{\"format\": \"other\"}"), std::string("{\"format\": \"twinscore-model\"}"),
        std::string("{not json"), std::string("{\"format\": \"twinscore-model\", \"format_version\": 1, "
                                              "\"twinscore_version\": \"x\", \"class\": \"c\", \"arrays\": [1]}"),
        std::string("{\"format\": \"twinscore-model\", \"format_version\": 1, \"twinscore_version\": \"x\", "
                    "\"class\": \"c\", \"arrays\": [{\"name\": \"a\", \"dtype\": \"O\", \"shape\": [1], "
                    "\"offset\": 64, \"length\": 8, \"crc32\": 0}]}")}) {
    const std::string f = ModelFileHeader(m) + m;
    EXPECT_NE(Message(f).find("corrupt model file"), std::string::npos) << m;
  }
  // No arrays at all is a valid (if empty) file.
  const std::string m =
      "{\"format\": \"twinscore-model\", \"format_version\": 1, \"twinscore_version\": \"x\", \"class\": \"c\", "
      "\"arrays\": []}";
  EXPECT_TRUE(ParseModelFile(ModelFileHeader(m) + m).ok());
}

}  // namespace
}  // namespace twinscore
