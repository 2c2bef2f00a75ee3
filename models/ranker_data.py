"""Input checks and shaping for the ranker: the feature list, the design matrix and the patient split."""

from __future__ import annotations

import numpy as np
import polars as pl

from features import contract

# The ranker's features: the columns feature service target_ranking_v1 serves from view
# patient_gene_evidence (features/contract.py), in model order. Any may be null (= missing).
RANKER_SERVICE = contract.GENE_RANKER_SERVICE
RANKER_VIEW = "patient_gene_evidence"
FEATURES: list[str] = list(contract.service_columns(RANKER_SERVICE)[RANKER_VIEW])

# Domain knowledge as constraints (XGBoost monotone_constraints): a more damaging, rarer or
# better-segregating variant, or a better phenotype match, never lowers a gene's score; excluded
# terms the disease has, or a variant carried by an unaffected parent, never raise it. 0 = free
# (counts and z-scores whose direction depends on the mode or the gene).
MONOTONE: dict[str, int] = {
    "variant_score": 1, "var_max_pathogenicity": 1, "var_freq_score": 1, "var_has_lof": 1,
    "var_moi_consistent": 1, "var_max_revel": 1, "var_max_cadd": 1,
    "pheno_score": 1, "pheno_gene_bma": 1, "pheno_disease_bma": 1, "pheno_rank_pct": 1,
    "pheno_excluded_penalty": -1, "pheno_lr_log10": 1, "pheno_lr_post": 1, "pheno_phenodigm": 1,
    "expr_score": 1,
    "seg_de_novo": 1, "seg_biallelic_trans": 1, "seg_hemi_maternal": 1,
    "seg_inherited_unaffected": -1,
}


def monotone_constraints(feature_names: list[str]) -> str:
    """XGBoost's ``monotone_constraints`` string for these features, in order."""
    return "(" + ",".join(str(MONOTONE.get(f, 0)) for f in feature_names) + ")"


KEYS = ("patient_id", "gene_symbol")


def prepare(features: pl.DataFrame, feature_names: list[str]) -> pl.DataFrame:
    """Validate the candidate table and return it with every feature as Float64 and the label columns typed.

    Every feature must be a column: one that is absent (dropped from the feature view or
    the service) raises ``contract.ContractError`` naming the view and the column, rather
    than being scored as missing evidence; a present column may hold nulls (no evidence).
    Absent ``is_training``/``is_causal`` mean "not solved". Raises ValueError naming the
    column, patient and gene for missing keys, duplicate candidates, non-numeric or
    infinite feature values.
    """
    missing_keys = [k for k in KEYS if k not in features.columns]
    if missing_keys:
        raise ValueError(f"ranker input lacks key column(s) {missing_keys}; has {features.columns}")
    require_features(features.columns, feature_names)
    frame = features.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("gene_symbol").cast(pl.String),
        _bool_col(features, "is_training", default=False),
        _bool_col(features, "is_causal", default=None),
        *[_float_col(features, name) for name in feature_names],
    )
    for key in KEYS:
        nulls = frame[key].null_count()
        if nulls:
            first = frame.with_row_index("row").filter(pl.col(key).is_null())["row"][0]
            raise ValueError(f"ranker input has {nulls} row(s) with null {key} (first at row {first})")
    dups = frame.group_by(KEYS).len().filter(pl.col("len") > 1).sort(KEYS)
    if dups.height:
        shown = ", ".join(f"{r['patient_id']}/{r['gene_symbol']}" for r in dups.head(5).iter_rows(named=True))
        raise ValueError(f"ranker input has {dups.height} duplicate (patient_id, gene_symbol) candidate(s): {shown}")
    for name in feature_names:
        bad = frame.filter(pl.col(name).is_infinite())
        if bad.height:
            r = bad.row(0, named=True)
            raise ValueError(
                f"ranker input column {name} has {bad.height} infinite value(s), "
                f"e.g. patient {r['patient_id']} gene {r['gene_symbol']}"
            )
    mixed = frame.group_by("patient_id").agg(pl.col("is_training").n_unique().alias("n")).filter(pl.col("n") > 1)
    if mixed.height:
        raise ValueError(
            "is_training differs between candidate rows of the same patient: "
            + ", ".join(sorted(mixed["patient_id"].to_list())[:5])
        )
    return frame


def require_features(columns, feature_names: list[str]) -> None:
    """Raise ``contract.ContractError`` when a feature the model reads is not a column."""
    have = set(columns)
    missing = [f for f in feature_names if f not in have]
    if missing:
        declared = set(contract.VIEWS[RANKER_VIEW].column_names)
        named = ", ".join(f"{RANKER_VIEW}:{f}" if f in declared else f"{f} (not in the contract)"
                          for f in missing)
        raise contract.ContractError(
            f"ranker input lacks {len(missing)} feature column(s): {named}; the ranker reads them "
            f"from feature service {RANKER_SERVICE} and will not score a missing column as "
            f"missing evidence (a null value in a present column is fine)")


def _bool_col(features: pl.DataFrame, name: str, default: bool | None) -> pl.Expr:
    if name not in features.columns:
        return pl.lit(default, dtype=pl.Boolean).alias(name)
    expr = pl.col(name).cast(pl.Boolean)
    return (expr.fill_null(default) if default is not None else expr).alias(name)


def _float_col(features: pl.DataFrame, name: str) -> pl.Expr:
    dtype = features.schema[name]
    if not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
        raise ValueError(f"ranker input column {name} must be numeric or boolean, got {dtype}")
    # NaN and null both mean "no evidence"; NaN would otherwise sort above every real score.
    return pl.col(name).cast(pl.Float64).fill_nan(None).alias(name)


def matrix(frame: pl.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The n x features float32 design matrix, nulls as NaN (XGBoost's missing value)."""
    if not feature_names:
        return np.empty((frame.height, 0), dtype=np.float32)
    return frame.select(feature_names).to_numpy().astype(np.float32, copy=False)


def solved_patients(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Solved patients split into (causal gene among candidates, causal gene not a candidate), each sorted."""
    per = (
        frame.filter(pl.col("is_training"))
        .group_by("patient_id")
        .agg(pl.col("is_causal").fill_null(False).any().alias("has_causal"))
    )
    usable = sorted(per.filter(pl.col("has_causal"))["patient_id"].to_list())
    missed = sorted(per.filter(~pl.col("has_causal"))["patient_id"].to_list())
    return usable, missed


def split_patients(patients: list[str], holdout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of patient IDs into (train, held-out); at least one of each when the fraction is > 0."""
    ids = sorted(patients)
    if holdout_fraction <= 0 or len(ids) < 2:
        return ids, []
    order = np.random.default_rng(seed).permutation(len(ids))
    n_hold = min(max(1, int(round(holdout_fraction * len(ids)))), len(ids) - 1)
    held = sorted(ids[i] for i in order[:n_hold])
    train = sorted(ids[i] for i in order[n_hold:])
    return train, held
