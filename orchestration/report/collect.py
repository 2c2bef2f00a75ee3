"""What a patient report shows, read from the published lake through the catalog views
the CLI's ``sql`` command reads (``connect_readonly``), for many patients at once.

Columns other parts of the pipeline add over time (``segregation``, the ``seg_*`` family
features, ``model_version``, HGVS) are shown when the views have them and skipped when
they do not: a report never fails for a column it can do without.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from models.hpo_index import PhenotypeIndex
from models.phenotype_matches import (
    ExcludedHit,
    TermMatch,
    disease_terms,
    excluded_hits,
    gene_terms,
    term_matches,
)

TOP_GENES = 10
MAX_VARIANTS_PER_GENE = 6
# Exomiser's frequency cut: above 2 % a variant cannot explain a rare disease
RARE_AF = 0.02
# the IC kind models.phenotype scores with, so the matches explain the score shown
MATCH_IC_KIND = "gene"

# family evidence (one 0/1 column each, null when the family could not be used)
SEGREGATION_FLAGS = (
    ("seg_de_novo", "de novo (absent in both unaffected parents)"),
    ("seg_biallelic_trans", "biallelic, one allele from each parent"),
    ("seg_hemi_maternal", "hemizygous, from a carrier mother"),
    ("seg_inherited_unaffected", "inherited from an unaffected parent (counts against)"),
)
# variant columns worth a clinician's eye, shown when the lake has them
OPTIONAL_VARIANT_COLUMNS = ("hgvs", "hgvsc", "hgvs_c", "hgvsp", "hgvs_p", "segregation",
                            "inheritance")


class UnknownPatient(ValueError):
    """The patient has no ranking in the lake (unknown id, or solved)."""


@dataclass
class GeneMatches:
    """How the patient's terms match one gene's best disease (or the gene's annotations)."""

    target_id: str
    target_name: str
    terms: list[TermMatch]
    excluded: list[ExcludedHit]


@dataclass
class PatientReport:
    patient_id: str
    patient: dict                          # the patient's row of ``patients`` ({} if absent)
    genes: list[dict]                      # patient_gene_rankings rows, best first
    variants: dict[str, list[dict]]        # gene -> its rare calls, candidates first
    terms: list[dict]                      # hpo_id, hpo_id_submitted, label, excluded
    matches: dict[str, GeneMatches]        # gene -> term matches (when an index is given)
    labels: dict[str, str]                 # HPO id -> ontology name
    method: dict[str, str]                 # ranking method, model version, HPO release
    notes: list[str] = field(default_factory=list)


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    try:
        return con.sql(f"select * from {view} limit 0").columns
    except duckdb.Error:
        return []


def _dicts(rel: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row)) for row in rel.fetchall()]


def ranked_patients(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every patient with a ranking (the unsolved ones), sorted."""
    return [r[0] for r in con.execute(
        "select distinct patient_id from patient_gene_rankings order by 1").fetchall()]


def check_patient(con: duckdb.DuckDBPyConnection, patient_id: str) -> None:
    """UnknownPatient, saying why, unless ``patient_id`` has a ranking."""
    if con.execute("select 1 from patient_gene_rankings where patient_id = ? limit 1",
                   [patient_id]).fetchone():
        return
    row = None
    if "is_solved" in _columns(con, "patients"):
        row = con.execute("select is_solved from patients where patient_id = ?",
                          [patient_id]).fetchone()
    if row is None:
        raise UnknownPatient(f"no patient {patient_id!r} in the lake")
    if row[0]:
        raise UnknownPatient(f"patient {patient_id!r} is solved: reports rank the genes of "
                             "unsolved patients")
    raise UnknownPatient(f"patient {patient_id!r} has no gene ranking (no candidate genes)")


def segregation_text(gene: dict) -> str | None:
    """The family evidence of a ranking row in words (``segregation`` when the lake has
    that column, else the ``seg_*`` flags that are set), None when there is none."""
    if gene.get("segregation"):
        return str(gene["segregation"])
    said = [words for col, words in SEGREGATION_FLAGS if gene.get(col)]
    if said:
        return "; ".join(said)
    if gene.get("seg_n_parents"):
        return f"no segregation pattern ({gene['seg_n_parents']} parent(s) genotyped)"
    return None


def ranker_quality(meta: dict | None) -> dict[str, str]:
    """The ranker's measured quality in words, from its metadata: held-out recall of the
    causal gene and, when the score is calibrated, Brier score and ECE. Keys absent when
    the metadata does not have them (a report never fails for want of them)."""
    out: dict[str, str] = {}
    metrics = (meta or {}).get("metrics") or {}
    try:
        from models.ranker_eval import headline_recall

        scope, recall = headline_recall(metrics)
        mode = (meta or {}).get("mode")
        best = recall.get(mode) or next(iter(recall.values()), None) if recall else None
        if best and best.get("recall_at_1") is not None:
            out["heldout_recall"] = (
                f"causal gene at rank 1 / within 5 / within 10: {best['recall_at_1']:.2f} / "
                f"{best.get('recall_at_5', float('nan')):.2f} / "
                f"{best.get('recall_at_10', float('nan')):.2f} on "
                f"{best.get('n_patients', '?')} held-out solved patients ({scope})")
    except (ImportError, AttributeError, TypeError, ValueError):
        pass
    cal = metrics.get("calibration") if isinstance(metrics.get("calibration"), dict) else {}
    parts = []
    for key, words in (("top1", "top-ranked genes"), ("all_candidates", "all candidates")):
        c = cal.get(key) or {}
        if c.get("brier") is not None and c.get("ece") is not None:
            parts.append(f"{words}: Brier {c['brier']:.3f}, ECE {c['ece']:.3f} (n={c.get('n')})")
    if parts:
        out["calibration"] = "held out: " + "; ".join(parts)
    return out


def parse_candidates(text: str | None) -> list[dict]:
    """``candidate_variants`` ("chr1:10:A:T missense_variant het; ...") as rows."""
    rows = []
    for part in (text or "").split(";"):
        bits = part.split()
        if bits:
            rows.append({"variant_key": bits[0],
                         "consequence": bits[1] if len(bits) > 1 else None,
                         "zygosity": bits[2] if len(bits) > 2 else None})
    return rows


def collect(con: duckdb.DuckDBPyConnection, patient_ids: list[str], *,
            index: PhenotypeIndex | None = None, index_note: str = "",
            ranker_meta: dict | None = None, top: int = TOP_GENES) -> dict[str, PatientReport]:
    """One ``PatientReport`` per patient of ``patient_ids`` that has a ranking."""
    gene_rows = _dicts(con.execute(
        "select * from patient_gene_rankings where list_contains(?, patient_id) and rank <= ? "
        "order by patient_id, rank", [patient_ids, top]))
    genes: dict[str, list[dict]] = {}
    for row in gene_rows:
        genes.setdefault(row["patient_id"], []).append(row)
    patients = {}
    if "patient_id" in _columns(con, "patients"):
        patients = {r["patient_id"]: r for r in _dicts(con.execute(
            "select * from patients where list_contains(?, patient_id)", [patient_ids]))}
    terms = _terms(con, patient_ids, patients)
    variants, variant_note = _variants(con, gene_rows)
    method_base = {"ranking_method": "", "model_version": "", "hpo_release": "",
                   **ranker_quality(ranker_meta)}
    if ranker_meta:
        method_base["model_version"] = str(ranker_meta.get("model_version") or "")
    if index is not None:
        method_base["hpo_release"] = index.version

    reports: dict[str, PatientReport] = {}
    for pid in patient_ids:
        if pid not in genes:
            continue
        rows = genes[pid]
        method = dict(method_base, ranking_method=str(rows[0].get("ranking_method") or ""))
        if rows[0].get("model_version"):
            method["model_version"] = str(rows[0]["model_version"])
        notes = [variant_note] if variant_note else []
        matches: dict[str, GeneMatches] = {}
        if index is None:
            notes.append(index_note or "no phenotype index given: term matches not shown")
        else:
            observed = [t["hpo_id"] for t in terms.get(pid, []) if not t["excluded"]]
            excluded = [t["hpo_id"] for t in terms.get(pid, []) if t["excluded"]]
            for g in rows:
                matches[g["gene_symbol"]] = _gene_matches(index, g, observed, excluded)
        reports[pid] = PatientReport(
            patient_id=pid, patient=patients.get(pid, {}), genes=rows,
            variants={g["gene_symbol"]: variants.get((pid, g["gene_symbol"]), [])
                      for g in rows},
            terms=terms.get(pid, []), matches=matches, labels={}, method=method, notes=notes)
    _add_labels(con, reports)
    return reports


def _gene_matches(index: PhenotypeIndex, gene: dict, observed: list[str],
                  excluded: list[str]) -> GeneMatches:
    disease = gene.get("best_disease_id")
    target = disease_terms(index, disease) if disease else []
    if target:
        name = gene.get("best_disease_name") or disease
        target_id = disease
    else:   # no annotated disease: the gene's own annotations are what it was scored on
        target = gene_terms(index, gene["gene_symbol"])
        target_id, name = gene["gene_symbol"], f"all phenotypes annotated to {gene['gene_symbol']}"
    return GeneMatches(target_id=target_id, target_name=str(name),
                       terms=term_matches(index, observed, target, kind=MATCH_IC_KIND),
                       excluded=excluded_hits(index, excluded, target, kind=MATCH_IC_KIND))


def _terms(con, patient_ids: list[str], patients: dict) -> dict[str, list[dict]]:
    """Each patient's terms from its current phenopacket (the one ``patients`` names)."""
    cols = _columns(con, "raw_phenotypes")
    if not cols:
        return {}
    submitted = "r.hpo_id_submitted" if "hpo_id_submitted" in cols else "r.hpo_id"
    select = (f"select r.patient_id, r.hpo_id, {submitted} as hpo_id_submitted, r.label, "
              "coalesce(r.excluded, false) as excluded from raw_phenotypes r ")
    if patients and all("phenopacket_file" in p for p in patients.values()):
        sql = (select + "join patients p on p.patient_id = r.patient_id "
               "and p.phenopacket_file = r.source_file ")
    else:   # the newest phenopacket of each patient
        sql = (select + "join (select patient_id, arg_max(source_file, ingested_at) as f "
               "from raw_phenotypes group by 1) n on n.patient_id = r.patient_id "
               "and n.f = r.source_file ")
    sql += "where list_contains(?, r.patient_id) order by r.patient_id, r.excluded, r.hpo_id"
    out: dict[str, list[dict]] = {}
    for row in _dicts(con.execute(sql, [patient_ids])):
        seen = out.setdefault(row["patient_id"], [])
        if not any(t["hpo_id"] == row["hpo_id"] and t["excluded"] == row["excluded"]
                   for t in seen):
            seen.append(row)
    return out


def _variants(con, gene_rows: list[dict]) -> tuple[dict[tuple[str, str], list[dict]], str]:
    """(patient, gene) -> its rare passing calls from the current VCF, candidates first; a
    candidate the raw calls do not show (or when they cannot be read) still gets a row
    from ``candidate_variants``. Returns a note when the raw calls could not be read."""
    wanted = {(g["patient_id"], g["gene_symbol"]) for g in gene_rows}
    candidates = {(g["patient_id"], g["gene_symbol"]): parse_candidates(g.get("candidate_variants"))
                  for g in gene_rows}
    raw: dict[tuple[str, str], list[dict]] = {}
    note = ""
    # only the calls of the patients asked about: a lake holds every exome's calls
    mine = "(select * from raw_variants where list_contains($patients, patient_id))"
    calls = mine
    cols = _columns(con, "raw_variants")
    site_cols = _columns(con, "raw_variant_sites")
    if "record" in cols and site_cols:
        # a VCF's annotation is stored once per site (raw_variant_sites), its calls per sample
        per_call = {"patient_id", "genotype", "zygosity", "source_file", "ingested_at"}
        site = [c for c in site_cols if c not in per_call | {"record", "allele", "source_sha256",
                                                             "batch_id"}]
        calls = ("(select c.patient_id, c.genotype, c.zygosity, c.source_file, c.ingested_at"
                 + "".join(f", s.{c}" for c in site) +
                 f" from {mine} c join (select * from raw_variant_sites where "
                 "list_contains($genes, gene_symbol)) s on s.source_file = c.source_file "
                 "and s.record = c.record and s.allele = c.allele)")
        cols = [*per_call, *site]
    needed = {"patient_id", "gene_symbol", "chrom", "pos", "ref", "alt", "consequence",
              "zygosity", "allele_freq", "source_file", "ingested_at"}
    if wanted and needed <= set(cols):
        extra = [c for c in ("impact", "revel", "cadd_phred", "filter", *OPTIONAL_VARIANT_COLUMNS)
                 if c in cols]
        sql = (
            # the newest VCF of each patient (calls carry their file's lineage)
            f"with cur as (select patient_id, arg_max(source_file, ingested_at) as f from {mine} "
            "group by 1) "
            "select v.patient_id, v.gene_symbol, v.chrom || ':' || v.pos || ':' || v.ref || ':' "
            "|| v.alt as variant_key, v.consequence, v.zygosity, v.allele_freq"
            + "".join(f", v.{c}" for c in extra) +
            f" from {calls} v join cur on cur.patient_id = v.patient_id "
            "and cur.f = v.source_file where list_contains($pairs, v.patient_id || chr(9) || "
            "v.gene_symbol) and (v.allele_freq is null or v.allele_freq <= $rare)"
            + (" and coalesce(v.filter, 'PASS') in ('PASS', '.')" if "filter" in extra else "")
            + " order by v.patient_id, v.gene_symbol, v.chrom, v.pos, v.ref, v.alt")
        params = {"patients": sorted({p for p, _ in wanted}), "genes": sorted({g for _, g in wanted}),
                  "pairs": sorted(f"{p}\t{g}" for p, g in wanted), "rare": RARE_AF}
        if "$genes" not in sql:
            params.pop("genes")
        try:
            for row in _dicts(con.execute(sql, params)):
                row.pop("filter", None)
                calls = raw.setdefault((row.pop("patient_id"), row.pop("gene_symbol")), [])
                # VEP --merged lists a gene under two ids: one row per call
                if not any(c["variant_key"] == row["variant_key"] for c in calls):
                    calls.append(row)
        except duckdb.Error as exc:
            note = f"the raw variant calls could not be read ({exc}); candidate variants only"
            raw = {}
    elif wanted:
        note = "the raw variant calls are not in this lake: candidate variants only"
    out = {}
    for key in wanted:
        calls = {c["variant_key"]: c for c in raw.get(key, [])}
        rows = []
        for cand in candidates[key]:
            rows.append({**cand, **calls.pop(cand["variant_key"], {}), "candidate": True})
        # the other rare calls with a protein-level effect, most severe first
        impact = {c["variant_key"]: str(c.get("impact") or "").upper() for c in calls.values()}
        others = sorted((c for c in calls.values()
                         if impact[c["variant_key"]] in ("HIGH", "MODERATE")),
                        key=lambda c: (impact[c["variant_key"]] != "HIGH", c["variant_key"]))
        rows += [{**c, "candidate": False} for c in others]
        out[key] = rows[:max(MAX_VARIANTS_PER_GENE, len(candidates[key]))]
    return out, note


def _add_labels(con, reports: dict[str, PatientReport]) -> None:
    ids: set[str] = set()
    for r in reports.values():
        ids.update(t["hpo_id"] for t in r.terms)
        for m in r.matches.values():
            ids.update(x for t in m.terms for x in (t.target_term, t.common_ancestor) if x)
            ids.update(x for e in m.excluded for x in (e.excluded_term, *e.target_terms))
    labels: dict[str, str] = {}
    if ids and {"hpo_id", "name"} <= set(_columns(con, "hpo_terms")):
        labels = dict(con.execute("select hpo_id, name from hpo_terms where list_contains(?, hpo_id)",
                                  [sorted(ids)]).fetchall())
    for r in reports.values():
        r.labels = labels
