from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from fixtures.vcf_factory import CSQ_FIELDS, csq, header, write_vcf
from orchestration.ingest.quarantine import FileRejected
from orchestration.ingest.vcf import OUTPUT_SCHEMAS, parse_vcf

BODY = [
    # SNV: two genes, GENE1 has a missense and a splice_region&intron transcript, plus a
    # gene-less regulatory entry that must not yield a row of its own.
    "1\t100\trs1\tA\tG\t50\tPASS\tDP=9;CSQ=" + ",".join([
        csq(Allele="G", Consequence="splice_region_variant&intron_variant", IMPACT="LOW",
            SYMBOL="GENE1", Gene="ENSG1", MAX_AF="0.02"),
        csq(Allele="G", Consequence="missense_variant", IMPACT="MODERATE", SYMBOL="GENE1",
            Gene="ENSG1", gnomADe_AF="0.001", MAX_AF="0.003&0.01", REVEL="0.5&0.7",
            CADD_PHRED="25"),
        csq(Allele="G", Consequence="stop_gained", IMPACT="HIGH", SYMBOL="GENE2", Gene="ENSG2",
            gnomADe_AF=".", gnomAD_AF=""),
        csq(Allele="G", Consequence="regulatory_region_variant", IMPACT="MODIFIER")]) +
    "\tGT:DP\t0/1:3\t1/1:4",
    # Multi-allelic indel: VEP trims the shared first base ('-' for the deletion).
    "1\t200\t.\tAT\tA,ATT\t.\t.\tCSQ=" + ",".join([
        csq(Allele="TT", Consequence="inframe_insertion", IMPACT="MODERATE", SYMBOL="GENE3",
            Gene="ENSG3"),
        csq(Allele="-", Consequence="frameshift_variant", IMPACT="HIGH", SYMBOL="GENE3",
            Gene="ENSG3")]) + "\tGT\t1/2\t0|2",
    # Haploid call on X; intergenic only → one row without a gene.
    "X\t300\t.\tC\tT\t10\tLowQual\tCSQ=" + csq(Allele="T", Consequence="intergenic_variant",
                                               IMPACT="MODIFIER") + "\tGT\t1\t0",
    # Nobody carries it.
    "1\t400\t.\tC\tT\t10\tPASS\tCSQ=" + csq(Allele="T", Consequence="synonymous_variant",
                                            SYMBOL="GENE4") + "\tGT\t0/0\t./.",
]


def _table(result, name) -> pl.DataFrame:
    tables = list(result.tables[name])
    assert all(t.schema.equals(OUTPUT_SCHEMAS[name]) for t in tables)
    return pl.from_arrow(pa.concat_tables(tables)) if tables else \
        pl.from_arrow(OUTPUT_SCHEMAS[name].empty_table())


def _rows(result) -> pl.DataFrame:
    """Calls joined to their sites' annotation: the rows stg_variants is built from."""
    calls = _table(result, "variants")
    sites = _table(result, "variant_sites")
    return calls.join(sites, on=["record", "allele"], how="left", maintain_order="left")


def _vcf(tmp_path, body, name="a.vcf.gz", compression="bgzip", samples=("P1", "P2"), **kw):
    return write_vcf(tmp_path / name, header(list(samples), **kw) + "\n".join(body) + "\n",
                     compression)


@pytest.mark.parametrize("compression", ["bgzip", "gzip", "plain"])
def test_good_vcf_rows(tmp_path, compression):
    result = parse_vcf(_vcf(tmp_path, BODY, compression=compression))
    df = _rows(result)
    assert result.quarantine == []
    key = ["patient_id", "pos", "alt", "gene_symbol"]
    got = {tuple(r[k] for k in key): r for r in df.iter_rows(named=True)}
    assert set(got) == {
        ("P1", 100, "G", "GENE1"), ("P1", 100, "G", "GENE2"),
        ("P2", 100, "G", "GENE1"), ("P2", 100, "G", "GENE2"),
        ("P1", 200, "A", "GENE3"), ("P1", 200, "ATT", "GENE3"), ("P2", 200, "ATT", "GENE3"),
        ("P1", 300, "T", None)}
    g1 = got[("P1", 100, "G", "GENE1")]
    assert (g1["consequence"], g1["impact"], g1["gene_id"]) == ("missense_variant", "MODERATE", "ENSG1")
    assert g1["allele_freq"] == pytest.approx(0.02)      # max over all AF fields and '&' parts
    assert (g1["revel"], g1["cadd_phred"], g1["zygosity"]) == (0.7, 25.0, "het")
    assert got[("P2", 100, "G", "GENE1")]["zygosity"] == "hom_alt"
    assert got[("P1", 100, "G", "GENE2")]["allele_freq"] is None
    assert got[("P1", 200, "A", "GENE3")]["consequence"] == "frameshift_variant"
    assert got[("P1", 200, "ATT", "GENE3")]["consequence"] == "inframe_insertion"
    assert got[("P2", 200, "ATT", "GENE3")]["genotype"] == "0|2"
    x = got[("P1", 300, "T", None)]
    assert (x["zygosity"], x["filter"], x["qual"], x["consequence"]) == \
        ("hemi", "LowQual", 10.0, "intergenic_variant")
    assert got[("P1", 200, "A", "GENE3")]["filter"] is None and \
        got[("P1", 200, "A", "GENE3")]["qual"] is None


def test_field_order_comes_from_header_and_allele_num(tmp_path):
    fields = ["Consequence", "SYMBOL", "Gene", "IMPACT", "ALLELE_NUM", "Allele", "CADD_PHRED"]
    body = ["1\t10\t.\tC\tCA,T\t9\tPASS\tCSQ=" + ",".join([
        csq(fields, Allele="XX", ALLELE_NUM="1", Consequence="frameshift_variant", SYMBOL="G1",
            IMPACT="HIGH", CADD_PHRED="30"),
        csq(fields, Allele="YY", ALLELE_NUM="2", Consequence="missense_variant", SYMBOL="G1",
            IMPACT="MODERATE", CADD_PHRED="20")]) + "\tGT\t1/2\t0/0"]
    df = _rows(parse_vcf(_vcf(tmp_path, body, csq_fields=fields)))
    got = {r["alt"]: (r["consequence"], r["cadd_phred"]) for r in df.iter_rows(named=True)}
    assert got == {"CA": ("frameshift_variant", 30.0), "T": ("missense_variant", 20.0)}


def test_wrong_column_count_and_bad_records_are_quarantined_by_line(tmp_path):
    body = list(BODY)
    body.insert(1, "1\t150\t.\tA\tG\t50\tCSQ=" + csq(Allele="G") + "\tGT\t0/1\t0/1")  # no FILTER
    body.insert(2, "1\tx\t.\tA\tG\t50\tPASS\tCSQ=" + csq(Allele="G") + "\tGT\t0/1\t0/1")
    body.insert(3, "1\t160\t.\tA\tG\t50\tPASS\tCSQ=" + csq(Allele="G") + "\tGT\t0/3\t0/1")
    path = _vcf(tmp_path, body)
    result = parse_vcf(path)
    df = _rows(result)
    first_body = header(["P1", "P2"]).count("\n") + 1
    by_line = {r.locator: r.reason for r in result.quarantine}
    assert set(by_line) == {f"line {first_body + 1}", f"line {first_body + 2}",
                            f"line {first_body + 3}"}
    assert "10 tab-separated columns, expected 11" in by_line[f"line {first_body + 1}"]
    assert "POS 'x'" in by_line[f"line {first_body + 2}"]
    assert "allele 3" in by_line[f"line {first_body + 3}"]
    assert sorted(df["pos"].unique().to_list()) == [100, 200, 300]


def test_truncated_gzip_is_a_file_error(tmp_path):
    body = BODY * 2000
    for compression in ("gzip", "bgzip"):
        path = _vcf(tmp_path, body, name=f"t.{compression}.vcf.gz", compression=compression)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(FileRejected, match="truncated"):
            list(parse_vcf(path).tables["variants"])


def test_bgzip_cut_at_block_boundary_is_detected(tmp_path):
    path = _vcf(tmp_path, BODY)
    path.write_bytes(path.read_bytes()[:-28])           # drop only the BGZF EOF block
    with pytest.raises(FileRejected, match="end-of-file block is missing"):
        parse_vcf(path)


def test_csq_records_without_csq_header(tmp_path):
    text = header(["P1", "P2"], csq_fields=None) + "\n".join(BODY) + "\n"
    with pytest.raises(FileRejected, match="no ##INFO=<ID=CSQ> line"):
        parse_vcf(write_vcf(tmp_path / "x.vcf", text, "plain"))


def test_not_a_vcf(tmp_path):
    (tmp_path / "notes.vcf").write_text("patient list\nP1\tP2\n")
    with pytest.raises(FileRejected, match="not a VCF"):
        parse_vcf(tmp_path / "notes.vcf")
    (tmp_path / "bin.vcf.gz").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(FileRejected, match="not a VCF"):
        parse_vcf(tmp_path / "bin.vcf.gz")


@pytest.mark.parametrize("samples, extra", [
    (("P1", "John Smith"), []),
    (("P1", "jane.doe@hospital.org"), []),
    (("P1", "P2"), ["##SAMPLE=<ID=P1,Name=Jane Doe>"]),
    (("P1", "P2"), ["##contact=+44 20 7946 0958"]),
])
def test_direct_identifiers_reject_the_file(tmp_path, samples, extra):
    path = _vcf(tmp_path, [], samples=samples, extra=extra)
    with pytest.raises(FileRejected, match="direct identifier") as err:
        parse_vcf(path)
    assert "Smith" not in str(err.value) and "jane.doe" not in str(err.value)


def test_sites_only_vcf_yields_no_rows(tmp_path):
    text = header([], csq_fields=CSQ_FIELDS).replace("\tFORMAT", "") + \
        "1\t5\t.\tA\tG\t1\tPASS\tCSQ=" + csq(Allele="G") + "\n"
    result = parse_vcf(write_vcf(tmp_path / "s.vcf", text, "plain"))
    assert _rows(result).height == 0 and result.quarantine == []


@pytest.mark.parametrize("compression", ["bgzip", "gzip", "plain"])
def test_small_chunks_keep_rows_and_line_numbers(tmp_path, monkeypatch, compression):
    import orchestration.ingest.vcf as vcf_module
    body = []
    for i in range(300):
        rec = BODY[i % len(BODY)].split("\t")
        rec[1] = str(1000 + i)
        body.append("\t".join(rec))
    for n in (8, 204):
        body[n] = body[n].replace("\tPASS\t", "\t")                      # 10 columns
    body[150] = body[150].replace("\t1150\t", "\tx\t")                  # bad POS
    body[299] = body[299].replace("\t0/0\t", "\t0/5\t").replace("\t1\t0", "\t7\t0")
    path = _vcf(tmp_path, body, compression=compression)
    whole = parse_vcf(path)
    expected = _rows(whole)
    monkeypatch.setattr(vcf_module, "BLOCK_BYTES", 2000)   # a few records per chunk
    chunked = parse_vcf(path)
    assert len([t for t in chunked.tables["variants"] if t.num_rows]) > 10
    chunked = parse_vcf(path)
    # a chunk lists its calls sample by sample: the same rows, in another order
    assert _rows(chunked).sort(pl.all()).equals(expected.sort(pl.all()))
    first_body = header(["P1", "P2"]).count("\n") + 1
    lines = {r.locator for r in chunked.quarantine}
    assert lines == {r.locator for r in whole.quarantine}
    assert lines == {f"line {first_body + n}" for n in (8, 150, 204, 299)}


def test_concatenated_gzip_members_are_one_stream(tmp_path):
    import gzip
    text = (header(["P1", "P2"]) + "\n".join(BODY) + "\n").encode()
    cut = text.index(b"\n1\t200\t") + 1
    path = tmp_path / "cat.vcf.gz"
    path.write_bytes(gzip.compress(text[:cut]) + gzip.compress(text[cut:]))
    df = _rows(parse_vcf(path))
    assert sorted(df["pos"].unique().to_list()) == [100, 200, 300]


def test_trio_stores_each_site_once_and_keeps_no_calls(tmp_path):
    samples = ("KID", "MUM", "DAD")
    body = [
        # all three carry it: one site row per gene, three calls
        "1\t100\t.\tA\tG\t50\tPASS\tCSQ=" + ",".join([
            csq(Allele="G", Consequence="missense_variant", SYMBOL="GENE1", Gene="ENSG1"),
            csq(Allele="G", Consequence="intron_variant", SYMBOL="GENE2", Gene="ENSG2")]) +
        "\tGT:DP\t0/1:9\t0/1:8\t1/1:7",
        # the kid only; the mother is not called, the father is REF
        "1\t200\t.\tC\tT,CA\t50\tPASS\tCSQ=" + ",".join([
            csq(Allele="T", Consequence="stop_gained", SYMBOL="GENE3", Gene="ENSG3"),
            csq(Allele="CA", Consequence="frameshift_variant", SYMBOL="GENE3", Gene="ENSG3")]) +
        "\tGT\t0|2\t./.\t0/0",
        # nobody carries it: neither the site nor the no-call is kept
        "1\t300\t.\tG\tA\t50\tPASS\tCSQ=" + csq(Allele="A", SYMBOL="GENE4") + "\tGT\t0/0\t.\t./.",
    ]
    result = parse_vcf(_vcf(tmp_path, body, samples=samples))
    sites = _table(result, "variant_sites")
    calls = _table(result, "variants")
    no_calls = _table(result, "no_calls")
    assert result.quarantine == []
    assert sites.select("record", "allele", "alt", "gene_symbol").rows() == [
        (0, 1, "G", "GENE1"), (0, 1, "G", "GENE2"), (1, 2, "CA", "GENE3")]
    assert sorted(calls.select("patient_id", "record", "allele", "zygosity").rows()) == [
        ("DAD", 0, 1, "hom_alt"), ("KID", 0, 1, "het"), ("KID", 1, 2, "het"), ("MUM", 0, 1, "het")]
    assert no_calls.rows() == [("MUM", 1, "./.")]
    joined = _rows(parse_vcf(_vcf(tmp_path, body, samples=samples)))
    assert joined.height == 7 and joined.filter(pl.col("pos") == 200)["consequence"].to_list() == \
        ["frameshift_variant"]


def test_hgvs_of_the_kept_entry_per_gene(tmp_path):
    fields = [*CSQ_FIELDS, "HGVSc", "HGVSp"]
    body = ["1\t100\t.\tA\tG\t50\tPASS\tCSQ=" + ",".join([
        # GENE1: the missense transcript is kept (most severe), its HGVS with it
        csq(fields, Allele="G", Consequence="synonymous_variant", SYMBOL="GENE1",
            HGVSc="NM_001.1:c.9A>G", HGVSp="NP_001.1:p.Leu3%3D"),
        csq(fields, Allele="G", Consequence="missense_variant", SYMBOL="GENE1",
            HGVSc="NM_002.2:c.12A>G", HGVSp="NP_002.2:p.Lys4Arg"),
        # GENE2: a synonymous only, VEP's %3D read back as '=', other escapes too
        csq(fields, Allele="G", Consequence="synonymous_variant", SYMBOL="GENE2",
            HGVSc="NM_003.3:c.5A>G", HGVSp="NP_003.3:p.Leu2%3D%2C"),
        # GENE3: intronic, VEP gives no HGVSp
        csq(fields, Allele="G", Consequence="intron_variant", SYMBOL="GENE3",
            HGVSc="NM_004.1:c.100+5A>G")]) + "\tGT\t0/1\t0/0"]
    sites = _table(parse_vcf(_vcf(tmp_path, body, csq_fields=fields)), "variant_sites")
    assert sites.select("gene_symbol", "consequence", "hgvsc", "hgvsp").rows() == [
        ("GENE1", "missense_variant", "NM_002.2:c.12A>G", "NP_002.2:p.Lys4Arg"),
        ("GENE2", "synonymous_variant", "NM_003.3:c.5A>G", "NP_003.3:p.Leu2=,"),
        ("GENE3", "intron_variant", "NM_004.1:c.100+5A>G", None)]
    # a CSQ without the HGVS fields: the columns are there, null
    plain = _table(parse_vcf(_vcf(tmp_path, BODY[:1], name="b.vcf.gz")), "variant_sites")
    assert plain.height and plain["hgvsc"].null_count() == plain["hgvsp"].null_count() == plain.height
