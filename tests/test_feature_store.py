"""The Feast feature store on small hand-made lakes: the append-only history, honest
point-in-time joins (no label leakage), online lookups and incremental sync, concurrent
refreshes, and the CLI without a registry. Frames carry every column the views of
features/repo.py declare; see tests/feature_store_worker.py."""

import json
import multiprocessing
import time
import warnings
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

import feature_store_worker as fsw
from orchestration.feature_store import store as feast_store
from orchestration.feature_store.checks import online_coverage, online_offline_mismatches
from orchestration.feature_store.history import append_history, latest
from orchestration.feature_store.online import get_online
from orchestration.feature_store.store import apply_repo, feast_lock, feature_store
from orchestration.feature_store.sync import read_history, sync_online
from orchestration.feature_store.training import (activity_training_frame, ranker_scoring_frame,
                                                  ranker_training_frame)
from orchestration.settings import LakePaths

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
VIEWS = {"patient_gene_evidence", "patient_profile", "gene_target", "compound_properties",
         "compound_target_scores"}


def _frame(rows, evidence=True):
    schema = {"k": pl.String, "x": pl.Float64, "s": pl.String}
    if evidence:
        schema["evidence_at"] = pl.Datetime("us", "UTC")
    return pl.DataFrame(rows, schema=schema)


def _row(history, k):
    return latest(history, ["k"]).filter(pl.col("k") == k).row(0, named=True)


# ---- history.append_history -----------------------------------------------------------

def test_new_rows_are_dated_as_of_and_a_rerun_appends_nothing():
    cur = _frame([{"k": "a", "x": 1.0, "s": "u", "evidence_at": T0},
                  {"k": "b", "x": 2.0, "s": None, "evidence_at": T0}])
    t1 = T0 + timedelta(days=1)
    hist, appended, change = append_history(None, cur, ["k"], t1, "evidence")
    assert (change.new, change.changed, change.restated, change.removed) == (2, 0, 0, 0)
    assert appended.height == hist.height == 2
    assert hist["event_timestamp"].to_list() == [t1, t1]
    assert hist["created_timestamp"].to_list() == [t1, t1]
    assert hist["present"].all()
    hist2, appended2, change2 = append_history(hist, cur, ["k"], t1 + timedelta(days=1), "evidence")
    assert change2.appended == 0 and appended2.height == 0
    assert hist2.height == 2 and hist2.equals(hist)


def test_a_changed_value_is_new_knowledge_under_restate_never():
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u"},
                                              {"k": "b", "x": 2.0, "s": "v"}], False),
                                ["k"], t1, "never")
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 1.5, "s": "u"}, {"k": "b", "x": 2.0, "s": "v"}], False),
        ["k"], t2, "never")
    assert (change.new, change.changed, change.restated, change.removed) == (0, 1, 0, 0)
    assert appended["k"].to_list() == ["a"]
    row = _row(hist, "a")
    assert (row["x"], row["event_timestamp"], row["created_timestamp"]) == (1.5, t2, t2)
    assert _row(hist, "b")["event_timestamp"] == t1


def test_restate_evidence_restates_when_evidence_unchanged_and_dates_anew_when_it_moved():
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    e1, e2 = T0, T0 + timedelta(days=2, hours=-1)
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u", "evidence_at": e1}]),
                                ["k"], t1, "evidence")
    # same evidence, recomputed (a new HPO release): restated, history corrected
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 1.2, "s": "u", "evidence_at": e1}]), ["k"], t2, "evidence")
    assert (change.changed, change.restated) == (0, 1)
    row = appended.row(0, named=True)
    assert (row["x"], row["event_timestamp"], row["created_timestamp"]) == (1.2, t1, t2)
    assert _row(hist, "a")["x"] == 1.2          # the restatement is the current version
    # new evidence: new knowledge, dated this refresh
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 9.0, "s": "u", "evidence_at": e2}]), ["k"], t3, "evidence")
    assert (change.changed, change.restated) == (1, 0)
    row = appended.row(0, named=True)
    assert (row["x"], row["event_timestamp"], row["created_timestamp"], row["evidence_at"]) == \
        (9.0, t3, t3, e2)
    assert hist.height == 3


def test_restate_always_keeps_the_event_timestamp_even_when_evidence_moved():
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u", "evidence_at": T0}]),
                                ["k"], t1, "always")
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 2.0, "s": "u", "evidence_at": t2}]), ["k"], t2, "always")
    assert (change.changed, change.restated) == (0, 1)
    row = appended.row(0, named=True)
    assert (row["x"], row["event_timestamp"], row["created_timestamp"]) == (2.0, t1, t2)


def test_a_vanished_entity_gets_one_tombstone_and_reappearing_counts_as_new():
    t1, t2, t3, t4 = (T0 + timedelta(days=d) for d in (1, 2, 3, 4))
    both = _frame([{"k": "a", "x": 1.0, "s": "u", "evidence_at": T0},
                   {"k": "b", "x": 2.0, "s": "v", "evidence_at": T0}])
    only_a = both.filter(pl.col("k") == "a")
    hist, _, _ = append_history(None, both, ["k"], t1, "evidence")
    hist, appended, change = append_history(hist, only_a, ["k"], t2, "evidence")
    assert (change.new, change.changed, change.restated, change.removed) == (0, 0, 0, 1)
    tomb = appended.row(0, named=True)
    assert tomb["k"] == "b" and tomb["present"] is False
    assert tomb["x"] is None and tomb["s"] is None
    assert tomb["event_timestamp"] == t2 and tomb["evidence_at"] == T0
    # still gone: no second tombstone
    hist, appended, change = append_history(hist, only_a, ["k"], t3, "evidence")
    assert change.appended == 0
    # back (same values, same evidence_at): new, not a restatement of the tombstone
    hist, appended, change = append_history(hist, both, ["k"], t4, "evidence")
    assert (change.new, change.changed, change.restated, change.removed) == (1, 0, 0, 0)
    row = _row(hist, "b")
    assert (row["present"], row["x"], row["event_timestamp"]) == (True, 2.0, t4)


def test_nan_and_null_are_the_same_missing_value():
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    nan = _frame([{"k": "a", "x": float("nan"), "s": "u"}], False)
    null = _frame([{"k": "a", "x": None, "s": "u"}], False)
    hist, _, _ = append_history(None, nan, ["k"], t1, "never")
    assert hist["x"].to_list() == [None]         # stored as null
    hist, _, change = append_history(hist, null, ["k"], t2, "never")
    assert change.appended == 0
    hist, _, change = append_history(hist, nan, ["k"], t3, "never")
    assert change.appended == 0
    _, _, change = append_history(hist, _frame([{"k": "a", "x": 0.0, "s": "u"}], False),
                                  ["k"], t3, "never")
    assert change.changed == 1                   # a real value after "missing" is a change


def test_duplicate_keys_and_bad_arguments_raise():
    dup = _frame([{"k": "a", "x": 1.0, "s": "u"}, {"k": "a", "x": 2.0, "s": "u"}], False)
    with pytest.raises(ValueError, match="not unique"):
        append_history(None, dup, ["k"], T0, "never")
    ok = _frame([{"k": "a", "x": 1.0, "s": "u"}], False)
    with pytest.raises(ValueError, match="restate"):
        append_history(None, ok, ["k"], T0, "sometimes")
    with pytest.raises(ValueError, match="evidence_at"):
        append_history(None, ok, ["k"], T0, "evidence")


# ---- a real FeatureStore on a temporary lake ------------------------------------------

def _lake(tmp_path) -> LakePaths:
    return LakePaths(tmp_path / "lake").ensure()


def _apply(paths):
    with feast_lock(paths):
        apply_repo(paths)
    return feature_store(paths)


def test_point_in_time_training_frames_never_see_later_evidence(tmp_path):
    """Labels observed at T1; at T2 the lake learns evidence that would leak the answer
    (pheno_score 1.0 for exactly the causal gene). Training must see the T1 values; a
    recomputation of T1 evidence (a restatement) is visible at T1; scoring as of now sees
    T2. A "latest value" join instead of the point-in-time join fails these asserts."""
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2 = now - timedelta(days=10), now - timedelta(days=2)
    e1, e2 = t1 - timedelta(hours=1), t2 - timedelta(hours=1)

    # --- genes: P solved at T1 (causal C1); Q solved at T1 (causal Q1); R solved only at T2
    v1 = [
        {"patient_id": "P", "gene_symbol": "C1", "pheno_score": 0.30, "var_max_cadd": 12.0, "evidence_at": e1},
        {"patient_id": "P", "gene_symbol": "D1", "pheno_score": 0.60, "var_max_cadd": 25.0, "evidence_at": e1},
        {"patient_id": "Q", "gene_symbol": "Q1", "pheno_score": 0.40, "evidence_at": e1},
        {"patient_id": "Q", "gene_symbol": "Q2", "pheno_score": 0.45, "evidence_at": e1},
        {"patient_id": "R", "gene_symbol": "R1", "pheno_score": 0.20, "evidence_at": e1},
    ]
    fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame(v1), t1, "evidence")
    fsw.append(paths, "gene_ranker_labels",
               fsw.ranker_labels_frame([("P", "C1", e1), ("Q", "Q1", e1)]), t1, "evidence")
    v2 = [
        # P re-phenotyped after the diagnosis: a perfect label leak, new evidence
        {"patient_id": "P", "gene_symbol": "C1", "pheno_score": 1.0, "var_max_cadd": 35.0, "evidence_at": e2},
        {"patient_id": "P", "gene_symbol": "D1", "pheno_score": 0.0, "var_max_cadd": 25.0, "evidence_at": e2},
        {"patient_id": "P", "gene_symbol": "N1", "pheno_score": 0.9, "evidence_at": e2},  # new candidate
        # Q: the same evidence rescored (new HPO release): a restatement of T1
        {"patient_id": "Q", "gene_symbol": "Q1", "pheno_score": 0.41, "evidence_at": e1},
        {"patient_id": "Q", "gene_symbol": "Q2", "pheno_score": 0.45, "evidence_at": e1},
        {"patient_id": "R", "gene_symbol": "R1", "pheno_score": 0.95, "evidence_at": e2},
    ]
    change = fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame(v2), t2, "evidence")
    assert (change.new, change.changed, change.restated) == (1, 3, 1)
    fsw.append(paths, "gene_ranker_labels",
               fsw.ranker_labels_frame([("P", "C1", e1), ("Q", "Q1", e1), ("R", "R1", e2)]), t2, "evidence")

    # --- compounds: properties are a function of structure (restate="always")
    a, b, c = list(fsw.SMILES)
    fsw.append(paths, "compound_properties",
               fsw.compound_properties_frame([{"inchikey": a, "mw": 46.0}, {"inchikey": b, "mw": 94.0}]),
               t1, "always")
    fsw.append(paths, "compound_activity_labels",
               fsw.activity_labels_frame([("T", a, 1), ("T", b, 0), ("T", c, 1)]), t1, "never")
    # T2: mw recomputed with a better recipe (restated to T1); c's structure registered only now
    change = fsw.append(paths, "compound_properties", fsw.compound_properties_frame(
        [{"inchikey": a, "mw": 46.07}, {"inchikey": b, "mw": 94.0}, {"inchikey": c, "mw": 180.16}]),
        t2, "always")
    assert (change.new, change.restated) == (1, 1)

    store = _apply(paths)

    train = ranker_training_frame(paths, store).sort("patient_id", "gene_symbol")
    got = {(r["patient_id"], r["gene_symbol"]): r for r in train.iter_rows(named=True)}
    # only candidates known at the label time; R was solved at T2, so its T2 values
    assert set(got) == {("P", "C1"), ("P", "D1"), ("Q", "Q1"), ("Q", "Q2"), ("R", "R1")}
    assert got[("P", "C1")]["pheno_score"] == pytest.approx(0.30), "T2 evidence leaked into training"
    assert got[("P", "C1")]["var_max_cadd"] == pytest.approx(12.0)
    assert got[("P", "D1")]["pheno_score"] == pytest.approx(0.60)
    assert got[("Q", "Q1")]["pheno_score"] == pytest.approx(0.41), "a restatement must be visible at T1"
    assert got[("R", "R1")]["pheno_score"] == pytest.approx(0.95)
    assert [k for k, r in got.items() if r["is_causal"]] == [("P", "C1"), ("Q", "Q1"), ("R", "R1")]
    assert train["is_training"].all()

    candidates = pl.DataFrame({"patient_id": ["P", "P", "P"], "gene_symbol": ["C1", "D1", "N1"],
                               "pheno_score": [-1.0, -1.0, -1.0], "extra": [1, 2, 3]})
    scoring = ranker_scoring_frame(store, candidates).sort("gene_symbol")
    assert scoring["pheno_score"].to_list() == pytest.approx([1.0, 0.0, 0.9])
    assert scoring["var_max_cadd"].to_list()[0] == pytest.approx(35.0)
    assert scoring["extra"].to_list() == [1, 2, 3]
    # and scoring as of T1 is the training view again
    past = ranker_scoring_frame(store, candidates, as_of=t1).sort("gene_symbol")
    assert past["pheno_score"].to_list()[:2] == pytest.approx([0.30, 0.60])
    assert past["pheno_score"].to_list()[2] is None

    activity = activity_training_frame(paths, store).sort("inchikey")
    # c's properties did not exist when its label was observed: no row, not T2's values
    assert activity["inchikey"].to_list() == [a, b]
    # properties are a function of the structure: the restated mw is the T1 value
    assert activity["mw"].to_list() == pytest.approx([46.07, 94.0])
    assert activity["label"].to_list() == [1, 0]
    assert all(len(fp) == 256 for fp in activity["morgan_fp"].to_list())
    assert set(activity["event_timestamp"].to_list()) == {t1}


def test_restate_never_properties_are_not_visible_before_they_were_learned(tmp_path):
    """The contrast to the restated mw above: had compound_properties dated a change as new
    knowledge, a label at T1 would see the old value (so restate='always' is what makes the
    recomputed value visible, not a latest-value join)."""
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2 = now - timedelta(days=10), now - timedelta(days=2)
    a = next(iter(fsw.SMILES))
    fsw.append(paths, "compound_properties", fsw.compound_properties_frame([{"inchikey": a, "mw": 46.0}]),
               t1, "never")
    fsw.append(paths, "compound_activity_labels", fsw.activity_labels_frame([("T", a, 1)]), t1, "never")
    fsw.append(paths, "compound_properties", fsw.compound_properties_frame([{"inchikey": a, "mw": 46.07}]),
               t2, "never")
    store = _apply(paths)
    assert activity_training_frame(paths, store)["mw"].to_list() == pytest.approx([46.0])


def _write_all(paths, step: int, as_of: datetime, evidence_at: datetime):
    return {name: fsw.append(paths, name, frame, as_of, restate)
            for name, (frame, restate) in fsw.all_views_current(step, evidence_at).items()}


def test_online_lookups_and_incremental_sync(tmp_path, capsys, monkeypatch):
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2, t3, t4 = (now - timedelta(hours=h) for h in (4, 3, 2, 1))
    _write_all(paths, 1, t1, t1 - timedelta(days=1))
    store = _apply(paths)
    with feast_lock(paths):
        first = sync_online(paths, store)
    assert {v: r["mode"] for v, r in first.items()} == {v: "full" for v in VIEWS}
    assert first["patient_profile"]["rows_written"] == 2

    out = get_online(store, "patient", [{"patient_id": "P1"}, {"patient_id": "NOBODY"}])
    assert out.height == 2 and out["patient_id"].to_list() == ["P1", "NOBODY"]
    assert out["found"].to_list() == [True, False]
    unknown = out.row(1, named=True)
    assert all(v is None for k, v in unknown.items() if k not in ("patient_id", "found"))
    assert out.row(0, named=True)["n_observed_terms"] == 1
    pair = get_online(store, "patient_gene", [{"patient_id": "P2", "gene_symbol": "GENE1"},
                                             {"patient_id": "P2", "gene_symbol": "GENE2"}])
    assert pair["found"].to_list() == [True, False] and pair["expr_z"][0] == -1.0
    a = next(iter(fsw.SMILES))
    sim = get_online(store, "compound", [{"inchikey": a}, {"inchikey": "NOPE-NOPE-N"}],
                     service="compound_similarity_v1", request={"query_smiles": fsw.SMILES[a]})
    assert sim["found"].to_list() == [True, False]
    assert sim["tanimoto_to_query"][0] == pytest.approx(1.0)
    assert sim["tanimoto_to_query"][1] is None

    # nothing new: nothing written
    with feast_lock(paths):
        again = sync_online(paths, store)
    assert {v: (r["mode"], r["rows_written"]) for v, r in again.items()} == \
        {v: ("incremental", 0) for v in VIEWS}

    # one patient's profile changed: exactly that row
    changes = {"patient_profile": fsw.append(paths, "patient_profile", fsw.profile_frame(
        [{"patient_id": "P1", "n_observed_terms": 7}, {"patient_id": "P2"}]), t2)}
    assert changes["patient_profile"].changed == 1
    with feast_lock(paths):
        report = sync_online(paths, store)
    assert {v: r["rows_written"] for v, r in report.items()} == \
        {v: int(v == "patient_profile") for v in VIEWS}
    assert get_online(store, "patient", [{"patient_id": "P1"}])["n_observed_terms"].to_list() == [7]

    # a restatement (older event_timestamp, newer created_timestamp) still reaches the store
    props = fsw.compound_properties_frame([{"inchikey": k, "qed": 0.501} for k in fsw.SMILES])
    props = props.with_columns(pl.when(pl.col("inchikey") == a).then(0.77).otherwise(pl.col("qed"))
                               .alias("qed"))
    assert fsw.append(paths, "compound_properties", props, t3, "always").restated == 1
    with feast_lock(paths):
        report = sync_online(paths, store)
    assert report["compound_properties"]["rows_written"] == 1
    assert get_online(store, "compound", [{"inchikey": a}])["qed"].to_list() == pytest.approx([0.77])

    # P2 leaves the lake (while P1 changes): tombstoned offline, not found online after the
    # next sync. (A tombstone synced on its own: test_a_tombstone_synced_alone_...)
    change = fsw.append(paths, "patient_profile", fsw.profile_frame(
        [{"patient_id": "P1", "n_observed_terms": 8}]), t4)
    assert (change.changed, change.removed) == (1, 1)
    with feast_lock(paths):
        report = sync_online(paths, store)
    assert report["patient_profile"]["rows_written"] == 2
    out = get_online(store, "patient", [{"patient_id": "P2"}, {"patient_id": "P1"}])
    assert out["found"].to_list() == [False, True]
    assert out["n_observed_terms"].to_list() == [None, 8]

    # the lake's checks agree (the tombstoned patient is not expected online)
    assert all(c["missing"] == 0 for c in online_coverage(paths, store).values())
    assert all(not r["mismatches"] for r in online_offline_mismatches(paths, store).values())

    # the CLI on this lake: one unknown id among known ones → exit code 3, JSON rows
    monkeypatch.setenv("ORPHANLAKE_HOME", str(paths.home))
    from orchestration.cli import main

    capsys.readouterr()
    assert main(["--home", str(paths.home), "features", "get", "--entity", "patient",
                 "--id", "P1", "--id", "P2", "--format", "json"]) == 3
    rows = json.loads(capsys.readouterr().out)
    assert [(r["patient_id"], r["found"]) for r in rows] == [("P1", True), ("P2", False)]


def test_a_tombstone_synced_alone_removes_the_entity_online(tmp_path):
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    fsw.append(paths, "patient_profile", fsw.profile_frame([{"patient_id": "P1"}, {"patient_id": "P2"}]),
               now - timedelta(hours=2))
    store = _apply(paths)
    with feast_lock(paths):
        sync_online(paths, store)
    assert get_online(store, "patient", [{"patient_id": "P2"}])["found"].to_list() == [True]
    assert fsw.append(paths, "patient_profile", fsw.profile_frame([{"patient_id": "P1"}]),
                      now - timedelta(hours=1)).removed == 1
    with feast_lock(paths):
        report = sync_online(paths, store)
    assert report["patient_profile"]["rows_written"] == 1
    out = get_online(store, "patient", [{"patient_id": "P2"}, {"patient_id": "P1"}])
    assert out["found"].to_list() == [False, True]


@pytest.fixture(scope="module")
def concurrent_refreshes(tmp_path_factory):
    """Two processes each apply (forced), append to every view and sync the online store,
    twice, on one lake at the same time (a "spawn" child each), while this process
    looks entities up online without the lock, as `orphanlake features get` does."""
    paths = LakePaths(tmp_path_factory.mktemp("concurrent") / "lake").ensure()
    fsw.worker(str(paths.home), 0, 1)   # a first refresh, so that readers have a registry
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=fsw.worker, args=(str(paths.home), i, 2)) for i in (1, 2)]
    for p in procs:
        p.start()
    reads, read_errors = 0, []
    deadline = time.monotonic() + 150
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        reads += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = get_online(feature_store(paths), "gene", [{"gene_symbol": "GENE1"}])
            if out["found"].to_list() != [True]:
                read_errors.append("GENE1 not found")
        except Exception as exc:  # noqa: BLE001 - every failure a reader sees is the finding
            read_errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    for p in procs:
        p.join(timeout=max(1.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
    return paths, [p.exitcode for p in procs], reads, read_errors


def test_two_refreshes_at_once_leave_a_consistent_store(concurrent_refreshes):
    """The lock serializes the writers: both finish, the registry loads with every view,
    and online = offline for every entity."""
    paths, exitcodes, _, _ = concurrent_refreshes
    assert exitcodes == [0, 0], "a concurrent refresh failed (see its stderr)"

    store = feast_store.feature_store(paths)
    assert {v.name for v in store.list_feature_views()} == VIEWS
    assert {v.name for v in store.list_on_demand_feature_views()} == {"compound_query_similarity"}
    for name in VIEWS:
        history = read_history(paths, name)
        # the first refresh and every round of both workers changed every view
        assert history["created_timestamp"].n_unique() == 5, name
    out = get_online(store, "gene", [{"gene_symbol": "GENE1"}, {"gene_symbol": "GENE9"}])
    assert out["found"].to_list() == [True, False]
    coverage = online_coverage(paths, store)
    assert set(coverage) == VIEWS and all(c["missing"] == 0 for c in coverage.values()), coverage
    mismatches = online_offline_mismatches(paths, store)
    assert set(mismatches) == VIEWS
    assert all(not r["mismatches"] for r in mismatches.values()), mismatches
    # the online store holds the values of the last append, whichever process made it
    last = latest(read_history(paths, "gene_target"), ["gene_symbol"]).filter(
        pl.col("gene_symbol") == "GENE1")["best_score"].item()
    assert out["best_score"][0] == pytest.approx(last)


def test_online_lookups_during_a_refresh_never_fail(concurrent_refreshes):
    _, _, reads, read_errors = concurrent_refreshes
    assert reads > 20, "the reader did not overlap the refreshes"
    assert read_errors == [], f"{len(read_errors)} of {reads} lookups failed: {sorted(set(read_errors))[:3]}"


def test_features_get_without_a_registry_says_to_refresh(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path))
    from orchestration.cli import main

    assert main(["--home", str(tmp_path), "features", "get", "--entity", "gene", "--id", "GENE1"]) == 2
    err = capsys.readouterr().err
    assert "no feature registry" in err and "orphanlake refresh" in err
    assert "Traceback" not in err
