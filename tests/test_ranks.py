"""Rank intervals and tie groups: which ranks the data can tell apart, on constructed data with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import evalkit
from evalkit.metrics import mteb_key
from evalkit.report.comparison import LeaderboardRow, build_comparison
from evalkit.report.ranks import add_rank_intervals, tie_groups
from evalkit.report.render import render_csv, render_markdown
from evalkit.results.predictions import write_predictions
from evalkit.results.scores import ModelScores
from evalkit.suite import load_suite

SAMPLE = load_suite("sample")
TASKS = [f"task{i}" for i in range(12)]


def known_answer() -> dict[str, dict[str, float]]:
    """A far ahead of everyone; B and C level, each winning half of the tasks by 0.01; D far behind."""
    return {
        "A": dict.fromkeys(TASKS, 90.0),
        "B": {t: 70 + (0.01 if i % 2 else -0.01) for i, t in enumerate(TASKS)},
        "C": {t: 70 - (0.01 if i % 2 else -0.01) for i, t in enumerate(TASKS)},
        "D": dict.fromkeys(TASKS, 50.0),
    }


def board(ranks: dict[str, int]):
    comp = build_comparison(ModelScores("A", "r", Path("a")), [], SAMPLE)
    rows = [LeaderboardRow(rank, name, "r", name == "A", None, {}) for name, rank in ranks.items()]  # type: ignore[arg-type]
    comp.leaderboard = rows
    return comp


@pytest.mark.parametrize("borda", [True, False])
def test_intervals_separate_clearly_different_models_and_tie_near_identical_ones(borda):
    values = known_answer()
    comp = board({"A": 1, "B": 2, "C": 2, "D": 4})
    add_rank_intervals(comp, list(values.values()), {}, TASKS, borda=borda, level=0.95, resamples=400, seed=1)
    got = {r.name: (r.rank_ci, r.tie_group) for r in comp.leaderboard}
    assert got == {"A": ((1, 1), 1), "B": ((2, 3), 2), "C": ((2, 3), 2), "D": ((4, 4), 3)}
    assert comp.intervals.level == 0.95 and comp.intervals.resamples == 400


def test_borda_intervals_rank_with_mtebs_own_borda_count():
    """Without resampling (every task drawn once) the ranks are mteb's Borda ranks of the same scores."""
    import polars as pl
    from mteb.benchmarks._create_table import _borda_rank_from_long

    from evalkit.report.ranks import _borda

    rng = np.random.default_rng(3)
    scores = rng.random((6, 9))
    scores[2, 4] = np.nan  # a model without a task gets no points from it
    model, task = np.nonzero(~np.isnan(scores))
    frame = pl.DataFrame({"model_name": model, "task_name": task, "score": scores[model, task]})
    official = dict(_borda_rank_from_long(frame, n_models=6).iter_rows())
    assert list(_borda(scores, 6)) == [official[m] for m in range(6)]


def test_tie_groups_start_at_a_model_and_take_those_whose_interval_reaches_its_worst_rank():
    assert tie_groups([(1, 1), (2, 4), (3, 5), (4, 6), (6, 7), None]) == [1, 2, 2, 2, 3, None]


def _write_model(root: Path, name: str, scores: dict[str, float], predictions: dict | None = None) -> Path:
    """A results folder of the sample suite's tasks with these main scores (card points)."""
    folder = root / name / "r1"
    folder.mkdir(parents=True)
    for spec in SAMPLE.tasks:
        value = scores[spec.mteb_task] / 100
        entry = {"hf_subset": spec.subset, "languages": ["cmn-Hans"], "main_score": value,
                 mteb_key(spec.type, SAMPLE.main_metrics[spec.type]): value}  # fmt: skip
        data = {"dataset_revision": "r", "task_name": spec.mteb_task, "mteb_version": "2.26.24",
                "scores": {spec.split: [entry]}, "evaluation_time": 1.0}  # fmt: skip
        if predictions and spec.mteb_task in predictions:
            data["predictions"] = f"{spec.mteb_task}.predictions.json.gz"
            write_predictions(folder / data["predictions"], predictions[spec.mteb_task])
        (folder / f"{spec.mteb_task}.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "model_meta.json").write_text(json.dumps({"name": name, "revision": "r1"}), encoding="utf-8")
    return folder


def test_the_candidates_examples_are_resampled_where_its_predictions_were_saved(tmp_path):
    """The candidate is ahead of B on every task, by 0.1 point, and on Waimai by 0.1 of 50 examples' accuracy:
    by tasks alone it always ranks first; its examples say the lead is within noise."""
    labels = [i % 2 for i in range(50)]
    predicted = [label if i < 35 else 1 - label for i, label in enumerate(labels)]  # accuracy 0.70
    record = {"type": "Classification", "labels": labels, "experiments": [predicted]}
    mine = {spec.mteb_task: 60.1 for spec in SAMPLE.tasks} | {"Waimai": 70.0}
    other = {spec.mteb_task: 60.0 for spec in SAMPLE.tasks} | {"Waimai": 69.9}
    with_predictions = _write_model(tmp_path / "with", "cand", mine, {"Waimai": record})
    without = _write_model(tmp_path / "without", "cand", mine)
    leaderboard = tmp_path / "board"
    _write_model(leaderboard, "other", other)
    got = {}
    for label, candidate in (("tasks", without), ("examples", with_predictions)):
        comp = evalkit.compare(candidate, suite="sample", leaderboard=leaderboard, ci=95, resamples=300)
        got[label] = [(r.name, r.rank, r.rank_ci, r.tie_group) for r in comp.leaderboard]
    assert got["tasks"] == [("cand", 1, (1, 1), 1), ("other", 2, (2, 2), 2)]
    assert got["examples"] == [("cand", 1, (1, 2), 1), ("other", 2, (1, 2), 1)]
    md = render_markdown(comp)
    assert "| rank 95% CI | tied |" in md and "tied (one group) with other" in md
    rows = [r for r in render_csv(comp).splitlines() if r.startswith("leaderboard,")]
    assert all(",1,2,1," in r for r in rows)  # rank_ci_low, rank_ci_high, tie_group
