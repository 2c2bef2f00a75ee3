"""Per-objective desirability functions (each maps a property to 0..1, higher better) and
their weighted geometric mean.

=============  ===========================================================  ======
objective      desirability                                                 weight
=============  ===========================================================  ======
potency        sigmoid((pIC50_eff - 6.5) / 0.75): 0.12 at 5, 0.66 at 7, 0.88 at 8  3
               pIC50_eff = predicted pIC50 - ``UNCERTAINTY_PENALTY`` x
               uncertainty (a lower confidence bound)
domain         min(1, max Tanimoto to training / ``domain_similarity``):           2
               1 inside the applicability domain, falling linearly outside
QED            sigmoid((QED - 0.45) / 0.07): 0.67 at 0.5, 0.9 at 0.6                1
SA score       sigmoid((4.25 - SA) / 0.3): 0.7 at 4 (the gate), 0.98 at 3          1
MW             sigmoid((520 - MW) / 15): 0.79 at 500, 0.99 at 450                  1
alerts         0.2 ** (number of PAINS + Brenk alerts)                             1
safety         0.5 ** (number of ADMET-AI flags: hERG, AMES, DILI, ClinTox)        1
novelty        min(1, 0.5 + 1.25 x novelty): 0.5 for a library compound's twin     0.5
=============  ===========================================================  ======

desirability = exp(sum_i w_i log d_i / sum_i w_i) over the objectives present (a missing
one, e.g. safety when no ADMET prediction was made, is left out rather than guessed). The
GA's objective (``make_objective``) is this with potency, domain, QED, SA, MW and alerts:
ADMET-AI is too slow to be an oracle and novelty against every library is applied to the
shortlist only (``score_designs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from models.design.config import DesignConfig
from models.design.similarity import fingerprints, max_similarity
from models.design.structures import standardized
from orchestration.chem.properties import compute_properties

UNCERTAINTY_PENALTY = 0.5
WEIGHTS = dict(potency=3.0, domain=2.0, qed=1.0, sa=1.0, mw=1.0, alerts=1.0, safety=1.0, novelty=0.5)
_FLOOR = 1e-6  # log of a zero desirability


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def effective_pic50(pred: np.ndarray, unc: np.ndarray) -> np.ndarray:
    """Predicted pIC50 minus ``UNCERTAINTY_PENALTY`` x uncertainty (the Pareto potency axis)."""
    return np.asarray(pred, dtype=np.float64) - UNCERTAINTY_PENALTY * np.asarray(unc, dtype=np.float64)


def d_potency(pred: np.ndarray, unc: np.ndarray) -> np.ndarray:
    return _sigmoid((effective_pic50(pred, unc) - 6.5) / 0.75)


def d_domain(max_sim: np.ndarray, threshold: float) -> np.ndarray:
    return np.clip(np.asarray(max_sim, dtype=np.float64) / threshold, 0.0, 1.0)


def d_qed(qed: np.ndarray) -> np.ndarray:
    return _sigmoid((np.asarray(qed, dtype=np.float64) - 0.45) / 0.07)


def d_sa(sa: np.ndarray) -> np.ndarray:
    return _sigmoid((4.25 - np.asarray(sa, dtype=np.float64)) / 0.3)


def d_mw(mw: np.ndarray) -> np.ndarray:
    return _sigmoid((520.0 - np.asarray(mw, dtype=np.float64)) / 15.0)


def d_alerts(n_alerts: np.ndarray) -> np.ndarray:
    return 0.2 ** np.asarray(n_alerts, dtype=np.float64)


def d_safety(n_flags: np.ndarray) -> np.ndarray:
    return 0.5 ** np.asarray(n_flags, dtype=np.float64)


def d_novelty(novelty: np.ndarray) -> np.ndarray:
    return np.clip(0.5 + 1.25 * np.asarray(novelty, dtype=np.float64), 0.0, 1.0)


def combine(terms: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted geometric mean of desirabilities (``WEIGHTS``); a NaN term is left out of
    that row's mean, a row with no term at all gets 0."""
    n = len(next(iter(terms.values())))
    num, den = np.zeros(n), np.zeros(n)
    for name, d in terms.items():
        d = np.asarray(d, dtype=np.float64)
        ok = ~np.isnan(d)
        num[ok] += WEIGHTS[name] * np.log(np.maximum(d[ok], _FLOOR))
        den[ok] += WEIGHTS[name]
    out = np.zeros(n)
    has = den > 0
    out[has] = np.exp(num[has] / den[has])
    return out


def cheap_terms(props: pl.DataFrame, pred: np.ndarray, unc: np.ndarray, max_sim: np.ndarray,
                config: DesignConfig) -> dict[str, np.ndarray]:
    """The oracle's terms from a ``compute_properties`` frame and the potency model."""
    n_alerts = (props["n_pains"].fill_null(0) + props["n_brenk"].fill_null(0)).to_numpy()
    return {
        # no prediction is no potency (0), not a term left out
        "potency": np.nan_to_num(d_potency(pred, unc), nan=0.0),
        "domain": d_domain(max_sim, config.domain_similarity),
        "qed": d_qed(props["qed"].fill_null(0.0).to_numpy()),
        "sa": d_sa(props["sa_score"].fill_null(10.0).to_numpy()),
        "mw": d_mw(props["mw"].fill_null(1e4).to_numpy()),
        "alerts": d_alerts(n_alerts),
    }


Potency = Callable[[pl.DataFrame], tuple[np.ndarray, np.ndarray]]


def make_objective(potency: Potency, train_smiles: Sequence[str], config: DesignConfig
                   ) -> Callable[[list[str]], np.ndarray]:
    """The GA's oracle: SMILES -> desirability of potency, domain, QED, SA, MW and alerts
    (module doc). Each SMILES is standardized like a library compound first; one that
    cannot be scores 0."""
    train_fps = fingerprints(list(train_smiles))

    def objective(smiles: list[str]) -> np.ndarray:
        std, keys, ok = [], [], []
        for i, smi in enumerate(smiles):
            s = standardized(smi)
            if s is None:
                continue
            std.append(s[0])
            keys.append(s[1])
            ok.append(i)
        out = np.zeros(len(smiles))
        if not ok:
            return out
        props = compute_properties(std, keys)
        valid = props["qed"].is_not_null().to_numpy()
        if not valid.any():
            return out
        props = props.filter(pl.Series(valid))
        pred, unc = potency(props)
        sim, _ = max_similarity(fingerprints(props["smiles"].to_list()), train_fps)
        score = combine(cheap_terms(props, np.asarray(pred), np.asarray(unc), sim, config))
        out[np.asarray(ok)[valid]] = score
        return out

    return objective
