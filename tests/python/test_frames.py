"""The one way in (twinscore._frames): one date rule, ids, matrices, frames of every kind."""

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import twinscore as ts
from twinscore import _frames

NAT = np.iinfo(np.int64).min
REF = pd.to_datetime(["2024-01-31 12:00:00", "1999-12-31 23:59:59", "2024-06-30 00:00:01"])
REF_NS = REF.as_unit("ns").asi8


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime64_of_every_unit_counts_nanoseconds(unit):
    s = pd.Series(REF.as_unit(unit))
    np.testing.assert_array_equal(_frames.timestamps_ns(s, "d"), REF_NS)
    np.testing.assert_array_equal(_frames.timestamps_ns(s.to_numpy(), "d"), REF_NS)


def test_every_source_of_dates_gives_the_same_instants():
    utc = REF.tz_localize("UTC")
    paris = utc.tz_convert("Europe/Paris")
    sources = {
        "naive": pd.Series(REF),
        "tz-aware": pd.Series(paris),
        "arrow us": pa.array(REF.as_unit("us")),
        "arrow tz": pa.array(paris),
        "chunked": pa.chunked_array([pa.array(REF[:1]), pa.array(REF[1:])]),
        "pandas arrow dtype": pd.Series(pd.array(pa.array(REF.as_unit("ms")), dtype=pd.ArrowDtype(pa.timestamp("ms")))),
        "polars": pl.Series("d", list(REF.to_pydatetime())),
        "iso text": pd.Series(["2024-01-31T12:00:00", "1999-12-31 23:59:59", "2024-06-30T02:00:01+02:00"]),
        "object datetimes": pd.Series(list(REF.to_pydatetime()), dtype=object),
    }
    for label, values in sources.items():
        np.testing.assert_array_equal(_frames.timestamps_ns(values, "d"), REF_NS, err_msg=label)


def test_dates_without_a_time_are_midnight_utc():
    days = pd.to_datetime(["2024-01-31", "1970-01-01"]).as_unit("ns").asi8
    np.testing.assert_array_equal(_frames.timestamps_ns(pa.array([dt.date(2024, 1, 31), dt.date(1970, 1, 1)]), "d"),
                                  days)
    np.testing.assert_array_equal(_frames.timestamps_ns(pa.array([1706659200000, 0], pa.date64()), "d"), days)


def test_missing_dates_are_refused_with_their_row_or_kept():
    s = pd.Series(pd.to_datetime(["2024-01-01", None, None]))
    with pytest.raises(ValueError, match=r"'d' holds a missing date \(NaT\) at row 1 \(2 missing"):
        _frames.timestamps_ns(s, "d")
    kept = _frames.timestamps_ns(s, "d", missing="keep")
    assert kept[1] == NAT and kept[2] == NAT and kept[0] == pd.Timestamp("2024-01-01").value
    arrow = pa.array([None, REF[0]], pa.timestamp("us"))
    assert _frames.timestamps_ns(arrow, "d", missing="keep")[0] == NAT
    with pytest.raises(ValueError, match="row 0"):
        _frames.timestamps_ns(arrow, "d")


def test_dates_outside_the_nanosecond_range_are_refused_not_wrapped():
    end = pd.Series(pd.to_datetime(["2024-01-01", "9999-12-31"]).as_unit("us"))
    with pytest.raises(ValueError, match=r"9999-12-31.* at row 1, outside the dates"):
        _frames.timestamps_ns(end, "valid_to")
    with pytest.raises(ValueError, match="row 0, outside"):
        _frames.timestamps_ns(pa.array([dt.datetime(1500, 1, 1)], pa.timestamp("us")), "d")
    with pytest.raises(ValueError, match="outside"):
        _frames.timestamps_ns(pd.Series(["9999-12-31"]), "d")
    with pytest.raises(ValueError, match="outside"):
        _frames.timestamp("9999-12-31", "now")
    # The edges themselves are fine.
    edge = pd.Series([pd.Timestamp.max, pd.Timestamp.min]).astype("datetime64[ns]")
    np.testing.assert_array_equal(_frames.timestamps_ns(edge, "d"), edge.to_numpy().view(np.int64))


def test_numbers_and_garbage_are_not_dates():
    with pytest.raises(TypeError, match="numbers are not dates"):
        _frames.timestamps_ns(pd.Series([20240101, 20240102]), "d")
    with pytest.raises(TypeError, match="must hold dates"):
        _frames.timestamps_ns(pa.array([1.5]), "d")
    with pytest.raises(ValueError, match=r"row 1: 'soon'"):
        _frames.timestamps_ns(pd.Series(["2024-01-01", "soon"]), "d")
    with pytest.raises(TypeError, match="now must be a date, got the number"):
        _frames.timestamp(1_700_000_000, "now")
    with pytest.raises(ValueError, match="now is required"):
        _frames.timestamp(None, "now")
    with pytest.raises(ValueError, match="NaT"):
        _frames.timestamp(pd.NaT, "now")
    assert _frames.timestamp("2024-06-30T02:00:00+02:00", "now") == pd.Timestamp("2024-06-30")


def test_the_engines_share_the_date_rule():
    """events.aggregate, rfm, kpi and triggers read the same text and tz-aware dates alike."""
    events = pd.DataFrame({"contact_id": [1, 1, 2], "type": ["a", "b", "a"],
                           "timestamp": ["2024-03-01T10:00:00Z", "2024-03-02", "2024-03-03T00:00:00+01:00"]})
    as_dates = events.assign(timestamp=pd.to_datetime(events["timestamp"], format="ISO8601", utc=True))
    now = "2024-03-10"
    a = ts.events.aggregate(events, now=now, category=None)
    b = ts.events.aggregate(as_dates, now=pd.Timestamp(now, tz="UTC"), category=None)
    pd.testing.assert_frame_equal(a, b)
    tx = events.rename(columns={"contact_id": "client", "timestamp": "date"}).assign(amount=[1.0, 2.0, 3.0])
    pd.testing.assert_frame_equal(ts.rfm(tx, customer="client", date="date", amount="amount", now=now),
                                  ts.rfm(tx.assign(date=as_dates["timestamp"]), customer="client", date="date",
                                         amount="amount", now=now))
    with pytest.raises(ValueError, match="outside"):
        ts.events.aggregate(events.assign(timestamp=["2024-03-01", "9999-12-31", "2024-03-01"]), now=now,
                            category=None)


def test_ids():
    np.testing.assert_array_equal(_frames.contact_ids(pd.Series([3.0, 1.0, 2.0]), "id"), [3, 1, 2])
    assert _frames.contact_ids(pd.Series([3.0, 1.0]), "id").dtype == np.int64
    with pytest.raises(TypeError, match=r"float 1.5 at row 1"):
        _frames.contact_ids(pd.Series([1.0, 1.5]), "id")
    with pytest.raises(ValueError, match=r"2 missing ids \(the first at row 1\)"):
        _frames.client_codes(pd.Series([1.0, np.nan, 2.0, np.nan]), "CustomerID")
    with pytest.raises(ValueError, match="repeats ids"):
        _frames.contact_ids(pd.Series(["a", "b", "a"]), "id")
    with pytest.raises(TypeError, match="integers or strings"):
        _frames.contact_ids(pd.Series([True, False]), "id")
    codes, ids = _frames.client_codes(pd.Series([7.0, 5.0, 7.0]), "c")
    np.testing.assert_array_equal(codes, [0, 1, 0])
    assert list(ids) == [7, 5]
    np.testing.assert_array_equal(_frames.int64_ids(pd.Series([4, 5], dtype="Int64"), "c"), [4, 5])
    assert _frames.int64_ids(pd.Series(["x"]), "c") is None


def test_numeric_matrix():
    X = np.ones((3, 2), dtype=np.float32)
    assert _frames.numeric_matrix(X) is X
    Xd = np.ones((3, 2))
    assert _frames.numeric_matrix(Xd, dtype=(np.float32, np.float64)) is Xd
    assert _frames.numeric_matrix(np.ones((2, 2), dtype=int), dtype=(np.float32, np.float64)).dtype == np.float32
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    for frame in (df, pa.Table.from_pandas(df), pl.from_pandas(df)):
        got = _frames.numeric_matrix(frame, allow_nan=True)
        np.testing.assert_array_equal(got, np.array([[1, 0.5], [2, np.nan]], dtype=np.float32))
    with pytest.raises(TypeError, match="X must be numeric"):
        _frames.numeric_matrix(np.array([["a"]]))
    with pytest.raises(ValueError, match="Reshape your data"):
        _frames.numeric_matrix(np.ones(3))
    with pytest.raises(ValueError, match="0 sample"):
        _frames.numeric_matrix(np.ones((0, 3)))
    assert _frames.numeric_matrix(np.ones((0, 3)), min_rows=0).shape == (0, 3)
    with pytest.raises(ValueError, match="0 feature"):
        _frames.numeric_matrix(np.ones((3, 0)))
    with pytest.raises(ValueError, match="NaN at row 1, column 0"):
        _frames.numeric_matrix(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="infinite"):
        _frames.numeric_matrix(np.array([[np.inf]]), allow_nan=True)
    with pytest.raises(TypeError, match="'s'"):
        _frames.numeric_matrix(pd.DataFrame({"s": ["x"]}))
    with pytest.raises(ValueError, match="Complex"):
        _frames.numeric_matrix(np.ones((2, 2), dtype=complex))
    with pytest.raises(ValueError, match="2-D array"):
        _frames.numeric_matrix([[1, 2], [3]])
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 3"):
        _frames.numeric_matrix(X, n_features=3, model="KMeans")


def test_columns_by_name_from_every_kind_of_frame():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    for frame in (df, pa.Table.from_pandas(df, preserve_index=False), pl.from_pandas(df)):
        assert _frames.column_names(frame) == ["a", "b"]
        assert _frames.column(frame, "a", "amount").tolist() == [1.0, 2.0]
        with pytest.raises(KeyError, match=r"amount column 'z' is not in transactions"):
            _frames.column(frame, "z", "amount", "transactions")
        picked = _frames.select_columns(frame, ["b", "a"])
        assert _frames.column_names(picked) == ["b", "a"]
        with pytest.raises(KeyError, match=r"lacks the columns \['c'\]"):
            _frames.select_columns(frame, ["c", "a"])
    with pytest.raises(TypeError, match="transactions must be a DataFrame"):
        _frames.column({"a": [1]}, "a", "amount", "transactions")


def test_finite_values_beyond_float32_are_named_not_called_infinite():
    X = np.array([[1e300, 1.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r"X holds 1e\+300 at row 0, column 0: beyond the float32 range"):
        _frames.numeric_matrix(X)
    with pytest.raises(ValueError, match="beyond the float32 range"):
        ts.KMeans(n_clusters=1).fit(X)
    assert _frames.numeric_matrix(X, dtype=(np.float32, np.float64)) is X  # kept in float64: fine
    with pytest.raises(ValueError, match="infinite value at row 1"):
        _frames.numeric_matrix(np.array([[1.0], [np.inf]]))


def test_tables_standardise_huge_finite_values():
    """Moments of values whose squares overflow stay finite: the encoded matrix too."""
    X = np.array([[1e300, 1.0], [2.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    t = ts.ContactTable.from_numpy(X)
    s = t.summary("x0")
    ref_std = 1e300 * np.std(X[:, 0] / 1e300)
    assert s["mean"] == pytest.approx(2.5e299) and s["std"] == pytest.approx(ref_std, rel=1e-12)
    enc = t.encode().X
    assert np.isfinite(enc).all()
    np.testing.assert_allclose(enc[:, 0], (X[:, 0] - 2.5e299) / ref_std, rtol=1e-6)
    y = np.array([0, 1, 0, 1])
    assert np.isfinite(ts.LogisticScorer().fit(X, y).predict_proba(X)).all()
