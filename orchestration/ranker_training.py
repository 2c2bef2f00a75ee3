"""Train the shipped gene ranker, reproducibly: `orphanlake train-ranker`.

Training data: every replayable published case of phenopacket-store (``simulate.replay``)
plus simulated solved patients (``orphanlake generate``'s simulator, normal and hard), each
set built into a lake of its own by the refresh's own assets (``feature_lake``), so the model
learns from exactly the features every lake computes. Measured by gene-grouped
cross-validation next to phenotype-only, variant-only and an Exomiser-style peer
(``models.exomiser_style``), with gene-bootstrap intervals and breakdowns by number of
observed terms, consequence class and source. The model and its metrics are written to
``models/pretrained/gene_ranker`` (a small file in git), which every new lake starts from.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from models import ranker
from models.exomiser_style import exomiser_score
from orchestration.settings import REPO_ROOT, LakePaths

SHIPPED_DIR = REPO_ROOT / "models" / "pretrained" / "gene_ranker"
BASELINES = {"exomiser_style": "exomiser_score", "exomiser_phenotype_only": "exomiser_pheno"}
STRESS_EVERY = 10  # every 10th case is replayed again under each stress
SIMULATED = ({"name": "simulated", "patients": 300, "seed": 9101, "hard": 0.1},
             {"name": "simulated_hard", "patients": 150, "seed": 9102, "hard": 1.0})


def _lake(workdir: Path, name: str, write_landing) -> tuple[pl.DataFrame, LakePaths]:
    """The candidate table of ``workdir/name``, building the lake the first time."""
    from orchestration.feature_lake import build_features

    home = workdir / name
    paths = LakePaths(home)
    if not (home / "truth").exists():
        write_landing(home)
    features = build_features(home)
    return features, paths


def _with_baselines(features: pl.DataFrame) -> pl.DataFrame:
    """The Exomiser-style peer's columns: its phenotype score is the lake's own
    ``pheno_phenodigm`` (``models.exomiser_style.exomiser_phenotype``, computed in
    phenotype_scoring; 0 for a gene without a disease, as Exomiser scores it)."""
    out = features.with_columns(pl.col("pheno_phenodigm").fill_null(0.0).alias("exomiser_pheno"))
    return out.with_columns(exomiser_score(out))


def _variant_of(name: str, truth: pl.DataFrame) -> pl.Expr:
    from orchestration.simulate.replay import STRESS

    if name == "replay_stress":
        return pl.col("patient_id").str.slice(0, 3).replace_strict(
            {f"RS{k}": STRESS[kind] for k, kind in enumerate(sorted(STRESS))}, default="stressed")
    return pl.lit("as published" if name == "replay" else "simulated")


def _terms_bin(n: pl.Expr) -> pl.Expr:
    return (pl.when(n <= 3).then(pl.lit("01-03")).when(n <= 7).then(pl.lit("04-07"))
            .when(n <= 15).then(pl.lit("08-15")).otherwise(pl.lit("16+")))


def training_sets(workdir: Path, seed: int = 0, max_cases: int | None = None
                  ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(candidates with baseline columns, patient → causal gene, patient strata) of the
    replayed corpus and the simulated cohorts, building their lakes under ``workdir``."""
    from orchestration.simulate import cohort
    from orchestration.simulate.batch import generate_batch
    from orchestration.simulate.replay import (STRESS, consequence_class, load_cases,
                                               replay_batch, stressed)

    cases, _ = load_cases()
    cases = cases[:max_cases] if max_cases else cases

    def replay(home: Path) -> None:
        replay_batch(home, cases, seed=seed)

    def stress(home: Path) -> None:
        # the same published cases as a sparser clinic sends them, scored by the fold model
        # that never saw their gene (eval_only): robustness, not training data
        picked = cases[::STRESS_EVERY]
        for k, kind in enumerate(sorted(STRESS)):
            replay_batch(home, [stressed(c, kind) for c in picked], seed=seed + 1 + k,
                         batch_id=kind, id_prefix=f"RS{k}")

    frames, genes, strata = [], [], []
    sets = [("replay", replay), ("replay_stress", stress)]
    for spec in SIMULATED:
        def simulate(home: Path, spec=spec) -> None:
            # the hard share is the simulator's own knob (fewer, blurrier terms, weaker missense)
            saved, cohort.HARD_FRACTION = cohort.HARD_FRACTION, spec["hard"]
            try:
                generate_batch(home, n_patients=spec["patients"], seed=spec["seed"],
                               solved_fraction=1.0, background_variants=6_000,
                               batch_id=spec["name"])
            finally:
                cohort.HARD_FRACTION = saved
        sets.append((spec["name"], simulate))
    for name, writer in sets:
        features, paths = _lake(workdir, name, writer)
        truth = pl.concat([pl.read_csv(t, separator="\t", infer_schema_length=0)
                           for t in sorted(paths.truth.glob("*/truth.tsv"))], how="diagonal")
        prefix = f"{name}:"
        frames.append(_with_baselines(features).with_columns(
            (pl.lit(prefix) + pl.col("patient_id")).alias("patient_id")))
        genes.append(truth.select((pl.lit(prefix) + pl.col("patient_id")).alias("patient_id"),
                                  "gene_symbol"))
        cls = (pl.col("consequence_class") if "consequence_class" in truth.columns else
               pl.col("causal_consequences").map_elements(
                   lambda s: consequence_class(set(s.split(";"))), return_dtype=pl.String))
        strata.append(truth.select(
            (pl.lit(prefix) + pl.col("patient_id")).alias("patient_id"),
            pl.lit(name).alias("source"),
            _variant_of(name, truth).alias("case_variant"),
            _terms_bin(pl.col("n_observed_terms").cast(pl.Int64)).alias("observed_terms"),
            cls.alias("consequence")))
    return (pl.concat(frames, how="diagonal_relaxed"), pl.concat(genes),
            pl.concat(strata, how="diagonal_relaxed"))


def train(workdir: Path, out_dir: Path = SHIPPED_DIR, seed: int = 0, n_boot: int = 1000,
          max_cases: int | None = None, save: bool = True) -> ranker.RankerArtifact:
    """Build the training lakes (cached in ``workdir``), train and measure the shipped ranker,
    and (``save``) write it to ``out_dir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    features, gene_of, strata = training_sets(workdir, seed, max_cases)
    source = dict(strata.select("patient_id", "source").iter_rows())
    artifact = ranker.train_shipped(
        features, gene_of, BASELINES, strata, seed=seed, n_boot=n_boot,
        evaluate_on={p for p, s in source.items() if s == "replay"},
        eval_only={p for p, s in source.items() if s == "replay_stress"})
    if save:
        ranker.save(artifact, out_dir)
    (workdir / "metrics.json").write_text(json.dumps(artifact.metrics, indent=1, default=str))
    return artifact


def summary_lines(metrics: dict) -> list[str]:
    """The cross-validation table as text: method, top-1/5/10 with 95 % gene-bootstrap CI."""
    lines = [f"{'method':<26} {'top-1':>20} {'top-5':>20} {'top-10':>20}"]
    for method, r in metrics["recall_gene_cv"].items():
        cells = [f"{r[k]['value']:.3f} [{r[k]['lo']:.3f}, {r[k]['hi']:.3f}]"
                 for k in ("top1", "top5", "top10")]
        lines.append(f"{method:<26} " + " ".join(f"{c:>20}" for c in cells))
    for method, d in metrics.get("difference_gene_cv", {}).items():
        cells = [f"{d[k]['value']:+.3f} [{d[k]['lo']:+.3f}, {d[k]['hi']:+.3f}]"
                 for k in ("top1", "top5", "top10")]
        lines.append(f"{'ranker - ' + method:<26} " + " ".join(f"{c:>20}" for c in cells))
    return lines
