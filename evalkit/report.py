"""Comparison reports: per-task main scores, deltas, per-type and C-MTEB averages, leaderboard ranks.

Building (`build_comparison`, `build_leaderboard`) is pure data; `render` turns a `Comparison` into
Markdown, CSV, JSON or a self-contained HTML page with inline SVG charts.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.errors import UserError
from evalkit.ingest import CARD_REVISION, no_results, read_scores
from evalkit.results import write_text_atomic
from evalkit.scores import ModelScores
from evalkit.suite import TASK_TYPES, Suite, TaskSpec, load_suite

FORMATS = ("md", "html", "csv", "json")


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


def main_score(model: ModelScores, spec: TaskSpec, suite: Suite) -> float | None:
    """The task's main metric on the 0-100 scale, or None when the model lacks the task or the metric."""
    scores = model.tasks.get(spec.mteb_task)
    return None if scores is None else scores.metrics.get(suite.main_metrics[spec.type])


def aggregate(model: ModelScores, specs: list[TaskSpec], suite: Suite) -> Aggregate:
    """The mean main score over those of `specs` that the model has."""
    present = [(s, v) for s in specs if (v := main_score(model, s, suite)) is not None]
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


def build_comparison(candidate: ModelScores, baselines: list[ModelScores], suite: Suite) -> Comparison:
    """Compare the candidate's main scores on the suite's tasks with each baseline's."""
    models = [candidate, *baselines]
    labels = _labels(models)
    tasks = []
    for spec in suite.tasks:
        scores = [main_score(m, spec, suite) for m in models]
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


def merge_revisions(models: list[ModelScores]) -> ModelScores:
    """One model from several revision folders of the same model (as the public results repository keeps them).

    Where revisions overlap, results of real runs win over ones converted from model cards (`external`),
    then the revision with more tasks wins.
    """
    ordered = sorted(models, key=lambda m: (m.revision == CARD_REVISION, -len(m.tasks)))
    if len(ordered) == 1:
        return ordered[0]
    tasks = {}
    for model in reversed(ordered):
        tasks.update(model.tasks)
    source = Path(os.path.commonpath([str(m.source) for m in ordered]))
    return ModelScores(ordered[0].name, "+".join(m.revision for m in ordered), source, tasks)


def load_model(path: Path, suite: Suite) -> ModelScores:
    """The one model a results folder or model card holds; its revisions are merged."""
    models = read_scores(path, suite)
    if not models:
        raise no_results(path, suite)
    names = sorted({m.name for m in models})
    if len(names) > 1:
        raise UserError(f"{path} holds {len(names)} models ({', '.join(names[:5])}); pass one model's folder or card")
    if len({sampled_label(m) for m in models}) > 1:
        raise UserError(f"{path} holds sampled (run --limit) and full results; pass one revision folder")
    return merge_revisions(models)


def sampled_label(model: ModelScores) -> str | None:
    """The `run --limit` sample a model's results come from, None for full results."""
    return next((t.sampled for t in model.tasks.values() if t.sampled), None)


def load_models(path: Path, suite: Suite) -> list[ModelScores]:
    """Every model of a results folder, each with its revisions merged (sampled and full results kept apart)."""
    by_name: dict[tuple[str, str | None], list[ModelScores]] = {}
    for model in read_scores(path, suite):
        by_name.setdefault((model.name, sampled_label(model)), []).append(model)
    if not by_name:
        raise no_results(path, suite)
    return [merge_revisions(group) for group in by_name.values()]


# ---------------------------------------------------------------- rendering


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _agg_text(agg: Aggregate) -> str:
    """An average, marked with its coverage when incomplete and with `~` when it includes sampled tasks."""
    text = _num(agg.score)
    if agg.score is not None and not agg.complete:
        text += f" ({agg.n_tasks}/{agg.n_expected})"
    return text + (" ~" if agg.sampled else "")


def _delta_text(delta: float | None, comparable: bool) -> str:
    return _num(delta, signed=True) + ("" if comparable or delta is None else " †")


def _task_text(score: float | None, sampled: str | None) -> str:
    return _num(score) + (" ~" if sampled else "")


def _metrics_sentence(comp: Comparison) -> str:
    pairs = ", ".join(f"{t} {m}" for t, m in comp.main_metrics.items())
    return (
        f"Main metric per task type (C-MTEB paper, from suite {comp.suite}): {pairs}. Scores on the card's 0–100 scale."
    )


def _legend(comp: Comparison) -> list[str]:
    notes = ["(n/N): average over only n of the N tasks; not comparable with a complete average."]
    if len(comp.models) > 1:
        label = comp.models[0].label
        notes.append(f"Δ: {label} minus the baseline; † marks a delta between averages that are not both complete.")
    if any(any(r.sampled) for r in comp.tasks):
        notes.append("~: sampled result (`run --limit`), an estimate not comparable with full runs.")
    return notes


def _summary_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the averages table (C-MTEB average first, then each type)."""
    header = ["", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = []
    for row in (comp.average, *comp.types):
        rows.append([row.name, *map(_agg_text, row.aggregates), *map(_delta_text, row.deltas, row.comparable)])
    return header, rows


def _task_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["task", "type", "metric", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]
    rows = [
        [r.name, r.type, r.metric, *map(_task_text, r.scores, r.sampled), *(_num(d, signed=True) for d in r.deltas)]
        for r in comp.tasks
    ]
    return header, rows


def _short_revision(revision: str) -> str:
    """A commit hash cut to 12 characters; other revision names unchanged."""
    return revision[:12] if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision) else revision


def _leaderboard_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    types = list(comp.leaderboard[0].types) if comp.leaderboard else []
    header = ["rank", "model", "revision", "tasks", f"{comp.suite} average", *types]
    rows = [
        [
            str(r.rank) if r.rank else "–",
            r.name + (" (candidate)" if r.candidate else ""),
            "+".join(_short_revision(rev) for rev in r.revision.split("+")),
            f"{r.average.n_tasks}/{r.average.n_expected}",
            _agg_text(r.average),
            *(_agg_text(r.types[t]) for t in types),
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


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(_md_escape, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_md_escape, row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(comp: Comparison) -> str:
    """A Markdown report for PR comments."""
    cand = comp.average.aggregates[0]
    parts = [f"## {_md_escape(comp.models[0].label)}: {comp.suite} average {_agg_text(cand)}", ""]
    parts += [
        f"- {'candidate' if i == 0 else 'baseline'}: **{_md_escape(m.label)}** "
        f"(revision `{_md_escape(m.revision)}`, {m.n_tasks} tasks) from `{_md_escape(m.source)}`"
        for i, m in enumerate(comp.models)
    ]
    parts += ["", _metrics_sentence(comp), "", "### Averages", "", _md_table(*_summary_rows(comp)), ""]
    parts += ["### Tasks", "", _md_table(*_task_rows(comp)), ""]
    if comp.leaderboard is not None:
        parts += ["### Leaderboard", "", candidate_rank_sentence(comp), "", _md_table(*_leaderboard_rows(comp)), ""]
    parts += [f"_{_md_escape(note)}_  " for note in _legend(comp)]
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
)


def render_csv(comp: Comparison) -> str:
    """Long-format CSV: one row per model and task, type average, suite average or leaderboard entry.

    On a baseline's row, `delta` is the candidate's score minus that baseline's.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    roles = ["candidate"] + ["baseline"] * (len(comp.models) - 1)
    for row in comp.tasks:
        for i, model in enumerate(comp.models):
            writer.writerow({
                "section": "task", "name": row.mteb_task, "type": row.type, "model": model.label, "role": roles[i],
                "score": row.scores[i], "delta": row.deltas[i - 1] if i else None,
                "comparable": row.deltas[i - 1] is not None if i else None,
                "sampled": row.sampled[i],
            })  # fmt: skip
    for section, agg_rows in (("type", comp.types), ("average", [comp.average])):
        for row in agg_rows:
            for i, (model, agg) in enumerate(zip(comp.models, row.aggregates)):
                writer.writerow({
                    "section": section, "name": row.name, "type": row.name if section == "type" else "",
                    "model": model.label, "role": roles[i], "score": agg.score,
                    "delta": row.deltas[i - 1] if i else None, "comparable": row.comparable[i - 1] if i else None,
                    "n_tasks": agg.n_tasks, "n_expected": agg.n_expected, "complete": agg.complete,
                    "sampled": agg.sampled,
                })  # fmt: skip
    for row in comp.leaderboard or []:
        writer.writerow({
            "section": "leaderboard", "name": f"{comp.suite} average", "model": row.name,
            "role": "candidate" if row.candidate else "other", "score": row.average.score,
            "n_tasks": row.average.n_tasks, "n_expected": row.average.n_expected,
            "complete": row.average.complete, "sampled": row.average.sampled, "rank": row.rank,
        })  # fmt: skip
    return out.getvalue()


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


POSITIVE, NEGATIVE, HIGHLIGHT = "#2e7d32", "#c62828", "#ef6c00"
HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
td{white-space:nowrap}
.text{text-align:left}
.wide{overflow-x:auto}
thead th{background:#f3f3f3}
td.up{color:#2e7d32}td.down{color:#c62828;font-weight:600}td.apart{color:#777;font-style:italic}
tr.candidate td{background:#fff3e0;font-weight:600}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
.notes{color:#555;font-size:13px}
"""


def _mpl_text(text: str) -> str:
    """Text that matplotlib shows literally: no mathtext, and legend labels starting with `_` kept."""
    text = text.replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def _svg(fig, chart_id: str) -> str:
    """An inline <svg> element without metadata; text stays text, so the browser's fonts draw any script.

    `chart_id` salts the element ids, so that several charts on one page do not share clip paths.
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart_id}):
        fig.savefig(
            buf, format="svg", bbox_inches="tight", metadata=dict.fromkeys(("Date", "Creator", "Format", "Type"))
        )
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _chart_averages(comp: Comparison) -> str:
    """Grouped bars of each model's suite and per-type averages; hatched bars cover only some tasks."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [comp.average, *comp.types]
    fig = Figure(figsize=(max(7.0, 1.1 * len(rows) * max(1, len(comp.models)) ** 0.5), 3.6))
    ax = fig.subplots()
    width = 0.8 / len(comp.models)
    for i in range(len(comp.models)):
        xs = [j + (i - (len(comp.models) - 1) / 2) * width for j in range(len(rows))]
        aggs = [r.aggregates[i] for r in rows]
        bars = ax.bar(xs, [a.score or 0.0 for a in aggs], width, color=f"C{i}")
        for bar, agg in zip(bars, aggs):
            if agg.score is not None and not agg.complete:
                bar.set_hatch("//")
            if agg.score is not None:
                ax.annotate(
                    f"{agg.score:.1f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(range(len(rows)), [_mpl_text(r.name) for r in rows], fontsize=8)
    ax.set_ylabel("main score (0–100)")
    ax.set_ylim(0, 105)
    handles = [Patch(color=f"C{i}", label=_mpl_text(m.label)) for i, m in enumerate(comp.models)]
    handles.append(Patch(facecolor="white", edgecolor="#444", hatch="//", label="incomplete task set"))
    ax.legend(
        handles=handles,
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=min(4, len(handles)),
        frameon=False,
    )
    ax.set_title("Averages", fontsize=10)
    return _svg(fig, "averages")


def _chart_deltas(comp: Comparison) -> str:
    """Horizontal bars of the candidate's per-task delta to each baseline, one panel per baseline."""
    from matplotlib.figure import Figure

    baselines = comp.models[1:]
    fig = Figure(figsize=(3.2 + 3.0 * len(baselines), 0.9 + 0.22 * len(comp.tasks)))
    axes = fig.subplots(1, len(baselines), sharey=True, squeeze=False)[0]
    ys = range(len(comp.tasks))
    for j, (ax, base) in enumerate(zip(axes, baselines)):
        deltas = [r.deltas[j] for r in comp.tasks]
        ax.barh(ys, [d or 0.0 for d in deltas], color=[POSITIVE if (d or 0) >= 0 else NEGATIVE for d in deltas])
        for y, d in zip(ys, deltas):
            if d is None:
                ax.text(0, y, " n/a", va="center", fontsize=7, color="#777")
        ax.axvline(0, color="#444", linewidth=0.8)
        ax.set_title(_mpl_text(f"{comp.models[0].label}\nminus {base.label}"), fontsize=8)
        ax.set_xlabel("Δ points", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(ys), [_mpl_text(r.name) for r in comp.tasks])
    axes[0].invert_yaxis()
    return _svg(fig, "deltas")


def _chart_leaderboard(comp: Comparison) -> str:
    """Horizontal bars of the ranked models' suite averages, the candidate highlighted."""
    from matplotlib.figure import Figure

    ranked = [r for r in comp.leaderboard or [] if r.rank]
    fig = Figure(figsize=(7.5, 0.8 + 0.3 * max(1, len(ranked))))
    ax = fig.subplots()
    ys = range(len(ranked))
    ax.barh(ys, [r.average.score for r in ranked], color=[HIGHLIGHT if r.candidate else "#90a4ae" for r in ranked])
    for y, r in zip(ys, ranked):
        ax.text(r.average.score, y, f" {r.average.score:.2f}", va="center", fontsize=7)
    ax.set_yticks(list(ys), [_mpl_text(f"{r.rank}. {r.name}") for r in ranked], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{comp.suite} average", fontsize=8)
    return _svg(fig, "leaderboard")


def _delta_class(text: str) -> str:
    """`up` or `down` for a signed, non-zero delta cell; `apart` for a delta between averages not both complete."""
    if text[:1] not in "+-" or not text[1:2].isdigit() or float(text.split()[0]) == 0:
        return ""
    if text.endswith("†"):
        return "apart"
    return "up" if text[0] == "+" else "down"


def _html_table(
    header: list[str], rows: list[list[str]], table_id: str, n_text: int = 1, highlight: frozenset[int] = frozenset()
) -> str:
    """An HTML table of escaped cells; the first `n_text` columns are left-aligned text, rows in `highlight` marked."""

    def cell(text: str, col: int) -> str:
        cls = "text" if col < n_text else _delta_class(text)
        return f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>"

    head = "".join(
        f'<th scope="col"{" class=text" if k < n_text else ""}>{html.escape(h)}</th>' for k, h in enumerate(header)
    )
    body = "".join(
        ('<tr class="candidate">' if i in highlight else "<tr>")
        + "".join(cell(c, k) for k, c in enumerate(row))
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f'<div class="wide"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_html(comp: Comparison) -> str:
    """A self-contained HTML page: tables and inline SVG charts, no script and no network."""
    esc = html.escape
    title = f"{comp.models[0].label}: {comp.suite} comparison"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{esc(title)}</title><style>{HTML_STYLE}</style></head><body>",
        f"<h1>{esc(comp.models[0].label)}: {esc(comp.suite)} average {esc(_agg_text(comp.average.aggregates[0]))}</h1>",
        "<ul>"
        + "".join(
            f"<li>{'candidate' if i == 0 else 'baseline'}: <strong>{esc(m.label)}</strong> "
            f"(revision <code>{esc(m.revision)}</code>, {m.n_tasks} tasks) from <code>{esc(m.source)}</code></li>"
            for i, m in enumerate(comp.models)
        )
        + "</ul>",
        f"<p>{esc(_metrics_sentence(comp))}</p>",
        "<h2>Averages</h2>",
        _html_table(*_summary_rows(comp), "averages"),
        f'<figure id="chart-averages">{_chart_averages(comp)}</figure>',
        "<h2>Tasks</h2>",
    ]
    if len(comp.models) > 1:
        parts.append(f'<figure id="chart-deltas">{_chart_deltas(comp)}</figure>')
    parts.append(_html_table(*_task_rows(comp), "tasks", n_text=3))
    if comp.leaderboard is not None:
        cand_rows = frozenset(i for i, r in enumerate(comp.leaderboard) if r.candidate)
        parts += ["<h2>Leaderboard</h2>", f"<p>{esc(candidate_rank_sentence(comp))}</p>"]
        if any(r.rank for r in comp.leaderboard):
            parts.append(f'<figure id="chart-leaderboard">{_chart_leaderboard(comp)}</figure>')
        parts.append(_html_table(*_leaderboard_rows(comp), "leaderboard", n_text=3, highlight=cand_rows))
    parts.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in _legend(comp)) + "</div></body></html>")
    return "\n".join(parts) + "\n"


def render(comp: Comparison, fmt: str) -> str:
    """The report in one of FORMATS."""
    return {"md": render_markdown, "csv": render_csv, "json": render_json, "html": render_html}[fmt](comp)


SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv", ".json": "json"}


def write_output(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append to) a report file, creating its folder; failure is a `UserError`."""
    try:
        if append:  # $GITHUB_STEP_SUMMARY, which CI reads after the step
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
        else:
            write_text_atomic(path, text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc


def cmd_compare(args) -> int:
    """`compare CANDIDATE [BASELINE ...]`: write the report to --output or stdout."""
    suite = load_suite(args.suite)
    candidate = load_model(Path(args.candidate), suite)
    baselines = [load_model(Path(b), suite) for b in args.baselines]
    comp = build_comparison(candidate, baselines, suite)
    if args.leaderboard:
        comp.leaderboard = build_leaderboard(candidate, load_models(Path(args.leaderboard), suite), suite)
        comp.leaderboard_source = str(args.leaderboard)
    output = Path(args.output) if args.output else None
    text = render(comp, args.format or (SUFFIX_FORMATS.get(output.suffix.lower(), "md") if output else "md"))
    if output:
        write_output(output, text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0
