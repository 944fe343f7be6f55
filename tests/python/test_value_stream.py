"""The calibration summary streamed over chunks of a log: the one-shot result, checked against pandas."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import twinscore as ts

CAL, OBS = "2024-06-30", "2024-12-31"


def _log(seed: int = 0, n: int = 20_000, clients: int = 2_000) -> pd.DataFrame:
    """Purchases at random times of day: several a day for some clients (ties), a few clients only after CAL."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    secs = rng.integers(0, 730 * 86_400, size=n)
    return pd.DataFrame({
        "client": rng.integers(0, clients, size=n) * 7 + 100,  # sparse integer ids
        "date": (start + secs.astype("timedelta64[s]")).astype("datetime64[ns]"),
        "amount": rng.integers(0, 20_000, size=n) / 100.0,
    })


def _pandas_summary(log: pd.DataFrame, cal, obs, period: float = 7.0) -> pd.DataFrame:
    """The summary written with pandas group-bys: an independent reference."""
    cal, obs = pd.Timestamp(cal), pd.Timestamp(obs)
    daily = (log.assign(day=log["date"].dt.floor("D")).groupby(["client", "day"], as_index=False)["amount"].sum())
    inside = daily[daily["day"] <= cal]
    g = inside.groupby("client")
    first, last, days, total = g["day"].min(), g["day"].max(), g.size(), g["amount"].sum()
    first_spend = inside.merge(first.rename("first").reset_index(), on="client").query("day == first") \
        .set_index("client")["amount"]
    x = (days - 1).astype(float)
    out = pd.DataFrame({
        "frequency": x,
        "recency": np.where(x > 0, (last - first).dt.days / period, 0.0),
        "T": (cal - first).dt.days / period,
        "monetary_value": np.where(x > 0, (total - first_spend.reindex(total.index)) / x.where(x > 0, 1), 0.0),
    })
    hold = daily[(daily["day"] > cal) & (daily["day"] <= obs)].groupby("client").size()
    out["holdout_frequency"] = hold.reindex(out.index, fill_value=0).astype(float)
    return out


def _summary(source, **kw):
    kw = {"customer": "client", "date": "date", "amount": "amount", "calibration_end": CAL,
          "observation_end": OBS} | kw
    return ts.calibration_summary(source, **kw)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.sort_index(), b.sort_index()
    assert list(a.index) == list(b.index)
    for c in ("frequency", "recency", "T", "holdout_frequency"):
        np.testing.assert_array_equal(a[c].to_numpy(), b[c].to_numpy(), err_msg=c)
    np.testing.assert_allclose(a["monetary_value"].to_numpy(), b["monetary_value"].to_numpy(), rtol=1e-12)


def test_one_shot_equals_pandas():
    log = _log()
    _same(_summary(log), _pandas_summary(log, CAL, OBS))


def _split(log: pd.DataFrame, seed: int) -> list[pd.DataFrame]:
    """Uneven chunks of a shuffled log, in shuffled order: clients and their days split between chunks."""
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(log))
    cuts = np.sort(rng.choice(np.arange(1, len(log)), size=9, replace=False))
    return [log.iloc[part] for part in np.split(rows, cuts)]


def test_chunks_in_any_order_give_the_one_shot_summary():
    log = _log(1)
    # A client whose one day is spread over three chunks, with its first day in the last chunk.
    tie = pd.DataFrame({"client": [5, 5, 5, 5], "amount": [1.0, 2.0, 4.0, 8.0],
                        "date": pd.to_datetime(["2024-03-01 09:00", "2024-03-01 18:00", "2024-03-01 23:59",
                                                "2024-02-01 00:00"])})
    chunks = _split(log, 2)
    chunks = chunks[:3] + [tie.iloc[[0]]] + chunks[3:6] + [tie.iloc[[1, 2]]] + chunks[6:] + [tie.iloc[[3]]]
    log = pd.concat([log, tie], ignore_index=True)
    whole = _summary(log)
    streamed = _summary(iter(chunks))
    _same(streamed, whole)
    _same(streamed, _pandas_summary(log, CAL, OBS))
    assert streamed.loc[5, "frequency"] == 1  # one repeat day whatever chunks it came in
    assert streamed.loc[5, "monetary_value"] == 1.0 + 2.0 + 4.0  # the 2024-03-01 day, all of it
    # In the log's own order, the rows come out in the one-shot's order too.
    in_order = _summary([log.iloc[i:i + 3_000] for i in range(0, len(log), 3_000)])
    assert list(in_order.index) == list(whole.index)


def test_arrow_batches_and_parquet_stream(tmp_path):
    log = _log(3)
    whole = _summary(log)
    batches = pa.Table.from_pandas(log, preserve_index=False).to_batches(max_chunksize=1_500)
    _same(_summary(batches), whole)
    pq.write_table(pa.Table.from_pandas(log, preserve_index=False), tmp_path / "log.parquet", row_group_size=2_000)
    _same(_summary(tmp_path / "log.parquet", batch_rows=1_000), whole)
    _same(_summary(str(tmp_path)), whole)  # a directory of Parquet files


def test_stream_without_amounts_and_as_of():
    log = _log(4)
    cut = pd.Timestamp("2024-09-30")
    s = _summary(_split(log, 5), amount=None, observation_end=None, as_of=cut)
    one = _summary(log, amount=None, observation_end=None, as_of=cut)
    assert "monetary_value" not in s.columns
    assert s.attrs["later_transactions"] == one.attrs["later_transactions"] == int((log["date"] > cut).sum())
    ref = _pandas_summary(log[log["date"] <= cut], CAL, cut)
    for c in ("frequency", "recency", "T", "holdout_frequency"):
        np.testing.assert_array_equal(s.sort_index()[c], ref.sort_index()[c])


def test_string_ids_and_default_observation_end():
    log = _log(6)
    log["client"] = "c" + log["client"].astype(str)
    s = _summary(_split(log, 7), observation_end=None)
    one = _summary(log, observation_end=None)
    assert "holdout_frequency" not in s.columns
    pd.testing.assert_frame_equal(s.sort_index(), one.sort_index(), rtol=1e-12)


def test_bad_chunks_are_named():
    log = _log(8, n=500)
    with pytest.raises(KeyError, match="amount column 'amount' is not in transactions \\(chunk 1\\)"):
        _summary([log, log.drop(columns="amount")])
    aware = log.assign(date=log["date"].dt.tz_localize("Europe/Paris"))
    with pytest.raises(TypeError, match="time-zone-aware dates .* in chunk 1 but naive"):
        _summary([log, aware])
    with pytest.raises(TypeError, match="text dates"):
        _summary([log, log.assign(date=log["date"].astype(str))])
    with pytest.raises(TypeError, match="text ids in a chunk but integer ids"):
        _summary([log, log.assign(client=log["client"].astype(str))])
    with pytest.raises(ValueError, match="chunk 1.*amount at row 3 must be finite and >= 0"):
        _summary([log, log.assign(amount=np.where(np.arange(len(log)) == 3, -1.0, log["amount"]))])
    old = log.assign(date=log["date"].where(np.arange(len(log)) != 2, pd.Timestamp("1870-01-01")))
    with pytest.raises(ValueError, match="more than 36600.*out of range"):
        _summary([log, old])
    with pytest.raises(ValueError, match="chunk 0.*after the observation end"):
        _summary([log], observation_end="2024-07-01")
    with pytest.raises(TypeError, match="chunk 1 must be a DataFrame"):
        _summary([log, log.to_numpy()])
    with pytest.raises(TypeError, match="an iterable of those"):
        _summary(42)
    with pytest.raises(ValueError, match="transactions is empty"):
        _summary([])
    with pytest.raises(ValueError, match="no Parquet file"):
        _summary("/nonexistent/log.parquet")
