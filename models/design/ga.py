"""Graph GA (Jensen 2019) through ``mol_ga`` (Tripp & Hernandez-Lobato), the strongest
simple baseline of the PMO benchmark under a limited oracle budget (Gao et al. 2022).

``mol_ga.run_ga_maximization`` is run one generation at a time on one cached scoring
function and one seeded ``random.Random``, so that the oracle budget and the wall-clock
deadline are checked between generations: a generation is only started when the budget
left covers its offspring (the last one is shrunk to fit). mol_ga scores each generation's
population as a set, whose order depends on string hashing; the oracle wraps every call
(``Oracle``) and is a pure function of each molecule, so the result depends on the seed only.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence

from mol_ga import run_ga_maximization
from mol_ga.cached_function import CachedBatchFunction
from mol_ga.graph_ga.gen_candidates import graph_ga_blended_generation
from mol_ga.sample_population import uniform_quantile_sampling


MAX_STALLED = 5  # generations in a row without a new molecule end the run


def run(start: Sequence[str], score: Callable[[list[str]], list[float]], budget_left: Callable[[], int],
        population: int, offspring: int, seed: int, deadline: float) -> None:
    """Evolve from ``start`` while ``budget_left()`` and the deadline allow; every molecule
    the GA makes is scored through ``score`` (which records it), nothing is returned."""
    if not start:
        return
    rng = random.Random(seed)
    cached = CachedBatchFunction(score)
    pop = sorted(set(start))
    stalled = 0
    while time.monotonic() < deadline and stalled < MAX_STALLED:
        left = budget_left()
        n_off = min(offspring, left)
        if n_off < 1:
            break
        result = run_ga_maximization(
            scoring_func=cached, starting_population_smiles=set(pop),
            sampling_func=uniform_quantile_sampling, offspring_gen_func=graph_ga_blended_generation,
            selection_func=heapq.nlargest, max_generations=1, population_size=population,
            offspring_size=n_off, rng=rng)
        pop = [smi for _, smi in result.population]
        stalled = stalled + 1 if budget_left() == left else 0
