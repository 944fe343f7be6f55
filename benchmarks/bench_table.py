"""Contact-table ingestion + encoding: twinscore against pandas + scikit-learn.

The same DataFrame of prospects (numeric, categorical and a category-set
column) goes through:
  - twinscore: ContactTable.from_pandas(df) (schema learnt: dictionaries,
    bitsets, statistics) then .encode() (standardise + impute + one-hot +
    multi-hot, one fused C++ pass);
  - scikit-learn: ColumnTransformer(StandardScaler + SimpleImputer,
    OneHotEncoder) .fit_transform(df), plus MultiLabelBinarizer for the set
    column — the usual pipeline for the same matrix.
Both produce the same float32 matrix (checked). Categoricals are timed twice:
as pandas categoricals and as plain (Arrow-backed) strings.

    python benchmarks/bench_table.py [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from common import machine_line, row, timeit

import twinscore as ts

NUM = ["income", "engagement", "email_optin"]
CAT = ["sex", "age_band", "region", "channel"]
SET = "categories"


def make_frame(n: int, strings: bool) -> pd.DataFrame:
    d = ts.datasets.make_prm(n, 1_000, seed=0)
    p = d.prospects
    df = pd.DataFrame({
        "income": p["income"],
        "engagement": np.random.default_rng(0).gamma(2.0, 3.0, n),
        "email_optin": p["email_optin"].astype(np.float64),
    })
    for c in CAT:
        df[c] = p[c].astype(str) if strings else p[c]
    df[SET] = p[SET]
    return df


def sklearn_encode(df: pd.DataFrame, categories) -> np.ndarray:
    """The same matrix with scikit-learn (the set column only when present)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder, StandardScaler

    ct = ColumnTransformer([
        ("num", make_pipeline(StandardScaler(), SimpleImputer(strategy="constant", fill_value=0.0)), NUM),
        ("cat", OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False,
                              dtype=np.float32), CAT),
    ])
    dense = ct.fit_transform(df).astype(np.float32)
    if SET not in df:
        return dense
    multi = MultiLabelBinarizer().fit_transform(df[SET])
    return np.hstack([dense, multi.astype(np.float32)])


def twinscore_encode(df: pd.DataFrame) -> np.ndarray:
    return ts.ContactTable.from_pandas(df).encode().X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"bench_table: {args.rows:,} rows, {len(NUM)} numeric + {len(CAT)} categorical + 1 category-set column")
    print(f"machine: {machine_line()}")
    for strings, with_set in ((False, True), (True, True), (False, False)):
        df = make_frame(args.rows, strings)
        if not with_set:
            df = df.drop(columns=SET)
        kind = ("strings" if strings else "pandas categoricals") + ("" if with_set else ", no category-set column")
        t = ts.ContactTable.from_pandas(df)
        cats = [list(t.schema[c].categories) for c in CAT]
        ref_med, ref_lo, ref_hi, ref = timeit(lambda: sklearn_encode(df, cats), repeat=max(1, args.repeat // 2))
        print(f"\ncategoricals as {kind}  (output {ref.shape[0]:,} x {ref.shape[1]} float32)")
        peer = "scikit-learn ColumnTransformer" + (" + MultiLabelBinarizer" if with_set else "")
        print(row(peer, ref_med, ref_lo, ref_hi))
        for n in (1, 2):
            with ts.threads(n):
                med, lo, hi, X = timeit(lambda: twinscore_encode(df), repeat=args.repeat)
            np.testing.assert_allclose(X, ref, rtol=1e-5, atol=1e-5)
            print(row(f"twinscore from_pandas + encode, {n} thread{'s' if n > 1 else ''}", med, lo, hi, ref_med))
    print("\nratio = scikit-learn time / twinscore time (scikit-learn runs on one thread); outputs checked equal")


if __name__ == "__main__":
    main()
