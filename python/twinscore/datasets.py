"""Generated PRM / CRM data with planted structure, and the CDNOW purchase logs.

:func:`make_prm` draws a market of contacts from a few latent *personas*. A
persona fixes the odds of sex, age band and region, a taste over product
categories (skewed, Zipf-like popularity), an activity level and a *quality*.
Clients are drawn with more weight on high-quality personas (they are the ones
who converted), so resembling the clients — same sex, same age band, same
categories visited — is a real signal, and so is behaviour: the prospects'
conversion depends on their quality, on recent page views (decayed with a
30-day half-life), e-mail clicks, forms and newsletter sign-ups, and against
unsubscribes. Baskets are log-normal; conversion is rare (3 % by default).

Like a real contact table, the market also holds columns that do not drive
conversion at all — the device, the size of the town, the household size and
the acquisition campaign (forty codes of Zipf-like popularity) — with skewed
categories and missing values. They are drawn alike for prospects and
clients, independently of the personas, so a lookalike method that weighs
every column the same is misled by them, as it is on real tables; they come
from a random stream of their own, so the other columns are the same for a
seed as before they were added.
Everything is vectorised numpy, deterministic for a seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _frames
from ._validation import check_float, check_int

__all__ = ["PRMData", "make_prm", "load_cdnow", "PRM_LEAD_RULES", "SEXES", "AGE_BANDS", "REGIONS", "CATEGORIES",
           "EVENT_TYPES", "CHANNELS", "DEVICES", "CITY_SIZES", "CAMPAIGNS", "NOISE_COLUMNS"]

SEXES = ["F", "M"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
REGIONS = ["Île-de-France", "Auvergne-Rhône-Alpes", "Nouvelle-Aquitaine", "Occitanie", "Hauts-de-France",
           "Grand Est", "Provence-Alpes-Côte d'Azur", "Bretagne"]
CATEGORIES = ["books", "music", "video", "games", "toys", "garden", "kitchen", "beauty", "fashion-women",
              "fashion-men", "shoes", "sports", "outdoor", "travel", "wine", "gourmet", "baby", "pets",
              "home-decor", "diy", "electronics", "phones", "computers", "photo"]
CHANNELS = ["web", "partner", "event", "game", "newsletter", "social"]
# Columns that do not drive conversion (see _noise): skewed, with missing values.
DEVICES = ["mobile", "desktop", "tablet"]
CITY_SIZES = ["rural", "town", "city", "metropolis"]
CAMPAIGNS = [f"C{j:02d}" for j in range(1, 41)]
EVENT_TYPES = ["page_view", "email_send", "email_open", "email_click", "form_fill", "newsletter_signup",
               "unsubscribe"]

_NS_PER_DAY = 86_400 * 10**9
_MAX_CONTACTS = 50_000_000  # prospects or clients of make_prm
_HISTORY_DAYS = 900  # the oldest client signs up 900 days before now (purchases start within 730)
_N_PERSONAS = 8

# A lead-scoring rule set (see :mod:`twinscore.leads`) for the event types and
# attributes of the generated market: a starting point to edit, not a fitted model.
PRM_LEAD_RULES = {
    "half_life_days": 30,
    "fit": [
        {"name": "core age", "column": "age_band", "points_by_value": {"25-34": 10, "35-44": 10, "45-54": 5}},
        {"name": "income 40k+", "column": "income", "min": 40000, "points": 5},
        {"name": "opted in", "column": "email_optin", "min": 1, "points": 5},
    ],
    "behaviour": [
        {"name": "page views", "event": "page_view", "points": 1, "cap": 15},
        {"name": "high-ticket pages", "event": "page_view", "category": ["electronics", "computers", "travel"],
         "points": 3, "cap": 15},
        {"name": "e-mail opens", "event": "email_open", "points": 2, "cap": 10},
        {"name": "e-mail clicks", "event": "email_click", "points": 5, "cap": 20},
        {"name": "forms", "event": "form_fill", "points": 15, "half_life_days": 60},
        {"name": "newsletter", "event": "newsletter_signup", "points": 10, "half_life_days": None},
        {"name": "unsubscribed", "event": "unsubscribe", "points": -50, "half_life_days": None},
    ],
    "grades": {"A": 20, "B": 10, "C": 5},
    "lowest_grade": "D",
    "mql_threshold": 30,
}


@dataclass
class PRMData:
    """A generated market: prospects, clients, the prospects' events, the clients' purchases."""

    prospects: pd.DataFrame
    clients: pd.DataFrame
    events: pd.DataFrame
    transactions: pd.DataFrame
    now: pd.Timestamp
    truth: pd.DataFrame = field(repr=False)
    seed: int = 0

    def __repr__(self) -> str:
        return (f"PRMData(prospects={len(self.prospects):,}, clients={len(self.clients):,}, "
                f"events={len(self.events):,}, transactions={len(self.transactions):,}, now={self.now.date()}, "
                f"seed={self.seed})")


@dataclass
class _Personas:
    share: np.ndarray      # (P,) base share in the market
    quality: np.ndarray    # (P,) drives conversion and value
    activity: np.ndarray   # (P,) mean events multiplier
    p_female: np.ndarray   # (P,)
    age_cdf: np.ndarray    # (P, bands)
    region_cdf: np.ndarray  # (P, regions)
    cat_cdf: np.ndarray    # (P, categories)
    type_cdf: np.ndarray   # (P, event types)


def _cdf(p: np.ndarray) -> np.ndarray:
    c = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    c[:, -1] = 1.0
    return c


def _draw_personas(rng: np.random.Generator) -> _Personas:
    P = _N_PERSONAS
    k = len(CATEGORIES)
    popularity = 1.0 / np.arange(1, k + 1) ** 1.1  # Zipf-like: a few categories dominate
    taste = rng.dirichlet(np.full(k, 0.25), size=P)
    cat = 0.55 * taste + 0.45 * popularity / popularity.sum()
    modes = rng.integers(0, len(AGE_BANDS), size=P)
    age = np.exp(-0.8 * np.abs(np.arange(len(AGE_BANDS))[None, :] - modes[:, None])) + 0.05
    region = rng.dirichlet(np.full(len(REGIONS), 0.7), size=P) + 0.02
    quality = np.linspace(1.5, -1.0, P)
    base_types = np.array([0.55, 0.22, 0.11, 0.045, 0.03, 0.025, 0.02])
    # Better personas open, click and fill forms more, and unsubscribe less.
    lift = np.exp(np.outer(quality, [0.0, 0.0, 0.25, 0.5, 0.5, 0.3, -0.6]))
    return _Personas(
        share=rng.dirichlet(np.full(P, 6.0)),
        quality=quality,
        activity=np.exp(rng.normal(0.0, 0.3, size=P) + 0.2 * quality),
        p_female=rng.uniform(0.2, 0.8, size=P),
        age_cdf=_cdf(age),
        region_cdf=_cdf(region),
        cat_cdf=_cdf(cat),
        type_cdf=_cdf(base_types[None, :] * lift),
    )


def _sample_rows(rng: np.random.Generator, cdf: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One draw per row from the distribution of the row's group (vectorised:
    the per-group CDFs are laid end to end, shifted by the group index)."""
    k = cdf.shape[1]
    flat = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()
    pos = np.searchsorted(flat, group + rng.random(len(group)), side="right")
    return np.minimum(pos - group * k, k - 1).astype(np.int32)


def _categorical(codes: np.ndarray, categories, ordered: bool = False) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=categories, ordered=ordered)


def _list_column(rows: np.ndarray, items: np.ndarray, n: int, names) -> pd.Series:
    """An Arrow list<string> column: row r holds the distinct names[items] of its pairs."""
    k = len(names)
    pairs = np.unique(rows.astype(np.int64) * k + items)
    r, c = pairs // k, pairs % k
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=offsets[1:])
    values = pa.array(names, type=pa.large_string()).take(pa.array(c))
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.LargeListArray.from_arrays(pa.array(offsets), values)))


def _attributes(rng, personas: _Personas, persona: np.ndarray, now_ns: int, signup_days: float) -> dict:
    n = len(persona)
    sex = (rng.random(n) >= personas.p_female[persona]).astype(np.int8)
    age = _sample_rows(rng, personas.age_cdf, persona)
    region = _sample_rows(rng, personas.region_cdf, persona)
    income = np.exp(rng.normal(10.0 + 0.08 * age + 0.1 * personas.quality[persona], 0.45)).round(-2)
    income[rng.random(n) < 0.12] = np.nan  # declared income is often left blank
    channel = rng.integers(0, len(CHANNELS), size=n).astype(np.int8)
    signup = now_ns - (rng.random(n) * signup_days * _NS_PER_DAY).astype(np.int64)
    return {
        "sex": _categorical(sex, SEXES),
        "age_band": _categorical(age, AGE_BANDS, ordered=True),
        "region": _categorical(region, REGIONS),
        "income": income,
        "channel": _categorical(channel, CHANNELS),
        "signup_date": signup.view("datetime64[ns]"),
    }


NOISE_COLUMNS = ["device", "city_size", "household_size", "campaign"]


def _with_missing(rng, codes: np.ndarray, share: float) -> np.ndarray:
    """Codes with a share of them set to -1 (missing)."""
    return np.where(rng.random(len(codes)) < share, -1, codes)


def _noise(rng, n: int) -> dict:
    """Columns that do not drive conversion, drawn alike for every contact:
    skewed categories (a dominant device, a long tail of campaign codes) and
    missing values, as in a real contact table."""
    device = _sample_rows(rng, _cdf(np.array([[0.62, 0.31, 0.07]])), np.zeros(n, np.int64))
    city = _sample_rows(rng, _cdf(np.array([[0.21, 0.37, 0.29, 0.13]])), np.zeros(n, np.int64))
    zipf = 1.0 / np.arange(1, len(CAMPAIGNS) + 1) ** 1.3
    campaign = _sample_rows(rng, _cdf(zipf[None, :]), np.zeros(n, np.int64))
    household = 1.0 + rng.poisson(1.1, size=n)
    household[rng.random(n) < 0.25] = np.nan
    return {
        "device": _categorical(_with_missing(rng, device, 0.04), DEVICES),
        "city_size": _categorical(_with_missing(rng, city, 0.09), CITY_SIZES, ordered=True),
        "household_size": household,
        "campaign": _categorical(_with_missing(rng, campaign, 0.15), CAMPAIGNS),
    }


def _insert_after(frame: pd.DataFrame, column: str, new: dict) -> pd.DataFrame:
    at = frame.columns.get_loc(column) + 1
    for j, (name, values) in enumerate(new.items()):
        frame.insert(at + j, name, values)
    return frame


def _events(rng, personas: _Personas, persona: np.ndarray, mean_events: float, now_ns: int, days: int):
    """The prospects' event log and, per prospect, the behaviour that drives conversion."""
    n = len(persona)
    engagement = rng.gamma(0.7, 1 / 0.7, size=n) * personas.activity[persona]
    counts = rng.poisson(mean_events * engagement)
    contact = np.repeat(np.arange(n, dtype=np.int64), counts)
    ev_persona = persona[contact]
    etype = _sample_rows(rng, personas.type_cdf, ev_persona)
    is_view = etype == 0
    category = np.full(len(contact), -1, dtype=np.int32)
    category[is_view] = _sample_rows(rng, personas.cat_cdf, ev_persona[is_view])
    age_days = rng.exponential(45.0, size=len(contact)) % days
    ts = now_ns - (age_days * _NS_PER_DAY).astype(np.int64)

    def per_contact(mask, weights=None):
        return np.bincount(contact[mask], weights=None if weights is None else weights[mask], minlength=n)

    behaviour = {
        "views_decayed": per_contact(is_view, 0.5 ** (age_days / 30.0)),
        "clicked": per_contact(etype == 3) > 0,
        "form": per_contact(etype == 4) > 0,
        "newsletter": per_contact(etype == 5) > 0,
        "unsubscribed": per_contact(etype == 6) > 0,
    }
    events = pd.DataFrame({
        "contact_id": contact + 1,
        "timestamp": ts.view("datetime64[ns]"),
        "type": _categorical(etype, EVENT_TYPES),
        "category": _categorical(category, CATEGORIES),
    })
    visited = _list_column(contact[is_view], category[is_view], n, CATEGORIES)
    return events, visited, behaviour


def _conversion(rng, quality: np.ndarray, b: dict, rate: float):
    z = (1.0 * quality + 0.7 * np.log1p(b["views_decayed"]) + 0.8 * b["clicked"] + 1.2 * b["form"]
         + 0.5 * b["newsletter"] - 1.5 * b["unsubscribed"])
    lo, hi = -20.0, 5.0  # intercept by bisection so that the mean probability is `rate`
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if (1.0 / (1.0 + np.exp(-(z + mid)))).mean() < rate:
            lo = mid
        else:
            hi = mid
    p = 1.0 / (1.0 + np.exp(-(z + 0.5 * (lo + hi))))
    return p, (rng.random(len(p)) < p).astype(np.int8)


def _transactions(rng, personas: _Personas, persona: np.ndarray, ids: np.ndarray, now_ns: int):
    n = len(persona)
    q = personas.quality[persona]
    n_tx = 1 + rng.poisson(3.0 * np.exp(0.5 * q + rng.normal(0, 0.5, size=n)))
    first_days = 30 + rng.random(n) * 700  # first purchase 30 to 730 days ago
    life_days = rng.exponential(400.0 * np.exp(0.3 * q))  # then the client may lapse
    end_days = np.maximum(first_days - life_days, 0.0)
    row = np.repeat(np.arange(n), n_tx)
    start = np.zeros(len(row), dtype=bool)
    start[np.cumsum(n_tx) - n_tx] = True  # each client's first transaction
    u = np.where(start, 0.0, rng.random(len(row)))
    days_ago = first_days[row] - u * (first_days[row] - end_days[row])
    basket = np.exp(rng.normal(np.log(60.0) + 0.3 * q[row], 0.6)).round(2)
    tx = pd.DataFrame({
        "client_id": ids[row],
        "date": (now_ns - (days_ago * _NS_PER_DAY).astype(np.int64)).view("datetime64[ns]"),
        "amount": basket,
    })
    revenue = np.bincount(row, weights=basket, minlength=n)
    first = (now_ns - (first_days * _NS_PER_DAY).astype(np.int64)).view("datetime64[ns]")
    return tx, n_tx, revenue, first


def make_prm(n_prospects: int = 200_000, n_clients: int = 20_000, *, seed: int = 0,
             conversion_rate: float = 0.03, mean_events: float = 8.0, days: int = 180,
             now: str | pd.Timestamp = "2026-11-01") -> PRMData:
    """Generate prospects, clients, an event log and a transaction log.

    Parameters
    ----------
    n_prospects, n_clients : number of contacts of each kind (>= 1).
    seed : the data are a pure function of the arguments.
    conversion_rate : mean probability that a prospect converts (0 < rate < 1).
    mean_events : mean events per prospect over the window.
    days : length of the event window, ending at ``now``.

    Returns
    -------
    PRMData with ``prospects`` (contact_id, sex, age_band, region, income,
    channel, the noise columns device, city_size, household_size and
    campaign, signup_date, email_optin, categories visited, converted),
    ``clients`` (client_id, the same attributes, categories bought,
    first_purchase, n_orders, revenue, margin), ``events`` (contact_id, timestamp, type,
    category), ``transactions`` (client_id, date, amount), ``now``, and
    ``truth`` (each prospect's persona and conversion probability).
    """
    # Sizes a machine can hold (each prospect has ~mean_events events), a window of dates pandas can
    # count in, and a seed numpy takes: checked before a byte is drawn.
    n_prospects = check_int(n_prospects, "n_prospects", min_value=1, max_value=_MAX_CONTACTS)
    n_clients = check_int(n_clients, "n_clients", min_value=1, max_value=_MAX_CONTACTS)
    days = check_int(days, "days", min_value=1, max_value=36_500)
    seed = check_int(seed, "seed", min_value=0)
    conversion_rate = check_float(conversion_rate, "conversion_rate", min_value=0.0, strict_min=True)
    if not conversion_rate < 1.0:
        raise ValueError(f"conversion_rate must be in (0, 1), got {conversion_rate}")
    mean_events = check_float(mean_events, "mean_events", min_value=0.0, max_value=1_000.0)
    if n_prospects * max(mean_events, 1.0) > 10 * _MAX_CONTACTS:
        raise ValueError(f"n_prospects x mean_events = {n_prospects * mean_events:,.0f} events: more than "
                         f"{10 * _MAX_CONTACTS:,}, ask for fewer")
    now = _frames.timestamp(now, "now")
    earliest = now.value - (max(days, _HISTORY_DAYS) + 1) * _NS_PER_DAY  # the oldest date drawn, in ns
    if earliest < pd.Timestamp("1677-09-22").value:
        raise ValueError(f"now = {now} leaves no room for {max(days, _HISTORY_DAYS):,} days of history before it "
                         "within the dates twinscore counts in (from 1677-09-22)")
    now_ns = int(now.value)
    rng = np.random.default_rng(seed)
    personas = _draw_personas(rng)

    p_persona = rng.choice(_N_PERSONAS, size=n_prospects, p=personas.share).astype(np.int64)
    client_w = personas.share * np.exp(1.5 * personas.quality)
    c_persona = rng.choice(_N_PERSONAS, size=n_clients, p=client_w / client_w.sum()).astype(np.int64)

    prospects = pd.DataFrame({"contact_id": np.arange(1, n_prospects + 1, dtype=np.int64),
                              **_attributes(rng, personas, p_persona, now_ns, 365.0)})
    prospects["email_optin"] = rng.random(n_prospects) < 0.6
    events, visited, behaviour = _events(rng, personas, p_persona, mean_events, now_ns, days)
    prospects["categories"] = visited
    prob, converted = _conversion(rng, personas.quality[p_persona], behaviour, conversion_rate)
    prospects["converted"] = converted

    client_ids = np.arange(10_000_001, 10_000_001 + n_clients, dtype=np.int64)
    clients = pd.DataFrame({"client_id": client_ids, **_attributes(rng, personas, c_persona, now_ns, 900.0)})
    m = 1 + rng.poisson(2.0, size=n_clients)
    rows = np.repeat(np.arange(n_clients), m)
    clients["categories"] = _list_column(rows, _sample_rows(rng, personas.cat_cdf, c_persona[rows]), n_clients,
                                         CATEGORIES)
    transactions, n_tx, revenue, first = _transactions(rng, personas, c_persona, client_ids, now_ns)
    clients["first_purchase"] = first
    clients["n_orders"] = n_tx
    clients["revenue"] = revenue.round(2)
    clients["margin"] = (revenue * rng.uniform(0.2, 0.4, size=n_clients)).round(2)
    # The noise columns from a stream of their own: the other columns stay as they were for a seed.
    noise_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    _insert_after(prospects, "channel", _noise(noise_rng, n_prospects))
    _insert_after(clients, "channel", _noise(noise_rng, n_clients))
    truth = pd.DataFrame({"contact_id": prospects["contact_id"], "persona": p_persona, "p_convert": prob})
    return PRMData(prospects=prospects, clients=clients, events=events, transactions=transactions, now=now,
                   truth=truth, seed=seed)


def _data_dir() -> Path | None:
    """Where the CDNOW logs are: $TWINSCORE_DATA, or ../shared/data beside a checkout."""
    env = os.environ.get("TWINSCORE_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents] + [Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if (c / "CDNOW_master.txt").exists() or (c / "CDNOW_sample.txt").exists():
            return c
    return None


def load_cdnow(which: str = "master", path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The CDNOW purchase log (Fader & Hardie's public data set), one row per purchase.

    Parameters
    ----------
    which : ``"master"`` (23,570 customers) or ``"sample"`` (the 1-in-10
        sample; its master id is kept as ``master_id``).
    path : the file, or the folder holding ``CDNOW_master.txt`` /
        ``CDNOW_sample.txt``; by default ``$TWINSCORE_DATA`` or
        ``../shared/data`` beside a checkout.

    Returns
    -------
    DataFrame with customer_id, date (datetime64), n_cds, amount (dollars).

    Raises
    ------
    FileNotFoundError
        When the file is not there.
    """
    if which not in ("master", "sample"):
        raise ValueError(f"which must be 'master' or 'sample', got {which!r}")
    if path is None:
        d = _data_dir()
        if d is None:
            raise FileNotFoundError("CDNOW data not found: set TWINSCORE_DATA to the folder holding CDNOW_*.txt")
        path = d / f"CDNOW_{which}.txt"
    elif Path(path).is_dir():
        path = Path(path) / f"CDNOW_{which}.txt"
    if not Path(path).is_file():
        raise FileNotFoundError(f"CDNOW data not found: {path} is not a file")
    names = ["customer_id", "date", "n_cds", "amount"]
    if which == "sample":
        names = ["master_id"] + names
    with open(path, encoding="ascii", errors="replace") as f:
        has_header = not f.readline().strip()[:1].isdigit()
    df = pd.read_csv(path, sep=r"\s+", header=None, names=names, skiprows=int(has_header),
                     dtype={"date": str, "customer_id": "int64", "n_cds": "int64", "amount": "float64"})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df
