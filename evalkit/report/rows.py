"""The report's tables as rows of text, and its notes: shared by every format."""

from __future__ import annotations

from evalkit.report.comparison import Aggregate, Comparison, beyond

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
    return notes


def summary_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the averages table (C-MTEB average first, then each type)."""
    header = ["", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = []
    for row in (comp.average, *comp.types):
        rows.append([row.name, *map(agg_text, row.aggregates), *map(delta_text, row.deltas, row.comparable)])
    return header, rows


def task_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["task", "type", "metric", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = [
        [
            r.name,
            r.type,
            r.metric,
            *map(task_text, r.scores, r.sampled),
            *(task_delta_text(d, comp.tolerance) for d in r.deltas),
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
