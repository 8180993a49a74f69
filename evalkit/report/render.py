"""Rendering a `Comparison`: Markdown for PR comments, long-format CSV, JSON, and (in `html`) a web page."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from evalkit.errors import UserError
from evalkit.fileio import write_text_atomic
from evalkit.report import rows, sweep
from evalkit.report.comparison import Comparison
from evalkit.report.html import render_html
from evalkit.report.pareto import panel_row, pareto_notes, pareto_rows
from evalkit.report.rows import (
    agg_text,
    candidate_rank_sentence,
    leaderboard_rows,
    legend,
    metrics_sentence,
    summary_rows,
    task_rows,
)
from evalkit.text import csv_text, md_escape, md_table

FORMATS = ("md", "html", "csv", "json")


def render_markdown(comp: Comparison, pr_comment: bool = False) -> str:
    """A Markdown report; `pr_comment` puts the verdict and the averages first and folds the task table."""
    title = f"{md_escape(comp.models[0].label)}: {md_escape(comp.average.name)} {agg_text(comp.average.aggregates[0])}"
    n_regressed = sum(len(comp.regressed(j)) for j in range(len(comp.models) - 1))
    if pr_comment and len(comp.models) > 1:
        title = ("❌ " if n_regressed else "✅ ") + title
    parts = [f"## {title}", ""]
    models = [
        f"- {'candidate' if i == 0 else 'baseline'}: **{md_escape(m.label)}** "
        f"(revision {md_escape(m.revision)}, {m.n_tasks} tasks) from {md_escape(m.source)}"
        for i, m in enumerate(comp.models)
    ]
    averages = ["### Averages", "", md_table(*summary_rows(comp)), "", *sweep.markdown_section(comp)]
    tasks = md_table(*task_rows(comp))
    if pr_comment:
        parts += [f"- {md_escape(line)}" for line in rows.verdicts(comp)] + [""]
        parts += averages
        summary = f"{len(comp.tasks)} tasks" + (f", {n_regressed} marked ▼" if n_regressed else "")
        parts += ["<details><summary>" + summary + "</summary>", "", tasks, "", "</details>", ""]
        parts += [*models, "", metrics_sentence(comp), ""]
    else:
        parts += [*models, "", metrics_sentence(comp), "", *averages, "### Tasks", "", tasks, ""]
    if comp.pareto is not None:
        parts += ["### Quality per byte", "", md_table(*pareto_rows(comp)), ""]
    if comp.leaderboard is not None:
        parts += ["### Leaderboard", "", candidate_rank_sentence(comp), "", md_table(*leaderboard_rows(comp)), ""]
    notes = legend(comp) + (pareto_notes(comp) if comp.pareto is not None else [])
    parts += [f"_{md_escape(note)}_  " for note in notes]
    return "\n".join(parts).rstrip() + "\n"


CSV_FIELDS = (
    "section",
    "name",
    "type",
    "model",
    "role",
    "score",
    "delta",
    "comparable",
    "n_tasks",
    "n_expected",
    "complete",
    "sampled",
    "rank",
    "ci_low",
    "ci_high",
    "delta_ci_low",
    "delta_ci_high",
    "trained",
    "unofficial",
    "mean_task_type",
    "borda_rank",
    "rank_ci_low",
    "rank_ci_high",
    "tie_group",
    "zero_shot",
    "bytes_per_vector",
    "texts_per_second",
    "pareto_front",
)


def _bounds(ci, i: int, prefix: str = "") -> dict[str, float]:
    """The CSV columns of the i-th interval of a row (none when it has no such interval)."""
    if not ci or i < 0 or ci[i] is None:
        return {}
    return {f"{prefix}ci_low": ci[i][0], f"{prefix}ci_high": ci[i][1]}


def render_csv(comp: Comparison) -> str:
    """Long-format CSV: one row per model and task, type average, suite average or leaderboard entry.

    On a baseline's row, `delta` is the candidate's score minus that baseline's.
    """
    records: list[dict] = []
    write = records.append
    roles = ["candidate"] + ["baseline"] * (len(comp.models) - 1)
    for row in comp.tasks:
        for i, model in enumerate(comp.models):
            write({
                "section": "task", "name": row.mteb_task, "type": row.type, "model": model.label, "role": roles[i],
                "score": row.scores[i], "delta": row.deltas[i - 1] if i else None,
                "comparable": row.deltas[i - 1] is not None if i else None,
                "sampled": row.sampled[i], "trained": row.trained[i] if row.trained else None,
                "unofficial": row.unofficial[i] if row.unofficial else None,
                **_bounds(row.ci, i), **_bounds(row.delta_ci, i - 1, "delta_"),
            })  # fmt: skip
    means = [comp.average, comp.mean_task_type] if comp.mean_task_type else [comp.average]
    for section, agg_rows in (("type", comp.types), ("average", means)):
        for row in agg_rows:
            for i, (model, agg) in enumerate(zip(comp.models, row.aggregates)):
                write({
                    "section": section, "name": row.name, "type": row.name if section == "type" else "",
                    "model": model.label, "role": roles[i], "score": agg.score,
                    "delta": row.deltas[i - 1] if i else None, "comparable": row.comparable[i - 1] if i else None,
                    "n_tasks": agg.n_tasks, "n_expected": agg.n_expected, "complete": agg.complete,
                    "sampled": agg.sampled,
                    **_bounds(row.ci, i), **_bounds(row.delta_ci, i - 1, "delta_"),
                })  # fmt: skip
    for panel in comp.pareto or []:
        for i, (model, point) in enumerate(zip(comp.models, panel.points)):
            agg = panel_row(comp, panel).aggregates[i]
            write({
                "section": "pareto", "name": panel.name, "type": "" if panel.name == comp.average.name else panel.name,
                "model": model.label, "role": roles[i], "score": point.score, "n_tasks": agg.n_tasks,
                "n_expected": agg.n_expected, "complete": point.complete, "sampled": agg.sampled,
                **({"ci_low": point.ci[0], "ci_high": point.ci[1]} if point.ci else {}),
                "bytes_per_vector": point.bytes_per_vector, "texts_per_second": model.texts_per_second,
                "pareto_front": point.front,
            })  # fmt: skip
    for row in comp.leaderboard or []:
        rank_ci = row.rank_ci or (None, None)
        write({
            "section": "leaderboard", "name": comp.average.name, "model": row.name,
            "role": "candidate" if row.candidate else "other", "score": row.average.score,
            "n_tasks": row.average.n_tasks, "n_expected": row.average.n_expected,
            "complete": row.average.complete, "sampled": row.average.sampled, "rank": row.rank,
            "mean_task_type": row.mean_task_type.score if row.mean_task_type else None,
            "borda_rank": row.borda_rank, "rank_ci_low": rank_ci[0], "rank_ci_high": rank_ci[1],
            "tie_group": row.tie_group, "zero_shot": row.zero_shot,
        })  # fmt: skip
    return csv_text(CSV_FIELDS, records)


def _json_ready(obj):
    """`asdict` output with each Aggregate's `complete` flag spelled out."""
    if isinstance(obj, dict):
        out = {k: _json_ready(v) for k, v in obj.items()}
        if {"score", "n_tasks", "n_expected"} <= out.keys():
            out["complete"] = out["n_tasks"] == out["n_expected"]
        return out
    if isinstance(obj, list):
        return [_json_ready(v) for v in obj]
    return obj


def render_json(comp: Comparison) -> str:
    """The whole comparison as JSON."""
    return json.dumps(_json_ready(asdict(comp)), indent=2, ensure_ascii=False) + "\n"


def render(comp: Comparison, fmt: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "html":
        return render_html(comp, sweep.html_section(comp))
    return {"md": render_markdown, "csv": render_csv, "json": render_json}[fmt](comp)


SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv", ".json": "json"}


def write_output(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append to) a report file, creating its folder; failure is a `UserError`."""
    try:
        if append:  # $GITHUB_STEP_SUMMARY, which CI reads after the step
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
        else:
            write_text_atomic(path, text, follow_link=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
