"""Every Python code block of README.md runs, as written, so the documentation cannot rot.

Each block runs in a fresh namespace, in a working directory holding the files
the README names (a prospects table in Parquet, as one file and as a folder,
an XGBoost and a LightGBM conversion model trained on it). A block may be
skipped only by a comment on the line before it that gives the reason:
``<!-- readme-test: skip (why) -->``.
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)
_SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->")


def _blocks():
    text = README.read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("code"))
        skip = _SKIP.search(m.group("before"))
        out.append(pytest.param(m.group("code"), id=f"line{line}",
                                marks=[pytest.mark.skip(reason=skip.group("why"))] if skip else []))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The files the README's examples read: prospects with the features of two conversion models."""
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    n = 20_000
    region = rng.choice(["north", "south", "west"], n)
    X = pd.DataFrame({"income": rng.normal(35_000, 9_000, n).round(), "visits": rng.poisson(3, n).astype(float),
                      "region=north": (region == "north").astype(float),
                      "region=south": (region == "south").astype(float)})
    z = 0.4 * X["visits"] + 1.0 * X["region=south"] + (X["income"] - 35_000) / 20_000 - 3.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    root = tmp_path_factory.mktemp("readme")
    xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y).get_booster().save_model(
        str(root / "conversion.ubj"))
    lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1).fit(X, y).booster_.save_model(
        str(root / "conversion.txt"))
    X.to_parquet(root / "prospects.parquet")
    (root / "prospects").mkdir()
    table = X.assign(converted=y).set_axis(pd.RangeIndex(n, name="contact_id"))
    for i, part in enumerate(np.array_split(np.arange(n), 4)):
        table.iloc[part].to_parquet(root / "prospects" / f"part.{i}.parquet", index=True)
    return root


def test_the_readme_has_blocks_to_run():
    assert len(_blocks()) >= 7


@pytest.mark.parametrize("code", _blocks())
def test_readme_block_runs(code, workdir):
    before = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(code, "README.md block", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(before)
