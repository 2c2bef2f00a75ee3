"""Training and scoring frames through the feature services.

Training rows are labelled events: an entity and the time the label was observed. Feast's
point-in-time join gives each row the features the lake held at that time, so evidence
that arrived after a diagnosis or a screen (a phenotype added once the answer was known,
say) never reaches the model. Scoring asks the same feature service as of now.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import polars as pl

from features import contract as C
from orchestration.feature_store.history import EVENT, PRESENT, latest
from orchestration.feature_store.sync import now_utc, read_history
from orchestration.feature_store.tables import polars_schema
from orchestration.settings import LakePaths

RANKER_SERVICE = C.GENE_RANKER_SERVICE
COMPOUND_SERVICE = C.COMPOUND_ACTIVITY_SERVICE
RANKER_FEATURES = list(C.service_columns(RANKER_SERVICE)["patient_gene_evidence"])
# columns of the activity labels absent from a history written before potency labels
LABEL_POTENCY_COLUMNS = {c: polars_schema("compound_activity_labels")[c]
                         for c in ("pic50", "pic50_source", "censored")}


def historical(store, features: str | list[str], entities: pl.DataFrame) -> pl.DataFrame:
    """Point-in-time features (a feature service's name, or feature references) for an
    entity frame (join keys + event_timestamp), in the entity frame's row order. A
    service's frame must hold every column the contract says it serves (ContractError
    naming the view and column otherwise): a model never reads a dropped column as nulls."""
    if entities.is_empty():
        raise ValueError(f"no entity rows to retrieve {features} for")
    frame = entities.with_row_index("_row").to_pandas()
    frame[EVENT] = pd.to_datetime(frame[EVENT], utc=True)
    wanted = store.get_feature_service(features) if isinstance(features, str) else features
    job = store.get_historical_features(entity_df=frame, features=wanted)
    out = pl.from_pandas(job.to_df()).sort("_row").drop("_row")
    if isinstance(features, str) and features in C.SERVICES:
        C.require_columns(out.columns, features, what=f"the point-in-time frame of {features}")
    return out


def present(paths: LakePaths, name: str, keys: list[str]) -> pl.DataFrame:
    """The current (not removed) rows of a feature table or label set."""
    history = read_history(paths, name)
    if history is None or history.is_empty():
        return pl.DataFrame()
    return latest(history, keys).filter(pl.col(PRESENT))


def ranker_training_frame(paths: LakePaths, store) -> tuple[pl.DataFrame, list[str]]:
    """(every candidate gene of every solved patient with the ranker's features as of the
    time the diagnosis reached the lake, ``is_training`` and ``is_causal``; the solved
    patients who had no candidate evidence at that time and so cannot be trained on).

    A gene that was not yet a candidate at that time has no row then and is left out."""
    labels = present(paths, "gene_ranker_labels", ["patient_id"])
    evidence = read_history(paths, "patient_gene_evidence")
    if labels.is_empty() or evidence is None:
        return pl.DataFrame(), []
    candidates = (evidence.select("patient_id", "gene_symbol").unique()
                  .join(labels.select("patient_id", EVENT), on="patient_id"))
    if candidates.is_empty():
        return pl.DataFrame(), sorted(labels["patient_id"].to_list())
    frame = historical(store, RANKER_SERVICE, candidates.sort("patient_id", "gene_symbol"))
    as_of_label = frame.filter(~pl.all_horizontal(pl.col(RANKER_FEATURES).is_null()))
    causal = (labels.select("patient_id", pl.col("causal_genes").str.split(";").alias("gene_symbol"))
              .explode("gene_symbol").filter(pl.col("gene_symbol") != "")
              .with_columns(pl.lit(True).alias("is_causal")))
    without = sorted(set(labels["patient_id"].to_list()) - set(as_of_label["patient_id"].to_list()))
    return (as_of_label.join(causal, on=["patient_id", "gene_symbol"], how="left")
            .with_columns(pl.col("is_causal").fill_null(False), pl.lit(True).alias("is_training"))
            .drop(EVENT)), without


def ranker_scoring_frame(store, candidates: pl.DataFrame, as_of: datetime | None = None) -> pl.DataFrame:
    """``candidates`` (patient_id, gene_symbol and any other columns) with the ranker's
    features replaced by the feature service's values as of ``as_of`` (now)."""
    keys = candidates.select("patient_id", "gene_symbol").with_columns(
        pl.lit(as_of or now_utc()).alias(EVENT))
    features = historical(store, RANKER_SERVICE, keys).drop(EVENT)
    rest = candidates.drop([c for c in RANKER_FEATURES if c in candidates.columns])
    return rest.join(features, on=["patient_id", "gene_symbol"], how="left")


def activity_training_frame(paths: LakePaths, store) -> pl.DataFrame:
    """One row per labelled (target, structure): gene_symbol, inchikey, pic50, pic50_source,
    censored, label, source, evidence, event_timestamp (when the label reached the lake) and the activity service's
    features as of that time."""
    labels = present(paths, "compound_activity_labels", ["gene_symbol", "inchikey"])
    if labels.is_empty():
        return pl.DataFrame()
    # pic50 / pic50_source / censored are absent from a history written before potency
    # labels (a feature added since is null in the old versions): null here, never guessed
    extra = [pl.col(c) if c in labels.columns else pl.lit(None, dtype=t).alias(c)
             for c, t in LABEL_POTENCY_COLUMNS.items()]
    labels = labels.select("gene_symbol", "inchikey", *extra, "label", "source", "evidence", EVENT) \
        .sort("gene_symbol", "inchikey")
    props = historical(store, COMPOUND_SERVICE, labels.select("inchikey", EVENT))
    return pl.concat([labels, props.drop("inchikey", EVENT)], how="horizontal") \
        .filter(pl.col("morgan_fp").is_not_null())


def property_batches(store, inchikeys: list[str], batch_size: int,
                     as_of: datetime | None = None) -> Iterator[pl.DataFrame]:
    """The activity service's features for ``inchikeys`` as of now, ``batch_size`` at a time
    (a 100k library is scored without holding every fingerprint at once)."""
    as_of = as_of or now_utc()
    for start in range(0, len(inchikeys), batch_size):
        chunk = pl.DataFrame({"inchikey": inchikeys[start:start + batch_size]}).with_columns(
            pl.lit(as_of).alias(EVENT))
        frame = historical(store, COMPOUND_SERVICE, chunk).drop(EVENT)
        frame = frame.filter(pl.col("morgan_fp").is_not_null())
        if frame.height:
            yield frame
