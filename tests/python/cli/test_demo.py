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
