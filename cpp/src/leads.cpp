#include "twinscore/leads.h"

#include <algorithm>
#include <cmath>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr size_t kLeadBlock = 4096;
// With a progress sink, contacts are scored in rounds (a parallel region and
// a report each) of whole blocks holding at least kRoundEvents events or
// kRoundRows contacts; at most ~64 rounds. Contacts are scored alone, so the
// rounds change no result.
constexpr int64_t kRoundEvents = int64_t{1} << 20;
constexpr size_t kRoundRows = size_t{1} << 18;

double NumericPoints(const NumericFitRule& rule, int64_t i) {
  return rule.column.Visit([&](auto view) {
    const double x = view[i];
    return (!std::isnan(x) && x >= rule.lo && x < rule.hi) ? rule.points : 0.0;
  });
}

}  // namespace

absl::Status LeadRules::Validate(int64_t n_rows, const EventLog& log) const {
  for (const auto& r : categorical) {
    TWINSCORE_CHECK_ARG(static_cast<int64_t>(r.codes.size()) == n_rows, "rule '", r.name, "': column has ",
                        r.codes.size(), " rows, expected ", n_rows);
    for (double p : r.points_by_code) TWINSCORE_CHECK_ARG(std::isfinite(p), "rule '", r.name, "': points must be finite");
  }
  for (const auto& r : numeric) {
    TWINSCORE_CHECK_ARG(r.column.n == n_rows, "rule '", r.name, "': column '", r.column.name, "' has ", r.column.n,
                        " rows, expected ", n_rows);
    TWINSCORE_CHECK_ARG(std::isfinite(r.points), "rule '", r.name, "': points must be finite");
    TWINSCORE_CHECK_ARG(!std::isnan(r.lo) && !std::isnan(r.hi) && r.lo < r.hi, "rule '", r.name,
                        "': min must be below max, got [", r.lo, ", ", r.hi, ")");
  }
  for (const auto& r : behaviour) {
    TWINSCORE_CHECK_ARG(r.type >= 0 && r.type < log.n_types, "rule '", r.name, "': event type code ", r.type,
                        " outside [0, ", log.n_types, ")");
    TWINSCORE_CHECK_ARG(r.category_mask.empty() || (!log.categories.empty() &&
                                                    static_cast<int64_t>(r.category_mask.size()) == log.n_categories),
                        "rule '", r.name, "': category mask does not match the event categories");
    TWINSCORE_CHECK_ARG(std::isfinite(r.points), "rule '", r.name, "': points must be finite");
    TWINSCORE_CHECK_ARG(r.half_life_days > 0 && !std::isnan(r.half_life_days), "rule '", r.name,
                        "': half_life_days must be > 0");
    TWINSCORE_CHECK_ARG(r.cap >= 0 && !std::isnan(r.cap), "rule '", r.name, "': cap must be >= 0");
  }
  for (size_t g = 0; g < grade_edges.size(); ++g) {
    TWINSCORE_CHECK_ARG(std::isfinite(grade_edges[g]) && (g == 0 || grade_edges[g] < grade_edges[g - 1]),
                        "grades: thresholds must be finite and strictly decreasing");
  }
  TWINSCORE_CHECK_ARG(grade_edges.size() < 127, "grades: too many grades");
  TWINSCORE_CHECK_ARG(std::isfinite(mql_threshold), "mql_threshold must be finite");
  return absl::OkStatus();
}

absl::Status ScoreLeads(const LeadRules& rules, const EventLog& log, int64_t n_rows, int64_t now_ns,
                        const LeadScores& out, const Progress& progress) {
  TWINSCORE_CHECK_ARG(n_rows >= 0, "n_rows must be >= 0");
  const size_t n = static_cast<size_t>(n_rows);
  const int64_t R = rules.NumRules();
  TWINSCORE_CHECK_ARG(out.fit.size() == n && out.behaviour.size() == n && out.total.size() == n &&
                          out.grade.size() == n && out.mql.size() == n && out.rule_points.size() == n * R,
                      "lead score outputs do not match ", n_rows, " contacts x ", R, " rules");
  TWINSCORE_RETURN_IF_ERROR(rules.Validate(n_rows, log));
  TWINSCORE_RETURN_IF_ERROR(log.Validate(n_rows, now_ns));
  TWINSCORE_REPORT(progress, "grouping", 0, log.size());
  const absl::StatusOr<Grouping> grouped = GroupByRow(log.rows, n_rows, progress);
  TWINSCORE_RETURN_IF_ERROR(grouped.status());
  const Grouping& g = *grouped;
  const size_t n_fit = rules.categorical.size() + rules.numeric.size();
  std::vector<double> half_life_ns;
  for (const auto& b : rules.behaviour) half_life_ns.push_back(b.half_life_days * static_cast<double>(kNsPerDay));

  auto score = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      double* pts = out.rule_points.data() + i * R;
      size_t k = 0;
      double fit = 0.0;
      for (const auto& r : rules.categorical) {
        const int32_t c = r.codes[i];
        pts[k] = (c >= 0 && static_cast<size_t>(c) < r.points_by_code.size()) ? r.points_by_code[c] : 0.0;
        fit += pts[k++];
      }
      for (const auto& r : rules.numeric) {
        pts[k] = NumericPoints(r, i);
        fit += pts[k++];
      }
      double* beh = pts + n_fit;
      std::fill(beh, beh + rules.behaviour.size(), 0.0);
      for (int64_t j = g.offsets[i]; j < g.offsets[i + 1]; ++j) {
        const int64_t e = g.order[j];
        const double age = static_cast<double>(now_ns - log.timestamps[e]);
        for (size_t b = 0; b < rules.behaviour.size(); ++b) {
          const auto& r = rules.behaviour[b];
          if (log.types[e] != r.type) continue;
          if (!r.category_mask.empty()) {
            const int32_t c = log.categories[e];
            if (c < 0 || !r.category_mask[c]) continue;
          }
          beh[b] += std::isinf(r.half_life_days) ? r.points : r.points * DecayWeight(age, half_life_ns[b]);
        }
      }
      double behaviour = 0.0;
      for (size_t b = 0; b < rules.behaviour.size(); ++b) {
        const double cap = rules.behaviour[b].cap;
        beh[b] = std::min(std::max(beh[b], -cap), cap);
        behaviour += beh[b];
      }
      int8_t grade = static_cast<int8_t>(rules.grade_edges.size());
      for (size_t e = 0; e < rules.grade_edges.size(); ++e) {
        if (fit >= rules.grade_edges[e]) {
          grade = static_cast<int8_t>(e);
          break;
        }
      }
      out.fit[i] = fit;
      out.behaviour[i] = behaviour;
      out.total[i] = fit + behaviour;
      out.grade[i] = grade;
      out.mql[i] = (fit + behaviour) >= rules.mql_threshold;
    }
  };
  const int64_t kept = g.offsets[n];
  const int64_t round_events = progress.enabled() ? std::max(kRoundEvents, kept / 64) : kept + 1;
  const size_t round_rows = progress.enabled() ? std::max(kRoundRows, n / 64) : n + 1;
  for (size_t r0 = 0, r1; r0 < n; r0 = r1) {
    r1 = std::min(n, r0 + kLeadBlock);
    while (r1 < n && g.offsets[r1] - g.offsets[r0] < round_events && r1 - r0 < round_rows) {
      r1 = std::min(n, r1 + kLeadBlock);
    }
    ParallelBlocks(r1 - r0, kLeadBlock, [&](size_t, size_t begin, size_t end) { score(r0 + begin, r0 + end); });
    if (r1 < n) TWINSCORE_REPORT(progress, "scoring", g.offsets[r1], kept);
  }
  TWINSCORE_REPORT(progress, "scoring", kept, kept);
  return absl::OkStatus();
}

}  // namespace twinscore
