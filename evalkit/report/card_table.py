"""The results table of a model card's body: each task's main score grouped by task type, with each type's average
and the suite's, from the comparison model of the one model (no baseline)."""

from __future__ import annotations

from evalkit.report.comparison import build_comparison
from evalkit.report.rows import agg_text, num
from evalkit.results.scores import ModelScores
from evalkit.suite import Suite
from evalkit.text import md_escape, md_table


def results_table(model: ModelScores, suite: Suite) -> str:
    """Markdown: a heading, one line on what the table shows, and the table (tasks the model lacks are left out;
    an average over only some of a type's tasks says `(n/N)`)."""
    comp = build_comparison(model, [], suite)
    rows = []
    for group in comp.types:
        tasks = [t for t in comp.tasks if t.type == group.name and t.scores[0] is not None]
        rows += [[t.type, t.name, t.metric, num(t.scores[0])] for t in tasks]
        if tasks:
            rows.append([group.name, "average", "", agg_text(group.aggregates[0])])
    rows.append(["all", comp.average.name, "", agg_text(comp.average.aggregates[0])])
    return "\n".join(
        [
            f"### Results on {md_escape(suite.name)}",
            "",
            "Main score of each task on the 0-100 scale, and the average of each task type (written by evalkit "
            "from the mteb results).",
            "",
            md_table(["Task type", "Task", "Metric", "Score"], rows),
        ]
    )
