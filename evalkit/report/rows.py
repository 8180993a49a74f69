"""The report's tables as rows of text, and its notes: shared by every format."""

from __future__ import annotations

from evalkit.report.comparison import Aggregate, Comparison, Interval, TaskRow, beyond

MARKS = {"regressed": " ▼", "improved": " ▲", "ok": ""}
TRAINED, UNOFFICIAL = "‡", "§"  # trained on the task (mteb's registry); a score the official leaderboard lacks
LISTED_GAPS = 10  # leaderboard models whose gaps the notes name


def num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def agg_text(agg: Aggregate) -> str:
    """An average, marked with its coverage when incomplete and with `~` when it includes sampled tasks."""
    text = num(agg.score)
    if agg.score is not None and not agg.complete:
        text += f" ({agg.n_tasks}/{agg.n_expected})"
    return text + (" ~" if agg.sampled else "")


def pm(ci: list[Interval | None] | None, i: int) -> str:
    """` ±h`: half the width of the i-th interval of a row (nothing when the row has no such interval)."""
    if not ci or ci[i] is None:
        return ""
    return f" ±{(ci[i][1] - ci[i][0]) / 2:.2f}"


def delta_text(delta: float | None, comparable: bool) -> str:
    return num(delta, signed=True) + ("" if comparable or delta is None else " †")


def task_delta_text(delta: float | None, tolerance: float | None) -> str:
    """A task's delta, marked ▼ or ▲ when it goes beyond the tolerance."""
    return num(delta, signed=True) + MARKS[beyond(delta, tolerance)]


def task_text(score: float | None, sampled: str | None) -> str:
    return num(score) + (" ~" if sampled else "")


def cell_marks(row: TaskRow, i: int) -> str:
    """` ‡` where model i was trained on the task, ` §` where the official leaderboard has no such score."""
    trained = row.trained is not None and row.trained[i] and row.scores[i] is not None
    return (f" {TRAINED}" if trained else "") + (f" {UNOFFICIAL}" if row.unofficial and row.unofficial[i] else "")


def metrics_sentence(comp: Comparison) -> str:
    """Which definition the numbers follow: the card's main metrics, or an mteb benchmark's as its leaderboard."""
    pairs = ", ".join(f"{t} {m}" for t, m in comp.main_metrics.items())
    if comp.definition is not None:
        return (
            f"Definitions of mteb benchmark {comp.definition}, as its official leaderboard computes them: each result "
            f"file's own main score ({pairs}), averaged over the task's eval splits; a task is missing where one of "
            "them is. Mean (Task) averages the tasks, Mean (TaskType) the type means; a mean is missing where a task "
            "is. Scores on the card's 0–100 scale."
        )
    return (
        f"Main metric per task type (C-MTEB paper, from suite {comp.suite}, the card's definition): {pairs}. "
        "Scores on the card's 0–100 scale."
    )


def legend(comp: Comparison) -> list[str]:
    notes = ["(n/N): average over only n of the N tasks; not comparable with a complete average."]
    if len(comp.models) > 1:
        label = comp.models[0].label
        notes.append(f"Δ: {label} minus the baseline; † marks a delta between averages that are not both complete.")
        if comp.tolerance is not None:
            notes.append(f"▼ ▲: a task's delta beyond the tolerance of ±{comp.tolerance:g} points.")
    if any(any(r.sampled) for r in comp.tasks):
        notes.append("~: sampled result (`run --limit`), an estimate not comparable with full runs.")
    notes += training_notes(comp) + unofficial_notes(comp)
    intervals = comp.intervals
    if intervals is not None:
        notes.append(
            f"±: half the width of the {intervals.level:.0%} bootstrap confidence interval ({intervals.resamples} "
            f"resamples of the examples, seed {intervals.seed}); CSV and JSON give its exact bounds. A delta's "
            "interval is paired (both models resampled on the same examples) and shown only where both have them."
        )
        if intervals.without:
            notes.append(f"No interval (no saved per-example predictions): {', '.join(intervals.without)}.")
    return notes + revision_notes(comp) + leaderboard_notes(comp)


def training_notes(comp: Comparison) -> list[str]:
    """The ‡ legend, with each compared model's count of tasks it was trained on."""
    counts = [
        f"{m.label} {sum(bool(r.trained and r.trained[i]) for r in comp.tasks)}"
        for i, m in enumerate(comp.models)
        if any(r.trained and r.trained[i] for r in comp.tasks)
    ]
    if not counts:
        return []
    return [
        f"{TRAINED}: the model was trained on this task's data, by mteb's registry (its training_datasets, with the "
        f"tasks it counts as similar): not zero-shot, as the official leaderboard's zero-shot filter counts it "
        f"({'; '.join(counts)} task(s))."
    ]


def unofficial_notes(comp: Comparison) -> list[str]:
    """The § legend: each score shown that the official leaderboard lacks, and why."""
    found = [
        f"{m.label}: {r.name} ({r.unofficial[i]})"
        for r in comp.tasks
        for i, m in enumerate(comp.models)
        if r.unofficial and r.unofficial[i]
    ]
    if not found:
        return []
    return [
        f"{UNOFFICIAL}: a score evalkit reads but the official leaderboard has none for, outside every mean: "
        + "; ".join(found)
        + "."
    ]


def revision_notes(comp: Comparison) -> list[str]:
    """For each model merged from several revision folders: which revision each of its scores came from."""
    notes = []
    for i, model in enumerate(comp.models):
        by_revision: dict[str, list[str]] = {}
        for row in comp.tasks:
            if row.revisions[i] is not None:
                by_revision.setdefault(row.revisions[i], []).append(row.name)
        if len(by_revision) > 1:
            where = "; ".join(f"{', '.join(tasks)} from {revision}" for revision, tasks in by_revision.items())
            notes.append(f"{model.label} merges {len(by_revision)} revisions: {where}.")
    return notes


def summary_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the averages table (C-MTEB average first, then each type)."""
    header = ["", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = []
    means = (comp.average, comp.mean_task_type) if comp.mean_task_type else (comp.average,)
    for row in (*means, *comp.types):
        scores = [agg_text(a) + pm(row.ci, i) for i, a in enumerate(row.aggregates)]
        deltas = [delta_text(d, c) + pm(row.delta_ci, j) for j, (d, c) in enumerate(zip(row.deltas, row.comparable))]
        rows.append([row.name, *scores, *deltas])
    return header, rows


def task_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["task", "type", "metric", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = [
        [
            r.name,
            r.type,
            r.metric,
            *(
                task_text(s, sampled) + cell_marks(r, i) + pm(r.ci, i)
                for i, (s, sampled) in enumerate(zip(r.scores, r.sampled))
            ),
            *(task_delta_text(d, comp.tolerance) + pm(r.delta_ci, j) for j, d in enumerate(r.deltas)),
        ]
        for r in comp.tasks
    ]
    return header, rows


def verdicts(comp: Comparison) -> list[str]:
    """One line per baseline: did any task fall beyond the tolerance, and how did the suite average move?"""
    lines, tolerance = [], comp.tolerance or 0.0
    for j, base in enumerate(comp.models[1:]):
        regressed = comp.regressed(j)
        missing = [r.name for r in comp.tasks if r.scores[0] is None and r.scores[j + 1] is not None]
        avg = f"{comp.average.name} {delta_text(comp.average.deltas[j], comp.average.comparable[j])}"
        if regressed:
            names = ", ".join(f"{r.name} ({num(r.deltas[j], signed=True)})" for r in regressed)
            line = f"vs {base.label}: ❌ {len(regressed)} task(s) fell by more than {tolerance:g} points: {names}"
        else:
            line = f"vs {base.label}: ✅ no task fell by more than {tolerance:g} points"
        lines.append(f"{line}; {avg}" + (f"; missing: {', '.join(missing)}" if missing else ""))
    return lines


def short_revision(revision: str) -> str:
    """A commit hash cut to 12 characters; other revision names unchanged."""
    return revision[:12] if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision) else revision


def leaderboard_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    board = comp.leaderboard or []
    types = list(board[0].types) if board else []
    benchmark = comp.definition is not None
    zero_shot = any(r.zero_shot is not None for r in board)
    intervals = any(r.rank_ci for r in board)
    level = f"{comp.intervals.level:.0%} " if comp.intervals else ""
    header = [
        "Rank (Borda)" if benchmark else "rank",
        "model",
        "revision",
        "tasks",
        *(["Mean (Task)", "Mean (TaskType)"] if benchmark else [f"{comp.suite} average"]),
        *types,
        *(["zero-shot"] if zero_shot else []),
        *([f"rank {level}CI", "tied"] if intervals else []),
    ]
    rows = []
    for r in board:
        means = [agg_text(r.average)] + ([agg_text(r.mean_task_type)] if benchmark and r.mean_task_type else [])
        rows.append([
            str(r.rank) if r.rank else "–",
            r.name + (" (candidate)" if r.candidate else ""),
            "+".join(short_revision(rev) for rev in r.revision.split("+")),
            f"{r.average.n_tasks}/{r.average.n_expected}",
            *means,
            *(agg_text(r.types[t]) for t in types),
            *([f"{r.zero_shot}%" if r.zero_shot is not None else "–"] if zero_shot else []),
            *([rank_interval(r.rank_ci), str(r.tie_group or "–")] if intervals else []),
        ])  # fmt: skip
    return header, rows


def rank_interval(ci: tuple[int, int] | None) -> str:
    """`3–7`, or `3` when the interval is one rank."""
    if ci is None:
        return "–"
    return str(ci[0]) if ci[0] == ci[1] else f"{ci[0]}–{ci[1]}"


def candidate_rank_sentence(comp: Comparison) -> str:
    """Where the candidate stands on the leaderboard, in one sentence (two with rank intervals)."""
    board = comp.leaderboard or []
    ranked = [r for r in board if r.rank]
    cand = next(r for r in board if r.candidate)
    where = f" among the models of {comp.leaderboard_source}" if comp.leaderboard_source else ""
    if comp.definition is not None:
        text = (
            f"{cand.name} ranks {cand.rank} of {len(ranked)} by Borda count{where} that the official leaderboard "
            f"of {comp.definition} lists (a model earns points on each task it has; equal points share a rank)."
        )
    elif cand.rank is None:
        return (
            f"{cand.name} is unranked{where}: it has {cand.average.n_tasks} of {cand.average.n_expected} tasks "
            f"({len(ranked)} model(s) with every task are ranked)."
        )
    else:
        text = f"{cand.name} ranks {cand.rank} of {len(ranked)}{where} with every task of suite {comp.suite}."
    if cand.rank_ci is not None and comp.intervals is not None:
        tied = [r.name for r in ranked if r.tie_group == cand.tie_group and not r.candidate]
        text += f" Its {comp.intervals.level:.0%} rank interval is {rank_interval(cand.rank_ci)}" + (
            f"; tied (one group) with {', '.join(tied)}." if tied else "; no other model is tied with it."
        )
    return text


def leaderboard_notes(comp: Comparison) -> list[str]:
    """The leaderboard's rank interval legend, its models without an official value, and the models left out."""
    board = comp.leaderboard or []
    notes = []
    if any(r.rank_ci for r in board) and comp.intervals is not None:
        notes.append(
            f"rank CI: the {comp.intervals.level:.0%} interval of the model's rank over {comp.intervals.resamples} "
            f"resamples (seed {comp.intervals.seed}) of the suite's tasks, and of the candidate's examples where its "
            "predictions were saved; tied: models of one group cannot be told apart by these data "
            "(docs/reports.md says what the interval means and what it does not)."
        )
    gaps = [r for r in board if r.gaps]
    if gaps:
        listed = "; ".join(
            f"{r.name}: " + ", ".join(f"{t} ({why})" for t, why in r.gaps.items()) for r in gaps[:LISTED_GAPS]
        )
        more = f"; and {len(gaps) - LISTED_GAPS} more model(s) (JSON lists them)" if len(gaps) > LISTED_GAPS else ""
        notes.append(f"No official value although the folder holds a result: {listed}{more}.")
    if comp.unlisted:
        notes.append(
            f"Not on the official leaderboard, so left out: {', '.join(comp.unlisted)} (it lists the models mteb's "
            "registry knows; the card's suite ranks every model of the folder)."
        )
    return notes
