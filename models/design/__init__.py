"""Molecule design around a target's confirmed hits (README "Molecule design").

``propose`` generates candidates (Graph GA via mol-ga, matched-molecular-pair transformations
learned from the target's data, BRICS recombination) under one oracle budget,
``score_designs`` scores them on potency, uncertainty, applicability domain, ADMET, SA, QED,
alerts and novelty, ``select_batch`` picks a round's diverse batch by acquisition.
``make_objective`` is the GA's oracle built from a potency model (the design asset passes
``surrogate.committee``: the lake's activity model and its second opinions).
"""

from models.design.config import GATE, DesignConfig, passes_gate
from models.design.desirability import make_objective
from models.design.proposal import propose
from models.design.scoring import score_designs
from models.design.selection import select_batch

__all__ = ["DesignConfig", "GATE", "make_objective", "passes_gate", "propose", "score_designs",
           "select_batch"]
