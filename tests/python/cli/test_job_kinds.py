"""The job kinds of every engine (events, logistic_score, scorecard, segments, clv, twins,
contact_plan), each against the in-memory call; pipelines of steps; --dry-run; exit codes.

Models reach the jobs through ``run_job(..., models={path: object})`` — the
same class checks as a model file read by ``twinscore.load`` — so these
tests hold with or without model files; test_job_model_files.py runs the
same kinds from saved files.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore.cli import main
from twinscore.cli.jobs import JobFileError, ModelFileError, dry_run, load_job, run_job

NOW = "2026-11-01"


@pytest.fixture(scope="module")
def market():
    return ts.datasets.make_prm(n_prospects=3_000, n_clients=600, seed=7)


def write(tmp_path: Path, text: str, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def model_file(tmp_path: Path, obj, name: str = "model.tsm") -> dict:
    """A placeholder file at the model's path and the seam that hands the object to the job."""
    path = tmp_path / name
    path.write_bytes(b"placeholder: the job takes the object from models=")
    return {path.resolve(): obj}


def no_partial_files(directory: Path) -> bool:
    return not any(p.name.endswith(".partial") for p in directory.iterdir())


def attributes(market) -> pd.DataFrame:
    p = market.prospects
    return p[["contact_id", "sex", "age_band", "region", "income", "channel", "email_optin", "categories"]]


# -- events --------------------------------------------------------------------------------
@pytest.mark.parametrize("features", [False, True])
def test_events_job_equals_aggregate(tmp_path, market, features):
    market.events.to_csv(tmp_path / "events.csv", index=False)
    job = write(tmp_path, f"""
[job]
kind = "events"
[input]
path = "events.csv"
[events]
now = "{NOW}"
half_life_days = 14
features = {str(features).lower()}
[output]
path = "features.parquet"
""")
    report = run_job(job)
    out = pd.read_parquet(tmp_path / "features.parquet")
    log = pd.read_csv(tmp_path / "events.csv", parse_dates=["timestamp"])  # the in-memory call on the same table
    ref = ts.events.aggregate(log, now=NOW, half_life_days=14)
    if features:
        ref = ts.events.behaviour_features(ref)
    ref = ref.reset_index()
    assert report.rows_in == len(market.events) and report.rows_out == len(ref)
    assert list(out.columns) == list(ref.columns)
    for c in ref.columns:  # CSV timestamps come back as datetimes of the same instant
        np.testing.assert_array_equal(out[c].to_numpy(), ref[c].to_numpy(), err_msg=c)


def test_events_job_fixed_vocabulary_and_missing_column(tmp_path, market):
    market.events.to_parquet(tmp_path / "events.parquet")
    text = f"""
[job]
kind = "events"
now = "{NOW}"
[input]
path = "events.parquet"
category = "{{category}}"
[events]
types = {{types}}
[output]
path = "agg.parquet"
"""
    types = sorted(market.events["type"].astype(str).unique()) + ["extra"]
    text = text.replace("{types}", str(types).replace("'", '"'))
    run_job(write(tmp_path, text.format(category="category")))
    out = pd.read_parquet(tmp_path / "agg.parquet")
    assert "n_extra" in out.columns and (out["n_extra"] == 0).all()  # the same columns every night
    with pytest.raises(KeyError, match="events.parquet has no column 'cat'"):
        run_job(write(tmp_path, text.format(category="cat").replace("agg.parquet", "agg2.parquet")))
    assert not (tmp_path / "agg2.parquet").exists() and no_partial_files(tmp_path)


EVENTS_JOB = f"""
[job]
kind = "events"
chunk_rows = {{chunk}}
[input]
path = "{{log}}"
[events]
now = "{NOW}"
half_life_days = 14
features = {{features}}
[output]
path = "features.parquet"
"""


def _shuffled_log(market) -> pd.DataFrame:
    """The event log in time order (a contact's events scattered through it), with string ids."""
    log = market.events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return log.assign(contact_id="c" + log["contact_id"].astype(str))


@pytest.mark.parametrize("log, chunk, features", [("events.parquet", 2_000, False), ("events.csv", 3_000, True),
                                                  ("events.parquet", 50_000, False)])
def test_events_job_split_by_contact_range_equals_aggregate(tmp_path, market, log, chunk, features, monkeypatch):
    from twinscore.cli import partition

    events = _shuffled_log(market)
    if log.endswith(".csv"):
        events.to_csv(tmp_path / log, index=False)
        events = pd.read_csv(tmp_path / log, parse_dates=["timestamp"])  # the in-memory call on the same table
    else:
        events.to_parquet(tmp_path / log, row_group_size=1_500)
    parts = []
    read = partition._read_table
    monkeypatch.setattr(partition, "_read_table", lambda *a: parts.append(read(*a)) or parts[-1])
    report = run_job(write(tmp_path, EVENTS_JOB.format(chunk=chunk, log=log, features=str(features).lower())),
                     progress=False)
    ref = ts.events.aggregate(events, now=NOW, half_life_days=14)
    if features:
        ref = ts.events.behaviour_features(ref)
    out = pd.read_parquet(tmp_path / "features.parquet")
    pd.testing.assert_frame_equal(out, ref.reset_index(), check_exact=True,
                                  check_index_type=False, check_column_type=False)
    assert report.rows_in == len(events) and report.rows_out == len(ref)
    if chunk < len(events):  # split: every part far smaller than the log, no contact in two parts
        assert len(parts) >= len(events) // chunk - 1
        assert max(len(p) for p in parts) < 2 * chunk
        assert sum(p["contact_id"].nunique() for p in parts) == events["contact_id"].nunique()
    else:
        assert not parts
    assert no_partial_files(tmp_path) and not list(tmp_path.glob("*.parts"))


def test_events_job_parts_are_removed_when_a_part_fails_and_when_left_by_a_killed_job(tmp_path, market):
    events = _shuffled_log(market)
    late = events.index[-1]
    events.loc[late, "timestamp"] = pd.Timestamp(NOW) + pd.Timedelta(days=1)  # one event after now
    events.to_parquet(tmp_path / "events.parquet", row_group_size=1_500)
    stale = tmp_path / ".features.parquet.999999999.x.parts"  # a killed job's parts (no such process)
    stale.mkdir()
    (stale / "part-00000.parquet").write_bytes(b"left over")
    job = write(tmp_path, EVENTS_JOB.format(chunk=2_000, log="events.parquet", features="false"))
    with pytest.raises(ValueError, match="after"):
        run_job(job, progress=False)
    assert not (tmp_path / "features.parquet").exists() and no_partial_files(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".parts")]


def test_events_job_refuses_a_missing_contact_id_by_row(tmp_path, market, capsys):
    events = _shuffled_log(market)
    events.loc[5_000, "contact_id"] = None
    events.to_parquet(tmp_path / "events.parquet", row_group_size=1_500)
    job = write(tmp_path, EVENTS_JOB.format(chunk=2_000, log="events.parquet", features="false"))
    assert main(["run", str(job)]) == 3
    assert "contact column 'contact_id' has a missing id at row 5,000" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# -- logistic_score, scorecard, segments -----------------------------------------------------
def test_logistic_score_job_in_chunks_equals_predict_proba_and_explain(tmp_path, market):
    X = attributes(market).drop(columns="categories")
    y = market.prospects["converted"]
    model = ts.LogisticScorer(C=0.5).fit(X.drop(columns="contact_id"), y)
    X.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    job = write(tmp_path, """
[job]
kind = "logistic_score"
chunk_rows = 700
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "model.tsm"
reasons = 2
[output]
path = "scores.parquet"
""")
    report = run_job(job, models=model_file(tmp_path, model), progress=False)
    out = pd.read_parquet(tmp_path / "scores.parquet")
    feats = X.drop(columns="contact_id")
    assert report.rows_in == report.rows_out == len(X)
    np.testing.assert_array_equal(out["contact_id"], X["contact_id"])
    np.testing.assert_array_equal(out["score"], model.predict_proba(feats)[:, 1])
    why = model.explain(feats, top=2)
    np.testing.assert_array_equal(out["reason_1"].to_numpy(), why["reason_1"].to_numpy())
    np.testing.assert_array_equal(out["contribution_2"], why["contribution_2"])


def test_scorecard_job_equals_apply(tmp_path, market):
    data = attributes(market).drop(columns="categories")
    crit = ts.discriminating_criteria(data.drop(columns="contact_id"), target=market.prospects["converted"])
    card = crit.scorecard(top=4, min_iv=0.0)
    data.to_csv(tmp_path / "prospects.csv", index=False)
    job = write(tmp_path, """
[job]
kind = "scorecard"
chunk_rows = 1000
[input]
path = "prospects.csv"
id = "contact_id"
[model]
path = "card.tsm"
[output]
path = "points.csv"
""")
    run_job(job, models=model_file(tmp_path, card, "card.tsm"), progress=False)
    out = pd.read_csv(tmp_path / "points.csv")
    ref = card.apply(pd.read_csv(tmp_path / "prospects.csv"))
    np.testing.assert_array_equal(out["score"], ref)
    np.testing.assert_array_equal(out["contact_id"], data["contact_id"])


def test_segments_job_equals_predict_and_profiles(tmp_path, market):
    p = market.prospects
    X = pd.DataFrame({"contact_id": p["contact_id"], "income": p["income"].fillna(30_000.0) / 1e4,
                      "household": p["household_size"].fillna(2.0), "optin": p["email_optin"].astype(float),
                      "region": p["region"].astype(str), "converted": p["converted"].astype(int)})
    cols = ["income", "household", "optin"]
    km = ts.KMeans(n_clusters=4, random_state=0).fit(X[cols])
    X.to_parquet(tmp_path / "contacts.parquet", row_group_size=400)
    job = write(tmp_path, """
[job]
kind = "segments"
chunk_rows = 1000
[input]
path = "contacts.parquet"
id = "contact_id"
[model]
path = "km.tsm"
[output]
path = "segments.parquet"
[profile]
path = "profiles.parquet"
columns = ["income", "household", "region"]
conversion = "converted"
""")
    run_job(job, models=model_file(tmp_path, km, "km.tsm"), progress=False)
    out = pd.read_parquet(tmp_path / "segments.parquet")
    labels = km.predict(X[cols])
    np.testing.assert_array_equal(out["segment"], labels)
    prof = pd.read_parquet(tmp_path / "profiles.parquet")
    ref = ts.segment_profiles(X[["income", "household", "region"]], labels, numeric=["income", "household"],
                              categorical=["region"], conversion=X["converted"]).reset_index()
    # counts (sizes, shares, over-represented categories) exactly; sums to their rounding in another order
    exact = ["segment", "size", "share", "over-represented"]
    pd.testing.assert_frame_equal(prof[exact], ref[exact], check_exact=True)
    pd.testing.assert_frame_equal(prof, ref, check_exact=False, rtol=1e-13)
    assert prof["over-represented"].str.len().sum() > 0


def test_a_model_of_another_class_is_a_job_file_error(tmp_path, market):
    X = attributes(market)[["contact_id", "income"]].fillna(0.0)
    X.to_parquet(tmp_path / "prospects.parquet")
    km = ts.KMeans(n_clusters=2, random_state=0).fit(X[["income"]])
    job = write(tmp_path, """
[job]
kind = "logistic_score"
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "model.tsm"
[output]
path = "scores.parquet"
""")
    with pytest.raises(JobFileError, match="model.tsm holds a KMeans; this job needs a LogisticScorer"):
        run_job(job, models=model_file(tmp_path, km))
    assert not (tmp_path / "scores.parquet").exists() and no_partial_files(tmp_path)


# -- clv ------------------------------------------------------------------------------------
@pytest.mark.parametrize("loaded", [False, True])
@pytest.mark.parametrize("kind, cls", [(None, ts.BetaGeo), ("pareto_nbd", ts.ParetoNBD)])
def test_clv_job_equals_the_models(tmp_path, market, loaded, kind, cls):
    tx = market.transactions
    tx.to_csv(tmp_path / "tx.csv", index=False)
    summary = ts.calibration_summary(tx, customer="client_id", date="date", amount="amount", calibration_end=NOW)
    bg = cls(penalizer=0.01).fit(summary)
    gg = ts.GammaGamma(penalizer=0.01).fit(summary)
    models = {}
    model_keys = ""
    if loaded:
        models = {**model_file(tmp_path, bg, "bg.tsm"), **model_file(tmp_path, gg, "gg.tsm")}
        model_keys = '[model]\npurchases = "bg.tsm"\nspend = "gg.tsm"\n'
    model = "" if kind is None else f'model = "{kind}"'
    job = write(tmp_path, f"""
[job]
kind = "clv"
now = "{NOW}"
[input]
path = "tx.csv"
[clv]
{model}
customer = "client_id"
date = "date"
amount = "amount"
horizon = 26
months = 6
penalizer = 0.01
{model_keys}
[output]
path = "clv.parquet"
""")
    run_job(job, models=models)
    out = pd.read_parquet(tmp_path / "clv.parquet").set_index("client_id")
    np.testing.assert_array_equal(out.index, summary.index)
    np.testing.assert_array_equal(out["expected_purchases"], bg.predict(summary, 26))
    np.testing.assert_array_equal(out["p_alive"], bg.probability_alive(summary))
    np.testing.assert_array_equal(out["expected_spend"], gg.expected_spend(summary))
    np.testing.assert_array_equal(out["clv"], ts.lifetime_value(bg, gg, summary, months=6))
    if kind == "pareto_nbd":  # a BG/NBD's P(alive) differs: the job did use the Pareto/NBD
        assert not np.allclose(out["p_alive"], ts.BetaGeo(penalizer=0.01).fit(summary).probability_alive(summary))


def test_clv_needs_both_models_or_neither(tmp_path, market):
    market.transactions.to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "bg.tsm").write_bytes(b"x")
    job = write(tmp_path, """
[job]
kind = "clv"
[input]
path = "tx.csv"
[clv]
customer = "client_id"
date = "date"
amount = "amount"
[model]
purchases = "bg.tsm"
[output]
path = "clv.parquet"
""")
    with pytest.raises(ValueError, match="purchases and spend together"):
        load_job(job)


@pytest.mark.parametrize("loaded", [False, True])
def test_clv_job_with_the_bgbb(tmp_path, market, loaded):
    tx = market.transactions
    tx[["client_id", "date"]].to_csv(tmp_path / "tx.csv", index=False)
    summary = ts.discrete_summary(tx, customer="client_id", date="date", freq="M", calibration_end=NOW)
    bb = ts.BetaGeoBetaBinom().fit(summary)
    models, model_keys = {}, ""
    if loaded:
        models = model_file(tmp_path, bb, "bb.tsm")
        model_keys = '[model]\npurchases = "bb.tsm"\n'
    job = write(tmp_path, f"""
[job]
kind = "clv"
now = "{NOW}"
[input]
path = "tx.csv"
[clv]
model = "bgbb"
customer = "client_id"
date = "date"
freq = "M"
horizon = 12
discount = 0.02
{model_keys}
[output]
path = "clv.parquet"
""")
    run_job(job, models=models)
    out = pd.read_parquet(tmp_path / "clv.parquet").set_index("client_id")
    np.testing.assert_array_equal(out.index, summary.index)
    np.testing.assert_array_equal(out["n_periods"], summary["n_periods"])
    np.testing.assert_array_equal(out["expected_purchases"], bb.predict(summary, 12))
    np.testing.assert_array_equal(out["p_alive"], bb.probability_alive(summary))
    np.testing.assert_array_equal(out["dert"], bb.expected_residual_transactions(summary, discount=0.02))


@pytest.mark.parametrize("keys, message", [
    ('model = "gamma"\namount = "amount"', "model must be one of"),
    ('model = "pareto_nbd"', "needs amount"),
    ('model = "bgbb"\namount = "amount"\nmonths = 6', "amount, months do not apply"),
    ('amount = "amount"\nfreq = "W"', "freq do not apply"),
])
def test_clv_job_model_keys_are_checked(tmp_path, market, keys, message):
    market.transactions.to_csv(tmp_path / "tx.csv", index=False)
    job = write(tmp_path, f"""
[job]
kind = "clv"
[input]
path = "tx.csv"
[clv]
customer = "client_id"
date = "date"
{keys}
[output]
path = "clv.parquet"
""")
    with pytest.raises(ValueError, match=message):
        load_job(job)


def test_clv_job_refuses_a_purchase_model_of_another_kind(tmp_path, market):
    tx = market.transactions
    tx.to_csv(tmp_path / "tx.csv", index=False)
    summary = ts.calibration_summary(tx, customer="client_id", date="date", amount="amount", calibration_end=NOW)
    models = {**model_file(tmp_path, ts.BetaGeo().fit(summary), "bg.tsm"),
              **model_file(tmp_path, ts.GammaGamma().fit(summary), "gg.tsm")}
    job = write(tmp_path, """
[job]
kind = "clv"
[input]
path = "tx.csv"
[clv]
model = "pareto_nbd"
customer = "client_id"
date = "date"
amount = "amount"
[model]
purchases = "bg.tsm"
spend = "gg.tsm"
[output]
path = "clv.parquet"
""")
    with pytest.raises(JobFileError, match="holds a BetaGeo; \\[clv\\] model = 'pareto_nbd' needs a ParetoNBD"):
        run_job(job, models=models)
    assert not (tmp_path / "clv.parquet").exists()


# -- twins ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index(market):
    cols = ["sex", "age_band", "region", "income", "channel", "categories"]
    return ts.TwinIndex(metric="mixed", block_on=["sex"]).fit(
        market.clients[["client_id", "margin"] + cols], value="margin", id="client_id",
        population=market.prospects[cols])


TWINS_JOB = """
[job]
kind = "twins"
chunk_rows = 700
[input]
path = "prospects.parquet"
id = "contact_id"
[model]
path = "index.tsm"
[twins]
k = 5
{twins}
[output]
path = "out.parquet"
"""


@pytest.mark.parametrize("result", ["twins", "scores"])
def test_twins_job_in_chunks_equals_search(tmp_path, market, index, result):
    prospects = attributes(market)
    prospects.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    job = write(tmp_path, TWINS_JOB.format(twins=f'result = "{result}"'))
    report = run_job(job, models=model_file(tmp_path, index, "index.tsm"), progress=False)
    res = index.search(prospects, k=5, id="contact_id")  # the table the file holds
    ref = (res.to_pandas() if result == "twins" else res.scores()).rename(columns={"prospect_id": "contact_id"})
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert report.rows_in == len(prospects) and report.rows_out == len(ref)
    pd.testing.assert_frame_equal(out, ref)


@pytest.mark.parametrize("size, by", [('n = 137', "value_reference"), ('fraction = 0.05', "score"),
                                      ('n = 5000', "auto")])
def test_twins_expand_job_equals_expand(tmp_path, market, index, size, by):
    prospects = attributes(market)
    prospects.to_parquet(tmp_path / "prospects.parquet", row_group_size=500)
    job = write(tmp_path, TWINS_JOB.format(
        twins=f'result = "expand"\n{size}\nby = "{by}"\nexclude = "email_optin"'))
    run_job(job, models=model_file(tmp_path, index, "index.tsm"), progress=False)
    whole = prospects
    kw = {"n": int(size.split("=")[1])} if size.startswith("n") else {"fraction": 0.05}
    ref = index.expand(whole, k=5, id="contact_id", by=by, exclude_mask=whole["email_optin"].to_numpy(), **kw)
    out = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(out, ref.rename(columns={"prospect_id": "contact_id"}), check_dtype=False)
    assert len(out) == min(kw.get("n", round(0.05 * len(whole))), int((~whole["email_optin"]).sum()))


def test_a_chunked_job_holds_a_few_row_groups_of_its_input_not_the_file(tmp_path, monkeypatch):
    """Arrow memory in use after each chunk is a few row groups: with pyarrow's pre-buffering the
    reader kept every range of the file it had read (up to 32 MiB at a time) until the file was
    closed (apache/arrow#39808), so a long job grew by its input's size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from twinscore.cli import tables

    rng = np.random.default_rng(11)
    d, group, groups = 16, 10_000, 40
    cols = [f"x{j}" for j in range(d)]
    with pq.ParquetWriter(tmp_path / "prospects.parquet", pa.schema(
            [("contact_id", pa.int64())] + [(c, pa.float32()) for c in cols])) as w:
        for g in range(groups):
            X = rng.normal(size=(group, d)).astype(np.float32)
            w.write_table(pa.table({"contact_id": np.arange(g * group, (g + 1) * group),
                                    **{c: X[:, j] for j, c in enumerate(cols)}}))
    clients = pd.DataFrame(rng.normal(size=(100, d)).astype(np.float32), columns=cols)
    index = ts.TwinIndex(metric="sqeuclidean").fit(clients.assign(client_id=np.arange(100)), id="client_id",
                                                   population=clients)
    in_use = []
    update = tables._ChunkLog.update

    def record(self, n):
        update(self, n)
        in_use.append(pa.total_allocated_bytes() - before)

    monkeypatch.setattr(tables._ChunkLog, "update", record)
    job = write(tmp_path, TWINS_JOB.format(twins='result = "scores"').replace("700", str(group)))
    before = pa.total_allocated_bytes()
    run_job(job, models=model_file(tmp_path, index, "index.tsm"), progress=None)
    group_bytes = group * (8 + 4 * d)   # 0.7 MB; the file holds 40 (28.8 MB)
    assert len(in_use) == groups
    assert max(in_use) < 10 * group_bytes, f"Arrow memory in use after each chunk: {in_use}"


def test_rows_of_a_csv_are_counted_in_chunks(tmp_path):
    from twinscore.cli.kinds import _count_rows

    pd.DataFrame({"a": np.arange(2_345), "b": 1.0}).to_csv(tmp_path / "t.csv", index=False)
    assert _count_rows(tmp_path / "t.csv", "a") == 2_345


def test_twins_job_checks_against_the_index(tmp_path, market, index):
    attributes(market).drop(columns="region").to_parquet(tmp_path / "prospects.parquet")
    seam = model_file(tmp_path, index, "index.tsm")
    with pytest.raises(KeyError, match="no column 'region'"):
        run_job(write(tmp_path, TWINS_JOB.format(twins="")), models=seam)
    with pytest.raises(JobFileError, match="k = 1000 is larger than the index's 600 clients"):
        run_job(write(tmp_path, TWINS_JOB.format(twins="").replace("k = 5", "k = 1000")), models=seam)
    plain = ts.TwinIndex(metric="mixed").fit(market.clients[["client_id", "income", "sex"]], id="client_id")
    with pytest.raises(JobFileError, match="no reference"):
        run_job(write(tmp_path, TWINS_JOB.format(twins='result = "expand"\nn = 10')),
                models=model_file(tmp_path, plain, "index.tsm"))
    with pytest.raises(ValueError, match="exactly one of fraction and n"):
        load_job(write(tmp_path, TWINS_JOB.format(twins='result = "expand"')))
    assert not (tmp_path / "out.parquet").exists() and no_partial_files(tmp_path)


# -- contact_plan -------------------------------------------------------------------------------
PLAN_JOB = """
[job]
kind = "contact_plan"
[input]
path = "scores.parquet"
id = "contact_id"
[plan]
p = "score"
value = {value}
budget = 900.0
allowed = {{ email = "email_optin" }}
[[channel]]
name = "email"
cost = 0.1
uplift = 1.0
[[channel]]
name = "phone"
cost = 4.0
uplift = 3.0
capacity = 100
[output]
path = "plan.parquet"
[summary]
path = "plan_summary.csv"
"""


def test_contact_plan_job_equals_contact_plan(tmp_path, market):
    rng = np.random.default_rng(3)
    p = market.prospects
    scores = pd.DataFrame({"contact_id": p["contact_id"], "score": rng.beta(1, 20, len(p)),
                           "value": rng.gamma(2.0, 40.0, len(p)), "email_optin": p["email_optin"]})
    scores.to_parquet(tmp_path / "scores.parquet")
    run_job(write(tmp_path, PLAN_JOB.format(value='"value"')))
    channels = [ts.Channel("email", 0.1, 1.0), ts.Channel("phone", 4.0, 3.0, capacity=100)]
    ref = ts.contact_plan(scores["score"].to_numpy(), scores["value"].to_numpy(), channels, budget=900.0,
                          allowed={"email": scores["email_optin"].to_numpy()},
                          index=pd.Index(scores["contact_id"], name="contact_id"))
    out = pd.read_parquet(tmp_path / "plan.parquet")
    pd.testing.assert_frame_equal(out, ref.contacts.reset_index(), check_categorical=False)
    summary = pd.read_csv(tmp_path / "plan_summary.csv").set_index("channel")
    np.testing.assert_allclose(summary.to_numpy(dtype=float), ref.summary.to_numpy(dtype=float), rtol=1e-12)


def test_contact_plan_checks_its_channels_before_reading(tmp_path):
    (tmp_path / "scores.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="channel names must be unique"):
        load_job(write(tmp_path, PLAN_JOB.format(value="50.0").replace('"phone"', '"email"')))
    with pytest.raises(ValueError, match=r"allowed names channels \['sms'\]"):
        load_job(write(tmp_path, PLAN_JOB.format(value="50.0").replace("{ email =", "{ sms =")))
    with pytest.raises(TypeError, match="value .a column name or a number."):
        load_job(write(tmp_path, PLAN_JOB.format(value="true")))


PLAN_V2_JOB = """
[job]
kind = "contact_plan"
now = "2026-11-01"
[input]
path = "scores.parquet"
id = "contact_id"
[plan]
p = { email = "p_email", phone = "p_phone" }
value = { email = "value", phone = 120.0 }
budget = 900.0
allowed = { email = "email_optin" }
min_gap = "2D"
control = 0.2
seed = 17
[[channel]]
name = "email"
cost = 0.1
uplift = 1.0
[[channel]]
name = "phone"
cost = 4.0
capacity = 100
[[pressure]]
max_messages = 2
window = "14D"
[[pressure]]
max_messages = 1
window = "30D"
channel = "phone"
[history]
path = "history.csv"
date = "sent_at"
[output]
path = "plan.parquet"
"""


@pytest.fixture()
def plan_v2(tmp_path, market):
    rng = np.random.default_rng(5)
    p = market.prospects
    n = len(p)
    scores = pd.DataFrame({"contact_id": p["contact_id"], "p_email": rng.beta(1, 30, n),
                           "p_phone": rng.beta(2, 20, n), "value": rng.gamma(2.0, 40.0, n),
                           "email_optin": p["email_optin"]})
    scores.to_parquet(tmp_path / "scores.parquet")
    m = 4 * n
    history = pd.DataFrame({"contact_id": rng.choice(p["contact_id"].to_numpy(), m),
                            "channel": rng.choice(["email", "phone", "postal"], m),
                            "sent_at": pd.Timestamp("2026-11-01") - pd.to_timedelta(rng.integers(0, 60 * 24, m),
                                                                                     unit="h")})
    history.to_csv(tmp_path / "history.csv", index=False)
    return scores, history


def test_contact_plan_job_with_per_channel_columns_pressure_and_control_equals_contact_plan(tmp_path, plan_v2,
                                                                                              capsys):
    scores, history = plan_v2
    report = run_job(write(tmp_path, PLAN_V2_JOB))
    ref = ts.contact_plan(
        scores[["p_email", "p_phone"]].to_numpy(),
        np.column_stack([scores["value"].to_numpy(), np.full(len(scores), 120.0)]),
        [ts.Channel("email", 0.1, 1.0), ts.Channel("phone", 4.0, capacity=100)], budget=900.0,
        allowed={"email": scores["email_optin"].to_numpy()}, index=pd.Index(scores["contact_id"], name="contact_id"),
        history=history, now="2026-11-01", history_columns=("contact_id", "channel", "sent_at"),
        pressure=[ts.PressureRule(2, "14D"), ts.PressureRule(1, "30D", "phone")], min_gap="2D",
        control=0.2, seed=17)
    out = pd.read_parquet(tmp_path / "plan.parquet")
    pd.testing.assert_frame_equal(out, ref.contacts.reset_index(), check_categorical=False)
    assert (out["group"] == "control").sum() == ref.summary.loc["total", "control"] > 0
    assert report.notes["held_back"] == ref.held_back and min(ref.held_back.values()) > 0
    assert report.notes["control"] == ref.summary.loc["total", "control"]
    assert main(["run", str(write(tmp_path, PLAN_V2_JOB.replace('path = "plan.parquet"',
                                                               'path = "plan.parquet"\noverwrite = true')))]) == 0
    said = capsys.readouterr().out
    assert "held_back: 2 per 14 days: " in said and "1 per 30 days on phone: " in said and "gap of 2 days: " in said


def test_contact_plan_dry_run_checks_the_history_columns(tmp_path, plan_v2):
    lines = dry_run(write(tmp_path, PLAN_V2_JOB))
    assert "[history] history.csv: 3 columns present" in lines[0]
    with pytest.raises(KeyError, match="history.csv has no column 'sent'"):
        dry_run(write(tmp_path, PLAN_V2_JOB.replace('date = "sent_at"', 'date = "sent"')))


@pytest.mark.parametrize("change, message", [
    (('control = 0.2', 'control = 0.7'), r"\[plan\] control must be >= 0 and <= 0.5, got 0.7"),
    (('control = 0.2', 'control = "10%"'), r"\[plan\] control must be a finite number"),
    (('seed = 17', 'seed = -1'), r"\[plan\] seed must be between 0 and"),
    (('min_gap = "2D"', 'min_gap = "two days"'), r"\[plan\] min_gap must be a duration such as '7D'"),
    (('min_gap = "2D"', 'min_gap = 2'), r"\[plan\] min_gap must be a duration such as \"7D\""),
    (('window = "14D"', 'window = "-3D"'), r"\[pressure\] window must be > 0"),
    (('max_messages = 2', 'max_messages = 0'), r"\[pressure\] max_messages must be between 1 and"),
    (('max_messages = 2', 'max_message = 2'), r"unknown key 'max_message' in \[pressure\]"),
    (('channel = "phone"\n[history]', 'channel = "sms"\n[history]'),
     r"\[\[pressure\]\] channel 'sms' is not a \[\[channel\]\]"),
    (('phone = "p_phone"', 'sms = "p_phone"'), r"\[plan\] p per channel must name every \[\[channel\]\] once "
                                             r"\(missing \['phone'\]\)"),
    (('phone = 120.0', 'phone = -1.0'), r"\[plan\] value.phone \(a column name or a number\) must be >= 0"),
    (('p = { email', 'p = { email = 1, x'), r"\[plan\] p must map each channel to a probability column"),
    (('[history]\npath = "history.csv"\ndate = "sent_at"\n', ''), r"need a \[history\] of past messages"),
    (('now = "2026-11-01"\n', ''), r"need now, in \[plan\] or \[job\]"),
    (('path = "history.csv"', 'path = "nope.csv"'), r"\[history\] file not found"),
])
def test_contact_plan_bad_keys_are_refused_before_reading_with_exit_code_2(tmp_path, plan_v2, capsys, change,
                                                                         message):
    (tmp_path / "scores.parquet").write_bytes(b"not parquet: nothing may be read")
    job = write(tmp_path, PLAN_V2_JOB.replace(*change))
    with pytest.raises((ValueError, TypeError, FileNotFoundError), match=message):
        load_job(job)
    assert main(["run", str(job)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("twinscore run: ")


def test_contact_plan_history_without_rules_is_refused(tmp_path, plan_v2):
    job = PLAN_V2_JOB.replace('min_gap = "2D"\n', "").split("[[pressure]]")[0] + \
        '[history]\npath = "history.csv"\n[output]\npath = "plan.parquet"\n'
    with pytest.raises(ValueError, match=r"\[history\] is read only for \[\[pressure\]\] rules"):
        load_job(write(tmp_path, job))


# -- pipelines --------------------------------------------------------------------------------
PIPELINE = f"""
[job]
now = "{NOW}"
chunk_rows = 1000

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
name = "score"
kind = "logistic_score"
[step.input]
path = "features.parquet"
id = "contact_id"
[step.model]
path = "logit.tsm"
[step.output]
path = "scores.parquet"

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
result = "scores"
[step.output]
path = "twins.parquet"

[[step]]
name = "plan"
kind = "contact_plan"
[step.input]
path = "scores.parquet"
id = "contact_id"
[step.plan]
p = "score"
value = 60.0
budget = 500.0
[[step.channel]]
name = "email"
cost = 0.2
[[step.channel]]
name = "mail"
cost = 1.5
uplift = 2.0
[step.output]
path = "plan.parquet"
"""


@pytest.fixture
def pipeline_dir(tmp_path, market, index):
    market.events.to_parquet(tmp_path / "events.parquet")
    attributes(market).to_parquet(tmp_path / "prospects.parquet", row_group_size=1000)
    feats = ts.events.behaviour_features(ts.events.aggregate(market.events, now=NOW))
    converted = market.prospects.set_index("contact_id")["converted"].reindex(feats.index).fillna(0).astype(int)
    logit = ts.LogisticScorer().fit(feats, converted)
    seam = {**model_file(tmp_path, logit, "logit.tsm"), **model_file(tmp_path, index, "index.tsm")}
    return tmp_path, seam, feats, logit


def test_a_pipeline_feeds_each_step_the_previous_output(pipeline_dir, market, index):
    tmp_path, seam, feats, logit = pipeline_dir
    report = run_job(write(tmp_path, PIPELINE), models=seam, progress=False)
    assert [s.name for s in report.steps] == ["features", "score", "twins", "plan"]
    score = pd.read_parquet(tmp_path / "scores.parquet")
    np.testing.assert_array_equal(score["contact_id"], feats.index)
    np.testing.assert_array_equal(score["score"], logit.predict_proba(feats)[:, 1])
    twins = pd.read_parquet(tmp_path / "twins.parquet")
    ref = index.search(attributes(market), k=5, id="contact_id").scores()
    np.testing.assert_array_equal(twins["score"], ref["score"])
    plan = pd.read_parquet(tmp_path / "plan.parquet")
    ref = ts.contact_plan(score["score"].to_numpy(), np.full(len(score), 60.0),
                          [ts.Channel("email", 0.2), ts.Channel("mail", 1.5, 2.0)], budget=500.0)
    np.testing.assert_array_equal(plan["channel"].astype(str), ref.contacts["channel"].astype(str))
    assert "4 steps done" in str(report) and no_partial_files(tmp_path)


def test_a_failed_middle_step_keeps_the_earlier_outputs_and_writes_none_of_its_own(pipeline_dir, market, capsys,
                                                                                   monkeypatch):
    tmp_path, seam, feats, _ = pipeline_dir
    # A scorer fitted on a column the features step does not make: step 2 fails on its first chunk.
    other = feats.assign(extra=1.0)
    logit = ts.LogisticScorer().fit(other, np.arange(len(other)) % 2)
    seam[(tmp_path / "logit.tsm").resolve()] = logit
    with pytest.raises(KeyError, match="features.parquet has no column 'extra'"):
        run_job(write(tmp_path, PIPELINE), models=seam, progress=False)
    assert (tmp_path / "features.parquet").exists()          # step 1's output, published
    assert not (tmp_path / "scores.parquet").exists()        # step 2: none of its own
    assert not (tmp_path / "twins.parquet").exists() and not (tmp_path / "plan.parquet").exists()
    assert no_partial_files(tmp_path)
    # The same through the command: bad input data, exit 3; the rerun refuses the existing output (exit 2).
    (tmp_path / "features.parquet").unlink()
    from twinscore.cli import jobs
    real = jobs._load_model
    monkeypatch.setattr(jobs, "_load_model", lambda path, classes, where, models: real(path, classes, where, seam))
    assert main(["run", str(tmp_path / "job.toml"), "--no-progress"]) == 3
    assert "no column 'extra'" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "job.toml")]) == 2
    assert "features.parquet exists" in capsys.readouterr().err


def test_pipeline_file_errors_name_the_step(tmp_path, pipeline_dir):
    tmp_path, seam, _, _ = pipeline_dir
    bad = PIPELINE.replace('kind = "twins"', 'kind = "twin"')
    with pytest.raises(ValueError, match=r"step 3 \(twins\): \[job\] kind must be one of"):
        load_job(write(tmp_path, bad))
    with pytest.raises(ValueError, match=r"step 2 \(score\): unknown key 'idd' in \[input\]"):
        load_job(write(tmp_path, PIPELINE.replace('id = "contact_id"', 'idd = "contact_id"', 1)))
    with pytest.raises(FileNotFoundError, match=r"step 2 \(score\): \[input\] file not found"):
        load_job(write(tmp_path, PIPELINE.replace('path = "features.parquet"\nid', 'path = "feat.parquet"\nid')))
    twice = PIPELINE.replace('path = "twins.parquet"', 'path = "scores.parquet"')
    with pytest.raises(ValueError, match="step 3 .twins. writes scores.parquet, which step 2 writes"):
        load_job(write(tmp_path, twice))
    with pytest.raises(ValueError, match="unknown key 'kind' in a pipeline's \\[job\\]"):
        load_job(write(tmp_path, PIPELINE.replace("[job]\n", '[job]\nkind = "events"\n')))


# -- dry run, progress, exit codes ----------------------------------------------------------------
def test_dry_run_checks_every_step_and_computes_nothing(pipeline_dir, market, index):
    tmp_path, seam, _, _ = pipeline_dir
    lines = dry_run(write(tmp_path, PIPELINE), models=seam)
    assert len(lines) == 4 and all(": ok" in line for line in lines)
    assert "made by step 1 (features)" in lines[1] and "TwinIndex from index.tsm" in lines[2]
    assert not any((tmp_path / f).exists() for f in ("features.parquet", "scores.parquet", "plan.parquet"))
    attributes(market).drop(columns="age_band").to_parquet(tmp_path / "prospects.parquet")
    with pytest.raises(KeyError, match=r"step 3 \(twins\): \[input\] prospects.parquet has no column 'age_band'"):
        dry_run(tmp_path / "job.toml", models=seam)
    seam[(tmp_path / "index.tsm").resolve()] = ts.KMeans(n_clusters=2).fit(np.eye(3))
    with pytest.raises(JobFileError, match="holds a KMeans; this job needs a TwinIndex"):
        dry_run(tmp_path / "job.toml", models=seam)


def test_dry_run_command_exit_codes(tmp_path, market, capsys):
    market.transactions.to_csv(tmp_path / "tx.csv", index=False)
    text = """
[job]
kind = "rfm"
[input]
path = "tx.csv"
[rfm]
customer = "{customer}"
date = "date"
[output]
path = "rfm.parquet"
"""
    assert main(["run", "--dry-run", str(write(tmp_path, text.format(customer="client_id")))]) == 0
    out = capsys.readouterr().out
    assert "rfm: ok" in out and "nothing computed" in out and not (tmp_path / "rfm.parquet").exists()
    assert main(["run", "--dry-run", str(write(tmp_path, text.format(customer="client")))]) == 3
    assert "has no column 'client'" in capsys.readouterr().err
    assert main(["run", "--dry-run", str(write(tmp_path, text.format(customer="client_id") + "x = 1\n"))]) == 2
    (tmp_path / "tx.parquet").write_bytes(b"PAR1 not a parquet file")
    bad = write(tmp_path, text.format(customer="client_id").replace("tx.csv", "tx.parquet"))
    assert main(["run", "--dry-run", str(bad)]) == 4
    assert "tx.parquet cannot be read as Parquet" in capsys.readouterr().err
    assert main(["run", str(bad)]) == 4


def test_progress_log_lines_per_chunk_off_a_terminal(tmp_path, market, index, capsys):
    attributes(market).to_parquet(tmp_path / "prospects.parquet", row_group_size=1000)
    run_job(write(tmp_path, TWINS_JOB.format(twins="").replace("700", "1000")),
            models=model_file(tmp_path, index, "index.tsm"))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "twins: chunk 3, 3,000/3,000 (100 %) rows" in err[-1]
    assert "chunk 1, 1,000/3,000 (33 %) rows" in err[0]


def test_an_internal_error_exits_5_and_writes_nothing(tmp_path, market, monkeypatch, capsys):
    from twinscore.cli import kinds

    market.transactions.to_csv(tmp_path / "tx.csv", index=False)

    def broken(ctx):
        ctx.writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("a bug")

    monkeypatch.setitem(kinds.RUNNERS, "rfm", broken)
    job = write(tmp_path, """
[job]
kind = "rfm"
[input]
path = "tx.csv"
[rfm]
customer = "client_id"
date = "date"
[output]
path = "rfm.parquet"
""")
    assert main(["run", str(job)]) == 5
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: a bug)" in err and "Traceback" in err
    assert not (tmp_path / "rfm.parquet").exists() and no_partial_files(tmp_path)


def test_an_unreadable_model_file_exits_4(tmp_path, market, monkeypatch, capsys):
    import twinscore

    def load(path):
        raise ValueError(f"{path.name}: truncated (expected 4,096 bytes, found 12)")

    monkeypatch.setattr(twinscore, "load", load, raising=False)
    attributes(market).to_parquet(tmp_path / "prospects.parquet")
    (tmp_path / "index.tsm").write_bytes(b"truncated")
    job = write(tmp_path, TWINS_JOB.format(twins=""))
    with pytest.raises(ModelFileError, match="index.tsm cannot be read: index.tsm: truncated"):
        run_job(job)
    assert main(["run", str(job)]) == 4
    assert "truncated" in capsys.readouterr().err
