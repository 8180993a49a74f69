"""Comparison reports: building the table from in-memory scores, the four renderings, and real inputs."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from evalkit.cli.compare import handle as cmd_compare
from evalkit.errors import UserError
from evalkit.report.comparison import build_comparison, build_leaderboard
from evalkit.report.html import render_html
from evalkit.report.render import render, render_csv, render_json, render_markdown
from evalkit.results.read import merge_revisions
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import load_suite


def Namespace(**options) -> argparse.Namespace:  # noqa: N802 - stands in for argparse's, with compare's defaults
    """The parsed arguments of `compare`, with the defaults of the bootstrap options these tests leave out."""
    defaults = {"ci": None, "resamples": 1000, "bootstrap_seed": 0, "sweep": None, "pareto": False}
    return argparse.Namespace(**(defaults | options))


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_CARD = SHARED / "seed" / "zpoint_large_embedding_zh.README.md"
REFERENCE = SHARED / "reference-results"
STELLA = REFERENCE / "dunzhang__stella-mrl-large-zh-v3.5-1792d"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (real cards and reference results) is absent")

SUITE = load_suite("c-mteb")
CLI_DEFAULTS = {"tolerance": 0.5, "pr_comment": False}  # `compare` options these tests leave as they are


def make_model(
    name: str,
    score: float = 60.0,
    *,
    scores: dict[str, float] | None = None,
    drop: tuple[str, ...] = (),
    revision: str = "r1",
    sampled: str | None = None,
) -> ModelScores:
    """A model with `score` as main score on every C-MTEB task (overridden per task by `scores`), minus `drop`."""
    tasks = {}
    for spec in SUITE.tasks:
        if spec.mteb_task in drop:
            continue
        value = (scores or {}).get(spec.mteb_task, score)
        metrics = {SUITE.main_metrics[spec.type]: value, "other_metric": value - 10}
        tasks[spec.mteb_task] = TaskScores(spec.mteb_task, spec.type, spec.split, spec.subset, "rev", metrics, sampled)
    return ModelScores(name, revision, Path(f"/results/{name}"), tasks)


def test_task_scores_deltas_and_averages():
    cand = make_model("cand", 60.0, scores={"AFQMC": 70.0})
    base = make_model("base", 58.0, drop=("STSB",))
    comp = build_comparison(cand, [base], SUITE)
    assert [m.label for m in comp.models] == ["cand", "base"]
    afqmc = next(r for r in comp.tasks if r.mteb_task == "AFQMC")
    assert (afqmc.metric, afqmc.scores, afqmc.deltas) == ("cos_sim_spearman", [70.0, 58.0], [12.0])
    stsb = next(r for r in comp.tasks if r.mteb_task == "STSB")
    assert stsb.scores == [60.0, None] and stsb.deltas == [None]
    sts = next(r for r in comp.types if r.name == "STS")
    assert sts.aggregates[0].score == pytest.approx((70 + 7 * 60) / 8)
    assert (sts.aggregates[1].n_tasks, sts.aggregates[1].n_expected, sts.aggregates[1].complete) == (7, 8, False)
    assert sts.comparable == [False]
    retrieval = next(r for r in comp.types if r.name == "Retrieval")
    assert retrieval.deltas == [pytest.approx(2.0)] and retrieval.comparable == [True]
    avg = comp.average.aggregates
    assert avg[0].n_expected == 35 and avg[0].complete and avg[0].score == pytest.approx(60 + 10 / 35)
    assert not avg[1].complete and comp.average.comparable == [False]


def test_main_metric_comes_from_the_suite():
    cand = make_model("cand")
    comp = build_comparison(cand, [], SUITE)
    assert comp.main_metrics == {
        "STS": "cos_sim_spearman",
        "PairClassification": "cos_sim_ap",
        "Classification": "accuracy",
        "Clustering": "v_measure",
        "Reranking": "map",
        "Retrieval": "ndcg_at_10",
    }
    assert {r.type: r.metric for r in comp.tasks} == comp.main_metrics
    assert "Retrieval ndcg_at_10" in render_markdown(comp)


def test_same_name_models_get_distinct_labels():
    comp = build_comparison(make_model("m", revision="aaa"), [make_model("m", revision="bbb")], SUITE)
    assert [m.label for m in comp.models] == ["m@aaa", "m@bbb"]


def test_markdown_marks_incomplete_averages_and_deltas():
    md = render_markdown(build_comparison(make_model("cand", 61.0), [make_model("base", 60.0, drop=("STSB",))], SUITE))
    assert "| c-mteb average | 61.00 | 60.00 (34/35) | +1.00 † |" in md
    assert "| STSB | STS | cos_sim_spearman | 61.00 | – | – |" in md
    assert "(n/N)" in md and "†" in md


def test_sampled_results_are_marked():
    md = render_markdown(build_comparison(make_model("cand", sampled="limit=100,seed=42"), [], SUITE))
    assert "| AFQMC | STS | cos_sim_spearman | 60.00 ~ |" in md
    assert "sampled result" in md


def test_csv_is_long_format_with_deltas_on_baseline_rows():
    comp = build_comparison(make_model("cand", 61.0), [make_model("b1", 60.0), make_model("b2", 62.0)], SUITE)
    rows = list(csv.DictReader(io.StringIO(render_csv(comp))))
    afqmc = [r for r in rows if r["section"] == "task" and r["name"] == "AFQMC"]
    assert [(r["model"], r["role"], float(r["score"])) for r in afqmc] == [
        ("cand", "candidate", 61.0),
        ("b1", "baseline", 60.0),
        ("b2", "baseline", 62.0),
    ]
    assert [r["delta"] for r in afqmc] == ["", "1.0", "-1.0"]
    average = [r for r in rows if r["section"] == "average"]
    assert [r["complete"] for r in average] == ["True"] * 3 and average[0]["n_expected"] == "35"
    assert len([r for r in rows if r["section"] == "type"]) == 6 * 3


def test_json_round_trips_with_completeness():
    comp = build_comparison(make_model("cand"), [make_model("base", drop=("BQ",))], SUITE)
    data = json.loads(render_json(comp))
    assert data["suite"] == "c-mteb" and data["main_metrics"]["STS"] == "cos_sim_spearman"
    assert [a["complete"] for a in data["average"]["aggregates"]] == [True, False]
    assert len(data["tasks"]) == 35 and data["tasks"][0]["scores"] == [60.0, 60.0]


def test_leaderboard_ranks_complete_models_and_lists_incomplete_last():
    cand = make_model("cand", 61.0)
    others = [make_model("best", 63.0), make_model("worst", 50.0), make_model("partial", 90.0, drop=("STSB",))]
    board = build_leaderboard(cand, others, SUITE)
    assert [(r.rank, r.name, r.candidate) for r in board] == [
        (1, "best", False),
        (2, "cand", True),
        (3, "worst", False),
        (None, "partial", False),
    ]
    comp = build_comparison(cand, [], SUITE)
    comp.leaderboard = board
    md = render_markdown(comp)
    assert "cand ranks 2 of 3" in md and "| – | partial | r1 | 34/35 | 90.00 (34/35) |" in md


def test_merge_revisions_prefers_runs_over_card_conversions():
    external = make_model("m", 50.0, revision="external", drop=("AmazonReviewsClassification",))
    run = make_model(
        "m", 70.0, revision="abc", drop=tuple(s.mteb_task for s in SUITE.tasks if s.type != "Classification")
    )
    merged = merge_revisions([external, run])
    assert merged.revision == "abc+external" and len(merged.tasks) == 35
    assert merged.tasks["AFQMC"].metrics["cos_sim_spearman"] == 50.0
    assert merged.tasks["IFlyTek"].metrics["accuracy"] == 70.0


def test_html_escapes_names_from_inputs():
    evil = '<script>alert("x")</script>$x$ & <img src=x onerror=1>'
    comp = build_comparison(make_model(evil), [make_model("base")], SUITE)
    comp.leaderboard = build_leaderboard(comp_model := make_model(evil), [make_model("o")], SUITE)
    assert comp_model.name == evil
    page = render_html(comp)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def test_html_is_self_contained_with_tables_and_charts():
    page = render(build_comparison(make_model("cand", 61.0), [make_model("base")], SUITE), "html")
    assert page.startswith("<!doctype html>") and "Content-Security-Policy" in page
    for element in ('id="averages"', 'id="tasks"', 'id="chart-averages"', 'id="chart-deltas"'):
        assert element in page
    assert page.count("<svg") == 2
    for fetching in ("<script", "<link", "<img", "src=", 'href="http', "url(http", "@import"):
        assert fetching not in page


def test_cmd_compare_writes_the_format_of_the_output_suffix(tmp_path, monkeypatch):
    monkeypatch.setattr("evalkit.results.read.read_scores", lambda path, suite: [make_model(Path(path).name)])
    out = tmp_path / "report.json"
    args = Namespace(
        candidate="cand", baselines=["base"], format=None, output=out, leaderboard=None, suite="c-mteb", **CLI_DEFAULTS
    )
    assert cmd_compare(args) == 0
    assert [m["name"] for m in json.loads(out.read_text())["models"]] == ["cand", "base"]


def test_cmd_compare_refuses_an_input_with_several_models(monkeypatch):
    monkeypatch.setattr("evalkit.results.read.read_scores", lambda path, suite: [make_model("a"), make_model("b")])
    args = Namespace(
        candidate="x", baselines=[], format="md", output=None, leaderboard=None, suite="c-mteb", **CLI_DEFAULTS
    )
    with pytest.raises(UserError, match="holds 2 models"):
        cmd_compare(args)


@needs_shared
def test_seed_card_against_stella(capsys):
    args = Namespace(
        candidate=str(SEED_CARD),
        baselines=[str(STELLA)],
        format="json",
        output=None,
        leaderboard=None,
        suite="c-mteb",
        **CLI_DEFAULTS,
    )
    assert cmd_compare(args) == 0
    data = json.loads(capsys.readouterr().out)
    zpoint, stella = data["average"]["aggregates"]
    assert (zpoint["complete"], zpoint["n_tasks"], round(zpoint["score"], 2)) == (True, 35, 71.88)
    # The reference results hold stella's three multilingual classification tasks in German only.
    assert (stella["complete"], stella["n_tasks"], round(stella["score"], 2)) == (False, 32, 68.85)
    assert data["average"]["comparable"] == [False]
    by_task = {r["mteb_task"]: r for r in data["tasks"]}
    assert [t for t, r in by_task.items() if r["scores"][1] is None] == [
        "AmazonReviewsClassification",
        "MassiveIntentClassification",
        "MassiveScenarioClassification",
    ]
    assert all(r["scores"][0] is not None for r in by_task.values())
    assert by_task["AFQMC"]["scores"][0] == pytest.approx(60.72175935031135)
    assert by_task["AFQMC"]["scores"][1] == pytest.approx(58.85457316132848)


@needs_shared
def test_leaderboard_over_reference_results(capsys):
    args = Namespace(
        candidate=str(SEED_CARD),
        baselines=[],
        format="md",
        output=None,
        leaderboard=REFERENCE,
        suite="c-mteb",
        **CLI_DEFAULTS,
    )
    assert cmd_compare(args) == 0
    md = capsys.readouterr().out
    assert "### Leaderboard" in md and "(candidate)" in md
    assert "dunzhang/stella-mrl-large-zh-v3.5-1792d" in md
