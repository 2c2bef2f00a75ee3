"""Settings of one design run (``DesignConfig``) and the cheap property gate (``GATE``).

``GATE`` is the Done-when filter: QED >= 0.5, SA score <= 4, MW <= 500 and no PAINS or
Brenk alert. ``passes_gate`` is the one place it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DesignConfig:
    seed: int = 0
    batch_size: int = 96             # designs chosen per round
    oracle_budget: int = 3000        # max objective evaluations (all generators together)
    ga_population: int = 100
    ga_offspring: int = 200
    n_parents: int = 8               # best tested compounds a round starts from
    domain_similarity: float = 0.35  # in_domain = max Tanimoto (Morgan r2) to training >= this
    kappa: float = 0.5               # acquisition: pred + kappa * uncertainty
    diversity: float = 0.7           # no two batch members with Tanimoto above this
    max_seconds: float = 120.0       # wall-clock bound of one target's design run
    shortlist: int = 500             # candidates ``propose`` returns (best objective first)
    exploit_fraction: float = 0.5    # share of the batch picked by pred - kappa * unc (selection doc)


GATE = dict(qed_min=0.5, sa_max=4.0, mw_max=500.0)  # + no PAINS/Brenk alert


def passes_gate(qed: np.ndarray, sa: np.ndarray, mw: np.ndarray, n_alerts: np.ndarray) -> np.ndarray:
    """True where QED, SA score and MW are within ``GATE`` and no PAINS/Brenk alert matched;
    a missing (NaN) property fails."""
    qed, sa, mw = (np.asarray(v, dtype=np.float64) for v in (qed, sa, mw))
    with np.errstate(invalid="ignore"):
        ok = (qed >= GATE["qed_min"]) & (sa <= GATE["sa_max"]) & (mw <= GATE["mw_max"])
    return ok & (np.asarray(n_alerts) == 0)
