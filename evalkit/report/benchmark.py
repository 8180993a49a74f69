"""The benchmark view: a comparison and a leaderboard by an mteb benchmark's own definitions (`-b NAME`).

Every number is mteb's. The models are loaded as the official leaderboard loads them (`evalkit.results.official`);
the per-task values, the type means, Mean (Task), Mean (TaskType) and the Borda ranks come from the functions mteb's
`_create_summary_table` is built of, called in the same way (`summarize`). That function itself joins its table with
mteb's model registry, which drops any model the registry lacks (as a model under test usually is); the tests check
`summarize` against it, to 1e-9, for every model it keeps.

So a task's value is each result file's own main score (converted as mteb converts old files), averaged over the
benchmark's eval splits and subsets; it is missing where any of those is, and a mean is missing where one of its
tasks is. Where evalkit reads a score that the leaderboard does not (a pre-1.11 reranking file with `map` but no
`map_at_1000`, a result with some of the splits), the comparison shows it marked with the reason, outside every mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from evalkit.errors import UserError
from evalkit.metrics import card_metric_of
from evalkit.report.comparison import Aggregate, AggregateRow, Comparison, LeaderboardRow, _aggregate_row
from evalkit.results import official
from evalkit.results.official import MODEL
from evalkit.results.read import load_results, read_scores
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import TASK_TYPES, Suite

MEAN_TASK, MEAN_TASK_TYPE = "Mean (Task)", "Mean (TaskType)"
SAME = 1e-9  # points: a score evalkit read that equals the benchmark's (its predictions then recompute it)


@dataclass(frozen=True)
class Summary:
    """One model's row of mteb's summary table, on the card's 0-100 scale."""

    tasks: dict[str, float]  # per task: mteb's value, where it has one
    types: dict[str, float | None]  # per task type present in the table: the mean of its tasks, None if one lacks
    mean_task: float | None
    mean_task_type: float | None
    borda: int
    revision: str  # the revision folders the leaderboard took its results from, joined by "+"
    gaps: dict[str, str] = field(default_factory=dict)  # task -> why mteb has no value although a result is there


def check_benchmark(bench) -> None:
    """Refuse a benchmark whose leaderboard ranks otherwise than by Borda over tasks with these means."""
    from mteb.benchmarks.benchmark import Benchmark, BenchmarkAggregation

    plain = {BenchmarkAggregation.MEAN_TASK, BenchmarkAggregation.MEAN_TASK_TYPE, BenchmarkAggregation.TASK_TYPES}
    if type(bench)._create_summary_table is not Benchmark._create_summary_table or not set(bench.aggregations) <= plain:
        raise UserError(
            f"benchmark {bench.name}: its leaderboard ranks by its own aggregation ({type(bench).__name__}, "
            f"{', '.join(map(str, bench.aggregations))}); evalkit follows benchmarks ranked by Borda over tasks"
        )


@dataclass
class Table:
    """mteb's summary table of a frame."""

    rows: dict[str, Summary]  # by model key: the models with a value for some task
    ranked_by: dict[str, dict[str, float]]  # every model of the frame: per task, the value Borda ranks it by
    n_models: int  # the number of models Borda counts ranks against


def summarize(frame, main_scores: dict[str, str]) -> Table:
    """mteb's summary of a long frame: `_create_summary_table`'s per-task pivot (incomplete tasks nulled), type
    means, Mean (Task), Mean (TaskType) and Borda rank, without its join to mteb's model registry."""
    import polars as pl
    from mteb.benchmarks._create_table import (
        _EXPERIMENT_ID_COL,
        _borda_rank_from_long,
        _build_per_task_pivot,
        _ensure_experiment_id,
        _get_means_per_types,
        _skipna_false_mean,
    )

    if frame is None:
        return Table({}, {}, 0)
    frame = _ensure_experiment_id(frame)
    pivot = _build_per_task_pivot(frame)
    if pivot is None:
        return Table({}, {}, 0)
    per_task, task_cols = pivot
    type_exprs, type_cols = _get_means_per_types(task_cols)
    table = per_task.select(
        MODEL, _EXPERIMENT_ID_COL, *task_cols, *type_exprs, _skipna_false_mean(task_cols).alias(MEAN_TASK)
    ).with_columns(_skipna_false_mean(type_cols).alias(MEAN_TASK_TYPE))
    borda = dict(_borda_rank_from_long(frame, n_models=per_task.height).iter_rows())
    ranked_by: dict[str, dict[str, float]] = {}
    for model, task, score in frame.group_by([MODEL, "task_name"]).agg(pl.col("score").mean()).iter_rows():
        if score is not None and score == score:  # as `_borda_rank_from_long` ranks them: not null, not NaN
            ranked_by.setdefault(model, {})[task] = 100 * score
    revisions = frame.group_by(MODEL).agg(pl.col("model_revision").unique().sort())
    revision = {model: "+".join(r for r in revs if r) for model, revs in revisions.iter_rows()}
    gaps = _gaps(frame, main_scores)
    out = {}
    for row in table.iter_rows(named=True):
        model, experiment = row[MODEL], row[_EXPERIMENT_ID_COL]
        out[f"{model} ({experiment})" if experiment else model] = Summary(
            tasks={t: 100 * row[t] for t in task_cols if row[t] is not None},
            types={t: None if row[t] is None else 100 * row[t] for t in type_cols},
            mean_task=None if row[MEAN_TASK] is None else 100 * row[MEAN_TASK],
            mean_task_type=None if row[MEAN_TASK_TYPE] is None else 100 * row[MEAN_TASK_TYPE],
            borda=borda[model],
            revision=revision[model],
            gaps=gaps.get(model, {}),
        )
    return Table(out, ranked_by, per_task.height)


def _gaps(frame, main_scores: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per model and task with rows in the frame but no value in mteb's table: why (no main score in the result the
    leaderboard keeps, or only some of the splits and subsets that other models have)."""
    import polars as pl

    def cells(df):
        """Per model and task: its `split/subset` cells."""
        return df.group_by([MODEL, "task_name"]).agg(pl.concat_str("split", "subset", separator="/").unique())

    scored = frame.filter(pl.col("score").is_not_null() & pl.col("score").is_not_nan())
    required: dict[str, set[str]] = {}
    for _, task, have in cells(scored).iter_rows():
        required.setdefault(task, set()).update(have)
    have = {(model, task): set(cells_) for model, task, cells_ in cells(scored).iter_rows()}
    gaps: dict[str, dict[str, str]] = {}
    for model, task, _ in sorted(cells(frame).iter_rows()):  # polars groups in no set order
        got = have.get((model, task), set())
        if not got:
            why = f"the result the leaderboard keeps has no {main_scores.get(task, 'main score')}"
        elif got < required[task]:
            why = f"{_splits(got)} only; the leaderboard averages {_splits(required[task])}"
        else:
            continue
        gaps.setdefault(model, {})[task] = why
    return gaps


def _splits(cells: set[str]) -> str:
    """`test and validation`: the splits (and subsets other than `default`) of some `split/subset` cells."""
    names = sorted(c.removesuffix("/default") for c in cells)
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


@dataclass
class BenchmarkView:
    """The compared models by a benchmark's definitions, and its leaderboard (see the module's docstring)."""

    benchmark: str
    suite: Suite  # the suite with the benchmark's main metric of each task type (card names)
    main_scores: dict[str, str]  # per task: the main score mteb records for it
    models: list[ModelScores]  # the compared models by the benchmark's definitions (what `build_comparison` takes)
    compared: list[Summary | None]  # their rows of mteb's table (None: nothing of the benchmark)
    unofficial: list[dict[str, str]]  # per compared model: task -> why the leaderboard has none where one is shown
    leaderboard: Table | None = None  # the leaderboard's models and the candidate (key `CANDIDATE`)
    unlisted: list[str] = field(default_factory=list)


CANDIDATE = "\x00candidate"  # the candidate's model key in the leaderboard's frame: it never clashes with a name


def read_inputs(paths: list[Path], suite: Suite) -> tuple[list[ModelScores], list[list[ModelScores]]]:
    """Each input's model as evalkit reads it (revisions merged) and its revisions (which the leaderboard joins)."""
    return [load_results(path, suite) for path in paths], [read_scores(path, suite) for path in paths]


def load_view(
    mine: list[ModelScores], revisions: list[list[ModelScores]], suite: Suite, leaderboard: Path | None = None
) -> BenchmarkView:
    """Read the compared models (the candidate first; `mine` as evalkit reads them, `revisions` theirs) and the
    leaderboard folder the way the official leaderboard does, and summarize them with mteb's functions. The
    comparison is summarized over the leaderboard's models and the compared ones; the leaderboard over its models
    and the candidate, as it would list them."""
    bench = official.get_benchmark(suite)
    check_benchmark(bench)
    main_scores = {task.metadata.name: task.metadata.main_score for task in bench.tasks}
    keys = [f"\x00compared {i}" for i in range(len(mine))]
    frames = [official.input_frame(revs, bench, key) for revs, key in zip(revisions, keys)]
    board = official.leaderboard_frame(Path(leaderboard), bench) if leaderboard is not None else None
    board_frame = board.frame if board is not None else None
    summaries = summarize(official.concat([*frames, board_frame]), main_scores)
    compared = [summaries.rows.get(key) for key in keys]
    view_suite = _view_suite(suite, main_scores)
    models, unofficial = [], []
    for model, summary in zip(mine, compared):
        scores, why = _benchmark_scores(model, summary, view_suite, main_scores)
        models.append(scores)
        unofficial.append(why)
    view = BenchmarkView(bench.name, view_suite, main_scores, models, compared, unofficial)
    if board is not None:
        candidate = official.input_frame(revisions[0], bench, CANDIDATE)
        view.leaderboard = summarize(official.concat([candidate, board_frame]), main_scores)
        view.unlisted = board.unlisted
    return view


def _view_suite(suite: Suite, main_scores: dict[str, str]) -> Suite:
    """The suite whose main metric of each type is the card name of the benchmark's main score for it (`main_score`
    where its tasks of one type differ)."""
    metrics = {}
    for task_type in {spec.type for spec in suite.tasks}:
        names = {card_metric_of(task_type, main_scores[s.mteb_task]) for s in suite.tasks if s.type == task_type}
        metrics[task_type] = names.pop() if len(names) == 1 and None not in names else "main_score"
    return replace(suite, main_metrics={t: metrics[t] for t in TASK_TYPES if t in metrics})


def _benchmark_scores(
    model: ModelScores, summary: Summary | None, suite: Suite, main_scores: dict[str, str]
) -> tuple[ModelScores, dict[str, str]]:
    """The model with mteb's value of each task (its own reading of the benchmark's main metric, marked, where mteb
    has none), and the reasons of the marked ones. Predictions stay where they recompute mteb's value."""
    tasks, why = {}, {}
    values = summary.tasks if summary else {}
    for spec in suite.tasks:
        metric = suite.main_metrics[spec.type]
        mine = model.tasks.get(spec.mteb_task)
        read = mine.metrics.get(card_metric_of(spec.type, main_scores[spec.mteb_task]) or "") if mine else None
        value = values.get(spec.mteb_task)
        if value is None and read is not None:
            value = read
            gap = summary.gaps.get(spec.mteb_task) if summary else None
            why[spec.mteb_task] = gap or "the leaderboard's loader reads no result of this task here"
        if value is None:
            continue
        if mine is None:
            mine = TaskScores(spec.mteb_task, spec.type, spec.split, spec.subset, "None", {})
        same = read is not None and abs(read - value) <= SAME
        tasks[spec.mteb_task] = replace(mine, metrics={metric: value}, predictions=mine.predictions if same else None)
    return ModelScores(model.name, model.revision, model.source, tasks), why


def apply_view(comp: Comparison, view: BenchmarkView) -> None:
    """Give a comparison built from `view.models` mteb's means and main score names, and mark the scores that the
    leaderboard lacks."""
    comp.definition = view.benchmark
    names = {t: sorted({view.main_scores[s.mteb_task] for s in view.suite.tasks if s.type == t}) for t in TASK_TYPES}
    comp.main_metrics = {t: ", ".join(n) for t, n in names.items() if n}
    comp.tasks = [
        replace(row, metric=view.main_scores[row.mteb_task], unofficial=[u.get(row.mteb_task) for u in view.unofficial])
        for row in comp.tasks
    ]

    def means(name: str, specs: list, score) -> AggregateRow:
        """mteb's mean of `specs` per compared model (`score` of its summary), with its coverage."""
        tasks = [s.mteb_task for s in specs]
        aggregates = []
        for model, summary in zip(view.models, view.compared):
            have = [t for t in tasks if summary and t in summary.tasks]
            sampled = any(model.tasks[t].sampled for t in have)
            aggregates.append(Aggregate(score(summary) if summary else None, len(have), len(tasks), sampled))
        return _aggregate_row(name, aggregates)

    by_type = {r.name: [s for s in view.suite.tasks if s.type == r.name] for r in comp.types}
    comp.types = [means(t, specs, lambda s, t=t: s.types.get(t)) for t, specs in by_type.items()]
    comp.average = means(f"{view.benchmark} {MEAN_TASK}", view.suite.tasks, lambda s: s.mean_task)
    comp.mean_task_type = means(MEAN_TASK_TYPE, view.suite.tasks, lambda s: s.mean_task_type)
    comp.models = [replace(m, n_tasks=a.n_tasks) for m, a in zip(comp.models, comp.average.aggregates)]


def leaderboard_rows(view: BenchmarkView, candidate: ModelScores) -> list[LeaderboardRow]:
    """The leaderboard as the official one ranks it, the candidate included: by Borda rank, then Mean (Task)."""
    rows = []
    expected = {t: sum(s.type == t for s in view.suite.tasks) for t in TASK_TYPES}
    types = [t for t in TASK_TYPES if expected[t]]
    for key, summary in view.leaderboard.rows.items():
        n_type = {t: sum(view.suite.by_mteb_name[task].type == t for task in summary.tasks) for t in types}
        is_candidate = key == CANDIDATE
        n = sum(n_type.values())
        rows.append(
            LeaderboardRow(
                rank=summary.borda,
                name=candidate.name if is_candidate else key,
                revision=candidate.revision if is_candidate else summary.revision,
                candidate=is_candidate,
                average=Aggregate(summary.mean_task, n, len(view.suite.tasks)),
                types={t: Aggregate(summary.types.get(t), n_type[t], expected[t]) for t in types},
                mean_task_type=Aggregate(summary.mean_task_type, n, len(view.suite.tasks)),
                borda_rank=summary.borda,
                gaps=summary.gaps,
            )
        )
    rows.sort(key=lambda r: (r.borda_rank, r.average.score is None, -(r.average.score or 0.0), not r.candidate, r.name))
    return rows
