"""The comparison model: per-task main scores, deltas, per-type and suite averages, leaderboard ranks.

Pure data built from `ModelScores`; `evalkit.report.render` turns a `Comparison` into Markdown, CSV, JSON or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.results.scores import ModelScores
from evalkit.suite import TASK_TYPES, Suite, TaskSpec

EPSILON = 1e-9  # float noise allowed on top of a tolerance, so a change of exactly the tolerance is within it


def beyond(delta: float | None, tolerance: float | None) -> str:
    """`regressed` or `improved` when `delta` (points) goes beyond `tolerance` either way, else `ok`."""
    if delta is None or tolerance is None:
        return "ok"
    if delta < -tolerance - EPSILON:
        return "regressed"
    return "improved" if delta > tolerance + EPSILON else "ok"


@dataclass(frozen=True)
class Aggregate:
    """A mean of main scores over the tasks a model has, out of the tasks the suite expects."""

    score: float | None
    n_tasks: int
    n_expected: int
    sampled: bool = False  # some averaged task comes from a `run --limit` sample

    @property
    def complete(self) -> bool:
        return self.n_tasks == self.n_expected


@dataclass(frozen=True)
class ModelInfo:
    """One column of the report."""

    label: str
    name: str
    revision: str
    source: str
    n_tasks: int  # suite tasks with a main score


@dataclass(frozen=True)
class TaskRow:
    """One task: each model's main score (None when absent) and the candidate's delta to each baseline."""

    name: str
    mteb_task: str
    type: str
    metric: str
    scores: list[float | None]
    deltas: list[float | None]
    sampled: list[str | None]


@dataclass(frozen=True)
class AggregateRow:
    """A per-type or C-MTEB average for every model, and the candidate's delta to each baseline.

    A delta is comparable only when both averages cover every task the suite expects.
    """

    name: str
    aggregates: list[Aggregate]
    deltas: list[float | None]
    comparable: list[bool]


@dataclass(frozen=True)
class LeaderboardRow:
    """One model of a leaderboard; `rank` is None for models lacking some suite task."""

    rank: int | None
    name: str
    revision: str
    candidate: bool
    average: Aggregate
    types: dict[str, Aggregate]


@dataclass
class Comparison:
    """Everything a report shows; `models[0]` is the candidate, the rest are baselines."""

    suite: str
    suite_path: str
    main_metrics: dict[str, str]
    models: list[ModelInfo]
    tasks: list[TaskRow]
    types: list[AggregateRow]
    average: AggregateRow
    leaderboard: list[LeaderboardRow] | None = None
    leaderboard_source: str | None = None
    tolerance: float | None = None  # points; task deltas beyond it are marked

    def regressed(self, baseline: int) -> list[TaskRow]:
        """The tasks whose delta to baseline number `baseline` (0 = the first) fell beyond the tolerance."""
        return [r for r in self.tasks if beyond(r.deltas[baseline], self.tolerance or 0.0) == "regressed"]


def aggregate(model: ModelScores, specs: list[TaskSpec], suite: Suite) -> Aggregate:
    """The mean main score over those of `specs` that the model has."""
    present = [(s, v) for s in specs if (v := model.main_score(s.mteb_task, suite.main_metrics)) is not None]
    values = [v for _, v in present]
    sampled = any(model.tasks[s.mteb_task].sampled for s, _ in present)
    return Aggregate(sum(values) / len(values) if values else None, len(values), len(specs), sampled)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _labels(models: list[ModelScores]) -> list[str]:
    """Model names, with the revision added where two models share a name."""
    names = [m.name for m in models]
    labels = [f"{m.name}@{m.revision[:12]}" if names.count(m.name) > 1 else m.name for m in models]
    return [f"{label} #{i + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def _aggregate_row(name: str, aggregates: list[Aggregate]) -> AggregateRow:
    cand = aggregates[0]
    return AggregateRow(
        name=name,
        aggregates=aggregates,
        deltas=[_delta(cand.score, b.score) for b in aggregates[1:]],
        comparable=[cand.complete and b.complete for b in aggregates[1:]],
    )


def build_comparison(
    candidate: ModelScores, baselines: list[ModelScores], suite: Suite, tolerance: float | None = None
) -> Comparison:
    """Compare the candidate's main scores on the suite's tasks with each baseline's; tasks grouped by type."""
    models = [candidate, *baselines]
    labels = _labels(models)
    tasks = []
    for spec in sorted(suite.tasks, key=lambda s: TASK_TYPES.index(s.type)):
        scores = [m.main_score(spec.mteb_task, suite.main_metrics) for m in models]
        tasks.append(
            TaskRow(
                name=spec.name,
                mteb_task=spec.mteb_task,
                type=spec.type,
                metric=suite.main_metrics[spec.type],
                scores=scores,
                deltas=[_delta(scores[0], s) for s in scores[1:]],
                sampled=[m.tasks[spec.mteb_task].sampled if spec.mteb_task in m.tasks else None for m in models],
            )
        )
    types = [
        _aggregate_row(t, [aggregate(m, specs, suite) for m in models])
        for t in TASK_TYPES
        if (specs := [s for s in suite.tasks if s.type == t])
    ]
    average = _aggregate_row(f"{suite.name} average", [aggregate(m, suite.tasks, suite) for m in models])
    return Comparison(
        suite=suite.name,
        suite_path=str(suite.path),
        main_metrics={t: suite.main_metrics[t] for t in TASK_TYPES if t in suite.main_metrics},
        models=[
            ModelInfo(lbl, m.name, m.revision, str(m.source), agg.n_tasks)
            for lbl, m, agg in zip(labels, models, average.aggregates)
        ],
        tasks=tasks,
        types=types,
        average=average,
        tolerance=tolerance,
    )


def build_leaderboard(candidate: ModelScores, others: list[ModelScores], suite: Suite) -> list[LeaderboardRow]:
    """Rank the candidate among `others` by suite average; models lacking a task are listed unranked, last."""
    types = [t for t in TASK_TYPES if any(s.type == t for s in suite.tasks)]
    rows = []
    for i, model in enumerate([candidate, *others]):
        by_type = {t: aggregate(model, [s for s in suite.tasks if s.type == t], suite) for t in types}
        rows.append((model, i == 0, aggregate(model, suite.tasks, suite), by_type))
    rows.sort(key=lambda r: (not r[2].complete, -(r[2].score or 0.0), not r[1], r[0].name))
    return [
        LeaderboardRow(i + 1 if avg.complete else None, m.name, m.revision, is_cand, avg, by_type)
        for i, (m, is_cand, avg, by_type) in enumerate(rows)
    ]
