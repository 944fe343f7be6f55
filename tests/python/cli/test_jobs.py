"""Batch jobs (`twinscore run job.toml`): each kind against the engine called
directly, chunked reads, CSV and Parquet, and all-or-nothing output."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore.cli import main
from twinscore.cli.jobs import load_job, run_job, run_loaded_job

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def market():
    return ts.datasets.make_prm(n_prospects=3_000, n_clients=600, seed=7)


@pytest.fixture(scope="module")
def features(market):
    p = market.prospects
    X = pd.DataFrame({"contact_id": p["contact_id"], "income": p["income"].astype(np.float64),
                      "email_optin": p["email_optin"].astype(np.float64)})
    X.loc[::7, "income"] = np.nan
    return X, p["converted"].astype(int).to_numpy()


def write_job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def no_partial_files(directory: Path) -> bool:
    return not any(p.name.endswith(".partial") for p in directory.iterdir())


def test_tree_score_xgboost_parquet_in_chunks_with_reasons(tmp_path, features):
    X, y = features
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X.drop(columns="contact_id"), y)
    model.get_booster().save_model(tmp_path / "m.ubj")
    X.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    job = write_job(tmp_path, """
[job]
kind = "tree_score"
chunk_rows = 700
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "m.ubj"
reasons = 2
[output]
path = "scores.parquet"
""")
    report = run_job(job, threads=2)
    out = pd.read_parquet(tmp_path / "scores.parquet")
    scorer = ts.TreeScorer.from_xgboost(tmp_path / "m.ubj")
    feats = X.drop(columns="contact_id")
    assert report.rows_in == report.rows_out == len(X) == len(out)
    np.testing.assert_array_equal(out["contact_id"], X["contact_id"])
    np.testing.assert_array_equal(out["score"], scorer.predict(feats))
    why = scorer.top_reasons(feats, top=2)
    np.testing.assert_array_equal(out["reason_1"], why["reason_1"])
    np.testing.assert_allclose(out["contribution_2"], why["contribution_2"])
    assert no_partial_files(tmp_path)


def test_tree_score_lightgbm_csv_multiclass(tmp_path, features):
    X, _ = features
    y3 = np.random.default_rng(0).integers(0, 3, len(X))
    feats = X.drop(columns="contact_id")
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1},
                        lgb.Dataset(feats, y3), 5)
    booster.save_model(str(tmp_path / "m.txt"))
    X.to_csv(tmp_path / "prospects.csv", index=False)
    job = write_job(tmp_path, """
[job]
kind = "tree_score"
chunk_rows = 1000
[input]
path = "prospects.csv"
id = "contact_id"
[model]
path = "m.txt"
[output]
path = "scores.csv"
""")
    run_job(job)
    out = pd.read_csv(tmp_path / "scores.csv")
    ref = booster.predict(feats)
    assert list(out.columns) == ["contact_id", "score_0", "score_1", "score_2"]
    np.testing.assert_allclose(out[["score_0", "score_1", "score_2"]].to_numpy(), ref, atol=1e-12)


def test_lead_score_job_equals_score_leads(tmp_path, market):
    contacts = market.prospects[["contact_id", "age_band", "income", "email_optin"]]
    contacts.to_parquet(tmp_path / "contacts.parquet")
    market.events.to_csv(tmp_path / "events.csv", index=False)
    rules = tmp_path / "rules.toml"
    rules.write_text("""
half_life_days = 30
mql_threshold = 20
lowest_grade = "D"
[grades]
A = 10
B = 5
[[fit]]
name = "core age"
column = "age_band"
points_by_value = {"25-34" = 10, "35-44" = 10}
[[behaviour]]
name = "opens"
event = "email_open"
points = 2
cap = 10
[[behaviour]]
name = "unsubscribed"
event = "unsubscribe"
points = -50
""")
    now = market.now.isoformat()
    job = write_job(tmp_path, f"""
[job]
kind = "lead_score"
now = "{now}"
[input]
path = "contacts.parquet"
id = "contact_id"
[events]
path = "events.csv"
[rules]
path = "rules.toml"
[output]
path = "leads.parquet"
""")
    run_job(job)
    out = pd.read_parquet(tmp_path / "leads.parquet").set_index("contact_id")
    ref = ts.leads.score_leads(contacts, market.events, rules, now=market.now)
    np.testing.assert_allclose(out["score"], ref["score"].to_numpy(), rtol=1e-9)
    assert (out["grade"].astype(str).to_numpy() == ref["grade"].astype(str).to_numpy()).all()


def test_rfm_job_equals_rfm(tmp_path, market):
    tx = market.transactions
    tx.to_csv(tmp_path / "tx.csv.gz", index=False)
    now = market.now.isoformat()
    job = write_job(tmp_path, f"""
[job]
kind = "rfm"
[input]
path = "tx.csv.gz"
[rfm]
customer = "client_id"
date = "date"
amount = "amount"
now = "{now}"
bins = 4
[output]
path = "rfm.parquet"
""")
    run_job(job)
    out = pd.read_parquet(tmp_path / "rfm.parquet").set_index("client_id")
    ref = ts.rfm(tx, customer="client_id", date="date", amount="amount", now=market.now, bins=4)
    for col in ("R", "F", "M", "frequency"):
        np.testing.assert_array_equal(out[col].to_numpy(), ref[col].to_numpy())
    assert "segment" not in ref or (out["segment"].astype(str).to_numpy() == ref["segment"].astype(str).to_numpy()).all()


TREE_JOB = """
[job]
kind = "tree_score"
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "m.json"
[output]
path = "scores.parquet"
"""


@pytest.fixture
def tree_dir(tmp_path, features):
    X, y = features
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X.drop(columns="contact_id"), y)
    model.get_booster().save_model(tmp_path / "m.json")
    X.to_parquet(tmp_path / "prospects.parquet", row_group_size=1000)
    return tmp_path


@pytest.mark.parametrize("edit, error, match", [
    (("kind = \"tree_score\"", "kind = \"treescore\""), ValueError, "kind must be one of"),
    (("[model]\n", "[model]\npth = 'x'\n"), ValueError, "unknown key 'pth' in \\[model\\]"),
    (("[output]", "[outptu]"), ValueError, "unknown section \\[outptu\\]"),
    (("id = \"contact_id\"", "id = \"customer\""), KeyError, "id column 'customer'"),
    (("m.json", "missing.json"), FileNotFoundError, "missing.json"),
    (("prospects.parquet", "prospects.xlsx"), FileNotFoundError, "prospects.xlsx"),
    (("scores.parquet", "scores.xlsx"), ValueError, "must end in .parquet or .csv"),
    (("[model]\n", "[model]\nreasons = -1\n"), ValueError, "reasons must be"),
])
def test_bad_jobs_are_refused_by_name_and_write_nothing(tree_dir, edit, error, match):
    job = write_job(tree_dir, TREE_JOB.replace(*edit))
    with pytest.raises(error, match=match):
        run_job(job)
    assert not (tree_dir / "scores.parquet").exists()
    assert no_partial_files(tree_dir)


def test_existing_output_is_kept_unless_overwrite(tree_dir):
    (tree_dir / "scores.parquet").write_bytes(b"old")
    with pytest.raises(ValueError, match="exists"):
        run_job(write_job(tree_dir, TREE_JOB))
    assert (tree_dir / "scores.parquet").read_bytes() == b"old"
    run_job(write_job(tree_dir, TREE_JOB.replace("[output]\n", "[output]\noverwrite = true\n")))
    assert len(pd.read_parquet(tree_dir / "scores.parquet")) == 3_000


def test_failure_in_a_later_chunk_leaves_no_output(tree_dir, features):
    X, _ = features
    bad = X.copy()
    bad["income"] = bad["income"].astype(object)
    bad.loc[2_500, "income"] = "unknown"  # the third chunk cannot be read as a number
    bad.to_csv(tree_dir / "prospects.csv", index=False)
    job = write_job(tree_dir, TREE_JOB.replace("prospects.parquet", "prospects.csv")
                    .replace("[job]\n", "[job]\nchunk_rows = 1000\n"))
    with pytest.raises((ValueError, TypeError), match="rows 2,000 to 2,999: column 'income'"):
        run_job(job)
    assert not (tree_dir / "scores.parquet").exists()
    assert no_partial_files(tree_dir)


def test_parquet_output_keeps_the_first_chunks_types(tree_dir, features):
    X, _ = features
    ids = X.copy()
    ids["contact_id"] = ids["contact_id"].astype(object)
    ids.loc[1_500, "contact_id"] = "17.0"    # chunk 2 reads as float64: cast back to int64
    ids.to_csv(tree_dir / "prospects.csv", index=False)
    text = TREE_JOB.replace("prospects.parquet", "prospects.csv").replace("[job]\n", "[job]\nchunk_rows = 1000\n")
    run_job(write_job(tree_dir, text))
    out = pd.read_parquet(tree_dir / "scores.parquet")
    assert out["contact_id"].dtype == np.int64 and len(out) == len(X)
    ids.loc[2_500, "contact_id"] = "C-17"    # not a number: refused by name, nothing written
    ids.to_csv(tree_dir / "prospects.csv", index=False)
    with pytest.raises(TypeError, match="rows 2,000 to 2,999: output column 'contact_id' is (large_)?string"):
        run_job(write_job(tree_dir, text.replace("[output]\n", "[output]\noverwrite = true\n")))
    assert len(pd.read_parquet(tree_dir / "scores.parquet")) == len(X)  # the earlier output is kept
    assert no_partial_files(tree_dir)


def test_cli_run(tree_dir, capsys):
    job = write_job(tree_dir, TREE_JOB)
    assert main(["run", str(job), "--threads", "1"]) == 0
    assert "3,000 rows out" in capsys.readouterr().out
    assert main(["run", str(job)]) == 2  # the output now exists
    assert "exists" in capsys.readouterr().err
    assert main(["run", str(tree_dir / "nope.toml")]) == 2
    assert "job file not found" in capsys.readouterr().err


def test_same_scores_for_one_and_two_threads(tree_dir):
    run_job(write_job(tree_dir, TREE_JOB), threads=1)
    one = pd.read_parquet(tree_dir / "scores.parquet")
    run_job(write_job(tree_dir, TREE_JOB.replace("[output]\n", "[output]\noverwrite = true\n")), threads=2)
    pd.testing.assert_frame_equal(one, pd.read_parquet(tree_dir / "scores.parquet"))


def test_load_job_resolves_paths_against_the_job_file(tree_dir):
    job = load_job(write_job(tree_dir, TREE_JOB))
    assert job["model"]["path"] == (tree_dir / "m.json").resolve()


@pytest.mark.parametrize("edit, error, match", [
    (("[model]\n", "[model]\ngroups = 5\n"), TypeError, r"\[model\] groups must map each reason"),
    (("[job]\n", "[job]\nchunk_rows = 1e23\n"), TypeError, r"\[job\] chunk_rows must be an integer"),
    (("[job]\n", "[job]\nchunk_rows = 0\n"), ValueError, r"chunk_rows must be between 1 and"),
    (("id = \"contact_id\"", "id = [\"contact_id\"]"), TypeError, r"\[input\] id must be a non-empty string"),
    (("[job]\n", "[job]\nthreads = 1099511627776\n"), ValueError, r"threads must be between 1 and 4,096"),
    (("[model]\n", "[model]\nlibrary = \"catboost\"\n"), ValueError, r"library must be one of"),
    (("[output]\n", "[output]\noverwrite = \"yes\"\n"), TypeError, r"overwrite must be true or false"),
])
def test_every_key_is_checked_before_any_data_is_read(tree_dir, edit, error, match):
    (tree_dir / "prospects.parquet").write_bytes(b"not parquet")  # reading it would fail differently
    with pytest.raises(error, match=match):
        load_job(write_job(tree_dir, TREE_JOB.replace(*edit)))


def test_dates_in_job_files_follow_the_date_rule(tmp_path):
    (tmp_path / "tx.csv").write_text("client,date,amount\n1,2024-01-01,5.0\n")
    text = """
[job]
kind = "rfm"
[input]
path = "tx.csv"
[rfm]
customer = "client"
date = "date"
now = {now}
[output]
path = "rfm.parquet"
"""
    with pytest.raises(TypeError, match=r"\[rfm\] now must be a date, got the number 5"):
        load_job(write_job(tmp_path, text.format(now="5")))
    job = load_job(write_job(tmp_path, text.format(now="2024-03-01T00:00:00+01:00")))
    assert job["rfm"]["now"] == pd.Timestamp("2024-02-29 23:00:00")
    assert load_job(write_job(tmp_path, text.format(now="2024-03-01")))["rfm"]["now"] == pd.Timestamp("2024-03-01")


def test_a_concurrent_job_output_is_never_replaced(tree_dir):
    job = load_job(write_job(tree_dir, TREE_JOB))           # checked while the output is absent
    (tree_dir / "scores.parquet").write_bytes(b"the other job's")  # ... then another job publishes first
    with pytest.raises(ValueError, match="appeared while the job ran"):
        run_loaded_job(job)
    assert (tree_dir / "scores.parquet").read_bytes() == b"the other job's"
    assert no_partial_files(tree_dir)


def test_stale_partial_files_of_dead_jobs_are_removed(tree_dir):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tree_dir / f".scores.parquet.{int(dead.stdout)}.x1y2.partial"
    stale.write_bytes(b"left by a killed job")
    live = tree_dir / f".scores.parquet.{os.getppid()}.a1b2.partial"   # a running process's: kept
    live.write_bytes(b"in progress")
    other = tree_dir / f".other.parquet.{int(dead.stdout)}.c3d4.partial"  # another target's: kept
    other.write_bytes(b"not ours")
    run_job(write_job(tree_dir, TREE_JOB))
    assert not stale.exists() and live.exists() and other.exists()
    assert len(pd.read_parquet(tree_dir / "scores.parquet")) == 3_000


def _slow_job(tmp_path, features):
    X, y = features
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X.drop(columns="contact_id"), y)
    model.get_booster().save_model(tmp_path / "m.json")
    big = pd.concat([X] * 100, ignore_index=True).assign(contact_id=lambda d: np.arange(len(d)))
    big.to_csv(tmp_path / "prospects.csv", index=False)  # 300,000 rows read 1,000 at a time: seconds
    return write_job(tmp_path, TREE_JOB.replace("prospects.parquet", "prospects.csv")
                     .replace("[job]\n", "[job]\nchunk_rows = 1000\n"))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_killed_job_then_rerun_leaves_one_complete_output(tmp_path, features, sig):
    import signal
    import subprocess
    import sys
    import time

    job = _slow_job(tmp_path, features)
    cmd = [sys.executable, "-m", "twinscore", "run", str(job), "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and no_partial_files(tmp_path) and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert not (tmp_path / "scores.parquet").exists()
    if sig == "SIGTERM":  # caught: cleaned up, said so
        assert proc.returncode == 143 and "terminated" in err
        assert no_partial_files(tmp_path)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "scores.parquet")) == 300_000
    assert no_partial_files(tmp_path)


def test_exit_status_by_kind_of_failure(tree_dir, capsys, monkeypatch):
    from twinscore.cli import jobs

    assert main(["run", str(write_job(tree_dir, TREE_JOB.replace("[model]\n", "[model]\npth = 1\n")))]) == 2
    assert main(["run", str(write_job(tree_dir, TREE_JOB.replace("contact_id", "customer")))]) == 3
    assert "id column 'customer'" in capsys.readouterr().err

    def disk_full(self, df):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jobs._TableWriter, "write", disk_full)
    assert main(["run", str(write_job(tree_dir, TREE_JOB))]) == 4
    assert "No space left on device" in capsys.readouterr().err
    assert no_partial_files(tree_dir) and not (tree_dir / "scores.parquet").exists()


def test_progress_over_the_chunks_of_a_tree_scoring_job(tmp_path, features, capsys):
    X, y = features
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X.drop(columns="contact_id"), y)
    model.get_booster().save_model(tmp_path / "m.ubj")
    X.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    text = """
[job]
kind = "tree_score"
chunk_rows = 1000
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "m.ubj"
[output]
path = "scores.parquet"
overwrite = true
"""
    job = write_job(tmp_path, text)
    assert main(["run", str(job), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    run_job(job, progress=True)
    err = capsys.readouterr().err
    assert "tree_score" in err and f"{len(X) / 1000:.2f}k/{len(X) / 1000:.2f}k" in err
