"""Every public name has a docstring, and fitted models print what they learnt."""

import importlib
import inspect

import numpy as np
import pandas as pd

import twinscore as ts

MODULES = ["twinscore", "twinscore.events", "twinscore.leads", "twinscore.metrics", "twinscore.kpi",
           "twinscore.triggers", "twinscore.datasets", "twinscore.dask", "twinscore.value_diagnostics"]


def _public():
    """(name, object) of every public function, class, method and property."""
    seen = set()
    for m in MODULES:
        mod = importlib.import_module(m)
        for n in getattr(mod, "__all__", []):
            obj = getattr(mod, n)
            if inspect.ismodule(obj) or id(obj) in seen or not callable(obj):
                continue
            seen.add(id(obj))
            yield f"{m}.{n}", obj
            if inspect.isclass(obj):
                for k, v in vars(obj).items():
                    if k.startswith("_"):
                        continue
                    f = v.fget if isinstance(v, property) else getattr(v, "__func__", v)
                    if callable(f):
                        yield f"{m}.{n}.{k}", f


def test_every_public_name_has_a_docstring():
    missing = [name for name, obj in _public() if not (inspect.getdoc(obj) or "").strip()]
    assert len(list(_public())) > 100
    assert not missing, f"no docstring: {missing}"


def test_fitted_models_print_their_parameters(prm):
    s = ts.calibration_summary(prm.transactions, customer="client_id", date="date", amount="amount",
                               calibration_end=prm.now - pd.Timedelta(days=180), observation_end=prm.now)
    bg = ts.BetaGeo(penalizer=1e-3).fit(s)
    assert repr(bg).startswith("BetaGeo(r=") and f"{bg.params_['r']:.3g}" in repr(bg)
    gg = ts.GammaGamma().fit(s)
    assert repr(gg).startswith("GammaGamma(p=")
    km = ts.KMeans(n_clusters=3, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 2)))
    assert "n_clusters=3" in repr(km)
    assert "object at 0x" not in repr(bg) + repr(gg) + repr(km) + repr(ts.LogisticScorer())
