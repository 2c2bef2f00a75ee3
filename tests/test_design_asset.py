"""The design asset on the session's simulated lake (its refresh designs round 1 for the
screened target, on the small test budget conftest sets), and its round rule and
refusals on small frames."""

import re

import dagster as dg
import polars as pl
import pytest

from orchestration.assets import design
from orchestration.metadata import check_keys
from orchestration.resources import LakeResource
from orchestration.settings import Evidence

MART_COLUMNS = [
    "design_id", "target_gene", "round", "smiles", "inchikey", "parent_compound_id", "method",
    "predicted_pic50", "uncertainty", "in_domain", "herg_flag", "ames_flag", "dili_flag",
    "clintox_flag", "sa_score", "qed", "alerts", "novelty", "pareto_rank", "rank", "selected",
    "model_version", "designed_at"]


def _meta():
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey("compound_designs"))
    return event.asset_materialization.metadata


def test_the_screened_target_gets_a_round_of_designs(e2e_lake):
    paths, summary = e2e_lake
    target = summary["screening"]["target_gene"]
    mart = pl.read_parquet(paths.marts / "designed_compounds.parquet")
    assert [c for c in MART_COLUMNS if c not in mart.columns] == []
    mine = mart.filter(pl.col("target_gene") == target)
    assert mine.height and mine["round"].unique().to_list() == [1]
    config = design.design_config()
    assert 0 < mine["selected"].sum() <= config.batch_size
    assert sorted(mine["rank"].to_list()) == list(range(1, mine.height + 1))
    # the batch comes first, in pick order
    assert mine.sort("rank")["selected"].to_list() == sorted(mine["selected"].to_list(), reverse=True)
    assert mine["design_id"].is_unique().all()
    assert all(re.fullmatch(rf"D-{target}-R1-\d{{4}}", d) for d in mine["design_id"])
    assert mine["inchikey"].is_unique().all() and mine["smiles"].is_not_null().all()
    assert set(mine["method"].to_list()) <= {"graph_ga", "mmp", "brics"}
    # designs are new: no tested compound of the target comes back as a design
    labels = pl.read_parquet(paths.evidence_file(Evidence.COMPOUND_ACTIVITY_LABELS))
    tested = labels.filter(pl.col("target_gene") == target)["inchikey"]
    assert not mine["inchikey"].is_in(tested.to_list()).any()
    assert mine.filter(pl.col("selected"))["predicted_pic50"].is_not_null().all()


def test_the_structure_grid_and_figures_are_in_the_metadata(e2e_lake):
    _, summary = e2e_lake
    target = summary["screening"]["target_gene"]
    meta = _meta()
    assert "data:image/png;base64," in meta["structures"].value
    assert meta[f"{target}_round"].value == 1
    assert meta[f"{target}_n_selected"].value > 0
    assert any(k.startswith(f"{target}_n_candidates_") for k in meta)
    assert 0.0 <= meta[f"{target}_share_in_domain"].value <= 1.0
    assert f"{target}_top10_predicted_pic50_mean" in meta and "preview" in meta
    # the committee scored the round: the lake's model and at least one second opinion
    assert "+" in meta[f"{target}_surrogate"].value
    assert not check_keys(meta)


def test_a_rerun_with_nothing_new_changes_nothing(e2e_lake):
    """The refresh published round 1 and nothing tested it: designing again carries it as
    it was published (ids, scores and designed_at)."""
    paths, summary = e2e_lake
    target = summary["screening"]["target_gene"]
    evidence = paths.evidence_file(Evidence.COMPOUND_DESIGNS)
    before = pl.read_parquet(evidence)
    result = dg.materialize([design.compound_designs], instance=dg.DagsterInstance.get(),
                            resources={"lake": LakeResource.of(paths.config)})
    assert result.success
    assert pl.read_parquet(evidence).equals(before)
    meta = _meta()
    assert meta[f"{target}_status"].value.startswith("carried")
    assert "not tested" in meta[f"{target}_reason"].value


def _prev(rows):
    return pl.DataFrame(rows, schema={"round": pl.Int64, "selected": pl.Boolean,
                                      "inchikey": pl.String}, orient="row")


def test_round_rule():
    assert design.next_round(_prev([]), set()) == 1
    prev = _prev([(1, True, "A"), (1, False, "B")])
    assert design.next_round(prev, set()) is None          # batch not tested: carry
    assert design.next_round(prev, {"B"}) is None          # an unselected design does not count
    assert design.next_round(prev, {"A"}) == 2
    two = _prev([(1, True, "A"), (2, True, "C")])
    assert design.next_round(two, {"A"}) is None and design.next_round(two, {"C"}) == 3
    assert design.design_id("GBA1", 2, 7) == "D-GBA1-R2-0007"
    assert design.design_id("a/../b", 1, 12) == "D-a____b-R1-0012"


def test_a_target_without_confirmed_actives_gets_a_reason_not_designs():
    labels = pl.DataFrame({"inchikey": ["A", "B"], "pic50": [4.2, 4.9], "censored": [False, False]})
    structures = pl.DataFrame({"compound_id": ["c1", "c2"], "inchikey": ["A", "B"],
                               "smiles": ["CCO", "c1ccccc1O"]})
    hits = pl.DataFrame(schema={"inchikey": pl.String, "frequent_hitter": pl.Boolean})
    inp = design.TargetInputs("NOACT", labels, hits, structures, pl.DataFrame())
    rows, info = design.design_round(inp, None, 1, design.design_config(), [], None)
    assert rows.is_empty() and rows.schema == design.empty_designs().schema
    assert info["status"] == "no designs" and "no confirmed active" in info["reason"]


@pytest.mark.parametrize("env, message", [({"ORPHANLAKE_DESIGN_BUDGET": "ten"}, "must be a number"),
                                          ({"ORPHANLAKE_DESIGN_SECONDS": "0"}, "must be in")])
def test_design_settings_are_checked(env, message):
    with pytest.raises(ValueError, match=message):
        design.design_config(env)
