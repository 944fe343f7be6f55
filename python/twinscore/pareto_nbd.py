"""Pareto/NBD purchase model: the estimator over the C++ engine (cpp/include/twinscore/pareto_nbd.h).

Same estimator contract as :class:`~twinscore.BetaGeo` (fit on the calibration
summary, ``params_``, ``std_errors_``, ``summary()``, ``predict``,
``probability_alive``, per-client intervals from parameter draws, model
files); :func:`~twinscore.lifetime_value` takes either purchase model.
"""

from __future__ import annotations

import pandas as pd

from . import _core
from ._config import resolve_threads
from ._validation import check_float
from .value import PurchaseModel, _draws, _summary_arrays, _weights

__all__ = ["ParetoNBD"]

_NAMES = ("r", "alpha", "s", "beta")


class ParetoNBD(PurchaseModel):
    """Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987), fitted by maximum likelihood.

    While alive, a client buys at a rate lambda, Gamma(r, alpha) across
    clients; it drops out after an exponential lifetime of rate mu,
    Gamma(s, beta) across clients — at any moment, not only after a purchase
    as in the BG/NBD.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the four parameters (0 = plain maximum likelihood).
    max_iter : int, default 500
        Optimiser iterations before the fit is declared non-converged (a
        ValueError, never silent parameters).
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood.
    compress : bool, default True
        Fit on the distinct (frequency, recency, T) patterns weighted by their
        counts: the same likelihood, fewer terms.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta``.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_iter_ : int
        Optimiser iterations.
    n_clients_ : int or float
        Clients fitted (the sum of the weights when weights are given).
    covariance_, std_errors_, fixed_, boundary_
        As for `BetaGeo`: the inverse observed information of
        (r, alpha, s, beta) (central differences of the analytic gradient in
        the fit's coordinates, mapped by the delta method). ``boundary_`` is
        ``"interior"``, or ``"s_held"`` when the likelihood is largest as
        s, beta -> infinity with s / beta fixed (every client drops out at
        nearly one rate, the edge BG/NBD fits reach as a + b -> infinity):
        the fit stops at s = e^12, s is ``fixed_`` (se 0) and beta varies
        with the mean dropout rate s / beta.

    Notes
    -----
    The likelihood (Fader, Hardie & Lee 2005, "A note on deriving the
    Pareto/NBD model and related expressions") holds Gauss hypergeometric
    2F1 terms; the engine sums them in log space in the parametrisation that
    keeps their argument in [0, 1), and integrates the same quantity by
    Gauss-Legendre panels where the series would converge slowly, so
    clients with thousands of purchases or observed over thousands of
    periods give finite values.
    """

    @staticmethod
    def _value_intervals(*args, **kwargs):
        """The lifetime value engine (see value.lifetime_value), with the signature of BetaGeo's."""
        return _core.paretonbd_value_intervals(*args, **kwargs)

    _NAMES = _NAMES
    _ENGINE = "paretonbd"

    def fit(self, summary: pd.DataFrame, weights=None) -> "ParetoNBD":
        """Fit the model to per-client summaries (columns ``frequency``, ``recency`` and ``T``, as
        made by `calibration_summary`), with optional non-negative client ``weights``. Returns self."""
        super().fit(summary, weights)
        if self.boundary_ == "a_plus_b_held":  # the engine's "scale held" code: here the shape s
            self.boundary_ = "s_held"
        return self

    def log_likelihood(self, summary: pd.DataFrame, weights=None) -> float:
        """Log-likelihood of ``summary`` (columns frequency, recency, T) under the fitted parameters."""
        x, t_x, T = _summary_arrays(summary)
        ll, _ = _core.paretonbd_loglik(self._params(), x, t_x, T, _weights(weights, len(x)),
                                       n_threads=resolve_threads())
        return ll

    def _predict(self, summary, t: float):
        t = check_float(t, "t", min_value=0.0)
        x, t_x, T = _summary_arrays(summary)
        return _core.paretonbd_predict(self._params(), x, t_x, T, t, n_threads=resolve_threads())

    def _intervals(self, summary, t, interval, draws, seed, which):
        level = check_float(interval, "interval", min_value=0.0, strict_min=True)
        if not level < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        t = check_float(t, "t", min_value=0.0)
        x, t_x, T = _summary_arrays(summary)
        return _core.paretonbd_predict_intervals(_draws(self, draws, seed), x, t_x, T, t, level, which,
                                                 n_threads=resolve_threads())

    def predict(self, summary: pd.DataFrame, t: float, *, interval: float | None = None, draws: int = 200,
                seed: int = 0):
        """Expected purchases of each client in the next ``t`` periods (after its T).

        E[Y(t) | x, t_x, T] = P(alive) (r + x) (beta + T) / ((alpha + T) (s - 1))
        (1 - ((beta + T) / (beta + T + t))^(s - 1)) (its limit at s = 1).
        With ``interval`` (a level in (0, 1)), a DataFrame with that column and
        ``lower``, ``upper``: quantiles over ``draws`` parameter draws, as
        `BetaGeo.predict`.
        """
        expected, _ = self._predict(summary, t)
        name = f"expected_purchases_{t:g}"
        if interval is None:
            return pd.Series(expected, index=summary.index, name=name)
        lo, hi = self._intervals(summary, t, interval, draws, seed, "expected")
        return pd.DataFrame({name: expected, "lower": lo, "upper": hi}, index=summary.index)

    def probability_alive(self, summary: pd.DataFrame, *, interval: float | None = None, draws: int = 200,
                          seed: int = 0):
        """Probability that each client is still alive at its T; with ``interval``, ``p_alive``, ``lower``, ``upper``."""
        _, alive = self._predict(summary, 0.0)
        if interval is None:
            return pd.Series(alive, index=summary.index, name="p_alive")
        lo, hi = self._intervals(summary, 0.0, interval, draws, seed, "alive")
        return pd.DataFrame({"p_alive": alive, "lower": lo, "upper": hi}, index=summary.index)

    def expected_purchases_new(self, t: float) -> float:
        """Expected purchases of a new client over its first ``t`` periods: r beta / (alpha (s - 1)) (1 - (beta / (beta + t))^(s - 1))."""
        t = check_float(t, "t", min_value=0.0)
        return float(_core.paretonbd_expected_new(self._params(), t))

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.pareto_nbd(self)
