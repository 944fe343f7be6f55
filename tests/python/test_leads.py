import math

import numpy as np
import pandas as pd
import pytest

import twinscore as ts

DAY = pd.Timedelta(days=1)


def reference(p, ev, now, rules):
    """The rule set evaluated with pandas, rule by rule."""
    out = pd.DataFrame(index=pd.Index(p["contact_id"], name="contact_id"))
    fit = pd.Series(0.0, index=out.index)
    for r in rules["fit"]:
        col = p.set_index("contact_id")[r["column"]]
        if "points_by_value" in r:
            pts = col.astype(str).map(r["points_by_value"]).astype(float).fillna(0.0)
        else:
            x = col.astype(float)
            pts = ((x >= r.get("min", -np.inf)) & (x < r.get("max", np.inf))).astype(float) * r["points"]
        out[r["name"]] = pts
        fit += pts
    beh = pd.Series(0.0, index=out.index)
    for r in rules["behaviour"]:
        e = ev[ev["type"] == r["event"]]
        if "category" in r:
            e = e[e["category"].isin(r["category"])]
        hl = r.get("half_life_days", rules.get("half_life_days"))
        w = 1.0 if hl is None else 0.5 ** (((now - e["timestamp"]) / DAY) / hl)
        pts = (r["points"] * pd.Series(w, index=e.index)).groupby(e["contact_id"]).sum()
        pts = pts.reindex(out.index, fill_value=0.0)
        cap = r.get("cap", math.inf)
        pts = pts.clip(-cap, cap)
        out[r["name"]] = pts
        beh += pts
    out["fit_score"], out["behaviour_score"], out["score"] = fit, beh, fit + beh
    return out


def test_matches_pandas_on_generated_data(prm):
    got = ts.score_leads(prm.prospects, prm.events, ts.datasets.PRM_LEAD_RULES, now=prm.now)
    ref = reference(prm.prospects, prm.events, prm.now, ts.datasets.PRM_LEAD_RULES)
    for c in ref.columns:
        np.testing.assert_allclose(got[c].to_numpy(), ref[c].to_numpy(), rtol=1e-12, atol=1e-9, err_msg=c)
    grades = ts.datasets.PRM_LEAD_RULES["grades"]
    expected = np.select([ref["fit_score"] >= v for v in grades.values()], list(grades), "D")
    assert (got["grade"].astype(str).to_numpy() == expected).all()
    assert (got["mql"].to_numpy() == (ref["score"] >= ts.datasets.PRM_LEAD_RULES["mql_threshold"]).to_numpy()).all()
    assert list(got["grade"].cat.categories) == ["A", "B", "C", "D"]


def test_toml_rules_and_threads(prm, tmp_path, restore_threads):
    text = """
half_life_days = 14
mql_threshold = 10
[grades]
A = 10
B = 5
[[fit]]
name = "women"
column = "sex"
in = ["F"]
points = 5
[[behaviour]]
name = "clicks"
event = "email_click"
points = 4
cap = 12
"""
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with ts.threads(1):
        a = ts.score_leads(prm.prospects, prm.events, str(path), now=prm.now)
    with ts.threads(2):
        b = ts.score_leads(prm.prospects, prm.events, ts.LeadRules.from_toml(text), now=prm.now)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["clicks"].max() <= 12
    assert set(a["women"].unique()) <= {0.0, 5.0}


@pytest.mark.parametrize("rules, exc, match", [
    ({"fit": [{"name": "r", "column": "nope", "in": ["x"], "points": 1}]}, KeyError, "rule 'r'.*'nope'"),
    ({"fit": [{"name": "r", "column": "sex", "in": ["X"], "points": 1}]}, ValueError, "rule 'r'.*\\['X'\\]"),
    ({"fit": [{"name": "r", "column": "sex", "in": ["F"]}]}, ValueError, "rule 'r'.*'points'"),
    ({"fit": [{"name": "r", "column": "income", "min": 5, "max": 1, "points": 1}]}, ValueError, "rule 'r'.*'min'"),
    ({"behaviour": [{"name": "b", "event": "teleport", "points": 1}]}, ValueError, "rule 'b'.*'event'.*teleport"),
    ({"behaviour": [{"name": "b", "event": "page_view", "category": ["moon"], "points": 1}]}, ValueError,
     "rule 'b'.*'category'"),
    ({"behaviour": [{"name": "b", "event": "page_view", "points": 1, "half_life_days": -3}]}, ValueError,
     "rule 'b'.*'half_life_days'"),
    ({"behaviour": [{"name": "b", "event": "page_view", "points": 1, "cap": -1}]}, ValueError, "rule 'b'.*'cap'"),
    ({"behaviour": [{"name": "b", "event": "page_view", "pionts": 1}]}, ValueError, "rule 'b'.*pionts"),
    ({"grades": {"A": 1, "B": 5}}, ValueError, "grades"),
    ({"fit": [{"name": "r", "column": "sex", "in": ["F"], "points": 1}] * 2}, ValueError, "unique"),
    ({"colour": 1}, ValueError, "colour"),
    ([1, 2], TypeError, "mapping"),
])
def test_bad_rules(prm, rules, exc, match):
    with pytest.raises(exc, match=match):
        ts.score_leads(prm.prospects, prm.events, rules, now=prm.now)


def test_bad_toml():
    with pytest.raises(ValueError, match="TOML"):
        ts.LeadRules.from_toml("fit = [\n")


def test_a_rule_cannot_take_an_output_column_name():
    with pytest.raises(ValueError, match=r"rule names \['score'\] are taken by the output columns"):
        ts.LeadRules.from_dict({"behaviour": [{"name": "score", "event": "page_view", "points": 1}]})
