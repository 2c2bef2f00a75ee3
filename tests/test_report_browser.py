"""The patient report in a real headless browser (opt-in: ``make browser``, ``-m browser``).

A small lake is simulated and refreshed against an HPO release with markup in term names;
its report asset's page for one unsolved patient is opened in Debian's chromium, driven
by Playwright through ``executable_path`` (browser builds cannot be downloaded here).
Checked: what a clinician sees (the top gene row, the matched-terms table, the
research-use line), no console error, no request beyond the page itself, the hostile
label shown as text and never run. A screenshot goes to /tmp for a human look.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ORPHANLAKE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(os.environ.get("ORPHANLAKE_REPORT_SCREENSHOT", "/tmp/orphanlake-report.png"))
HOSTILE_LABEL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _hostile_release(folder: Path, term_ids: set[str]) -> Path:
    """A copy of the HPO release whose terms ``term_ids`` are named with markup: the
    release is input too (ORPHANLAKE_HPO_DIR), and its names reach every report."""
    from orchestration.settings import hpo_release_dir

    source = hpo_release_dir()
    folder.mkdir(parents=True)
    for name in ("genes_to_phenotype.txt", "phenotype.hpoa", "phenotype_to_genes.txt"):
        if (source / name).exists():
            shutil.copy2(source / name, folder / name)

    def rename(m: re.Match) -> str:
        return f"{m.group(1)}{HOSTILE_LABEL} {m.group(3)}" if m.group(2) in term_ids else m.group(0)

    obo = (source / "hp.obo").read_text(encoding="utf-8")
    obo, n = re.subn(r"(\[Term\]\nid: (HP:\d+)\nname: )([^\n]*)", rename, obo)
    (folder / "hp.obo").write_text(obo, encoding="utf-8")
    assert n > 10_000
    return folder


@pytest.fixture(scope="module")
def report_lake(tmp_path_factory):
    """12 simulated patients (2,000 background variants each) refreshed into a scratch
    lake against an HPO release that names each patient's first observed term with markup.
    (A phenopacket's own term labels never reach the lake: ingest keeps the ontology's.)"""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.reference import hpo
    from orchestration.resources import LakeResource
    from orchestration.settings import LakePaths
    from orchestration.simulate import generate_batch

    root = tmp_path_factory.mktemp("browser")
    paths = LakePaths(root / "lake").ensure()
    generate_batch(paths.home, n_patients=12, seed=5, background_variants=2_000)
    first_terms = set()
    for f in sorted(paths.landing.glob("clinical/*/*.json")):
        packet = json.loads(f.read_text())
        first_terms.update(feat["type"]["id"] for feat in packet.get("phenotypicFeatures", [])
                           if not feat.get("excluded"))
    release = _hostile_release(root / "hpo", first_terms)

    before = os.environ.get("ORPHANLAKE_HPO_DIR")
    os.environ["ORPHANLAKE_HPO_DIR"] = str(release)
    # the simulator parsed the default release; the refresh must parse this one
    for cached in vars(hpo).values():
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
    try:
        defs = build_definitions(LakeResource(home=str(paths.home)))
        result = defs.resolve_job_def("refresh").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    finally:
        if before is None:
            os.environ.pop("ORPHANLAKE_HPO_DIR", None)
        else:
            os.environ["ORPHANLAKE_HPO_DIR"] = before
    assert result.success, "the refresh of the browser test's lake failed"
    return paths


def test_report_reads_well_in_chromium(report_lake):
    from playwright.sync_api import sync_playwright

    from orchestration.lake.catalog import connect_readonly
    from orchestration.report.collect import ranked_patients
    from orchestration.report.write import report_path

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with connect_readonly(report_lake) as con:
        patient = ranked_patients(con)[0]
        top_gene = con.execute("select gene_symbol from patient_gene_rankings where "
                               "patient_id = ? and rank = 1", [patient]).fetchone()[0]
    page_file = report_path(report_lake, patient)
    assert page_file.exists(), "the patient_reports asset wrote no page for this patient"

    console, requests, page_errors = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")

            # the top gene row of the top-genes table
            first = page.locator("#top-genes tbody tr").first
            assert first.locator("td").nth(0).inner_text().strip() == "1"
            assert first.locator("td").nth(1).inner_text().strip() == top_gene
            score = float(first.locator("td").nth(2).inner_text())
            assert 0.0 <= score <= 1.0
            # the first gene's details are open, with its matched-terms table
            details = page.locator("details#gene-1")
            assert details.get_attribute("open") is not None
            matched = details.locator("table", has_text="Most informative common ancestor")
            assert matched.count() == 1 and matched.locator("tbody tr").count() >= 1
            assert page.locator("#research-use").is_visible()
            assert "not a diagnosis" in page.locator("#research-use").inner_text()
            # the hostile label is on the page as text, and nothing of it ran
            assert "<script>window.__pwned = 1</script>" in page.locator("body").inner_text()
            assert page.evaluate("() => window.__pwned === undefined")
            assert page.locator("main script, main img").count() == 0

            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    errors = [text for kind, text in console if kind == "error"]
    assert not errors and not page_errors, (errors, page_errors)
    # the page itself and nothing else: no font, stylesheet, script or image fetched
    assert requests == [page_file.as_uri()], requests
    print(f"screenshot: {SCREENSHOT}")
