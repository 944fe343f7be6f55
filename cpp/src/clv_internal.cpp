// Shared helpers of the lifetime-value engines (see clv_internal.h).
#include "clv_internal.h"

#include <numeric>

namespace twinscore::clv_internal {

absl::Status CheckSummaries(absl::Span<const double> x, absl::Span<const double> t_x, absl::Span<const double> T,
                            absl::Span<const double> w) {
  const size_t n = x.size();
  TWINSCORE_CHECK_ARG(n > 0, "no client to fit");
  TWINSCORE_CHECK_ARG(t_x.size() == n, "recency (t_x) has ", t_x.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(T.size() == n, "T has ", T.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(w.empty() || w.size() == n, "weights has ", w.size(), " values, expected ", n);
  for (size_t i = 0; i < n; ++i) {
    TWINSCORE_CHECK_ARG(std::isfinite(x[i]) && x[i] >= 0 && x[i] == std::floor(x[i]) && x[i] <= 1e7,
                        "frequency at position ", i, " must be a whole number >= 0, got ", x[i]);
    TWINSCORE_CHECK_ARG(std::isfinite(T[i]) && T[i] >= 0, "T at position ", i, " must be finite and >= 0, got ",
                        T[i]);
    TWINSCORE_CHECK_ARG(std::isfinite(t_x[i]) && t_x[i] >= 0 && t_x[i] <= T[i], "recency at position ", i,
                        " must be in [0, T], got ", t_x[i], " with T = ", T[i]);
    TWINSCORE_CHECK_ARG(x[i] > 0 || t_x[i] == 0, "recency at position ", i, " must be 0 when frequency is 0");
    TWINSCORE_CHECK_ARG(w.empty() || (std::isfinite(w[i]) && w[i] >= 0), "weight at position ", i,
                        " must be finite and >= 0");
  }
  return absl::OkStatus();
}

int MaxX(absl::Span<const double> x) { return static_cast<int>(*std::max_element(x.begin(), x.end())); }

double TotalWeight(size_t n, absl::Span<const double> w) {
  return w.empty() ? static_cast<double>(n) : std::accumulate(w.begin(), w.end(), 0.0);
}

std::optional<Eigen::MatrixXd> FreeCovariance(const Eigen::MatrixXd& info, const std::vector<bool>& held) {
  std::vector<int> free;
  for (int k = 0; k < static_cast<int>(held.size()); ++k) {
    if (!held[k]) free.push_back(k);
  }
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(info.rows(), info.cols());
  if (free.empty()) return cov;
  Eigen::MatrixXd sub(free.size(), free.size());
  for (size_t i = 0; i < free.size(); ++i) {
    for (size_t j = 0; j < free.size(); ++j) sub(i, j) = info(free[i], free[j]);
  }
  if (!sub.allFinite()) return std::nullopt;
  Eigen::LLT<Eigen::MatrixXd> llt(sub);
  if (llt.info() != Eigen::Success) return std::nullopt;
  const Eigen::MatrixXd inv = llt.solve(Eigen::MatrixXd::Identity(free.size(), free.size()));
  if (!inv.allFinite() || (inv.diagonal().array() <= 0).any()) return std::nullopt;
  for (size_t i = 0; i < free.size(); ++i) {
    for (size_t j = 0; j < free.size(); ++j) cov(free[i], free[j]) = inv(i, j);
  }
  return cov;
}

absl::Status WriteUncertainty(const Eigen::MatrixXd& natural, const Eigen::MatrixXd& jacobian, Boundary boundary,
                              Uncertainty* out) {
  const Eigen::Index k = natural.rows();
  TWINSCORE_CHECK_ARG(natural.allFinite(), "the covariance of the parameters is not finite (the parameters are too "
                                           "large or too small for the data to bound them)");
  for (Eigen::Index i = 0; i < k; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) out->cov[i * k + j] = natural(i, j);
    out->fixed[i] = jacobian.row(i).isZero(0.0) ? 1 : 0;
  }
  out->boundary = boundary;
  return absl::OkStatus();
}

absl::Status CheckUncertaintyOut(const Uncertainty* out, size_t k) {
  TWINSCORE_CHECK_ARG(out != nullptr && out->cov.size() == k * k && out->fixed.size() == k, "the covariance output must "
                      "hold ", k * k, " values and the fixed flags ", k);
  return absl::OkStatus();
}

bool AtBound(double v) { return std::abs(v) >= kBound - 1e-9; }

double Quantile(double* v, size_t d, double q) {
  const double h = (static_cast<double>(d) - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  std::nth_element(v, v + lo, v + d);
  const double a = v[lo];
  if (lo + 1 >= d) return a;
  const double b = *std::min_element(v + lo + 1, v + d);
  return a + (h - static_cast<double>(lo)) * (b - a);
}

absl::Status CheckDraws(absl::Span<const double> draws, size_t k, const char* what) {
  TWINSCORE_CHECK_ARG(!draws.empty() && draws.size() % k == 0, what, " draws must hold a multiple of ", k,
                      " values, got ", draws.size());
  return absl::OkStatus();
}

absl::Status CheckLevel(double level) {
  TWINSCORE_CHECK_ARG(std::isfinite(level) && level > 0 && level < 1, "interval level must be in (0, 1), got ", level);
  return absl::OkStatus();
}

}  // namespace twinscore::clv_internal
