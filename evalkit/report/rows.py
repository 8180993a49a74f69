"""The report's tables as rows of text, and its notes: shared by every format."""

from __future__ import annotations

from evalkit.report.comparison import Aggregate, Comparison, Interval, beyond

MARKS = {"regressed": " ▼", "improved": " ▲", "ok": ""}


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


def metrics_sentence(comp: Comparison) -> str:
    pairs = ", ".join(f"{t} {m}" for t, m in comp.main_metrics.items())
    return (
        f"Main metric per task type (C-MTEB paper, from suite {comp.suite}): {pairs}. Scores on the card's 0–100 scale."
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
    intervals = comp.intervals
    if intervals is not None:
        notes.append(
            f"±: half the width of the {intervals.level:.0%} bootstrap confidence interval ({intervals.resamples} "
            f"resamples of the examples, seed {intervals.seed}); CSV and JSON give its exact bounds. A delta's "
            "interval is paired (both models resampled on the same examples) and shown only where both have them."
        )
        if intervals.without:
            notes.append(f"No interval (no saved per-example predictions): {', '.join(intervals.without)}.")
    return notes + revision_notes(comp)


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
    for row in (comp.average, *comp.types):
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
            *(task_text(s, sampled) + pm(r.ci, i) for i, (s, sampled) in enumerate(zip(r.scores, r.sampled))),
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
    types = list(comp.leaderboard[0].types) if comp.leaderboard else []
    header = ["rank", "model", "revision", "tasks", f"{comp.suite} average", *types]
    rows = [
        [
            str(r.rank) if r.rank else "–",
            r.name + (" (candidate)" if r.candidate else ""),
            "+".join(short_revision(rev) for rev in r.revision.split("+")),
            f"{r.average.n_tasks}/{r.average.n_expected}",
            agg_text(r.average),
            *(agg_text(r.types[t]) for t in types),
        ]
        for r in comp.leaderboard or []
    ]
    return header, rows


def candidate_rank_sentence(comp: Comparison) -> str:
    """Where the candidate stands on the leaderboard, in one sentence."""
    ranked = [r for r in comp.leaderboard or [] if r.rank]
    cand = next(r for r in comp.leaderboard or [] if r.candidate)
    where = f" among the models of {comp.leaderboard_source}" if comp.leaderboard_source else ""
    if cand.rank is None:
        return (
            f"{cand.name} is unranked{where}: it has {cand.average.n_tasks} of {cand.average.n_expected} tasks "
            f"({len(ranked)} model(s) with every task are ranked)."
        )
    return f"{cand.name} ranks {cand.rank} of {len(ranked)}{where} with every task of suite {comp.suite}."
