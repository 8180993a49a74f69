"""Per-example predictions (`run --save-predictions`): what a task's main metric is computed from, per example.

One gzip-compressed file beside each result file, `<Task>.predictions.json.gz`, named by the result file's
`predictions` key. It holds the model's outputs together with the gold labels mteb scored them against, so a
metric can be recomputed (and resampled) without the dataset:

- STS: `gold` (mteb's normalized scores) and `scores` (per-pair `cosine_scores`, `euclidean_distances`, ...);
- PairClassification: `labels` and the same per-pair `scores`;
- Classification: `labels` and `experiments` (each experiment's predicted label per test example);
- Clustering: `sets` (per cluster set: gold `labels` and the k-means `assignments`) and `constant_sets` (sets
  of a single label, which mteb scores 1.0 without clustering);
- Retrieval, Reranking: `query_scores` (mteb's per-query pytrec_eval measures, as `queries` and one list per
  measure), `qrels` and `rankings` (per query: document -> score, the top `depth` documents in pytrec_eval's
  order, all of them where `depth` is null), and mteb's `skip_first_result`.

The file is JSON Lines: the record on the first line, then each bulky part (`BULKY`) on a line of its own, so
that a reader needing only the record stops after the first line. Format 1 (one JSON document) is still read.
Reading inflates at most `MAX_INPUT_BYTES` for the record alone and `MAX_INFLATED` for the whole file: a gzip
bomb is refused before it fills the memory.
"""

from __future__ import annotations

import gzip
import json
from contextlib import closing
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.fileio import MAX_INPUT_BYTES, gzip_lines, write_bytes_atomic

FORMAT = 2
FORMATS = (1, 2)
SUFFIX = ".predictions.json.gz"
KEY = "predictions"  # the result file's key naming its predictions file
BULKY = ("qrels", "rankings")  # written after the record, read only on request
MAX_INFLATED = 2**30  # the most a whole predictions file may inflate to (the record alone: MAX_INPUT_BYTES)


def predictions_file(result_file: Path) -> Path:
    """The predictions file written beside a result file."""
    return result_file.with_name(result_file.stem + SUFFIX)


def query_scores(scores: dict[str, dict[str, float]], depth: int | None) -> dict[str, Any]:
    """pytrec_eval's per-query measures (`{query: {"ndcg_cut_10": value, ...}}`) as `queries` and one list per
    measure, keeping the measures cut off at `depth` or above it (all where `depth` is None)."""
    queries = sorted(scores)
    names = sorted({m for q in queries for m in scores[q]})
    kept = [m for m in names if depth is None or int(m.rsplit("_", 1)[1]) <= depth]
    return {"queries": queries, "measures": {m: [float(scores[q][m]) for q in queries] for m in kept}}


def write_predictions(path: Path, record: dict[str, Any]) -> None:
    """Write a predictions record atomically, gzip-compressed (reproducible bytes: no timestamp in the header)."""
    head = {"format": FORMAT, **{k: v for k, v in record.items() if k not in BULKY}}
    lines = [head, *({k: record[k]} for k in BULKY if k in record)]
    data = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    write_bytes_atomic(path, gzip.compress(data.encode("utf-8"), mtime=0))


def read_predictions(path: Path, bulky: bool = True) -> dict[str, Any]:
    """A predictions record, with its bulky parts unless `bulky` is false; an unreadable or foreign file is a
    `UserError` naming it."""
    lines = gzip_lines(path, "predictions", MAX_INFLATED if bulky else MAX_INPUT_BYTES)
    try:
        with closing(lines):
            record = json.loads(next(lines, ""))
            if bulky and isinstance(record, dict) and record.get("format") == 2:
                for line in lines:
                    record.update(json.loads(line))
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: not a predictions file ({type(exc).__name__})") from exc
    if not isinstance(record, dict) or record.get("format") not in FORMATS or not isinstance(record.get("type"), str):
        raise UserError(f"{path}: not a predictions file of format {' or '.join(map(str, FORMATS))}")
    return record
