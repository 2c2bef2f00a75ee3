"""The patient report in a real headless browser (opt-in: ``make browser``, ``-m browser``).

A small lake is simulated with a hostile term label in every phenopacket and refreshed;
its report asset's page for one unsolved patient is opened in Debian's chromium, driven
by Playwright through ``executable_path`` (browser builds cannot be downloaded here).
Checked: what a clinician sees (the top gene row, the matched-terms table, the
research-use line), no console error, no request beyond the page itself, the hostile
label shown as text and never run. A screenshot goes to /tmp for a human look.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ORPHANLAKE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(os.environ.get("ORPHANLAKE_REPORT_SCREENSHOT", "/tmp/orphanlake-report.png"))
HOSTILE_LABEL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"


@pytest.fixture(scope="module")
def report_lake(tmp_path_factory):
    """12 simulated patients (2,000 background variants each), every phenopacket's first
    observed term relabelled with script, refreshed into a scratch lake."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.resources import LakeResource
    from orchestration.settings import LakePaths
    from orchestration.simulate import generate_batch

    paths = LakePaths(tmp_path_factory.mktemp("browser-lake")).ensure()
    generate_batch(paths.home, n_patients=12, seed=5, background_variants=2_000)
    relabelled = 0
    for f in sorted(paths.landing.glob("clinical/*/*.json")):
        packet = json.loads(f.read_text())
        for feature in packet.get("phenotypicFeatures", []):
            if not feature.get("excluded"):
                feature["type"]["label"] = HOSTILE_LABEL
                relabelled += 1
                break
        f.write_text(json.dumps(packet))
    assert relabelled >= 12
    defs = build_definitions(LakeResource(home=str(paths.home)))
    result = defs.resolve_job_def("refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
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
