"""Scaffold cross-validation folds: every Bemis–Murcko scaffold lands in exactly one fold.

Random splits put near-identical analogues on both sides and overstate how well a model does
on new chemotypes; scaffold splits are the usual, harsher estimate (Bemis & Murcko 1996;
used by e.g. MoleculeNet, Wu et al. 2018).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["scaffold_groups", "scaffold_folds"]


def scaffold_groups(scaffolds: Sequence[str | None], keys: Sequence[str] | None = None) -> np.ndarray:
    """Integer group id per row: rows sharing a non-empty scaffold share a group.

    Acyclic molecules (scaffold ``""`` or null) have no ring system in common with anything, so
    lumping them into one group would make one arbitrary giant "scaffold"; instead each is its own
    group, keyed by ``keys`` (e.g. the standardized SMILES, so duplicate rows of one structure
    stay together) or by row when ``keys`` is not given.
    """
    if keys is not None and len(keys) != len(scaffolds):
        raise ValueError(f"keys and scaffolds differ in length: {len(keys)} vs {len(scaffolds)}")
    ids: dict[tuple[str, str], int] = {}
    out = np.empty(len(scaffolds), dtype=np.int64)
    for i, sc in enumerate(scaffolds):
        if sc:
            key = ("scaffold", sc)
        else:
            key = ("acyclic", keys[i] if keys is not None else str(i))
        out[i] = ids.setdefault(key, len(ids))
    return out


def scaffold_folds(
    scaffolds: Sequence[str | None], n_folds: int = 5, seed: int = 0,
    labels: Sequence | np.ndarray | None = None, keys: Sequence[str] | None = None,
) -> np.ndarray:
    """Fold id (0..n_folds-1) per row; whole scaffold groups go to one fold (see ``scaffold_groups``).

    Balanced greedy split: groups are taken largest first (equal sizes in a ``seed``-shuffled
    order) and each goes to the fold with the fewest rows so far (lowest fold id on a tie), so
    fold sizes differ by at most the largest group. With ``labels``, groups containing positives
    are placed first, most positives first, each into the fold with the fewest positives (then
    fewest rows), so every fold gets positives whenever at least ``n_folds`` groups have any;
    the remaining groups then even out the fold sizes.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    groups = scaffold_groups(scaffolds, keys)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    sizes = np.bincount(groups, minlength=n_groups)
    pos = np.zeros(n_groups, dtype=np.int64)
    if labels is not None:
        lab = np.asarray(labels).astype(bool).ravel()
        if lab.size != groups.size:
            raise ValueError(f"labels and scaffolds differ in length: {lab.size} vs {groups.size}")
        pos = np.bincount(groups, weights=lab, minlength=n_groups).astype(np.int64)

    tiebreak = np.random.default_rng(seed).permutation(n_groups)
    fold_rows = np.zeros(n_folds, dtype=np.int64)
    fold_pos = np.zeros(n_folds, dtype=np.int64)
    group_fold = np.full(n_groups, -1, dtype=np.int64)

    with_pos = np.nonzero(pos > 0)[0]
    for g in with_pos[np.lexsort((tiebreak[with_pos], -sizes[with_pos], -pos[with_pos]))]:
        f = int(np.lexsort((np.arange(n_folds), fold_rows, fold_pos))[0])
        group_fold[g] = f
        fold_rows[f] += sizes[g]
        fold_pos[f] += pos[g]
    rest = np.nonzero(pos == 0)[0]
    for g in rest[np.lexsort((tiebreak[rest], -sizes[rest]))]:
        f = int(np.argmin(fold_rows))  # argmin returns the lowest index on ties
        group_fold[g] = f
        fold_rows[f] += sizes[g]
    return group_fold[groups]
