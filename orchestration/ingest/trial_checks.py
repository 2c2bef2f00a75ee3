"""Checks across the files of one study, after each file passed its own (ingest/trials.py).

A file is checked alone at ingest (keys, ISO 8601 dates, identifiers, a subject in two
arms within one DM file); what needs two files is checked here, on the staged tables,
before any analysis reads them. Each refusal is the smallest part that is wrong, with its
reason, and leaves the rest of the study in:

* **a subject in two arms** across DM files of one study (or DM rows that disagree): every
  DM row of that subject is refused (granularity ``subject``), and so are the subject's
  records in the other domains: which arm their data belongs to is unknown;
* **a record of a subject the study does not have**: an AE, EX, DS, findings or ADaM row
  whose USUBJID is in neither the study's DM nor its ADSL (``record``);
* **a link to no lake patient**: a ``patient_links.csv`` row naming a patient id the lake
  does not hold, or a USUBJID the study does not have (``record``);
* **identical DM rows** from two files (the same subject sent twice): the later copy is
  dropped silently: it adds nothing and loses nothing.

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
_DM_ANALYSED = ("studyid", "usubjid", "arm", "armcd", "actarm", "rfstdtc", "brthdtc", "age",
                "sex", "race")


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


def two_arm_subjects(dm: pl.DataFrame) -> pl.DataFrame:
    """(studyid, usubjid, arms) of subjects whose DM rows name more than one arm."""
    if dm.is_empty():
        return pl.DataFrame(schema={"studyid": pl.String, "usubjid": pl.String, "arms": pl.String})
    return (dm.group_by("studyid", "usubjid")
            .agg(pl.col("arm").drop_nulls().unique().sort().alias("arm_list"))
            .filter(pl.col("arm_list").list.len() > 1)
            .select("studyid", "usubjid", pl.col("arm_list").list.join(" / ").alias("arms")))


def check_study_tables(tables: dict[str, pl.DataFrame], lake_patients: set[str]
                       ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """(the tables with refused rows removed, the refusals) for every study at once."""
    out = dict(tables)
    refused = [pl.DataFrame(schema=REFUSAL_SCHEMA)]
    dm = out.get("trial_dm", pl.DataFrame())
    if not dm.is_empty():
        twice = two_arm_subjects(dm)
        bad = dm.join(twice, on=["studyid", "usubjid"], how="inner")
        refused.append(_refusals(bad, "subject", pl.format(
            "subject {} of study {} is in two arms ({}) across DM rows; its data is not analysed",
            pl.col("usubjid"), pl.col("studyid"), pl.col("arms"))))
        dm = dm.join(twice, on=["studyid", "usubjid"], how="anti")
        # the same subject sent twice, identically: keep the first copy
        dm = dm.sort("ingested_at", "source_file", "locator").unique(
            subset=[c for c in _DM_ANALYSED if c in dm.columns], keep="first", maintain_order=True)
        out["trial_dm"] = dm
        for t in SUBJECT_TABLES:
            df = out.get(t)
            if df is not None and not df.is_empty():
                out[t] = df.join(twice.select("studyid", "usubjid"), on=["studyid", "usubjid"], how="anti")
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
