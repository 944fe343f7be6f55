import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

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
    with pytest.raises(ValueError, match="found 2.*positive="):
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


# ---------------------------------------------------------------------------
# Flags, few values, dominant values and two-valued targets (issue 18, item 5),
# against a reference written with pandas alone.

SMOOTHING = 0.5
SHOPPERS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "online_shoppers_intention.csv"


def reference_keys(x: pd.Series, n_bins: int = 10) -> pd.Series:
    """The bin of every row by the rule's words, in pandas: one bin per value
    when there are at most n_bins distinct present values; otherwise a bin of
    its own for each value held by more than 1/n_bins of the present rows and
    pd.qcut of the others into the bins left; missing values in one bin."""
    v = pd.Series(x.to_numpy(dtype="float64", na_value=np.nan)) + 0.0  # -0.0 is 0.0, also as text
    present = v.dropna()
    counts = present.value_counts()
    own = counts.index if len(counts) <= n_bins else counts.index[counts > len(present) / n_bins]
    keys = pd.Series("missing", index=v.index, dtype=object)
    in_own = v.isin(own)
    keys[in_own] = "value " + v[in_own].astype(str)
    rest = v.notna() & ~in_own
    if rest.any():
        q = pd.qcut(v[rest], n_bins - len(own), duplicates="drop", labels=False)
        keys[rest] = "quantile " + q.astype(str)
    return keys


def reference_woe(keys: pd.Series, t, a: float = SMOOTHING) -> tuple[pd.DataFrame, float]:
    """Per bin (rows, targets, woe) by groupby, and the IV, with the same smoothing."""
    t = np.asarray(t, dtype=np.int64)
    g = pd.DataFrame({"k": keys.to_numpy(), "t": t}).groupby("k")["t"].agg(targets="sum", rows="count")
    P, N, B = t.sum(), len(t) - t.sum(), len(g)
    dp = (g["targets"] + a) / (P + a * B)
    dn = (g["rows"] - g["targets"] + a) / (N + a * B)
    g["woe"] = np.log(dp / dn)
    return g, float(((dp - dn) * g["woe"]).sum())


def assert_matches_reference(crit, df: pd.DataFrame, t, n_bins: int = 10):
    """IV and every bin's (rows, targets, WoE) of each column equal the reference."""
    summary = crit.summary.set_index("criterion")
    for c in df.columns:
        ref, iv = reference_woe(reference_keys(df[c], n_bins), t)
        assert summary.loc[c, "iv"] == pytest.approx(iv, rel=1e-9, abs=1e-12), c
        got = crit.bins[crit.bins["criterion"] == c][["rows", "targets", "woe"]]
        want = ref[["rows", "targets", "woe"]]
        got = got.sort_values(["rows", "targets"], ignore_index=True)
        want = want.sort_values(["rows", "targets"], ignore_index=True)
        assert len(got) == len(want), (c, got, want)
        np.testing.assert_array_equal(got[["rows", "targets"]].to_numpy(), want[["rows", "targets"]].to_numpy(), c)
        np.testing.assert_allclose(got["woe"].to_numpy(), want["woe"].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=c)


def flags_table(n: int = 6000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Flags of every boolean dtype, a 96 % sentinel, a dominant 0, few values, a continuous column."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    t = (z + rng.normal(size=n) > 1.0).astype(np.int64)
    flag = (z + rng.normal(size=n) > 0.5)
    nulls = rng.random(n) < 0.05
    never = rng.random(n) < 0.96 - 0.1 * t  # "999 = never contacted", less often for the target
    days = np.where(never, 999.0, np.floor(rng.random(n) * 60))
    df = pd.DataFrame({
        "flag01": flag.astype(np.int64),
        "bool_numpy": flag,
        "bool_pandas": pd.array(np.where(nulls, None, flag), dtype="boolean"),
        "bool_arrow": pd.Series(pa.array(np.where(nulls, None, ~flag).tolist(), type=pa.bool_()),
                                dtype=pd.ArrowDtype(pa.bool_())),
        "days_since_contact": days,
        "basket": np.where(rng.random(n) < 0.7 - 0.2 * t, 0.0, rng.lognormal(3, 1, n)),
        "few": pd.array(np.where(nulls, None, rng.integers(1, 6, n) + t), dtype="Int64"),
        "special_day": rng.choice(np.array([0, 0.2, 0.4, 0.6, 0.8, 1.0], dtype=np.float32), n,
                                  p=[0.9, 0.02, 0.02, 0.02, 0.02, 0.02]),
        "income": rng.lognormal(10, 0.5, n) * (1 + 0.3 * t),
    })
    return df, t


def test_flags_and_sentinels_match_the_pandas_reference():
    df, t = flags_table()
    yes_no = np.where(t == 1, "yes", "no")
    crit = ts.discriminating_criteria(df, yes_no)
    assert crit.positive == "yes"
    assert crit.n_target == t.sum()
    assert_matches_reference(crit, df, t)
    iv = crit.summary.set_index("criterion")["iv"]
    for c in ("flag01", "bool_numpy", "bool_pandas", "bool_arrow", "days_since_contact", "basket", "few"):
        assert iv[c] > 0.05, (c, iv[c])  # 0 when a flag or a dominant value fell into one quantile bin
    bins = crit.bins.set_index(["criterion", "bin"])
    assert set(crit.bins.loc[crit.bins["criterion"] == "flag01", "bin"]) == {"0", "1"}
    assert set(crit.bins.loc[crit.bins["criterion"] == "bool_pandas", "bin"]) == {"0", "1", "(missing)"}
    assert bins.loc[("days_since_contact", "999"), "rows"] == (df["days_since_contact"] == 999).sum()
    assert bins.loc[("basket", "0"), "lower"] == 0.0
    assert list(crit.bins.loc[crit.bins["criterion"] == "special_day", "bin"]) == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    rows = crit.bins[crit.bins["criterion"] == "days_since_contact"]
    assert rows["bin"].iloc[-1] == "999" and len(rows) == 10  # value order: 9 quantile bins of the days, then 999
    # The booleans are one column seen three ways: same bins, same IV.
    assert iv["bool_numpy"] == pytest.approx(iv["flag01"], rel=1e-12)


def test_a_flag_weighs_as_much_as_the_same_column_as_categories():
    df, t = flags_table(seed=8)
    flags = pd.DataFrame({"flag": df["flag01"], "flag_as_category": df["flag01"].astype(str).astype("category"),
                          "days": df["days_since_contact"],
                          "days_as_category": df["days_since_contact"].where(
                              df["days_since_contact"] == 999, -1).astype(str).astype("category")})
    crit = ts.discriminating_criteria(flags[["flag", "flag_as_category"]], t)
    iv = crit.summary.set_index("criterion")["iv"]
    assert iv["flag"] > 0.1
    assert iv["flag"] == pytest.approx(iv["flag_as_category"], rel=1e-12)
    assert iv["flag"] == pytest.approx(pandas_iv_cat(flags["flag_as_category"], t), rel=1e-12)
    # A 96 % sentinel: its own bin carries at least the evidence of "contacted or not".
    crit = ts.discriminating_criteria(flags[["days", "days_as_category"]], t)
    iv = crit.summary.set_index("criterion")["iv"]
    assert iv["days_as_category"] > 0.02
    assert iv["days"] > 0.9 * iv["days_as_category"]


def test_every_boolean_dtype_gives_the_same_criterion():
    rng = np.random.default_rng(5)
    n = 3000
    flag = rng.random(n) < 0.3
    t = (flag & (rng.random(n) < 0.5)) | (rng.random(n) < 0.1)
    nulls = rng.random(n) < 0.1
    with_nulls = np.where(nulls, None, flag).tolist()
    df = pd.DataFrame({
        "numpy": flag, "int": flag.astype(np.int8), "float32": flag.astype(np.float32),
        "pandas": pd.array(flag, dtype="boolean"),
        "arrow": pd.Series(pa.array(flag), dtype=pd.ArrowDtype(pa.bool_())),
    })
    crit = ts.discriminating_criteria(df, t)
    assert crit.positive is True
    iv = crit.summary.set_index("criterion")["iv"]
    assert iv.nunique() == 1 and iv.iloc[0] > 0.1
    assert_matches_reference(crit, df, t.astype(int))
    nullable = pd.DataFrame({"pandas": pd.array(with_nulls, dtype="boolean"),
                             "arrow": pd.Series(pa.array(with_nulls, type=pa.bool_()), dtype=pd.ArrowDtype(pa.bool_()))})
    crit = ts.discriminating_criteria(nullable, t)
    assert_matches_reference(crit, nullable, t.astype(int))
    assert set(crit.bins["bin"]) == {"0", "1", "(missing)"}


@pytest.mark.parametrize("kind", ["bool", "int", "float", "yes/no", "TRUE/FALSE", "categorical", "pandas boolean",
                                  "arrow bool", "arrow string", "column name"])
def test_two_valued_targets_are_read(kind):
    df, t = flags_table(n=2000, seed=4)
    b = t.astype(bool)
    target, positive = {
        "bool": (b, True), "int": (t, 1), "float": (t.astype(float), 1.0),
        "yes/no": (np.where(b, "Yes", "no"), "Yes"), "TRUE/FALSE": (pd.Series(np.where(b, "TRUE", "FALSE")), "TRUE"),
        "categorical": (pd.Categorical(np.where(b, "yes", "no")), "yes"),
        "pandas boolean": (pd.array(b, dtype="boolean"), True),
        "arrow bool": (pa.array(b), True), "arrow string": (pa.chunked_array([pa.array(np.where(b, "true", "false").tolist())]), "true"),
        "column name": ("bought", True),
    }[kind]
    data = df.assign(bought=b) if kind == "column name" else df
    crit = ts.discriminating_criteria(data, target, list(df.columns))
    assert crit.positive == positive and type(crit.positive) is type(positive)
    assert crit.n_target == t.sum()
    want = ts.discriminating_criteria(df, t.astype(np.uint8))
    pd.testing.assert_frame_equal(crit.bins, want.bins)


def test_positive_names_the_target_group():
    df, t = flags_table(n=2000, seed=6)
    labels = np.where(t == 1, "converted", "lost")
    with pytest.raises(ValueError, match=r"'converted' and 'lost'.*positive="):
        ts.discriminating_criteria(df, labels)
    crit = ts.discriminating_criteria(df, labels, positive="converted")
    assert crit.positive == "converted" and crit.n_target == t.sum()
    assert_matches_reference(crit, df, t)
    # The other class as the target group: the counts swap, the IV stays.
    rest = ts.discriminating_criteria(df, labels, positive="lost")
    assert rest.n_target == len(t) - t.sum()
    assert_matches_reference(rest, df, 1 - t)
    flipped = ts.discriminating_criteria(df, t.astype(bool), positive=False)
    assert flipped.positive is False
    pd.testing.assert_frame_equal(flipped.bins, rest.bins)
    with pytest.raises(ValueError, match=r"positive='won' is not a value of the target.*'converted' and 'lost'"):
        ts.discriminating_criteria(df, labels, positive="won")
    with pytest.raises(ValueError, match=r"found 1 and 2.*positive="):
        ts.discriminating_criteria(df, t + 1)
    assert ts.discriminating_criteria(df, t + 1, positive=2).n_target == t.sum()
    with pytest.raises(ValueError, match=r"two values.*found 3: 'a', 'b', 'c'"):
        ts.discriminating_criteria(df, np.resize(np.array(["a", "b", "c"]), len(df)))
    with pytest.raises(ValueError, match=r"'TRUE' and 'true'"):  # both read as yes
        ts.discriminating_criteria(df, np.where(t == 1, "TRUE", "true"))
    with pytest.raises(ValueError, match="2 missing values"):
        ts.discriminating_criteria(df, pd.Series(np.where(t == 1, "yes", "no")).where(np.arange(len(t)) >= 2))
    with pytest.raises(ValueError, match="no positives"):
        ts.discriminating_criteria(df, np.full(len(df), "no"))
    with pytest.raises(ValueError, match="no negatives"):
        ts.discriminating_criteria(df, np.full(len(df), "Yes"))


def test_scorecard_follows_the_new_bins():
    df, t = flags_table(n=5000, seed=9)
    crit = ts.discriminating_criteria(df, t)
    card = crit.scorecard(top=20, min_iv=0.0)
    assert len(card.criteria) == len(df.columns)
    factor = 20 / math.log(2)
    expect = np.full(len(df), float(round(500 + factor * math.log(t.sum() / (len(t) - t.sum())))))
    for c in df.columns:
        ref, _ = reference_woe(reference_keys(df[c]), t)
        expect += np.round(factor * reference_keys(df[c]).map(ref["woe"]).to_numpy(dtype=float))
    np.testing.assert_array_equal(card.apply(df), expect)
    # New data, one criterion at a time: a value never seen in a column binned
    # by value falls in "(other)" (0 points), a missing value in "(missing)";
    # an unseen value of the sentinel column in its end interval.
    few = ts.discriminating_criteria(df[["few"]], t).scorecard(min_iv=0.0)
    pts = few.points.set_index("bin")["points"]
    got = few.apply(pd.DataFrame({"few": pd.array([7, None, 1, 2], dtype="Int64")})) - few.base
    np.testing.assert_array_equal(got, [0, pts["(missing)"], pts["1"], pts["2"]])
    days = ts.discriminating_criteria(df[["days_since_contact"]], t).scorecard(min_iv=0.0)
    pts = days.points.set_index("bin")["points"]
    got = days.apply(pd.DataFrame({"days_since_contact": [500.0, 999.0, 0.0, -3.0, np.nan]})) - days.base
    assert days.points["bin"].iloc[-1] == "999"
    np.testing.assert_array_equal(got, [pts.iloc[-2], pts["999"], pts.iloc[0], pts.iloc[0], 0])


def test_float32_values_are_found_from_float64_data():
    rng = np.random.default_rng(2)
    n = 4000
    sd = rng.choice(np.array([0, 0.2, 0.4, 0.6, 0.8, 1.0]), n)
    t = (rng.random(n) < 0.1 + 0.3 * sd).astype(int)
    crit = ts.discriminating_criteria(pd.DataFrame({"special_day": sd.astype(np.float32)}), t)
    card = crit.scorecard(min_iv=0.0)
    assert crit.summary.loc[0, "values"].dtype == np.float32
    np.testing.assert_array_equal(card.apply(pd.DataFrame({"special_day": sd})),
                                  card.apply(pd.DataFrame({"special_day": sd.astype(np.float32)})))
    assert len(np.unique(card.apply(pd.DataFrame({"special_day": sd})))) == 6


def test_continuous_columns_keep_the_qcut_bins(rng):
    n = 20_000
    df = pd.DataFrame({"income": rng.lognormal(10, 0.5, n), "noise": rng.normal(size=n).astype(np.float32)})
    t = (rng.random(n) < 0.2).astype(int)
    crit = ts.discriminating_criteria(df, t)
    for c in df.columns:
        assert crit.summary.set_index("criterion").loc[c, "iv"] == pytest.approx(
            pandas_iv(df[c].astype(np.float64), t), rel=1e-9)
        assert len(crit.summary.set_index("criterion").loc[c, "values"]) == 0


few_values = st.sampled_from([0.0, 1.0, -2.5, 3.0, 999.0, np.nan])


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n_bins=st.integers(1, 12))
def test_property_random_few_valued_columns(data, n_bins):
    n = data.draw(st.integers(2, 120), label="n")
    col = st.lists(st.one_of(few_values, st.floats(-50, 50, allow_nan=False, width=32)), min_size=n, max_size=n)
    pure = st.lists(few_values, min_size=n, max_size=n)
    x = data.draw(col, label="mixed")
    y = data.draw(pure, label="few")
    t = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="target"), dtype=int)
    assume(0 < t.sum() < n)
    df = pd.DataFrame({"mixed": np.array(x, dtype=np.float64), "few": np.array(y, dtype=np.float64),
                       "few32": np.array(y, dtype=np.float32)})
    crit = ts.discriminating_criteria(df, t, n_bins=n_bins)
    assert_matches_reference(crit, df, t, n_bins)
    per_column = crit.bins.groupby("criterion")["rows"].sum()
    assert (per_column == n).all()
    card = crit.scorecard(top=3, min_iv=0.0)
    factor = 20 / math.log(2)
    expect = np.full(n, card.base)
    for c in card.criteria["criterion"]:
        keys = reference_keys(df[c], n_bins)
        ref, _ = reference_woe(keys, t)
        expect += np.round(factor * keys.map(ref["woe"]).to_numpy(dtype=float))
    np.testing.assert_array_equal(card.apply(df), expect)


def test_flags_give_identical_criteria_for_1_and_2_threads(restore_threads):
    df, t = flags_table(n=300_000, seed=1)  # more than one row block of the counting pass
    out = []
    for n in (1, 2):
        with ts.threads(n):
            crit = ts.discriminating_criteria(df, t)
            out.append((crit.bins, crit.scorecard(top=20, min_iv=0.0).apply(df)))
    pd.testing.assert_frame_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.skipif(not SHOPPERS.exists(), reason="online_shoppers_intention.csv is not in ../shared/data")
def test_online_shoppers_flags_weigh_as_their_categories():
    df = pd.read_csv(SHOPPERS, sep=";")
    assert df["Weekend"].dtype == bool and df["Revenue"].dtype == bool
    cols = ["Weekend", "SpecialDay", "PageValues", "Administrative"]
    crit = ts.discriminating_criteria(df, "Revenue", cols)
    assert crit.positive is True and crit.n_target == 1908
    iv = crit.summary.set_index("criterion")["iv"]
    as_categories = df[["Weekend", "SpecialDay"]].astype(str).astype("category")
    cat = ts.discriminating_criteria(as_categories, df["Revenue"]).summary.set_index("criterion")["iv"]
    for c in ("Weekend", "SpecialDay"):
        assert iv[c] > 0.005, c
        assert iv[c] == pytest.approx(cat[c], rel=1e-12), c
    assert iv["PageValues"] > 1.0  # 0 held by 78 % of the sessions: its own bin
    assert_matches_reference(crit, df[cols], df["Revenue"].to_numpy(int))
    # Revenue read as text: "TRUE" / "FALSE" is the same target.
    text = pd.read_csv(SHOPPERS, sep=";", dtype={"Revenue": str})
    crit_text = ts.discriminating_criteria(text, "Revenue", cols)
    assert crit_text.positive == "TRUE"
    pd.testing.assert_frame_equal(crit_text.bins, crit.bins)
