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
                         trials: bool = True, **batch_options) -> dict:
    """A patient batch and, unless ``screening`` is off, compound libraries and screening
    runs against the batch's most common causal gene; unless ``trials`` is off, two
    clinical trials of the screened drug in that gene's cohort."""
    summary = {"patients": generate_batch(home, n_patients=n_patients, seed=seed,
                                          with_bad_files=with_bad_files, **batch_options)}
    if screening:
        from orchestration.simulate.screening import generate_screening

        target = target_gene or screening_target(Path(summary["patients"]["truth_path"]))
        summary["screening"] = generate_screening(home, seed=seed, target_gene=target,
                                                  with_bad_files=with_bad_files)
    if trials:
        from orchestration.simulate.trial import generate_trials

        # a randomized and a single-arm trial of the screen's most potent approved drug, in
        # the target's disease cohort (simulate/trial.py; truth under truth/trials/)
        summary["trials"] = _flat(generate_trials(home, seed=seed, target_gene=target if screening else None,
                                                  with_bad_files=with_bad_files))
    return summary


def _flat(summary: dict) -> dict:
    """A nested summary as one level of printable values (the CLI prints key: value)."""
    out = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in _flat(v).items()})
        else:
            out[k] = v
    return out
