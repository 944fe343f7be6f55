"""Client value: RFM and the BG/NBD fit, twinscore against pandas, polars, DuckDB and scipy.

RFM: the same transaction log (int64 client ids in random order, datetime64
dates, float64 amounts) goes through
  - twinscore: ts.rfm(...) (factorise ids, one aggregation pass, three
    quantile scorings, segment map);
  - pandas: groupby(client).agg(max date, size, sum) then the same scores
    with rank(method="min") — 1 + floor(bins * (rank - 1) / n), the rule
    twinscore documents (pd.qcut cannot score tied values without failing);
  - polars and DuckDB: the same query (group by, rank "min", same formula).
All four scores are checked equal.

BG/NBD: simulated summaries (frequency, recency, T) of n clients, fitted by
  - twinscore BetaGeo (L-BFGS on log-parameters, analytic gradient, C++;
    by default on the distinct patterns weighted by their counts);
  - scipy.optimize.minimize(method="L-BFGS-B") on the same log-likelihood and
    its analytic gradient in numpy, on the same log-parameters, both on the
    full data and on the same weighted distinct patterns.
  - lifetimes BetaGeoFitter.fit (autograd gradient, scipy BFGS, then its
    Hessian), run by subprocess in its own venv (it needs pandas < 3):
        python3 -m venv .venv-lifetimes && .venv-lifetimes/bin/pip install lifetimes "pandas<3"
    on the same 1M summaries and on the CDNOW sample (published fit r = 0.243,
    alpha = 4.414, a = 0.793, b = 2.426, log-likelihood -9582.4);
  - pymc-marketing BetaGeoModel.fit(method="map") with flat (HalfFlat)
    priors on r, alpha, a, b, so the MAP is the maximum-likelihood fit, in its
    own venv the same way (python3 -m venv .venv-pymc && .venv-pymc/bin/pip
    install pymc-marketing); its first fit also compiles the model (shown apart).
Parameters are checked equal within 1e-3.

Pipeline (--pipeline 100000,1000000,10000000): a simulated log of ~10 transactions a client (BG/NBD
purchases, r = 2, alpha = 8, a = 1, b = 20, over two years; random 40-bit ids; lognormal amounts), generated
chunk by chunk and never whole for twinscore: the streamed calibration_summary, the BG/NBD and Gamma-Gamma
fits, the 12-month CLV (point, then with 95 % intervals from 200 draws) for every client, each size in its own
process (peak RSS from getrusage). Beside it lifetimes (summary_data_from_transaction_data, BetaGeoFitter,
GammaGammaFitter, customer_lifetime_value) and pymc-marketing (rfm_summary, BetaGeoModel and GammaGammaModel
MAP with flat priors, expected_customer_lifetime_value) on the same log, in memory (neither streams), point CLV
only; a peer is stopped past 10 minutes or 8 GiB resident and not tried on larger logs.

Pareto/NBD: simulated summaries of n clients (whole purchase days), fitted by
twinscore ParetoNBD (the 2F1 terms in log space, C++, on the distinct
patterns) and by lifetimes' ParetoNBDFitter in its venv (as above), on the
same summaries; parameters checked equal within 1e-3 (relative).

    python benchmarks/bench_value.py [--transactions 10000000] [--clients 1000000] [--repeat 3] [--threads 2]
                                     [--lifetimes-python PATH] [--pymc-python PATH]
"""

from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--transactions", type=int, default=10_000_000)
parser.add_argument("--clients", type=int, default=1_000_000)
parser.add_argument("--fit-clients", type=int, default=1_000_000)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--skip-rfm", action="store_true")
parser.add_argument("--skip-fit", action="store_true")
parser.add_argument("--skip-intervals", action="store_true")
parser.add_argument("--skip-pareto", action="store_true", help="no Pareto/NBD fit against lifetimes")
parser.add_argument("--only-pareto", action="store_true", help="only the Pareto/NBD fit against lifetimes")
parser.add_argument("--interval-clients", type=int, default=1_000_000)
parser.add_argument("--draws", type=int, default=200)
parser.add_argument("--skip-pymc", action="store_true", help="no pymc-marketing fit on the 1M clients (minutes)")
parser.add_argument("--lifetimes-python", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                               ".venv-lifetimes", "bin", "python"),
                    help="python of a venv with lifetimes (see the module docstring)")
parser.add_argument("--pymc-python", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                          ".venv-pymc", "bin", "python"),
                    help="python of a venv with pymc-marketing (see the module docstring)")
parser.add_argument("--pipeline", default="",
                    help="comma-separated client counts (~10 transactions each, e.g. 100000,1000000,10000000): "
                         "streamed summary + BG/NBD and Gamma-Gamma fits + CLV with 95 %% intervals, twinscore "
                         "beside lifetimes and pymc-marketing, each in its own process (peak RSS); only this case")
parser.add_argument("--pipeline-chunk-clients", type=int, default=1_000_000,
                    help="clients generated per chunk of the log (~10 transactions each)")
parser.add_argument("--pipeline-peers-max", type=int, default=10_000_000,
                    help="largest client count the peers are tried on (each is stopped past 10 min or 8 GiB)")
parser.add_argument("--pipeline-predict", action="store_true",
                    help="also time predict and probability_alive with 95 %% intervals")
parser.add_argument("--pipeline-run", default="", help=argparse.SUPPRESS)  # internal: one run in this process
parser.add_argument("--lifetimes-repeat", type=int, default=1, help="timed lifetimes fits (each takes seconds)")
args = parser.parse_args()
# Thread counts of the peers must be set before they are imported.
os.environ["POLARS_MAX_THREADS"] = str(args.threads)

import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common import machine_line, row, timeit  # noqa: E402

import twinscore as ts  # noqa: E402

BINS = 5


def make_log(n_tx: int, n_clients: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**12, size=n_clients, replace=False).astype(np.int64)
    client = np.concatenate([ids, ids[rng.integers(0, n_clients, n_tx - n_clients)]])
    rng.shuffle(client)
    start = np.datetime64("2024-01-01", "ns").astype(np.int64)
    secs = rng.integers(0, 730 * 86400, n_tx) * 10**9
    return pd.DataFrame({"client": client, "date": (start + secs).view("datetime64[ns]"),
                         "amount": np.round(rng.lognormal(4.0, 0.7, n_tx), 2)})


def scores_pd(s: pd.Series, n: int) -> np.ndarray:
    return (1 + (BINS * (s.rank(method="min").to_numpy() - 1)) // n).astype(np.int8)


def rfm_pandas(tx: pd.DataFrame, now) -> pd.DataFrame:
    g = tx.groupby("client", sort=False).agg(last=("date", "max"), frequency=("date", "size"),
                                             monetary=("amount", "sum"))
    n = len(g)
    g["recency_days"] = (now - g["last"]) / pd.Timedelta(days=1)
    g["R"] = scores_pd(-g["recency_days"], n)
    g["F"] = scores_pd(g["frequency"].astype(float), n)
    g["M"] = scores_pd(g["monetary"], n)
    return g


def rfm_polars(ptx, now):
    import polars as pl

    def score(col):
        return (1 + (BINS * (col.rank("min") - 1)) // pl.len()).cast(pl.Int8)

    g = ptx.group_by("client").agg(pl.col("date").max().alias("last"), pl.len().alias("frequency"),
                                   pl.col("amount").sum().alias("monetary"))
    rec = (pl.lit(now) - pl.col("last")).dt.total_nanoseconds() / 86_400e9
    return g.with_columns(rec.alias("recency_days")).with_columns(
        score(-pl.col("recency_days")).alias("R"), score(pl.col("frequency")).alias("F"),
        score(pl.col("monetary")).alias("M"))


RFM_SQL = """
WITH g AS (SELECT client, max(date) AS last, count(*) AS frequency, sum(amount) AS monetary
           FROM tx GROUP BY client),
     r AS (SELECT *, epoch_ns(TIMESTAMP '{now}') - epoch_ns(last) AS age, count(*) OVER () AS n FROM g)
SELECT client, frequency, monetary,
       1 + ({b} * (rank() OVER (ORDER BY age DESC) - 1)) // n AS R,
       1 + ({b} * (rank() OVER (ORDER BY frequency) - 1)) // n AS F,
       1 + ({b} * (rank() OVER (ORDER BY monetary) - 1)) // n AS M
FROM r
"""


def bench_rfm():
    import duckdb
    import polars as pl

    print(f"RFM: {args.transactions:,} transactions over {args.clients:,} clients, {args.threads} threads")
    tx = make_log(args.transactions, args.clients)
    now = tx["date"].max()
    ts.set_num_threads(args.threads)
    # The first call of a process also pays the kernel's zeroing of the fresh
    # partition buffer (later calls reuse it): shown apart, not in the median.
    t0 = time.perf_counter()
    ts.rfm(tx, customer="client", date="date", amount="amount", now=now)
    print(row("twinscore rfm, first call of the process", time.perf_counter() - t0, 0, 0), flush=True)
    t_ts = timeit(lambda: ts.rfm(tx, customer="client", date="date", amount="amount", now=now), args.repeat)
    print(row("twinscore rfm", *t_ts[:3]), flush=True)
    t_pd = timeit(lambda: rfm_pandas(tx, now), args.repeat)
    print(row("pandas", *t_pd[:3]), flush=True)
    ptx = pl.from_pandas(tx)
    t_pl = timeit(lambda: rfm_polars(ptx, now), args.repeat)
    con = duckdb.connect()
    con.execute(f"SET threads={args.threads}")
    con.register("tx", tx)
    sql = RFM_SQL.format(now=str(now), b=BINS)
    t_db = timeit(lambda: con.execute(sql).df(), args.repeat)

    ours = t_ts[3]
    ref = t_pd[3].loc[ours.index]
    pol = t_pl[3].to_pandas().set_index("client").loc[ours.index]
    ddb = t_db[3].set_index("client").loc[ours.index]
    for name, other in (("pandas", ref), ("polars", pol), ("duckdb", ddb)):
        for s in "RF":
            if not np.array_equal(ours[s].to_numpy(), other[s].to_numpy().astype(np.int8)):
                sys.exit(f"score {s} differs between twinscore and {name}")
        # M: a peer that sums in another order (or without compensation) may split
        # totals that are equal in exact arithmetic; accept only such last-bit cases.
        diff = ours["M"].to_numpy() != other["M"].to_numpy().astype(np.int8)
        gap = np.abs(ours["monetary"].to_numpy() - other["monetary"].to_numpy())[diff]
        if (gap > 1e-9 * ours["monetary"].to_numpy()[diff]).any():
            sys.exit(f"score M differs between twinscore and {name} beyond summation rounding")
        print(f"  {name}: R, F identical; M identical for all but {int(diff.sum())} clients "
              f"(totals within 1e-9 relative, summation order)", flush=True)
    print(row("pandas groupby + rank scores", *t_pd[:3]))
    print(row("polars group_by + rank scores", *t_pl[:3]))
    print(row("DuckDB GROUP BY + rank() scores", *t_db[:3]))
    print(row("twinscore rfm (vs pandas)", *t_ts[:3], ref=t_pd[0]))
    print(row("twinscore rfm (vs the faster of polars / DuckDB)", *t_ts[:3], ref=min(t_pl[0], t_db[0])))
    for name, ratio, target in (("pandas", t_pd[0] / t_ts[0], 15.0),
                                ("the faster of polars / DuckDB", min(t_pl[0], t_db[0]) / t_ts[0], 1.5)):
        print(f"  target >= {target:g}x {name}: {ratio:.1f}x, {'met' if ratio >= target else 'NOT met'}")


# ---------------------------------------------------------------- BG/NBD


def simulate(n, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.integers(7, 365, n) / 7.0  # whole days, in weeks
    x = np.zeros(n)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    for _ in range(400):
        t = t + rng.exponential(1 / lam)
        buy = alive & (t <= T)
        if not buy.any():
            break
        x[buy] += 1
        tx[buy] = t[buy]
        alive = buy & (rng.random(n) >= p)
    tx = np.minimum(np.ceil(tx * 7) / 7, T)  # purchase days
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def scipy_fit(x, t, T, w):
    from scipy.optimize import minimize
    from scipy.special import digamma, gammaln

    pos = x > 0
    W = w.sum()

    def f(theta):
        r, alpha, a, b = np.exp(theta)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        lT, lt = np.log(alpha + T), np.log(alpha + t)
        a3 = -(r + x) * lT
        bx1 = np.where(pos, b + x - 1, 1.0)
        a4 = np.where(pos, np.log(a) - np.log(bx1) - (r + x) * lt, -np.inf)
        lse = np.logaddexp(a3, a4)
        u = np.exp(a4 - lse)
        v = 1 - u
        dr = digamma(r + x) - digamma(r) + np.log(alpha) - v * lT - u * lt
        dal = r / alpha - v * (r + x) / (alpha + T) - u * (r + x) / (alpha + t)
        da = digamma(a + b) - digamma(a + b + x) + u / a
        db = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - u / bx1
        ll = w @ (a1 + a2 + lse)
        g = np.array([w @ dr * r, w @ dal * alpha, w @ da * a, w @ db * b])
        return -ll / W, -g / W

    theta0 = np.array([0.0, np.log(max(np.average(T, weights=w), 1e-3)), 0.0, 0.0])
    res = minimize(f, theta0, jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 1000})
    return np.exp(res.x), res


# Run in lifetimes' own venv: fit BetaGeoFitter on saved summaries, print the
# median time and the parameters as JSON. Its fit includes its Hessian at the
# optimum (lifetimes computes it in every fit).
LIFETIMES_SCRIPT = r"""
import json, sys, time, statistics, warnings, numpy as np
warnings.filterwarnings("ignore")
from lifetimes import BetaGeoFitter
d = np.load(sys.argv[1]); repeat = int(sys.argv[2])
w = d["w"] if "w" in d.files else None
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    m = BetaGeoFitter().fit(d["x"], d["t"], d["T"], weights=w)
    times.append(time.perf_counter() - t0)
p = m.params_
print(json.dumps({"time": statistics.median(times), "min": min(times), "max": max(times),
                  "params": [float(p["r"]), float(p["alpha"]), float(p["a"]), float(p["b"])]}))
"""


# Run in pymc-marketing's venv: MAP with flat priors (= maximum likelihood).
PYMC_SCRIPT = r"""
import json, sys, time, statistics, warnings, logging, numpy as np, pandas as pd
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel
d = np.load(sys.argv[1]); repeat = int(sys.argv[2])
df = pd.DataFrame({"customer_id": np.arange(len(d["x"])), "frequency": d["x"], "recency": d["t"], "T": d["T"]})
flat = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")}
times = []
for _ in range(repeat + 1):  # the first fit also compiles the model's C code: reported apart
    t0 = time.perf_counter()
    m = BetaGeoModel(data=df, model_config=flat)
    m.fit(method="map", progressbar=False)
    times.append(time.perf_counter() - t0)
post = m.idata.posterior
print(json.dumps({"first": times[0], "time": statistics.median(times[1:]), "min": min(times[1:]),
                  "max": max(times[1:]), "params": [float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")]}))
"""


def lifetimes_fit(x, t, T, w=None, repeat=1):
    """lifetimes' fit in its own venv; None (and a message) where it is not installed or fails."""
    return peer_fit("lifetimes", args.lifetimes_python, LIFETIMES_SCRIPT, x, t, T, w, repeat)


def pymc_fit(x, t, T, repeat=1):
    """pymc-marketing's MAP fit in its own venv; None (and a message) where it is not installed or fails."""
    return peer_fit("pymc-marketing", args.pymc_python, PYMC_SCRIPT, x, t, T, None, repeat)


def peer_fit(name, python, script, x, t, T, w, repeat):
    if not os.path.exists(python):
        print(f"  {name}: skipped ({python} not found; see the module docstring)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "summary.npz")
        arrays = {"x": x, "t": t, "T": T} | ({} if w is None else {"w": w})
        np.savez(path, **arrays)
        res = subprocess.run([python, "-c", script, path, str(repeat)], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"  {name}: failed: {res.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def report_pymc(res, ours, t_ts):
    """pymc-marketing's parameters and times against twinscore's."""
    diff = np.max(np.abs(np.array(res["params"]) - ours))
    print("  pymc-marketing params " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("r", "alpha", "a", "b"),
                                                                                   res["params"]))
          + f"; max |parameter difference| vs twinscore {diff:.1e} ({'within' if diff <= 1e-3 else 'NOT within'}"
          " 1e-3)")
    print(row("pymc-marketing BetaGeoModel.fit(map), first (compiles)", res["first"], res["first"], res["first"]))
    print(row("pymc-marketing BetaGeoModel.fit(map), compiled", res["time"], res["min"], res["max"]))
    print(row("twinscore BetaGeo() (vs pymc-marketing compiled)", *t_ts[:3], ref=res["time"]))
    ratio = res["time"] / t_ts[0]
    print(f"  target >= 10x pymc-marketing, same parameters within 1e-3: {ratio:.1f}x, "
          f"{'met' if ratio >= 10 and diff <= 1e-3 else 'NOT met'}")


def bench_cdnow_lifetimes():
    """The published CDNOW sample fit, twinscore and lifetimes on the same summaries."""
    try:
        tx = ts.datasets.load_cdnow("sample")
    except FileNotFoundError:
        print("  CDNOW sample: skipped (file not found)")
        return
    s = ts.calibration_summary(tx, customer="customer_id", date="date", calibration_end="1997-09-30")
    ours = ts.BetaGeo().fit(s)
    x, t, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    t_ts = timeit(lambda: ts.BetaGeo().fit(s), args.repeat)
    lt = lifetimes_fit(x, t, T, repeat=args.repeat)
    print(f"\nBG/NBD on the CDNOW sample ({len(s):,} clients), published r=0.243 alpha=4.414 a=0.793 b=2.426 "
          "LL=-9582.4")
    print("  twinscore params " + ", ".join(f"{k}={v:.4f}" for k, v in ours.params_.items())
          + f", LL={ours.log_likelihood(s):.1f}")
    if lt is None:
        return
    diff = np.max(np.abs(np.array(lt["params"]) - np.array(list(ours.params_.values()))))
    print("  lifetimes params " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("r", "alpha", "a", "b"), lt["params"]))
          + f"; max |parameter difference| {diff:.1e}")
    print(row("lifetimes BetaGeoFitter.fit", lt["time"], lt["min"], lt["max"]))
    print(row("twinscore BetaGeo() (vs lifetimes)", *t_ts[:3], ref=lt["time"]))
    pm = pymc_fit(x, t, T, repeat=1)
    if pm is not None:
        report_pymc(pm, np.array(list(ours.params_.values())), t_ts)


def bench_bgnbd():
    n = args.fit_clients
    print(f"\nBG/NBD fit: {n:,} simulated clients, {args.threads} threads")
    s = simulate(n)
    x, t, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    keys, inv = np.unique(np.stack([x, t, T], 1), axis=0, return_inverse=True)
    w_c = np.bincount(inv.ravel(), minlength=len(keys)).astype(float)
    print(f"  {len(keys):,} distinct (frequency, recency, T) patterns")
    ts.set_num_threads(args.threads)
    t_ts = timeit(lambda: ts.BetaGeo().fit(s), args.repeat)
    t_full = timeit(lambda: ts.BetaGeo(compress=False).fit(s), args.repeat)
    t_sp = timeit(lambda: scipy_fit(x, t, T, np.ones(n)), args.repeat)
    t_spc = timeit(lambda: scipy_fit(keys[:, 0].copy(), keys[:, 1].copy(), keys[:, 2].copy(), w_c), args.repeat)
    ours = np.array(list(t_ts[3].params_.values()))
    for label, res in (("full", t_sp[3][0]), ("patterns", t_spc[3][0]), ("twinscore full",
                                                                          list(t_full[3].params_.values()))):
        diff = np.max(np.abs(np.asarray(res) - ours))
        print(f"  max |parameter difference| twinscore vs {label}: {diff:.2e}")
        if diff > 1e-3:
            sys.exit("parameters differ by more than 1e-3")
    print("  twinscore params " + ", ".join(f"{k}={v:.4f}" for k, v in t_ts[3].params_.items())
          + f", {t_ts[3].n_iter_} iterations")
    print(row("scipy L-BFGS-B, numpy likelihood, all clients", *t_sp[:3]))
    print(row("scipy L-BFGS-B, numpy likelihood, weighted patterns", *t_spc[:3]))
    print(row("twinscore BetaGeo(compress=False) (vs scipy all)", *t_full[:3], ref=t_sp[0]))
    print(row("twinscore BetaGeo() (vs scipy all)", *t_ts[:3], ref=t_sp[0]))
    print(row("twinscore BetaGeo() (vs scipy patterns)", *t_ts[:3], ref=t_spc[0]))
    lt = lifetimes_fit(x, t, T, repeat=args.lifetimes_repeat)
    if lt is not None:
        diff = np.max(np.abs(np.array(lt["params"]) - ours))
        print("  lifetimes params " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("r", "alpha", "a", "b"),
                                                                                lt["params"]))
              + f"; max |parameter difference| vs twinscore {diff:.1e} ({'within' if diff <= 1e-3 else 'NOT within'}"
              " 1e-3)")
        print(row("lifetimes BetaGeoFitter.fit, all clients", lt["time"], lt["min"], lt["max"]))
        print(row("twinscore BetaGeo(compress=False) (vs lifetimes)", *t_full[:3], ref=lt["time"]))
        print(row("twinscore BetaGeo() (vs lifetimes)", *t_ts[:3], ref=lt["time"]))
        ratio = lt["time"] / t_ts[0]
        print(f"  target >= 10x lifetimes, same parameters within 1e-3: {ratio:.1f}x, "
              f"{'met' if ratio >= 10 and diff <= 1e-3 else 'NOT met'}")
    if not args.skip_pymc:
        pm = pymc_fit(x, t, T, repeat=1)
        if pm is not None:
            report_pymc(pm, ours, t_ts)
    bench_cdnow_lifetimes()


# Run in lifetimes' own venv: ParetoNBDFitter on saved summaries (weighted patterns when given).
LIFETIMES_PARETO_SCRIPT = LIFETIMES_SCRIPT.replace("BetaGeoFitter", "ParetoNBDFitter").replace(
    'float(p["a"]), float(p["b"])', 'float(p["s"]), float(p["beta"])')


def simulate_pareto(n, r=0.55, alpha=10.5, s=0.6, beta=11.7, seed=3) -> pd.DataFrame:
    """Pareto/NBD clients (CDNOW-like parameters) observed 1 to 52 weeks, purchases on whole days."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    T = rng.integers(7, 365, n) / 7.0
    end = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * end).astype(float)
    tx = np.where(x > 0, end * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0)
    tx = np.minimum(np.ceil(tx * 7) / 7, T)  # purchase days
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def bench_pareto():
    n = args.fit_clients
    print(f"\nPareto/NBD fit: {n:,} simulated clients, {args.threads} threads")
    s = simulate_pareto(n)
    x, t, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    keys = np.unique(np.stack([x, t, T], 1), axis=0)
    print(f"  {len(keys):,} distinct (frequency, recency, T) patterns")
    ts.set_num_threads(args.threads)
    t_ts = timeit(lambda: ts.ParetoNBD().fit(s), args.repeat)
    m = t_ts[3]
    ours = np.array(list(m.params_.values()))
    print("  twinscore params " + ", ".join(f"{k}={v:.4f}" for k, v in m.params_.items())
          + f", LL={m.log_likelihood_:.2f}, {m.n_iter_} iterations")
    print(row("twinscore ParetoNBD()", *t_ts[:3]))
    lt = peer_fit("lifetimes", args.lifetimes_python, LIFETIMES_PARETO_SCRIPT, x, t, T, None,
                  args.lifetimes_repeat)
    if lt is None:
        return
    rel = np.max(np.abs(np.array(lt["params"]) - ours) / ours)
    print("  lifetimes params " + ", ".join(f"{k}={v:.4f}" for k, v in zip(m.params_, lt["params"]))
          + f"; max relative parameter difference vs twinscore {rel:.1e}"
          f" ({'within' if rel <= 1e-3 else 'NOT within'} 1e-3); twinscore LL there "
          f"{m.log_likelihood(s) - _at(lt['params']).log_likelihood(s):+.3f} higher than at lifetimes' parameters")
    print(row("lifetimes ParetoNBDFitter.fit, all clients", lt["time"], lt["min"], lt["max"]))
    print(row("twinscore ParetoNBD() (vs lifetimes)", *t_ts[:3], ref=lt["time"]))
    ratio = lt["time"] / t_ts[0]
    print(f"  target >= 10x lifetimes, same parameters within 1e-3: {ratio:.1f}x, "
          f"{'met' if ratio >= 10 and rel <= 1e-3 else 'NOT met'}")


def _at(params):
    """A ParetoNBD holding given parameters (to evaluate the likelihood there)."""
    m = ts.ParetoNBD()
    m.params_ = dict(zip(("r", "alpha", "s", "beta"), map(float, params)))
    return m


def bench_intervals():
    """Per-client 95 % intervals (expected purchases in 52 weeks, P(alive), 12-month CLV) from `draws`
    parameter draws, on simulated summaries in whole days (so clients share (frequency, T) pairs, as real
    summaries do). No peer computes these (lifetimes has no parameter covariance; pymc-marketing's
    posterior predictive needs the full posterior in memory)."""
    n, draws = args.interval_clients, args.draws
    print(f"\nPer-client intervals: {n:,} simulated clients, {draws} parameter draws, {args.threads} threads")
    s = simulate(n)
    rng = np.random.default_rng(2)
    s["monetary_value"] = np.where(s["frequency"] > 0, rng.gamma(6.0, 35.0 / 6.0, n), 0.0)
    pairs = len(np.unique(s[["frequency", "T"]].to_numpy(), axis=0))
    print(f"  {pairs:,} distinct (frequency, T) pairs")
    ts.set_num_threads(args.threads)
    bg, gg = ts.BetaGeo().fit(s), ts.GammaGamma().fit(s)
    print(bg.summary().to_string(float_format=lambda v: f"{v:.4g}"))
    t_pt = timeit(lambda: bg.predict(s, 52.0), args.repeat)
    t_e = timeit(lambda: bg.predict(s, 52.0, interval=0.95, draws=draws), args.repeat)
    t_a = timeit(lambda: bg.probability_alive(s, interval=0.95, draws=draws), args.repeat)
    t_v = timeit(lambda: ts.lifetime_value(bg, gg, s, months=12, interval=0.95, draws=draws), args.repeat)
    print(row("BetaGeo.predict(t=52), point", *t_pt[:3]))
    print(row(f"BetaGeo.predict(t=52, interval=0.95, draws={draws})", *t_e[:3]))
    print(row(f"BetaGeo.probability_alive(interval=0.95, draws={draws})", *t_a[:3]))
    print(row(f"lifetime_value(months=12, interval=0.95, draws={draws})", *t_v[:3]))
    width = (t_v[3]["upper"] - t_v[3]["lower"]) / t_v[3]["clv"]
    print(f"  median relative CLV interval width {np.median(width):.3f}; "
          f"point inside its interval for {np.mean((t_v[3]['lower'] <= t_v[3]['clv']) & (t_v[3]['clv'] <= t_v[3]['upper'])):.1%}")


# ---------------------------------------------------------------- pipeline: 100M transactions, bounded memory

# The simulated log, chunk by chunk (never whole): BG/NBD purchases (r = 2, alpha = 8 per week, drop-out
# Beta(1, 20) after each purchase) over two years from a first purchase uniform in those years, lognormal
# amounts, random 40-bit client ids, one chunk of clients at a time (its rows shuffled). Plain numpy, so
# the peers' venvs run the same code (exec'd there) and read the same log.
GENERATOR = r"""
import numpy as np

START_NS = np.datetime64("2024-01-01", "ns").astype(np.int64)
HORIZON_WEEKS = 104.0

def simulate_chunk(k, n, offset, r=2.0, alpha=8.0, a=1.0, b=20.0):
    rng = np.random.default_rng(1000 + k)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    idx, t = np.arange(n), rng.uniform(0, HORIZON_WEEKS, n)
    who, when = [idx], [t]
    while len(idx):  # the next purchase, then drop-out with p (after repeat purchases only, as the BG/NBD)
        t = t + rng.exponential(1 / lam[idx])
        keep = t <= HORIZON_WEEKS
        idx, t = idx[keep], t[keep]
        who.append(idx)
        when.append(t)
        alive = rng.random(len(idx)) >= p[idx]
        idx, t = idx[alive], t[alive]
    who, when = np.concatenate(who), np.concatenate(when)
    order = rng.permutation(len(who))
    ids = ((np.arange(offset, offset + n, dtype=np.int64) * 2654435761) % (1 << 40))  # distinct, scattered
    date = START_NS + (when[order] * 7 * 86400e9).astype(np.int64)
    return ids[who[order]], date, np.round(rng.lognormal(3.5, 0.8, len(who)), 2)

def log_chunks(n_clients, chunk_clients):
    for k, lo in enumerate(range(0, n_clients, chunk_clients)):
        yield simulate_chunk(k, min(chunk_clients, n_clients - lo), lo)

END = np.datetime64("2024-01-01", "ns") + np.timedelta64(int(HORIZON_WEEKS * 7), "D")
"""


def pipeline_twinscore(n_clients: int, chunk_clients: int) -> dict:
    """Streamed summary, fits and CLV with 95 % intervals for every client, in this process."""
    import resource

    gen = {}
    exec(GENERATOR, gen)
    ts.set_num_threads(args.threads)
    rows = [0]
    t_gen = [0.0]

    def frames():
        it = gen["log_chunks"](n_clients, chunk_clients)
        while True:
            t0 = time.perf_counter()
            try:
                ids, date, amount = next(it)
            except StopIteration:
                return
            t_gen[0] += time.perf_counter() - t0
            rows[0] += len(ids)
            yield pd.DataFrame({"client": ids, "date": date.view("datetime64[ns]"), "amount": amount})

    t0 = time.perf_counter()
    s = ts.calibration_summary(frames(), customer="client", date="date", amount="amount",
                               calibration_end=gen["END"])
    t_sum = time.perf_counter() - t0 - t_gen[0]
    t0 = time.perf_counter()
    bg = ts.BetaGeo().fit(s)
    gg = ts.GammaGamma().fit(s)
    t_fit = time.perf_counter() - t0
    t_pred = None
    if args.pipeline_predict:  # the other interval calls, same engine pattern (pairs, then clients)
        t0 = time.perf_counter()
        bg.predict(s, 52.0, interval=0.95, draws=args.draws)
        bg.probability_alive(s, interval=0.95, draws=args.draws)
        t_pred = time.perf_counter() - t0
    t0 = time.perf_counter()
    ts.lifetime_value(bg, gg, s, months=12, monthly_discount=0.01)
    t_point = time.perf_counter() - t0
    t0 = time.perf_counter()
    v = ts.lifetime_value(bg, gg, s, months=12, monthly_discount=0.01, interval=0.95, draws=args.draws)
    t_clv = time.perf_counter() - t0
    return {"rows": rows[0], "clients": len(s), "generate": t_gen[0], "summary": t_sum, "fit": t_fit,
            "clv_point": t_point, "clv": t_clv, "predict_alive_intervals": t_pred, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "params": list(bg.params_.values()), "clv_total": float(v["clv"].sum()),
            "width": float(np.median((v["upper"] - v["lower"]) / v["clv"]))}


# The peers' pipelines, run in their venvs: the whole log in memory (neither streams), their own summary
# function (transactions -> frequency / recency / T in days, turned into weeks as twinscore's), their fits
# and their point CLV (neither gives per-client CLV intervals from a maximum-likelihood / MAP fit).
PEER_PIPELINE = {
    "lifetimes": r"""
import warnings; warnings.filterwarnings("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
def pipeline(tx):
    s = summary_data_from_transaction_data(tx, "client", "date", monetary_value_col="amount",
                                           observation_period_end=pd.Timestamp(END), freq="D")
    t1 = time.perf_counter()
    s["recency"] /= 7.0; s["T"] /= 7.0
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    t2 = time.perf_counter()
    clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12,
                                     discount_rate=0.01, freq="W")
    return s, t1, t2, [float(bg.params_[k]) for k in ("r", "alpha", "a", "b")]
""",
    "pymc-marketing": r"""
import warnings, logging; warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
from pymc_marketing.clv.utils import rfm_summary
def pipeline(tx):
    s = rfm_summary(tx, "client", "date", monetary_value_col="amount", observation_period_end=pd.Timestamp(END),
                    time_unit="D")
    t1 = time.perf_counter()
    s["recency"] /= 7.0; s["T"] /= 7.0
    flat = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")}
    bg = BetaGeoModel(data=s[["customer_id", "frequency", "recency", "T"]], model_config=flat)
    bg.fit(method="map", progressbar=False)
    rep = s[s["frequency"] > 0]
    gg = GammaGammaModel(data=rep[["customer_id", "frequency", "monetary_value"]],
                         model_config={k: Prior("HalfFlat") for k in ("p", "q", "v")})
    gg.fit(method="map", progressbar=False)
    t2 = time.perf_counter()
    gg.expected_customer_lifetime_value(transaction_model=bg, data=s, future_t=12, discount_rate=0.01,
                                        time_unit="W")
    post = bg.idata.posterior
    return s, t1, t2, [float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")]
""",
}

PEER_MAIN = r"""
import json, resource, sys, time, numpy as np, pandas as pd
n_clients, chunk_clients = int(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
parts = list(log_chunks(n_clients, chunk_clients))
tx = pd.DataFrame({"client": np.concatenate([p[0] for p in parts]),
                   "date": np.concatenate([p[1] for p in parts]).view("datetime64[ns]"),
                   "amount": np.concatenate([p[2] for p in parts])})
del parts
t_gen = time.perf_counter() - t0
t0 = time.perf_counter()
s, t1, t2, params = pipeline(tx)
t3 = time.perf_counter()
print(json.dumps({"rows": len(tx), "clients": len(s), "generate": t_gen, "summary": t1 - t0, "fit": t2 - t1,
                  "clv": t3 - t2, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "params": params}))
"""

LIMIT_S, LIMIT_BYTES = 600, 8 << 30


def run_limited(cmd: list[str], limit_s: float = LIMIT_S) -> dict:
    """Runs one pipeline process; stops it past `limit_s` or 8 GiB resident (polled each second)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0, peak = time.perf_counter(), 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
            peak = max(peak, rss)
        except (OSError, StopIteration):
            pass
        if time.perf_counter() - t0 > limit_s or peak > LIMIT_BYTES:
            proc.kill()
            proc.wait()
            why = "10 min" if peak <= LIMIT_BYTES else "8 GiB"
            return {"stopped": f"stopped past {why} ({time.perf_counter() - t0:.0f} s, {peak / 2**30:.1f} GiB)"}
        time.sleep(1.0)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"stopped": f"failed: {(err.strip().splitlines() or ['?'])[-1][:200]}"}
    return json.loads(out.strip().splitlines()[-1])


def bench_pipeline():
    sizes = [int(v) for v in args.pipeline.split(",") if v]
    print(f"\nPipeline: simulated log (~10 transactions a client) generated in chunks of "
          f"{args.pipeline_chunk_clients:,} clients; summary + BG/NBD + Gamma-Gamma + 12-month CLV, {args.threads} "
          f"threads; twinscore with 95 % intervals ({args.draws} draws) for every client")
    peers = {"lifetimes": args.lifetimes_python, "pymc-marketing": args.pymc_python}
    stopped = set()
    for n in sizes:
        runs = {"twinscore": run_limited([sys.executable, os.path.abspath(__file__), "--pipeline-run", str(n),
                                          "--pipeline-chunk-clients", str(args.pipeline_chunk_clients),
                                          "--threads", str(args.threads), "--draws", str(args.draws)]
                                         + (["--pipeline-predict"] if args.pipeline_predict else []),
                                         limit_s=float("inf"))}  # the 10-minute stop is for the peers
        for name, python in peers.items():
            if n > args.pipeline_peers_max or name in stopped or not os.path.exists(python):
                continue
            runs[name] = run_limited([python, "-c", GENERATOR + PEER_PIPELINE[name] + PEER_MAIN, str(n),
                                      str(args.pipeline_chunk_clients)])
            if "stopped" in runs[name]:
                stopped.add(name)  # not tried on larger logs
        ours = runs["twinscore"].get("params")
        for name, r in runs.items():
            if "stopped" in r:
                print(f"  {n:>11,} clients  {name:<15} {r['stopped']}")
                continue
            total = r["summary"] + r["fit"] + r["clv"]
            diff = "" if ours is None or name == "twinscore" else \
                f"; params vs twinscore max rel diff {np.max(np.abs(np.array(r['params']) / ours - 1)):.1e}"
            point = f"  (point clv {r['clv_point']:.1f} s)" if "clv_point" in r else ""
            if r.get("predict_alive_intervals") is not None:
                point += f"  (predict + P(alive) with 95 % intervals {r['predict_alive_intervals']:.1f} s)"
            clv = "clv+95%" if "clv_point" in r else "clv    "
            print(f"  {n:>11,} clients {r['rows']:>12,} rows  {name:<15} summary {r['summary']:7.1f} s  fit "
                  f"{r['fit']:7.1f} s  {clv} {r['clv']:7.1f} s  total {total:7.1f} s  (generating "
                  f"{r['generate']:.1f} s){point}  peak RSS {r['maxrss'] / 2**30:5.2f} GiB{diff}")
        if "params" in runs["twinscore"]:
            r = runs["twinscore"]
            print("    twinscore BG/NBD " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("r", "alpha", "a", "b"),
                                                                                   r["params"]))
                  + f" (simulated 2, 8, 1, 20); median relative CLV interval width {r['width']:.3f}")


if __name__ == "__main__" and args.pipeline_run:
    print(json.dumps(pipeline_twinscore(int(args.pipeline_run), args.pipeline_chunk_clients)))
    sys.exit(0)

if __name__ == "__main__":
    print(machine_line())
    if args.pipeline:
        bench_pipeline()
        sys.exit(0)
    if args.only_pareto:
        bench_pareto()
        sys.exit(0)
    if not args.skip_intervals:
        bench_intervals()
    if not args.skip_rfm:
        bench_rfm()
    if not args.skip_fit:
        bench_bgnbd()
    if not args.skip_pareto:
        bench_pareto()
