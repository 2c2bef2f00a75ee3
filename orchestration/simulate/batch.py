"""Generate one landing batch (VCFs, phenopackets, expression) and its hidden truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from orchestration.settings import LakePaths
from orchestration.simulate.timing import StageTimer
from orchestration.simulate import bad_files
from orchestration.simulate.catalog import load_catalog
from orchestration.simulate.causal import causal_variants
from orchestration.simulate.cohort import Patient, patient_id, plan_cohort
from orchestration.simulate.compress import bgzf, gzip_plain
from orchestration.simulate import family
from orchestration.simulate.expression import (NMD_OUTLIER_RATE, baseline, tpm_matrix,
                                               write_tsv)
from orchestration.simulate.genome import NMD, gene_layout
from orchestration.simulate.phenopacket_writer import build_phenopacket, created_at, to_json
from orchestration.simulate.phenotypes import sample_features
from orchestration.simulate.population import build_population, patient_background
from orchestration.simulate.sites import concat, take
from orchestration.simulate.vcf import CHROMS, LAYOUT_WEIGHTS, body, header, site_strings

DEFECTS = ("truncated_vcf", "wrong_column_count", "missing_csq_header",
           "schema_invalid", "unknown_hpo_term", "direct_identifier")
_STREAMS = ("cohort", "phenotypes", "population", "genotypes", "causal", "vcf", "expression",
            "files", "bad", "family")
TRIO_FRACTION = 0.4          # of the patients without a bad file: sequenced with both parents


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, k]) for k, name in enumerate(_STREAMS)}


def _sort_sites(sites: dict) -> tuple[dict, np.ndarray]:
    """Sites sorted by chrom/pos (causal first on ties, duplicates dropped) and old->new index."""
    order = np.lexsort((-sites["kind"].astype(np.int16), sites["pos"], sites["chrom_idx"]))
    c, p = sites["chrom_idx"][order], sites["pos"][order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (c[1:] != c[:-1]) | (p[1:] != p[:-1])
    kept = order[keep]
    remap = np.full(len(order), -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    return take(sites, kept), remap


def _write(path: Path, data: bytes | str, form: str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    if form == "bgzf":
        raw = bgzf(raw)
    elif form == "gzip":
        raw = gzip_plain(raw)
    path.write_bytes(raw)


def _zygosity(code: int, patient: Patient) -> str:
    if code == 1:
        return "het"
    return "hemi" if patient.male and patient.mode.startswith("X") else "hom"


def _gt_text(code: int, patient: Patient, chrom: str) -> str:
    if patient.haploid_x and patient.male and chrom == "chrX":
        return "1"
    return "0/1" if code == 1 else "1/1"


def generate_batch(home: Path, n_patients: int, seed: int, batch_id: str | None = None,
                   solved_fraction: float = 0.5, background_variants: int = 25_000,
                   with_bad_files: bool = False, trio_fraction: float = TRIO_FRACTION) -> dict:
    """Write a simulated landing batch under home/landing and its truth under home/truth.

    ``trio_fraction`` of the patients are sequenced with both parents: one 3-sample VCF
    each (proband, father, mother; Mendelian backgrounds) and the family in the batch's PED
    file (every other trio) or in a GA4GH Family phenopacket in place of the proband's
    phenopacket (the rest); their truth is in truth/<batch>/families.tsv. Same arguments give byte-identical
    files. Returns paths and counts.
    """
    if not 1 <= n_patients <= 8000:
        raise ValueError(f"n_patients must be between 1 and 8000, got {n_patients}")
    if not 0.0 <= solved_fraction <= 1.0:
        raise ValueError(f"solved_fraction must be within [0, 1], got {solved_fraction}")
    if not 0.0 <= trio_fraction <= 1.0:
        raise ValueError(f"trio_fraction must be within [0, 1], got {trio_fraction}")
    if background_variants < 100:
        raise ValueError(f"background_variants must be >= 100, got {background_variants}")
    timer = StageTimer()
    lap = timer.lap
    batch_id = batch_id or f"batch_{seed:04d}_{n_patients}"
    paths = LakePaths(Path(home))
    dirs = {d: paths.landing_domain(d) / batch_id for d in ("genomic", "clinical", "expression")}
    dirs["truth"] = paths.truth / batch_id
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    rng = _streams(seed)
    cat = load_catalog()
    layout_df = gene_layout(cat.genes)
    layout = {k: layout_df[k].to_numpy() for k in ("start", "end", "chrom_idx")}
    gene_row = {s: i for i, s in enumerate(layout_df["gene_symbol"].to_list())}

    lap("hpo_catalog")
    patients = plan_cohort(rng["cohort"], cat, seed, n_patients, solved_fraction)
    if with_bad_files:
        extra = plan_cohort(rng["bad"], cat, seed, len(DEFECTS), solved_fraction, n_patients)
        for p, defect in zip(extra, DEFECTS):
            p.defect = defect
        patients += extra
    features = [sample_features(rng["phenotypes"], cat, p.disease_id, p.hard) for p in patients]
    clean = [i for i, p in enumerate(patients) if not p.defect]
    n_trios = int(round(trio_fraction * len(clean)))
    trio_set = set(rng["family"].choice(clean, size=n_trios, replace=False).tolist()) \
        if n_trios else set()

    lap("cohort_phenotypes")
    pop = build_population(rng["population"], layout, background_variants, len(patients))
    tables, carried, taken = [pop.sites], [], set()
    offset = len(pop.sites["pos"])
    trios: dict[int, family.Trio] = {}
    for i, p in enumerate(patients):
        idx, codes = patient_background(rng["genotypes"], pop, p.male, background_variants)
        ctab, ccodes = causal_variants(rng["causal"], layout, gene_row[p.gene_symbol], p, taken)
        tables.append(ctab)
        cidx = offset + np.arange(len(ccodes))
        offset += len(ccodes)
        if i in trio_set:       # the background comes from the parents instead
            trios[i], (idx, codes) = family.make_trio(rng["family"], pop, background_variants,
                                                      i, p, cidx, ccodes)
        carried.append((np.concatenate([idx, cidx]), np.concatenate([codes, ccodes]), cidx))
    sites, remap = _sort_sites(concat(tables))
    lap("genotypes")
    strings = site_strings(sites, layout_df, rng["vcf"])

    lap("vep_annotation_text")
    def sorted_calls(idx: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        new = remap[idx]
        ok = new >= 0
        new, codes = new[ok], codes[ok]
        order = np.argsort(new)
        return new[order], codes[order]

    per_patient = [(*sorted_calls(idx, codes), remap[cidx]) for idx, codes, cidx in carried]
    # a VCF sample: (name, sorted site indices, codes, causal site indices, haploid chrX)
    samples = {i: (p.patient_id, *per_patient[i], p.haploid_x and p.male)
               for i, p in enumerate(patients)}
    for i, t in trios.items():
        none = np.zeros(0, dtype=np.int64)
        samples[("father", i)] = (t.father_id, *sorted_calls(*t.father), none,
                                  patients[i].haploid_x)
        samples[("mother", i)] = (t.mother_id, *sorted_calls(*t.mother), none, False)

    # A few normal patients share one multi-sample VCF; everyone else gets their own file.
    normal = [i for i, p in enumerate(patients) if not p.defect and i not in trios]
    n_multi = min(4, max(2, n_patients // 20)) if len(normal) >= 3 else 0
    multi = sorted(rng["files"].choice(normal, size=n_multi, replace=False).tolist())
    written: dict[int, str] = {}
    jobs: list[Path] = []
    pending: list = []
    pool = ThreadPoolExecutor(max_workers=2)

    def submit(path: Path, data: bytes | str, form: str) -> None:
        # Compression runs in threads (zlib releases the GIL) while the next file renders.
        jobs.append(path)
        pending.append(pool.submit(_write, path, data, form))
        while len(pending) > 4:
            pending.pop(0).result()

    bad_rows: list[dict] = []
    n_records = 0

    def render(members: list, layout_k: int, with_csq: bool = True) -> str:
        nonlocal n_records
        union = np.unique(np.concatenate([samples[i][1] for i in members]))
        codes = np.zeros((len(union), len(members)), dtype=np.int8)
        for j, i in enumerate(members):
            pos = np.searchsorted(union, samples[i][1])
            codes[pos, j] = samples[i][2]
        if len(members) > 1:
            codes[(codes == 0) & (rng["vcf"].random(codes.shape) < 0.01)] = 3
        causal = np.isin(union, np.concatenate([samples[i][3] for i in members]))
        hap = tuple(samples[i][4] for i in members)
        n_records += len(union)
        return (header([samples[i][0] for i in members], layout_k, with_csq)
                + body(strings, union, codes, layout_k, rng["vcf"], hap, causal))

    def pick_layout() -> int:
        return int(rng["files"].choice(len(LAYOUT_WEIGHTS), p=LAYOUT_WEIGHTS))

    if multi:
        text = render(multi, pick_layout())
        name = f"{batch_id}_multisample.vcf.gz"
        submit(dirs["genomic"] / name, text, "bgzf")
        for i in multi:
            written[i] = name
    for i in sorted(trios):
        name = f"{patients[i].patient_id}_trio.vcf.gz"
        submit(dirs["genomic"] / name, render([i, ("father", i), ("mother", i)], pick_layout()),
               "bgzf")
        written[i] = name
    # every other trio describes its family in a PED file, the rest in a Family phenopacket
    in_ped = sorted(trios)[::2]
    ped_path = None
    if in_ped:
        ped_path = dirs["genomic"] / f"{batch_id}.ped"
        ped_path.write_text("#family\tindividual\tfather\tmother\tsex\tphenotype\n" + "".join(
            "\n".join(family.ped_lines(patients[i], trios[i])) + "\n" for i in in_ped))
    for i, p in enumerate(patients):
        if i in written:
            continue
        form = rng["files"].choice(["bgzf", "gzip", "plain"], p=[0.75, 0.2, 0.05])
        defect = p.defect
        text = render([i], pick_layout(), with_csq=defect != "missing_csq_header")
        if defect == "truncated_vcf":
            data, where = bad_files.truncated(bgzf(text.encode()))
            name = f"{p.patient_id}.BAD_truncated.vcf.gz"
            submit(dirs["genomic"] / name, data, "raw")
        elif defect == "wrong_column_count":
            text, where = bad_files.wrong_column_count(text)
            name = f"{p.patient_id}.BAD_wrong_column_count.vcf"
            submit(dirs["genomic"] / name, text, "plain")
        elif defect == "missing_csq_header":
            name, where = f"{p.patient_id}.BAD_missing_csq_header.vcf.gz", "##INFO=<ID=CSQ>"
            submit(dirs["genomic"] / name, text, "bgzf")
        else:
            name = f"{p.patient_id}.vcf" + ("" if form == "plain" else ".gz")
            submit(dirs["genomic"] / name, text, str(form))
        if defect in ("truncated_vcf", "wrong_column_count", "missing_csq_header"):
            bad_rows.append({"file": f"genomic/{batch_id}/{name}", "defect": defect,
                             "locator": where, "patient_id": p.patient_id})
        written[i] = name
    for fut in pending:
        fut.result()
    pool.shutdown()
    singletons = [i for i in normal if i not in multi]
    if with_bad_files and singletons:
        name = f"{batch_id}.BAD_pedigree.ped"
        text, faults = family.bad_ped_lines(patients[singletons[0]])
        (dirs["genomic"] / name).write_text(text)
        bad_rows += [{"file": f"genomic/{batch_id}/{name}", **f} for f in faults]

    lap("vcf_files")
    # Phenopackets.
    truth_rows, causal_by_patient = [], []
    for i, p in enumerate(patients):
        _, _, cidx = per_patient[i]
        codes = dict(zip(*_causal_codes(carried[i], remap)))
        cv = [{"chrom": CHROMS[sites["chrom_idx"][k]], "pos": int(sites["pos"][k]),
               "ref": sites["ref"][k], "alt": sites["alt"][k], "code": int(codes[k]),
               "zygosity": _zygosity(int(codes[k]), p),
               "consequence": sites["consequence"][k]} for k in cidx]
        causal_by_patient.append(cv)
        pp = build_phenopacket(p, features[i], cv, cat.ontology.version,
                               created_at(seed, i), int(rng["files"].integers(0, 40)),
                               rng["files"])
        text = to_json(pp) if i not in trios or i in in_ped else \
            family.family_json(pp, p, trios[i])
        name = f"{p.patient_id}.json"
        if p.defect == "schema_invalid":
            text, where = bad_files.schema_invalid(text)
            name = f"{p.patient_id}.BAD_schema_invalid.json"
        elif p.defect == "unknown_hpo_term":
            text, where = bad_files.unknown_term(text)
            name = f"{p.patient_id}.BAD_unknown_hpo_term.json"
        elif p.defect == "direct_identifier":
            text, where = bad_files.direct_identifier(text)
            name = f"{p.patient_id}.BAD_direct_identifier.json"
        if p.defect in ("schema_invalid", "unknown_hpo_term", "direct_identifier"):
            bad_rows.append({"file": f"clinical/{batch_id}/{name}", "defect": p.defect,
                             "locator": where, "patient_id": p.patient_id})
        (dirs["clinical"] / name).write_text(text, encoding="utf-8")

    lap("phenopackets")
    # Expression: every gene x every patient.
    genes = cat.genes["gene_symbol"].to_list()
    expr_row = {g: k for k, g in enumerate(genes)}
    mu, sd = baseline(rng["expression"], len(genes))
    down = {}
    for i, (p, cv) in enumerate(zip(patients, causal_by_patient)):
        nmd = any(c["consequence"].split("&")[0] in NMD for c in cv)
        if nmd and rng["expression"].random() < NMD_OUTLIER_RATE:
            down[i] = expr_row[p.gene_symbol]
    tpm, _ = tpm_matrix(rng["expression"], mu, sd, len(patients), down)
    expr_path = dirs["expression"] / f"{batch_id}_tpm.tsv"
    write_tsv(expr_path, genes, [p.patient_id for p in patients], tpm)
    if with_bad_files:
        k = min(3, len(patients))
        fake = [patient_id(seed, 9000 + j) for j in range(k)]
        cols = rng["bad"].choice(len(patients), size=k, replace=False)
        name = f"{batch_id}.BAD_unmatched_samples_tpm.tsv"
        write_tsv(dirs["expression"] / name, genes, fake, tpm[:, cols])
        bad_rows.append({"file": f"expression/{batch_id}/{name}", "defect": "unmatched_samples",
                         "locator": ",".join(fake), "patient_id": ""})

    lap("expression")
    for i, (p, cv) in enumerate(zip(patients, causal_by_patient)):
        truth_rows.append({
            "patient_id": p.patient_id, "sex": p.sex, "is_solved": p.solved,
            "disease_id": p.disease_id, "disease_name": p.disease_name,
            "gene_symbol": p.gene_symbol, "ncbi_gene_id": p.ncbi_gene_id, "inheritance": p.mode,
            "causal_variants": ";".join(f"{c['chrom']}:{c['pos']}:{c['ref']}:{c['alt']}"
                                        for c in cv),
            "causal_genotypes": ";".join(_gt_text(c["code"], p, c["chrom"]) for c in cv),
            "causal_zygosity": ";".join(c["zygosity"] for c in cv),
            "causal_consequences": ";".join(c["consequence"] for c in cv),
            "difficulty": "hard" if p.hard else "normal",
            "expression_outlier": i in down,
            "n_observed_terms": sum(not f.excluded for f in features[i]),
            "n_aliased_terms": sum(f.alias != "primary" for f in features[i]),
            "vcf_file": f"genomic/{batch_id}/{written[i]}",
            "defect": p.defect,
        })
    truth_path = dirs["truth"] / "truth.tsv"
    pl.DataFrame(truth_rows).write_csv(truth_path, separator="\t")
    bad_path = None
    if with_bad_files:
        bad_path = dirs["truth"] / "bad_files.tsv"
        pl.DataFrame(bad_rows).write_csv(bad_path, separator="\t")

    families_path = None
    if trios:
        families_path = dirs["truth"] / "families.tsv"
        pl.DataFrame([{"patient_id": patients[i].patient_id, "father_id": t.father_id,
                       "mother_id": t.mother_id, "inheritance": patients[i].mode,
                       "vcf_file": f"genomic/{batch_id}/{written[i]}",
                       "pedigree_file": f"genomic/{batch_id}/{ped_path.name}" if i in in_ped
                       else f"clinical/{batch_id}/{patients[i].patient_id}.json"}
                      for i, t in sorted(trios.items())],
                     schema={k: pl.String for k in ("patient_id", "father_id", "mother_id",
                                                   "inheritance", "vcf_file", "pedigree_file")}
                     ).write_csv(families_path, separator="\t")

    lap("truth")
    return {
        "batch_id": batch_id,
        "seed": seed,
        "genomic_dir": str(dirs["genomic"]),
        "clinical_dir": str(dirs["clinical"]),
        "expression_dir": str(dirs["expression"]),
        "truth_path": str(truth_path),
        "bad_files_path": str(bad_path) if bad_path else None,
        "n_patients": n_patients,
        "n_patients_total": len(patients),
        "n_solved": sum(p.solved for p in patients[:n_patients]),
        "n_vcf_files": len(jobs),
        "n_multisample_patients": len(multi),
        "n_trios": len(trios),
        "ped_path": str(ped_path) if ped_path else None,
        "families_path": str(families_path) if families_path else None,
        "n_phenopackets": len(patients),
        "n_variant_records": n_records,
        "n_population_sites": len(sites["pos"]),
        "bad_files": list(dict.fromkeys(r["file"] for r in bad_rows)),
        "seconds": timer.seconds,
        "stage_seconds": timer.stages,
    }


def _causal_codes(carried: tuple[np.ndarray, np.ndarray, np.ndarray],
                  remap: np.ndarray) -> tuple[list[int], list[int]]:
    """(new site index, genotype code) of a patient's causal sites."""
    idx, codes, cidx = carried
    pos = np.flatnonzero(np.isin(idx, cidx))
    return remap[idx[pos]].tolist(), codes[pos].tolist()
