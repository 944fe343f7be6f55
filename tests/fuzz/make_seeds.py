"""Writes the seed corpus of the model-loader fuzz target: small models of each
format and kind (numeric and categorical splits, missing values, multiclass)."""
import pathlib

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

# Run from the repository root.
out = pathlib.Path("tests/fuzz/corpus")
rng = np.random.default_rng(0)
n = 300
X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                  "c": pd.Categorical(rng.integers(0, 4, n))})
X.loc[rng.random(n) < 0.1, "a"] = np.nan
y = ((X["a"].fillna(0) > 0.3) ^ X["c"].isin([1, 3])).astype(int)
y3 = rng.integers(0, 3, n)
d = xgb.DMatrix(X, y, enable_categorical=True)
b = xgb.train({"max_depth": 3, "objective": "binary:logistic", "tree_method": "hist"}, d, 3)
b.save_model(str(out / "xgb_binary_cat.json")); b.save_model(str(out / "xgb_binary_cat.ubj"))
d3 = xgb.DMatrix(X[["a", "b"]], y3)
b3 = xgb.train({"max_depth": 2, "objective": "multi:softprob", "num_class": 3}, d3, 2)
b3.save_model(str(out / "xgb_multi.json")); b3.save_model(str(out / "xgb_multi.ubj"))
m = lgb.train({"objective": "binary", "num_leaves": 6, "verbose": -1, "min_data_in_leaf": 5,
               "min_data_per_group": 5, "cat_smooth": 1}, lgb.Dataset(X, y), 3)
m.save_model(str(out / "lgb_binary_cat.txt"))
Xz = X[["a", "b"]].fillna(0)
m3 = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 4, "verbose": -1, "zero_as_missing": True,
                "min_data_in_leaf": 5}, lgb.Dataset(Xz, y3), 2)
m3.save_model(str(out / "lgb_multi_zero.txt"))
mr = lgb.train({"objective": "regression", "num_leaves": 4, "verbose": -1, "min_data_in_leaf": 5},
               lgb.Dataset(X[["a", "b"]], X["b"].to_numpy()), 2)
mr.save_model(str(out / "lgb_regression_nan.txt"))

# twinscore model files (the container the parser checks): small fitted objects of a few kinds.
import twinscore as ts  # noqa: E402

prm = ts.datasets.make_prm(n_prospects=300, n_clients=60, seed=1)
cols = ["client_id", "sex", "age_band", "income", "categories"]
ts.TwinIndex("mixed", block_on=["sex"]).fit(prm.clients[cols], id="client_id").save(out / "model_twins_mixed.tsm")
ts.LogisticScorer().fit(X[["a", "b"]].fillna(0), y).save(out / "model_logistic.tsm")
ts.KMeans(n_clusters=3, random_state=0).fit(X[["a", "b"]].fillna(0).to_numpy()).save(out / "model_kmeans.tsm")
ts.TreeScorer.from_xgboost(b3).save(out / "model_trees_xgb.tsm")
