import numpy as np
import pandas as pd
import pytest

import twinscore as ts


def test_profiles_by_hand():
    df = pd.DataFrame({"income": [10.0, 20, 30, 40], "sex": pd.Categorical(["F", "F", "M", "M"])})
    prof = ts.segment_profiles(df, [0, 0, 1, 1], conversion=[1, 0, 0, 0], value=[5.0, 5, 0, 10],
                               min_index=150, min_share=0.5)
    assert list(prof["size"]) == [2, 2]
    assert prof.loc[0, "share"] == 0.5
    assert prof.loc[0, "income index"] == pytest.approx(100 * 15 / 25)
    assert prof.loc[1, "income index"] == pytest.approx(100 * 35 / 25)
    assert prof.loc[0, "conversion"] == 0.5
    assert prof.loc[0, "conversion index"] == pytest.approx(200)
    assert prof.loc[1, "value share"] == pytest.approx(0.5)
    assert prof.loc[0, "over-represented"] == "sex=F (200)"
    assert prof.loc[1, "over-represented"] == "sex=M (200)"


def test_profiles_of_kmeans_segments(prm):
    p = prm.prospects
    X = ts.ContactTable.from_pandas(p[["income", "age_band", "sex"]]).encode().X
    km = ts.KMeans(n_clusters=4, random_state=0).fit(X)
    prof = ts.segment_profiles(p[["income", "age_band", "sex", "region"]], km.labels_, conversion=p["converted"])
    assert prof["size"].sum() == len(p)
    assert prof["share"].sum() == pytest.approx(1.0)
    w = prof["size"] / prof["size"].sum()
    assert (w * prof["income index"]).sum() == pytest.approx(100, rel=0.05)  # NaN income rows aside


def test_bad_input():
    df = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="labels"):
        ts.segment_profiles(df, [0])
    with pytest.raises(KeyError, match="nope"):
        ts.segment_profiles(df, [0, 1], numeric=["nope"])
    with pytest.raises(ValueError, match="conversion"):
        ts.segment_profiles(df, [0, 1], conversion=[0, 3])
    with pytest.raises(TypeError, match="DataFrame"):
        ts.segment_profiles(np.ones(2), [0, 1])
    with pytest.raises(ValueError, match="empty"):
        ts.segment_profiles(df.iloc[:0], [])
