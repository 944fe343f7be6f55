// The contact plan: which channel (e-mail, SMS, postal mailing, phone...) or
// none each contact gets, to maximise the expected profit under per-channel
// capacities and budgets and an overall budget.
//
// Contacting i through channel c converts with probability
// min(1, p_ic * uplift_c) and earns value_ic, at cost_c:
//   profit(i, c) = min(1, p_ic * uplift_c) * value_ic - cost_c,
// where p_ic = p_i and value_ic = value_i when they are given per contact.
//
// The plan is greedy by marginal return: every contact starts with no channel;
// the move (a first channel, or a switch to a more profitable one) with the
// highest extra profit per extra cost is applied while the capacities and
// budgets allow it, until no move adds profit. With only an overall budget
// this is the classical greedy for the multiple-choice knapsack: it takes the
// LP relaxation's solution but for its one fractional contact, so its profit
// is at least the optimum minus the largest single profit(i, c). With
// per-channel limits too there is no such guarantee (tests compare it with an
// exact solver on small cases). Sequential and deterministic: ties go to the
// lower contact, then the lower channel.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "twinscore/common.h"

namespace twinscore {

struct Channel {
  std::string name;
  double cost = 0.0;    // per contact, >= 0
  double uplift = 1.0;  // factor on the conversion probability, >= 0
  int64_t capacity = -1;  // contacts at most; -1: unlimited
  double budget = std::numeric_limits<double>::infinity();  // spend at most
};

// p and value hold one number per contact, or one per contact and channel
// (n x channels, row-major: each channel's own probability, from a model of
// that channel's response, and its own expected value).
struct PlanInput {
  absl::Span<const double> p;        // conversion probabilities in [0, 1]: n, or n * channels
  absl::Span<const double> value;    // expected values, >= 0: n, or n * channels
  absl::Span<const uint8_t> allowed;  // n * channels (row-major) 0/1, or empty: all allowed
  std::vector<Channel> channels;
  double total_budget = std::numeric_limits<double>::infinity();
  bool p_per_channel = false;        // p is n x channels
  bool value_per_channel = false;    // value is n x channels
  int64_t num_contacts() const {
    return static_cast<int64_t>(p.size() / (p_per_channel && !channels.empty() ? channels.size() : 1));
  }
  absl::Status Validate() const;
};

// channel: n ints, the chosen channel index or -1 (none); profit: n expected
// profits (0 for none).
absl::Status ContactPlan(const PlanInput& in, absl::Span<int32_t> channel, absl::Span<double> profit);

}  // namespace twinscore
