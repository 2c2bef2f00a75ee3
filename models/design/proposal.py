"""``propose``: candidate molecules around a target's best tested compounds.

Three generators share one budgeted oracle (``oracle.Oracle``: every candidate is
standardized like a library compound, deduplicated by InChIKey, and costs one objective
evaluation the first time it is seen):

1. the parents themselves are scored (they seed the GA);
2. matched-molecular-pair transformations learned from the corpus (``mmp``) are applied to the
   parents, best median delta pIC50 first, up to ``MMP_SHARE`` of the budget (only when
   ``corpus_pic50`` is given: the transformations are ranked by measured deltas);
3. BRICS fragment replacement (``brics``): one small BRICS piece of a parent swapped for a
   compatible piece of another parent or of the most potent corpus compounds, up to
   ``BRICS_SHARE`` of the budget;
4. Graph GA (``ga``, mol-ga) from the best ``ga_population`` molecules scored so far (parents
   and the MMP/BRICS products), until the budget or ``max_seconds`` is spent.

Returns the ``config.shortlist`` best-scoring new molecules (not a parent, not in the corpus),
with the generator that first made each and its parent: the parent the MMP rule or BRICS
replacement was applied to, or for GA products the most similar parent (Morgan r2 Tanimoto).
Deterministic for a seed when the run finishes within ``max_seconds`` (the time bound is a
safety stop; the oracle budget is the bound that shapes the result).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from rdkit import Chem

from models.design import brics, ga, mmp
from models.design.config import DesignConfig
from models.design.oracle import FAILED, Oracle
from models.design.sanity import refusal
from models.design.similarity import fingerprints, max_similarity
from models.design.structures import standardized

MMP_SHARE = 0.25
BRICS_SHARE = 0.10
MMP_TIME_SHARE = 0.15    # of max_seconds, for learning the rules, and again for applying them
BRICS_TIME_SHARE = 0.10  # of max_seconds, for the BRICS enumeration
MMP_CORPUS = 600      # corpus compounds (most similar to the parents) the MMP rules are learned from
MMP_MAX_HEAVY = 50    # larger corpus compounds are not used as MMP / BRICS sources (cost grows with size)
BRICS_SOURCES = 20    # most potent corpus compounds whose fragments join the parents'
PROPOSAL_SCHEMA = {"smiles": pl.String, "inchikey": pl.String, "parent_smiles": pl.String,
                   "method": pl.String, "objective": pl.Float64}


def _standardized(smiles: Sequence[str]) -> list[tuple[int, str, str]]:
    """(input index, parent SMILES, InChIKey) of each SMILES that standardizes."""
    out = []
    for i, smi in enumerate(smiles):
        s = standardized(smi)
        if s is not None:
            out.append((i, s[0], s[1]))
    return out


def _mmp_corpus(corpus: list[str], pic50: list[float], parent_fps: list) -> tuple[list[str], list[float]]:
    """The ``MMP_CORPUS`` labelled compounds nearest to the parents (ties by SMILES)."""
    rows = [(s, y) for s, y in zip(corpus, pic50) if y is not None and np.isfinite(y)]
    if len(rows) > MMP_CORPUS:
        sim, _ = max_similarity(fingerprints([s for s, _ in rows]), parent_fps)
        order = sorted(range(len(rows)), key=lambda i: (-sim[i], rows[i][0]))[:MMP_CORPUS]
        rows = [rows[i] for i in sorted(order)]
    return [s for s, _ in rows], [float(y) for _, y in rows]


def propose(parents: list[str], corpus: list[str], objective: Callable[[list[str]], np.ndarray],
            config: DesignConfig, corpus_pic50: Sequence[float] | None = None) -> pl.DataFrame:
    """Candidates around ``parents`` (best first; the first ``n_parents`` are used) scored by
    ``objective`` (higher better) within ``oracle_budget`` evaluations (module doc)."""
    start = time.monotonic()
    deadline = start + config.max_seconds
    std_parents = [s for _, s, _ in _standardized(parents)][: config.n_parents]
    std_corpus = _standardized(corpus)
    known = {k for _, _, k in _standardized(std_parents)} | {k for _, _, k in std_corpus}
    if not std_parents:
        return pl.DataFrame(schema=PROPOSAL_SCHEMA)
    oracle = Oracle(objective, config.oracle_budget)
    oracle.score(std_parents, "parent")
    parent_fps = fingerprints(std_parents)

    if corpus_pic50 is not None:
        if len(corpus_pic50) != len(corpus):
            raise ValueError(f"{len(corpus)} corpus SMILES but {len(corpus_pic50)} pIC50 values")
        labelled = [(s, corpus_pic50[i]) for i, s, _ in std_corpus if _usable(s)]
        learn_smiles, learn_y = _mmp_corpus([s for s, _ in labelled], [y for _, y in labelled], parent_fps)
        rules = mmp.learn(learn_smiles, learn_y, time.monotonic() + MMP_TIME_SHARE * config.max_seconds)
        products = mmp.apply(std_parents, rules, int(MMP_SHARE * config.oracle_budget),
                             time.monotonic() + MMP_TIME_SHARE * config.max_seconds)
        oracle.score([p for p, _, _ in products], "mmp", [par for _, par, _ in products])
        potent = [s for s, y in sorted(labelled, key=lambda t: (-_finite(t[1]), t[0]))]
    else:
        potent = [s for _, s, _ in std_corpus if _usable(s)]

    built = brics.build(std_parents, potent[:BRICS_SOURCES], int(BRICS_SHARE * config.oracle_budget),
                        config.seed, time.monotonic() + BRICS_TIME_SHARE * config.max_seconds)
    oracle.score([p for p, _ in built], "brics", [par for _, par in built])

    seeds = sorted(oracle.records.values(), key=lambda r: (-r.score, r.inchikey))[: config.ga_population]
    ga.run([r.smiles for r in seeds], lambda smis: oracle.score(smis, "graph_ga"), oracle.left,
           config.ga_population, config.ga_offspring, config.seed, deadline)
    return _result(oracle, known, std_parents, parent_fps, config.shortlist)


def _finite(y) -> float:
    return float(y) if y is not None and np.isfinite(y) else -np.inf


def _usable(smiles: str) -> bool:
    """A corpus compound MMP rules and BRICS pieces may come from: parses, passes the
    sanity rules (no isotope label, ...), at most ``MMP_MAX_HEAVY`` heavy atoms."""
    mol = Chem.MolFromSmiles(smiles)
    return mol is not None and mol.GetNumHeavyAtoms() <= MMP_MAX_HEAVY and refusal(mol) is None


def _result(oracle: Oracle, known: set[str], parents: list[str], parent_fps: list, limit: int
            ) -> pl.DataFrame:
    recs = [r for r in oracle.records.values()
            if r.method != "parent" and r.inchikey not in known and r.score > FAILED]
    recs.sort(key=lambda r: (-r.score, r.inchikey))
    recs = recs[:limit]
    if not recs:
        return pl.DataFrame(schema=PROPOSAL_SCHEMA)
    _, nearest = max_similarity(fingerprints([r.smiles for r in recs]), parent_fps)
    return pl.DataFrame({
        "smiles": [r.smiles for r in recs],
        "inchikey": [r.inchikey for r in recs],
        "parent_smiles": [r.parent if r.parent else (parents[j] if j >= 0 else None)
                          for r, j in zip(recs, nearest)],
        "method": [r.method for r in recs],
        "objective": [r.score for r in recs],
    }, schema=PROPOSAL_SCHEMA)
