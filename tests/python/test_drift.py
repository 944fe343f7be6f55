"""Drift between runs: PSI against its formula on pandas' bins, the stability
table of a whole frame, the calibration check against scipy's chi-square."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts
from twinscore import drift


def _reference_psi(expected, actual, n_bins=10, a=0.5):
    """PSI of continuous data (no ties) from pandas.qcut's edges, written out."""
    _, edges = pd.qcut(expected, n_bins, retbins=True, duplicates="drop")
    inner = edges[1:-1]
    # (e_i, e_{i+1}] with the first closed on the left; beyond the ends: the end bins
    e_bin = np.searchsorted(inner, expected, side="left")
    a_bin = np.searchsorted(inner, actual, side="left")
    k = len(edges) - 1
    e = np.bincount(e_bin, minlength=k).astype(float)
    c = np.bincount(a_bin, minlength=k).astype(float)
    keep = (e + c) > 0
    e, c = e[keep], c[keep]
    es = (e + a) / (e.sum() + a * len(e))
    cs = (c + a) / (c.sum() + a * len(c))
    return float(np.sum((cs - es) * np.log(cs / es)))


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5, 2.0])
def test_psi_matches_its_formula_on_pandas_bins(shift):
    rng = np.random.default_rng(3)
    e = rng.normal(size=20_000)
    a = rng.normal(shift, 1.0 + shift / 4, size=15_000)
    got = drift.psi(e, a)
    assert got.psi == pytest.approx(_reference_psi(e, a), rel=1e-12, abs=1e-15)
    assert got.table["expected_rows"].sum() == len(e)
    assert got.table["actual_rows"].sum() == len(a)
    assert got.table["psi"].sum() == pytest.approx(got.psi)
    assert got.status == ("stable" if got.psi < 0.1 else "watch" if got.psi < 0.25 else "act")


def test_psi_status_thresholds_and_identical_runs():
    rng = np.random.default_rng(0)
    e = rng.normal(size=50_000)
    assert drift.psi(e, e).psi == pytest.approx(0.0, abs=1e-15)
    assert drift.psi(e, e).status == "stable"
    assert drift.psi(e, rng.normal(1.0, 1.0, 50_000)).status == "act"
    assert drift._status(0.0999) == "stable" and drift._status(0.1) == "watch" and drift._status(0.25) == "act"


def test_psi_of_a_categorical_counts_unseen_and_missing_apart():
    e = pd.Series(["a"] * 60 + ["b"] * 30 + [None] * 10)
    a = pd.Series(["a"] * 40 + ["b"] * 30 + ["c"] * 20 + [None] * 10)
    got = drift.psi(e, a, name="region")
    t = got.table.set_index("bin")
    assert list(t.index) == ["a", "b", "(other)", "(missing)"]
    assert t["expected_rows"].tolist() == [60, 30, 0, 10]
    assert t["actual_rows"].tolist() == [40, 30, 20, 10]
    es = (np.array([60, 30, 0, 10]) + 0.5) / (100 + 2.0)
    cs = (np.array([40, 30, 20, 10]) + 0.5) / (100 + 2.0)
    assert got.psi == pytest.approx(np.sum((cs - es) * np.log(cs / es)), rel=1e-12)
    assert got.column == "region"


def test_psi_keeps_a_dominant_value_in_its_own_bin_and_missing_apart():
    rng = np.random.default_rng(1)
    e = np.where(rng.random(10_000) < 0.6, 0.0, rng.exponential(size=10_000))
    a = e.copy()
    a[:1000] = np.nan
    got = drift.psi(e, a)
    t = got.table.set_index("bin")
    assert t.loc["0", "expected_rows"] == np.sum(e == 0)
    assert t.loc["(missing)", "actual_rows"] == 1000 and t.loc["(missing)", "expected_rows"] == 0
    assert got.status == "act"


@pytest.mark.parametrize("convert", [
    lambda x: x,
    lambda x: pd.Series(x, dtype="Float64"),
    lambda x: pd.Series(x.astype(np.float32)),
    lambda x: pa.array(x),
    lambda x: list(x),
])
def test_psi_reads_every_array_kind(convert):
    rng = np.random.default_rng(2)
    e = np.round(rng.normal(size=5000), 3)
    a = np.round(rng.normal(0.2, 1, size=4000), 3)
    ref = drift.psi(e.astype(np.float32), a.astype(np.float32))
    got = drift.psi(convert(e), convert(a))
    if isinstance(convert(e), pd.Series) and convert(e).dtype == np.float32:
        assert got.psi == ref.psi
    else:
        assert got.psi == pytest.approx(drift.psi(e, a).psi, rel=1e-12)


def test_psi_is_the_same_for_one_and_two_threads():
    rng = np.random.default_rng(5)
    e, a = rng.gamma(2.0, size=200_000), rng.gamma(2.2, size=150_000)
    one = drift.psi(e, a, n_threads=1)
    two = drift.psi(e, a, n_threads=2)
    assert one.psi == two.psi
    pd.testing.assert_frame_equal(one.table, two.table)


def test_psi_refuses_bad_input():
    x = np.arange(10.0)
    with pytest.raises(TypeError, match="expected must be one column"):
        drift.psi(pd.DataFrame({"x": x}), x)
    with pytest.raises(ValueError, match="actual is empty"):
        drift.psi(x, np.array([]))
    with pytest.raises(ValueError, match="bins"):
        drift.psi(x, x, bins=0)
    with pytest.raises(ValueError, match="smoothing"):
        drift.psi(x, x, smoothing=0)
    with pytest.raises(TypeError, match="actual is not of the reference's kind"):
        drift.psi(x, np.array(["a", "b"], dtype=object))
    with pytest.raises(ValueError, match="infinite|inf"):
        drift.psi(np.array([1.0, np.inf, 2.0]), x)
    with pytest.raises(ValueError, match="1-D"):
        drift.psi(np.ones((2, 2)), x)


def test_stability_of_a_frame_ranks_the_columns():
    rng = np.random.default_rng(4)
    n = 8000
    df1 = pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "region": rng.choice(["n", "s", "e"], n),
                        "flag": rng.integers(0, 2, n), "signup": pd.Timestamp("2026-01-01")})
    df2 = df1.sample(frac=1.0, random_state=1).reset_index(drop=True)
    df2.loc[:999, "region"] = "w"
    df2.loc[:1999, "age"] = np.nan
    out = drift.stability(df1, df2[["signup", "flag", "region", "age"]])
    assert out["column"].tolist() == ["age", "region", "flag"]  # dates are not compared
    for c in ("age", "region", "flag"):
        assert out.set_index("column").loc[c, "psi"] == pytest.approx(drift.psi(df1[c], df2[c], name=c).psi)
    assert out.set_index("column").loc["age", "actual_missing"] == pytest.approx(2000 / n)
    assert set(out.attrs["tables"]) == {"age", "region", "flag"}
    with pytest.raises(KeyError, match="not in actual"):
        drift.stability(df1, df2.drop(columns="age"))
    with pytest.raises(TypeError, match="neither numeric nor categorical"):
        drift.stability(df1, df2, columns=["signup"])
    with pytest.raises(TypeError, match="DataFrame"):
        drift.stability(df1.to_numpy(), df2)


def _hl_reference(p, y, bins):
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    stat = 0.0
    for g in groups:
        e, o, n = p[g].sum(), y[g].sum(), len(g)
        stat += (o - e) ** 2 / (e * (1 - e / n))
    return stat


def test_calibration_check_against_its_formula_and_scipy():
    from scipy.stats import chi2

    rng = np.random.default_rng(7)
    p = rng.uniform(0.01, 0.4, 30_000)
    for scale, expect_ok in ((1.0, True), (1.4, False)):
        y = rng.random(len(p)) < np.minimum(p * scale, 1)
        got = drift.calibration_check(p, y)
        assert got.hosmer_lemeshow == pytest.approx(_hl_reference(p, y.astype(float), 10), rel=1e-10)
        assert got.dof == 8
        assert got.p_value == pytest.approx(chi2.sf(got.hosmer_lemeshow, 8), rel=1e-9, abs=1e-300)
        assert (got.p_value > 0.001) == expect_ok
        assert got.expected == pytest.approx(p.sum()) and got.observed == y.sum()
        assert got.brier == pytest.approx(np.mean((p - y) ** 2))
        assert got.table["rows"].sum() == len(p)


@pytest.mark.parametrize("x,k", [(0.5, 1), (3.0, 8), (8.0, 8), (30.0, 8), (200.0, 8), (1e-3, 3), (50.0, 97),
                                 (1500.0, 998)])
def test_chi_square_tail_matches_scipy(x, k):
    from scipy.stats import chi2

    assert drift._chi2_sf(x, k) == pytest.approx(chi2.sf(x, k), rel=1e-9, abs=1e-300)


def test_calibration_check_refuses_bad_input():
    p = np.linspace(0, 1, 100)
    y = (p > 0.5).astype(int)
    with pytest.raises(ValueError, match="same length"):
        drift.calibration_check(p, y[:-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drift.calibration_check(p * 2, y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drift.calibration_check(np.where(p > 0.9, np.nan, p), y)
    with pytest.raises(ValueError, match="0/1"):
        drift.calibration_check(p, y * 2)
    with pytest.raises(ValueError, match="fewer rows than bins|is fewer than bins"):
        drift.calibration_check(p[:5], y[:5])
    with pytest.raises(ValueError, match="bins"):
        drift.calibration_check(p, y, bins=2)
    # a bin of certain scores that is wrong is infinitely wrong, not NaN
    got = drift.calibration_check(np.r_[np.zeros(50), np.full(50, 0.5)], np.r_[np.ones(50), np.zeros(50)], bins=4)
    assert got.hosmer_lemeshow == np.inf and got.p_value == 0.0


def test_top_level_name():
    assert ts.drift.psi is drift.psi
