"""One chunk of VCF body lines (all columns as strings) → raw ``variants`` (calls),
``variant_sites`` (annotation) and ``no_calls`` rows.

Eager polars, ordered so the expensive work only touches what ends up in the output:
genotypes are read first, and only records that someone carries get their ALT list
split and their CSQ string exploded, split (up to the last field we use) and collapsed.
A site's annotation is built and stored once, however many samples carry it: in a
20-sample file the per-sample rows are only (sample, record, allele, genotype).

Genotype strings are few (0/1, 1|1, ./. …) however many calls there are, so each distinct
string is decoded once in Python (alleles, copies, zygosity) and joined back, instead of
splitting and exploding every call.
"""

from __future__ import annotations

from urllib.parse import unquote

import polars as pl
import pyarrow as pa

from orchestration.ingest.consequences import SEVERITY_RANK, UNKNOWN_RANK
from orchestration.lake.schemas import NO_CALLS, VARIANT_SITES, VARIANTS, without_lineage

OUTPUT_SCHEMAS = {"variants": without_lineage(VARIANTS),
                  "variant_sites": without_lineage(VARIANT_SITES),
                  "no_calls": without_lineage(NO_CALLS)}

AF_FIELDS = ("gnomADe_AF", "gnomADg_AF", "gnomAD_AF", "MAX_AF")
REVEL_FIELDS = ("REVEL", "REVEL_score")
CADD_FIELDS = ("CADD_PHRED", "CADD_phred")
NOT_CARRIED = ["*", ".", "<NON_REF>", "<*>"]   # alleles that are not a variant to report
HGVS_FIELDS = {"HGVSc": "hgvsc", "HGVSp": "hgvsp"}   # CSQ field -> variant_sites column
_TEXT_FIELDS = ("Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "ALLELE_NUM", *HGVS_FIELDS)
_NULLABLE_TEXT = {"Consequence", "IMPACT", "SYMBOL", "Gene", *HGVS_FIELDS}
_BAD_GT = "genotype '{}' of sample #{} names allele {} but the record has {} ALT allele(s)"


def _null_if_empty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_in(["", "."])).then(None).otherwise(expr)


def _finite(expr: pl.Expr) -> pl.Expr:
    # 'nan'/'inf' cast to floats, but they are no more a number than 'abc' is: a NaN
    # allele frequency would sort above every rarity cut-off and drop the variant.
    return pl.when(expr.is_finite()).then(expr)


def _max_number(values: pl.Series) -> pl.Series:
    # VEP joins values of co-located/overlapping annotations with '&'; keep the largest.
    # Only values that fail the plain cast and are long enough to hold an '&' are searched,
    # and only the few '&' values pay for a list split.
    out = pl.select(_finite(pl.lit(values).cast(pl.Float64, strict=False))).to_series()
    maybe = out.is_null() & (values.str.len_bytes() > 2)
    if not maybe.any():
        return out
    multi = maybe & values.str.contains("&", literal=True)
    if multi.any():
        parts = (values.filter(multi).str.split("&")
                 .list.eval(_finite(pl.element().cast(pl.Float64, strict=False))).list.max())
        out = out.scatter(multi.arg_true(), parts)
    return out


def _csq_value(info: pl.Expr) -> pl.Expr:
    # Literal searches, no regex and no string concatenation: this runs on every carried record.
    start = (pl.when(info.str.starts_with("CSQ=")).then(pl.lit(0, pl.UInt32))
             .otherwise(info.str.find(";CSQ=", literal=True).cast(pl.UInt32) + 1) + 4)
    return info.str.slice(start).str.splitn(";", 2).struct.field("field_0")


def _unescape_hgvs(values: pl.Series) -> pl.Series:
    """VEP URI-escapes HGVS strings in VCF output (unless --no_escape): '=' of a synonymous
    p.(=) becomes %3D, and a ',' or '|' would break the CSQ field. A real HGVS never holds a
    '%', so any %XX is an escape: %3D in bulk, the rare others one distinct value at a time."""
    out = values.str.replace_all("%3D", "=", literal=True)
    rest = out.str.contains("%", literal=True).fill_null(False)
    if rest.any():
        out = out.scatter(rest.arg_true(), [unquote(v) for v in out.filter(rest).to_list()])
    return out


def _consequence_ranks(consequences: pl.Series) -> pl.DataFrame:
    """Most severe term and its rank for each distinct Consequence string (a few hundred)."""
    terms = pl.col("Consequence").str.split("&")
    ranks = terms.list.eval(pl.element().replace_strict(SEVERITY_RANK, default=UNKNOWN_RANK,
                                                        return_dtype=pl.Int32))
    return (consequences.unique().to_frame("Consequence")
            .select("Consequence", _null_if_empty(terms.list.get(ranks.list.arg_min()))
                    .alias("consequence"), ranks.list.min().alias("rank")))


def _vep_alleles(multi: pl.DataFrame) -> pl.DataFrame:
    """(rec, allele_idx, alt, vep_allele) of multi-allelic records."""
    alts = (multi.select("rec", "ref", pl.col("alt_raw").str.split(",").alias("alt"))
            .with_columns(pl.int_ranges(1, pl.col("alt").list.len() + 1).alias("allele_idx"))
            .explode("alt", "allele_idx"))
    # VEP drops the shared first base of indel alleles (writing '-' when nothing is left),
    # but only when every ALT of the record starts with the REF's first base.
    trim = ((pl.col("alt").str.len_chars() != pl.col("ref").str.len_chars()).any().over("rec")
            & (pl.col("alt").str.slice(0, 1) == pl.col("ref").str.slice(0, 1)).all().over("rec"))
    vep = pl.when(trim).then(pl.col("alt").str.slice(1)).otherwise(pl.col("alt"))
    return alts.with_columns(pl.when(vep == "").then(pl.lit("-")).otherwise(vep).alias("vep_allele"))


def _annotations(sites: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """CSQ entries of ``sites`` matched to (rec, allele_idx), collapsed per gene to the most severe."""
    pick = {f: i for i, f in enumerate(fields)}
    wanted = [f for f in (*_TEXT_FIELDS, *AF_FIELDS, *REVEL_FIELDS, *CADD_FIELDS) if f in pick]
    last = max(pick[f] for f in wanted)
    entries = (sites.select("rec", "n_alts", _csq_value(pl.col("info")).str.split(",").alias("e"))
               .explode("e").drop_nulls("e")
               # split only up to the last field used; the rest of the entry is never copied
               .with_columns(pl.col("e").str.split_exact("|", last).alias("e"))
               # numbers need no '.'/'' check: a failed cast is already null
               .select("rec", "n_alts", *[(_null_if_empty(x) if f in _NULLABLE_TEXT else x).alias(f)
                                          for f in wanted
                                          for x in [pl.col("e").struct.field(f"field_{pick[f]}")]]))
    if "ALLELE_NUM" in pick:
        entries = entries.with_columns(pl.col("ALLELE_NUM").cast(pl.Int64, strict=False)
                                       .alias("allele_idx"))
    else:
        # Only multi-allelic records need matching; a lone ALT owns every entry.
        is_multi = pl.col("n_alts") > 1
        if entries.select(is_multi.any()).item():
            alts = _vep_alleles(sites.filter(is_multi))
            multi = (entries.filter(is_multi)
                     .join(alts.select("rec", pl.col("vep_allele").alias("Allele"),
                                       pl.col("allele_idx").alias("idx_vep")),
                           on=["rec", "Allele"], how="left", maintain_order="left")
                     .join(alts.select("rec", pl.col("alt").alias("Allele"),
                                       pl.col("allele_idx").alias("idx_alt")),
                           on=["rec", "Allele"], how="left", maintain_order="left")
                     .with_columns(pl.coalesce("idx_vep", "idx_alt").cast(pl.Int64).alias("allele_idx"))
                     .drop("idx_vep", "idx_alt"))
            entries = pl.concat([entries.filter(~is_multi)
                                 .with_columns(pl.lit(1, pl.Int64).alias("allele_idx")), multi])
        else:
            entries = entries.with_columns(pl.lit(1, pl.Int64).alias("allele_idx"))
    if entries["allele_idx"].null_count():
        entries = entries.drop_nulls("allele_idx")
    if "Consequence" in pick:
        # the join touches the one key column: joining the entries themselves would gather
        # every text column of every entry again
        terms = entries["Consequence"].fill_null("").to_frame()
        ranked = terms.join(_consequence_ranks(terms["Consequence"]), on="Consequence",
                            how="left", maintain_order="left")
        entries = entries.with_columns(ranked["consequence"], ranked["rank"])
    else:
        entries = entries.with_columns(pl.lit(None, pl.String).alias("consequence"),
                                       pl.lit(UNKNOWN_RANK, pl.Int32).alias("rank"))
    numbers = {}
    for name, names in (("allele_freq", AF_FIELDS), ("revel", REVEL_FIELDS),
                        ("cadd_phred", CADD_FIELDS)):
        present = [_max_number(entries[f]) for f in names if f in pick]
        numbers[name] = (pl.DataFrame(present).select(pl.max_horizontal(pl.all()).alias(name)).to_series()
                         if present else pl.Series(name, [None] * entries.height, pl.Float64))
    text = lambda f: pl.col(f) if f in pick else pl.lit(None, pl.String)  # noqa: E731
    entries = entries.select(
        "rec", "allele_idx",
        pl.coalesce([text("Gene"), text("SYMBOL")]).alias("gene_key"),
        text("SYMBOL").alias("gene_symbol"), text("Gene").alias("gene_id"),
        "consequence", "rank", text("IMPACT").alias("impact"),
        *[text(f).alias(col) for f, col in HGVS_FIELDS.items()],
    ).with_columns(*numbers.values())
    best = pl.col("rank").arg_min()      # first most-severe entry, in CSQ order
    # in CSQ order, so the sites come out in a fixed order without sorting them by gene
    collapsed = entries.group_by("rec", "allele_idx", "gene_key", maintain_order=True).agg(
        pl.col("gene_symbol").drop_nulls().first(),
        pl.col("gene_id").drop_nulls().first(),
        pl.col("consequence").get(best), pl.col("impact").get(best),
        pl.col("allele_freq", "revel", "cadd_phred").max(),
        # the HGVS of the entry whose consequence is kept (first most severe, in CSQ order)
        *[pl.col(col).get(best) for col in HGVS_FIELDS.values()],
    ).with_columns(*[pl.col(col).map_batches(_unescape_hgvs, return_dtype=pl.String)
                     for f, col in HGVS_FIELDS.items() if f in pick])
    # Gene-less entries (intergenic, regulatory) only stand for an allele that hits no gene;
    # they are rare, so the check is an anti-join of just those rows, not a window over all.
    no_gene = pl.col("gene_key").is_null()
    geneless = collapsed.filter(no_gene)
    if not geneless.height:
        return collapsed.drop("gene_key")
    keep = geneless.join(collapsed.filter(~no_gene).select("rec", "allele_idx").unique(),
                         on=["rec", "allele_idx"], how="anti")
    return pl.concat([collapsed.filter(~no_gene), keep]).drop("gene_key")


_GT_SCHEMA = {"genotype": pl.String, "kind": pl.String, "token": pl.String,
              "allele_idx": pl.Int64, "zygosity": pl.String}


def _decode_genotype(gt: str) -> list[tuple]:
    """(genotype, kind, token, allele_idx, zygosity) rows of one distinct GT string.

    kind: 'call' (one row per ALT allele named, with its copies folded into zygosity),
    'bad' (an allele that is not a positive integer), 'nocall' ('.' and no ALT allele);
    nothing for REF-only or text without an allele digit (ignored, as before).
    """
    if not any("1" <= ch <= "9" for ch in gt):
        tokens = gt.replace("|", "/").split("/")
        if "." in tokens and all(t in ("0", ".") for t in tokens):
            return [(gt, "nocall", None, None, None)]
        return []
    tokens = gt.replace("|", "/").split("/")
    ploidy = len(tokens)
    copies: dict[int, int] = {}
    rows: list[tuple] = []
    for t in tokens:
        if t in ("0", "."):
            continue
        try:
            idx = int(t) if t.isascii() and t.lstrip("+-").isdigit() else None
        except ValueError:
            idx = None
        if idx is None or idx < 1 or len(t) > 18:
            rows.append((gt, "bad", t, None, None))
            continue
        copies[idx] = copies.get(idx, 0) + 1
    if rows:
        return rows[:1]
    for idx, n in sorted(copies.items()):
        zyg = "hemi" if ploidy == 1 else "hom_alt" if n >= ploidy else "het"
        rows.append((gt, "call", str(idx), idx, zyg))
    return rows


def _genotypes(df: pl.DataFrame, kept: list[int]) -> pl.DataFrame:
    """(rec, sample_idx, genotype, kind, token, allele_idx, zygosity) of the ``kept``
    samples' calls and no-calls at records where some kept sample names an ALT allele."""
    if not kept:
        return pl.DataFrame(schema={"rec": pl.UInt32, "sample_idx": pl.Int64, **_GT_SCHEMA})
    sample_cols = [f"s{i}" for i in kept]
    # lazy, so the filter copies only the sample columns, not INFO; GT is the text before ':'
    # and the records where nobody names an ALT allele (no '1'-'9') yield nothing at all
    gt = (df.lazy().filter(pl.col("c8").str.starts_with("GT"))
          .select("rec", *[pl.col(s).str.slice(0, pl.col(s).str.find(":", literal=True)).alias(s)
                           for s in sample_cols])
          .filter(pl.any_horizontal([pl.col(s).str.contains_any(list("123456789"))
                                     for s in sample_cols]))
          .collect())
    long = gt.unpivot(index="rec", on=sample_cols, variable_name="s", value_name="genotype")
    decoded = [r for g in long["genotype"].unique().to_list() for r in _decode_genotype(g)]
    table = pl.DataFrame(decoded, schema=_GT_SCHEMA, orient="row")
    # in the unpivot's order (sample by sample, records in file order): fixed, so no sort
    return (long.join(table, on="genotype", how="inner", maintain_order="left_right")
            .select("rec", pl.col("s").str.slice(1).cast(pl.Int64).alias("sample_idx"),
                    *_GT_SCHEMA))


def transform(batch: pa.RecordBatch, offset: int, samples: list[str | None],
              csq_fields: list[str]) -> tuple[dict[str, pa.Table], pl.DataFrame]:
    """One chunk of body lines → {table: rows} of ``OUTPUT_SCHEMAS``, plus (rec, reason)
    of records refused.

    ``rec`` is the ordinal of the body row in the stream (``offset`` + row in chunk): the
    ``record`` key that ties a file's calls and no-calls to its sites.
    ``samples`` holds None for a refused sample: its calls are not read.
    """
    df = pl.from_arrow(batch).with_row_index("rec", offset=offset)
    pos = pl.col("c1").str.strip_chars().cast(pl.Int64, strict=False)
    bad_site = pos.is_null() | (pl.col("c3") == "") | (pl.col("c4") == "")
    bad_pos = df.filter(bad_site).select(
        "rec", pl.format("POS '{}' is not an integer or REF/ALT is empty", "c1").alias("reason"))
    gts = _genotypes(df, [i for i, s in enumerate(samples) if s is not None])
    # Sites are only built for records someone carries (and whose POS/REF/ALT are usable).
    called = gts.filter(pl.col("kind") != "nocall")["rec"].unique()
    sites = (df.lazy().filter(pl.col("rec").is_in(called.implode()) & ~bad_site)
             .select("rec", pl.col("c0").alias("chrom"), pos.alias("pos"), pl.col("c3").alias("ref"),
                     pl.col("c4").alias("alt_raw"),
                     _finite(pl.col("c5").cast(pl.Float64, strict=False)).alias("qual"),
                     _null_if_empty(pl.col("c6")).alias("filter"), pl.col("c7").alias("info"))
             .with_columns((pl.col("alt_raw").str.count_matches(",", literal=True) + 1)
                           .alias("n_alts"))
             .collect())
    if bad_pos.height:        # the calls of a record without a usable site are not read
        gts = gts.filter(pl.col("rec").is_in(sites["rec"].implode()))
    # only a 'bad' token or an allele past the first can name an allele the record lacks
    maybe_bad = gts.filter((pl.col("kind") == "bad") | (pl.col("allele_idx") > 1))
    maybe_bad = maybe_bad.join(sites.select("rec", "n_alts"), on="rec", how="inner")
    out_of_range = (pl.col("kind") == "bad") | ((pl.col("kind") == "call")
                                                & (pl.col("allele_idx") > pl.col("n_alts")))
    # the first bad call of a record, in sample order, names the record's fault
    bad_gt = (maybe_bad.filter(out_of_range).sort("rec", "sample_idx", maintain_order=True)
              .group_by("rec", maintain_order=True)
              .agg(pl.format(_BAD_GT, "genotype", pl.col("sample_idx") + 1, "token", "n_alts")
                   .first().alias("reason")))
    if bad_gt.height:
        gts = gts.filter(~pl.col("rec").is_in(bad_gt["rec"].implode()))
    carriers = gts.filter(pl.col("kind") == "call")
    # one row per carried (record, allele): the site key of calls, annotation and no-calls
    alleles = (carriers.select("rec", "allele_idx").unique().sort("rec", "allele_idx")
               .join(sites.select("rec", "chrom", "pos", "ref", "alt_raw", "filter", "qual"),
                     on="rec", maintain_order="left")
               .with_columns(pl.col("alt_raw").str.split(",").list.get(pl.col("allele_idx") - 1)
                             .alias("alt"))
               .drop("alt_raw"))
    n_alleles = alleles.height
    alleles = alleles.filter(~pl.col("alt").is_in(NOT_CARRIED))
    # without refused records or '*' alleles every site is carried: no filter to copy it
    carried = (sites if alleles.height == n_alleles and not bad_gt.height else
               sites.filter(pl.col("rec").is_in(alleles["rec"].unique().implode())))
    ann = _annotations(carried, csq_fields)
    names = pl.lit(pl.Series([s or "" for s in samples])).gather(pl.col("sample_idx"))
    record = pl.col("rec").cast(pl.Int64).alias("record")
    allele = pl.col("allele_idx").alias("allele")
    site_rows = (alleles.join(ann, on=["rec", "allele_idx"], how="left",
                              maintain_order="left_right")
                 .select(record, allele, *OUTPUT_SCHEMAS["variant_sites"].names[2:]))
    if alleles.height < n_alleles:     # a '*' or '<NON_REF>' allele is no call to report
        carriers = carriers.join(alleles.select("rec", "allele_idx"), on=["rec", "allele_idx"],
                                 how="semi", maintain_order="left")
    call_rows = carriers.select(names.alias("patient_id"), record, allele, "genotype", "zygosity")
    no_call_rows = (gts.filter(pl.col("kind") == "nocall")
                    .join(alleles.select("rec").unique(), on="rec", how="semi",
                          maintain_order="left")
                    .select(names.alias("patient_id"), record, "genotype"))
    # the oldest Arrow layout (large_string, not string views): the cast to string is cheap
    out = {name: rows.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(OUTPUT_SCHEMAS[name])
           for name, rows in
           (("variants", call_rows), ("variant_sites", site_rows), ("no_calls", no_call_rows))}
    bad = pl.concat([bad_pos, bad_gt]).sort("rec")
    return out, bad
