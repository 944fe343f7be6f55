"""Lookalike quality: does the twin score find the buyers? (issue 19)

  python bench_lookalike.py [--prospects 100000] [--seed 0] [--k 10] [--repeat 5] [--skip-shoppers]

Two tables, one protocol: a stratified 70/30 split (seed 0), the converted
training contacts as clients, every held-out contact as a prospect; AUC and
top-decile lift of each score on the held-out conversions.

- UCI Online Shoppers (``../shared/data/online_shoppers_intention.csv``, when
  present): 17 session columns (Month, VisitorType, Weekend categorical).
- The generated market (``make_prm(--prospects)``): the prospects' profile
  (noise columns included: device, city size, household size, campaign) and
  behaviour (decayed event counts, recency).

Rows: twinscore's default ``TwinIndex()`` fitted with the training contacts as
population (its plain ``score``, ``value_score``, the reference scores with and
without the learnt weights, and the Gower metric of old: range-scaled numbers,
equal weights), cosine twins on the encoded vectors (FAISS IndexFlatIP on
population-standardised one-hot vectors; numpy when faiss is absent),
scikit-learn KNeighborsClassifier on the same vectors, and LogisticScorer on
the same vectors. Client value for ``value_score``: the session's PageValues
(Online Shoppers) and the declared income, missing as the median (market) —
proxies of a basket, there being no margin for converted prospects.

Cost: the same prospects searched by the index with its reference against the
same index without (the reference search is the second exact search), and the
learnt weights' fit on 100,000 reference contacts x 20 columns.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import machine_line, row, timeit

THREADS = 2


def lift(y, s) -> float:
    order = np.lexsort((np.arange(len(s)), -np.asarray(s, dtype=np.float64)))[: max(1, len(s) // 10)]
    return float(np.asarray(y)[order].mean() / np.mean(y))


def shoppers_split(path: Path):
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(path, sep=";")
    y = df.pop("Revenue").to_numpy().astype(np.int8)
    train, test = train_test_split(df, test_size=0.3, stratify=y, random_state=0)
    return train, test, y[train.index], y[test.index], train["PageValues"].to_numpy(float)


def market_split(n: int, seed: int):
    import twinscore as ts
    from sklearn.model_selection import train_test_split

    d = ts.datasets.make_prm(n, 100, seed=seed)
    p = d.prospects
    agg = ts.events.aggregate(d.events, p, now=d.now, half_life_days=30)
    behaviour = ts.events.behaviour_features(agg)
    behaviour = behaviour[[c for c in behaviour.columns if c.startswith("decayed_")] + ["recency_days"]]
    cols = ["sex", "age_band", "region", "income", "channel", *ts.datasets.NOISE_COLUMNS, "categories"]
    X = pd.concat([p[cols].reset_index(drop=True), behaviour.reset_index(drop=True)], axis=1)
    y = p["converted"].to_numpy().astype(np.int8)
    train, test = train_test_split(X, test_size=0.3, stratify=y, random_state=0)
    income = train["income"].to_numpy(float)
    return train, test, y[train.index], y[test.index], np.where(np.isnan(income), np.nanmedian(income), income)


def cosine_twins(C: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, str]:
    """Mean cosine similarity of the k nearest clients: FAISS IndexFlatIP on unit vectors."""
    def unit(X):
        n = np.linalg.norm(X, axis=1, keepdims=True)
        return np.ascontiguousarray(X / np.where(n > 0, n, 1), dtype=np.float32)
    try:
        import faiss
        faiss.omp_set_num_threads(THREADS)
        index = faiss.IndexFlatIP(C.shape[1])
        index.add(unit(C))
        D, _ = index.search(unit(Q), k)
        return D.mean(axis=1), "FAISS IndexFlatIP"
    except ImportError:
        S = unit(Q) @ unit(C).T
        return -np.sort(-S, axis=1)[:, :k].mean(axis=1), "numpy brute force"


def quality(name: str, train, test, y_train, y_test, value, k: int) -> dict:
    import twinscore as ts
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    clients, client_value = train[y_train == 1], value[y_train == 1]
    print(f"\n{name}: {len(train):,} training contacts ({len(clients):,} clients, {y_train.mean():.1%}), "
          f"{len(test):,} prospects, {train.shape[1]} columns, k = {k}")
    scores = {}
    idx = ts.TwinIndex(n_threads=THREADS).fit(clients, value=client_value, population=train)
    res = idx.search(test, k=k)
    scores["twinscore score (mean similarity of the k twins)"] = res.score
    scores["twinscore value_score"] = res.value_score
    scores["twinscore reference_score, weights='auto' (default)"] = res.reference_score
    scores["twinscore value_reference_score"] = res.value_reference_score
    equal = ts.TwinIndex(weights=[1.0] * len(idx.columns_used_), n_threads=THREADS)
    scores["twinscore reference_score, equal weights"] = equal.fit(clients, population=train).search(
        test, k=k).reference_score
    old = ts.TwinIndex(numeric_scale="range", weights=[1.0] * len(idx.columns_used_), n_threads=THREADS)
    res_old = old.fit(clients, population=train).search(test, k=k)
    scores["Gower of old (ranges, equal weights): score"] = res_old.score
    scores["Gower of old: reference_score"] = res_old.reference_score
    aud = ts.TwinIndex(n_threads=THREADS).fit(clients).expand(test, fraction=1.0)
    no_pop = np.empty(len(test))
    no_pop[np.asarray(aud["prospect_id"].map(dict(zip(test.index, range(len(test))))))] = -aud["rank"].to_numpy()
    scores["twinscore expand() without population (prospects as reference)"] = no_pop
    cosine = ts.TwinIndex("cosine", n_threads=THREADS).fit(clients, population=train).search(test, k=k)
    scores["twinscore cosine reference_score (equal weights)"] = cosine.reference_score
    # Peers on the same vectors: standardised on the training contacts, one-hot / multi-hot.
    schema = ts.ContactTable.from_pandas(train).schema
    Xtr = schema.apply(train, id=None).encode().X
    Xte = schema.apply(test, id=None).encode().X
    s, how = cosine_twins(Xtr[y_train == 1], Xte, k)
    scores[f"cosine twins ({how}, mean of k)"] = s
    with threadpool_limits(THREADS):
        knn = KNeighborsClassifier(n_neighbors=k, n_jobs=THREADS).fit(Xtr, y_train)
        scores["scikit-learn KNeighborsClassifier (k neighbours)"] = knn.predict_proba(Xte)[:, 1]
        knn50 = KNeighborsClassifier(n_neighbors=50, weights="distance", n_jobs=THREADS).fit(Xtr, y_train)
        scores["scikit-learn KNeighborsClassifier (50, distance)"] = knn50.predict_proba(Xte)[:, 1]
    model = ts.LogisticScorer(C=1.0).fit(Xtr, y_train)
    scores["LogisticScorer (trained on the labels)"] = model.predict_proba(Xte)[:, 1]
    out = {}
    print(f"  {'score':<66s} {'AUC':>6s} {'lift':>6s}")
    for label, sc in scores.items():
        auc = ts.metrics.roc_auc(y_test, sc)
        out[label] = (auc, lift(y_test, sc))
        print(f"  {label:<66s} {auc:6.3f} {out[label][1]:6.2f}")
    w = ", ".join(f"{c} {v:.2f}" for c, v in sorted(idx.weights_.items(), key=lambda t: -t[1]))
    print(f"  learnt weights: {w}")
    why = idx.reasons(test.iloc[np.argsort(-res.reference_score, kind="stable")[:1]], top=3)
    print(f"  the top prospect: {why['why'].iloc[0]}")
    return out


def cost(train, test, y_train, repeat: int, k: int):
    """The search with the reference against the same index without it, same prospects."""
    import twinscore as ts

    clients = train[y_train == 1]
    with_ref = ts.TwinIndex(n_threads=THREADS).fit(clients, population=train)
    plain = copy.copy(with_ref)
    plain.reference_index_ = None  # the same index, its reference search left out
    a = timeit(lambda: plain.search(test, k=k), repeat=repeat)
    b = timeit(lambda: with_ref.search(test, k=k), repeat=repeat)
    np.testing.assert_array_equal(a[3].rows, b[3].rows)  # the same twins
    print(f"\nCost, {len(test):,} prospects x {len(clients):,} clients, reference sample {with_ref.n_reference_:,} "
          f"rows, k = {k}, {THREADS} threads")
    print(row("search without reference (plain score)", *a[:3]))
    print(row("search with reference (plain + reference score)", *b[:3]))
    print(f"    reference score / plain search: {b[0] / a[0]:.2f}x (target <= 2x)")


def weights_fit(repeat: int):
    """weights='auto' on 100,000 reference contacts x 20 columns (10 numeric, 10 categorical)."""
    import twinscore as ts

    rng = np.random.default_rng(0)
    n = 100_000
    cols = {f"x{j}": rng.lognormal(size=n) for j in range(10)}
    cols |= {f"c{j}": rng.choice([f"v{i}" for i in range(12)], size=n) for j in range(10)}
    reference = pd.DataFrame(cols)
    clients = reference.sample(2_000, random_state=0)
    fit = timeit(lambda: ts.TwinIndex(n_threads=THREADS).fit(clients, population=reference), repeat=repeat)
    schema = ts.ContactTable.from_pandas(reference).schema
    c_tab, r_tab = schema.apply(clients, id=None), schema.apply(reference, id=None)
    from twinscore import _lookalike
    learn = timeit(lambda: _lookalike.contrast(c_tab, r_tab, list(cols), THREADS), repeat=repeat)
    print(f"\nLearnt weights, {n:,} reference contacts x 20 columns, 2,000 clients, {THREADS} threads")
    print(row("weights (bins + counts + information value)", *learn[:3]))
    print(row("whole fit (read the population, ranks, weights, both indexes)", *fit[:3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prospects", type=int, default=100_000, help="contacts of the generated market")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-shoppers", action="store_true")
    args, _ = ap.parse_known_args()  # run.py passes every script the same options
    print(machine_line())
    here = Path(__file__).resolve()
    path = next((p / "shared" / "data" / "online_shoppers_intention.csv" for p in here.parents
                 if (p / "shared" / "data" / "online_shoppers_intention.csv").exists()), None)
    if path is not None and not args.skip_shoppers:
        split = shoppers_split(path)
        quality("Online Shoppers", *split, k=args.k)
        cost(*split[:3], repeat=args.repeat, k=args.k)
    elif not args.skip_shoppers:
        print("\nOnline Shoppers: online_shoppers_intention.csv not found beside a checkout; skipped")
    split = market_split(args.prospects, args.seed)
    quality(f"Generated market (make_prm({args.prospects:,}, seed={args.seed}))", *split, k=args.k)
    cost(*split[:3], repeat=args.repeat, k=args.k)
    weights_fit(args.repeat)


if __name__ == "__main__":
    main()
