// Rule-based lead scoring, as marketing-automation tools write it: explicit
// "fit" rules on a contact's attributes and implicit "behaviour" rules on its
// events, each worth points; behaviour points decay with a half-life and are
// capped per rule. The fit score gives a grade (A, B, C, D...), the total an
// MQL flag. Rules arrive as data (the Python layer reads dicts or TOML and
// resolves names to codes); everything is evaluated in one pass per contact.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "twinscore/columns.h"
#include "twinscore/common.h"
#include "twinscore/events.h"

namespace twinscore {

// Points when a categorical attribute takes some values: points_by_code[c]
// for code c (codes past the table, missing (-1) and unseen get 0).
struct CategoricalFitRule {
  std::string name;
  absl::Span<const int32_t> codes;  // n_rows
  std::vector<double> points_by_code;
};

// `points` when lo <= x < hi (a missing x gets 0).
struct NumericFitRule {
  std::string name;
  NumericColumn column;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  double points = 0.0;
};

// `points` per event of `type` (and of a category with category_mask[c] != 0,
// when the mask is not empty), each weighted by 2^(-age / half_life); the
// rule's sum is then clamped to [-cap, cap]. half_life_days = +inf: no decay.
struct BehaviourRule {
  std::string name;
  int32_t type = 0;
  std::vector<uint8_t> category_mask;
  double points = 0.0;
  double half_life_days = std::numeric_limits<double>::infinity();
  double cap = std::numeric_limits<double>::infinity();
};

struct LeadRules {
  std::vector<CategoricalFitRule> categorical;
  std::vector<NumericFitRule> numeric;
  std::vector<BehaviourRule> behaviour;
  // Grade g (0 = A) is the first g with fit >= grade_edges[g]; the last grade
  // (grade_edges.size()) otherwise. Edges strictly decreasing.
  std::vector<double> grade_edges;
  double mql_threshold = 0.0;  // mql when total >= threshold

  int64_t NumRules() const { return categorical.size() + numeric.size() + behaviour.size(); }
  absl::Status Validate(int64_t n_rows, const EventLog& log) const;
};

// Caller-allocated outputs. rule_points columns: categorical rules, numeric
// rules, then behaviour rules, in their order.
struct LeadScores {
  absl::Span<double> fit;          // n
  absl::Span<double> behaviour;    // n
  absl::Span<double> total;        // n
  absl::Span<double> rule_points;  // n * NumRules()
  absl::Span<int8_t> grade;        // n
  absl::Span<uint8_t> mql;         // n
};

// Reports stage "grouping" (events of the log placed by contact: 0 when
// checked, then every 1Mi) then "scoring" (events of the contacts scored, of
// those with a contact, by rounds of 1Mi events or 256Ki contacts or more).
absl::Status ScoreLeads(const LeadRules& rules, const EventLog& log, int64_t n_rows, int64_t now_ns,
                        const LeadScores& out, const Progress& progress = Progress());

}  // namespace twinscore
