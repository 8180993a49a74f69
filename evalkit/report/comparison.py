"""The comparison model: per-task main scores, deltas, per-type and suite averages, leaderboard ranks.

Pure data built from `ModelScores`; `evalkit.report.render` turns a `Comparison` into Markdown, CSV, JSON or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from evalkit.report import bootstrap
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


Interval = tuple[float, float]


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
    embed_dim: int | None = None  # what one of its vectors is and costs, where its results say
    precision: str | None = None
    bytes_per_vector: float | None = None
    variant: str = ""  # `dim256_int8` for a truncated or quantized variant
    texts_per_second: float | None = None  # encode speed of the run that wrote its results, where it encoded texts


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
    revisions: list[str | None]  # per model: the revision folder its score was read from (merged models differ)
    ci: list[Interval | None] | None = None  # per model, with `compare(ci=...)`: the bootstrap interval
    delta_ci: list[Interval | None] | None = None  # per baseline: the paired bootstrap interval of the delta
    trained: list[bool | None] | None = None  # per model: trained on the task, by mteb's registry (None: unknown)
    unofficial: list[str | None] | None = None  # per model, benchmark view: why the leaderboard has no such score


@dataclass(frozen=True)
class AggregateRow:
    """A per-type or C-MTEB average for every model, and the candidate's delta to each baseline.

    A delta is comparable only when both averages cover every task the suite expects.
    """

    name: str
    aggregates: list[Aggregate]
    deltas: list[float | None]
    comparable: list[bool]
    ci: list[Interval | None] | None = None
    delta_ci: list[Interval | None] | None = None


@dataclass(frozen=True)
class LeaderboardRow:
    """One model of a leaderboard; `rank` is None for models lacking some suite task (the card's definition) or
    the Borda rank (a benchmark's, where `average` is Mean (Task))."""

    rank: int | None
    name: str
    revision: str
    candidate: bool
    average: Aggregate
    types: dict[str, Aggregate]
    mean_task_type: Aggregate | None = None  # a benchmark's Mean (TaskType)
    borda_rank: int | None = None  # a benchmark's Rank (Borda), over every listed model
    zero_shot: int | None = None  # % of the tasks the model was not trained on, by mteb's registry (None: unknown)
    rank_ci: tuple[int, int] | None = None  # with `compare(ci=...)`: the rank's bootstrap interval
    tie_group: int | None = None  # models with the same group cannot be told apart by their rank intervals
    gaps: dict[str, str] = field(default_factory=dict)  # task -> why the leaderboard has no value for a result here


@dataclass(frozen=True)
class ParetoPoint:
    """One model in one panel of the quality-per-byte chart."""

    model: str  # its label
    bytes_per_vector: float | None
    score: float | None
    complete: bool  # the average covers every task the suite expects
    ci: Interval | None
    front: bool  # on the Pareto front: no other model scores as high or higher for as few or fewer bytes


@dataclass(frozen=True)
class ParetoPanel:
    """The suite average, or one type's, against bytes per vector: a point per model, in the report's order."""

    name: str
    points: list[ParetoPoint]


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
    intervals: Intervals | None = None  # how the confidence intervals were computed, when there are any
    sweep: list[SweepPoint] | None = None  # checkpoints of the candidate in step order (`compare --sweep`)
    definition: str | None = None  # None: the card's main metrics; else the mteb benchmark whose definitions apply
    mean_task_type: AggregateRow | None = None  # a benchmark's Mean (TaskType)
    unlisted: list[str] = field(default_factory=list)  # leaderboard folder models the official leaderboard leaves out
    pareto: list[ParetoPanel] | None = None  # quality per byte (`compare --pareto`, see `pareto.py`)

    def regressed(self, baseline: int) -> list[TaskRow]:
        """The tasks whose delta to baseline number `baseline` (0 = the first) fell beyond the tolerance."""
        return [r for r in self.tasks if beyond(r.deltas[baseline], self.tolerance or 0.0) == "regressed"]


@dataclass(frozen=True)
class SweepPoint:
    """One checkpoint of a sweep (see `evalkit.report.sweep`): its step, and its suite and per-type averages, with
    their bootstrap intervals given `compare(ci=...)` and predictions."""

    step: int
    label: str
    source: str
    average: Aggregate
    types: dict[str, Aggregate]
    average_ci: Interval | None = None
    types_ci: dict[str, Interval | None] | None = None


@dataclass
class Intervals:
    """The bootstrap behind a comparison's intervals, and the tasks that have none for some model."""

    level: float  # e.g. 0.95
    resamples: int
    seed: int
    without: list[str] = field(default_factory=list)  # tasks scored by some model without usable predictions


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
                revisions=[m.tasks[spec.mteb_task].revision if spec.mteb_task in m.tasks else None for m in models],
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
            ModelInfo(
                lbl,
                m.name,
                m.revision,
                str(m.source),
                agg.n_tasks,
                m.embed_dim,
                m.precision,
                m.bytes_per_vector,
                m.variant,
                m.texts_per_second,
            )  # fmt: skip
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


def _pairable(a: bootstrap.Sample | None, b: bootstrap.Sample | None) -> bool:
    return a is not None and b is not None and a.units == b.units


def task_replicates(
    models: list[ModelScores], suite: Suite, resamples: int, seed: int
) -> tuple[list[dict[str, bootstrap.Sample]], list[dict[str, np.ndarray]]]:
    """Per model, by mteb task: the samples of its predictions and their bootstrap replicates (card points). The
    models with the same examples of a task share its draws (seeded by the task's name)."""
    samples: list[dict[str, bootstrap.Sample]] = [{} for _ in models]
    reps: list[dict[str, np.ndarray]] = [{} for _ in models]
    for spec in suite.tasks:
        metric = suite.main_metrics[spec.type]
        groups: dict[tuple, list[int]] = {}  # models by the examples they have
        for i, model in enumerate(models):
            scores = model.tasks.get(spec.mteb_task)
            if scores is not None and scores.predictions is not None:
                sample = bootstrap.task_sample(scores, metric)
                if sample is not None:
                    samples[i][spec.mteb_task] = sample
                    groups.setdefault(sample.units, []).append(i)
        for group in groups.values():
            rng = bootstrap.task_rng(spec.mteb_task, seed)
            drawn = bootstrap.replicates([samples[i][spec.mteb_task] for i in group], resamples, rng)
            for i, values in zip(group, drawn):
                reps[i][spec.mteb_task] = values
    return samples, reps


def add_intervals(
    comp: Comparison,
    models: list[ModelScores],
    suite: Suite,
    level: float,
    resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = bootstrap.DEFAULT_SEED,
) -> None:
    """Add bootstrap intervals at `level` (0-1) from each model's predictions, for tasks and averages.

    The models with the same examples of a task are resampled together (the same draws, seeded by the task's
    name), so the delta's interval is paired. An average has an interval when every task it averages has one;
    its delta when, in addition, both averages are complete and every task pairs.
    """
    samples, reps = task_replicates(models, suite, resamples, seed)

    def task_delta(task: str, j: int):
        paired = _pairable(samples[0].get(task), samples[j].get(task))
        return reps[0][task] - reps[j][task] if paired else None

    without = []
    for k, row in enumerate(comp.tasks):
        task = row.mteb_task
        ci = [bootstrap.interval(r[task], level) if task in r else None for r in reps]
        if any(score is not None and c is None for score, c in zip(row.scores, ci)):
            without.append(row.name)
        deltas = [task_delta(task, j) for j in range(1, len(models))]
        comp.tasks[k] = replace(
            row, ci=ci, delta_ci=[None if d is None else bootstrap.interval(d, level) for d in deltas]
        )

    def aggregate_row(row: AggregateRow, specs: list[TaskSpec]) -> AggregateRow:
        present = [[s.mteb_task for s in specs if m.main_score(s.mteb_task, suite.main_metrics) is not None]
                   for m in models]  # fmt: skip
        ci = [
            bootstrap.interval(sum(r[t] for t in tasks) / len(tasks), level)
            if tasks and all(t in r for t in tasks)
            else None
            for r, tasks in zip(reps, present)
        ]
        delta_ci = []
        for j in range(1, len(models)):
            deltas = [task_delta(t, j) for t in present[0]]
            ok = row.comparable[j - 1] and present[0] and all(d is not None for d in deltas)
            delta_ci.append(bootstrap.interval(sum(deltas) / len(deltas), level) if ok else None)
        return replace(row, ci=ci, delta_ci=delta_ci)

    comp.types = [aggregate_row(row, [s for s in suite.tasks if s.type == row.name]) for row in comp.types]
    comp.average = aggregate_row(comp.average, suite.tasks)
    comp.intervals = Intervals(level, resamples, seed, without)
