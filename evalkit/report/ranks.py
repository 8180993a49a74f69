"""Rank intervals: how far each leaderboard rank would move under another draw of tasks, and of examples.

A resample draws the suite's tasks with replacement, as many as it has; where the candidate's predictions were
saved, it also takes that task's bootstrap replicate of the candidate's score (the draws `compare --ci` uses).
Every model is then ranked as the leaderboard ranks it: a benchmark's by Borda count, with mteb's own
`_borda_rank_from_long` over the drawn tasks; the card's suite by the mean over the drawn tasks, among the models
with every task. A model's rank interval holds the central `level` share of its resampled ranks.

Models are grouped as tied in rank order: a group starts at its best-ranked model and takes every following model
whose interval reaches that model's worst rank. Two models of a group cannot be told apart by these data; two
models of different groups can.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evalkit.report import bootstrap
from evalkit.report.benchmark import CANDIDATE, Table
from evalkit.report.comparison import Comparison, Intervals, task_replicates
from evalkit.results.scores import ModelScores
from evalkit.suite import Suite

TASK_STREAM = "\x00leaderboard tasks"  # seeds the draws of tasks (the examples' draws are seeded by task names)


def add_leaderboard_intervals(
    comp: Comparison,
    ranked: Table | list[ModelScores],
    candidate: ModelScores,
    suite: Suite,
    level: float,
    resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = bootstrap.DEFAULT_SEED,
) -> None:
    """Rank intervals for a leaderboard built from a benchmark's `Table` (Borda ranks) or from the candidate and the
    other models (the card's ranking by mean), the candidate's examples resampled where it saved predictions."""
    _, (replicates,) = task_replicates([candidate], suite, resamples, seed)
    tasks = [spec.mteb_task for spec in suite.tasks]
    rows = comp.leaderboard or []
    options = {"level": level, "resamples": resamples, "seed": seed}
    if isinstance(ranked, Table):
        values = [ranked.ranked_by.get(CANDIDATE if row.candidate else row.name, {}) for row in rows]
        others = [v for key, v in ranked.ranked_by.items() if key not in ranked.rows]
        add_rank_intervals(
            comp, values, replicates, tasks, borda=True, others=others, n_models=ranked.n_models, **options
        )
        return
    scores = {}
    for i, model in enumerate(ranked):
        found = {t: model.main_score(t, suite.main_metrics) for t in tasks}
        scores[(model.name, model.revision, i == 0)] = {t: v for t, v in found.items() if v is not None}
    values = [scores[(row.name, row.revision, row.candidate)] for row in rows]
    add_rank_intervals(comp, values, replicates, tasks, borda=False, **options)


def add_rank_intervals(
    comp: Comparison,
    values: list[dict[str, float]],
    replicates: dict[str, np.ndarray],
    tasks: list[str],
    *,
    borda: bool,
    others: list[dict[str, float]] = (),
    n_models: int | None = None,
    level: float,
    resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = bootstrap.DEFAULT_SEED,
) -> None:
    """Add each ranked leaderboard row's rank interval and tie group.

    `values[i]` holds row i's score per task (the value it is ranked by), `replicates` the candidate's bootstrap
    replicates per task; `borda` ranks as a benchmark does, against `others` too (models Borda counts that have no
    row; `n_models` as mteb counts them), else by mean among the rows with every task of `tasks`.
    """
    rows = comp.leaderboard or []
    ranked = [i for i, row in enumerate(rows) if row.rank is not None]
    table = [values[i] for i in ranked] + list(others)
    matrix = np.array([[v.get(t, np.nan) for t in tasks] for v in table], dtype=float).reshape(-1, len(tasks))
    candidate = next((k for k, i in enumerate(ranked) if rows[i].candidate), None)
    rng = bootstrap.task_rng(TASK_STREAM, seed)
    draws = rng.integers(0, len(tasks), size=(resamples, len(tasks)))
    ranks = np.empty((resamples, len(ranked)))
    for b in range(resamples):
        scores = matrix.copy()
        if candidate is not None:
            for t, task in enumerate(tasks):
                if task in replicates and np.isfinite(replicates[task][b]):
                    scores[candidate, t] = replicates[task][b]
        drawn = scores[:, draws[b]]
        ranks[b] = (_borda(drawn, n_models or len(table)) if borda else _by_mean(drawn))[: len(ranked)]
    intervals = [_interval(ranks[:, k], level) for k in range(len(ranked))]
    groups = tie_groups(intervals)
    for k, i in enumerate(ranked):
        rows[i] = replace(rows[i], rank_ci=intervals[k], tie_group=groups[k])
    comp.intervals = comp.intervals or Intervals(level, resamples, seed)


def _borda(drawn: np.ndarray, n_models: int) -> np.ndarray:
    """Borda ranks (1 = best) of the models (rows) over the drawn tasks (columns), by mteb's function: a drawn
    task counts once for each time it was drawn, a model without a score on it gets no points from it."""
    import polars as pl
    from mteb.benchmarks._create_table import _borda_rank_from_long

    model, column = np.nonzero(~np.isnan(drawn))
    frame = pl.DataFrame({"model_name": model, "task_name": column, "score": drawn[model, column]})
    ranked = dict(_borda_rank_from_long(frame, n_models=n_models).iter_rows())
    return np.array([ranked.get(m, np.nan) for m in range(len(drawn))], dtype=float)


def _by_mean(drawn: np.ndarray) -> np.ndarray:
    """Ranks (1 = best, ties sharing the better rank) of the models by their mean over the drawn tasks."""
    means = drawn.mean(axis=1)
    return 1 + (means[None, :] > means[:, None]).sum(axis=1)


def _interval(ranks: np.ndarray, level: float) -> tuple[int, int] | None:
    bounds = bootstrap.interval(ranks, level)
    return None if bounds is None else (int(bounds[0]), int(bounds[1]))


def tie_groups(intervals: list[tuple[int, int] | None]) -> list[int | None]:
    """Group numbers (1, 2, ...) of intervals in rank order: each group starts at a model and takes the following
    ones whose best rank is within its worst rank."""
    groups: list[int | None] = []
    group, worst = 0, None
    for interval in intervals:
        if interval is None:
            groups.append(None)
            continue
        if worst is None or interval[0] > worst:
            group, worst = group + 1, interval[1]
        groups.append(group)
    return groups
