#include "twinscore/dictionary.h"

#include <gtest/gtest.h>

#include "test_helpers.h"
#include "twinscore/threads.h"

namespace twinscore {
namespace {

using testing::OwnedStrings;

TEST(Dictionary, LearnSortsDistinctValuesAndSkipsNulls) {
  OwnedStrings s({"paris", "lyon", "\x01null", "paris", "", "nice"}, true);
  auto d = Dictionary::Learn(s.View());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->values(), (std::vector<std::string>{"", "lyon", "nice", "paris"}));
}

TEST(Dictionary, EncodeMapsUnseenToOtherAndCountsThem) {
  OwnedStrings fit({"a", "b", "c"});
  auto d = *Dictionary::Learn(fit.View());
  OwnedStrings apply({"c", "zz", "\x01null", "a", "zz"}, true);
  std::vector<int32_t> codes(5);
  auto unseen = d.Encode(apply.View(), absl::MakeSpan(codes));
  ASSERT_TRUE(unseen.ok());
  EXPECT_EQ(*unseen, 2);
  EXPECT_EQ(codes, (std::vector<int32_t>{2, 3, kMissingCode, 0, 3}));
  EXPECT_EQ(d.other_code(), 3);
}

TEST(Dictionary, FromValuesKeepsOrderAndRefusesDuplicates) {
  OwnedStrings bands({"18-24", "25-34", "35-49", "50+"});
  auto d = Dictionary::FromValues(bands.View());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Lookup("35-49"), 2);
  OwnedStrings dup({"x", "y", "x"});
  auto bad = Dictionary::FromValues(dup.View("band"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'x'"), std::string::npos);
}

TEST(Dictionary, CorruptOffsetsAreRefused) {
  OwnedStrings s({"ab", "cd"});
  s.offsets = {0, 3, 2};
  EXPECT_EQ(Dictionary::Learn(s.View()).status().code(), absl::StatusCode::kInvalidArgument);
  s.offsets = {0, 2, 99};
  EXPECT_EQ(Dictionary::Learn(s.View()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Dictionary, SetsBecomeBitsetsWithAnOtherBit) {
  // Rows: {b, a}, {}, null, {c, zz}: "zz" is unseen at fit time.
  OwnedStrings items({"b", "a", "c", "zz"});
  std::vector<int64_t> lo = {0, 2, 2, 2, 4};
  std::vector<uint8_t> valid = {1, 1, 0, 1};
  ListColumn col{lo, valid, items.View("cats")};
  OwnedStrings vocab({"a", "b", "c"});
  auto d = *Dictionary::FromValues(vocab.View());
  ASSERT_EQ(BitsetWords(d.size()), 1);
  std::vector<uint64_t> bits(4);
  std::vector<uint8_t> missing(4);
  auto unseen = d.EncodeSets(col, absl::MakeSpan(bits), absl::MakeSpan(missing));
  ASSERT_TRUE(unseen.ok()) << unseen.status();
  EXPECT_EQ(*unseen, 1);
  EXPECT_EQ(bits, (std::vector<uint64_t>{0b011, 0, 0, 0b1100}));
  EXPECT_EQ(missing, (std::vector<uint8_t>{0, 0, 1, 0}));
}

TEST(Dictionary, SetsCountEachRowsDistinctUnseenItems) {
  // Rows: {x, a, y, x}, {x}, null {q}, {b}, {z, null item}: x, y, z, q unseen.
  // A set holds "x" once: row 0 has 2 distinct unseen items (x, y), not 3.
  OwnedStrings items({"x", "a", "y", "x", "x", "q", "b", "z", "?"});
  items.valid = {1, 1, 1, 1, 1, 1, 1, 1, 0};
  std::vector<int64_t> lo = {0, 4, 5, 6, 7, 9};
  std::vector<uint8_t> valid = {1, 1, 0, 1, 1};
  ListColumn col{lo, valid, items.View("cats")};
  OwnedStrings vocab({"a", "b"});
  auto d = *Dictionary::FromValues(vocab.View());
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    std::vector<uint64_t> bits(5);
    std::vector<uint8_t> missing(5);
    std::vector<int32_t> counts(5, -7);
    auto total = d.EncodeSets(col, absl::MakeSpan(bits), absl::MakeSpan(missing), absl::MakeSpan(counts));
    ASSERT_TRUE(total.ok()) << total.status();
    EXPECT_EQ(*total, 5);  // occurrences, as before: x, y, x, x, z (the null row's q is not read)
    EXPECT_EQ(counts, (std::vector<int32_t>{2, 1, 0, 0, 1}));
    EXPECT_EQ(bits, (std::vector<uint64_t>{0b101, 0b100, 0, 0b010, 0b100}));
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  std::vector<uint64_t> bits(5);
  std::vector<uint8_t> missing(5);
  std::vector<int32_t> short_counts(4);
  EXPECT_EQ(d.EncodeSets(col, absl::MakeSpan(bits), absl::MakeSpan(missing), absl::MakeSpan(short_counts))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Dictionary, ThousandCategoriesSpanSeveralWords) {
  std::vector<std::string> names;
  for (int i = 0; i < 1500; ++i) names.push_back("cat" + std::to_string(i));
  OwnedStrings vocab(names);
  auto d = *Dictionary::FromValues(vocab.View());
  EXPECT_EQ(BitsetWords(d.size()), 24);  // 1501 bits
  OwnedStrings items({"cat1499", "cat0", "cat64"});
  std::vector<int64_t> lo = {0, 3};
  ListColumn col{lo, {}, items.View()};
  std::vector<uint64_t> bits(24);
  std::vector<uint8_t> missing(1);
  ASSERT_TRUE(d.EncodeSets(col, absl::MakeSpan(bits), absl::MakeSpan(missing)).ok());
  EXPECT_EQ(bits[0], 1u);
  EXPECT_EQ(bits[1], 1u);
  EXPECT_EQ(bits[1499 / 64], uint64_t{1} << (1499 % 64));
}

TEST(Dictionary, IdenticalCodesForAnyThreadCount) {
  std::vector<std::string> v;
  for (int i = 0; i < 200000; ++i) v.push_back("v" + std::to_string((i * 7919) % 5003));
  OwnedStrings s(v);
  ASSERT_TRUE(SetNumThreads(1).ok());
  auto d1 = *Dictionary::Learn(s.View());
  std::vector<int32_t> c1(v.size()), c2(v.size());
  ASSERT_TRUE(d1.Encode(s.View(), absl::MakeSpan(c1)).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  auto d2 = *Dictionary::Learn(s.View());
  ASSERT_TRUE(d2.Encode(s.View(), absl::MakeSpan(c2)).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(d1.values(), d2.values());
  EXPECT_EQ(c1, c2);
}

TEST(PackBits, MatchesSetBits) {
  std::vector<uint8_t> m = {1, 0, 1, 0, 0, 0, 0, 5, 0};
  std::vector<uint64_t> bits(3);
  ASSERT_TRUE(PackBits(m, 3, 3, absl::MakeSpan(bits)).ok());
  EXPECT_EQ(bits, (std::vector<uint64_t>{0b101, 0, 0b010}));
  EXPECT_FALSE(PackBits(m, 2, 3, absl::MakeSpan(bits)).ok());
}

}  // namespace
}  // namespace twinscore
