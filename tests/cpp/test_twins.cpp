#include "twinscore/twins.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "twinscore/threads.h"
#include "twinscore/topk.h"

namespace twinscore {
namespace {

struct Found {
  std::vector<int64_t> rows;
  std::vector<float> scores;
  std::vector<int32_t> counts;
};

TwinData Dense(int64_t n, const std::vector<float>& x, int64_t d) {
  TwinData t;
  t.n = n;
  t.dense = x;
  t.dim = d;
  return t;
}

Found SearchAll(const TwinIndex& ix, const TwinData& q, int k) {
  Found f{std::vector<int64_t>(q.n * k), std::vector<float>(q.n * k), std::vector<int32_t>(q.n)};
  absl::Status s = ix.Search(q, k, {absl::MakeSpan(f.rows), absl::MakeSpan(f.scores), absl::MakeSpan(f.counts)});
  EXPECT_TRUE(s.ok()) << s;
  return f;
}

// Brute force: all scores, sorted by (score desc, row asc), within the block.
std::vector<int64_t> Reference(const std::vector<double>& scores, const std::vector<int64_t>& ckeys, int64_t qkey,
                               int k) {
  std::vector<int64_t> idx;
  for (size_t j = 0; j < scores.size(); ++j) {
    if (ckeys.empty() || (ckeys[j] == qkey && qkey >= 0)) idx.push_back(static_cast<int64_t>(j));
  }
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  if (static_cast<int>(idx.size()) > k) idx.resize(k);
  return idx;
}

TEST(TopK, KeepsBestAndBreaksTiesByLowerRow) {
  TopK h;
  h.Reset(3);
  for (int64_t r : {5, 1, 3, 2, 4}) h.Offer(1.0f, r);
  h.Offer(0.5f, 0);
  const auto& s = h.Sorted();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].row, 1);
  EXPECT_EQ(s[1].row, 2);
  EXPECT_EQ(s[2].row, 3);
}

// Both representations (sorted array up to k = 16, heap above) against a full
// sort, with many equal scores arriving in shuffled row order.
TEST(TopK, SortedAndHeapModesMatchAFullSort) {
  std::mt19937 gen(7);
  for (int k : {1, 2, 5, 16, 17, 40}) {
    std::vector<TopK::Entry> all;
    for (int64_t r = 0; r < 300; ++r) all.push_back({static_cast<float>(gen() % 25), r});
    std::shuffle(all.begin(), all.end(), gen);
    TopK h;
    h.Reset(k);
    for (const auto& e : all) {
      if (e.score >= h.threshold()) h.Offer(e.score, e.row);
    }
    std::sort(all.begin(), all.end(), [](const TopK::Entry& a, const TopK::Entry& b) {
      return a.score > b.score || (a.score == b.score && a.row < b.row);
    });
    const auto& got = h.Sorted();
    ASSERT_EQ(got.size(), static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) {
      EXPECT_EQ(got[i].row, all[i].row) << "k=" << k << " rank " << i;
      EXPECT_EQ(got[i].score, all[i].score);
    }
  }
}

class DenseTest : public ::testing::TestWithParam<TwinMetric> {};

TEST_P(DenseTest, MatchesBruteForceWithBlocksAndThreads) {
  std::mt19937 gen(3);
  std::normal_distribution<float> normal;
  const int64_t nc = 300, nq = 150, d = 7;
  std::vector<float> C(nc * d), Q(nq * d);
  for (auto& v : C) v = normal(gen);
  for (auto& v : Q) v = normal(gen);
  std::fill_n(Q.begin(), d, 0.0f);  // a zero prospect
  std::vector<int32_t> ckeys(nc), qkeys(nq);
  for (auto& k : ckeys) k = static_cast<int32_t>(gen() % 5);
  for (auto& k : qkeys) k = static_cast<int32_t>(gen() % 7) - 1;  // -1: no block; 5: unknown block
  const TwinMetric metric = GetParam();
  for (bool blocked : {false, true}) {
    TwinOptions o;
    o.metric = metric;
    o.prospect_tile = 16;
    o.client_tile = 40;
    TwinData cd = Dense(nc, C, d);
    TwinData qd = Dense(nq, Q, d);
    if (blocked) {
      cd.keys = {ckeys};
      qd.keys = {qkeys};
    }
    auto ix = TwinIndex::Fit(o, cd);
    ASSERT_TRUE(ix.ok()) << ix.status();
    for (int k : {1, 10, 100}) {
      ASSERT_TRUE(SetNumThreads(1).ok());
      Found one = SearchAll(**ix, qd, k);
      ASSERT_TRUE(SetNumThreads(2).ok());
      Found two = SearchAll(**ix, qd, k);
      EXPECT_EQ(one.rows, two.rows);
      EXPECT_EQ(one.scores, two.scores);
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<double> s(nc);
        double qn = 0;
        for (int64_t t = 0; t < d; ++t) qn += double(Q[i * d + t]) * Q[i * d + t];
        for (int64_t j = 0; j < nc; ++j) {
          double dot = 0, cn = 0, l2 = 0;
          for (int64_t t = 0; t < d; ++t) {
            dot += double(Q[i * d + t]) * C[j * d + t];
            cn += double(C[j * d + t]) * C[j * d + t];
            l2 += std::pow(double(Q[i * d + t]) - C[j * d + t], 2);
          }
          s[j] = metric == TwinMetric::kInnerProduct ? dot
                 : metric == TwinMetric::kSquaredL2  ? -l2
                 : (qn > 0 && cn > 0 ? dot / std::sqrt(qn * cn) : 0.0);
        }
        auto ref = Reference(s, blocked ? std::vector<int64_t>(ckeys.begin(), ckeys.end()) : std::vector<int64_t>{},
                             qkeys[i], k);
        ASSERT_EQ(one.counts[i], static_cast<int>(ref.size()));
        for (size_t r = 0; r < ref.size(); ++r) {
          const double expect = metric == TwinMetric::kSquaredL2 ? -s[ref[r]] : s[ref[r]];
          EXPECT_NEAR(one.scores[i * k + r], expect, 1e-4);
          if (i > 0) {
            EXPECT_EQ(one.rows[i * k + r], ref[r]) << "prospect " << i << " rank " << r;
          }
        }
        for (int r = static_cast<int>(ref.size()); r < k; ++r) EXPECT_EQ(one.rows[i * k + r], -1);
      }
    }
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

INSTANTIATE_TEST_SUITE_P(Metrics, DenseTest,
                         ::testing::Values(TwinMetric::kInnerProduct, TwinMetric::kCosine, TwinMetric::kSquaredL2));

TEST(Jaccard, ExactWithTiesByLowerRow) {
  std::mt19937_64 gen(5);
  const int64_t nc = 500, nq = 60, words = 2;
  std::vector<uint64_t> C(nc * words), Q(nq * words);
  auto sparse = [&] { return gen() & gen() & gen(); };
  for (auto& v : C) v = sparse();
  for (auto& v : Q) v = sparse();
  TwinOptions o;
  o.metric = TwinMetric::kJaccard;
  o.client_tile = 64;
  TwinData cd;
  cd.n = nc;
  cd.bits = {C, words, {}, {}};
  TwinData qd;
  qd.n = nq;
  qd.bits = {Q, words, {}, {}};
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok());
  const int k = 10;
  Found f = SearchAll(**ix, qd, k);
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<double> s(nc);
    for (int64_t j = 0; j < nc; ++j) {
      int inter = 0, uni = 0;
      for (int64_t w = 0; w < words; ++w) {
        inter += __builtin_popcountll(Q[i * words + w] & C[j * words + w]);
        uni += __builtin_popcountll(Q[i * words + w] | C[j * words + w]);
      }
      s[j] = uni ? static_cast<float>(inter) / static_cast<float>(uni) : 0.0f;
    }
    auto ref = Reference(s, {}, 0, k);
    for (int r = 0; r < k; ++r) {
      EXPECT_EQ(f.rows[i * k + r], ref[r]);
      EXPECT_EQ(f.scores[i * k + r], static_cast<float>(s[ref[r]]));
    }
  }
}

TEST(Mixed, MissingPartsDropOut) {
  // Clients: income, region, categories. Prospect 0 has no income.
  std::vector<float> c_income = {10, 20, NAN, 30}, q_income = {NAN, 20};
  std::vector<int32_t> c_region = {0, 1, 1, -1}, q_region = {1, 2};  // 2 = other: matches nothing
  std::vector<uint64_t> c_bits = {0b011, 0b110, 0b001, 0b111}, q_bits = {0b011, 0b100};
  std::vector<uint8_t> c_missing = {0, 0, 0, 1}, q_missing = {0, 0};
  TwinOptions o;
  o.metric = TwinMetric::kMixed;
  o.numeric_weights = {1};
  o.categorical_weights = {2};
  o.categorical_other = {2};
  o.set_weights = {1};
  TwinData cd;
  cd.n = 4;
  cd.mixed.numeric = {c_income};
  cd.mixed.categorical = {c_region};
  cd.mixed.sets = {{c_bits, 1, c_missing, {}}};
  TwinData qd;
  qd.n = 2;
  qd.mixed.numeric = {q_income};
  qd.mixed.categorical = {q_region};
  qd.mixed.sets = {{q_bits, 1, q_missing, {}}};
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok()) << ix.status();
  EXPECT_EQ((*ix)->numeric_ranges()[0], 20.0f);
  Found f = SearchAll(**ix, qd, 4);
  // Prospect 0 (income missing, region 1, {0,1}):
  //  c0: region 0 != 1 (w 2, 0), sets {0,1} vs {0,1} = 1 -> 1/3
  //  c1: region equal (2), sets {0,1} vs {1,2} = 1/3 -> (2 + 1/3)/3
  //  c2: region equal (2), sets {0,1} vs {0} = 1/2 -> 2.5/3
  //  c3: region missing, set missing -> no part -> 0
  const float s0[] = {1.0f / 3, (2 + 1.0f / 3) / 3, 2.5f / 3, 0.0f};
  EXPECT_EQ(f.rows[0], 2);
  EXPECT_EQ(f.rows[1], 1);
  EXPECT_EQ(f.rows[2], 0);
  EXPECT_EQ(f.rows[3], 3);
  EXPECT_NEAR(f.scores[0], s0[2], 1e-6);
  EXPECT_NEAR(f.scores[1], s0[1], 1e-6);
  EXPECT_NEAR(f.scores[2], s0[0], 1e-6);
  EXPECT_EQ(f.scores[3], 0.0f);
  // Prospect 1: income 20, unseen region, {2}. c1: income 1, region 0, sets 1/2 -> (1 + 0.5)/4.
  std::vector<int64_t> pr = {1, 1}, cr = {1, 3};
  std::vector<float> parts(6), scores(2);
  ASSERT_TRUE((*ix)->ScorePairs(qd, pr, cr, absl::MakeSpan(parts), absl::MakeSpan(scores)).ok());
  EXPECT_FLOAT_EQ(scores[0], 1.5f / 4);
  EXPECT_FLOAT_EQ(parts[0], 1.0f);
  EXPECT_FLOAT_EQ(parts[1], 0.0f);
  EXPECT_FLOAT_EQ(parts[2], 0.5f);
  EXPECT_FLOAT_EQ(parts[3], 0.5f);  // 20 vs 30 over a range of 20
  EXPECT_TRUE(std::isnan(parts[4]));
  EXPECT_TRUE(std::isnan(parts[5]));
  EXPECT_FLOAT_EQ(scores[1], 0.5f);
}

// A given range (the population's) replaces the clients' own: the numeric
// part of 20 vs 30 is 1 - 10 / 40, not 1 - 10 / 20.
TEST(Mixed, GivenNumericRanges) {
  std::vector<float> c_income = {10, 30, NAN}, q_income = {20};
  TwinOptions o;
  o.metric = TwinMetric::kMixed;
  o.numeric_weights = {1};
  TwinData cd, qd;
  cd.n = 3;
  cd.mixed.numeric = {c_income};
  qd.n = 1;
  qd.mixed.numeric = {q_income};
  o.numeric_ranges = {40};
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok()) << ix.status();
  EXPECT_EQ((*ix)->numeric_ranges(), std::vector<float>{40});
  Found f = SearchAll(**ix, qd, 3);
  EXPECT_EQ(f.rows, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FLOAT_EQ(f.scores[0], 0.75f);
  EXPECT_FLOAT_EQ(f.scores[1], 0.75f);
  EXPECT_EQ(f.scores[2], 0.0f);  // missing: no part left
  std::vector<int64_t> pr = {0}, cr = {1};
  std::vector<float> parts(1), scores(1);
  ASSERT_TRUE((*ix)->ScorePairs(qd, pr, cr, absl::MakeSpan(parts), absl::MakeSpan(scores)).ok());
  EXPECT_FLOAT_EQ(parts[0], 0.75f);
  // One range per numeric column, finite and >= 0.
  o.numeric_ranges = {40, 1};
  EXPECT_NE(TwinIndex::Fit(o, cd).status().message().find("numeric_ranges holds 2 ranges but the clients have 1"),
            std::string::npos);
  o.numeric_ranges = {-1};
  EXPECT_NE(o.Validate().message().find("numeric_ranges[0] must be finite and >= 0"), std::string::npos);
  o.numeric_ranges = {NAN};
  EXPECT_FALSE(o.Validate().ok());
}

// ---------------------------------------------------------------------------
// Blocking on key tuples, against a group-by oracle.

// Key columns held column-major: cols[c][i] is row i's code in key column c.
using KeyTable = std::vector<std::vector<int32_t>>;

std::vector<absl::Span<const int32_t>> Spans(const KeyTable& t) {
  std::vector<absl::Span<const int32_t>> out;
  for (const auto& col : t) out.emplace_back(col);
  return out;
}

std::vector<int32_t> TupleOf(const KeyTable& t, int64_t i) {
  std::vector<int32_t> v;
  for (const auto& col : t) v.push_back(col[i]);
  return v;
}

// Whether a tuple can belong to a block: no code missing or equal to its
// column's "other" code.
bool Usable(const std::vector<int32_t>& tuple, const std::vector<int32_t>& other) {
  for (size_t c = 0; c < tuple.size(); ++c) {
    if (tuple[c] < 0 || (!other.empty() && tuple[c] == other[c])) return false;
  }
  return true;
}

// The oracle: group the clients by key tuple, then the exact top k of each
// prospect's group (score desc, row asc); scores[j] is prospect i vs client j.
std::vector<int64_t> GroupByTopK(const std::map<std::vector<int32_t>, std::vector<int64_t>>& groups,
                                 const std::vector<int32_t>& tuple, const std::vector<int32_t>& other,
                                 const std::vector<float>& scores, int k) {
  std::vector<int64_t> idx;
  auto it = groups.find(tuple);
  if (Usable(tuple, other) && it != groups.end()) idx = it->second;
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  if (static_cast<int>(idx.size()) > k) idx.resize(k);
  return idx;
}

// Jaccard of two rows of 2-word bitsets, computed as the engine does (exact).
float Jaccard2(const uint64_t* a, const uint64_t* b) {
  int inter = 0, uni = 0;
  for (int w = 0; w < 2; ++w) {
    inter += __builtin_popcountll(a[w] & b[w]);
    uni += __builtin_popcountll(a[w] | b[w]);
  }
  return uni ? static_cast<float>(inter) / static_cast<float>(uni) : 0.0f;
}

struct KeyCase {
  int columns;
  int categories;
};

class BlockKeys : public ::testing::TestWithParam<KeyCase> {};

// The failing cases (5 key columns of 7,000 categories, 33 of 3: a
// mixed-radix int64 key overflows both): every prospect that copies a client
// finds it, no twin ever has another key, missing and unseen codes match
// nothing, and 1 and 2 threads agree.
TEST_P(BlockKeys, MatchGroupByOracle) {
  const KeyCase kc = GetParam();
  std::mt19937_64 gen(11);
  const int64_t nc = 1500, words = 2;
  const int32_t other = kc.categories;  // the "unseen" code of every column
  auto code = [&] { return static_cast<int32_t>(gen() % kc.categories); };
  // Clients: a third share one of 40 tuples (blocks of ~12), the rest draw
  // their own; a few hold a missing or an unseen code.
  KeyTable pool(kc.columns, std::vector<int32_t>(40)), ck(kc.columns, std::vector<int32_t>(nc));
  for (auto& col : pool) {
    for (auto& v : col) v = code();
  }
  for (int64_t i = 0; i < nc; ++i) {
    const bool shared = i % 3 == 0;
    const int64_t t = static_cast<int64_t>(gen() % 40);
    for (int c = 0; c < kc.columns; ++c) ck[c][i] = shared ? pool[c][t] : code();
    if (i % 50 == 7) ck[gen() % kc.columns][i] = -1;
    if (i % 50 == 8) ck[gen() % kc.columns][i] = other;
  }
  std::vector<uint64_t> cbits(nc * words);
  for (auto& v : cbits) v = gen() & gen();
  // Prospects: copies of clients (key and bitset), random tuples, tuples of
  // the pool, and copies with a missing or unseen code.
  const int64_t nq = 900;
  KeyTable qk(kc.columns, std::vector<int32_t>(nq));
  std::vector<uint64_t> qbits(nq * words);
  std::vector<int64_t> copy_of(nq, -1);
  for (int64_t i = 0; i < nq; ++i) {
    const int64_t j = static_cast<int64_t>(gen() % nc);
    const int kind = static_cast<int>(i % 4);
    for (int c = 0; c < kc.columns; ++c) qk[c][i] = kind == 0 ? ck[c][j] : kind == 1 ? code() : pool[c][j % 40];
    if (kind == 0) {
      copy_of[i] = j;
      std::copy_n(cbits.data() + j * words, words, qbits.data() + i * words);
    } else {
      for (int64_t w = 0; w < words; ++w) qbits[i * words + w] = gen() & gen();
    }
    if (kind == 3 && i % 8 == 3) qk[gen() % kc.columns][i] = i % 16 == 3 ? -1 : other;
  }
  TwinOptions o;
  o.metric = TwinMetric::kJaccard;
  o.key_other.assign(kc.columns, other);
  o.prospect_tile = 16;
  o.client_tile = 64;
  TwinData cd, qd;
  cd.n = nc;
  cd.bits = {cbits, words, {}, {}};
  cd.keys = Spans(ck);
  qd.n = nq;
  qd.bits = {qbits, words, {}, {}};
  qd.keys = Spans(qk);
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok()) << ix.status();

  std::map<std::vector<int32_t>, std::vector<int64_t>> groups;
  for (int64_t j = 0; j < nc; ++j) {
    auto t = TupleOf(ck, j);
    if (Usable(t, o.key_other)) groups[t].push_back(j);
  }
  EXPECT_EQ((*ix)->BlockCount(), static_cast<int64_t>(groups.size()));
  const int k = 5;
  ASSERT_TRUE(SetNumThreads(1).ok());
  Found one = SearchAll(**ix, qd, k);
  ASSERT_TRUE(SetNumThreads(2).ok());
  Found two = SearchAll(**ix, qd, k);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(one.rows, two.rows);
  EXPECT_EQ(one.scores, two.scores);
  EXPECT_EQ(one.counts, two.counts);
  int64_t copies_found = 0, copies_usable = 0;
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<float> s(nc);
    for (int64_t j = 0; j < nc; ++j) s[j] = Jaccard2(qbits.data() + i * words, cbits.data() + j * words);
    const auto tuple = TupleOf(qk, i);
    const auto ref = GroupByTopK(groups, tuple, o.key_other, s, k);
    ASSERT_EQ(one.counts[i], static_cast<int32_t>(ref.size())) << "prospect " << i;
    for (size_t r = 0; r < ref.size(); ++r) {
      EXPECT_EQ(one.rows[i * k + r], ref[r]) << "prospect " << i << " rank " << r;
      EXPECT_EQ(TupleOf(ck, one.rows[i * k + r]), tuple) << "a twin with another key, prospect " << i;
    }
    if (copy_of[i] >= 0 && Usable(tuple, o.key_other)) {
      ++copies_usable;
      const int64_t* found = one.rows.data() + i * k;
      // Its copy is in its block, with similarity 1 (ties rank lower rows first).
      copies_found += std::find(found, found + one.counts[i], copy_of[i]) != found + one.counts[i] ||
                      (one.counts[i] == k && one.scores[i * k + k - 1] == 1.0f);
    }
  }
  EXPECT_GT(copies_usable, 150);
  EXPECT_EQ(copies_found, copies_usable);
}

INSTANTIATE_TEST_SUITE_P(Twins, BlockKeys, ::testing::Values(KeyCase{5, 7000}, KeyCase{33, 3}, KeyCase{1, 4}));

TEST(BlockKeys, MissingAndUnseenCodesMatchNothing) {
  // Two key columns; clients 0-1 share (1, 2); client 2 has an unseen code
  // (3 in column 1), client 3 a missing one; prospects mirror them.
  KeyTable ck = {{1, 1, 0, 0}, {2, 2, 3, -1}};
  KeyTable qk = {{1, 0, 0, 1, 1}, {2, 3, -1, 0, 2}};
  std::vector<float> C = {1, 0, 0, 1, 1, 1, 1, -1}, Q = {1, 0, 1, 1, 1, 1, 1, 1, 0, 1};
  TwinOptions o;
  o.metric = TwinMetric::kInnerProduct;
  o.key_other = {5, 3};
  TwinData cd = Dense(4, C, 2), qd = Dense(5, Q, 2);
  cd.keys = Spans(ck);
  qd.keys = Spans(qk);
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok()) << ix.status();
  EXPECT_EQ((*ix)->BlockCount(), 1);  // only (1, 2): the others hold an unseen or missing code
  Found f = SearchAll(**ix, qd, 2);
  EXPECT_EQ(f.counts, (std::vector<int32_t>{2, 0, 0, 0, 2}));
  EXPECT_EQ(f.rows[0], 0);  // (1, 0) . (1, 0) = 1 beats (1, 0) . (0, 1) = 0
  EXPECT_EQ(f.rows[1], 1);
  EXPECT_EQ(f.rows[8], 1);  // (0, 1) . (0, 1) = 1
  EXPECT_EQ(f.rows[9], 0);
  // Without key_other, the unseen code is an ordinary code: prospect 1 finds client 2.
  o.key_other.clear();
  auto plain = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(plain.ok());
  Found g = SearchAll(**plain, qd, 2);
  EXPECT_EQ(g.counts, (std::vector<int32_t>{2, 1, 0, 0, 2}));
  EXPECT_EQ(g.rows[2], 2);
}

TEST(BlockKeys, BadInput) {
  KeyTable ck = {{0, 1, 1}, {0, 0, 1}};
  KeyTable short_col = {{0, 1}, {0, 0}};
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  TwinOptions o;
  o.metric = TwinMetric::kInnerProduct;
  TwinData cd = Dense(3, C, 2);
  cd.keys = Spans(short_col);
  auto bad = TwinIndex::Fit(o, cd);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("block key column 0 of the clients has 2 rows, expected 3"),
            std::string::npos) << bad.status();
  cd.keys = Spans(ck);
  o.key_other = {4};
  bad = TwinIndex::Fit(o, cd);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("key_other holds 1 codes but the clients have 2"), std::string::npos);
  o.key_other = {};
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok());
  std::vector<int64_t> rows(3);
  std::vector<float> scores(3);
  std::vector<int32_t> counts(3);
  TwinResults out{absl::MakeSpan(rows), absl::MakeSpan(scores), absl::MakeSpan(counts)};
  TwinData qd = Dense(3, C, 2);
  KeyTable one_col = {{0, 1, 1}};
  qd.keys = Spans(one_col);
  absl::Status s = (*ix)->Search(qd, 1, out);
  EXPECT_NE(s.message().find("the prospects have 1 block key columns, the clients had 2"), std::string::npos) << s;
  qd.keys = {};
  EXPECT_EQ((*ix)->Search(qd, 1, out).code(), absl::StatusCode::kInvalidArgument);  // blocked: keys needed
}

// Weighted Jaccard without weights: the engine's IDF over all the clients
// (blocked out ones included) against the formula, and the search against a
// brute force with those weights.
TEST(WeightedJaccard, IdfWeightsAtFit) {
  std::mt19937_64 gen(9);
  const int64_t nc = 400, nq = 50, words = 2;
  std::vector<uint64_t> C(nc * words), Q(nq * words);
  for (int64_t i = 0; i < nc; ++i) {
    C[i * words] = gen() & gen() & gen();
    C[i * words + 1] = (gen() & gen() & gen() & gen()) & 0xffff;  // bits 80..127 held by no client
  }
  for (auto& v : Q) v = gen() & gen() & gen();
  KeyTable ck = {std::vector<int32_t>(nc, 0)};
  ck[0][3] = -1;  // a client in no block still counts in the IDF
  TwinOptions o;
  o.metric = TwinMetric::kWeightedJaccard;
  TwinData cd;
  cd.n = nc;
  cd.bits = {C, words, {}, {}};
  cd.keys = Spans(ck);
  auto ix = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(ix.ok()) << ix.status();
  const auto& w = (*ix)->bit_weights();
  ASSERT_EQ(w.size(), static_cast<size_t>(words * 64));
  for (int64_t b = 0; b < words * 64; ++b) {
    int64_t df = 0;
    for (int64_t i = 0; i < nc; ++i) df += (C[i * words + b / 64] >> (b % 64)) & 1;
    const double expect = std::log((1.0 + nc) / (1.0 + df)) + 1.0;
    EXPECT_FLOAT_EQ(w[b], static_cast<float>(expect)) << "bit " << b;
  }
  EXPECT_FLOAT_EQ(w[127], static_cast<float>(std::log(1.0 + nc) + 1.0));
  KeyTable qk = {std::vector<int32_t>(nq, 0)};
  TwinData qd;
  qd.n = nq;
  qd.bits = {Q, words, {}, {}};
  qd.keys = Spans(qk);
  const int k = 7;
  Found f = SearchAll(**ix, qd, k);
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<double> s(nc);
    for (int64_t j = 0; j < nc; ++j) {
      double inter = 0, uni = 0;
      for (int64_t b = 0; b < words * 64; ++b) {
        const bool a = (Q[i * words + b / 64] >> (b % 64)) & 1, c = (C[j * words + b / 64] >> (b % 64)) & 1;
        inter += a && c ? w[b] : 0.0;
        uni += a || c ? w[b] : 0.0;
      }
      s[j] = uni > 0 ? inter / uni : 0.0;
    }
    std::vector<int64_t> keys(nc, 0);
    keys[3] = 1;  // out of prospect i's block
    auto ref = Reference(s, keys, 0, k);
    for (int r = 0; r < k; ++r) EXPECT_NEAR(f.scores[i * k + r], s[ref[r]], 1e-5) << "prospect " << i;
  }
  // Given weights are used as given.
  o.bit_weights.assign(words * 64, 2.0f);
  auto given = TwinIndex::Fit(o, cd);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ((*given)->bit_weights(), o.bit_weights);
}

// Issue 24: rows of huge finite values. Before, |y|^2 overflowed float32 to
// inf and the squared L2 search returned inf - inf = NaN. Now kInnerProduct
// and kSquaredL2 refuse a row whose norm passes sqrt(kMaxSquaredNorm),
// naming it, and every row below the bound searches without overflow.
TEST(Dense, RowsTooLargeForFloat32DistancesAreRefusedNeverNaN) {
  const int64_t d = 4;
  std::vector<float> C = {3e38f, -3e38f, 1, 2, 1, 2, 3, 4}, Q = {2.9e38f, -3e38f, 0, 0};
  for (TwinMetric m : {TwinMetric::kSquaredL2, TwinMetric::kInnerProduct}) {
    TwinOptions o;
    o.metric = m;
    auto bad = TwinIndex::Fit(o, Dense(2, C, d));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("the clients features at row 0 are too large for float32 distances"),
              std::string::npos)
        << bad.status();
    EXPECT_NE(bad.status().message().find("at column 0"), std::string::npos) << bad.status();
    // Prospects are held to the same bound.
    std::vector<float> small = {1, 2, 3, 4, 5, 6, 7, 8};
    auto ix = TwinIndex::Fit(o, Dense(2, small, d));
    ASSERT_TRUE(ix.ok());
    std::vector<int64_t> rows(1);
    std::vector<float> scores(1);
    std::vector<int32_t> counts(1);
    const absl::Status s =
        (*ix)->Search(Dense(1, Q, d), 1, {absl::MakeSpan(rows), absl::MakeSpan(scores), absl::MakeSpan(counts)});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("the prospects features at row 0 are too large"), std::string::npos) << s;
  }
  // Just under the bound: finite, right distances (in double), 1 and 2 threads alike.
  const float big = static_cast<float>(std::sqrt(kMaxSquaredNorm / d)) * 0.999f;
  std::vector<float> C2 = {big, -big, big, -big, -big, big, -big, big, big, big, big, big, 0, 0, 0, 0};
  std::vector<float> Q2 = {big, -big, big, -big * 0.5f, 0, 0, 0, 1e18f};
  TwinOptions o;
  o.metric = TwinMetric::kSquaredL2;
  auto ix = TwinIndex::Fit(o, Dense(4, C2, d));
  ASSERT_TRUE(ix.ok()) << ix.status();
  ASSERT_TRUE(SetNumThreads(1).ok());
  Found one = SearchAll(**ix, Dense(2, Q2, d), 4);
  ASSERT_TRUE(SetNumThreads(2).ok());
  Found two = SearchAll(**ix, Dense(2, Q2, d), 4);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(one.rows, two.rows);
  EXPECT_EQ(one.scores, two.scores);
  for (int64_t i = 0; i < 2; ++i) {
    for (int r = 0; r < 4; ++r) {
      const int64_t j = one.rows[i * 4 + r];
      ASSERT_GE(j, 0);
      double l2 = 0;
      for (int64_t t = 0; t < d; ++t) l2 += std::pow(double(Q2[i * d + t]) - C2[j * d + t], 2);
      const float got = one.scores[i * 4 + r];
      ASSERT_TRUE(std::isfinite(got)) << "prospect " << i << " rank " << r;
      // The expansion |x|^2 - 2 x.y + |y|^2 loses what float32 cannot hold
      // beside the norms: absolute error relative to them.
      EXPECT_NEAR(got, l2, 1e-5 * kMaxSquaredNorm) << "prospect " << i << " rank " << r;
    }
  }
}

// Issue 24: the cosine of rows whose float32 norm^2 overflows (|x| >~ 1.8e19)
// or underflows to 0 (subnormal values) was 0, as for zero vectors. The norms
// are now summed in double: the cosine is numpy float64's, whatever the scale.
TEST(Dense, CosineOfHugeAndSubnormalRowsIsRight) {
  const int64_t d = 3;
  const float scales[] = {3e38f, 1e30f, 1e19f, 1.0f, 1e-30f, 1e-39f, 1e-44f};
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> C, Q;
  for (float sc : scales) {
    for (int rep = 0; rep < 3; ++rep) {
      for (int64_t t = 0; t < d; ++t) C.push_back(unit(gen) * sc);
      for (int64_t t = 0; t < d; ++t) Q.push_back(unit(gen) * sc);
    }
  }
  Q.push_back(std::numeric_limits<float>::denorm_min());  // one subnormal value, the rest zero
  Q.push_back(0.0f);
  Q.push_back(0.0f);
  const int64_t nc = static_cast<int64_t>(C.size()) / d, nq = static_cast<int64_t>(Q.size()) / d;
  TwinOptions o;
  o.metric = TwinMetric::kCosine;
  auto ix = TwinIndex::Fit(o, Dense(nc, C, d));
  ASSERT_TRUE(ix.ok()) << ix.status();
  const int k = static_cast<int>(nc);
  ASSERT_TRUE(SetNumThreads(1).ok());
  Found one = SearchAll(**ix, Dense(nq, Q, d), k);
  ASSERT_TRUE(SetNumThreads(2).ok());
  Found two = SearchAll(**ix, Dense(nq, Q, d), k);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(one.rows, two.rows);
  EXPECT_EQ(one.scores, two.scores);
  auto norm = [&](const std::vector<float>& x, int64_t i) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) s += double(x[i * d + t]) * x[i * d + t];
    return std::sqrt(s);
  };
  for (int64_t i = 0; i < nq; ++i) {
    ASSERT_EQ(one.counts[i], k);
    for (int r = 0; r < k; ++r) {
      const int64_t j = one.rows[i * k + r];
      double dot = 0;
      for (int64_t t = 0; t < d; ++t) dot += double(Q[i * d + t]) * C[j * d + t];
      // Subnormal inputs carry few significant bits: the reference is the
      // cosine of the values as stored, which double represents exactly.
      EXPECT_NEAR(one.scores[i * k + r], dot / (norm(Q, i) * norm(C, j)), 1e-6)
          << "prospect " << i << " client " << j;
    }
  }
}

// Issue 24: every unseen category shared one "other" bit, so two prospects'
// different unseen categories matched. With bit_other (set_other for the
// mixed metric) the bit counts in a set's size and union but intersects
// nothing; the reference is Jaccard on sets of names, an unseen name unique.
TEST(Jaccard, UnseenCategoriesCountButNeverMatch) {
  const int32_t other = 3;  // categories 0..2, bit 3 = unseen
  // Clients: {0,1}, {unseen}, {0, unseen}, {}. Prospects: {unseen}, {1, unseen}, {0}.
  std::vector<uint64_t> C = {0b0011, 0b1000, 0b1001, 0}, Q = {0b1000, 0b1010, 0b0001};
  // |A & B| / |A | B| with unseen names all distinct: rows = prospects.
  const double ref[3][4] = {{0, 0, 0, 0},  // {u} vs {0,1}: 0/3; vs {u'}: 0/2; vs {0,u'}: 0/3; vs {}: 0/1
                            {1.0 / 3, 0, 0, 0},  // {1,u} vs {0,1}: 1/3
                            {1.0 / 2, 0, 1.0 / 2, 0}};
  for (TwinMetric m : {TwinMetric::kJaccard, TwinMetric::kWeightedJaccard, TwinMetric::kMixed}) {
    TwinOptions o;
    o.metric = m;
    TwinData cd, qd;
    cd.n = 4;
    qd.n = 3;
    if (m == TwinMetric::kMixed) {
      o.set_weights = {1};
      o.set_other = {other};
      cd.mixed.sets = {{C, 1, {}, {}}};
      qd.mixed.sets = {{Q, 1, {}, {}}};
    } else {
      o.bit_other = other;
      if (m == TwinMetric::kWeightedJaccard) o.bit_weights.assign(64, 1.0f);
      cd.bits = {C, 1, {}, {}};
      qd.bits = {Q, 1, {}, {}};
    }
    auto ix = TwinIndex::Fit(o, cd);
    ASSERT_TRUE(ix.ok()) << ix.status();
    Found f = SearchAll(**ix, qd, 4);
    for (int64_t i = 0; i < 3; ++i) {
      for (int r = 0; r < 4; ++r) {
        EXPECT_NEAR(f.scores[i * 4 + r], ref[i][f.rows[i * 4 + r]], 1e-6)
            << "metric " << static_cast<int>(m) << " prospect " << i << " client " << f.rows[i * 4 + r];
      }
    }
    // The pairs' scores agree with the search.
    std::vector<int64_t> pr = {0, 0, 1, 2}, cr = {1, 2, 2, 2};
    std::vector<float> parts(4 * (*ix)->PartCount()), scores(4);
    ASSERT_TRUE((*ix)->ScorePairs(qd, pr, cr, absl::MakeSpan(parts), absl::MakeSpan(scores)).ok());
    for (int t = 0; t < 4; ++t) EXPECT_NEAR(scores[t], ref[pr[t]][cr[t]], 1e-6) << "pair " << t;
  }
  // A bit past the bitsets is refused.
  TwinOptions o;
  o.metric = TwinMetric::kJaccard;
  o.bit_other = 64;
  TwinData cd;
  cd.n = 4;
  cd.bits = {C, 1, {}, {}};
  EXPECT_EQ(TwinIndex::Fit(o, cd).status().code(), absl::StatusCode::kInvalidArgument);
}

// Several unseen categories in one set are as many items: the set {0, u1, u2}
// has size 3, not 2 (BitsetColumn::unseen). Reference: Jaccard on sets of
// names, each unseen name distinct from every other.
TEST(Jaccard, EachUnseenCategoryCountsInTheSetSize) {
  const int32_t other = 3;
  // Clients: {0,1}, {0, u, u'}, {1, u}. Prospects: {0, u, u', u''}, {1}, {0, 1, u}.
  std::vector<uint64_t> C = {0b0011, 0b1001, 0b1010}, Q = {0b1001, 0b0010, 0b1011};
  std::vector<int32_t> cu = {0, 2, 1}, qu = {3, 0, 1};
  const double ref[3][3] = {{1.0 / 5, 1.0 / 6, 0},     // |{0,u,u',u''}| = 4
                            {1.0 / 2, 0, 1.0 / 2},
                            {2.0 / 3, 1.0 / 5, 1.0 / 4}};
  for (TwinMetric m : {TwinMetric::kJaccard, TwinMetric::kWeightedJaccard, TwinMetric::kMixed})
  for (int threads : {1, 2}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    TwinOptions o;
    o.metric = m;
    o.prospect_tile = 1;  // one prospect per work item: the two threads share the search
    TwinData cd, qd;
    cd.n = 3;
    qd.n = 3;
    if (m == TwinMetric::kMixed) {
      o.set_weights = {1};
      o.set_other = {other};
      cd.mixed.sets = {{C, 1, {}, cu}};
      qd.mixed.sets = {{Q, 1, {}, qu}};
    } else {
      o.bit_other = other;
      // Weighted: the other bit weighs 2, each unseen category as much.
      if (m == TwinMetric::kWeightedJaccard) o.bit_weights.assign(64, 1.0f), o.bit_weights[other] = 2.0f;
      cd.bits = {C, 1, {}, cu};
      qd.bits = {Q, 1, {}, qu};
    }
    auto ix = TwinIndex::Fit(o, cd);
    ASSERT_TRUE(ix.ok()) << ix.status();
    Found f = SearchAll(**ix, qd, 3);
    for (int64_t i = 0; i < 3; ++i) {
      for (int r = 0; r < 3; ++r) {
        const int64_t j = f.rows[i * 3 + r];
        double want = ref[i][j];
        if (m == TwinMetric::kWeightedJaccard) {  // sizes with 2 per unseen category
          const double a = __builtin_popcountll(Q[i] & 0b111) + 2.0 * qu[i];
          const double b = __builtin_popcountll(C[j] & 0b111) + 2.0 * cu[j];
          const double inter = __builtin_popcountll(Q[i] & C[j] & 0b111);
          want = inter / (a + b - inter);
        }
        EXPECT_NEAR(f.scores[i * 3 + r], want, 1e-6)
            << "metric " << static_cast<int>(m) << " threads " << threads << " prospect " << i << " client " << j;
      }
    }
    std::vector<int64_t> pr = {0, 0, 2}, cr = {0, 1, 1};
    std::vector<float> parts(3 * (*ix)->PartCount()), scores(3);
    ASSERT_TRUE((*ix)->ScorePairs(qd, pr, cr, absl::MakeSpan(parts), absl::MakeSpan(scores)).ok());
    if (m == TwinMetric::kJaccard || m == TwinMetric::kMixed) {
      for (int t = 0; t < 3; ++t) EXPECT_NEAR(scores[t], ref[pr[t]][cr[t]], 1e-6) << "pair " << t;
    }
    if (m == TwinMetric::kMixed) {
      for (int t = 0; t < 3; ++t) EXPECT_NEAR(parts[t], ref[pr[t]][cr[t]], 1e-6) << "part " << t;
    }
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
  // Counts of the wrong length or negative are refused.
  TwinOptions o;
  o.metric = TwinMetric::kJaccard;
  o.bit_other = other;
  TwinData cd;
  cd.n = 3;
  std::vector<int32_t> two = {1, 1}, negative = {0, -1, 0};
  cd.bits = {C, 1, {}, two};
  EXPECT_EQ(TwinIndex::Fit(o, cd).status().code(), absl::StatusCode::kInvalidArgument);
  cd.bits = {C, 1, {}, negative};
  EXPECT_EQ(TwinIndex::Fit(o, cd).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Twins, BadInput) {
  std::vector<float> C = {1, 2, 3, 4}, Q = {1, NAN};
  TwinOptions o;
  o.metric = TwinMetric::kSquaredL2;
  auto ix = TwinIndex::Fit(o, Dense(2, C, 2));
  ASSERT_TRUE(ix.ok());
  std::vector<int64_t> rows(6);
  std::vector<float> scores(6);
  std::vector<int32_t> counts(2);
  TwinResults out{absl::MakeSpan(rows), absl::MakeSpan(scores), absl::MakeSpan(counts)};
  EXPECT_EQ((*ix)->Search(Dense(1, Q, 2), 1, out).code(), absl::StatusCode::kInvalidArgument);  // NaN
  EXPECT_EQ((*ix)->Search(Dense(2, C, 2), 3, out).code(), absl::StatusCode::kInvalidArgument);  // k > base
  EXPECT_EQ((*ix)->Search(Dense(2, C, 2), 0, out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->Search(Dense(1, C, 4), 1, out).code(), absl::StatusCode::kInvalidArgument);  // dim
  EXPECT_FALSE(TwinIndex::Fit(o, Dense(0, {}, 2)).ok());  // empty base
  o.metric = TwinMetric::kMixed;
  o.numeric_weights = {-1};
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace twinscore
