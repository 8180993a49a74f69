"""The sweep: several checkpoints of one model (`step-100` ... `step-2000`, or `CMTEBEvaluator`'s `<name>_step-<N>`
folders) as series against the step: the suite average and each type's average, with the baselines as lines.

`build_sweep` makes the points (each checkpoint's averages exactly as `compare` computes them); the Markdown table,
the HTML section with its chart, and (through `Comparison.sweep`) the JSON carry the same series.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

from evalkit.errors import UserError
from evalkit.report.comparison import Comparison, SweepPoint, add_intervals, build_comparison
from evalkit.report.html import _error_bars, _html_table, _mpl_text, _svg
from evalkit.report.rows import agg_text, pm
from evalkit.results.scores import ModelScores
from evalkit.suite import Suite
from evalkit.text import md_table

_LAST_NUMBER = re.compile(r"(\d+)\D*$")


def step_of(path: Path) -> int:
    """The step of a checkpoint: the last number in its folder's name (`my-model_step-200` -> 200)."""
    found = _LAST_NUMBER.search(Path(path).name)
    if found is None:
        raise UserError(f"sweep: cannot tell the step of {path}: its name holds no number (step-100, checkpoint-100)")
    return int(found.group(1))


def build_sweep(
    checkpoints: list[tuple[Path, ModelScores]],
    suite: Suite,
    level: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> list[SweepPoint]:
    """Each checkpoint's suite and per-type averages, in step order; with `level` (0-1), their bootstrap intervals
    where the checkpoint saved predictions."""
    points = []
    for path, model in checkpoints:
        alone = build_comparison(model, [], suite)
        if level is not None:
            add_intervals(alone, [model], suite, level, resamples, seed)
        points.append(
            SweepPoint(
                step=step_of(path),
                label=model.name,
                source=str(path),
                average=alone.average.aggregates[0],
                types={row.name: row.aggregates[0] for row in alone.types},
                average_ci=alone.average.ci[0] if alone.average.ci else None,
                types_ci={row.name: row.ci[0] for row in alone.types} if level is not None else None,
            )
        )
    points.sort(key=lambda p: p.step)
    repeated = [(a, b) for a, b in zip(points, points[1:]) if a.step == b.step]
    if repeated:
        a, b = repeated[0]
        raise UserError(f"sweep: {a.source} and {b.source} are both step {a.step}; give the checkpoints of one run")
    if len(points) < 2:
        raise UserError("sweep: give at least two checkpoints (a quoted glob such as 'results/my-model_step-*')")
    return points


def _series(comp: Comparison) -> list[tuple[str, str | None]]:
    """(title, type) of each series: the suite average (type None), then each type the suite has."""
    return [(comp.average.name, None), *((row.name, row.name) for row in comp.types)]


def _value(point: SweepPoint, kind: str | None):
    """The point's aggregate and interval of one series."""
    if kind is None:
        return point.average, point.average_ci
    return point.types[kind], (point.types_ci or {}).get(kind)


def sweep_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sweep table: one row per checkpoint, one column per series."""
    series = _series(comp)
    header = ["step", "checkpoint", *(title for title, _ in series)]
    rows = []
    for point in comp.sweep or []:
        cells = [agg_text(agg) + pm([ci], 0) for agg, ci in (_value(point, kind) for _, kind in series)]
        rows.append([str(point.step), point.label, *cells])
    return header, rows


def _sentence(comp: Comparison) -> str:
    first, last = comp.sweep[0], comp.sweep[-1]
    return (
        f"{len(comp.sweep)} checkpoints, step {first.step} to {last.step}; the tables above compare the last one, "
        f"{comp.models[0].label}."
    )


def markdown_section(comp: Comparison) -> list[str]:
    """The sweep's Markdown lines (none without a sweep)."""
    if not comp.sweep:
        return []
    return ["### Sweep", "", _sentence(comp), "", md_table(*sweep_rows(comp)), ""]


def html_section(comp: Comparison) -> str:
    """The sweep's HTML: the chart of every series against the step, and its table (empty without a sweep)."""
    if not comp.sweep:
        return ""
    return (
        f"<h2>Sweep</h2><p>{html.escape(_sentence(comp))}</p>"
        f'<figure id="chart-sweep">{_chart(comp)}</figure>{_html_table(*sweep_rows(comp), "sweep", n_text=2)}'
    )


def _chart(comp: Comparison) -> str:
    """One panel per series: the checkpoints' averages against the step (hollow where a checkpoint lacks some of
    the series' tasks), their intervals as bars, each baseline's average as a dashed line."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import ScalarFormatter

    series = _series(comp)
    columns = min(4, len(series))
    rows = math.ceil(len(series) / columns)
    fig = Figure(figsize=(3.3 * columns, 2.5 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    steps = [p.step for p in comp.sweep]
    baselines = {row.name: row.aggregates[1:] for row in (comp.average, *comp.types)}
    for ax, (title, kind) in zip(axes, series):
        values = [_value(p, kind) for p in comp.sweep]
        scores = [agg.score for agg, _ in values]
        shown = [(s, v) for s, v in zip(steps, scores) if v is not None]
        if shown:
            ax.plot(*zip(*shown), color="C0", linewidth=1.4)
        for step, (agg, _) in zip(steps, values):
            if agg.score is not None:
                face = "C0" if agg.complete else "white"
                ax.plot([step], [agg.score], "o", color="C0", markerfacecolor=face, markersize=4)
        _error_bars(ax, steps, scores, [ci for _, ci in values], vertical=True)
        for j, agg in enumerate(baselines[title]):
            if agg.score is not None:
                ax.axhline(agg.score, color=f"C{j + 1}", linestyle="--", linewidth=1)
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 100.0))  # scores, and the intervals drawn, within 0-100
        ax.set_title(_mpl_text(title), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlabel("step", fontsize=8)
    axes[0].set_ylabel("main score (0–100)", fontsize=8)
    if steps[0] > 0 and steps[-1] / steps[0] >= 100:  # steps 10, 100, 1000 apart, not crowded at the left
        for ax in axes:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 1000, not 10³
    if len(steps) <= 8:  # few checkpoints: a tick at each
        for ax in axes[: len(series)]:
            ax.set_xticks(steps, [str(s) for s in steps], minor=False)
            ax.minorticks_off()
    handles = [Line2D([], [], color="C0", marker="o", markersize=4, label="checkpoints")]
    handles += [
        Line2D([], [], color=f"C{j + 1}", linestyle="--", label=_mpl_text(f"baseline {m.label}"))
        for j, m in enumerate(comp.models[1:])
    ]
    if comp.intervals is not None and any(ci for p in comp.sweep for _, ci in (_value(p, k) for _, k in series)):
        bars = {"marker": "|", "markersize": 8, "linestyle": "", "color": "#222"}
        handles.append(Line2D([], [], label=f"{comp.intervals.level:.0%} interval", **bars))
    if any(not agg.complete for p in comp.sweep for agg, _ in (_value(p, kind) for _, kind in series)):
        missing = {"marker": "o", "markerfacecolor": "white", "linestyle": ""}
        handles.append(Line2D([], [], color="C0", label="some tasks missing", **missing))
    for ax in axes[len(series) :]:
        ax.set_axis_off()
    if len(axes) > len(series):  # the legend in the grid's spare cell
        axes[len(series)].legend(handles=handles, loc="center", fontsize=8, frameon=False)
    else:
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    fig.subplots_adjust(hspace=0.55, wspace=0.3)
    return _svg(fig, "sweep")
