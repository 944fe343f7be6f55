"""Rich displays: each result and fitted model shows a compact HTML summary in
Jupyter, and the fitted estimators' plain repr shows what the fit learnt."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore._display import _number


@pytest.fixture(scope="module")
def market():
    return ts.datasets.make_prm(n_prospects=3000, n_clients=500, seed=3)


def _jupyter_html(obj) -> str:
    """What Jupyter would render: IPython's formatter, which prefers _repr_mimebundle_."""
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(obj)
    return data["text/html"]


def _check_card(text: str, title: str, *facts: str):
    assert text.startswith("<div class='twinscore-repr'") and text.endswith("</div>")
    assert title in text
    for f in facts:
        assert f in text, f


def test_contact_table_and_schema(market):
    t = ts.ContactTable.from_pandas(market.prospects[["contact_id", "sex", "income", "categories"]], id="contact_id")
    html = _jupyter_html(t)
    _check_card(html, "ContactTable", "3,000", "contact_id", "income", "category set", f"{t.fill_rates()['income']:.0%}")
    _check_card(_jupyter_html(t.schema), "Schema", "sex", "categorical", _number(t.schema["income"].mean))


def test_twin_result_criteria_scorecard_plan(market):
    cols = ["sex", "age_band", "region"]
    idx = ts.TwinIndex("mixed").fit(market.clients[["client_id", *cols]], id="client_id")
    res = idx.search(market.prospects[["contact_id", *cols]], k=3, id="contact_id")
    _check_card(_jupyter_html(res), "TwinResult", "3,000", "mixed", "lookalike score", _number(res.score.max()))
    crit = ts.discriminating_criteria(market.prospects, "converted", ["sex", "age_band", "region", "income"])
    _check_card(_jupyter_html(crit), "Criteria", crit.summary["criterion"].iloc[0], f"{crit.n_target:,}")
    card = crit.scorecard(top=2, min_iv=0.0)
    _check_card(_jupyter_html(card), "Scorecard", "points", str(card.points["bin"].iloc[0]))
    plan = ts.contact_plan(np.full(100, 0.1), np.full(100, 50.0), [ts.Channel("email", 0.5)], budget=10)
    _check_card(_jupyter_html(plan), "ContactPlan", "email", "10.00", "20")


def test_logistic_scorer_repr_and_html(market):
    p = market.prospects
    model = ts.LogisticScorer(C=0.5)
    assert repr(model) == "LogisticScorer(C=0.5)"
    _check_card(_jupyter_html(model), "LogisticScorer (not fitted)", "0.5")
    model.fit(p[["income", "sex"]], p["converted"])
    text = repr(model)
    assert text.startswith("LogisticScorer(C=0.5): fitted on 3 features")  # income + 2 sexes
    assert f"{model.intercept_[0]:.4g}" in text
    html = _jupyter_html(model)
    _check_card(html, "LogisticScorer", "largest coefficients", "sex=F", _number(model.intercept_[0]))


def test_kmeans_repr_and_html(rng):
    X = rng.normal(size=(600, 3)).astype(np.float32)
    km = ts.KMeans(n_clusters=3, random_state=0).fit(X)
    assert repr(km).startswith("KMeans(n_clusters=3, random_state=0): fitted, 3 centres of 3 features, inertia")
    html = _jupyter_html(km)
    sizes = np.bincount(km.labels_)
    _check_card(html, "KMeans", "clusters", f"{sizes[0]:,}", _number(km.inertia_))
    assert "not fitted" in _jupyter_html(ts.KMeans(n_clusters=2))


def test_value_models_html(market):
    s = ts.calibration_summary(market.transactions, customer="client_id", date="date", amount="amount",
                               calibration_end=market.now - pd.Timedelta(days=90))
    bg = ts.BetaGeo(penalizer=1e-3)
    assert "not fitted" in _jupyter_html(bg)
    bg.fit(s)
    _check_card(_jupyter_html(bg), "BetaGeo", "alpha", _number(bg.params_["r"]), _number(bg.log_likelihood_))
    gg = ts.GammaGamma(penalizer=1e-3).fit(s)
    _check_card(_jupyter_html(gg), "GammaGamma", _number(gg.params_["q"]))


def test_tree_scorer_html(rng):
    xgb = pytest.importorskip("xgboost")
    X = pd.DataFrame(rng.normal(size=(300, 2)), columns=["visits", "income"])
    y = (X["visits"] > 0).astype(int)
    scorer = ts.TreeScorer.from_xgboost(xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1).fit(X, y))
    _check_card(_jupyter_html(scorer), "TreeScorer", "xgboost", "binary:logistic", "visits", "income")


def test_numbers_read_as_a_person_writes_them():
    assert [_number(v) for v in (30262.4, -9612.3, 0.22941, 0.0010634, 0.0, float("nan"), 3.5)] == \
        ["30,262", "-9,612", "0.2294", "0.00106", "0", "–", "3.5"]


def test_html_is_escaped_and_bounded():
    from twinscore import _display

    big = pd.DataFrame({"x": np.arange(1000)})
    text = _display.card("<b>t</b>", [("a<b", "<script>")], big)
    assert "<script>" not in text and "&lt;script&gt;" in text and "&lt;b&gt;t&lt;/b&gt;" in text
    assert "988 more rows" in text and text.count("<tr>") < 30
