"""Per-example predictions (`run --save-predictions`): what a task's main metric is computed from, per example.

One gzip-compressed JSON file beside each result file, `<Task>.predictions.json.gz`, named by the result file's
`predictions` key. It holds the model's outputs together with the gold labels mteb scored them against, so a
metric can be recomputed (and resampled) without the dataset:

- STS: `gold` (mteb's normalized scores) and `scores` (per-pair `cosine_scores`, `euclidean_distances`, ...);
- PairClassification: `labels` and the same per-pair `scores`;
- Classification: `labels` and `experiments` (each experiment's predicted label per test example);
- Clustering: `sets` (per cluster set: gold `labels` and the k-means `assignments`) and `constant_sets` (sets
  of a single label, which mteb scores 1.0 without clustering);
- Retrieval, Reranking: `qrels` and `rankings` (per query: document -> score, the top `depth` documents in
  pytrec_eval's order, all of them where `depth` is null), and mteb's `skip_first_result`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.fileio import write_bytes_atomic

FORMAT = 1
SUFFIX = ".predictions.json.gz"
KEY = "predictions"  # the result file's key naming its predictions file


def predictions_file(result_file: Path) -> Path:
    """The predictions file written beside a result file."""
    return result_file.with_name(result_file.stem + SUFFIX)


def write_predictions(path: Path, record: dict[str, Any]) -> None:
    """Write a predictions record atomically, gzip-compressed (reproducible bytes: no timestamp in the header)."""
    data = json.dumps({"format": FORMAT, **record}, ensure_ascii=False, separators=(",", ":"))
    write_bytes_atomic(path, gzip.compress(data.encode("utf-8"), mtime=0))


def read_predictions(path: Path) -> dict[str, Any]:
    """A predictions record; an unreadable or foreign file is a `UserError` naming it."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a predictions file ({type(exc).__name__})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("type"), str):
        raise UserError(f"{path}: not a predictions file of format {FORMAT}")
    return record
