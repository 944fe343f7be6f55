import re

import twinscore as ts
from twinscore.cli.demo import STEPS, DemoContext, run_demo, step_scoring, step_value


def test_demo_step_reports_scores_measures_and_reasons(prm):
    assert step_scoring in STEPS
    ctx = DemoContext(data=prm, seed=0)
    step_scoring(ctx)
    text = "\n".join(ctx.lines)
    auc = float(re.search(r"AUC (\d\.\d+), KS", text).group(1))
    assert auc > 0.6  # the planted behaviour is learnt
    assert "fit grades (profile rules only) A" in text and "deciles" in text
    assert len(re.findall(r"#\d prospect \d+: ", text)) == 3
    assert isinstance(ctx.results["conversion_model"], ts.LogisticScorer)
    assert len(ctx.results["event_features"]) == len(prm.prospects)


def test_demo_value_step(prm):
    ctx = DemoContext(data=prm, seed=7)
    step_value(ctx)
    text = "\n".join(ctx.lines)
    assert "bg/nbd" in text and "Champions" in text and "triggers" in text


def test_demo_step_runs():
    text = run_demo(4000, 600, seed=1)
    for word in ("segments", "criteria", "scorecard", "plan"):
        assert word in text


def test_demo_twins_step_shows_the_reference_lift_and_an_explained_prospect():
    from twinscore.cli.demo import step_twins
    ctx = DemoContext(data=ts.datasets.make_prm(40_000, 2_000, seed=3), seed=0)
    step_twins(ctx)
    text = "\n".join(ctx.lines)
    m = re.search(r"plain score .*? (\d+\.\d+)x \(AUC (\d\.\d+)\); by the reference score (\d+\.\d+)x "
                  r"\(AUC (\d\.\d+)\)", text)
    plain_lift, plain_auc, ref_lift, ref_auc = map(float, m.groups())
    assert ref_lift > plain_lift and ref_auc > max(plain_auc, 0.75), text
    assert "resembles clients more than the population on: " in text
    assert re.search(r"twins among the buyers \(margin-weighted\) bought: \w+ \(\d+%, \d+ twins\)", text)
    assert isinstance(ctx.results["twin_index"], ts.TwinIndex)
