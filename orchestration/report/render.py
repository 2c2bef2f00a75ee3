"""A ``PatientReport`` as one self-contained HTML page: inline CSS and SVG, no script, no
external file, font or request, and a Content-Security-Policy that forbids them anyway.

Everything that comes from data (ids, gene symbols, labels, reasons, disease names) is
hostile input and goes through ``esc``; the page's own ids and classes never hold data.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

from orchestration.report.collect import (
    OPTIONAL_VARIANT_COLUMNS,
    PatientReport,
    segregation_text,
)

RESEARCH_USE = ("For research use only — not a diagnosis. These rankings are computational "
                "evidence for review by a clinical geneticist; confirm any finding with "
                "clinical-grade testing before it informs care.")

# what each ranker feature means, for the reasons chart (unknown features show their name)
FEATURE_WORDS = {
    "variant_score": "variant score (rarity × pathogenicity, mode-aware)",
    "var_max_pathogenicity": "most damaging variant",
    "var_freq_score": "rarity of the candidate variants",
    "var_n_rare": "number of rare variants in the gene",
    "var_has_lof": "loss-of-function variant",
    "var_biallelic": "two hits (biallelic)",
    "var_moi_consistent": "fits the gene's inheritance mode",
    "var_max_revel": "REVEL of the best missense",
    "var_max_cadd": "CADD of the best variant",
    "pheno_score": "phenotype match (normalised)",
    "pheno_gene_bma": "phenotype match to the gene",
    "pheno_disease_bma": "phenotype match to the best disease",
    "pheno_excluded_penalty": "excluded terms the disease has",
    "pheno_rank_pct": "phenotype rank among the patient's genes",
    "expr_z": "expression outlier (z)",
    "expr_abs_z": "expression outlier (|z|)",
    "expr_score": "expression evidence",
    "seg_de_novo": "de novo",
    "seg_biallelic_trans": "biallelic in trans (one allele per parent)",
    "seg_hemi_maternal": "hemizygous from a carrier mother",
    "seg_inherited_unaffected": "inherited from an unaffected parent",
    "seg_n_parents": "parents genotyped",
}

CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#d9dee5;--accent:#1f5fa8;--pos:#2e7d4f;
--neg:#b3412e;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;
border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.sub{color:var(--muted);margin:0 0 14px}
.warn{background:#fff4e5;border-left:5px solid #e08a00;padding:10px 14px;margin:12px 0;
font-weight:600}
.note{background:var(--bg);border-left:4px solid var(--line);padding:6px 12px;margin:8px 0;
color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:14px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}summary,dd,li,p{overflow-wrap:anywhere}
td.g{min-width:7.5em}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.top td{background:#eef5ff}
tr.weak td{color:#8a929c}a{color:var(--accent)}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.gene{font-weight:700;font-style:italic}
.muted{color:var(--muted)}.small{font-size:12.5px}
.tag{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;background:var(--bg);
border:1px solid var(--line);margin-right:4px}
.tag.cand{background:#e8f3ec;border-color:#9cc9ad}
.tag.against{background:#fbeae6;border-color:#e2a598}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
details{border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:0 14px}
details[open]{padding-bottom:10px}
summary{cursor:pointer;padding:10px 0;font-size:16px;font-weight:600}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
footer{margin-top:30px;color:var(--muted);font-size:13px}
@media print{details{break-inside:avoid}summary{list-style:none}}
"""

# a shared ancestor this uninformative (e.g. "Phenotypic abnormality") is shown greyed
WEAK_IC = 0.5

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: object) -> str:
    """Text for HTML (element content and quoted attributes alike)."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return esc(value)


def _af(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<span class="muted">not in population data</span>'
    v = float(value)
    return "0" if v == 0 else (f"{v:.4f}" if v >= 0.001 else f"{v:.1e}")


def _term(report: PatientReport, hpo_id: str | None, submitted_label: str | None = None) -> str:
    """``HP:… name``, with the label as submitted when it differs from the ontology's."""
    if not hpo_id:
        return '<span class="muted">—</span>'
    name = report.labels.get(hpo_id)
    out = f'<span class="id">{esc(hpo_id)}</span> {esc(name or submitted_label or "")}'
    if submitted_label and name and submitted_label.strip().lower() != name.strip().lower():
        out += f' <span class="muted small">(submitted as “{esc(submitted_label)}”)</span>'
    return out


def _short(value: object, n: int = 14) -> str:
    """A label cut to ``n`` characters for a chart (tables show it whole)."""
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[:n - 1] + "…"


def score_bars_svg(genes: list[dict]) -> str:
    """Horizontal bars of the top genes' scores (0..1), best first."""
    row_h, label_w, bar_w = 24, 150, 520
    height = row_h * len(genes) + 28
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 70}" '
             f'height="{height}" aria-label="score of each top gene">']
    for i, g in enumerate(genes):
        y = 6 + i * row_h
        score = g.get("score")
        s = min(max(float(score), 0.0), 1.0) if score is not None else 0.0
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="13" '
                     f'font-style="italic" font-weight="600">{esc(_short(g.get("gene_symbol")))}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="16" fill="#eef1f4"/>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar_w * s:.1f}" height="16" '
                     f'fill="{"#1f5fa8" if i == 0 else "#6f9bcf"}"/>'
                     f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="12">'
                     f'{_num(score)}</text>')
    axis_y = 6 + len(genes) * row_h + 12
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + bar_w * tick
        parts.append(f'<text x="{x:.1f}" y="{axis_y}" font-size="11" fill="#5b6573" '
                     f'text-anchor="middle">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def contributions_svg(contributions: dict | None, n: int = 8) -> str:
    """The features that moved this gene's score most, as signed bars (log-odds)."""
    items = [(k, float(v)) for k, v in (contributions or {}).items()
             if k != "bias" and v is not None and not math.isnan(float(v)) and float(v) != 0]
    items = sorted(items, key=lambda kv: (-abs(kv[1]), kv[0]))[:n]
    if not items:
        return '<p class="muted small">No per-feature contributions recorded.</p>'
    label_w, half, row_h = 330, 190, 20
    scale = max(abs(v) for _, v in items) or 1.0
    mid = label_w + half
    height = row_h * len(items) + 22
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + 2 * half + 60}" '
             f'height="{height}" aria-label="contribution of each feature to the score">',
             f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height - 16}" stroke="#9aa3ad"/>']
    for i, (feature, value) in enumerate(items):
        y = 2 + i * row_h
        w = half * abs(value) / scale
        x = mid if value > 0 else mid - w
        parts.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" font-size="12">'
                     f'{esc(_short(FEATURE_WORDS.get(feature, feature), 52))}</text>'
                     f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="12" '
                     f'fill="{"#2e7d4f" if value > 0 else "#b3412e"}"/>'
                     f'<text x="{(mid + w + 4) if value > 0 else (mid - w - 4):.1f}" y="{y + 13}" '
                     f'font-size="11" text-anchor="{"start" if value > 0 else "end"}">'
                     f'{value:+.2f}</text>')
    parts.append(f'<text x="{mid}" y="{height - 3}" font-size="11" fill="#5b6573" '
                 'text-anchor="middle">log-odds: green raises the score, red lowers it</text>')
    parts.append("</svg>")
    return "".join(parts)


def _genes_table(report: PatientReport) -> str:
    seg_shown = any(segregation_text(g) for g in report.genes)
    head = ["#", "Gene", "Score", "Variant", "Phenotype"] + (["Segregation"] if seg_shown else []) \
        + ["Best-matching disease", "Modes", "Top reasons"]
    rows = []
    for i, g in enumerate(report.genes, start=1):
        cells = [f'<td class="num">{esc(g.get("rank"))}</td>',
                 f'<td class="g"><a href="#gene-{i}" class="gene">{esc(g.get("gene_symbol"))}</a></td>',
                 f'<td class="num"><b>{_num(g.get("score"))}</b></td>',
                 f'<td class="num">{_num(g.get("variant_score"), 2)}</td>',
                 f'<td class="num">{_num(g.get("pheno_score"), 2)}</td>']
        if seg_shown:
            cells.append(f"<td>{esc(segregation_text(g) or '—')}</td>")
        disease = g.get("best_disease_name") or g.get("best_disease_id")
        cells += [f'<td>{esc(disease or "—")}'
                  + (f' <span class="id muted">{esc(g.get("best_disease_id"))}</span>'
                     if g.get("best_disease_id") and g.get("best_disease_name") else "") + "</td>",
                  f"<td>{esc(g.get('known_modes') or '—')}</td>",
                  f'<td class="small">{esc(g.get("top_reasons") or "—")}</td>']
        row_class = ' class="top"' if i == 1 else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    return _table(head, rows, num_cols={0, 2, 3, 4}, table_id="top-genes")


def _table(head: list[str], rows: list[str], num_cols=frozenset(), table_id: str = "") -> str:
    num = ' class="num"'
    ths = "".join(f"<th{num if i in num_cols else ''}>{esc(h)}</th>"
                  for i, h in enumerate(head))
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _variants_table(report: PatientReport, gene: str) -> str:
    calls = report.variants.get(gene) or []
    if not calls:
        return '<p class="muted">No rare passing variant in this gene.</p>'
    optional = [c for c in OPTIONAL_VARIANT_COLUMNS if any(v.get(c) for v in calls)]
    head = ["Variant (GRCh38)", *[c.upper() if c.startswith("hgvs") else c.capitalize()
                                  for c in optional],
            "Consequence", "Allele frequency", "Zygosity", "REVEL", "CADD", ""]
    rows = []
    for v in calls:
        tag = ('<span class="tag cand">candidate</span>' if v.get("candidate") else
               '<span class="tag">rare, not scored as candidate</span>')
        rows.append("<tr>" + f'<td><code>{esc(v.get("variant_key"))}</code></td>'
                    + "".join(f"<td>{esc(v.get(c) or '—')}</td>" for c in optional)
                    + f"<td>{esc((v.get('consequence') or '—').replace('_', ' '))}</td>"
                    + f'<td class="num">{_af(v.get("allele_freq"))}</td>'
                    + f"<td>{esc(v.get('zygosity') or '—')}</td>"
                    + f'<td class="num">{_num(v.get("revel"), 2)}</td>'
                    + f'<td class="num">{_num(v.get("cadd_phred"), 1)}</td>'
                    + f"<td>{tag}</td></tr>")
    n_opt = len(optional)
    return _table(head, rows, num_cols={n_opt + 2, n_opt + 4, n_opt + 5})


def _matches_section(report: PatientReport, gene: str) -> str:
    m = report.matches.get(gene)
    if m is None:
        return ""
    submitted = {t["hpo_id"]: t.get("label") for t in report.terms}
    out = [f'<h3>Phenotype match: {esc(m.target_name)} '
           f'<span class="id muted">{esc(m.target_id)}</span></h3>']
    if not m.terms:
        out.append('<p class="muted">The patient has no observed terms.</p>')
    else:
        rows = []
        for t in sorted(m.terms, key=lambda t: (-t.ic, t.patient_term)):
            if not t.known:
                match = '<span class="muted">term not in this HPO release: not scored</span>'
                rows.append(f"<tr><td>{_term(report, t.patient_term, submitted.get(t.patient_term))}"
                            f'</td><td colspan="2">{match}</td><td class="num">—</td></tr>')
                continue
            exact = t.target_term == t.patient_term
            mica = (_term(report, t.common_ancestor) if t.target_term else
                    '<span class="muted">no informative match</span>')
            weak = ' class="weak"' if t.ic < WEAK_IC else ""
            rows.append(
                f"<tr{weak}><td>{_term(report, t.patient_term, submitted.get(t.patient_term))}</td>"
                f"<td>{_term(report, t.target_term)}"
                + (' <span class="tag cand">exact</span>' if exact else "") + "</td>"
                f"<td>{mica}</td>"
                f'<td class="num">{_num(t.ic, 2)}</td></tr>')
        out.append(_table(["Patient term", "Best-matching disease term",
                           "Most informative common ancestor", "IC"], rows, num_cols={3}))
        out.append(f'<p class="muted small">Greyed: a match only through a general term '
                   f'(IC below {WEAK_IC:g}), which says little.</p>')
    if m.excluded:
        rows = [f"<tr><td>{_term(report, e.excluded_term, submitted.get(e.excluded_term))}</td>"
                f"<td>{'<br>'.join(_term(report, t) for t in e.target_terms[:6])}"
                + (f'<br><span class="muted small">and {len(e.target_terms) - 6} more</span>'
                   if len(e.target_terms) > 6 else "")
                + f'</td><td class="num">{_num(e.ic, 2)}</td></tr>' for e in m.excluded]
        out.append('<p><span class="tag against">counts against</span> Terms the patient was '
                   'examined for and does <b>not</b> have, but this disease does:</p>')
        out.append(_table(["Excluded patient term", "Disease term(s) at or below it", "IC"],
                          rows, num_cols={2}))
    return "".join(out)


def _gene_detail(report: PatientReport, i: int, g: dict) -> str:
    gene = g.get("gene_symbol")
    seg = segregation_text(g)
    facts = [("Score", f"<b>{_num(g.get('score'))}</b> (rank {esc(g.get('rank'))})"),
             ("Variant score", _num(g.get("variant_score"), 3)),
             ("Phenotype score", _num(g.get("pheno_score"), 3)),
             ("Inheritance modes", esc(g.get("known_modes") or "—"))]
    if seg:
        facts.append(("Segregation", esc(seg)))
    facts.append(("Top reasons", esc(g.get("top_reasons") or "—")))
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<details id="gene-{i}"{" open" if i == 1 else ""}>'
            f'<summary>{i}. <span class="gene">{esc(gene)}</span> — score {_num(g.get("score"))}'
            f'{" — " + esc(g.get("best_disease_name")) if g.get("best_disease_name") else ""}'
            f'</summary><dl class="meta">{meta}</dl>'
            f"<h3>Variants</h3>{_variants_table(report, gene)}"
            f"{_matches_section(report, gene)}"
            f"<h3>Why this score</h3>{contributions_svg(g.get('contributions'))}</details>")


def _phenotype_section(report: PatientReport) -> str:
    observed = [t for t in report.terms if not t["excluded"]]
    excluded = [t for t in report.terms if t["excluded"]]

    def items(terms):
        if not terms:
            return '<p class="muted">none</p>'
        return "<ul>" + "".join(
            f"<li>{_term(report, t['hpo_id'], t.get('label'))}"
            + (f' <span class="muted small">(submitted as {esc(t["hpo_id_submitted"])})</span>'
               if t.get("hpo_id_submitted") and t["hpo_id_submitted"] != t["hpo_id"] else "")
            + "</li>" for t in terms) + "</ul>"

    return (f"<h2>Patient phenotype</h2><h3>Observed ({len(observed)})</h3>{items(observed)}"
            f"<h3>Excluded ({len(excluded)})</h3>{items(excluded)}")


def render(report: PatientReport, generated_at: datetime | None = None) -> str:
    """The report as a complete HTML document."""
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    p = report.patient
    subtitle = [f'Patient <b class="id">{esc(report.patient_id)}</b>']
    if p.get("sex"):
        subtitle.append(f"sex {esc(p['sex'])}")
    subtitle.append(f"{sum(not t['excluded'] for t in report.terms)} observed, "
                    f"{sum(bool(t['excluded']) for t in report.terms)} excluded HPO terms")
    subtitle.append(f"generated {esc(when)}")
    method = [("Ranking method", esc(report.method.get("ranking_method") or "—")),
              ("Model version", esc(report.method.get("model_version") or "—")),
              ("HPO release", esc(report.method.get("hpo_release") or "—")),
              ("Score", "the ranker's probability (0–1) that the gene is this patient's "
                        "causal gene; rank 1 is the most likely")]
    if report.method.get("calibration"):
        method.append(("Calibration", esc(report.method["calibration"])))
    if report.method.get("heldout_recall"):
        method.append(("Measured recall", esc(report.method["heldout_recall"])))
    method.append(("Term matches", "per patient term, the disease term sharing its most "
                                   "informative common ancestor (Resnik; IC = −ln of the "
                                   "share of annotated genes)"))
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in report.notes)
    top = report.genes[0] if report.genes else {}
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>Candidate genes — {esc(report.patient_id)}</title>"
        f"<style>{CSS}</style></head><body><main>"
        f'<h1>Candidate genes</h1><p class="sub">{" · ".join(subtitle)}</p>'
        f'<p class="warn" id="research-use">{esc(RESEARCH_USE)}</p>'
        + (f'<p>Top candidate: <span class="gene">{esc(top.get("gene_symbol"))}</span> '
           f'(score {_num(top.get("score"))})'
           + (f', best-matching disease {esc(top.get("best_disease_name"))}'
              if top.get("best_disease_name") else "") + ".</p>" if top else "")
        + notes
        + f"<h2>Top {len(report.genes)} genes</h2>{score_bars_svg(report.genes)}"
        + _genes_table(report)
        + "<h2>Gene by gene</h2>"
        + "".join(_gene_detail(report, i, g) for i, g in enumerate(report.genes, start=1))
        + _phenotype_section(report)
        + "<h2>Method</h2><dl class=\"meta\">"
        + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in method) + "</dl>"
        + f'<footer><p>{esc(RESEARCH_USE)}</p><p>Generated by orphanlake.</p></footer>'
        "</main></body></html>\n")
