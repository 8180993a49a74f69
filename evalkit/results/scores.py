"""The in-memory form of results that cards, reports and the gate share: card metric names, 0-100 scale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.precision import bytes_per_vector


def main_score(
    metrics: Mapping[str, float], task_type: str, main_metrics: Mapping[str, str]
) -> tuple[str, float | None]:
    """The suite's main metric of a task type (card name) and its value in `metrics`, None where absent."""
    name = main_metrics[task_type]
    return name, metrics.get(name)


@dataclass(frozen=True)
class TaskScores:
    """One task's scores for the split and subset the card reports."""

    task: str  # mteb task name, e.g. "CMedQAv1-reranking" (the result file's stem)
    type: str  # STS, PairClassification, Classification, Clustering, Reranking, Retrieval
    split: str
    subset: str  # HF subset: "default", "zh", "zh-CN"
    dataset_revision: str  # as recorded in the result file
    metrics: dict[str, float]  # card metric names -> values on the card's 0-100 scale
    sampled: str | None = None  # e.g. "limit=100,seed=42" for `run --limit` results; None for full runs
    dataset_fingerprint: str | None = None  # content hash of a local snapshot (evalkit runs only)
    model_identity: str | None = None  # the model identity that computed it (evalkit runs only)
    revision: str | None = None  # the revision folder it was read from (`external` for a card)
    date: float | None = None  # when mteb computed it (POSIX time), where the result file records it
    predictions: Path | None = None  # its per-example predictions file (`run --save-predictions`), None without
    path: Path | None = None  # the result file (or model card) it was read from


@dataclass
class ModelScores:
    """All task scores of one model revision, read from a results folder or a model card."""

    name: str
    revision: str
    source: Path
    tasks: dict[str, TaskScores] = field(default_factory=dict)  # by mteb task name
    embed_dim: int | None = None  # the dimensions of its vectors, where its `model_meta.json` says
    precision: str | None = None  # their precision (an mteb output dtype name), where known
    variant: str = ""  # `dim256_int8` for a truncated or quantized variant (mteb's `experiment_kwargs`), else ""
    texts_per_second: float | None = None  # encode speed of the run that wrote it, where that run encoded texts

    @property
    def bytes_per_vector(self) -> float | None:
        """What one stored vector costs (dimensions × bits / 8), where both are known."""
        return bytes_per_vector(self.embed_dim, self.precision) if self.embed_dim and self.precision else None

    def main_score(self, mteb_task: str, main_metrics: Mapping[str, str]) -> float | None:
        """The task's main metric on the 0-100 scale, or None when the model lacks the task or the metric."""
        scores = self.tasks.get(mteb_task)
        return None if scores is None else main_score(scores.metrics, scores.type, main_metrics)[1]
