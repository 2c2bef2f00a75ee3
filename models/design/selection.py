"""``select_batch``: the round's batch, by acquisition with a diversity constraint.

acquisition = predicted pIC50 + kappa x uncertainty (an upper confidence bound: kappa = 0.5
by default, leaning to exploitation, with some credit for what the model is unsure about).
Candidates are taken greedily by tier, then acquisition (ties by InChIKey): tier 1 is in the
applicability domain and passes ``GATE``; the rest (tier 2) only once tier 1 is exhausted.
A candidate is skipped when its Morgan r2 Tanimoto to an already picked one exceeds
``config.diversity``; picking stops at ``config.batch_size``. ``rank`` orders every candidate:
the picked ones in pick order, then the rest by tier and acquisition.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from rdkit import DataStructs

from models.design.config import DesignConfig
from models.design.similarity import fingerprints


def select_batch(scored: pl.DataFrame, config: DesignConfig) -> pl.DataFrame:
    """``scored`` (from ``score_designs``) plus acquisition, selected and rank (module doc)."""
    n = scored.height
    acq = (scored["predicted_pic50"].cast(pl.Float64).to_numpy()
           + config.kappa * scored["uncertainty"].cast(pl.Float64).to_numpy())
    acq = np.where(np.isfinite(acq), acq, -np.inf)
    tier = np.where(scored["in_domain"].fill_null(False).to_numpy()
                    & scored["passes_gate"].fill_null(False).to_numpy(), 1, 2)
    keys = scored["inchikey"].to_list()
    order = sorted(range(n), key=lambda i: (tier[i], -acq[i], keys[i] or ""))
    fps = fingerprints(scored["smiles"].to_list())
    picked: list[int] = []
    picked_fps: list = []
    for i in order:
        if len(picked) >= config.batch_size:
            break
        if fps[i] is None:
            continue
        if picked_fps and max(DataStructs.BulkTanimotoSimilarity(fps[i], picked_fps)) > config.diversity:
            continue
        picked.append(i)
        picked_fps.append(fps[i])
    chosen = set(picked)
    ranking = picked + [i for i in order if i not in chosen]
    rank = np.empty(n, dtype=np.int64)
    rank[ranking] = np.arange(1, n + 1)
    selected = np.zeros(n, dtype=bool)
    selected[picked] = True
    return scored.with_columns(pl.Series("acquisition", acq), pl.Series("selected", selected),
                               pl.Series("rank", rank, dtype=pl.Int32))
