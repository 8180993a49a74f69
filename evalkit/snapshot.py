"""Writing dataset snapshots in the hub's layout, for local data folders, tests and benchmarks.

Plain tasks (STS, pair classification, classification, clustering) keep one file per split under
`data/<split>-00000-of-00001.<ext>`, which `datasets` picks up by name. Retrieval and reranking
repos have a README.md whose YAML `configs:` name `corpus`, `queries`, `default` (qrels) and
`top_ranked`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

Rows = Sequence[Mapping[str, Any]]
FORMATS = ("parquet", "jsonl")


def _write_rows(path: Path, rows: Rows, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        pd.DataFrame(list(rows)).to_parquet(path, index=False)
    else:
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(dict(row), ensure_ascii=False) + "\n")


def write_splits(folder: Path, splits: Mapping[str, Rows], fmt: str = "parquet") -> Path:
    """A plain snapshot: one file per split under `data/`."""
    for split, rows in splits.items():
        _write_rows(Path(folder) / "data" / f"{split}-00000-of-00001.{fmt}", rows, fmt)
    return Path(folder)


def write_retrieval(
    folder: Path,
    split: str,
    corpus: Rows,
    queries: Rows,
    qrels: Rows,
    top_ranked: Rows | None = None,
    fmt: str = "parquet",
) -> Path:
    """A retrieval (or, with `top_ranked`, reranking) snapshot with its README `configs:`.

    corpus rows: id, text (and optional title); queries: id, text; qrels: query-id, corpus-id, score;
    top_ranked: query-id, corpus-ids (the candidates to rerank).
    """
    parts = {"corpus": corpus, "queries": queries, "default": qrels}
    if top_ranked is not None:
        parts["top_ranked"] = top_ranked
    configs = []
    for name, rows in parts.items():
        relative = f"{name}/{split}-00000-of-00001.{fmt}"
        _write_rows(Path(folder) / relative, rows, fmt)
        configs.append({"config_name": name, "data_files": [{"split": split, "path": relative}]})
    front = yaml.safe_dump({"configs": configs}, sort_keys=False, allow_unicode=True)
    (Path(folder) / "README.md").write_text(f"---\n{front}---\n", encoding="utf-8")
    return Path(folder)
