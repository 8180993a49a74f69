"""The in-memory form of results that cards, reports and the gate share: card metric names, 0-100 scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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


@dataclass
class ModelScores:
    """All task scores of one model revision, read from a results folder or a model card."""

    name: str
    revision: str
    source: Path
    tasks: dict[str, TaskScores] = field(default_factory=dict)  # by mteb task name
