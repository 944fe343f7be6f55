"""Jobs that read their models from files saved by ``model.save(path)``: each model kind
through ``twinscore run`` against the in-memory call, a file of another class (exit 2),
a corrupt file (exit 4), --dry-run with model files, and a pipeline killed mid-step."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore.cli import main

NOW = "2026-11-01"


@pytest.fixture(scope="module")
def market():
    return ts.datasets.make_prm(n_prospects=3_000, n_clients=600, seed=11)


@pytest.fixture(scope="module")
def prospects(market):
    return market.prospects[["contact_id", "sex", "age_band", "region", "income", "channel", "email_optin",
                             "categories"]]


def write(tmp_path: Path, text: str, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def no_partial_files(directory: Path) -> bool:
    return not any(p.name.endswith(".partial") for p in directory.iterdir())


SCORE_JOB = """
[job]
kind = "{kind}"
chunk_rows = 700
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "model.tsm"
[output]
path = "out.parquet"
"""


def test_logistic_scorecard_and_segments_from_saved_files(tmp_path, market, prospects, capsys):
    prospects.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    feats = prospects.drop(columns=["contact_id", "categories"])
    y = market.prospects["converted"]
    logit = ts.LogisticScorer().fit(feats, y)
    card = ts.discriminating_criteria(feats, target=y).scorecard(top=3, min_iv=0.0)
    numeric = pd.DataFrame({"income": prospects["income"].fillna(0.0) / 1e4})
    km = ts.MiniBatchKMeans(n_clusters=3, random_state=0).fit(numeric)
    table = prospects.assign(income=numeric["income"])
    for kind, model, ref in (("logistic_score", logit, lambda: logit.predict_proba(feats)[:, 1]),
                             ("scorecard", card, lambda: card.apply(feats)),
                             ("segments", km, lambda: km.predict(numeric))):
        if kind == "segments":
            table.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
        model.save(tmp_path / "model.tsm")
        text = SCORE_JOB.format(kind=kind) + "overwrite = true\n"
        assert main(["run", str(write(tmp_path, text)), "--no-progress"]) == 0, capsys.readouterr().err
        out = pd.read_parquet(tmp_path / "out.parquet")
        column = "segment" if kind == "segments" else "score"
        np.testing.assert_array_equal(out[column].to_numpy(), ref(), err_msg=kind)
    assert no_partial_files(tmp_path)


def test_a_saved_model_of_another_class_exits_2_and_a_corrupt_one_4(tmp_path, market, prospects, capsys):
    prospects.to_parquet(tmp_path / "prospects.parquet")
    ts.KMeans(n_clusters=2, random_state=0).fit(np.eye(3)).save(tmp_path / "model.tsm")
    job = write(tmp_path, SCORE_JOB.format(kind="twins"))
    assert main(["run", str(job)]) == 2
    assert "model.tsm holds a KMeans; this job needs a TwinIndex" in capsys.readouterr().err
    assert main(["run", "--dry-run", str(job)]) == 2
    capsys.readouterr()
    data = (tmp_path / "model.tsm").read_bytes()
    (tmp_path / "model.tsm").write_bytes(data[: len(data) // 2])  # truncated
    assert main(["run", str(job)]) == 4
    assert "model.tsm cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists() and no_partial_files(tmp_path)


def test_clv_from_saved_models(tmp_path, market):
    tx = market.transactions
    tx.to_parquet(tmp_path / "tx.parquet")
    summary = ts.calibration_summary(tx, customer="client_id", date="date", amount="amount", calibration_end=NOW)
    bg, gg = ts.BetaGeo().fit(summary), ts.GammaGamma().fit(summary)
    bg.save(tmp_path / "bg.tsm")
    gg.save(tmp_path / "gg.tsm")
    assert main(["run", str(write(tmp_path, f"""
[job]
kind = "clv"
now = "{NOW}"
[input]
path = "tx.parquet"
[clv]
customer = "client_id"
date = "date"
amount = "amount"
[model]
purchases = "bg.tsm"
spend = "gg.tsm"
[output]
path = "clv.parquet"
"""))]) == 0
    out = pd.read_parquet(tmp_path / "clv.parquet")
    np.testing.assert_array_equal(out["clv"], ts.lifetime_value(bg, gg, summary))
    np.testing.assert_array_equal(out["p_alive"], bg.probability_alive(summary))


def test_tree_scorer_and_lead_rules_from_saved_files(tmp_path, market, prospects):
    xgb = pytest.importorskip("xgboost")
    X = pd.DataFrame({"contact_id": prospects["contact_id"], "income": prospects["income"],
                      "optin": prospects["email_optin"].astype(float)})
    booster = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(
        X.drop(columns="contact_id"), market.prospects["converted"]).get_booster()
    booster.save_model(tmp_path / "m.json")
    scorer = ts.TreeScorer.from_xgboost(tmp_path / "m.json")
    scorer.save(tmp_path / "model.tsm")
    X.to_parquet(tmp_path / "prospects.parquet")
    assert main(["run", str(write(tmp_path, SCORE_JOB.format(kind="tree_score")))]) == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(out["score"], scorer.predict(X.drop(columns="contact_id")))

    rules = ts.LeadRules.from_dict({"behaviour": [{"name": "opens", "event": "email_open", "points": 2,
                                                   "cap": 10}]})
    rules.save(tmp_path / "rules.tsm")
    market.events.to_parquet(tmp_path / "events.parquet")
    assert main(["run", str(write(tmp_path, f"""
[job]
kind = "lead_score"
now = "{NOW}"
[input]
path = "prospects.parquet"
id = "contact_id"
[events]
path = "events.parquet"
[rules]
path = "rules.tsm"
[output]
path = "leads.parquet"
"""))]) == 0
    ref = ts.score_leads(X, market.events, rules, now=NOW)
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "leads.parquet")["score"], ref["score"])


PIPELINE = f"""
[job]
now = "{NOW}"
chunk_rows = {{chunk}}

[[step]]
name = "features"
kind = "events"
[step.input]
path = "events.parquet"
[step.events]
features = true
[step.output]
path = "features.parquet"

[[step]]
name = "twins"
kind = "twins"
[step.input]
path = "prospects.parquet"
id = "contact_id"
[step.model]
path = "index.tsm"
[step.twins]
k = 5
[step.output]
path = "twins.parquet"
"""


def _index(market):
    cols = ["sex", "age_band", "region", "income", "channel", "categories"]
    return ts.TwinIndex(metric="mixed", block_on=["sex"]).fit(
        market.clients[["client_id", "margin"] + cols], value="margin", id="client_id",
        population=market.prospects[cols])


def test_a_pipeline_from_saved_files_in_a_new_process(tmp_path, market, prospects):
    index = _index(market)
    index.save(tmp_path / "index.tsm")
    market.events.to_parquet(tmp_path / "events.parquet")
    prospects.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    job = write(tmp_path, PIPELINE.format(chunk=700))
    r = subprocess.run([sys.executable, "-m", "twinscore", "run", "--dry-run", str(job)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "TwinIndex from index.tsm" in r.stdout, r.stderr
    assert not (tmp_path / "features.parquet").exists()
    r = subprocess.run([sys.executable, "-m", "twinscore", "run", str(job)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "twins: chunk 1, 500/3,000 (17 %) rows" in r.stderr   # a log line per chunk, off a terminal
    assert "3,000/3,000 (100 %) rows" in r.stderr
    ref = index.search(prospects, k=5, id="contact_id").to_pandas().rename(columns={"prospect_id": "contact_id"})
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "twins.parquet"), ref)


def test_a_pipeline_killed_in_its_second_step_keeps_the_first_output_only(tmp_path, market, prospects):
    _index(market).save(tmp_path / "index.tsm")
    market.events.to_parquet(tmp_path / "events.parquet")
    big = pd.concat([prospects] * 40, ignore_index=True).assign(contact_id=lambda d: np.arange(len(d)))
    big.to_parquet(tmp_path / "prospects.parquet", row_group_size=1_000)  # 120,000 rows, 1,000 a chunk: seconds
    job = write(tmp_path, PIPELINE.format(chunk=1000))
    proc = subprocess.Popen([sys.executable, "-m", "twinscore", "run", str(job), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not any(
            p.name.startswith(".twins.parquet.") for p in tmp_path.iterdir()):
        time.sleep(0.02)
    assert proc.poll() is None, "the pipeline ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert (tmp_path / "features.parquet").exists()
    assert not (tmp_path / "twins.parquet").exists()
