"""Client value at discrete opportunities: the BG/BB model (Fader, Hardie & Shang 2010).

Where a client can act only when solicited — a weekly newsletter, an annual
appeal, a monthly catalogue — purchases are counted per opportunity, not in
continuous time. :func:`discrete_summary` turns a transaction log into the
per-client (frequency, recency, n_periods) the model reads;
:class:`BetaGeoBetaBinom` fits it and predicts, with the estimator API of
:class:`~twinscore.BetaGeo` (standard errors, intervals, model files).

The likelihood, its gradient, the fit and every prediction run in the C++
engine (``cpp/include/twinscore/bgbb.h``); this module checks and shapes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _core, _frames
from ._config import resolve_threads
from ._validation import check_float, check_int
from .value import PurchaseModel, _draws, _summary_arrays, _weights

__all__ = ["BetaGeoBetaBinom", "discrete_summary"]

_COLUMNS = ("frequency", "recency", "n_periods")
_NAMES = ("alpha", "beta", "gamma", "delta")
# The concentrations held in the covariance (bit 1: alpha + beta, bit 2: gamma + delta).
_HELD = {0: "interior", 1: "alpha_plus_beta_held", 2: "gamma_plus_delta_held", 3: "both_held"}


def discrete_summary(transactions, *, customer: str, date: str, freq: str, calibration_end,
                     observation_end=None) -> pd.DataFrame:
    """Per-client (frequency, recency, n_periods) over discrete opportunities, from a transaction log.

    Each calendar period of ``freq`` (a pandas period alias: ``"W"`` weeks,
    ``"M"`` months, ``"Y"`` years, ...) is one opportunity; a client bought at
    an opportunity when it has at least one transaction in that period. A
    client's first period is its birth; the opportunities after it, up to the
    period holding ``calibration_end``, are its ``n_periods``.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction, in any order.
    customer, date : str
        The client id and the transaction date columns.
    freq : str
        The opportunity period.
    calibration_end : date
        The last calibration opportunity is the period holding it.
    observation_end : date, optional
        With it, ``holdout_frequency`` = opportunities with a purchase in the
        periods after the calibration up to the one holding it (their number
        is ``result.attrs["n_holdout_periods"]``). A transaction after it is
        an error (without it, the latest period at or after the calibration).

    Returns
    -------
    DataFrame
        Indexed by client (those whose first purchase is in a calibration
        period, in order of first appearance): ``frequency`` = repeat
        opportunities with a purchase, ``recency`` = the last of them counted
        from the first period (0 when none), ``n_periods`` = calibration
        opportunities after the first; ``holdout_frequency`` with
        ``observation_end``.
    """
    codes, ids = _frames.client_codes(_frames.column(transactions, customer, "customer", "transactions"), customer)
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    if len(codes) == 0:
        raise ValueError("transactions is empty")
    if not isinstance(freq, str):
        raise TypeError(f"freq must be a pandas period alias such as 'W', 'M' or 'Y', got {type(freq).__name__}")
    try:
        period = pd.DatetimeIndex(time.view("datetime64[ns]")).to_period(freq).asi8
        cal = pd.Period(_frames.timestamp(calibration_end, "calibration_end").tz_localize(None), freq).ordinal
        obs = None if observation_end is None else pd.Period(
            _frames.timestamp(observation_end, "observation_end").tz_localize(None), freq).ordinal
    except (ValueError, TypeError, AttributeError) as exc:
        if "calibration_end" in str(exc) or "observation_end" in str(exc):
            raise
        raise ValueError(f"freq {freq!r} is not a pandas period alias ('W', 'M', 'Q', 'Y', ...): {exc}") from None
    last = max(cal, int(period.max())) if obs is None else obs
    if last < cal:
        raise ValueError("observation_end must not be before calibration_end")
    if int(period.max()) > last:
        row = int(np.argmax(period > last))
        raise ValueError(f"transactions: the date at row {row} is after the observation end {observation_end}")
    # Distinct (client, period) pairs, sorted by client then period: one sort, no row loop.
    from .value_diagnostics import distinct_pairs

    who, per = distinct_pairs(codes, period)
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    first = np.full(len(ids), np.iinfo(np.int64).max)
    first[who[starts]] = per[starts]
    born = first <= cal
    if not born.any():
        raise ValueError("no purchase in a calibration period: calibration_end is before the first purchase")
    age = per - first[who]
    repeat = (age > 0) & (per <= cal)
    x = np.bincount(who[repeat], minlength=len(ids)).astype(np.float64)
    t_x = np.zeros(len(ids))
    np.maximum.at(t_x, who[repeat], age[repeat].astype(np.float64))
    cols = {"frequency": x[born], "recency": t_x[born], "n_periods": (cal - first[born]).astype(np.float64)}
    if observation_end is not None:
        hold = (per > cal) & born[who]
        cols["holdout_frequency"] = np.bincount(who[hold], minlength=len(ids)).astype(np.float64)[born]
    out = pd.DataFrame(cols, index=ids[born])
    if observation_end is not None:
        out.attrs["n_holdout_periods"] = int(last - cal)
    return out


def _patterns(summary) -> list[np.ndarray]:
    return _summary_arrays(summary, _COLUMNS)


def _whole(t, name: str) -> int:
    """A whole number of opportunities (an int, or a float holding one)."""
    if isinstance(t, (float, np.floating)) and float(t).is_integer():
        t = int(t)
    return check_int(t, name, min_value=0, max_value=100_000_000)


class BetaGeoBetaBinom(PurchaseModel):
    """BG/BB purchase model for discrete opportunities (Fader, Hardie & Shang 2010).

    While alive, a client buys at each opportunity with probability
    p ~ Beta(alpha, beta) across clients; before each opportunity an alive
    client leaves for good with probability theta ~ Beta(gamma, delta).

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the four parameters (0 = plain maximum likelihood).
    max_iter : int, default 500
        Optimiser iterations before the fit is declared non-converged (a
        ValueError).
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood.
    compress : bool, default True
        Fit on the distinct (frequency, recency, n_periods) patterns with
        their counts: the same likelihood, fewer terms (a cohort observed for
        n opportunities has at most (n + 1)(n + 2) / 2 patterns).

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    log_likelihood_, n_iter_, n_clients_
        As for `BetaGeo`.
    covariance_, std_errors_, fixed_
        The inverse observed information of the four parameters (central
        differences of the analytic gradient in C++, in the coordinates
        (logit mean, log concentration) of each Beta, mapped by the delta
        method). None when the information is not positive definite (the
        data do not identify the parameters; ``summary`` then says so).
    boundary_ : str
        ``"interior"``, or ``"gamma_plus_delta_held"`` (``"alpha_plus_beta_held"``,
        ``"both_held"``) where the likelihood is flat in that concentration —
        its supremum at gamma + delta -> infinity: one drop-out probability
        gamma / (gamma + delta) for every client (one transaction probability
        for alpha + beta). The fit then stops on the way (huge gamma, delta,
        within rounding of the supremum, predictions the limit's); the
        concentration is held where it stopped, and gamma, delta vary through
        their mean alone (a rank-one joint covariance, correlation -1).

    Notes
    -----
    The summary columns are ``frequency`` (x: repeat opportunities with a
    transaction), ``recency`` (t_x: the opportunity of the last, 0 when x =
    0) and ``n_periods`` (n: opportunities after the first), whole numbers
    with x <= t_x <= n — what :func:`discrete_summary` makes. The
    likelihood's sum over the possible drop-out points runs in log space with
    every Beta ratio a compensated sum of logs: n of many thousands is exact.
    """

    summary_columns = _COLUMNS  # what the diagnostics read: frequency, recency, age

    _NAMES = _NAMES
    _ENGINE = "bgbb"

    def fit(self, summary: pd.DataFrame, weights=None) -> "BetaGeoBetaBinom":
        """Fit the model to per-client summaries.

        Parameters
        ----------
        summary : DataFrame
            Columns ``frequency``, ``recency`` and ``n_periods`` (see Notes).
        weights : array-like of shape (n,) or str, optional
            Non-negative client weights (e.g. the count of each pattern), or
            the name of a column of ``summary`` holding them.

        Returns
        -------
        BetaGeoBetaBinom
            self, fitted.
        """
        super().fit(summary, weights)
        held = self.__dict__.pop("_held_scales", None)  # which concentration the engine held, if any
        if self.covariance_ is not None:
            self.boundary_ = _HELD[held]
        return self

    def _arrays(self, summary):
        return list(_patterns(summary))

    def _client_weights(self, summary, weights):
        return _summary_arrays(summary, (weights,))[0] if isinstance(weights, str) else weights

    def _covariance(self, params, x, t_x, n, w, penalizer, n_threads):
        cov, fixed, boundary, self._held_scales = _core.bgbb_covariance(params, x, t_x, n, w, penalizer,
                                                                        n_threads=n_threads)
        return cov, fixed, boundary

    def log_likelihood(self, summary: pd.DataFrame, weights=None) -> float:
        """Log-likelihood of ``summary`` (frequency, recency, n_periods) under the fitted parameters."""
        x, t_x, n = _patterns(summary)
        ll, _ = _core.bgbb_loglik(self._params(), x, t_x, n, _weights(weights, len(x)), n_threads=resolve_threads())
        return ll

    def _predict(self, summary, t, discount: float = 0.0):
        x, t_x, n = _patterns(summary)
        return _core.bgbb_predict(self._params(), x, t_x, n, float(t), discount, n_threads=resolve_threads())

    def _intervals(self, summary, t, interval, draws, seed, which):
        level = check_float(interval, "interval", min_value=0.0, strict_min=True)
        if not level < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        x, t_x, n = _patterns(summary)
        return _core.bgbb_predict_intervals(_draws(self, draws, seed), x, t_x, n, float(t), level, which,
                                            n_threads=resolve_threads())

    def predict(self, summary: pd.DataFrame, t: int, *, interval: float | None = None, draws: int = 200,
                seed: int = 0):
        """Expected transactions of each client in the next ``t`` opportunities.

        Parameters
        ----------
        summary : DataFrame
            Columns ``frequency``, ``recency``, ``n_periods``.
        t : int
            Opportunities ahead (a whole number >= 0).
        interval, draws, seed
            Per-client intervals from the parameters' uncertainty, as
            `BetaGeo.predict`: quantiles over ``draws`` parameter draws.

        Returns
        -------
        Series or DataFrame
            E[X(n, n + t) | x, t_x, n] (Fader, Hardie & Shang 2010, eq. 13),
            indexed like ``summary``; with ``interval`` a DataFrame with
            ``lower`` and ``upper``.
        """
        t = _whole(t, "t")
        expected, _, _ = self._predict(summary, t)
        name = f"expected_purchases_{t}"
        if interval is None:
            return pd.Series(expected, index=summary.index, name=name)
        lo, hi = self._intervals(summary, t, interval, draws, seed, "expected")
        return pd.DataFrame({name: expected, "lower": lo, "upper": hi}, index=summary.index)

    def probability_alive(self, summary: pd.DataFrame, *, interval: float | None = None, draws: int = 200,
                          seed: int = 0):
        """P(alive at opportunity n + 1 | x, t_x, n) of each client (eq. 11).

        With ``interval`` (see `predict`) a DataFrame with ``p_alive``,
        ``lower`` and ``upper``.
        """
        _, alive, _ = self._predict(summary, 0)
        if interval is None:
            return pd.Series(alive, index=summary.index, name="p_alive")
        lo, hi = self._intervals(summary, 0, interval, draws, seed, "alive")
        return pd.DataFrame({"p_alive": alive, "lower": lo, "upper": hi}, index=summary.index)

    def expected_residual_transactions(self, summary: pd.DataFrame, *, discount: float) -> pd.Series:
        """Discounted expected residual transactions (DERT, eq. 15) of each client.

        The sum over every future opportunity k >= 1 of the expected
        transaction at n + k, divided by (1 + ``discount``)^k (``discount`` >
        0, per opportunity): multiplied by a margin per transaction, the
        client's residual value.
        """
        discount = check_float(discount, "discount", min_value=0.0, strict_min=True)
        _, _, dert = self._predict(summary, 0, discount)
        return pd.Series(dert, index=summary.index, name="dert")

    def expected_purchases_new(self, t: int) -> float:
        """Expected transactions of a new client in its first ``t`` opportunities, E[X(t)] (eq. 9)."""
        t = _whole(t, "t")
        zero = pd.DataFrame({c: [0.0] for c in _COLUMNS})
        return float(self._predict(zero, t)[0][0])

    def purchase_count_probabilities(self, ages, max_count: int) -> np.ndarray:
        """P(X(n) = k) for each age n in ``ages`` (opportunities) and k = 0..max_count (eq. 8).

        Returns an array of shape (len(ages), max_count + 1): the distribution
        of a new client's transactions in its first n opportunities.
        """
        from .value_diagnostics import _ages

        n, max_count = _ages(ages, max_count)
        max_count = check_int(max_count, "max_count", min_value=0, max_value=1_000_000)
        bad = (n != np.floor(n)) | (n > 1_000_000)
        if bad.any():
            raise ValueError(f"ages must be whole numbers of opportunities in [0, 1e6], got {n[np.argmax(bad)]:g} at "
                             f"position {int(np.argmax(bad))}")
        if len(n) == 0:
            return np.zeros((0, max_count + 1))
        return _core.bgbb_count_probabilities(self._params(), n, max_count, n_threads=resolve_threads())

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display._value_model("BetaGeoBetaBinom", self, _NAMES)
