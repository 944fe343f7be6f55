"""Tables that outgrow one machine: twinscore's engines on Dask DataFrames.

    import dask.dataframe as dd
    import twinscore.dask as tsd

    prospects = dd.read_parquet("prospects/*.parquet")        # tens of millions of rows
    scorer = tsd.DaskTreeScorer.from_xgboost("conversion.ubj")
    scores = scorer.predict(prospects)                         # a lazy dask Series, same index
    reasons = scorer.top_reasons(prospects, top=3)             # a lazy dask DataFrame
    scores.to_frame().to_parquet("scores/")

    model = tsd.DaskLogisticScorer(C=1.0).fit(train_sample, y)  # fitted in memory
    proba = model.predict_proba(prospects)                     # one column per class
    segment = tsd.DaskKMeans(n_clusters=8).fit(sample).predict(prospects)

    index = tsd.DaskTwinIndex(block_on=["sex"]).fit(clients, population=sample)
    lookalike = index.lookalike_score(prospects, id="contact_id")   # a lazy dask Series
    audience = index.expand(prospects, fraction=0.05, id="contact_id")  # computed

    events = dd.read_parquet("events/*.parquet")               # partitioned any way
    features = tsd.aggregate_events(events, now="2026-11-01")   # shuffled by contact
    leads = tsd.score_leads(contacts, events, "lead_rules.toml", now="2026-11-01")

Each estimator subclasses the local one: given pandas or numpy input it
behaves exactly as the local one; given a Dask DataFrame it maps the local
model over the partitions (empty partitions included) and returns a Dask
Series or DataFrame, so results join back to the contact table. Models are
fitted in memory (a training table or a population is a sample; scoring is
what runs on every contact). ``to_local()`` returns the plain estimator. The
models pickle (a TreeScorer as the model bytes it was read from, a
TwinIndex as its model file), so they run on a distributed cluster as well
as on Dask's local schedulers; the engines inside a worker use
``twinscore.set_num_threads`` threads.
"""

from .events import aggregate as aggregate_events
from .events import score_leads
from .scorers import DaskKMeans, DaskLogisticScorer, DaskTreeScorer
from .criteria import apply_scorecard, discriminating_criteria
from .segments import segment_profiles
from .twins import DaskTwinIndex
from .value import DaskBetaGeo, DaskGammaGamma, calibration_summary, lifetime_value, rfm

__all__ = ["DaskLogisticScorer", "DaskTreeScorer", "DaskKMeans", "DaskTwinIndex", "aggregate_events", "score_leads",
           "rfm", "calibration_summary", "lifetime_value", "DaskBetaGeo", "DaskGammaGamma", "segment_profiles",
           "discriminating_criteria", "apply_scorecard"]
