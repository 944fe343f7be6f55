"""Results of every dispatched engine on small fixed problems, to compare builds and SIMD levels.

    python wheel_check.py make DIR      # writes the problems (and an XGBoost model) to DIR
    python wheel_check.py run DIR OUT [--skip-trees]   # runs them with the installed twinscore -> OUT.npz
    python wheel_check.py compare REF.npz OUT.npz [--level v2]

``make`` needs xgboost; ``run`` only twinscore and numpy, so it also runs
under an emulated CPU (qemu-user), where importing xgboost would be slow.
``compare`` checks OUT against REF (the native build's results) with the
tolerances of the kernels' headers: bit-identical where every level does the
same operations in the same order (tree margins, the fused logistic scorer,
Jaccard twins), the float32 / FMA rounding elsewhere; and, with --level, that
OUT was computed at that SIMD level.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def make(out: Path) -> None:
    import xgboost as xgb

    rng = np.random.default_rng(2026)
    out.mkdir(parents=True, exist_ok=True)
    X = rng.normal(size=(3000, 12)).astype(np.float32)
    X[rng.random(X.shape) < 0.03] = np.nan
    y = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) ** 2 + rng.normal(scale=0.5, size=len(X)) > 0.6)
    booster = xgb.train({"max_depth": 6, "eta": 0.2, "objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(X, label=y.astype(np.float32)), num_boost_round=40)
    booster.save_model(str(out / "model.json"))
    # Blobs for k-means: well-separated centres, so no row is within float32
    # rounding of two of them and the labels must agree exactly.
    centres = rng.normal(scale=8.0, size=(12, 16))
    K = (centres[rng.integers(0, 12, 6000)] + rng.normal(size=(6000, 16))).astype(np.float32)
    clients = rng.normal(size=(1500, 24)).astype(np.float32)
    prospects = rng.normal(size=(400, 24)).astype(np.float32)
    bits_c = rng.random((1500, 150)) < 0.06
    bits_p = rng.random((400, 150)) < 0.06
    np.savez(out / "problems.npz", X=X, y=y, K=K, clients=clients, prospects=prospects, bits_c=bits_c,
             bits_p=bits_p)


def run(src: Path, out: Path, skip_trees: bool = False) -> None:
    import pandas as pd

    import twinscore as ts

    p = np.load(src / "problems.npz")
    res = {}
    # --skip-trees: an emulator whose AVX2 gathers are wrong (qemu_gather_probe.c)
    # would crash the tree walk; the run says so and the comparison lists it.
    if not skip_trees:
        scorer = ts.TreeScorer.from_xgboost(str(src / "model.json"))
        res["tree_margin"] = scorer.predict_margin(p["X"])
    frame = pd.DataFrame(np.nan_to_num(p["X"]), columns=[f"f{j}" for j in range(p["X"].shape[1])])
    frame["band"] = pd.Categorical(np.where(p["X"][:, 2] > 0, "high", "low"))
    model = ts.LogisticScorer().fit(frame, p["y"])
    res["logistic_coef"] = model.coef_[0]
    res["logistic_decision"] = model.decision_function(frame)
    km = ts.KMeans(n_clusters=12, random_state=0, n_init=1).fit(p["K"])
    res["kmeans_labels"] = km.labels_
    res["kmeans_centers"] = km.cluster_centers_
    res["kmeans_inertia"] = np.array([km.inertia_])
    for metric in ("cosine", "sqeuclidean"):
        r = ts.TwinIndex(metric).fit(p["clients"]).search(p["prospects"], k=10)
        res[f"twins_{metric}_rows"], res[f"twins_{metric}_sim"] = r.rows, r.similarities
    r = ts.TwinIndex("jaccard").fit(p["bits_c"]).search(p["bits_p"], k=10)
    res["twins_jaccard_rows"], res["twins_jaccard_sim"] = r.rows, r.similarities
    # A build from before the run-time dispatch (the native reference) has no show_config.
    config = (ts.show_config(print_out=True) if hasattr(ts, "show_config")
              else {"version": ts.__version__, "simd_level": "native", "native_build": True})
    np.savez(out, config=json.dumps(config), **res)


# name -> (rtol, atol); None: identical bits.
TOLERANCE = {
    "tree_margin": None,
    "logistic_coef": (1e-8, 1e-10),     # the fit's row kernels use FMA at v3 / v4
    "logistic_decision": (1e-8, 1e-9),  # (the fused scorer is exact; the coefficients are not)
    "kmeans_labels": None,
    "kmeans_centers": (1e-6, 1e-6),
    "kmeans_inertia": (1e-9, 0),
    "twins_cosine_rows": None,
    "twins_cosine_sim": (1e-5, 1e-6),   # Eigen's GEMM vs the FMA register tile
    "twins_sqeuclidean_rows": None,
    "twins_sqeuclidean_sim": (1e-5, 1e-4),
    "twins_jaccard_rows": None,
    "twins_jaccard_sim": None,
}


def compare(ref_path: Path, out_path: Path, level: str | None) -> int:
    ref, out = np.load(ref_path), np.load(out_path)
    config = json.loads(str(out["config"]))
    bad = 0
    if level is not None and config["simd_level"] != level:
        print(f"FAIL: ran at SIMD level {config['simd_level']}, expected {level}")
        bad += 1
    skipped = [name for name in TOLERANCE if name not in out.files]
    for name, tol in TOLERANCE.items():
        if name in skipped:
            continue
        a, b = ref[name], out[name]
        try:
            if tol is None:
                np.testing.assert_array_equal(b, a)
            else:
                np.testing.assert_allclose(b, a, rtol=tol[0], atol=tol[1])
        except AssertionError as e:
            print(f"FAIL {name}: {str(e).strip().splitlines()[0:6]}")
            bad += 1
    print(f"{out_path.name} (level {config['simd_level']}) vs {ref_path.name}: "
          f"{len(TOLERANCE) - len(skipped) - bad} of {len(TOLERANCE) - len(skipped)} results match"
          + (f" (not run: {', '.join(skipped)})" if skipped else "") + ("" if bad else " — OK"))
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "make":
        make(Path(argv[1]))
        return 0
    if len(argv) >= 3 and argv[0] == "run":
        run(Path(argv[1]), Path(argv[2]), skip_trees="--skip-trees" in argv)
        return 0
    if len(argv) >= 3 and argv[0] == "compare":
        level = argv[argv.index("--level") + 1] if "--level" in argv else None
        return compare(Path(argv[1]), Path(argv[2]), level)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
