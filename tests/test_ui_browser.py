"""The Dagster UI on a demo lake in a real headless browser (opt-in: ``make browser``,
``-m browser``).

A small lake is simulated (with the bad files the quarantine must catch) and refreshed by
``orphanlake refresh`` in a child process, recorded in the lake's own Dagster instance;
``ORPHANLAKE_UI_LAKE=<lake>`` reuses a refreshed lake instead (e.g. ``data_lake`` after
``make demo``; it is only read). ``dagster-webserver`` serves that lake on 127.0.0.1 on a
free port, and Debian's chromium, driven by Playwright through ``executable_path``, opens:

- the global asset lineage: every group drawn, the five domain groups among them, and
  the graph reading left to right (each edge between two groups points right, apart
  from the cycles orchestration/groups.py documents);
- the quarantine mart's checks: ``nothing_quarantined`` warns (severity WARN) with the
  count of what the demo's bad files put in quarantine;
- ``plate_well_scores``' ``heatmaps`` and ``trial_stats_time_to_event``'s ``kaplan_meier``
  metadata open and their PNGs decode.

The UI's GraphQL API says when the code location is loaded and what the page must show;
the page is checked for what a person sees. Screenshots go to a temporary folder (or
``ORPHANLAKE_UI_SCREENSHOTS``), named at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ORPHANLAKE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DOMAIN_GROUPS = ("clinical", "genomic", "compounds", "screening", "trials")
LOAD_TIMEOUT_S = 900          # the code location parses dbt's project on a cold start
PAGE_TIMEOUT_MS = 120_000


def _child_env(home: Path) -> dict[str, str]:
    """A child's environment on ``home``: its lake, and Dagster's instance inside it (the
    one `orphanlake refresh` records runs in)."""
    from orchestration.settings import LakeConfig

    env = LakeConfig.at(str(home)).child_env()
    env["DAGSTER_HOME"] = str(home / ".dagster")
    return env


@pytest.fixture(scope="module")
def ui_lake(tmp_path_factory) -> Path:
    reuse = os.environ.get("ORPHANLAKE_UI_LAKE")
    if reuse:
        home = Path(reuse).resolve()
        assert (home / "lake.duckdb").exists() and (home / ".dagster").is_dir(), \
            f"ORPHANLAKE_UI_LAKE={reuse} is not a refreshed lake (run `make demo` first)"
        return home
    home = tmp_path_factory.mktemp("ui") / "lake"
    env = _child_env(home)
    cli = [sys.executable, "-m", "orchestration.cli", "--home", str(home)]
    subprocess.run([*cli, "generate", "--patients", "12", "--seed", "5",
                    "--background-variants", "2000", "--with-bad-files"],
                   env=env, check=True, stdout=subprocess.DEVNULL, timeout=1800)
    done = subprocess.run([*cli, "refresh"], env=env, capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    # the quiet CLI on the way: a line per step, the log's path, the summary
    assert re.search(r"^\[ *1/\d+\] ", done.stderr, re.M) and "full log: " in done.stdout, \
        done.stderr[-2000:]
    log = Path(done.stdout.split("full log: ")[1].split()[0])
    assert log.is_file() and "STEP_SUCCESS" in log.read_text(errors="replace")
    return home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert not body.get("errors"), body["errors"]
    return body["data"]


WORKSPACE = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@pytest.fixture(scope="module")
def webserver(ui_lake, tmp_path_factory):
    """``dagster-webserver`` on the lake's code location and instance; yields its URL once
    the code location is loaded."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    exe = Path(sys.executable).parent / "dagster-webserver"
    with log.open("w") as out:
        proc = subprocess.Popen([str(exe), "-m", "orchestration.definitions", "-h", "127.0.0.1",
                                 "-p", str(port)], env=_child_env(ui_lake), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the code location never loaded\n" + \
                log.read_text()[-3000:]
            try:
                entries = _graphql(url, WORKSPACE)["workspaceOrError"]["locationEntries"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                entries = []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e["locationOrLoadError"] for e in entries
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                assert not errors, errors
                break
            time.sleep(2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)      # the server and its code server
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


ASSETS = """{ assetNodes { assetKey { path } groupName dependencyKeys { path }
  assetChecksOrError { ... on AssetChecks { checks { name
    executionForLatestMaterialization { status evaluation { severity success
      metadataEntries { label ... on IntMetadataEntry { intValue } } } } } } } } }"""

# (asset, markdown metadata entry) whose inline PNGs a person opens in the UI: the plate
# heatmaps and the trials' Kaplan-Meier curves
PICTURES = (("plate_well_scores", "heatmaps"), ("trial_stats_time_to_event", "kaplan_meier"))
PICTURE_QUERY = """{ assetOrError(assetKey: {path: ["%s"]}) { ... on Asset {
  assetMaterializations(limit: 1) { metadataEntries { label
    ... on MarkdownMetadataEntry { mdStr } } } } } }"""


@pytest.fixture(scope="module")
def expected(webserver) -> dict:
    """What the page must show, from the UI's own GraphQL API."""
    nodes = _graphql(webserver, ASSETS)["assetNodes"]
    group = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    edges = {(group["/".join(d["path"])], n["groupName"]) for n in nodes
             for d in n["dependencyKeys"] if "/".join(d["path"]) in group}
    warns = {}
    for n in nodes:
        for check in (n["assetChecksOrError"] or {}).get("checks", []):
            run = check["executionForLatestMaterialization"] or {}
            evaluation = run.get("evaluation") or {}
            if evaluation and not evaluation["success"] and evaluation["severity"] == "WARN":
                warns[("/".join(n["assetKey"]["path"]), check["name"])] = {
                    e["label"]: e.get("intValue") for e in evaluation["metadataEntries"]}
    pictures = {}
    for asset, label in PICTURES:
        materialized = _graphql(webserver, PICTURE_QUERY % asset)["assetOrError"]["assetMaterializations"]
        pictures[asset] = [e.get("mdStr") for m in materialized for e in m["metadataEntries"]
                           if e["label"] == label]
    return {"groups": set(group.values()), "edges": {(a, b) for a, b in edges if a != b},
            "warns": warns, "pictures": pictures}


@pytest.fixture(scope="module")
def browser_page(webserver):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    errors, outside = [], []

    def local_only(route):
        # the UI is served from 127.0.0.1; anything else is neither needed nor fetched
        if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with tempfile.TemporaryDirectory(prefix="orphanlake-chromium-") as profile, \
            sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1600, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.route("**/*", local_only)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(webserver, wait_until="domcontentloaded")
            yield page
        finally:
            context.close()
    assert not errors, errors
    if outside:
        print(f"requests outside 127.0.0.1, refused: {sorted(set(outside))[:10]}")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("ORPHANLAKE_UI_SCREENSHOTS")
    out = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="orphanlake-ui-"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open(page, url: str) -> None:
    """Go to ``url`` and close the community sign-up dialog a fresh profile is shown."""
    page.goto(url, wait_until="domcontentloaded")
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=5_000)
    except Exception:
        return
    skip.click()


def test_global_lineage_shows_the_domain_groups_left_to_right(webserver, expected, browser_page,
                                                              screenshots):
    from orchestration.groups import GROUPS, KNOWN_GROUP_CYCLES

    page = browser_page
    assert set(DOMAIN_GROUPS) <= expected["groups"]
    assert expected["groups"] == {g for g, assets in GROUPS.items() if assets}
    _open(page, f"{webserver}/asset-groups")
    # each group is one collapsed node of the graph (an SVG foreignObject), named
    boxes = {}
    for name in sorted(expected["groups"]):
        label = page.locator("foreignObject").get_by_text(name, exact=True).first
        label.wait_for(state="visible")
        boxes[name] = label.bounding_box()
    page.screenshot(path=str(screenshots / "lineage.png"))
    backwards = [(a, b) for a, b in sorted(expected["edges"])
                 if frozenset({a, b}) not in KNOWN_GROUP_CYCLES
                 and boxes[a]["x"] >= boxes[b]["x"]]
    assert not backwards, f"group edges drawn right to left: {backwards}"
    for a, b in [("clinical", "genomic"), ("compounds", "screening"), ("reference", "clinical")]:
        if (a, b) in expected["edges"]:
            assert boxes[a]["x"] < boxes[b]["x"], (a, b)


def test_quarantine_check_warns_with_its_count(webserver, expected, browser_page, screenshots):
    page = browser_page
    key = ("quarantine", "nothing_quarantined")
    assert key in expected["warns"], f"no WARN check on the quarantine mart: {expected['warns']}"
    count = expected["warns"][key].get("quarantined")
    assert count and count > 0, expected["warns"][key]
    # the demo's bad files leave a warning on every domain's ingest too
    assert {a for a, _ in expected["warns"]} >= {"raw_patients", "raw_variants", "quarantine"}
    _open(page, f"{webserver}/assets/quarantine?view=checks")
    page.get_by_text("nothing_quarantined", exact=True).first.click()
    result = page.locator("text=Evaluation result").locator("..")
    result.get_by_text("Failed").wait_for(state="visible")
    row = page.locator("tr", has=page.get_by_text("quarantined", exact=True))
    assert row.first.inner_text().split()[-1] == str(count)
    page.screenshot(path=str(screenshots / "quarantine-check.png"))


@pytest.mark.parametrize("asset, label", PICTURES)
def test_pictures_are_images_in_the_ui(webserver, expected, browser_page, screenshots, asset, label):
    """The plate heatmaps and the Kaplan-Meier curves (with numbers at risk) open from the
    asset's page as images that decode."""
    page = browser_page
    md = expected["pictures"][asset]
    assert md and "data:image/png;base64," in md[0], (asset, md[:1])
    shown = md[0].count("data:image/png;base64,")
    _open(page, f"{webserver}/assets/{asset}")
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    images = dialog.locator("img[src^='data:image/png']")
    images.first.wait_for(state="visible")
    page.wait_for_function(
        "() => { const imgs = document.querySelectorAll(\"[role=dialog] img[src^='data:image/png']\");"
        " return imgs.length > 0 && Array.from(imgs).every(i => i.complete); }")
    sizes = images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == shown, (len(sizes), shown)
    assert all(w >= 100 and h >= 100 for w, h in sizes[:1]), sizes
    assert all(w > 0 and h > 0 for w, h in sizes), sizes
    page.screenshot(path=str(screenshots / f"{asset}-{label}.png"))
    print(f"screenshots: {screenshots}")
