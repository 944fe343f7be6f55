#include "twinscore/plan.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "twinscore/threads.h"

namespace twinscore {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Move {
  double ratio = -kInf;  // extra profit per extra cost (+inf when the cost does not grow)
  double gain = 0.0;     // extra profit
  int64_t contact = -1;
  int32_t to = -1;
  int64_t version = 0;   // the contact's state the move was computed from
};

// Heap order: best ratio, then best gain, then lower contact, lower channel.
struct Worse {
  bool operator()(const Move& a, const Move& b) const {
    if (a.ratio != b.ratio) return a.ratio < b.ratio;
    if (a.gain != b.gain) return a.gain < b.gain;
    if (a.contact != b.contact) return a.contact > b.contact;
    return a.to > b.to;
  }
};

struct State {
  const PlanInput& in;
  size_t n_ch;
  std::vector<int64_t> used;     // contacts per channel
  std::vector<double> spent;     // per channel
  double total = 0.0;

  double Profit(int64_t i, int32_t c) const {
    if (c < 0) return 0.0;
    const Channel& ch = in.channels[c];
    const double p = in.p[in.p_per_channel ? i * n_ch + c : i];
    const double v = in.value[in.value_per_channel ? i * n_ch + c : i];
    return std::min(1.0, p * ch.uplift) * v - ch.cost;
  }
  bool Allowed(int64_t i, int32_t c) const { return in.allowed.empty() || in.allowed[i * n_ch + c]; }
  bool Fits(int32_t from, int32_t c) const {
    const Channel& ch = in.channels[c];
    const double extra = ch.cost - (from >= 0 ? in.channels[from].cost : 0.0);
    if (ch.capacity >= 0 && used[c] >= ch.capacity) return false;
    if (spent[c] + ch.cost > ch.budget) return false;
    return total + extra <= in.total_budget;
  }
  // The best feasible move of contact i from channel `from` (or none).
  Move Best(int64_t i, int32_t from, int64_t version) const {
    Move best;
    const double base = Profit(i, from);
    const double base_cost = from >= 0 ? in.channels[from].cost : 0.0;
    for (int32_t c = 0; c < static_cast<int32_t>(n_ch); ++c) {
      if (c == from || !Allowed(i, c)) continue;
      const double gain = Profit(i, c) - base;
      if (!(gain > 0) || !Fits(from, c)) continue;
      const double extra = in.channels[c].cost - base_cost;
      Move m{extra > 0 ? gain / extra : kInf, gain, i, c, version};
      if (best.contact < 0 || Worse()(best, m)) best = m;
    }
    return best;
  }
};

}  // namespace

absl::Status PlanInput::Validate() const {
  TWINSCORE_CHECK_ARG(!channels.empty(), "at least one channel is needed");
  const size_t k = channels.size();
  TWINSCORE_CHECK_ARG(!p_per_channel || p.size() % k == 0, "p per channel must be n x ", k, ", got ", p.size(),
                      " values");
  const size_t n = static_cast<size_t>(num_contacts());
  TWINSCORE_CHECK_ARG(value.size() == (value_per_channel ? n * k : n), "value has ", value.size(),
                      " entries for ", n, " contacts", value_per_channel ? " x channels" : "");
  TWINSCORE_CHECK_ARG(allowed.empty() || allowed.size() == n * k, "allowed must be n x channels, got ",
                      allowed.size(), " values for ", n, " x ", k);
  for (size_t i = 0; i < p.size(); ++i) {
    TWINSCORE_CHECK_ARG(p[i] >= 0 && p[i] <= 1, "p must be in [0, 1], got ", p[i], " at position ", i);
  }
  for (size_t i = 0; i < value.size(); ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(value[i]) && value[i] >= 0, "value must be finite and >= 0, got ", value[i],
                        " at position ", i);
  }
  for (const Channel& c : channels) {
    TWINSCORE_CHECK_ARG(std::isfinite(c.cost) && c.cost >= 0, "channel '", c.name, "': cost must be finite and >= 0, got ",
                        c.cost);
    TWINSCORE_CHECK_ARG(std::isfinite(c.uplift) && c.uplift >= 0, "channel '", c.name,
                        "': uplift must be finite and >= 0, got ", c.uplift);
    TWINSCORE_CHECK_ARG(c.capacity >= -1, "channel '", c.name, "': capacity must be >= 0 (or -1: none), got ",
                        c.capacity);
    TWINSCORE_CHECK_ARG(!std::isnan(c.budget) && c.budget >= 0, "channel '", c.name, "': budget must be >= 0, got ",
                        c.budget);
  }
  TWINSCORE_CHECK_ARG(!std::isnan(total_budget) && total_budget >= 0, "budget must be >= 0, got ", total_budget);
  return absl::OkStatus();
}

absl::Status ContactPlan(const PlanInput& in, absl::Span<int32_t> channel, absl::Span<double> profit) {
  TWINSCORE_RETURN_IF_ERROR(in.Validate());
  const int64_t n = in.num_contacts();
  TWINSCORE_CHECK_ARG(channel.size() == static_cast<size_t>(n) && profit.size() == static_cast<size_t>(n),
                      "outputs must hold n values");
  State st{in, in.channels.size(), std::vector<int64_t>(in.channels.size(), 0),
           std::vector<double>(in.channels.size(), 0.0)};
  std::fill(channel.begin(), channel.end(), -1);
  std::vector<int64_t> version(n, 0);

  // First moves of every contact, in parallel (each writes its own slot).
  std::vector<Move> first(n);
  ParallelBlocks(n, 1 << 14, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) first[i] = st.Best(i, -1, 0);
  });
  first.erase(std::remove_if(first.begin(), first.end(), [](const Move& m) { return m.contact < 0; }), first.end());
  std::priority_queue<Move, std::vector<Move>, Worse> heap(Worse(), std::move(first));

  while (!heap.empty()) {
    Move m = heap.top();
    heap.pop();
    const int64_t i = m.contact;
    if (m.version != version[i]) continue;  // superseded by a later move of i
    const int32_t from = channel[i];
    if (!st.Fits(from, m.to)) {  // limits shrank since: the next best move instead
      Move again = st.Best(i, from, version[i]);
      if (again.contact >= 0) heap.push(again);
      continue;
    }
    const Channel& to = in.channels[m.to];
    if (from >= 0) {
      st.used[from] -= 1;
      st.spent[from] -= in.channels[from].cost;
      st.total -= in.channels[from].cost;
    }
    st.used[m.to] += 1;
    st.spent[m.to] += to.cost;
    st.total += to.cost;
    channel[i] = m.to;
    version[i] += 1;
    Move next = st.Best(i, m.to, version[i]);
    if (next.contact >= 0) heap.push(next);
  }
  for (int64_t i = 0; i < n; ++i) profit[i] = st.Profit(i, channel[i]);
  return absl::OkStatus();
}

}  // namespace twinscore
