"""A gene x sample TPM matrix: log-normal baselines, biological noise, planted outliers.

A causal nonsense/frameshift variant (NMD) makes its gene an under-expression outlier in
~60% of those patients; every patient also gets a few random outlier genes as noise.
"""

from __future__ import annotations

import numpy as np
import polars as pl

NMD_OUTLIER_RATE = 0.6


def baseline(rng: np.random.Generator, n_genes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene log-TPM mean and between-sample sd (a fifth of genes barely expressed)."""
    mu = rng.normal(np.log(20.0), 1.4, n_genes)
    mu[rng.random(n_genes) < 0.2] = rng.normal(np.log(0.3), 1.0)
    sd = rng.uniform(0.15, 0.45, n_genes)
    return mu, sd


def tpm_matrix(rng: np.random.Generator, mu: np.ndarray, sd: np.ndarray, n_samples: int,
               down: dict[int, int]) -> tuple[np.ndarray, dict[int, list[tuple[int, str]]]]:
    """(genes x samples TPM, noise outliers per sample); down: sample -> gene to knock down."""
    logt = mu[:, None] + sd[:, None] * rng.standard_normal((len(mu), n_samples))
    noise: dict[int, list[tuple[int, str]]] = {}
    for j in range(n_samples):
        picks = rng.choice(len(mu), size=int(rng.integers(2, 6)), replace=False)
        for g in picks:
            up = bool(rng.random() < 0.5)
            logt[g, j] += (1 if up else -1) * rng.uniform(4, 7) * sd[g]
            noise.setdefault(j, []).append((int(g), "up" if up else "down"))
    for j, g in down.items():
        logt[g, j] = mu[g] + np.log(rng.uniform(0.05, 0.3))
    return np.exp(logt), noise


def write_tsv(path, genes: list[str], samples: list[str], tpm: np.ndarray) -> None:
    """gene_symbol then one TPM column per sample, 3 decimals, tab-separated."""
    df = pl.DataFrame({"gene_symbol": genes,
                       **{s: np.round(tpm[:, j], 3) for j, s in enumerate(samples)}})
    df.write_csv(path, separator="\t", float_precision=3)
