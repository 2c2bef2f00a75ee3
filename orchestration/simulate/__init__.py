"""Sample-data simulator: landing batches with a hidden truth (`orphanlake generate`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from orchestration.simulate.batch import generate_batch

__all__ = ["generate_batch", "generate_sample_data", "screening_target"]


def screening_target(truth_tsv: Path) -> str:
    """The gene a lab would screen against first: the causal gene shared by most of the
    batch's patients (ties broken alphabetically)."""
    truth = pl.read_csv(truth_tsv, separator="\t")
    top = (truth.filter(pl.col("gene_symbol").is_not_null()).group_by("gene_symbol").len()
           .sort(["len", "gene_symbol"], descending=[True, False]))
    return top["gene_symbol"][0]


def generate_sample_data(home: Path, n_patients: int, seed: int, with_bad_files: bool = True,
                         screening: bool = True, target_gene: str | None = None,
                         **batch_options) -> dict:
    """A patient batch and, unless ``screening`` is off, compound libraries and screening
    runs against the batch's most common causal gene."""
    summary = {"patients": generate_batch(home, n_patients=n_patients, seed=seed,
                                          with_bad_files=with_bad_files, **batch_options)}
    if screening:
        from orchestration.simulate.screening import generate_screening

        target = target_gene or screening_target(Path(summary["patients"]["truth_path"]))
        summary["screening"] = generate_screening(home, seed=seed, target_gene=target,
                                                  with_bad_files=with_bad_files)
    return summary
