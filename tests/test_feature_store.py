"""The Feast feature store on small hand-made lakes: the append-only history, one stamp
per stage from the lake's models, honest point-in-time joins (no label leakage), the
ranker's labels, online lookups and incremental sync, a lost online store, concurrent
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
from orchestration.feature_store.sync import now_utc, read_history, sync_online, write_tables
from orchestration.feature_store.training import (activity_training_frame, ranker_scoring_frame,
                                                  ranker_training_frame)
from orchestration.lake.io import write_parquet_atomic
from orchestration.settings import LakePaths

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
VIEWS = {"patient_gene_evidence", "patient_profile", "gene_target", "compound_properties",
         "compound_target_scores", "designed_compounds"}


def _frame(rows):
    return pl.DataFrame(rows, schema={"k": pl.String, "x": pl.Float64, "s": pl.String})


def _row(history, k):
    return latest(history, ["k"]).filter(pl.col("k") == k).row(0, named=True)


# ---- history.append_history -----------------------------------------------------------

@pytest.mark.parametrize("restate", ["never", "always"])
def test_new_rows_are_dated_as_of_and_a_rerun_appends_nothing(restate):
    cur = _frame([{"k": "a", "x": 1.0, "s": "u"}, {"k": "b", "x": 2.0, "s": None}])
    t1 = T0 + timedelta(days=1)
    hist, appended, change = append_history(None, cur, ["k"], t1, restate)
    assert (change.new, change.changed, change.restated, change.removed) == (2, 0, 0, 0)
    assert appended.height == hist.height == 2
    assert hist["event_timestamp"].to_list() == [t1, t1]
    assert hist["created_timestamp"].to_list() == [t1, t1]
    assert hist["present"].all()
    assert hist.columns == ["k", "x", "s", "present", "event_timestamp", "created_timestamp"]
    hist2, appended2, change2 = append_history(hist, cur, ["k"], t1 + timedelta(days=1), restate)
    assert change2.appended == 0 and appended2.height == 0
    assert hist2.height == 2 and hist2.equals(hist)


def test_a_changed_value_is_new_knowledge_under_restate_never():
    """Whatever the cause (new evidence, a new HPO release, a cohort-relative z-score moved
    by other patients' samples), a change is dated the refresh that learned it."""
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u"},
                                              {"k": "b", "x": 2.0, "s": "v"}]),
                                ["k"], t1, "never")
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 1.5, "s": "u"}, {"k": "b", "x": 2.0, "s": "v"}]),
        ["k"], t2, "never")
    assert (change.new, change.changed, change.restated, change.removed) == (0, 1, 0, 0)
    assert appended["k"].to_list() == ["a"]
    row = _row(hist, "a")
    assert (row["x"], row["event_timestamp"], row["created_timestamp"]) == (1.5, t2, t2)
    assert _row(hist, "b")["event_timestamp"] == t1
    # a string value changing is a change too; the T1 version stays in the history
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 1.5, "s": "w"}, {"k": "b", "x": 2.0, "s": "v"}]),
        ["k"], t3, "never")
    assert (change.changed, change.restated) == (1, 0)
    assert hist.filter(pl.col("k") == "a")["event_timestamp"].to_list() == [t1, t2, t3]


def test_restate_always_keeps_the_event_timestamp_across_restatements():
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u"},
                                              {"k": "b", "x": 5.0, "s": "v"}]),
                                ["k"], t1, "always")
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 2.0, "s": "u"}, {"k": "b", "x": 5.0, "s": "v"}]),
        ["k"], t2, "always")
    assert (change.new, change.changed, change.restated, change.removed) == (0, 0, 1, 0)
    row = appended.row(0, named=True)
    assert (row["k"], row["x"], row["event_timestamp"], row["created_timestamp"]) == ("a", 2.0, t1, t2)
    # a second restatement: still dated T1; the newest creation is the current version
    hist, appended, change = append_history(
        hist, _frame([{"k": "a", "x": 3.0, "s": "u"}, {"k": "b", "x": 5.0, "s": "v"}]),
        ["k"], t3, "always")
    assert change.restated == 1
    row = _row(hist, "a")
    assert (row["x"], row["event_timestamp"], row["created_timestamp"]) == (3.0, t1, t3)
    assert hist.filter(pl.col("k") == "a")["event_timestamp"].to_list() == [t1, t1, t1]


@pytest.mark.parametrize("restate", ["never", "always"])
def test_a_vanished_entity_gets_one_tombstone_and_reappearing_counts_as_new(restate):
    t1, t2, t3, t4 = (T0 + timedelta(days=d) for d in (1, 2, 3, 4))
    both = _frame([{"k": "a", "x": 1.0, "s": "u"}, {"k": "b", "x": 2.0, "s": "v"}])
    only_a = both.filter(pl.col("k") == "a")
    hist, _, _ = append_history(None, both, ["k"], t1, restate)
    hist, appended, change = append_history(hist, only_a, ["k"], t2, restate)
    assert (change.new, change.changed, change.restated, change.removed) == (0, 0, 0, 1)
    tomb = appended.row(0, named=True)
    assert tomb["k"] == "b" and tomb["present"] is False
    assert tomb["x"] is None and tomb["s"] is None
    assert tomb["event_timestamp"] == t2 and tomb["created_timestamp"] == t2
    # still gone: no second tombstone
    hist, appended, change = append_history(hist, only_a, ["k"], t3, restate)
    assert change.appended == 0
    # back (same values): new and dated now, not a restatement of the tombstone
    hist, appended, change = append_history(hist, both, ["k"], t4, restate)
    assert (change.new, change.changed, change.restated, change.removed) == (1, 0, 0, 0)
    row = _row(hist, "b")
    assert (row["present"], row["x"], row["event_timestamp"]) == (True, 2.0, t4)


@pytest.mark.parametrize("restate, dated", [("never", "as_of"), ("always", "first")])
def test_a_feature_added_later_is_null_in_old_versions_and_gives_every_entity_a_version(restate, dated):
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    hist, _, _ = append_history(None, _frame([{"k": "a", "x": 1.0, "s": "u"},
                                              {"k": "b", "x": 2.0, "s": "v"},
                                              {"k": "gone", "x": 3.0, "s": "w"}]),
                                ["k"], t1, restate)
    hist, _, _ = append_history(hist, _frame([{"k": "a", "x": 1.0, "s": "u"},
                                              {"k": "b", "x": 2.0, "s": "v"}]),
                                ["k"], t2, restate)            # "gone" is tombstoned
    wider = pl.DataFrame([{"k": "a", "x": 1.0, "s": "u", "y": 10},
                          {"k": "b", "x": 2.0, "s": "v", "y": 20}],
                         schema={"k": pl.String, "x": pl.Float64, "s": pl.String, "y": pl.Int64})
    hist, appended, change = append_history(hist, wider, ["k"], t3, restate)
    expected = (0, 2, 0, 0) if restate == "never" else (0, 0, 2, 0)
    assert (change.new, change.changed, change.restated, change.removed) == expected
    assert sorted(appended["k"].to_list()) == ["a", "b"]      # not the tombstoned entity
    assert hist.schema["y"] == pl.Int64
    assert hist.columns == ["k", "x", "s", "y", "present", "event_timestamp", "created_timestamp"]
    old = hist.filter(pl.col("created_timestamp") < t3)
    assert old.height == 4 and old["y"].null_count() == 4   # the versions written before it
    for k, y in (("a", 10), ("b", 20)):
        row = _row(hist, k)
        event = t3 if dated == "as_of" else t1
        assert (row["y"], row["x"], row["event_timestamp"], row["created_timestamp"]) == \
            (y, float(y // 10), event, t3)
    assert _row(hist, "gone")["present"] is False
    # and the next refresh with the same values appends nothing
    _, _, change = append_history(hist, wider, ["k"], t3 + timedelta(days=1), restate)
    assert change.appended == 0


def test_nan_and_null_are_the_same_missing_value():
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    nan = _frame([{"k": "a", "x": float("nan"), "s": "u"}])
    null = _frame([{"k": "a", "x": None, "s": "u"}])
    hist, _, _ = append_history(None, nan, ["k"], t1, "never")
    assert hist["x"].to_list() == [None]         # stored as null
    hist, _, change = append_history(hist, null, ["k"], t2, "never")
    assert change.appended == 0
    hist, _, change = append_history(hist, nan, ["k"], t3, "never")
    assert change.appended == 0
    _, _, change = append_history(hist, _frame([{"k": "a", "x": 0.0, "s": "u"}]),
                                  ["k"], t3, "never")
    assert change.changed == 1                   # a real value after "missing" is a change


def test_duplicate_keys_and_bad_arguments_raise():
    dup = _frame([{"k": "a", "x": 1.0, "s": "u"}, {"k": "a", "x": 2.0, "s": "u"}])
    with pytest.raises(ValueError, match="not unique"):
        append_history(None, dup, ["k"], T0, "never")
    ok = _frame([{"k": "a", "x": 1.0, "s": "u"}])
    for mode in ("sometimes", "evidence"):      # "evidence" was a mode once; no longer
        with pytest.raises(ValueError, match="restate"):
            append_history(None, ok, ["k"], T0, mode)


# ---- sync.write_tables from a lake's models ---------------------------------------------

def _write_model(paths, name: str, frame: pl.DataFrame) -> None:
    """A dbt model materialized as Parquet, where the table builders read it."""
    write_parquet_atomic(frame, paths.marts / f"{name}.parquet")


def _candidates(pheno_p1g1: float) -> pl.DataFrame:
    # int_patient_gene_features has more columns than the view; the builder selects its own
    return fsw.evidence_frame([
        {"patient_id": "P1", "gene_symbol": "G1", "pheno_score": pheno_p1g1},
        {"patient_id": "P1", "gene_symbol": "G2"},
        {"patient_id": "P2", "gene_symbol": "G5"},
        {"patient_id": "P3", "gene_symbol": "G3"},
    ]).with_columns(pl.lit(7).alias("n_candidate_variants"))


def test_write_tables_gives_every_table_of_a_stage_one_stamp(tmp_path):
    paths = _lake(tmp_path)
    _write_model(paths, "int_patient_gene_features", _candidates(0.5))
    _write_model(paths, "stg_patients", pl.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P4"], "is_solved": [True, True, True, False],
        "sex": ["MALE", "FEMALE", "MALE", "FEMALE"]}))
    _write_model(paths, "stg_diagnoses", pl.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P3", "P3", "P4"],
        "progress_status": ["SOLVED", "SOLVED", "SOLVED", "SOLVED", "SOLVED", "IN_PROGRESS"],
        "gene_symbol": ["G1", None, "G4", "G3", "G4", "G9"]}, schema_overrides={"gene_symbol": pl.String}))

    before = now_utc()
    with feast_lock(paths):
        stamp, changes = write_tables(paths, "model_inputs")
    after = now_utc()
    assert before <= stamp <= after                  # taken when called
    # the compound tables' models do not exist in this lake: left alone, not emptied
    assert set(changes) == {"patient_gene_evidence", "gene_ranker_labels"}
    assert read_history(paths, "compound_properties") is None
    assert read_history(paths, "compound_activity_labels") is None
    assert (changes["patient_gene_evidence"].new, changes["gene_ranker_labels"].new) == (4, 3)
    for name in changes:
        history = read_history(paths, name)
        assert set(history["event_timestamp"]) == set(history["created_timestamp"]) == {stamp}, name
    labels = read_history(paths, "gene_ranker_labels")
    assert labels.columns == ["patient_id", "causal_genes", "present", "event_timestamp",
                              "created_timestamp"]
    # solved patients only (P4 is not), genes sorted and joined; P2's diagnosis names none
    assert dict(zip(labels["patient_id"], labels["causal_genes"])) == \
        {"P1": "G1", "P2": "", "P3": "G3;G4"}

    # another writer left one table of the stage stamped ahead of this clock: the next
    # refresh stamps EVERY table of the stage past it, not only that table
    ahead = now_utc() + timedelta(days=1)
    assert fsw.append(paths, "gene_ranker_labels",
                      fsw.ranker_labels_frame([("P1", "G2"), ("P2", ""), ("P3", "G3;G4")]), ahead).changed == 1
    _write_model(paths, "int_patient_gene_features", _candidates(0.9))
    with feast_lock(paths):
        stamp2, changes = write_tables(paths, "model_inputs", as_of=now_utc())
    assert stamp2 == ahead + timedelta(microseconds=1)
    assert (changes["patient_gene_evidence"].changed, changes["gene_ranker_labels"].changed) == (1, 1)
    for name in changes:
        assert read_history(paths, name)["created_timestamp"].max() == stamp2, name

    # a model that is empty removes its rows (tombstones); one that is gone leaves its table
    _write_model(paths, "int_patient_gene_features", _candidates(0.9).clear())
    (paths.marts / "stg_diagnoses.parquet").unlink()
    labels_before = read_history(paths, "gene_ranker_labels")
    with feast_lock(paths):
        stamp3, changes = write_tables(paths, "model_inputs")
    assert stamp3 > stamp2
    assert set(changes) == {"patient_gene_evidence"}
    assert changes["patient_gene_evidence"].removed == 4
    evidence = latest(read_history(paths, "patient_gene_evidence"), ["patient_id", "gene_symbol"])
    assert not evidence["present"].any() and evidence["pheno_score"].null_count() == 4
    assert read_history(paths, "gene_ranker_labels").equals(labels_before)

    # a stage whose models are all missing writes nothing
    with feast_lock(paths):
        _, changes = write_tables(paths, "products")
    assert changes == {}
    assert all(read_history(paths, n) is None for n in ("patient_profile", "gene_target",
                                                        "compound_target_scores", "designed_compounds"))


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
    recomputation of patient evidence at T2 (a new HPO release) is new knowledge, not
    visible at T1 either; a restated compound property (a function of the structure) is
    visible at T1; scoring as of now sees T2, and values unchanged since T1 (four years
    ago: views never expire) too. A "latest value" join instead of the point-in-time join
    fails these asserts."""
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2 = now - timedelta(days=4 * 365), now - timedelta(days=2)

    # --- genes: P solved at T1 (causal C1); Q solved at T1 (causal Q1); R solved only at T2
    v1 = [
        {"patient_id": "P", "gene_symbol": "C1", "pheno_score": 0.30, "var_max_cadd": 12.0},
        {"patient_id": "P", "gene_symbol": "D1", "pheno_score": 0.60, "var_max_cadd": 25.0},
        {"patient_id": "Q", "gene_symbol": "Q1", "pheno_score": 0.40},
        {"patient_id": "Q", "gene_symbol": "Q2", "pheno_score": 0.45},
        {"patient_id": "R", "gene_symbol": "R1", "pheno_score": 0.20},
    ]
    fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame(v1), t1)
    fsw.append(paths, "gene_ranker_labels", fsw.ranker_labels_frame([("P", "C1"), ("Q", "Q1")]), t1)
    v2 = [
        # P re-phenotyped after the diagnosis: a perfect label leak
        {"patient_id": "P", "gene_symbol": "C1", "pheno_score": 1.0, "var_max_cadd": 35.0},
        {"patient_id": "P", "gene_symbol": "D1", "pheno_score": 0.0, "var_max_cadd": 25.0},
        {"patient_id": "P", "gene_symbol": "N1", "pheno_score": 0.9},  # new candidate
        # Q: the same phenotypes rescored with a new HPO release: still new knowledge
        {"patient_id": "Q", "gene_symbol": "Q1", "pheno_score": 0.41},
        {"patient_id": "Q", "gene_symbol": "Q2", "pheno_score": 0.45},
        {"patient_id": "R", "gene_symbol": "R1", "pheno_score": 0.95},
    ]
    change = fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame(v2), t2)
    assert (change.new, change.changed, change.restated, change.removed) == (1, 4, 0, 0)
    change = fsw.append(paths, "gene_ranker_labels",
                        fsw.ranker_labels_frame([("P", "C1"), ("Q", "Q1"), ("R", "R1")]), t2)
    assert (change.new, change.changed) == (1, 0)   # P's and Q's labels stay dated T1

    # --- compounds: properties are a function of structure (restate="always")
    a, b, c = list(fsw.SMILES)
    fsw.append(paths, "compound_properties",
               fsw.compound_properties_frame([{"inchikey": a, "mw": 46.0}, {"inchikey": b, "mw": 94.0}]), t1)
    fsw.append(paths, "compound_activity_labels",
               fsw.activity_labels_frame([("T", a, 1), ("T", b, 0), ("T", c, 1)]), t1)
    # T2: mw recomputed with a better recipe (restated to T1); c's structure registered only now
    change = fsw.append(paths, "compound_properties", fsw.compound_properties_frame(
        [{"inchikey": a, "mw": 46.07}, {"inchikey": b, "mw": 94.0}, {"inchikey": c, "mw": 180.16}]), t2)
    assert (change.new, change.changed, change.restated) == (1, 0, 1)

    store = _apply(paths)
    for name in VIEWS:
        assert store.get_feature_view(name).ttl in (None, timedelta(0)), f"{name} expires"

    train, unusable = ranker_training_frame(paths, store)
    assert unusable == []
    train = train.sort("patient_id", "gene_symbol")
    got = {(r["patient_id"], r["gene_symbol"]): r for r in train.iter_rows(named=True)}
    # only candidates known at the label time; R was solved at T2, so its T2 values
    assert set(got) == {("P", "C1"), ("P", "D1"), ("Q", "Q1"), ("Q", "Q2"), ("R", "R1")}
    assert got[("P", "C1")]["pheno_score"] == pytest.approx(0.30), "T2 evidence leaked into training"
    assert got[("P", "C1")]["var_max_cadd"] == pytest.approx(12.0)
    assert got[("P", "D1")]["pheno_score"] == pytest.approx(0.60)
    assert got[("Q", "Q1")]["pheno_score"] == pytest.approx(0.40), \
        "a recomputation at T2 (new HPO release) is new knowledge: not visible to a T1 label"
    assert got[("Q", "Q2")]["pheno_score"] == pytest.approx(0.45)
    assert got[("R", "R1")]["pheno_score"] == pytest.approx(0.95)
    assert [k for k, r in got.items() if r["is_causal"]] == [("P", "C1"), ("Q", "Q1"), ("R", "R1")]
    assert train["is_training"].all()
    assert "event_timestamp" not in train.columns

    candidates = pl.DataFrame({"patient_id": ["P", "P", "P", "Q", "Q"],
                               "gene_symbol": ["C1", "D1", "N1", "Q1", "Q2"],
                               "pheno_score": [-1.0] * 5, "extra": [1, 2, 3, 4, 5]})
    scoring = ranker_scoring_frame(store, candidates).sort("patient_id", "gene_symbol")
    # Q2 has not changed since T1, four years ago: still served (no TTL)
    assert scoring["pheno_score"].to_list() == pytest.approx([1.0, 0.0, 0.9, 0.41, 0.45])
    assert scoring["var_max_cadd"].to_list()[0] == pytest.approx(35.0)
    assert scoring["extra"].to_list() == [1, 2, 3, 4, 5]
    # and scoring as of T1 is the training view again
    past = ranker_scoring_frame(store, candidates, as_of=t1).sort("patient_id", "gene_symbol")
    got_past = past["pheno_score"].to_list()
    assert got_past[:2] + got_past[3:] == pytest.approx([0.30, 0.60, 0.40, 0.45])
    assert past["pheno_score"].to_list()[2] is None

    activity = activity_training_frame(paths, store).sort("inchikey")
    # c's properties did not exist when its label was observed: no row, not T2's values
    assert activity["inchikey"].to_list() == [a, b]
    # properties are a function of the structure: the restated mw is the T1 value
    assert activity["mw"].to_list() == pytest.approx([46.07, 94.0]), \
        "a compound property restatement must be visible at T1"
    assert activity["label"].to_list() == [1, 0]
    assert all(len(fp) == 256 for fp in activity["morgan_fp"].to_list())
    assert set(activity["event_timestamp"].to_list()) == {t1}


def test_ranker_labels_a_diagnosis_without_a_gene_is_a_miss_and_untrainable_patients_are_reported(tmp_path):
    """S's diagnosis names no gene: every candidate of S is a negative. M has two diagnosed
    genes. U was solved at T1 but its candidate evidence arrived only at T2, and V has no
    evidence at all: neither can be trained on, and both are reported."""
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2 = now - timedelta(days=10), now - timedelta(days=2)
    fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame([
        {"patient_id": "S", "gene_symbol": "S1", "pheno_score": 0.7},
        {"patient_id": "S", "gene_symbol": "S2", "pheno_score": 0.2},
        {"patient_id": "M", "gene_symbol": "G1"},
        {"patient_id": "M", "gene_symbol": "G2"},
        {"patient_id": "M", "gene_symbol": "G3"},
    ]), t1)
    fsw.append(paths, "gene_ranker_labels", fsw.ranker_labels_frame(
        [("S", ""), ("M", "G1;G2"), ("U", "U1"), ("V", "V1")]), t1)
    fsw.append(paths, "patient_gene_evidence", fsw.evidence_frame([
        {"patient_id": "S", "gene_symbol": "S1", "pheno_score": 0.7},
        {"patient_id": "S", "gene_symbol": "S2", "pheno_score": 0.2},
        {"patient_id": "M", "gene_symbol": "G1"},
        {"patient_id": "M", "gene_symbol": "G2"},
        {"patient_id": "M", "gene_symbol": "G3"},
        {"patient_id": "U", "gene_symbol": "U1", "pheno_score": 0.9},
        {"patient_id": "U", "gene_symbol": "U2"},
    ]), t2)
    store = _apply(paths)

    train, unusable = ranker_training_frame(paths, store)
    assert unusable == ["U", "V"]
    causal = {(r["patient_id"], r["gene_symbol"]): r["is_causal"]
              for r in train.iter_rows(named=True)}
    assert causal == {("S", "S1"): False, ("S", "S2"): False,
                      ("M", "G1"): True, ("M", "G2"): True, ("M", "G3"): False}
    assert train.filter(pl.col("patient_id") == "S")["pheno_score"].sort().to_list() == \
        pytest.approx([0.2, 0.7])
    assert train["is_training"].all()


def test_ranker_training_with_no_candidate_at_all_reports_every_solved_patient(tmp_path):
    """No solved patient has a candidate row: nothing to ask Feast (no store needed)."""
    paths = _lake(tmp_path)
    t1 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    fsw.append(paths, "patient_gene_evidence",
               fsw.evidence_frame([{"patient_id": "OTHER", "gene_symbol": "G1"}]), t1)
    fsw.append(paths, "gene_ranker_labels", fsw.ranker_labels_frame([("Z", "Z1"), ("Y", "")]), t1)
    train, unusable = ranker_training_frame(paths, store=None)
    assert train.is_empty() and unusable == ["Y", "Z"]
    # Y left the lake (its label is tombstoned): neither trained on nor reported
    fsw.append(paths, "gene_ranker_labels", fsw.ranker_labels_frame([("Z", "Z1")]), t1 + timedelta(hours=1))
    assert ranker_training_frame(paths, store=None)[1] == ["Z"]


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


def _write_all(paths, step: int, as_of: datetime):
    return {name: fsw.append(paths, name, frame, as_of)
            for name, frame in fsw.all_views_current(step).items()}


def test_online_lookups_and_incremental_sync(tmp_path, capsys, monkeypatch):
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    t1, t2, t3, t4 = (now - timedelta(hours=h) for h in (4, 3, 2, 1))
    _write_all(paths, 1, t1)
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

    # the lake's checks agree (the tombstoned patient is not expected online, nor served)
    coverage = online_coverage(paths, store)
    assert set(coverage) == VIEWS
    assert {v: (c["missing"], c["removed_but_served"]) for v, c in coverage.items()} == \
        {v: (0, 0) for v in VIEWS}
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
    # before the sync, the check sees the removed patient still served
    coverage = online_coverage(paths, store)["patient_profile"]
    assert (coverage["entities"], coverage["missing"], coverage["removed_but_served"]) == (1, 0, 1)
    assert coverage["removed_examples"] == [{"patient_id": "P2"}]
    with feast_lock(paths):
        report = sync_online(paths, store)
    assert report["patient_profile"]["rows_written"] == 1
    out = get_online(store, "patient", [{"patient_id": "P2"}, {"patient_id": "P1"}])
    assert out["found"].to_list() == [False, True]
    assert online_coverage(paths, store)["patient_profile"]["removed_but_served"] == 0


def test_a_model_emptied_entirely_is_still_checked_for_removed_entities_served(tmp_path):
    """The patients mart empties: every patient is tombstoned, and until the sync the
    coverage check must report them as still served (not skip the empty view)."""
    paths = _lake(tmp_path)
    patients = fsw.profile_frame([{"patient_id": "P1"}, {"patient_id": "P2"}])
    _write_model(paths, "patients", patients)
    with feast_lock(paths):
        write_tables(paths, "products")
    store = _apply(paths)
    with feast_lock(paths):
        sync_online(paths, store)
    _write_model(paths, "patients", patients.clear())
    with feast_lock(paths):
        _, changes = write_tables(paths, "products")
    assert changes["patient_profile"].removed == 2
    coverage = online_coverage(paths, store)["patient_profile"]
    assert (coverage["entities"], coverage["missing"], coverage["removed_but_served"]) == (0, 0, 2)
    with feast_lock(paths):
        sync_online(paths, store)
    assert online_coverage(paths, store)["patient_profile"]["removed_but_served"] == 0
    assert get_online(store, "patient", [{"patient_id": "P1"}])["found"].to_list() == [False]


def test_a_lost_online_store_is_rebuilt_by_apply_and_a_full_sync(tmp_path):
    paths = _lake(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    _write_all(paths, 1, now - timedelta(hours=1))
    store = _apply(paths)
    with feast_lock(paths):
        sync_online(paths, store)
        again = sync_online(paths, store)
    assert {r["mode"] for r in again.values()} == {"incremental"}
    online_db = paths.features / "online_store.db"
    assert online_db.exists()
    online_db.unlink()
    del store
    with feast_lock(paths):
        applied = apply_repo(paths)                 # not forced: the lost store is reason enough
        assert applied["applied"] is True
        assert online_db.exists()
        store = feature_store(paths)
        assert get_online(store, "patient", [{"patient_id": "P1"}])["found"].to_list() == [False]
        report = sync_online(paths, store)
    assert {v: r["mode"] for v, r in report.items()} == {v: "full" for v in VIEWS}
    assert report["patient_profile"]["rows_written"] == 2
    out = get_online(store, "patient", [{"patient_id": "P1"}, {"patient_id": "P2"}])
    assert out["found"].to_list() == [True, True]
    assert out["n_observed_terms"].to_list() == [1, 3]
    gene = get_online(store, "gene", [{"gene_symbol": "GENE1"}])
    assert gene["found"].to_list() == [True] and gene["best_score"].to_list() == [1.0]
    coverage = online_coverage(paths, store)
    assert {v: c["missing"] for v, c in coverage.items()} == {v: 0 for v in VIEWS}
    # and with the store back, the next sync is incremental again
    with feast_lock(paths):
        assert apply_repo(paths) == {"applied": False}
        assert {r["mode"] for r in sync_online(paths, store).values()} == {"incremental"}


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


# ---- the feature contract (features/contract.py) ----------------------------------------

def test_the_contract_is_what_every_consumer_derives_from():
    from features import contract as C
    from models.compounds.features import DESCRIPTORS
    from models.ranker_data import FEATURES
    from orchestration.assets.features import MODEL_INPUT_DEPS, PRODUCT_DEPS
    from orchestration.feature_store.online import ENTITIES
    from orchestration.feature_store.tables import FEATURE_VIEWS, TABLES

    assert FEATURES == list(C.service_columns("target_ranking_v1")["patient_gene_evidence"])
    # the compound models read their descriptors from compound_activity_v1
    assert list(DESCRIPTORS) == list(C.COMPOUND_DESCRIPTORS)
    assert set(DESCRIPTORS) <= set(C.service_columns("compound_activity_v1")["compound_properties"])
    assert set(FEATURE_VIEWS) == set(C.VIEWS) == VIEWS
    assert {t.name for t in TABLES} == set(C.VIEWS) | set(C.LABEL_SETS)
    assert {t.name: t.keys for t in TABLES} == {
        "patient_gene_evidence": ("patient_id", "gene_symbol"), "patient_profile": ("patient_id",),
        "gene_target": ("gene_symbol",), "compound_properties": ("inchikey",),
        "compound_target_scores": ("inchikey", "gene_symbol"), "gene_ranker_labels": ("patient_id",),
        "designed_compounds": ("inchikey", "gene_symbol"),
        "compound_activity_labels": ("gene_symbol", "inchikey")}
    assert set(MODEL_INPUT_DEPS) == {s for t in TABLES if t.stage == "model_inputs" for s in t.spec.sources}
    assert set(PRODUCT_DEPS) == {"patients", "patient_gene_rankings", "ranked_targets", "compound_scores",
                                 "designed_compounds"}
    assert ENTITIES["compound_target"] == ("compound_target_lookup_v1", ("inchikey", "gene_symbol"))
    assert list(ENTITIES) == ["patient", "gene", "compound", "patient_gene", "compound_target"]


def test_contract_helpers_name_the_view_and_column_that_is_missing():
    from features import contract as C

    assert C.projection_columns(C.Projection("compound_target_scores"))[0] == "predicted_pic50"
    assert C.service_columns("compound_similarity_v1") == {
        "compound_properties": ("compound_id", "name", "smiles"),
        "compound_query_similarity": ("tanimoto_to_query", "query_valid")}
    assert C.service_keys("compound_next_plate_v1") == ("inchikey", "gene_symbol")
    cols = ["inchikey", *C.service_columns("compound_activity_v1")["compound_properties"]]
    assert C.missing_columns(cols, "compound_activity_v1") == []
    C.require_columns(cols, "compound_activity_v1")
    with pytest.raises(C.ContractError, match=r"compound_activity_v1: compound_properties:morgan_fp"):
        C.require_columns([c for c in cols if c != "morgan_fp"], "compound_activity_v1")
    with pytest.raises(ValueError, match="dtype"):
        C.Column("x", "float32")
    assert C.stage_sources("products") == ("patients", "patient_gene_rankings", "ranked_targets",
                                           "compound_scores", "designed_compounds")


def test_a_builder_is_held_to_its_declared_sources_and_columns(tmp_path):
    from features import contract as C
    from orchestration.feature_store.tables import Sources, check_frame

    paths = _lake(tmp_path)
    with pytest.raises(C.ContractError, match="does not list among its sources"):
        Sources(paths, "patient_gene_evidence").model("compound_scores")
    assert Sources(paths, "patient_gene_evidence").model("int_patient_gene_features") is None
    good = fsw.evidence_frame([{"patient_id": "P1", "gene_symbol": "G1", "expr_z": None}])
    check_frame("patient_gene_evidence", good)                        # nulls are fine
    with pytest.raises(C.ContractError, match=r"missing \['expr_z'\]"):
        check_frame("patient_gene_evidence", good.drop("expr_z"))
    with pytest.raises(C.ContractError, match=r"undeclared \['extra'\]"):
        check_frame("patient_gene_evidence", good.with_columns(pl.lit(1.0).alias("extra")))
    with pytest.raises(C.ContractError, match="expr_z is String"):
        check_frame("patient_gene_evidence", good.with_columns(pl.lit("x").alias("expr_z")))
    # write_tables refuses a model that no longer yields a declared column
    _write_model(paths, "int_patient_gene_features", _candidates(0.5).drop("expr_z"))
    with feast_lock(paths), pytest.raises(Exception, match="expr_z"):
        write_tables(paths, "model_inputs")


def test_the_applied_registry_matches_the_contract_and_drift_is_reported(tmp_path):
    """The registry apply_repo writes is the contract; a registry that drifted (a column
    dropped or retyped, a service narrowed, a view missing) is reported, and a model
    reading the narrowed service refuses the frame instead of training on nulls."""
    from feast import FeatureService, FeatureView, Field
    from feast.types import String

    from features import contract as C
    from orchestration.feature_store.definitions import build_definitions, registry_differences
    from orchestration.feature_store.training import property_batches

    paths = _lake(tmp_path)
    a = next(iter(fsw.SMILES))
    fsw.append(paths, "compound_properties", fsw.compound_properties_frame([{"inchikey": a}]),
               datetime.now(UTC) - timedelta(days=1))
    store = _apply(paths)
    assert registry_differences(store) == []
    assert len(next(property_batches(store, [a], 10)).columns) == 1 + len(
        C.service_columns("compound_activity_v1")["compound_properties"])

    defs = build_definitions(paths)

    def altered(name, fields):
        v = defs.views[name]
        return FeatureView(name=name, entities=[defs.entities[e] for e in C.VIEWS[name].entities],
                           ttl=v.ttl, schema=fields(v.features), source=v.batch_source)

    view = altered("gene_target", lambda fs: [f for f in fs if f.name != "n_cohorts"])
    props = altered("compound_properties", lambda fs: [
        Field(name="mw", dtype=String) if f.name == "mw" else f for f in fs])
    narrowed = FeatureService(name="compound_activity_v1",
                              features=[props[["smiles", "morgan_fp", "scaffold"]]])
    store.apply([view, props, narrowed], objects_to_delete=[store.get_feature_view("patient_profile")],
                partial=False)
    found = "\n".join(registry_differences(feature_store(paths)))
    assert "feature view gene_target: columns missing n_cohorts" in found
    assert "compound_properties: columns mw is String, the contract says Float64" in found
    assert "feature service compound_activity_v1" in found
    assert "feature view patient_profile: declared in the contract, not in the registry" in found
    with pytest.raises(C.ContractError, match="compound_properties:mw"):
        next(property_batches(feature_store(paths), [a], 10))


def test_the_feast_cli_module_builds_the_contract_for_the_configured_lake(tmp_path, monkeypatch):
    """features/repo.py (what `feast -c features` imports) exposes every contract object,
    its sources in the lake LakeConfig.from_env() names."""
    import importlib.util

    from features import contract as C

    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path / "elsewhere"))
    spec = importlib.util.spec_from_file_location("repo_under_test", feast_store.FEATURE_REPO / "repo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = set(vars(module))
    assert {*C.ENTITIES, *C.VIEWS, *C.ON_DEMAND_VIEWS, *C.SERVICES, *C.REQUEST_INPUTS} <= names
    assert module.compound_properties.batch_source.path == str(
        (tmp_path / "elsewhere").resolve() / "features" / "offline" / "compound_properties.parquet")
