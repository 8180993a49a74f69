"""Recording per-example predictions while mteb evaluates a task, without changing what it computes.

mteb's own `prediction_folder` saves the model's outputs but not the gold labels they are scored against (and
every top-1000 ranking as plain JSON). evalkit instead wraps, on the task object only, the method where mteb's
task scores its outputs against the gold labels, records both arguments, and passes the call through unchanged:

- STS `_calculate_scores(scores, normalized_scores)`, PairClassification `_compute_metrics(scores, labels)`;
- Classification `_calculate_scores(y_test, y_pred)`, once per experiment;
- Clustering (legacy) `_compute_metrics(labels, assignments)`, once per cluster set;
- Retrieval and Reranking `task_specific_scores(all_scores, qrels, results, ...)`, with the results exactly as
  pytrec_eval scored them and pytrec_eval's per-query measures (`all_scores`) that mteb averaged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from evalkit.results.predictions import query_scores

RETRIEVAL_DEPTH = 100  # documents kept per query for retrieval (every card cutoff up to 100); reranking keeps all
HOOKS = {
    "STS": "_calculate_scores",
    "PairClassification": "_compute_metrics",
    "Classification": "_calculate_scores",
    "Clustering": "_compute_metrics",
    "Reranking": "task_specific_scores",
    "Retrieval": "task_specific_scores",
}
SIMILARITY_KEYS = ("cosine_scores", "euclidean_distances", "manhattan_distances", "dot_scores")


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def _plain(values) -> list:
    """Labels as JSON values (numpy integers and strings become Python ones)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def _top(ranking: dict[str, float], depth: int | None) -> dict[str, float]:
    """A query's documents in pytrec_eval's order (score descending, then document id descending), cut to depth."""
    ordered = sorted(ranking.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return {doc: float(score) for doc, score in ordered[:depth]}


class Recorder:
    """Collects the arguments of the hooked calls of one task evaluation; `record()` is the predictions record."""

    def __init__(self, task, task_type: str) -> None:
        self.task = task
        self.type = task_type
        self.calls: list[tuple[tuple, dict]] = []

    def record(self, scores: dict[str, Any]) -> dict[str, Any] | None:
        """The predictions record of what was evaluated (`scores`: mteb's score entry of that split and subset),
        None when the hooked call never came."""
        if not self.calls:
            return None
        first_args = self.calls[0][0]
        if self.type in ("STS", "PairClassification"):
            scores, gold = first_args
            kept = {k: _floats(scores[k]) for k in SIMILARITY_KEYS if scores.get(k) is not None}
            return {"gold" if self.type == "STS" else "labels": _plain(gold), "scores": kept}
        if self.type == "Classification":
            return {"labels": _plain(first_args[0]), "experiments": [_plain(args[1]) for args, _ in self.calls]}
        if self.type == "Clustering":
            sets = [{"labels": _plain(args[0]), "assignments": _plain(args[1])} for args, _ in self.calls]
            return {"sets": sets, "constant_sets": len(scores.get("v_measures") or sets) - len(sets)}
        all_scores, qrels, results = first_args[:3]
        depth = RETRIEVAL_DEPTH if self.type == "Retrieval" else None
        return {
            "query_scores": query_scores(all_scores, depth),
            "qrels": {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()},
            "rankings": {q: _top(docs, depth) for q, docs in results.items()},
            "depth": depth,
            "skip_first_result": bool(getattr(self.task, "skip_first_result", False)),
        }


@contextmanager
def recording(task, task_type: str) -> Iterator[Recorder]:
    """Record the predictions of the evaluations of `task` inside the block."""
    name = HOOKS[task_type]
    original = getattr(task, name)
    recorder = Recorder(task, task_type)

    def hooked(*args, **kwargs):
        recorder.calls.append((args, kwargs))
        return original(*args, **kwargs)

    setattr(task, name, hooked)
    try:
        yield recorder
    finally:
        delattr(task, name)
