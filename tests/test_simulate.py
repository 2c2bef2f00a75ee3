"""The sample-data simulator writes parseable, deterministic, internally consistent batches."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import cyvcf2
import numpy as np
import polars as pl
import pytest
from google.protobuf.json_format import ParseError, Parse
from phenopackets import Family, Phenopacket

from orchestration.reference.hpo import load_ontology
from orchestration.simulate import generate_batch

N, BG, SEED = 6, 2_000, 11
VCF_DEFECTS = ["truncated_vcf", "wrong_column_count", "missing_csq_header"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("lake")
    summary = generate_batch(home, N, SEED, background_variants=BG, with_bad_files=True)
    summary["home"] = home
    summary["truth"] = pl.read_csv(summary["truth_path"], separator="\t",
                                   infer_schema_length=0)
    return summary


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _good(paths) -> list[Path]:
    return [p for p in sorted(paths) if ".BAD_" not in p.name]


def _csq_fields(vcf: cyvcf2.VCF) -> list[str]:
    desc = vcf.get_header_type("CSQ")["Description"].strip('"')
    return desc.split("Format: ")[1].split("|")


def test_same_seed_is_byte_identical_and_other_seed_differs(batch, tmp_path):
    again = generate_batch(tmp_path / "a", N, SEED, background_variants=BG, with_bad_files=True)
    first, second = _files(batch["home"]), _files(tmp_path / "a")
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert again["n_variant_records"] == batch["n_variant_records"]
    other = generate_batch(tmp_path / "b", N, SEED + 1, background_variants=BG)
    assert other["batch_id"] != batch["batch_id"]
    a = sorted(Path(batch["clinical_dir"]).glob("*.json"))[0].read_text()
    b = sorted(Path(other["clinical_dir"]).glob("*.json"))[0].read_text()
    assert a != b


def test_vcfs_open_with_cyvcf2_and_carry_a_vep_csq(batch):
    truth = batch["truth"]
    vcfs = _good(Path(batch["genomic_dir"]).glob("*.vcf*"))
    seen_samples, layouts, shapes = [], set(), set()
    for path in vcfs:
        vcf = cyvcf2.VCF(str(path))
        fields = _csq_fields(vcf)
        assert fields[:5] == ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene"]
        layouts.add(tuple(fields))
        shapes.add(len(vcf.samples))
        seen_samples += vcf.samples
        last, n, hom = (-1, -1), 0, 0
        for rec in vcf:
            key = (vcf.seqnames.index(rec.CHROM), rec.POS)
            assert key > last, f"{path.name}: not sorted at {rec.CHROM}:{rec.POS}"
            last = key
            for entry in rec.INFO["CSQ"].split(","):
                assert len(entry.split("|")) == len(fields)
            assert rec.format("DP") is not None and rec.format("GQ") is not None
            hom += int(rec.gt_types[0] == vcf.HOM_ALT)
            n += int(rec.gt_types[0] in (vcf.HET, vcf.HOM_ALT))    # the first sample's calls
        if len(vcf.samples) in (1, 3):          # a single sample, or a trio's proband
            # Background plus causal calls; a real exome has many hom-alt common calls.
            assert 0.8 * BG < n < 1.2 * BG, (path.name, n)
            assert hom > 0.1 * n
    assert shapes == {1, 2, 3}, "expected single-sample, one multi-sample and trio files"
    families = pl.read_csv(batch["families_path"], separator="\t")
    expected = truth.filter(~pl.col("defect").is_in(VCF_DEFECTS))["patient_id"].to_list() \
        + families["father_id"].to_list() + families["mother_id"].to_list()
    assert sorted(seen_samples) == sorted(expected)
    assert len(set(seen_samples)) == len(seen_samples)
    assert vcfs[0].read_bytes()[:2] == b"\x1f\x8b"


def _records(batch) -> dict[str, dict[tuple[str, int], tuple[str, str]]]:
    """patient -> (chrom, pos) -> (genotype as written, CSQ value) for causal-sized lookups."""
    out: dict[str, dict] = {}
    for path in _good(Path(batch["genomic_dir"]).glob("*.vcf*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            samples = []
            for line in fh:
                if line.startswith("##"):
                    continue
                cols = line.rstrip("\n").split("\t")
                if line.startswith("#CHROM"):
                    samples = cols[9:]
                    continue
                info = dict(kv.split("=", 1) for kv in cols[7].split(";"))
                for s, val in zip(samples, cols[9:]):
                    gt = val.split(":")[0]
                    if gt not in ("0/0", "0", "./."):
                        out.setdefault(s, {})[(cols[0], int(cols[1]))] = (gt, info["CSQ"],
                                                                          cols[3], cols[4])
    return out


def test_causal_variants_are_in_the_gene_with_a_consistent_genotype(batch):
    calls = _records(batch)
    for row in batch["truth"].iter_rows(named=True):
        if row["defect"] in VCF_DEFECTS:
            continue
        variants = row["causal_variants"].split(";")
        gts = []
        for v in variants:
            chrom, pos, ref, alt = v.split(":")
            gt, csq, vref, valt = calls[row["patient_id"]][(chrom, int(pos))]
            assert (vref, valt) == (ref, alt)
            symbols = {e.split("|")[3] for e in csq.split(",")}
            assert symbols == {row["gene_symbol"]}
            assert csq.split("|")[2] in ("HIGH", "MODERATE")
            gts.append(gt)
        assert ";".join(gts) == row["causal_genotypes"]
        mode, male = row["inheritance"], row["sex"] == "MALE"
        if mode.startswith("X") and male:
            assert all(g in ("1", "1/1") for g in gts) and all(c.startswith("chrX:")
                                                               for c in variants)
        elif mode in ("AD", "XD", "XL"):
            assert gts == ["0/1"]
        else:  # AR (and XR in a female): homozygous or compound heterozygous
            assert gts in (["1/1"], ["0/1", "0/1"])


def test_phenopackets_are_schema_valid_and_match_the_truth(batch):
    onto = load_ontology()
    truth = {r["patient_id"]: r for r in batch["truth"].iter_rows(named=True)}
    packets = _good(Path(batch["clinical_dir"]).glob("*.json"))
    assert len(packets) == N + 3  # + the extra patients whose bad file is a VCF
    aliased = 0
    for path in packets:
        pp = _proband(path)
        row = truth[pp.subject.id]
        assert pp.subject.id.startswith("OL-P") and path.name == f"{pp.subject.id}.json"
        assert pp.meta_data.phenopacket_schema_version == "2.0"
        assert any(r.id == "hp" and r.version == onto.version for r in pp.meta_data.resources)
        observed = [f for f in pp.phenotypic_features if not f.excluded]
        assert len(observed) >= 3
        for f in pp.phenotypic_features:
            primary, how = onto.resolve(f.type.id)
            assert primary is not None, f.type.id
            aliased += how != "primary"
        assert not pp.subject.HasField("date_of_birth") and not pp.subject.alternate_ids
        solved = [i for i in pp.interpretations if i.HasField("diagnosis")]
        if row["is_solved"] == "true":
            (interp,) = solved
            assert interp.progress_status == interp.ProgressStatus.SOLVED
            assert interp.diagnosis.disease.id == row["disease_id"]
            records = [f"{g.variant_interpretation.variation_descriptor.vcf_record.chrom}:"
                       f"{g.variant_interpretation.variation_descriptor.vcf_record.pos}:"
                       f"{g.variant_interpretation.variation_descriptor.vcf_record.ref}:"
                       f"{g.variant_interpretation.variation_descriptor.vcf_record.alt}"
                       for g in interp.diagnosis.genomic_interpretations]
            assert ";".join(records) == row["causal_variants"]
            for g in interp.diagnosis.genomic_interpretations:
                ctx = g.variant_interpretation.variation_descriptor.gene_context
                assert (ctx.symbol, ctx.value_id) == (row["gene_symbol"],
                                                      f"NCBIGene:{row['ncbi_gene_id']}")
                assert g.interpretation_status == g.InterpretationStatus.CAUSATIVE
        else:
            assert solved == [] and len(pp.diseases) == 0
            assert row["disease_id"] not in path.read_text()
    assert sum(int(truth[_proband(p).subject.id]["n_aliased_terms"])
               for p in packets) == aliased


def _proband(path: Path) -> Phenopacket:
    """The patient's phenopacket: the file itself, or a Family phenopacket's proband."""
    text = path.read_text()
    if '"proband"' in text:
        return Parse(text, Family()).proband
    return Parse(text, Phenopacket())


def test_truth_lives_outside_landing(batch):
    home = batch["home"]
    truth = Path(batch["truth_path"])
    assert truth.parent.parent == home / "truth"
    assert not any("truth" in p.name for p in (home / "landing").rglob("*"))
    cols = set(batch["truth"].columns)
    assert {"patient_id", "is_solved", "disease_id", "disease_name", "gene_symbol",
            "inheritance", "causal_variants", "causal_genotypes"} <= cols
    assert batch["truth"].height == N + 6


def test_expression_matrix_covers_genes_and_patients(batch):
    expr = Path(batch["expression_dir"])
    (good,) = _good(expr.glob("*.tsv"))
    df = pl.read_csv(good, separator="\t")
    truth = batch["truth"]
    assert df.columns[0] == "gene_symbol" and df.columns[1:] == truth["patient_id"].to_list()
    assert df.height > 4000 and df["gene_symbol"].n_unique() == df.height
    mat = df.drop("gene_symbol").to_numpy()
    assert (mat >= 0).all()
    genes = df["gene_symbol"].to_list()
    for row in truth.filter(pl.col("expression_outlier") == "true").iter_rows(named=True):
        g = genes.index(row["gene_symbol"])
        j = df.columns.index(row["patient_id"]) - 1
        others = np.delete(mat[g], j)
        assert mat[g, j] < 0.5 * np.median(others)


def test_bad_files_are_written_only_when_asked(batch, tmp_path):
    bad = pl.read_csv(batch["bad_files_path"], separator="\t")
    assert set(bad["defect"]) == {"truncated_vcf", "wrong_column_count", "missing_csq_header",
                                  "schema_invalid", "unknown_hpo_term", "direct_identifier",
                                  "unmatched_samples", "pedigree_female_father",
                                  "pedigree_affected_parent", "pedigree_absent_sample",
                                  "pedigree_sex_conflict", "pedigree_cycle",
                                  "pedigree_two_fathers"}
    home = batch["home"]
    path = {d: home / "landing" / f for d, f in zip(bad["defect"], bad["file"])}

    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(path["truncated_vcf"].read_bytes())
    lines = path["wrong_column_count"].read_text().splitlines()
    ncols = {len(line.split("\t")) for line in lines if not line.startswith("#")}
    assert ncols == {9, 10}
    text = gzip.decompress(path["missing_csq_header"].read_bytes()).decode()
    assert "##INFO=<ID=CSQ" not in text and ";CSQ=" in text
    with pytest.raises(ParseError):
        Parse(path["schema_invalid"].read_text(), Phenopacket())
    unknown = Parse(path["unknown_hpo_term"].read_text(), Phenopacket())
    ids = [f.type.id for f in unknown.phenotypic_features]
    assert "HP:9999999" in ids and len(ids) > 3
    ident = Parse(path["direct_identifier"].read_text(), Phenopacket())
    assert ident.subject.HasField("date_of_birth")
    cols = pl.read_csv(path["unmatched_samples"], separator="\t").columns[1:]
    assert cols and not set(cols) & set(batch["truth"]["patient_id"])

    clean = generate_batch(tmp_path, 3, 5, background_variants=500)
    assert clean["bad_files"] == [] and clean["bad_files_path"] is None
    assert not list((tmp_path / "landing").rglob("*BAD*"))
    assert json.loads(json.dumps(clean))["n_patients"] == 3


def test_trios_are_mendelian_with_causal_variants_segregating_by_mode(batch):
    """Every trio: background calls a child can have from its parents (the 1 % no-calls
    aside), the causal variants de novo for dominant, in trans or from two carriers for
    recessive, from a carrier mother for a hemizygous son; the PED names each trio."""
    families = pl.read_csv(batch["families_path"], separator="\t")
    truth = {r["patient_id"]: r for r in batch["truth"].iter_rows(named=True)}
    calls = _records(batch)
    ped = Path(batch["ped_path"]).read_text().splitlines()
    in_ped = families.filter(pl.col("pedigree_file").str.ends_with(".ped"))
    assert families.height == round(0.4 * N) and len(ped) == 1 + 3 * in_ped.height
    assert 0 < in_ped.height < families.height        # both a PED and Family phenopackets
    home = batch["home"]
    for fam in families.iter_rows(named=True):
        kid, dad, mum = fam["patient_id"], fam["father_id"], fam["mother_id"]
        row = truth[kid]
        sex = "1" if row["sex"] == "MALE" else "2"
        if fam["pedigree_file"].endswith(".ped"):
            assert f"FAM-{kid}\t{kid}\t{dad}\t{mum}\t{sex}\t2" in ped
        else:
            family = Parse((home / "landing" / fam["pedigree_file"]).read_text(), Family())
            persons = {p.individual_id: p for p in family.pedigree.persons}
            assert family.proband.subject.id == kid and set(persons) == {kid, dad, mum}
            assert (persons[kid].paternal_id, persons[kid].maternal_id) == (dad, mum)
        causal = {(c.split(":")[0], int(c.split(":")[1])) for c in row["causal_variants"].split(";")}
        child, f, m = calls[kid], calls.get(dad, {}), calls.get(mum, {})
        bad = [k for k in child if k not in causal and k not in f and k not in m]
        # a parent's allele may hide behind a no-call (./.), at most ~1 % of sites
        assert len(bad) <= 0.02 * len(child), (kid, len(bad), len(child))
        in_f = [k in f for k in sorted(causal)]
        in_m = [k in m for k in sorted(causal)]
        if row["inheritance"] in ("AD", "XD") or row["causal_zygosity"] == "het":
            assert not any(in_f) and not any(in_m), kid          # de novo
        elif row["causal_zygosity"] == "hemi":
            assert all(in_m) and not any(in_f), kid
        elif len(causal) == 2:
            assert sorted(zip(in_f, in_m)) == [(False, True), (True, False)], kid
        else:
            assert in_f == in_m == [True], kid
