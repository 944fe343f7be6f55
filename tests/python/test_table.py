"""Contact tables: round trips, schema reuse, zero-copy, encoding, bad input."""

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import twinscore as ts
from twinscore import _core


def small_df():
    return pd.DataFrame({
        "contact_id": [101, 102, 103, 104, 105],
        "age": [25.0, np.nan, 41.0, 33.0, 58.0],
        "visits": np.array([3, 0, 7, 1, 2], dtype=np.int64),
        "region": ["north", "south", None, "north", "east"],
        "band": pd.Categorical(["18-24", "65+", "25-34", "18-24", "65+"], categories=["18-24", "25-34", "65+"],
                               ordered=True),
        "cats": [["books", "music"], [], None, ["wine"], ["books", "wine", "music"]],
        "signup": pd.to_datetime(["2026-01-01", "2026-02-03", None, "2026-03-04", "2026-05-06"]),
    })


# -- round trips --------------------------------------------------------------

def test_roles_inferred_and_values_kept():
    t = ts.ContactTable.from_pandas(small_df(), id="contact_id")
    assert t.roles == {"age": "numeric", "visits": "numeric", "region": "categorical", "band": "categorical",
                       "cats": "category_set", "signup": "timestamp"}
    assert len(t) == 5
    np.testing.assert_array_equal(t.ids, [101, 102, 103, 104, 105])
    assert t.schema["region"].categories == ("east", "north", "south")  # learnt strings: sorted
    assert t.schema["band"].categories == ("18-24", "25-34", "65+")     # declared order kept
    np.testing.assert_array_equal(t.codes("region"), [1, 2, -1, 1, 0])
    np.testing.assert_array_equal(t.codes("band"), [0, 2, 1, 0, 2])
    assert t.schema["cats"].categories == ("books", "music", "wine")
    np.testing.assert_array_equal(t.bitsets("cats")[:, 0], [0b011, 0, 0, 0b100, 0b111])
    np.testing.assert_array_equal(t.set_missing("cats"), [False, False, True, False, False])
    assert t.summary("age")["missing"] == 1
    assert t.timestamps("signup")[2] == np.iinfo(np.int64).min


def test_pandas_round_trip():
    df = small_df()
    back = ts.ContactTable.from_pandas(df, id="contact_id").to_pandas()
    assert list(back.columns) == list(df.columns)
    np.testing.assert_array_equal(back["contact_id"], df["contact_id"])
    np.testing.assert_array_equal(back["age"], df["age"])
    np.testing.assert_array_equal(back["visits"], df["visits"].astype(float))
    assert back["region"].isna().tolist() == df["region"].isna().tolist()
    assert back["region"].dropna().tolist() == df["region"].dropna().tolist()
    assert back["band"].tolist() == df["band"].tolist()
    lists = back["cats"].tolist()
    assert [None if v is None or v is pd.NA else sorted(v) for v in lists] == [
        ["books", "music"], [], None, ["wine"], ["books", "music", "wine"]]
    pd.testing.assert_series_equal(back["signup"], df["signup"].astype("datetime64[ns]"))


def test_arrow_and_parquet_round_trip(tmp_path):
    df = small_df()
    table = pa.Table.from_pandas(df, preserve_index=False)
    t_arrow = ts.ContactTable.from_arrow(table, id="contact_id")
    t_pandas = ts.ContactTable.from_pandas(df, id="contact_id")
    path = tmp_path / "contacts.parquet"
    pq.write_table(table, path)
    t_parquet = ts.ContactTable.read_parquet(path, id="contact_id")
    for t in (t_arrow, t_parquet):
        assert t.roles == t_pandas.roles
        for name in ("region", "band"):
            np.testing.assert_array_equal(t.codes(name), t_pandas.codes(name))
        np.testing.assert_array_equal(t.bitsets("cats"), t_pandas.bitsets("cats"))
        np.testing.assert_array_equal(t.numeric("age"), t_pandas.numeric("age"))
        np.testing.assert_array_equal(t.timestamps("signup"), t_pandas.timestamps("signup"))


def test_arrow_float_column_is_not_copied():
    x = np.arange(1000, dtype=np.float64)
    table = pa.table({"x": x, "name": pa.array(["a"] * 1000)})
    t = ts.ContactTable.from_arrow(table)
    assert np.shares_memory(t.numeric("x"), x) or t.numeric("x").ctypes.data == table.column("x").chunk(0).buffers()[1].address


def test_numpy_round_trip_and_dictionary_pickle():
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    t = ts.ContactTable.from_numpy(X, columns=["a", "b", "c"], ids=["u", "v", "w", "x"])
    np.testing.assert_array_equal(t.to_pandas()[["a", "b", "c"]].to_numpy(), X)
    d = ts.ContactTable.from_pandas(small_df()).schema.dictionary("region")
    assert pickle.loads(pickle.dumps(d)).values() == d.values()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=60))
def test_any_strings_encode_like_pandas(values):
    s = pd.Series(values, dtype=object)
    t = ts.ContactTable.from_arrays({"s": s}, roles={"s": "categorical"})
    cats = t.schema["s"].categories
    decoded = [None if c < 0 else cats[c] for c in t.codes("s")]
    assert decoded == values
    assert list(cats) == sorted(set(v for v in values if v is not None), key=lambda v: v.encode())


# -- schema reuse ---------------------------------------------------------------

def test_schema_reuse_with_unseen_categories():
    train = ts.ContactTable.from_pandas(small_df(), id="contact_id")
    new = pd.DataFrame({
        "contact_id": [1, 2, 3],
        "age": [30.0, 20.0, 50.0],
        "visits": [1, 2, 3],
        "region": ["north", "atlantis", "atlantis"],
        "band": pd.Categorical(["25-34", "35-44", "18-24"]),
        "cats": [["books", "pottery"], ["wine"], []],
        "signup": pd.to_datetime(["2026-06-01"] * 3),
        "extra": ["ignored"] * 3,
    })
    t = train.schema.apply(new)
    other_region = len(train.schema["region"].categories)
    np.testing.assert_array_equal(t.codes("region"), [1, other_region, other_region])
    np.testing.assert_array_equal(t.codes("band"), [1, 3, 0])
    assert t.unseen == {"region": 2, "band": 1, "cats": 1}
    other_bit = 1 << len(train.schema["cats"].categories)
    np.testing.assert_array_equal(t.bitsets("cats")[:, 0], [0b001 | other_bit, 0b100, 0])
    assert "extra" not in t.column_names
    back = t.to_pandas()
    assert back["region"].tolist() == ["north", "(other)", "(other)"]


def test_schema_save_load_and_apply(tmp_path):
    schema = ts.ContactTable.from_pandas(small_df(), id="contact_id").schema
    path = tmp_path / "schema.json"
    schema.save(path)
    loaded = ts.Schema.load(path)
    assert loaded == schema
    a = schema.apply(small_df()).encode()
    b = loaded.apply(small_df()).encode()
    np.testing.assert_array_equal(a.X, b.X)
    assert a.feature_names == b.feature_names
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON schema"):
        ts.Schema.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="not a twinscore schema"):
        ts.Schema.from_dict({"columns": []})


def test_schema_apply_with_other_id_and_select(prm):
    clients = ts.ContactTable.from_pandas(prm.clients, id="client_id")
    sub = clients.schema.select(["sex", "age_band", "region", "categories"])
    prospects = sub.apply(prm.prospects, id="contact_id")
    assert prospects.schema.id == "contact_id"
    assert prospects.column_names == ["sex", "age_band", "region", "categories"]
    np.testing.assert_array_equal(prospects.ids, prm.prospects["contact_id"])
    with pytest.raises(KeyError, match="revenue"):
        clients.schema.apply(prm.prospects, id="contact_id")


def test_category_sets_beyond_a_thousand_categories(rng):
    names = [f"c{i:04d}" for i in range(1200)]
    m = (rng.random((300, 1200)) < 0.01).astype(np.uint8)
    t = ts.ContactTable.from_arrays({"cats": m}, vocabularies={"cats": names})
    bits = t.bitsets("cats")
    assert bits.shape == (300, (1200 + 1 + 63) // 64)
    flags = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, :1200]
    np.testing.assert_array_equal(flags, m)
    # The same sets given as lists of names give the same bitsets.
    rows, cols = np.nonzero(m)
    lists = pd.Series([list(np.array(names)[cols[rows == i]]) for i in range(300)])
    t2 = t.schema.apply({"cats": lists}, id=None)
    np.testing.assert_array_equal(t2.bitsets("cats"), bits)
    # A matrix with its columns in another order maps onto the schema's codes;
    # a column the schema never saw sets the "other" bit.
    perm = rng.permutation(1200)
    shuffled = [names[j] for j in perm]
    shuffled[perm.tolist().index(5)] = "never-seen"
    t3 = t.schema.apply({"cats": m[:, perm]}, id=None, vocabularies={"cats": shuffled})
    expected = m.copy()
    expected[:, 5] = 0
    flags3 = np.unpackbits(t3.bitsets("cats").view(np.uint8), axis=1, bitorder="little")
    np.testing.assert_array_equal(flags3[:, :1200], expected)
    np.testing.assert_array_equal(flags3[:, 1200], m[:, 5])
    assert t3.unseen == {"cats": int(m[:, 5].sum())}


# -- zero copy --------------------------------------------------------------------

def test_float32_matrix_reaches_the_core_without_copy(rng):
    X = rng.random((1000, 16), dtype=np.float32)
    t = ts.ContactTable.from_numpy(X)
    M = t.numeric_matrix()
    assert M is X
    assert _core.buffer_address(M) == X.ctypes.data
    assert np.shares_memory(t.numeric("x3"), X)
    # Other layouts are converted once, into a fresh C-contiguous float32 matrix.
    F = np.asfortranarray(X)
    tf = ts.ContactTable.from_numpy(F)
    Mf = tf.numeric_matrix()
    assert Mf.flags.c_contiguous and Mf.dtype == np.float32 and not np.shares_memory(Mf, F)
    np.testing.assert_array_equal(Mf, X)
    with pytest.raises(TypeError):
        _core.buffer_address(F)  # noconvert: a foreign layout is refused, not silently copied


# -- encoding ---------------------------------------------------------------------

def test_encode_matches_sklearn_column_transformer(prm):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = prm.clients[["client_id", "income", "n_orders", "revenue", "sex", "age_band", "region", "channel"]]
    t = ts.ContactTable.from_pandas(df, id="client_id")
    enc = t.encode()
    num = ["income", "n_orders", "revenue"]
    cat = ["sex", "age_band", "region", "channel"]
    ct = ColumnTransformer([
        ("num", make_pipeline(StandardScaler(), SimpleImputer(strategy="constant", fill_value=0.0)), num),
        ("cat", OneHotEncoder(categories=[list(t.schema[c].categories) for c in cat], handle_unknown="ignore",
                              sparse_output=False), cat),
    ])
    ref = ct.fit_transform(df)
    np.testing.assert_allclose(enc.X, ref, rtol=1e-5, atol=1e-5)
    assert enc.feature_names[:3] == num
    assert enc.feature_names[3] == "sex=F"


def test_encode_new_data_uses_fit_statistics_and_clip():
    train = ts.ContactTable.from_arrays({"x": np.array([0.0, 2.0, 4.0]), "c": ["a", "b", "a"]})
    new = train.schema.apply({"x": np.array([2.0, 100.0, np.nan]), "c": ["b", "zzz", None]}, id=None)
    enc = new.encode(clip={"x": (0.0, 4.0)})
    std = np.std([0.0, 2.0, 4.0])
    np.testing.assert_allclose(enc.X[:, 0], [0.0, 2.0 / std, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(enc.X[:, 1:], [[0, 1], [0, 0], [0, 0]])
    assert enc.feature_names == ["x", "c=a", "c=b"]


def test_fill_rates_match_pandas(prm):
    t = ts.ContactTable.from_pandas(prm.prospects, id="contact_id")
    rates = t.fill_rates()
    expected = prm.prospects.drop(columns="contact_id").notna().mean()
    pd.testing.assert_series_equal(rates, expected.rename("fill_rate"), check_exact=False)


def test_identical_results_for_one_and_two_threads(prm, restore_threads):
    outs = []
    for n in (1, 2):
        with ts.threads(n):
            t = ts.ContactTable.from_pandas(prm.prospects, id="contact_id")
            outs.append((t.encode().X, t.codes("region"), t.bitsets("categories"), t.summary("income")))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_array_equal(outs[0][2], outs[1][2])
    assert outs[0][3] == outs[1][3]


# -- bad input --------------------------------------------------------------------

def test_wrong_dtype_is_a_type_error_naming_the_column():
    with pytest.raises(TypeError, match="'region'"):
        ts.ContactTable.from_pandas(small_df(), roles={"region": "numeric"})
    with pytest.raises(TypeError, match="'age'"):
        ts.ContactTable.from_pandas(small_df(), roles={"age": "timestamp"})
    with pytest.raises(TypeError, match="'mixed'"):
        ts.ContactTable.from_arrays({"mixed": pd.Series([1, "a", 2.5], dtype=object)})
    with pytest.raises(TypeError, match="X must be numeric"):
        ts.ContactTable.from_numpy(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="DataFrame"):
        ts.ContactTable.from_pandas({"a": [1]})
    with pytest.raises(TypeError, match="'z'"):
        ts.ContactTable.from_arrays({"z": np.array([1 + 2j, 3j])})


def test_ragged_and_empty_input_is_a_value_error():
    with pytest.raises(ValueError, match="ragged"):
        ts.ContactTable.from_arrays({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError):
        ts.ContactTable.from_numpy([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="empty"):
        ts.ContactTable.from_pandas(small_df().iloc[:0])
    with pytest.raises(ValueError, match="2-D"):
        ts.ContactTable.from_numpy(np.zeros(5))
    with pytest.raises(ValueError, match="no feature column"):
        ts.ContactTable.from_pandas(small_df()[["contact_id"]], id="contact_id")


def test_unknown_column_names_are_key_errors():
    with pytest.raises(KeyError, match="'nope'"):
        ts.ContactTable.from_pandas(small_df(), id="nope")
    with pytest.raises(KeyError, match="'ghost'"):
        ts.ContactTable.from_pandas(small_df(), roles={"ghost": "numeric"})
    t = ts.ContactTable.from_pandas(small_df())
    with pytest.raises(KeyError, match="'ghost'"):
        t.numeric("ghost")
    with pytest.raises(KeyError, match="age"):
        t.schema.apply(small_df().drop(columns="age"))


def test_infinities_are_value_errors_naming_the_column():
    df = small_df()
    df.loc[3, "age"] = np.inf
    with pytest.raises(ValueError, match="'age'.*row 3"):
        ts.ContactTable.from_pandas(df)
    with pytest.raises(ValueError, match="'x1'"):
        ts.ContactTable.from_numpy(np.array([[0.0, -np.inf]], dtype=np.float32))


def test_bad_ids_and_roles():
    df = small_df()
    df.loc[2, "contact_id"] = 101
    with pytest.raises(ValueError, match="repeats ids"):
        ts.ContactTable.from_pandas(df, id="contact_id")
    with pytest.raises(ValueError, match="role"):
        ts.ContactTable.from_pandas(small_df(), roles={"age": "fancy"})
    with pytest.raises(ValueError, match="1 missing ids"):
        ts.ContactTable.from_arrays({"id": ["a", None], "x": [1.0, 2.0]}, id="id")
    t = ts.ContactTable.from_pandas(small_df())
    with pytest.raises(TypeError, match="is numeric"):
        t.codes("age")


def test_corrupt_buffers_never_crash():
    with pytest.raises(ValueError, match="offsets"):
        _core.Dictionary.learn("c", np.array([0, 5, 2], dtype=np.int64), np.zeros(5, np.uint8),
                               np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="past the data"):
        _core.Dictionary.learn("c", np.array([0, 50], dtype=np.int64), np.zeros(5, np.uint8),
                               np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="validity"):
        _core.Dictionary.learn("c", np.array([0, 1], dtype=np.int64), np.zeros(5, np.uint8),
                               np.zeros(3, np.uint8))


def test_nullable_timezones_dates_and_chunks():
    df = pd.DataFrame({
        "id": ["a", "b", "c"],
        "n": pd.array([1, None, 3], dtype="Int64"),
        "flag": pd.array([True, None, False], dtype="boolean"),
        "tz": pd.to_datetime(["2026-01-01 01:00", "2026-01-02 01:00", None]).tz_localize("Europe/Paris"),
    })
    t = ts.ContactTable.from_pandas(df, id="id")
    np.testing.assert_array_equal(t.numeric("n"), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(t.numeric("flag"), [1.0, np.nan, 0.0])
    utc = pd.Timestamp("2026-01-01 00:00").value
    assert t.timestamps("tz")[0] == utc  # kept as UTC
    table = pa.table({
        "d": pa.array([pd.Timestamp("2026-01-01").date(), None, pd.Timestamp("2026-03-01").date()]),
        "x": pa.chunked_array([[1.0, 2.0], [3.0]]),
        "s": pa.chunked_array([["a"], ["b", None]]),
        "tz": pa.array([pd.Timestamp("2026-01-01 01:00", tz="Europe/Paris")] * 3),
    })
    t2 = ts.ContactTable.from_arrow(table)
    np.testing.assert_array_equal(t2.timestamps("d"), [utc, np.iinfo(np.int64).min, pd.Timestamp("2026-03-01").value])
    np.testing.assert_array_equal(t2.numeric("x"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(t2.codes("s"), [0, 1, -1])
    assert (t2.timestamps("tz") == utc).all()


def _expected_feature(df: pd.DataFrame, name: str, schema) -> np.ndarray:
    """What the encoded column called `name` must hold, computed from the frame alone."""
    if "=" in name:
        col, value = name.split("=", 1)
        return (df[col].astype("string") == value).fillna(False).to_numpy(np.float32)
    if ":" in name:
        col, value = name.split(":", 1)
        return np.array([value in v if isinstance(v, list) else False for v in df[col]], dtype=np.float32)
    spec = schema[name]
    x = df[name].to_numpy(np.float64, na_value=np.nan)
    z = (x - spec.mean) / (spec.std if spec.std else 1.0)
    return np.nan_to_num(z, nan=0.0).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.permutations(["n1", "c1", "n2", "s1", "c2", "n3"]), st.integers(0, 2**31 - 1))
def test_encoded_feature_names_name_their_columns_whatever_the_column_order(order, seed):
    """Every name of Encoded.feature_names names the column of X it labels (a
    numeric column after a categorical one used to shift every later name)."""
    rng = np.random.default_rng(seed)
    n = 40
    cols = {
        "n1": rng.normal(size=n), "n2": np.where(rng.random(n) < 0.2, np.nan, rng.normal(5, 2, n)),
        "n3": rng.integers(0, 3, n),
        "c1": rng.choice(["x", "y", "z"], n), "c2": pd.Categorical(rng.choice(["lo", "hi", None], n)),
        "s1": [list(rng.choice(["a", "b", "c"], rng.integers(0, 3), replace=False)) for _ in range(n)],
    }
    df = pd.DataFrame({c: cols[c] for c in order})
    table = ts.ContactTable.from_pandas(df)
    enc = table.encode()
    assert len(enc.feature_names) == enc.X.shape[1] == len(set(enc.feature_names))
    for j, name in enumerate(enc.feature_names):
        np.testing.assert_allclose(enc.X[:, j], _expected_feature(df, name, table.schema), rtol=1e-5, atol=1e-6,
                                   err_msg=f"column {j} named {name!r}, columns {order}")


def test_encoded_names_of_the_issue_example():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "z"], "b": [4.0, 5.0, 7.0]})
    enc = ts.ContactTable.from_pandas(df).encode(standardize=False)
    assert enc.feature_names == ["a", "b", "c=x", "c=y", "c=z"]
    np.testing.assert_array_equal(enc.X[:, 1], [4, 5, 7])


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.update(categories="abc"), "'categories' must be a list of strings"),
    (lambda c: c.update(categories=["a", "a"]), "lists a category twice"),
    (lambda c: c.pop("categories"), "needs its 'categories'"),
])
def test_schema_files_are_not_trusted_categories(edit, match):
    d = ts.ContactTable.from_pandas(small_df()).schema.to_dict()
    cat = next(c for c in d["columns"] if c["role"] == "categorical")
    edit(cat)
    with pytest.raises(ValueError, match=match):
        ts.Schema.from_dict(d)


@pytest.mark.parametrize("stat, value, match", [
    ("std", 1e-320, "inverse is finite"), ("std", -1.0, "'std' must be 0 or a positive"),
    ("mean", float("nan"), "'mean' must be a finite number"), ("max", "7", "'max' must be a finite number"),
    ("min", 1e300, "'min' .* is above 'max'"),
])
def test_schema_files_are_not_trusted_statistics(stat, value, match):
    d = ts.ContactTable.from_pandas(small_df()).schema.to_dict()
    num = next(c for c in d["columns"] if c["role"] == "numeric")
    num[stat] = value
    with pytest.raises(ValueError, match=match):
        ts.Schema.from_dict(d)


def test_from_polars_reads_by_name_and_refuses_other_frames():
    import polars as pl

    df = small_df()
    t = ts.ContactTable.from_polars(pl.from_pandas(df), id="contact_id")
    ref = ts.ContactTable.from_pandas(df, id="contact_id")
    assert t.schema.names == ref.schema.names
    np.testing.assert_allclose(t.encode().X, ref.encode().X)
    with pytest.raises(TypeError, match="df must be a polars DataFrame, got DataFrame"):
        ts.ContactTable.from_polars(df)
