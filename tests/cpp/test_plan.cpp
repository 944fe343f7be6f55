#include "twinscore/plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

double Profit(const PlanInput& in, int64_t i, int32_t c) {
  if (c < 0) return 0;
  const size_t k = in.channels.size();
  const double p = in.p_per_channel ? in.p[i * k + c] : in.p[i];
  const double v = in.value_per_channel ? in.value[i * k + c] : in.value[i];
  return std::min(1.0, p * in.channels[c].uplift) * v - in.channels[c].cost;
}

bool Feasible(const PlanInput& in, const std::vector<int32_t>& a) {
  std::vector<int64_t> used(in.channels.size());
  std::vector<double> spent(in.channels.size());
  double total = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0) continue;
    if (!in.allowed.empty() && !in.allowed[i * in.channels.size() + a[i]]) return false;
    used[a[i]] += 1;
    spent[a[i]] += in.channels[a[i]].cost;
    total += in.channels[a[i]].cost;
  }
  for (size_t c = 0; c < in.channels.size(); ++c) {
    if (in.channels[c].capacity >= 0 && used[c] > in.channels[c].capacity) return false;
    if (spent[c] > in.channels[c].budget + 1e-9) return false;
  }
  return total <= in.total_budget + 1e-9;
}

// Best plan by enumerating every assignment ((channels + 1)^n).
double BruteForce(const PlanInput& in) {
  const int64_t n = in.num_contacts(), m = in.channels.size() + 1;
  int64_t combos = 1;
  for (int64_t i = 0; i < n; ++i) combos *= m;
  double best = 0;
  std::vector<int32_t> a(n);
  for (int64_t code = 0; code < combos; ++code) {
    int64_t x = code;
    double s = 0;
    for (int64_t i = 0; i < n; ++i, x /= m) a[i] = static_cast<int32_t>(x % m) - 1, s += Profit(in, i, a[i]);
    if (s > best && Feasible(in, a)) best = s;
  }
  return best;
}

TEST(Plan, NoLimitsGivesEachContactItsBestChannel) {
  std::vector<double> p = {0.5, 0.05, 0.2, 0.0}, v = {100, 100, 10, 50};
  PlanInput in{p, v, {}, {{"email", 0.1, 1.0}, {"phone", 5.0, 1.6}}};
  std::vector<int32_t> ch(4);
  std::vector<double> pr(4);
  ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
  // Contact 1: e-mail 0.05*100-0.1 = 4.9 beats phone 0.08*100-5 = 3; p=0 never pays.
  EXPECT_EQ(ch, (std::vector<int32_t>{1, 0, 0, -1}));
  EXPECT_DOUBLE_EQ(pr[0], 0.8 * 100 - 5.0);
}

TEST(Plan, GreedyAgainstBruteForce) {
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 6;
    std::vector<double> p(n), v(n);
    for (int i = 0; i < n; ++i) p[i] = 0.3 * u(gen), v[i] = 20 + 200 * u(gen);
    PlanInput in{p, v, {}, {{"email", 0.2, 1.0}, {"mail", 1.5, 1.3}, {"phone", 6.0, 2.0}}};
    const bool global_only = trial % 2 == 0;
    in.total_budget = 2 + 12 * u(gen);
    if (!global_only) {
      in.channels[2].capacity = 1 + trial % 3;
      in.channels[1].budget = 3.0;
    }
    std::vector<int32_t> ch(n);
    std::vector<double> pr(n);
    ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
    ASSERT_TRUE(Feasible(in, ch));
    double got = 0, max_single = 0;
    for (int i = 0; i < n; ++i) {
      EXPECT_DOUBLE_EQ(pr[i], Profit(in, i, ch[i]));
      got += pr[i];
      for (int c = 0; c < 3; ++c) max_single = std::max(max_single, Profit(in, i, c));
    }
    const double opt = BruteForce(in);
    EXPECT_LE(got, opt + 1e-9);
    if (global_only) {
      EXPECT_GE(got, opt - max_single - 1e-9) << "trial " << trial;
    }
  }
}

TEST(Plan, PerChannelProbabilitiesAndValuesAgainstBruteForce) {
  // Each channel's own response model: a contact who answers the phone may
  // ignore e-mail, and a mailing may sell a bigger basket.
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 6, k = 3;
    std::vector<double> p(n * k), v(n * k);
    for (int i = 0; i < n * k; ++i) p[i] = 0.4 * u(gen), v[i] = 20 + 200 * u(gen);
    PlanInput in{p, v, {}, {{"email", 0.2, 1.0}, {"mail", 1.5, 1.0}, {"phone", 6.0, 1.0}}};
    in.p_per_channel = in.value_per_channel = true;
    in.total_budget = trial % 2 ? 4 + 10 * u(gen) : std::numeric_limits<double>::infinity();
    if (trial % 3 == 0) in.channels[2].capacity = 1;
    std::vector<int32_t> ch(n);
    std::vector<double> pr(n);
    ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
    ASSERT_TRUE(Feasible(in, ch));
    double got = 0;
    for (int i = 0; i < n; ++i) {
      EXPECT_DOUBLE_EQ(pr[i], Profit(in, i, ch[i]));
      got += pr[i];
    }
    const double opt = BruteForce(in);
    EXPECT_LE(got, opt + 1e-9);
    if (std::isinf(in.total_budget) && in.channels[2].capacity < 0) {
      EXPECT_NEAR(got, opt, 1e-9) << trial;  // no limit: each contact its best channel
    }
  }
  // Shapes are checked.
  std::vector<double> p(7), v(3);
  PlanInput bad{p, v, {}, {{"email", 0.2, 1.0}, {"mail", 1.5, 1.0}}};
  bad.p_per_channel = true;
  std::vector<int32_t> ch(3);
  std::vector<double> pr(3);
  EXPECT_FALSE(ContactPlan(bad, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
}

TEST(Plan, TinyBudgetGivesAnEmptyPlanAndThreadsAgree) {
  std::vector<double> p(50000), v(50000);
  for (size_t i = 0; i < p.size(); ++i) p[i] = (i % 97) / 200.0, v[i] = 10 + i % 13;
  PlanInput in{p, v, {}, {{"email", 0.5, 1.0, 1000}, {"phone", 4.0, 1.8, -1, 900.0}}};
  in.total_budget = 0.1;
  std::vector<int32_t> ch(p.size());
  std::vector<double> pr(p.size());
  ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
  for (int32_t c : ch) ASSERT_EQ(c, -1);
  in.total_budget = 3000;
  std::vector<int32_t> a(p.size()), b(p.size());
  ASSERT_TRUE(SetNumThreads(1).ok());
  ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(a), absl::MakeSpan(pr)).ok());
  ASSERT_TRUE(SetNumThreads(2).ok());
  ASSERT_TRUE(ContactPlan(in, absl::MakeSpan(b), absl::MakeSpan(pr)).ok());
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(a, b);
  EXPECT_TRUE(Feasible(in, a));
}

TEST(Plan, BadInput) {
  std::vector<double> p = {0.5}, v = {10};
  std::vector<int32_t> ch(1);
  std::vector<double> pr(1);
  PlanInput in{p, v, {}, {{"email", -1.0, 1.0}}};
  auto s = ContactPlan(in, absl::MakeSpan(ch), absl::MakeSpan(pr));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("email"), std::string::npos);
  std::vector<double> bad_p = {1.5};
  EXPECT_FALSE(ContactPlan(PlanInput{bad_p, v, {}, {{"sms", 0.1, 1.0}}}, absl::MakeSpan(ch), absl::MakeSpan(pr)).ok());
}

}  // namespace
}  // namespace twinscore
