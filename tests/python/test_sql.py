"""Scores exported to SQL: the statements run in DuckDB and SQLite on the same
table and give the scores Python gives — bins of float32 data included, to
the last rounding."""

import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import _core, _sql



def _frame_for_sqlite(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _run(sql: str, df: pd.DataFrame, table: str = "contacts") -> dict[str, pd.DataFrame]:
    """The statement's result in DuckDB and in SQLite, the table loaded from df."""
    con = duckdb.connect()
    con.register(table, df)
    lite = sqlite3.connect(":memory:")
    _frame_for_sqlite(df).to_sql(table, lite, index=False)
    return {"duckdb": con.execute(sql).df(), "sqlite": pd.read_sql(sql, lite)}


def _contacts(n, seed, float32=True):
    rng = np.random.default_rng(seed)
    income = np.round(rng.gamma(4.0, 6000.0, n), 1)
    income[rng.random(n) < 0.1] = np.nan
    visits = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 40, n)).astype(float)  # a dominant 0
    df = pd.DataFrame({
        "contact_id": np.arange(n) + 1000,
        "income": income.astype(np.float32) if float32 else income,
        "visits": visits.astype(np.float32) if float32 else visits,
        "children": rng.integers(0, 4, n),                       # few values: binned by value
        "optin": rng.random(n) < 0.4,
        "region": pd.Categorical(rng.choice(["north", "south", "Provence-Alpes-Côte d'Azur", None], n)),
        "channel": rng.choice(["web", "store", "phone"], n).astype(object),
    })
    logit = (-2 + 0.00004 * np.nan_to_num(income, nan=20000) + 0.05 * visits - 0.3 * df["children"]
             + 0.8 * df["optin"] + (df["region"] == "north") * 0.7)
    df["converted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return df


CRITERIA = ["income", "visits", "children", "optin", "region", "channel"]


@pytest.mark.parametrize("float32", [True, False])
def test_scorecard_sql_equals_apply_in_duckdb_and_sqlite(float32):
    train = _contacts(20_000, 0, float32)
    sc = ts.discriminating_criteria(train, "converted", columns=CRITERIA).scorecard(top=6, min_iv=0.0)
    new = _contacts(5_000, 1, float32)
    new.loc[:99, "children"] = 7                       # a value never seen: "(other)"
    new["region"] = new["region"].cat.add_categories(["west"])
    new.loc[100:199, "region"] = "west"                # an unseen category
    new.loc[200:299, "channel"] = None                 # missing
    new = new[["channel", "contact_id", "region", "optin", "children", "visits", "income"]]  # any order
    expected = sc.apply(new)
    sql = sc.to_sql("contacts", id="contact_id")
    for engine, got in _run(sql, new).items():
        assert got["contact_id"].tolist() == new["contact_id"].tolist(), engine
        np.testing.assert_array_equal(got["score"].to_numpy(dtype=float), expected, err_msg=engine)
        per = got[[f"points: {c}" for c in sc.criteria["criterion"]]].to_numpy(dtype=float)
        np.testing.assert_array_equal(per.sum(axis=1) + sc.base, expected, err_msg=engine)


def _bin_case(binning) -> str:
    """The engine's bin codes of a NumericBinning as SQL, from the same helpers to_sql uses."""
    values, edges, f32 = binning
    x = _sql.ident("x")
    s, m = len(values), (len(edges) - 1 if len(edges) >= 2 else len(edges))
    branches = [(f"{x} IS NULL", str(s + m + 1))]
    branches += [(_sql.equals(x, v, f32), str(i)) for i, v in enumerate(values)]
    if m == 0:
        return _sql.case(branches, str(s + m))
    branches += [(f"NOT ({_sql.above(x, edges[k + 1], f32)})", str(s + k)) for k in range(m - 1)]
    return _sql.case(branches, str(s + m - 1))


def _neighbours(points):
    """Doubles at and around each point: the float32 neighbours, their midpoints and the doubles next to those."""
    out = []
    for p in points:
        f = np.float32(p)
        for g in (np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))):
            for h in (np.nextafter(g, np.float32(-np.inf)), np.nextafter(g, np.float32(np.inf))):
                mid = (float(g) + float(h)) / 2
                out += [mid, np.nextafter(mid, -np.inf), np.nextafter(mid, np.inf)]
            out += [float(g), p, np.nextafter(p, -np.inf), np.nextafter(p, np.inf)]
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_bounds_bin_every_double_as_the_engine(seed):
    rng = np.random.default_rng(seed)
    train = (rng.normal(0, 1, 5000) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
    train[: 2000] = np.float32(0.1)  # a dominant value: a bin of its own
    binning = _core.numeric_bins(["x"], [train], 8, n_threads=1)[0]
    assert binning[2]  # learnt on float32
    x = _neighbours(list(binning[0]) + list(binning[1]) + [0.1, -0.0, 1e-40])
    x = np.concatenate([x, [np.nan, np.float32(3.4e38), -np.inf, np.inf]])
    expected = _core.numeric_bin_codes(["x"], [x], [binning], n_threads=1)[0]
    sql = f"SELECT {_bin_case(binning)} AS code FROM t"
    got = _run(sql, pd.DataFrame({"x": x}), table="t")
    for engine, result in got.items():
        np.testing.assert_array_equal(result["code"].to_numpy(), expected, err_msg=engine)


def test_logistic_sql_equals_the_scores_in_duckdb_and_sqlite():
    train = _contacts(20_000, 0)
    cols = ["income", "visits", "children", "optin", "region", "channel"]
    model = ts.LogisticScorer(C=0.5).fit(train[cols], train["converted"])
    new = _contacts(4_000, 3)
    new.loc[:99, "channel"] = "kiosk"      # unseen category: 0
    new.loc[100:199, "visits"] = np.nan    # missing: the mean
    new = new[list(reversed(new.columns))]
    log_odds = model.decision_function(new[cols])
    proba = model.predict_proba(new[cols])[:, 1]
    sql = model.to_sql("contacts", id="contact_id")
    for engine, got in _run(sql, new).items():
        assert got["contact_id"].tolist() == new["contact_id"].tolist(), engine
        np.testing.assert_allclose(got["log_odds"].to_numpy(dtype=float), log_odds, rtol=0, atol=2e-6,
                                   err_msg=engine)
        np.testing.assert_allclose(got["probability"].to_numpy(dtype=float), proba, rtol=0, atol=1e-6,
                                   err_msg=engine)
        parts = got[[f"contribution: {c}" for c in cols]].to_numpy(dtype=float)
        np.testing.assert_allclose(parts.sum(axis=1) + model.intercept_[0], log_odds, atol=2e-6, err_msg=engine)


def test_names_and_values_are_quoted():
    df = pd.DataFrame({'my "odd" col': [1.0, 2.0, np.nan, 4.0] * 50, "it's": ["a'b", "c", None, "a'b"] * 50,
                       "y": [1, 0, 0, 1] * 50})
    model = ts.LogisticScorer().fit(df[['my "odd" col', "it's"]], df["y"])
    sql = model.to_sql("my table")
    for engine, got in _run(sql, df, table="my table").items():
        np.testing.assert_allclose(got["log_odds"].to_numpy(dtype=float),
                                   model.decision_function(df[['my "odd" col', "it's"]]), atol=2e-6,
                                   err_msg=engine)
    with pytest.raises(ValueError, match="table"):
        model.to_sql("")
    with pytest.raises(ValueError, match="NUL"):
        _sql.ident("a\x00b")


def test_category_sets_have_no_sql_form():
    d = ts.datasets.make_prm(3_000, 300, seed=0).prospects
    sc = ts.discriminating_criteria(d, "converted", columns=["categories", "sex"]).scorecard(top=10, min_iv=0.0)
    if (sc.criteria["kind"] == "set member").any():
        with pytest.raises(ValueError, match="category set"):
            sc.to_sql("prospects")
    model = ts.LogisticScorer().fit(d[["categories", "sex"]], d["converted"])
    with pytest.raises(ValueError, match="category set"):
        model.to_sql("prospects")


def test_sql_number_literals_round_trip():
    for x in (0.1, -3.530585115050171, 1e-300, 123456789.125, 2.0**60, -0.0):
        assert float(_sql.number(x)) == x
    with pytest.raises(ValueError, match="finite"):
        _sql.number(float("inf"))


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_lead_rules_sql_equals_score_leads(dialect):
    d = ts.datasets.make_prm(4_000, 400, seed=2)
    p, ev = d.prospects.drop(columns=["categories"]), d.events
    rules = ts.LeadRules.from_dict({
        **ts.datasets.PRM_LEAD_RULES,
        "behaviour": ts.datasets.PRM_LEAD_RULES["behaviour"] + [
            {"name": "books pages", "event": "page_view", "category": ["books", "music"], "points": 3,
             "half_life_days": 10, "cap": 12},
            {"name": "forever", "event": "form_fill", "points": 1, "half_life_days": None}],
    })
    as_of = d.now - pd.Timedelta(days=20)          # later events are left out, as score_leads(as_of=...)
    ref = ts.score_leads(p, ev, rules, as_of=as_of)
    sql = rules.to_sql("contacts", "events", now=as_of, dialect=dialect)
    if dialect == "duckdb":
        con = duckdb.connect()
        con.register("contacts", p)
        con.register("events", ev)
        got = con.execute(sql).df()
    else:
        lite = sqlite3.connect(":memory:")
        _frame_for_sqlite(p.drop(columns=["signup_date"])).to_sql("contacts", lite, index=False)
        _frame_for_sqlite(ev).to_sql("events", lite, index=False)
        got = pd.read_sql(sql, lite)
    got = got.set_index("contact_id").loc[ref.index]
    for c in ["fit_score", "behaviour_score", "score"] + rules.rule_names:
        np.testing.assert_allclose(got[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=c)
    assert ref["behaviour_score"].abs().sum() > 0
    # grades and the MQL flag, away from the thresholds' rounding
    np.testing.assert_array_equal(got["grade"].astype(str), ref["grade"].astype(str))
    far = (ref["score"] - rules.mql_threshold).abs() > 1e-6
    np.testing.assert_array_equal(got["mql"].astype(bool)[far], ref["mql"][far])
    with pytest.raises(ValueError, match="dialect"):
        rules.to_sql("contacts", "events", now=as_of, dialect="oracle")
