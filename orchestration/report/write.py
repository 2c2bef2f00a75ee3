"""Patient reports from a lake: one page for the CLI, one per unsolved patient for the asset.

Both read the published catalog (what ``orphanlake sql`` reads), the lake's phenotype
index (``reference/phenotype_index.npz``) for the term matches, and the ranker's metadata
for its version. Pages in the lake are named by ``safe_name`` of the patient id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from models.hpo_index import INDEX_FILENAME, PhenotypeIndex
from orchestration.lake.catalog import connect_readonly
from orchestration.lake.safe_paths import inside_lake, safe_name
from orchestration.report.collect import (
    TOP_GENES,
    check_patient,
    collect,
    ranked_patients,
)
from orchestration.report.render import CSP, CSS, RESEARCH_USE, esc, render
from orchestration.settings import LakePaths

REPORTS_SUBDIR = "patients"
# the ranker's folder under models/ (orchestration.assets.models.RANKER_DIR; not imported
# from there so that the CLI does not load Dagster for a report)
RANKER_META = Path("gene_ranker") / "ranker_meta.json"


def reports_dir(paths: LakePaths) -> Path:
    return paths.reports / REPORTS_SUBDIR


def report_path(paths: LakePaths, patient_id: str) -> Path:
    """``reports/patients/<safe_name(patient_id)>.html``, checked to stay in the lake."""
    return inside_lake(paths, reports_dir(paths) / f"{safe_name(patient_id)}.html")


def _index(paths: LakePaths) -> tuple[PhenotypeIndex | None, str]:
    """The lake's phenotype index, or None and why (a report without term matches is
    still a report)."""
    path = paths.reference / INDEX_FILENAME
    if not path.exists():
        return None, "the phenotype index is not in this lake: term matches not shown"
    try:
        return PhenotypeIndex.load(path), ""
    except (OSError, ValueError, KeyError) as exc:   # e.g. written by another code version
        return None, f"the phenotype index could not be read ({exc}): term matches not shown"


def _ranker_meta(paths: LakePaths) -> dict | None:
    path = paths.models / RANKER_META
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def patient_report_html(paths: LakePaths, patient_id: str, top: int = TOP_GENES) -> str:
    """One patient's report; UnknownPatient when the lake has no ranking for them."""
    with connect_readonly(paths) as con:
        check_patient(con, patient_id)
        index, why = _index(paths)
        reports = collect(con, [patient_id], index=index, index_note=why,
                          ranker_meta=_ranker_meta(paths), top=top)
    return render(reports[patient_id])


@dataclass
class WrittenReports:
    written: dict[str, Path]       # patient id -> page
    failed: dict[str, str]         # patient id -> error
    removed: list[Path]            # pages of patients no longer ranked
    index_page: Path


def write_patient_reports(paths: LakePaths, top: int = TOP_GENES) -> WrittenReports:
    """A page per ranked (unsolved) patient, an index page linking them, and the pages of
    patients no longer ranked (solved since) removed. A patient whose page cannot be
    made is reported in ``failed``; the others are still written."""
    index, why = _index(paths)
    meta = _ranker_meta(paths)
    now = datetime.now(timezone.utc)
    written: dict[str, Path] = {}
    failed: dict[str, str] = {}
    with connect_readonly(paths) as con:
        patients = ranked_patients(con)
        reports = collect(con, patients, index=index, index_note=why, ranker_meta=meta,
                          top=top)
    for pid in patients:
        try:
            path = report_path(paths, pid)
            _write_atomic(path, render(reports[pid], generated_at=now))
            written[pid] = path
        except Exception as exc:        # one bad patient never costs the others their page
            failed[pid] = f"{type(exc).__name__}: {exc}"
    folder = reports_dir(paths)
    keep = {p.name for p in written.values()}
    removed = []
    for old in sorted(folder.glob("*.html")):
        if old.name != "index.html" and old.name not in keep:
            old.unlink()
            removed.append(old)
    index_page = inside_lake(paths, folder / "index.html")
    _write_atomic(index_page, _index_html(reports, written, now))
    return WrittenReports(written=written, failed=failed, removed=removed,
                          index_page=index_page)


def _index_html(reports, written: dict[str, Path], now: datetime) -> str:
    rows = []
    for pid, path in sorted(written.items()):
        top = reports[pid].genes[0] if reports[pid].genes else {}
        score = top.get("score")
        rows.append(f'<tr><td><a href="{esc(path.name)}">{esc(pid)}</a></td>'
                    f"<td><i>{esc(top.get('gene_symbol') or '—')}</i></td>"
                    f"<td>{'—' if score is None else f'{float(score):.3f}'}</td>"
                    f"<td>{esc(top.get('best_disease_name') or '—')}</td></tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>Patient reports</title><style>{CSS}</style></head><body><main>"
            f"<h1>Patient reports</h1><p class=\"sub\">{len(written)} unsolved patients · "
            f"generated {now.strftime('%Y-%m-%d %H:%M UTC')}</p>"
            f'<p class="warn">{esc(RESEARCH_USE)}</p>'
            "<table><thead><tr><th>Patient</th><th>Top gene</th><th>Score</th>"
            f"<th>Best-matching disease</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</main></body></html>\n")
