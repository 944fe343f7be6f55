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


def test_profile_sums_of_chunks_equal_the_profiles_of_the_whole_table(prm):
    from twinscore.segments import ProfileSums

    p = prm.prospects
    data = p[["income", "household_size", "age_band", "sex", "region"]]
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, len(p))
    labels[:700] = 3  # the first chunk holds one segment only: the others appear later
    value = rng.gamma(2.0, 30.0, len(p))
    whole = ts.segment_profiles(data, labels, conversion=p["converted"], value=value, min_index=110)
    sums = ProfileSums(numeric=["income", "household_size"], categorical=["age_band", "sex", "region"],
                       conversion=True, value=True)
    for a, b in ((0, 700), (700, 701), (701, 2_500), (2_500, len(p))):
        sums.add(data.iloc[a:b], labels[a:b], conversion=p["converted"].iloc[a:b], value=value[a:b])
    chunked = sums.profiles(min_index=110)
    exact = ["size", "share", "over-represented"]
    pd.testing.assert_frame_equal(chunked[exact], whole[exact], check_exact=True)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-13)
    # against pandas on the whole table: a segment's mean over the overall mean (NaN skipped)
    seg = pd.Series(labels, index=data.index)
    means = data[["income", "household_size"]].groupby(seg).mean()
    np.testing.assert_allclose(whole["income index"].sort_index(),
                               100 * means["income"] / data["income"].mean(), rtol=1e-12)
    np.testing.assert_allclose(whole["value share"].sort_index(),
                               pd.Series(value).groupby(labels).sum() / value.sum(), rtol=1e-12)
    assert list(whole["size"]) == sorted(np.bincount(labels), reverse=True)
    assert (whole["over-represented"] != "").any()
