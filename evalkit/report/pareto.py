"""Quality per byte (`compare --pareto`): the suite average, and each type's, against what one stored vector costs.

A model is on the Pareto front of a panel when no other model scores as high or higher with as few or fewer bytes
per vector (and strictly better in one of the two): the front is what each byte buys. An average over part of the
suite is not comparable with a complete one, so where some model's average in a panel is complete, the front is
drawn among the complete averages only. Models whose size is unknown (a model card records none) are listed, but
never placed.
"""

from __future__ import annotations

from evalkit.report.comparison import AggregateRow, Comparison, ParetoPanel, ParetoPoint
from evalkit.report.rows import agg_text, pm

FRONT_MARK = " ◆"


def on_front(points: list[tuple[float, float] | None]) -> list[bool]:
    """Which (bytes, score) points no other point dominates; None (not placed) is never on the front."""
    placed = [p for p in points if p is not None]

    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in placed)

    return [p is not None and not dominated(p) for p in points]


def _panel(comp: Comparison, row: AggregateRow) -> ParetoPanel:
    sizes = [m.bytes_per_vector for m in comp.models]
    placed = [a.score is not None and b is not None for a, b in zip(row.aggregates, sizes)]
    complete_only = any(p and a.complete for p, a in zip(placed, row.aggregates))
    points = [
        (b, a.score) if p and (a.complete or not complete_only) else None
        for p, a, b in zip(placed, row.aggregates, sizes)
    ]
    front = on_front(points)
    return ParetoPanel(
        row.name,
        [
            ParetoPoint(m.label, b, a.score, a.complete, row.ci[i] if row.ci else None, front[i])
            for i, (m, a, b) in enumerate(zip(comp.models, row.aggregates, sizes))
        ],
    )


def build_pareto(comp: Comparison) -> list[ParetoPanel]:
    """One panel for the suite average and one per task type that some model has a score in."""
    rows = [comp.average, *comp.types]
    return [_panel(comp, row) for row in rows if any(a.score is not None for a in row.aggregates)]


def panel_row(comp: Comparison, panel: ParetoPanel) -> AggregateRow:
    """The averages a panel plots."""
    return next(row for row in [comp.average, *comp.types] if row.name == panel.name)


def _order(comp: Comparison) -> list[int]:
    """The models from the fewest bytes per vector to the most; those of unknown size last, in the report's order."""
    sizes = [m.bytes_per_vector for m in comp.models]
    return sorted(range(len(sizes)), key=lambda i: (sizes[i] is None, sizes[i] or 0.0, i))


def size_text(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def pareto_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """The quality-per-byte table: a row per model, from the smallest vectors up, with its size, encode speed and
    averages; an average on its panel's front is marked ◆."""
    panels = comp.pareto or []
    header = ["model", "dims", "precision", "bytes/vector", "texts/s", *(p.name for p in panels)]
    rows = []
    for i in _order(comp):
        model = comp.models[i]
        cells = [
            model.label + (" (candidate)" if i == 0 else ""),
            size_text(model.embed_dim),
            model.precision or "–",
            size_text(model.bytes_per_vector),
            "–" if model.texts_per_second is None else f"{model.texts_per_second:.1f}",
        ]
        for panel in panels:
            row = panel_row(comp, panel)
            cells.append(agg_text(row.aggregates[i]) + pm(row.ci, i) + (FRONT_MARK if panel.points[i].front else ""))
        rows.append(cells)
    return header, rows


def pareto_notes(comp: Comparison) -> list[str]:
    """What the quality-per-byte table and chart show."""
    notes = [
        "◆: on the Pareto front of that average: no other model scores as high or higher with as few or fewer bytes "
        "per vector. Where some average is complete, the front is drawn among complete averages only.",
        "bytes/vector: dimensions × bits per dimension / 8 (float32 32, float16 16, int8 8, int4 4, binary 1). "
        "texts/s: the encode speed that the run_summary.json of each results folder records, where that run encoded "
        "texts.",
    ]
    unsized = [m.label for m in comp.models if m.bytes_per_vector is None]
    if unsized:
        notes.append(f"Not placed (no embedding size in the results): {', '.join(unsized)}.")
    return notes
