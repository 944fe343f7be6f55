#include "twinscore/logistic.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <Eigen/Dense>

#include "twinscore/logistic_kernels.h"
#include "twinscore/threads.h"

namespace twinscore {

const kernels::LogisticKernels& kernels::Logistic() { return Logistic(ActiveSimdLevel()); }

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Matrix = Eigen::MatrixXd;
using MatrixF = Eigen::MatrixXf;
using Vector = Eigen::VectorXd;

constexpr int64_t kMaxFitBlocks = 64;  // bounds the per-block Hessians kept for the ordered reduction
constexpr int64_t kMinFitBlock = 4096;
constexpr int64_t kChunk = 512;        // rows per float32 Hessian update (the scaled copy stays in L2)
constexpr size_t kScoreBlock = 4096;
constexpr size_t kScoreSubBlock = 1024;  // rows scored in an L1 buffer (8 KiB)
constexpr double kKeepHessianMove = 1e-3;  // steps shorter than this keep the last Hessian
constexpr int64_t kHessianRows = 131072;  // rows sampled for the Hessian (its relative error ~ sqrt(d / rows))

// Loss, gradient and Hessian sums (unregularised, unscaled) at beta.
struct Sums {
  double loss = 0.0;
  Vector grad;
  Matrix hess;  // lower triangle filled
};

struct Problem {
  absl::Span<const float> X;
  int64_t n, d;
  absl::Span<const double> y, w;
};

// One block's loss and gradient in float64 over every row (they fix the
// optimum), and its Hessian in float32 over every `hess_stride`-th chunk of
// rows (scaled back): the Hessian only shapes the Newton step, so an
// approximate one leaves the optimum unchanged and costs a few more steps of
// fast linear convergence, while the float32 SYRK on a sample of the rows
// removes the n·d²/2 multiply-adds that dominated every pass. The sample is
// fixed by the global chunk index, so it does not depend on the threads.
void AccumulateRows(const Problem& p, const Vector& beta, int64_t begin, int64_t end, int64_t hess_stride,
                    Sums& s) {
  const int64_t d = p.d, D = d + 1;
  RowMatrixF B(kChunk, D);  // rows scaled by sqrt(h_i), intercept column last
  MatrixF Hc(D, D);
  Eigen::ArrayXd z(kChunk), e(kChunk), pr(kChunk), ones = Eigen::ArrayXd::Ones(kChunk);
  Eigen::ArrayXf root(kChunk);
  for (int64_t c = begin; c < end; c += kChunk) {
    const int64_t m = std::min(kChunk, end - c);
    const float* X = p.X.data() + c * d;
    Eigen::Map<const Eigen::ArrayXd> yc(p.y.data() + c, m);
    Eigen::Map<const Eigen::ArrayXd> wc(p.w.empty() ? ones.data() : p.w.data() + c, m);
    auto zm = z.head(m);
    auto em = e.head(m);
    auto pm = pr.head(m);
    kernels::Logistic().chunk_scores(X, m, d, beta.data(), zm.data());
    zm += beta[d];
    // Vectorised over the chunk: one exp per row gives the loss
    // max(z,0) - y z + log(1 + e^-|z|) and the probability, stably (log of
    // 1 + e rather than log1p, which Eigen does not vectorise: an absolute
    // error below 1e-16 per row, on the objective only).
    em = (-zm.abs()).exp();
    s.loss += (wc * (zm.max(0.0) - yc * zm + (1.0 + em).log())).sum();
    pm = (zm >= 0.0).select(1.0 / (1.0 + em), em / (1.0 + em));
    if (hess_stride > 0 && (c / kChunk) % hess_stride == 0) {
      Eigen::Map<const RowMatrixF> Xc(X, m, d);
      root.head(m) = (static_cast<double>(hess_stride) * wc * pm * (1.0 - pm)).sqrt().cast<float>();
      B.topLeftCorner(m, d) = root.head(m).matrix().asDiagonal() * Xc;  // outer products sum to X^T H X
      B.col(d).head(m) = root.head(m).matrix();
      Hc.setZero();
      Hc.selfadjointView<Eigen::Lower>().rankUpdate(B.topRows(m).transpose());
      s.hess.triangularView<Eigen::Lower>() += Hc.cast<double>();
    }
    zm = wc * (pm - yc);
    kernels::Logistic().chunk_gradient(X, m, d, zm.data(), s.grad.data());
    s.grad[d] += zm.sum();
  }
}

// Every chunk's rows up to kHessianRows rows, then every k-th chunk so that
// about kHessianRows rows (at least) form the Hessian.
int64_t HessianStride(int64_t n) { return std::max<int64_t>(1, n / kHessianRows); }

// with_hessian false: loss and gradient only (s.hess stays zero).
Sums Evaluate(const Problem& p, const Vector& beta, bool with_hessian = true) {
  const int64_t D = p.d + 1;
  const int64_t block = std::max(kMinFitBlock, (p.n + kMaxFitBlocks - 1) / kMaxFitBlocks);
  std::vector<Sums> parts(NumBlocks(p.n, block));
  ParallelBlocks(p.n, block, [&](size_t b, size_t begin, size_t end) {
    Sums& s = parts[b];
    s.grad = Vector::Zero(D);
    s.hess = Matrix::Zero(D, D);
    AccumulateRows(p, beta, begin, end, with_hessian ? HessianStride(p.n) : 0, s);
  });
  Sums total{0.0, Vector::Zero(D), Matrix::Zero(D, D)};
  for (const Sums& s : parts) {  // block order: thread-count independent
    total.loss += s.loss;
    total.grad += s.grad;
    total.hess += s.hess;
  }
  return total;
}

absl::Status CheckInputs(absl::Span<const float> X, int64_t n, int64_t d, absl::Span<const double> y,
                         absl::Span<const double> w) {
  TWINSCORE_CHECK_ARG(n > 0 && d >= 0, "X must have rows, got ", n, " x ", d);
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(X.size()) == n * d, "X holds ", X.size(), " values, expected ", n, " x ", d);
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(y.size()) == n, "y has ", y.size(), " values, expected ", n);
  TWINSCORE_CHECK_ARG(w.empty() || static_cast<int64_t>(w.size()) == n, "sample_weight has ", w.size(),
                      " values, expected ", n);
  std::vector<double> pos(NumBlocks(n, kScoreBlock)), neg(pos.size());
  TWINSCORE_RETURN_IF_ERROR(ParallelBlocksStatus(n, kScoreBlock, [&](size_t b, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      TWINSCORE_CHECK_ARG(y[i] == 0.0 || y[i] == 1.0, "y must hold 0/1 labels, got ", y[i], " at row ", i);
      const double wi = w.empty() ? 1.0 : w[i];
      TWINSCORE_CHECK_ARG(std::isfinite(wi) && wi >= 0, "sample_weight must be finite and >= 0, got ", wi,
                          " at row ", i);
      (y[i] == 1.0 ? pos[b] : neg[b]) += wi;
    }
    return absl::OkStatus();
  }));
  double p = 0, q = 0;
  for (size_t b = 0; b < pos.size(); ++b) p += pos[b], q += neg[b];
  if (!(p > 0 && q > 0)) {
    return absl::FailedPreconditionError(
        "y has a single class (with positive weight): a conversion score needs converted and non-converted contacts");
  }
  return absl::OkStatus();
}

// The first non-finite value of X as an error. Only called when the first
// pass found a non-finite loss: at beta = 0 every score is 0 * x, NaN exactly
// when the row holds a NaN or an infinity, so that pass checks X for free
// and this scan runs on bad input only.
absl::Status FindNonFinite(absl::Span<const float> X, int64_t n, int64_t d) {
  return ParallelBlocksStatus(n, kScoreBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        TWINSCORE_CHECK_ARG(std::isfinite(X[i * d + j]), "X holds a non-finite value at row ", i, ", column ", j);
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status LogisticOptions::Validate() const {
  TWINSCORE_CHECK_ARG(std::isfinite(C) && C > 0, "C must be finite and > 0, got ", C);
  TWINSCORE_CHECK_ARG(max_iter >= 1, "max_iter must be >= 1, got ", max_iter);
  TWINSCORE_CHECK_ARG(std::isfinite(tol) && tol > 0, "tol must be finite and > 0, got ", tol);
  return absl::OkStatus();
}

absl::StatusOr<LogisticModel> FitLogistic(absl::Span<const float> X, int64_t n, int64_t d,
                                          absl::Span<const double> y, absl::Span<const double> sample_weight,
                                          const LogisticOptions& options) {
  TWINSCORE_RETURN_IF_ERROR(options.Validate());
  TWINSCORE_RETURN_IF_ERROR(CheckInputs(X, n, d, y, sample_weight));
  const Problem p{X, n, d, y, sample_weight};
  const int64_t D = d + 1;
  // f = C * loss + |w|^2 / 2; without an intercept its coordinate is pinned at
  // 0 (zero gradient, unit curvature), which keeps one code path.
  auto objective = [&](const Sums& s, const Vector& beta) {
    return options.C * s.loss + 0.5 * beta.head(d).squaredNorm();
  };
  auto gradient = [&](const Sums& s, const Vector& beta, Vector& g) {
    g = options.C * s.grad;
    g.head(d) += beta.head(d);
    if (!options.fit_intercept) g[d] = 0.0;
  };
  auto hessian = [&](const Sums& s, Matrix& H) {
    H = options.C * s.hess.selfadjointView<Eigen::Lower>();
    H.diagonal().head(d).array() += 1.0;
    if (!options.fit_intercept) {
      H.row(d).setZero();
      H.col(d).setZero();
      H(d, d) = 1.0;
    }
  };
  LogisticModel model;
  Vector beta = Vector::Zero(D), g;
  Matrix H;
  Eigen::LDLT<Matrix> ldlt;
  Sums s = Evaluate(p, beta);
  bool has_hessian = true;  // s holds a new Hessian
  if (!std::isfinite(s.loss)) {
    TWINSCORE_RETURN_IF_ERROR(FindNonFinite(X, n, d));
  }
  double f = objective(s, beta);
  for (int it = 1; it <= options.max_iter; ++it) {
    gradient(s, beta, g);
    if (has_hessian) {
      hessian(s, H);
      ldlt.compute(H);
    }
    const Vector step = ldlt.solve(g);
    const double slope = g.dot(step);  // > 0: H is positive definite
    if (step.cwiseAbs().maxCoeff() <= options.tol) {
      // Converged: this full step moves no coefficient more than tol, and a
      // step that small always passes the line search, so it is taken
      // without the pass over X that would only confirm it. The objective
      // is the Newton model's value there.
      beta -= step;
      f -= 0.5 * slope;
      model.n_iter = it;
      model.converged = true;
      break;
    }
    double t = 1.0;
    Vector cand;
    Sums sc;
    double fc = f;
    for (int k = 0; k < 40; ++k, t *= 0.5) {  // backtracking (Armijo), rarely needed
      cand = beta - t * step;
      // Once the steps are short, the Hessian of the last point that formed
      // one (and its factorisation) is kept: it moves by less than its own
      // sampling error, so the steps converge as fast, and the passes skip
      // the rank update.
      has_hessian = (t * step).cwiseAbs().maxCoeff() >= kKeepHessianMove;
      sc = Evaluate(p, cand, has_hessian);
      fc = objective(sc, cand);
      if (fc <= f - 1e-4 * t * slope + 1e-13 * std::abs(f)) break;
    }
    const double moved = (t * step).cwiseAbs().maxCoeff();
    beta = cand, s = std::move(sc), f = fc;
    model.n_iter = it;
    if (moved <= options.tol) {
      model.converged = true;
      break;
    }
  }
  model.coef.assign(beta.data(), beta.data() + d);
  model.intercept = beta[d];
  model.objective = f;
  return model;
}

absl::Status DecisionDense(absl::Span<const float> X, int64_t n, int64_t d, absl::Span<const double> coef,
                           double intercept, absl::Span<double> out) {
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(X.size()) == n * d, "X holds ", X.size(), " values, expected ", n, " x ", d);
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(coef.size()) == d, "coef has ", coef.size(), " values, X has ", d,
                      " columns");
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(out.size()) == n, "out has ", out.size(), " values, expected ", n);
  return ParallelBlocksStatus(n, kScoreBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      double z = intercept;
      const float* x = X.data() + i * d;
      for (int64_t j = 0; j < d; ++j) z += coef[j] * x[j];
      TWINSCORE_CHECK_ARG(std::isfinite(z), "X holds a non-finite value in row ", i);
      out[i] = z;
    }
    return absl::OkStatus();
  });
}

namespace {

// Calls add(feature, contribution) for each non-zero encoded feature of row i.
template <class Add>
absl::Status VisitContributions(const DenseEncoderSpec& spec, absl::Span<const double> coef, size_t i, Add&& add) {
  int64_t col = 0;
  for (size_t j = 0; j < spec.numeric.size(); ++j, ++col) {
    const auto& c = spec.numeric[j];
    const auto& e = spec.numeric_encoding[j];
    const double v = c.Visit([&](auto view) { return static_cast<double>(view[i]); });
    double z;
    if (std::isnan(v)) {
      z = e.fill;
    } else {
      TWINSCORE_CHECK_ARG(!std::isinf(v), "column '", c.name, "' holds an infinite value at row ", i,
                          "; use NaN for a missing value");
      // float32 rounding as EncodeDense, so fused and two-pass scores agree.
      z = static_cast<float>((std::min(std::max(v, e.lo), e.hi) - e.center) / e.scale);
    }
    if (z != 0.0) add(col, coef[col] * z);
  }
  for (const auto& c : spec.categorical) {
    const int32_t code = c.codes[i];
    if (code >= 0 && code < c.n_categories) {
      add(col + code, coef[col + code]);
    } else {
      TWINSCORE_CHECK_ARG(code == kMissingCode || code == c.n_categories, "column '", c.name, "': code ", code,
                          " at row ", i, " is outside [-1, ", c.n_categories, "]");
    }
    col += c.n_categories;
  }
  for (const auto& c : spec.sets) {
    const uint64_t* row = c.bits.data() + i * c.words;
    for (int64_t w = 0; w < c.words; ++w) {
      for (uint64_t word = row[w]; word != 0; word &= word - 1) {
        const int64_t bit = w * 64 + __builtin_ctzll(word);
        if (bit < c.n_categories) add(col + bit, coef[col + bit]);
      }
    }
    col += c.n_categories;
  }
  return absl::OkStatus();
}

absl::Status CheckEncoded(const DenseEncoderSpec& spec, int64_t n, absl::Span<const double> coef) {
  TWINSCORE_RETURN_IF_ERROR(spec.Validate(n));
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(coef.size()) == spec.Width(), "coef has ", coef.size(),
                      " values, the encoded table has ", spec.Width(), " features");
  return absl::OkStatus();
}

}  // namespace

namespace {

// Adds coef * encoded value of one numeric column to the block's scores; the
// column is read once, in a tight loop (scoring is bound by memory reads).
template <class View>
absl::Status AddNumeric(const View& x, const std::string& name, const NumericEncoding& e, double w, size_t begin,
                        size_t end, double* z) {
  for (size_t i = begin; i < end; ++i) {
    const double v = x[i];
    double u;
    if (std::isnan(v)) {
      u = e.fill;
    } else {
      TWINSCORE_CHECK_ARG(!std::isinf(v), "column '", name, "' holds an infinite value at row ", i,
                          "; use NaN for a missing value");
      u = static_cast<float>((std::min(std::max(v, e.lo), e.hi) - e.center) / e.scale);
    }
    z[i - begin] += w * u;
  }
  return absl::OkStatus();
}

// Scores of rows [begin, end) into z (end - begin values).
absl::Status ScoreRows(const DenseEncoderSpec& spec, absl::Span<const double> coef, double intercept,
                     const std::vector<std::vector<double>>& tables, size_t begin, size_t end, double* z) {
  const int64_t m = static_cast<int64_t>(end - begin);
  std::fill(z, z + m, intercept);
  int64_t col = 0;
  for (size_t j = 0; j < spec.numeric.size(); ++j, ++col) {
    const auto& c = spec.numeric[j];
    const auto& e = spec.numeric_encoding[j];
    if (c.is_float32 && c.stride == 1) {  // the common layout: the vectorised kernel
      const float* x = static_cast<const float*>(c.data) + begin;
      const int64_t bad =
          kernels::Logistic().add_numeric(x, m, e.center, e.scale, e.lo, e.hi, e.fill, coef[col], z);
      TWINSCORE_CHECK_ARG(bad == m, "column '", c.name, "' holds an infinite value at row ", begin + bad,
                          "; use NaN for a missing value");
      continue;
    }
    TWINSCORE_RETURN_IF_ERROR(c.Visit([&](auto view) {
      return AddNumeric(view, c.name, e, coef[col], begin, end, z);
    }));
  }
  for (size_t k = 0; k < spec.categorical.size(); ++k) {
    const auto& c = spec.categorical[k];
    const int64_t bad =
        kernels::Logistic().add_codes(c.codes.data() + begin, m, tables[k].data(), c.n_categories, z);
    TWINSCORE_CHECK_ARG(bad == m, "column '", c.name, "': code ", c.codes[begin + bad], " at row ", begin + bad,
                        " is outside [-1, ", c.n_categories, "]");
    col += c.n_categories;
  }
  for (const auto& c : spec.sets) {
    for (size_t i = begin; i < end; ++i) {
      const uint64_t* row = c.bits.data() + i * c.words;
      for (int64_t wd = 0; wd < c.words; ++wd) {
        for (uint64_t word = row[wd]; word != 0; word &= word - 1) {
          const int64_t bit = wd * 64 + __builtin_ctzll(word);
          if (bit < c.n_categories) z[i - begin] += coef[col + bit];
        }
      }
    }
    col += c.n_categories;
  }
  return absl::OkStatus();
}



}  // namespace

absl::Status DecisionEncoded(const DenseEncoderSpec& spec, int64_t n, absl::Span<const double> coef,
                             double intercept, absl::Span<double> out) {
  TWINSCORE_RETURN_IF_ERROR(CheckEncoded(spec, n, coef));
  TWINSCORE_CHECK_ARG(static_cast<int64_t>(out.size()) == n, "out has ", out.size(), " values, expected ", n);
  // Per categorical column, its coefficients behind a 0 for the missing code
  // (-1) and followed by a 0 for the "other" code: one branch-free look-up.
  std::vector<std::vector<double>> tables;
  int64_t col = static_cast<int64_t>(spec.numeric.size());
  for (const auto& c : spec.categorical) {
    std::vector<double>& t = tables.emplace_back(c.n_categories + 2, 0.0);
    std::copy(coef.begin() + col, coef.begin() + col + c.n_categories, t.begin() + 1);
    col += c.n_categories;
  }
  // Column by column over a block of rows: each column is streamed once and
  // the block's scores stay in L1 (a local buffer, a quarter of it), then go
  // to the output with non-temporal stores.
  return ParallelBlocksStatus(n, kScoreBlock, [&](size_t, size_t block_begin, size_t block_end) -> absl::Status {
    alignas(64) double buffer[kScoreSubBlock];
    for (size_t begin = block_begin; begin < block_end; begin += kScoreSubBlock) {
      const size_t end = std::min(block_end, begin + kScoreSubBlock);
      TWINSCORE_RETURN_IF_ERROR(ScoreRows(spec, coef, intercept, tables, begin, end, buffer));
      kernels::Logistic().stream_store(buffer, static_cast<int64_t>(end - begin), out.data() + begin);
    }
    return absl::OkStatus();
  });
}

absl::Status ExplainEncoded(const DenseEncoderSpec& spec, int64_t n, absl::Span<const double> coef, int top,
                            absl::Span<int32_t> features, absl::Span<double> values) {
  TWINSCORE_RETURN_IF_ERROR(CheckEncoded(spec, n, coef));
  TWINSCORE_CHECK_ARG(top >= 1, "top must be >= 1, got ", top);
  TWINSCORE_CHECK_ARG(features.size() == static_cast<size_t>(n) * top && values.size() == features.size(),
                      "explanation outputs must hold ", n, " x ", top, " values");
  return ParallelBlocksStatus(n, kScoreBlock, [&](size_t, size_t begin, size_t end) -> absl::Status {
    std::vector<std::pair<double, int64_t>> parts;
    for (size_t i = begin; i < end; ++i) {
      parts.clear();
      TWINSCORE_RETURN_IF_ERROR(
          VisitContributions(spec, coef, i, [&](int64_t j, double c) { parts.emplace_back(c, j); }));
      const size_t k = std::min<size_t>(top, parts.size());
      // Largest first; ties by feature index, so the order is reproducible.
      std::partial_sort(parts.begin(), parts.begin() + k, parts.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      for (int t = 0; t < top; ++t) {
        const bool has = static_cast<size_t>(t) < k;
        features[i * top + t] = has ? static_cast<int32_t>(parts[t].second) : -1;
        values[i * top + t] = has ? parts[t].first : 0.0;
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace twinscore
