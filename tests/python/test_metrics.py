import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

import twinscore as ts


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_ks_match_sklearn(rng, ties):
    n = 20000
    s = rng.normal(size=n)
    if ties:
        s = np.round(s, 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * s))).astype(int)
    w = rng.uniform(0.5, 2, n)
    assert abs(ts.metrics.roc_auc(y, s) - roc_auc_score(y, s)) < 1e-9
    assert abs(ts.metrics.roc_auc(y, s, sample_weight=w) - roc_auc_score(y, s, sample_weight=w)) < 1e-9
    fpr, tpr, _ = roc_curve(y, s)
    assert abs(ts.metrics.ks_statistic(y, s) - np.max(tpr - fpr)) < 1e-12


def test_lift_table_matches_a_pandas_qcut_by_rank(rng):
    n = 10007
    s = rng.random(n)
    y = (rng.random(n) < s * 0.2).astype(int)
    t = ts.metrics.lift_table(y, s, n_bins=10)
    order = np.lexsort((np.arange(n), -s))
    bins = (np.arange(n) * 10) // n
    ref = pd.DataFrame({"y": y[order], "b": bins}).groupby("b")["y"].agg(["size", "sum"])
    assert (t["contacts"].to_numpy() == ref["size"].to_numpy()).all()
    assert (t["converted"].to_numpy() == ref["sum"].to_numpy()).all()
    np.testing.assert_allclose(t["lift"], (ref["sum"] / ref["size"]) / y.mean())
    np.testing.assert_allclose(t["cumulative_gain"].iloc[-1], 1.0)
    assert t["lift"].iloc[0] > 1.5 > t["lift"].iloc[-1]


def test_calibration_and_bands(rng):
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(int)
    cal = ts.metrics.calibration_table(y, p, n_bins=5)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=5)
    np.testing.assert_allclose(cal["observed"], prob_true)
    np.testing.assert_allclose(cal["mean_predicted"], prob_pred)
    bands = ts.metrics.band_table(y, p, [0, 0.5, 0.9, 1.0], labels=["low", "mid", "high"])
    assert list(bands.index) == ["low", "mid", "high"]
    assert bands["contacts"].sum() == 5000
    assert bands.loc["high", "contacts"] == int((p >= 0.9).sum())
    q = ts.metrics.calibration_table(y, p, n_bins=4, strategy="quantile")
    assert len(q) == 4 and q["mean_predicted"].is_monotonic_increasing


def test_identical_for_one_and_two_threads(rng, restore_threads):
    s = np.round(rng.normal(size=300_000), 2)
    y = rng.integers(0, 2, 300_000)
    with ts.threads(1):
        a = ts.metrics.roc_summary(y, s), ts.metrics.lift_table(y, s)
    with ts.threads(2):
        b = ts.metrics.roc_summary(y, s), ts.metrics.lift_table(y, s)
    assert a[0] == b[0]
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)


def test_bad_input():
    with pytest.raises(ValueError, match="single class"):
        ts.metrics.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_score holds a non-finite"):
        ts.metrics.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="0/1"):
        ts.metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="y_true has 1 values"):
        ts.metrics.roc_auc([0], [0.1, 0.2])
    with pytest.raises(ValueError, match="n_bins"):
        ts.metrics.lift_table([0, 1], [0.1, 0.2], n_bins=3)
    with pytest.raises(ValueError, match="outside the bins"):
        ts.metrics.band_table([0, 1], [0.1, 2.0], [0, 1])
    with pytest.raises(ValueError, match="probabilities"):
        ts.metrics.calibration_table([0, 1], [0.1, 1.5])
    with pytest.raises(ValueError, match="strategy"):
        ts.metrics.calibration_table([0, 1], [0.1, 0.5], strategy="odd")
