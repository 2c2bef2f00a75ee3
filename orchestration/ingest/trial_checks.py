"""Checks across the files of one study, after each file passed its own (ingest/trials.py).

A file is checked alone at ingest (keys, ISO 8601 dates, identifiers, a subject in two
arms within one DM file); what needs two files is checked here, on the staged tables,
before any analysis reads them. Each refusal is the smallest part that is wrong, with its
reason, and leaves the rest of the study in:

* **a subject in two arms** across DM (or ADSL) files of one study: every DM/ADSL row of
  that subject is refused (granularity ``subject``), and the subject's records in the
  other domains are left out: which arm their data belongs to is unknown;
* **a record of a subject the study does not have**: an AE, EX, DS, findings or ADaM row
  whose USUBJID is in neither the study's DM nor its ADSL (``record``);
* **a link to no lake patient**: a ``patient_links.csv`` row naming a patient id the lake
  does not hold, or a USUBJID the study does not have (``record``);
* **a subject sent twice** in one arm (DM or ADSL in two files, a re-delivery): one row
  is kept, the newest file's, so a corrected file wins over the one it corrects.

A study whose analysis data cannot be derived at all (``study_failures``) becomes one row
of granularity ``batch`` (the study folder) with the error; its other studies go on.

The refusals go to ``evidence/trial_refusals`` (the quarantine mart reads them, domain
``trials``); the frames returned hold what is left.
"""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

REFUSAL_SCHEMA = {"domain": pl.String, "granularity": pl.String, "locator": pl.String,
                  "reason": pl.String, "original_path": pl.String, "source_file": pl.String,
                  "source_sha256": pl.String, "batch_id": pl.String,
                  "quarantined_at": pl.Datetime("us", "UTC")}
# The tables whose rows belong to a subject (every raw trial table but DM, design, links).
SUBJECT_TABLES = ("trial_ae", "trial_ex", "trial_ds", "trial_findings", "trial_adae",
                  "trial_adtte", "trial_adbds")


def _study(df: pl.DataFrame) -> pl.Expr:
    """A row's study: STUDYID, or the study folder when a link file has none."""
    return pl.coalesce(pl.col("studyid"), pl.col("batch_id")) if "batch_id" in df.columns \
        else pl.col("studyid")


def _refusals(rows: pl.DataFrame, granularity: str, reason: pl.Expr) -> pl.DataFrame:
    if rows.is_empty():
        return pl.DataFrame(schema=REFUSAL_SCHEMA)
    now = datetime.now(timezone.utc)
    return rows.select(
        pl.lit("trials").alias("domain"), pl.lit(granularity).alias("granularity"),
        pl.format("{} (USUBJID {})", pl.col("locator").fill_null("?"), pl.col("usubjid")).alias("locator"),
        reason.alias("reason"),
        ("landing/" + pl.col("source_file")).alias("original_path"),
        pl.col("source_file"), pl.col("source_sha256"), pl.col("batch_id"),
        # DuckDB hands timestamps back in "Etc/UTC": the same instant, another zone name
        pl.coalesce(pl.col("ingested_at").dt.convert_time_zone("UTC"), pl.lit(now))
        .cast(REFUSAL_SCHEMA["quarantined_at"]).alias("quarantined_at"),
    ).cast(REFUSAL_SCHEMA)


def two_arm_subjects(dm: pl.DataFrame, arm: str = "arm") -> pl.DataFrame:
    """(studyid, usubjid, arms) of subjects whose rows (DM, or ADSL with ``arm`` "trt01p")
    name more than one arm."""
    if dm.is_empty():
        return pl.DataFrame(schema={"studyid": pl.String, "usubjid": pl.String, "arms": pl.String})
    return (dm.group_by("studyid", "usubjid")
            .agg(pl.col(arm).drop_nulls().unique().sort().alias("arm_list"))
            .filter(pl.col("arm_list").list.len() > 1)
            .select("studyid", "usubjid", pl.col("arm_list").list.join(" / ").alias("arms")))


def _newest_first(df: pl.DataFrame) -> pl.DataFrame:
    """Rows of the newest file first (a corrected re-delivery wins), then by file and
    record number (numerically: record 2 before record 10)."""
    return (df.with_columns(pl.col("locator").str.extract(r"(\d+)", 1).cast(pl.Int64, strict=False)
                            .alias("_n"))
            .sort(["ingested_at", "source_file", "_n"], descending=[True, False, False], nulls_last=True)
            .drop("_n"))


def _subject_table(out: dict[str, pl.DataFrame], refused: list[pl.DataFrame], table: str,
                   arm: str) -> pl.DataFrame:
    """A one-row-per-subject table (DM, ADSL) checked across its files: a subject in two
    arms refused (all its rows), a subject sent twice kept once (the newest file's row).
    Returns the (studyid, usubjid) refused."""
    df = out.get(table)
    if df is None or df.is_empty():
        return pl.DataFrame(schema={"studyid": pl.String, "usubjid": pl.String})
    twice = two_arm_subjects(df, arm)
    name = table.removeprefix("trial_").upper()
    refused.append(_refusals(df.join(twice, on=["studyid", "usubjid"], how="inner"), "subject",
                             pl.format("subject {} of study {} is in two arms ({}) across {} rows; "
                                       "its data is not analysed", pl.col("usubjid"),
                                       pl.col("studyid"), pl.col("arms"), pl.lit(name))))
    out[table] = _newest_first(df.join(twice, on=["studyid", "usubjid"], how="anti")).unique(
        ["studyid", "usubjid"], keep="first", maintain_order=True)
    return twice.select("studyid", "usubjid")


def check_study_tables(tables: dict[str, pl.DataFrame], lake_patients: set[str]
                       ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """(the tables with refused rows removed, the refusals) for every study at once."""
    out = dict(tables)
    refused = [pl.DataFrame(schema=REFUSAL_SCHEMA)]
    twice = pl.concat([_subject_table(out, refused, "trial_dm", "arm"),
                       _subject_table(out, refused, "trial_adsl", "trt01p")]).unique()
    for t in SUBJECT_TABLES:
        df = out.get(t)
        if df is not None and not df.is_empty():
            out[t] = df.join(twice, on=["studyid", "usubjid"], how="anti")
    known = pl.concat([out[t].select("studyid", "usubjid") for t in ("trial_dm", "trial_adsl")
                       if t in out and not out[t].is_empty()] or
                      [pl.DataFrame(schema={"studyid": pl.String, "usubjid": pl.String})]).unique()
    for t in SUBJECT_TABLES:
        df = out.get(t)
        if df is None or df.is_empty():
            continue
        orphan = df.join(known, on=["studyid", "usubjid"], how="anti")
        name = t.removeprefix("trial_").upper()
        refused.append(_refusals(orphan, "record", pl.format(
            "{} record of subject {}, who is not in DM (or ADSL) of study {}: absent there, or "
            "refused there (see its DM refusal)",
            pl.lit(name), pl.col("usubjid"), pl.col("studyid"))))
        out[t] = df.join(known, on=["studyid", "usubjid"], how="semi")
    links = out.get("trial_links")
    if links is not None and not links.is_empty():
        links = links.with_columns(_study(links).alias("studyid"))
        unknown_subject = links.join(known, on=["studyid", "usubjid"], how="anti")
        refused.append(_refusals(unknown_subject, "record", pl.format(
            "the link names subject {}, who is not in study {}", pl.col("usubjid"), pl.col("studyid"))))
        links = links.join(known, on=["studyid", "usubjid"], how="semi")
        no_patient = links.filter(~pl.col("patient_id").is_in(sorted(lake_patients)))
        refused.append(_refusals(no_patient, "record", pl.format(
            "the link names patient {}, who is not a lake patient", pl.col("patient_id"))))
        out["trial_links"] = links.filter(pl.col("patient_id").is_in(sorted(lake_patients)))
    return out, pl.concat(refused, how="vertical").sort("source_file", "locator")


def study_failures(tables: dict[str, pl.DataFrame], failures: dict[str, str]) -> pl.DataFrame:
    """A study whose analysis data could not be derived, as a quarantine row (granularity
    ``batch``: the study folder), so the failure is seen where refusals are."""
    rows = [{"domain": "trials", "granularity": "batch", "locator": study,
             "reason": f"study {study} could not be analysed ({error}); its other studies were",
             "original_path": f"landing/trials/{study}", "source_file": None, "source_sha256": None,
             "batch_id": study, "quarantined_at": _first_ingested(tables, study)
             or datetime.now(timezone.utc)} for study, error in sorted(failures.items())]
    return pl.DataFrame(rows, schema=REFUSAL_SCHEMA)


def _first_ingested(tables: dict[str, pl.DataFrame], study: str):
    """When the study's DM (else ADSL) was ingested: a stable time for its refusal row."""
    for name in ("trial_dm", "trial_adsl"):
        df = tables.get(name)
        if df is not None and df.height:
            mine = df.filter(pl.col("studyid") == study)["ingested_at"]
            if mine.len():
                return mine.min().astimezone(timezone.utc)
    return None
