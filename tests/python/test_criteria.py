import math

import numpy as np
import pandas as pd
import pytest

import twinscore as ts


def pandas_iv(x: pd.Series, t: np.ndarray, n_bins=10, a=0.5):
    """The plain pandas reference: qcut bins + a missing bin, counts by groupby."""
    b = pd.qcut(x, n_bins, duplicates="drop", labels=False)
    b = b.astype("float64").fillna(-1)
    g = pd.DataFrame({"b": b, "t": t}).groupby("b")["t"].agg(["sum", "count"])
    pos = g["sum"].to_numpy(float)
    neg = (g["count"] - g["sum"]).to_numpy(float)
    P, N, B = t.sum(), len(t) - t.sum(), len(g)
    dp, dn = (pos + a) / (P + a * B), (neg + a) / (N + a * B)
    return float(((dp - dn) * np.log(dp / dn)).sum())


def test_hand_computed_case():
    # Two categories: A holds 3 of the 4 targets and 1 of the 4 others.
    df = pd.DataFrame({"c": pd.Categorical(list("AAAABBBB"))})
    t = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    crit = ts.discriminating_criteria(df, t, smoothing=1e-9)
    woe_a = math.log((3 / 4) / (1 / 4))
    iv = (3 / 4 - 1 / 4) * woe_a + (1 / 4 - 3 / 4) * (-woe_a)
    assert crit.summary.loc[0, "iv"] == pytest.approx(iv, rel=1e-6)
    bins = crit.bins.set_index("bin")
    assert bins.loc["A", "woe"] == pytest.approx(woe_a, rel=1e-6)
    assert bins.loc["A", "lift"] == pytest.approx((3 / 4) / (4 / 8))
    assert bins.loc["A", "share"] == 0.5
    assert bins.loc["B", "target_share"] == 0.25


def test_numeric_iv_matches_pandas(rng):
    n = 20_000
    df = pd.DataFrame({
        "income": rng.lognormal(10, 0.5, n),
        "age": rng.integers(18, 80, n).astype(float),  # repeated values: bins merge
        "noise": rng.normal(size=n).astype(np.float32),
    })
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    t = (rng.random(n) < 1 / (1 + np.exp(-(np.log(df["income"].fillna(20000)) - 10) * 3 + 2))).astype(int)
    crit = ts.discriminating_criteria(df, t, n_bins=10)
    iv = crit.summary.set_index("criterion")["iv"]
    for c in df.columns:
        assert iv[c] == pytest.approx(pandas_iv(df[c].astype(np.float64), t), rel=1e-9), c
    assert crit.summary.loc[0, "criterion"] == "income"
    rows = crit.bins[crit.bins["criterion"] == "income"]
    assert rows["rows"].sum() == n
    assert rows["bin"].iloc[-1] == "(missing)"


def test_categorical_and_set_members(prm):
    p = prm.prospects
    crit = ts.discriminating_criteria(p, "converted", ["age_band", "region", "categories"])
    summary = crit.summary.set_index("criterion")
    t = p["converted"].to_numpy()
    assert summary.loc["age_band", "iv"] == pytest.approx(pandas_iv_cat(p["age_band"], t), rel=1e-9)
    has_books = p["categories"].map(lambda v: "books" in list(v) if v is not None else False).to_numpy()
    assert summary.loc["categories:books", "iv"] == pytest.approx(pandas_iv_cat(pd.Series(has_books), t), rel=1e-9)
    assert summary.loc["categories:books", "kind"] == "set member"


def pandas_iv_cat(x: pd.Series, t, a=0.5):
    g = pd.DataFrame({"x": x.astype("string").fillna("(missing)"), "t": t}).groupby("x")["t"].agg(["sum", "count"])
    pos = g["sum"].to_numpy(float)
    neg = (g["count"] - g["sum"]).to_numpy(float)
    P, N, B = t.sum(), len(t) - t.sum(), len(g)
    dp, dn = (pos + a) / (P + a * B), (neg + a) / (N + a * B)
    return float(((dp - dn) * np.log(dp / dn)).sum())


def test_scorecard_points_and_apply(prm):
    p = prm.prospects
    cols = ["sex", "age_band", "income", "categories"]
    crit = ts.discriminating_criteria(p[cols], p["converted"])
    card = crit.scorecard(top=3, min_iv=0.0)
    score = card.apply(p)
    assert score.shape == (len(p),)
    # By hand for one row: base + each criterion's points.
    row = p.iloc[[5]]
    expect = card.base
    for c in card.criteria.itertuples():
        pts = card.points[card.points["criterion"] == c.criterion].set_index("code")["points"]
        if c.kind == "numeric":
            x = row[c.column].iloc[0]
            e = np.asarray(c.edges)
            code = len(e) - 1 if np.isnan(x) else int(np.searchsorted(e[1:-1], x, side="left"))
        elif c.kind == "categorical":
            cats = list(crit.schema[c.column].categories)
            v = row[c.column].iloc[0]
            code = len(cats) + 1 if pd.isna(v) else cats.index(v)
        else:
            member = crit.schema[c.column].categories[c.member_code]
            code = int(member in list(row[c.column].iloc[0]))
        expect += pts.get(code, 0)
    assert score[5] == expect
    assert ts.lift_at(score, p["converted"], 0.2) > 1.0


def test_threads_give_identical_criteria(prm, restore_threads):
    p = prm.prospects
    out = []
    for n in (1, 2):
        with ts.threads(n):
            out.append(ts.discriminating_criteria(p, "converted", ["income", "region", "categories"]).bins)
    pd.testing.assert_frame_equal(out[0], out[1])


def test_bad_input(prm):
    p = prm.prospects.head(200)
    with pytest.raises(ValueError, match="no positives"):
        ts.discriminating_criteria(p, np.zeros(len(p)), ["income"])
    with pytest.raises(ValueError, match="no negatives"):
        ts.discriminating_criteria(p, np.ones(len(p)), ["income"])
    with pytest.raises(ValueError, match="1-D with 200"):
        ts.discriminating_criteria(p, np.ones(3), ["income"])
    with pytest.raises(ValueError, match="0/1"):
        ts.discriminating_criteria(p, np.full(len(p), 2), ["income"])
    with pytest.raises(KeyError, match="nope"):
        ts.discriminating_criteria(p, "converted", ["nope"])
    with pytest.raises(KeyError, match="target"):
        ts.discriminating_criteria(p, "nope", ["income"])
    df = pd.DataFrame({"x": [1.0, np.inf, 2.0, 3.0]})
    with pytest.raises(ValueError, match="infinite"):
        ts.discriminating_criteria(df, [1, 0, 1, 0])
    with pytest.raises(ValueError, match="n_bins"):
        ts.discriminating_criteria(p, "converted", ["income"], n_bins=0)
    crit = ts.discriminating_criteria(p, "converted", ["income"])
    with pytest.raises(ValueError, match="information value"):
        crit.scorecard(min_iv=100.0)
