"""The HTML report: a self-contained page with tables and inline SVG charts (matplotlib), no script, no network."""

from __future__ import annotations

import html
import io
import math
import warnings

from evalkit.report import rows as shared
from evalkit.report.comparison import Comparison, ModelInfo, beyond
from evalkit.report.pareto import panel_row, pareto_notes, pareto_rows

POSITIVE, NEGATIVE, HIGHLIGHT, WITHIN = "#2e7d32", "#c62828", "#ef6c00", "#90a4ae"
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
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart_id}), warnings.catch_warnings():
        # Layout measures text with matplotlib's own font, which lacks CJK glyphs; the browser draws them.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        fig.savefig(
            buf, format="svg", bbox_inches="tight", metadata=dict.fromkeys(("Date", "Creator", "Format", "Type"))
        )
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _error_bars(ax, positions: list[float], values: list[float | None], intervals: list, vertical: bool) -> None:
    """Black error bars from each value to the ends of its confidence interval (where it has one)."""
    shown = [(p, v, ci) for p, v, ci in zip(positions, values, intervals) if v is not None and ci is not None]
    if not shown:
        return
    positions, values, intervals = zip(*shown)
    extent = [[max(0.0, v - ci[0]) for v, ci in zip(values, intervals)],
              [max(0.0, ci[1] - v) for v, ci in zip(values, intervals)]]  # fmt: skip
    if vertical:
        ax.errorbar(positions, values, yerr=extent, fmt="none", ecolor="#222", elinewidth=0.8, capsize=2)
    else:
        ax.errorbar(values, positions, xerr=extent, fmt="none", ecolor="#222", elinewidth=0.8, capsize=2)


def _chart_averages(comp: Comparison) -> str:
    """Grouped bars of each model's suite and per-type averages; hatched bars cover only some tasks."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [comp.average, *([comp.mean_task_type] if comp.mean_task_type else []), *comp.types]
    fig = Figure(figsize=(max(7.0, 1.1 * len(rows) * max(1, len(comp.models)) ** 0.5), 3.6))
    ax = fig.subplots()
    width = 0.8 / len(comp.models)
    for i in range(len(comp.models)):
        xs = [j + (i - (len(comp.models) - 1) / 2) * width for j in range(len(rows))]
        aggs = [r.aggregates[i] for r in rows]
        bars = ax.bar(xs, [a.score or 0.0 for a in aggs], width, color=f"C{i}")
        _error_bars(ax, xs, [a.score for a in aggs], [r.ci[i] if r.ci else None for r in rows], vertical=True)
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
    low, high = _zoom([a.score for r in rows for a in r.aggregates if a.score is not None])
    ax.set_ylim(low, high)
    ax.set_ylabel("main score (0–100)" if low == 0 else f"main score, axis from {low:g} (not 0)", fontsize=8)
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


def _zoom(scores: list[float]) -> tuple[float, float]:
    """A score axis around the data, so that half-point gaps show: from a multiple of 5 below the lowest score
    (0 when the data come near it) to a little above the highest, within 0-100 plus room for the labels."""
    if not scores:
        return 0.0, 105.0
    low, high = min(scores), max(scores)
    pad = max(1.0, 0.15 * (high - low))
    start = 5 * math.floor((low - pad) / 5)
    return (float(start) if start > 10 else 0.0), min(105.0, high + pad)


def _chart_deltas(comp: Comparison) -> str:
    """Horizontal bars of the candidate's per-task delta to each baseline, one panel per baseline, tasks grouped
    by type; the tolerance band is shaded and bars beyond it are coloured."""
    from matplotlib.figure import Figure

    baselines = comp.models[1:]
    fig = Figure(figsize=(3.2 + 3.0 * len(baselines), 0.9 + 0.22 * len(comp.tasks)))
    axes = fig.subplots(1, len(baselines), sharey=True, squeeze=False)[0]
    ys = range(len(comp.tasks))
    starts = [y for y, r in enumerate(comp.tasks) if y == 0 or comp.tasks[y - 1].type != r.type]
    colours = {"regressed": NEGATIVE, "improved": POSITIVE, "ok": WITHIN}
    for j, (ax, base) in enumerate(zip(axes, baselines)):
        deltas = [r.deltas[j] for r in comp.tasks]
        if comp.tolerance:
            ax.axvspan(-comp.tolerance, comp.tolerance, color="#bdbdbd", alpha=0.35, linewidth=0)
        ax.barh(ys, [d or 0.0 for d in deltas], color=[colours[beyond(d, comp.tolerance)] for d in deltas])
        _error_bars(ax, list(ys), deltas, [r.delta_ci[j] if r.delta_ci else None for r in comp.tasks], vertical=False)
        for y, d in zip(ys, deltas):
            if d is None:
                ax.text(0, y, " n/a", va="center", fontsize=7, color="#777")
        for y in starts[1:]:
            ax.axhline(y - 0.5, color="#999", linewidth=0.6)
        ax.axvline(0, color="#444", linewidth=0.8)
        if comp.tolerance:
            ax.set_xlabel(f"Δ points (shaded: ±{comp.tolerance:g} tolerance)", fontsize=8)
        else:
            ax.set_xlabel("Δ points", fontsize=8)
        ax.set_title(_mpl_text(f"{comp.models[0].label}\nminus {base.label}"), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(ys), [_mpl_text(r.name) for r in comp.tasks])
    axes[0].invert_yaxis()
    for y in starts:  # the type of each group, right of the last panel
        axes[-1].annotate(
            comp.tasks[y].type,
            (1.02, y - 0.4),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            fontstyle="italic",
            color="#555",
            va="top",
        )
    return _svg(fig, "deltas")


def _chart_leaderboard(comp: Comparison) -> str:
    """Horizontal bars of the ranked models' suite averages (Mean (Task)), the candidate highlighted."""
    from matplotlib.figure import Figure

    ranked = [r for r in comp.leaderboard or [] if r.rank and r.average.score is not None]
    fig = Figure(figsize=(7.5, 0.8 + 0.3 * max(1, len(ranked))))
    ax = fig.subplots()
    ys = range(len(ranked))
    ax.barh(ys, [r.average.score for r in ranked], color=[HIGHLIGHT if r.candidate else "#90a4ae" for r in ranked])
    for y, r in zip(ys, ranked):
        ax.text(r.average.score, y, f" {r.average.score:.2f}", va="center", fontsize=7)
    ax.set_yticks(list(ys), [_mpl_text(f"{r.rank}. {r.name}") for r in ranked], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(_mpl_text(comp.average.name), fontsize=8)
    return _svg(fig, "leaderboard")


def _chart_ranks(comp: Comparison) -> str:
    """Each ranked model's rank (dot) and rank interval (bar), tie groups shaded in turn, the candidate highlighted."""
    from matplotlib.figure import Figure

    ranked = [r for r in comp.leaderboard or [] if r.rank_ci is not None]
    fig = Figure(figsize=(7.5, 0.8 + 0.3 * max(1, len(ranked))))
    ax = fig.subplots()
    for y, r in enumerate(ranked):
        if r.tie_group is not None and r.tie_group % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#eceff1", linewidth=0)
        colour = HIGHLIGHT if r.candidate else "#455a64"
        ax.plot(r.rank_ci, [y, y], color=colour, linewidth=2.5, solid_capstyle="butt")
        ax.plot([r.rank], [y], "o", color=colour, markersize=4)
    ax.set_yticks(range(len(ranked)), [_mpl_text(f"{r.rank}. {r.name}") for r in ranked], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"rank: {comp.intervals.level:.0%} interval (bar), tie groups shaded in turn", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig, "ranks")


def _family(model: ModelInfo) -> str:
    """The model a variant was cut from: its name without the variant's suffix."""
    return model.name.removesuffix(f"_{model.variant}") if model.variant else model.name


def _chart_pareto(comp: Comparison) -> str:
    """Each average against bytes per vector (log scale), a panel per average: a point per model, coloured by the
    model its variants were cut from, the candidate a star; the Pareto front a step line through its filled points
    (hollow points are beaten), intervals where there are any. A point is labelled by its variant, a full model by
    its name: every point of the suite average's panel, the front and the candidate in the others."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    panels = comp.pareto or []
    cols = min(4, len(panels))
    fig = Figure(figsize=(3.5 * cols, 0.8 + 2.9 * math.ceil(len(panels) / cols)))
    axes = fig.subplots(math.ceil(len(panels) / cols), cols, squeeze=False).flatten()
    placed_anywhere = {i for panel in panels for i, p in enumerate(panel.points) if p.bytes_per_vector is not None}
    families = list(dict.fromkeys(_family(m) for i, m in enumerate(comp.models) if i in placed_anywhere))
    for k, (ax, panel) in enumerate(zip(axes, panels)):
        placed = [(i, p) for i, p in enumerate(panel.points) if p.bytes_per_vector is not None and p.score is not None]
        front = sorted((p.bytes_per_vector, p.score) for _, p in placed if p.front)
        if front:  # a staircase: the best score for each budget, on to the largest vectors
            widest = max(p.bytes_per_vector for _, p in placed)
            front += [(widest, front[-1][1])] if widest > front[-1][0] else []
            ax.step(*zip(*front), where="post", color=HIGHLIGHT, linewidth=1.2, zorder=1)
        for i, p in placed:
            model, colour = comp.models[i], f"C{families.index(_family(comp.models[i])) % 10}"
            ax.scatter(
                [p.bytes_per_vector], [p.score], marker="*" if i == 0 else "o", s=110 if i == 0 else 32,
                facecolors=colour if p.front else "white", edgecolors=colour, linewidths=1.2, zorder=3,
            )  # fmt: skip
            if k and not p.front and i:  # the type panels name the front and the candidate; the first, every point
                continue
            label = model.variant.replace("_", " ") or model.name.split("/")[-1]
            if not p.complete:  # drawn, but never on the front among complete averages
                agg = panel_row(comp, panel).aggregates[i]
                label += f" ({agg.n_tasks}/{agg.n_expected})"
            # Above a front point lies nothing (nothing beats it); below a beaten one, less than above. The
            # rightmost label is right-aligned, inside the panel.
            right = p.bytes_per_vector == max(q.bytes_per_vector for _, q in placed)
            ax.annotate(
                _mpl_text(label), (p.bytes_per_vector, p.score), (0, 6) if p.front else (-4 if right else 4, -10),
                textcoords="offset points", fontsize=6, ha="center" if p.front else "right" if right else "left",
            )  # fmt: skip
        _error_bars(ax, [p.bytes_per_vector for _, p in placed], [p.score for _, p in placed],
                    [p.ci for _, p in placed], vertical=True)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.margins(x=0.15, y=0.12)
        ax.set_title(_mpl_text(panel.name), fontsize=9)
        ax.set_xlabel("bytes per vector (log scale)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("main score (0–100)", fontsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    dot = {"linestyle": "none", "markersize": 7}
    handles = [
        Line2D([], [], marker="o", color=f"C{k % 10}", label=_mpl_text(name), **dot) for k, name in enumerate(families)
    ] + [
        Line2D([], [], marker="*", color="#444", label="candidate", **dot),
        Line2D([], [], marker="o", markerfacecolor="white", color="#444", label="beaten (not on the front)", **dot),
        Line2D([], [], color=HIGHLIGHT, label="Pareto front"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.5 / (0.8 + 2.9 * math.ceil(len(panels) / cols)) + 0.08, hspace=0.55, wspace=0.3)
    fig.suptitle("Each average against what one stored vector costs", fontsize=10)
    return _svg(fig, "pareto")


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


def render_html(comp: Comparison, extra: str = "") -> str:
    """A self-contained HTML page: tables and inline SVG charts, no script and no network; `extra` is HTML placed
    after the averages (the sweep's section)."""
    esc = html.escape
    title = f"{comp.models[0].label}: {comp.suite} comparison"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{esc(title)}</title><style>{HTML_STYLE}</style></head><body>",
        f"<h1>{esc(comp.models[0].label)}: {esc(comp.average.name)} "
        f"{esc(shared.agg_text(comp.average.aggregates[0]))}</h1>",
        "<ul>"
        + "".join(
            f"<li>{'candidate' if i == 0 else 'baseline'}: <strong>{esc(m.label)}</strong> "
            f"(revision <code>{esc(m.revision)}</code>, {m.n_tasks} tasks) from <code>{esc(m.source)}</code></li>"
            for i, m in enumerate(comp.models)
        )
        + "</ul>",
        f"<p>{esc(shared.metrics_sentence(comp))}</p>",
        "<h2>Averages</h2>",
        _html_table(*shared.summary_rows(comp), "averages"),
        f'<figure id="chart-averages">{_chart_averages(comp)}</figure>',
        extra,
        "<h2>Tasks</h2>",
    ]
    if len(comp.models) > 1:
        parts.append(f'<figure id="chart-deltas">{_chart_deltas(comp)}</figure>')
    parts.append(_html_table(*shared.task_rows(comp), "tasks", n_text=3))
    if comp.pareto is not None:
        parts += ["<h2>Quality per byte</h2>"]
        if any(p.front for panel in comp.pareto for p in panel.points):
            parts.append(f'<figure id="chart-pareto">{_chart_pareto(comp)}</figure>')
        parts.append(_html_table(*pareto_rows(comp), "pareto"))
        parts.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in pareto_notes(comp)) + "</div>")
    if comp.leaderboard is not None:
        cand_rows = frozenset(i for i, r in enumerate(comp.leaderboard) if r.candidate)
        parts += ["<h2>Leaderboard</h2>", f"<p>{esc(shared.candidate_rank_sentence(comp))}</p>"]
        if any(r.rank and r.average.score is not None for r in comp.leaderboard):
            parts.append(f'<figure id="chart-leaderboard">{_chart_leaderboard(comp)}</figure>')
        if any(r.rank_ci for r in comp.leaderboard) and comp.intervals is not None:
            parts.append(f'<figure id="chart-ranks">{_chart_ranks(comp)}</figure>')
        parts.append(_html_table(*shared.leaderboard_rows(comp), "leaderboard", n_text=3, highlight=cand_rows))
    parts.append(
        '<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in shared.legend(comp)) + "</div></body></html>"
    )
    return "\n".join(parts) + "\n"
