"""Run-time SIMD dispatch: the level chosen, its override, and every level's results.

The hot kernels are compiled for x86-64-v2, v3 and v4 and chosen at load
(twinscore/simd.h). Here every level this CPU runs computes the same problems
and must match the baseline's results: bit for bit where the kernels do the
same operations in the same order (tree margins, the fused logistic scorer's
column kernels, Jaccard), within the FMA / float32 rounding elsewhere.
"""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import _core


def _levels():
    return [int(v[1]) for v in ts.show_config(print_out=False)["simd_levels_supported"]]


@pytest.fixture
def at_level():
    """Runs the engines at a given level, then restores the chosen one."""
    yield lambda level: _core._override_simd_level_for_testing(level)
    _core._override_simd_level_for_testing(0)


def test_show_config_reports_the_level_and_cpu(capsys):
    info = ts.show_config()
    out = capsys.readouterr().out
    assert info["version"] == ts.__version__
    assert info["simd_level"] in ("v2", "v3", "v4")
    assert info["simd_level"] <= info["cpu_simd_level"]
    assert info["simd_levels_supported"][0] == "v2"
    assert info["simd_levels_supported"][-1] == info["cpu_simd_level"]
    assert "sse4.2" in info["cpu_features"]
    # The CPU's features, checked against the kernel's own list where there is one.
    if os.path.exists("/proc/cpuinfo"):
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
        assert ("avx2" in flags) == ("avx2" in info["cpu_features"])
        assert ("avx512f" in flags) == ("avx512f" in info["cpu_features"])
    assert info["num_threads"] == ts.get_num_threads()
    assert f"SIMD level:      {info['simd_level']}" in out and "threads:" in out


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_environment_lowers_the_level_never_raises_it():
    r = _run("import twinscore as ts; print(ts.show_config(print_out=False)['simd_level'])", TWINSCORE_SIMD="v2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "v2"
    cpu = ts.show_config(print_out=False)["cpu_simd_level"]
    r = _run("import twinscore as ts; i = ts.show_config(print_out=False); print(i['simd_level'], i['simd_requested'])",
             TWINSCORE_SIMD="v4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [cpu, "v4"]


def test_unknown_level_is_refused_at_import():
    r = _run("import twinscore", TWINSCORE_SIMD="avx9")
    assert r.returncode != 0
    assert "ValueError: TWINSCORE_SIMD must be v2, v3 or v4" in r.stderr and "'avx9'" in r.stderr


def test_override_refuses_a_level_the_cpu_lacks(at_level):
    with pytest.raises(ValueError, match="level must be 0 or one this CPU runs"):
        at_level(max(_levels()) + 1)
    with pytest.raises(ValueError, match="level must be"):
        at_level(1)


def _problems():
    rng = np.random.default_rng(22)
    X = rng.normal(size=(2000, 10)).astype(np.float32)
    X[rng.random(X.shape) < 0.03] = np.nan
    y = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) ** 2 + rng.normal(scale=0.5, size=len(X)) > 0.6
    centres = rng.normal(scale=8.0, size=(12, 16))
    K = (centres[rng.integers(0, 12, 5000)] + rng.normal(size=(5000, 16))).astype(np.float32)
    return dict(X=X, y=y, K=K, clients=rng.normal(size=(900, 20)).astype(np.float32),
                prospects=rng.normal(size=(250, 20)).astype(np.float32),
                bits_c=rng.random((900, 130)) < 0.07, bits_p=rng.random((250, 130)) < 0.07)


def _results(p, booster):
    out = {}
    scorer = ts.TreeScorer.from_xgboost(booster)
    out["tree"] = scorer.predict_margin(p["X"])
    frame = pd.DataFrame(np.nan_to_num(p["X"]), columns=[f"f{j}" for j in range(p["X"].shape[1])])
    frame["band"] = pd.Categorical(np.where(p["X"][:, 2] > 0, "high", "low"))
    model = ts.LogisticScorer().fit(frame, p["y"])
    out["coef"] = model.coef_[0]
    out["decision"] = model.decision_function(frame)
    km = ts.KMeans(n_clusters=12, random_state=0, n_init=1).fit(p["K"])
    out["labels"], out["centers"], out["inertia"] = km.labels_, km.cluster_centers_, km.inertia_
    for metric in ("cosine", "sqeuclidean"):
        r = ts.TwinIndex(metric).fit(p["clients"]).search(p["prospects"], k=10)
        out[metric] = (r.rows, r.similarities)
    r = ts.TwinIndex("jaccard").fit(p["bits_c"]).search(p["bits_p"], k=10)
    out["jaccard"] = (r.rows, r.similarities)
    return out


@pytest.mark.skipif(len(_levels()) < 2, reason="this CPU runs only the baseline")
def test_every_level_matches_the_baseline(at_level):
    xgb = pytest.importorskip("xgboost")
    p = _problems()
    booster = xgb.train({"max_depth": 6, "eta": 0.2, "objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(p["X"], label=p["y"].astype(np.float32)), num_boost_round=30)
    # The independent reference for the trees: XGBoost's own margins.
    ref_tree = booster.predict(xgb.DMatrix(p["X"]), output_margin=True)
    at_level(2)
    base = _results(p, booster)
    np.testing.assert_allclose(base["tree"], ref_tree, rtol=1e-6, atol=1e-6)
    for level in _levels()[1:]:
        at_level(level)
        assert ts.show_config(print_out=False)["simd_level"] == f"v{level}"
        got = _results(p, booster)
        np.testing.assert_array_equal(got["tree"], base["tree"])  # same sums in the same order
        # The fit's row kernels use FMA above the baseline; the scorer does not.
        np.testing.assert_allclose(got["coef"], base["coef"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got["decision"], base["decision"], rtol=1e-8, atol=1e-9)
        np.testing.assert_array_equal(got["labels"], base["labels"])
        np.testing.assert_allclose(got["centers"], base["centers"], rtol=1e-6, atol=1e-6)
        assert got["inertia"] == pytest.approx(base["inertia"], rel=1e-9)
        for metric in ("cosine", "sqeuclidean"):
            np.testing.assert_array_equal(got[metric][0], base[metric][0])
            np.testing.assert_allclose(got[metric][1], base[metric][1], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(got["jaccard"][0], base["jaccard"][0])
        np.testing.assert_array_equal(got["jaccard"][1], base["jaccard"][1])
