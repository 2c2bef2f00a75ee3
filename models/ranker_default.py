"""The untrained fallback: Exomiser hiPHIVE's logistic combination of variant and phenotype scores.

Exomiser combines its variant score and its (hiPHIVE) phenotype score for a gene as
``1 / (1 + exp(-(-13.28813 + 10.39451 * variant + 9.18381 * phenotype)))``; the coefficients
were fitted by the Exomiser team on simulated exomes and are used here unchanged because a
lake with fewer than ``min_solved`` solved patients has nothing better to fit on.

No expression term is added by default: there is no published calibration for one, and an
invented weight would silently change the documented Exomiser combination. ``weights`` is a
plain linear-logit map, so a deployment can add e.g. ``{"expr_score": 1.0}`` deliberately.
"""

from __future__ import annotations

import numpy as np

INTERCEPT = "intercept"

EXOMISER_HIPHIVE_WEIGHTS: dict[str, float] = {
    INTERCEPT: -13.28813,
    "variant_score": 10.39451,
    "pheno_score": 9.18381,
}


def default_logit_terms(x: np.ndarray, features: list[str], weights: dict[str, float]) -> tuple[np.ndarray, float]:
    """Per-feature logit terms (n x len(features)) and the intercept of the linear default model.

    Missing values contribute 0: with no variant (or phenotype) evidence the gene gets no
    credit for it, which is what Exomiser does for a gene without a qualifying variant.
    """
    unknown = set(weights) - set(features) - {INTERCEPT}
    if unknown:
        raise ValueError(f"default weights name feature(s) not in the feature list: {sorted(unknown)}")
    coef = np.array([weights.get(f, 0.0) for f in features], dtype=np.float64)
    terms = np.nan_to_num(x, nan=0.0) * coef
    return terms, float(weights.get(INTERCEPT, 0.0))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out
