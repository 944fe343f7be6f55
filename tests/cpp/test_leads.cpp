#include "twinscore/leads.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinscore {
namespace {

TEST(ScoreLeads, FitBehaviourDecayCapGradeAndMql) {
  const int64_t now = 100 * kNsPerDay;
  std::vector<int32_t> band = {0, 1, kMissingCode};
  std::vector<double> income = {50000, NAN, 20000};
  // events: contact 0 views category 2 twice (one 30 days old), contact 1
  // unsubscribes, contact 2 views category 0 eight times today.
  std::vector<int64_t> rows = {0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2};
  std::vector<int64_t> ts(11, now);
  ts[1] = now - 30 * kNsPerDay;
  std::vector<int32_t> types = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<int32_t> cats = {2, 2, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  EventLog log{rows, ts, types, cats, 2, 3};
  LeadRules rules;
  rules.categorical.push_back({"young", band, {10.0, 5.0}});
  NumericColumn inc{"income", income.data(), 3, 1, false};
  rules.numeric.push_back({"rich", inc, 40000, INFINITY, 7.0});
  rules.behaviour.push_back({"pricing", 0, {0, 0, 1}, 10.0, 30.0, INFINITY});
  rules.behaviour.push_back({"views", 0, {}, 1.0, INFINITY, 5.0});
  rules.behaviour.push_back({"unsub", 1, {}, -50.0, INFINITY, INFINITY});
  rules.grade_edges = {15.0, 5.0};
  rules.mql_threshold = 20.0;
  std::vector<double> fit(3), beh(3), total(3), pts(15);
  std::vector<int8_t> grade(3);
  std::vector<uint8_t> mql(3);
  LeadScores out{absl::MakeSpan(fit), absl::MakeSpan(beh),   absl::MakeSpan(total),
                 absl::MakeSpan(pts), absl::MakeSpan(grade), absl::MakeSpan(mql)};
  ASSERT_TRUE(ScoreLeads(rules, log, 3, now, out).ok());
  EXPECT_EQ(fit, (std::vector<double>{17, 5, 0}));
  EXPECT_NEAR(beh[0], 10 + 5 + 2, 1e-12);
  EXPECT_EQ(beh[1], -50);
  EXPECT_EQ(beh[2], 5);  // capped
  EXPECT_EQ(grade, (std::vector<int8_t>{0, 1, 2}));
  EXPECT_EQ(mql, (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_NEAR(total[0], 34, 1e-12);
}

TEST(ScoreLeads, RefusesBadRules) {
  std::vector<int64_t> rows;
  std::vector<int64_t> ts;
  std::vector<int32_t> types;
  EventLog log{rows, ts, types, {}, 1, 0};
  LeadRules rules;
  rules.behaviour.push_back({"bad type", 4, {}, 1.0, INFINITY, INFINITY});
  std::vector<double> a(1), b(1), c(1), p(1);
  std::vector<int8_t> g(1);
  std::vector<uint8_t> q(1);
  LeadScores out{absl::MakeSpan(a), absl::MakeSpan(b), absl::MakeSpan(c),
                 absl::MakeSpan(p), absl::MakeSpan(g), absl::MakeSpan(q)};
  auto s = ScoreLeads(rules, log, 1, 0, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad type"), std::string::npos);
}

}  // namespace
}  // namespace twinscore
